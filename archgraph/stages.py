"""Per-stage rows of a hierarchical model (PVT, SegFormer's MiT): tokens, width, heads, keys and the
attention N² term of each stage, so the report shows spatial reduction cutting N² to N²/R².

A stage is one iteration of a repeat whose iterations change the tensor's shape (a pyramid's
`stages: repeat 4 as i { ... }`) and hold attention, or one of several numbered repeats that do
(`block.(i): repeat ...` in a stage loop without a label); a ViT's `blocks` keep one shape.
"""

from __future__ import annotations

from archgraph.cost import totals
from archgraph.ir import Graph, Node, Scope


def stage_data(graph: Graph, batch: int = 1) -> list[dict]:
    """One dict per stage: `stage` (scope path), `tokens` N, `width` C, `heads`, `keys` (the keys
    each query attends to), `reduction` N / keys, FLOPs, attention N² FLOPs and their `attention_share`."""
    rows = []
    for scope in graph.root.walk():
        for group in _stage_groups(scope):
            shapes = {tuple(graph.type_of(v).dims) for it in group for v in it.outputs}
            if len(shapes) > 1 and any(_attention(graph, it) for it in group):
                rows += [_stage(graph, it, batch) for it in group]
    return rows


def _stage_groups(scope: Scope) -> list[list[Scope]]:
    """Candidate stages under `scope`: a repeat's iterations (`stages.0`, `stages.1`, ...), or sibling
    repeats with numbered labels (`block.0`, `block.1`, ...: a stage loop without a label, HF's PVT v1)."""
    children = [item for item in scope.items if isinstance(item, Scope)]
    if scope.kind == "repeat":
        return [children]
    numbered: dict[str, list[Scope]] = {}
    for child in children:
        head, dot, index = child.label.partition(".")
        if dot and index.isdigit() and child.kind == "repeat":
            numbered.setdefault(head, []).append(child)
    return [group for group in numbered.values() if len(group) > 1]


def _attention(graph: Graph, scope: Scope) -> list[Node]:
    return [graph.nodes[n] for s in scope.walk() for n in s.items if isinstance(n, str) and graph.nodes[n].op == "sdpa"]


def _stage(graph: Graph, scope: Scope, batch: int) -> dict:
    out = graph.type_of(scope.outputs[0]).dims
    tokens, width = (out[1], out[2]) if len(out) == 3 else (out[2] * out[3], out[1])  # [B, N, C] or [B, C, H, W]
    sdpa = _attention(graph, scope)
    q, k = (graph.type_of(sdpa[0].inputs[i]).dims for i in (0, 1)) if sdpa else ((0, 0, 0), (0, 0, 0))
    t = totals(graph, scope.path).scaled(batch)
    return {"stage": scope.path, "tokens": tokens, "width": width, "heads": q[1], "keys": k[2],
            "reduction": round(q[2] / k[2], 3) if sdpa else None, "flops": t.flops,
            "attention_flops": t.attention_flops,
            "attention_share": round(t.attention_flops / t.flops, 6) if t.flops else 0.0}  # fmt: skip


def render_stages(rows: list[dict]) -> list[list[str]]:
    """Table cells of `rows` (header first), for the text and markdown reports."""
    from archgraph.report import human

    header = ["stage", "tokens N", "width C", "heads", "keys per query", "N / keys", "FLOPs", "attn N² FLOPs",
              "attn share"]  # fmt: skip
    cells = [[r["stage"], f"{r['tokens']:,}", f"{r['width']:,}", str(r["heads"]), f"{r['keys']:,}",
              f"{r['reduction']:g}" if r["reduction"] is not None else "", human(r["flops"]),
              human(r["attention_flops"]), f"{100 * r['attention_share']:.1f}%"] for r in rows]  # fmt: skip
    return [header, *cells]
