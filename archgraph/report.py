"""The cost report: a row per top-level layer and per block, totals, and every node.

`report_data(graph, batch)` is the machine-readable form (what `analyze()` returns and
`--format json|yaml` prints); `render(data, fmt)` prints it as a table, markdown or CSV.
"""

from __future__ import annotations

import csv
import io
import json

from archgraph.cost import Totals, totals
from archgraph.ir import Graph, Node, Scope

COLUMNS = ("layer", "kind", "output", "params", "macs", "flops", "other_flops", "attention_n2")


def report_data(graph: Graph, batch: int = 1) -> dict:
    """Totals at `batch`, a row per top-level layer and per block, and every node."""
    t = totals(graph).scaled(batch)
    return {
        "model": graph.name,
        "spec": graph.source,
        "doc": graph.doc,
        "parameters": graph.params,
        "batch": batch,
        "conventions": "flops = 2 x macs of matmul and conv (FlopCounterMode); other_flops = elementwise work",
        "params": t.params,
        "macs": t.macs,
        "flops": t.flops,
        "other_flops": t.other_flops,
        "attention_flops": t.attention_flops,
        "attention_share": round(t.attention_flops / t.flops, 6) if t.flops else 0.0,
        "input_shapes": {name: _shape(graph, v) for name, v in graph.inputs},
        "output_shape": _shape(graph, graph.outputs[0]) if len(graph.outputs) == 1 else None,
        "output_shapes": [_shape(graph, v) for v in graph.outputs],
        "rows": _rows(graph, batch),
        "nodes": [_node(n, batch) for n in graph.nodes.values() if n.op != "input"],
    }


def _shape(graph: Graph, value) -> str:
    return str(graph.type_of(value))


def _rows(graph: Graph, batch: int) -> list[dict]:
    rows = []
    for item in graph.root.items:
        if isinstance(item, Scope):
            rows.append(_row(graph, item.path, item.block if item.kind != "repeat" else "repeat", item, 0, batch))
            if item.kind == "repeat":
                for it in item.items:
                    rows.append(_row(graph, it.path, it.block, it, 1, batch))
            continue
        node = graph.nodes[item]
        if node.op != "input" and (node.params or node.cost.macs or node.cost.other):
            rows.append(_row(graph, node.path, node.op, node, 0, batch))
    return rows


def _row(graph: Graph, path: str, kind: str, item: Scope | Node, depth: int, batch: int) -> dict:
    if isinstance(item, Node):
        t = Totals()
        t.add(item)
        output = str(item.out)
    else:
        t = totals(graph, path)
        output = ", ".join(str(graph.type_of(v)) for v in item.outputs)
    t = t.scaled(batch)
    return {"layer": path, "kind": kind, "depth": depth, "output": output, "params": t.params, "macs": t.macs,
            "flops": t.flops, "other_flops": t.other_flops, "attention_flops": t.attention_flops}  # fmt: skip


def _node(node: Node, batch: int) -> dict:
    out = {
        "id": node.id, "path": node.path, "op": node.op, "inputs": [str(v) for v in node.inputs],
        "output": ", ".join(str(t) for t in node.outs), "params": node.params, "macs": node.cost.macs * batch,
        "flops": node.cost.flops * batch, "other_flops": node.cost.other * batch,
        "attention_n2": node.cost.quadratic, "span": str(node.span),
    }  # fmt: skip
    if node.cost.terms:
        out["terms"] = [{"name": n, "macs": m * batch, "flops": 2 * m * batch, "other_flops": o * batch}
                        for n, m, o in node.cost.terms]  # fmt: skip
    return out


# ---- rendering ----


def human(n: float) -> str:
    """1234567 -> '1.23 M' (decimal SI prefixes, as papers quote FLOPs)."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {suffix}"
    return str(n)


def render(data: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(data, sort_keys=False, width=120)
    if fmt == "csv":
        return _csv(data)
    return _table(data, markdown=fmt == "markdown")


def _cells(row: dict, indent_by: str = "  ") -> list[str]:
    share = f"{100 * row['attention_flops'] / row['flops']:.1f}%" if row["flops"] and row["attention_flops"] else ""
    indent = indent_by * row.get("depth", 0)
    return [indent + row["layer"], row["kind"], row["output"], f"{row['params']:,}", human(row["macs"]),
            human(row["flops"]), human(row["other_flops"]), share]  # fmt: skip


def _table(data: dict, markdown: bool) -> str:
    header = ["layer", "kind", "output", "params", "MACs", "FLOPs", "other FLOPs", "attn N² share"]
    total = {"layer": "total", "kind": "", "depth": 0, **{k: data[k] for k in ("params", "macs", "flops")},
             "other_flops": data["other_flops"], "attention_flops": data["attention_flops"],
             "output": data["output_shape"] or ", ".join(data["output_shapes"])}  # fmt: skip
    rows = [_cells(r, "" if markdown else "  ") for r in data["rows"]] + [_cells(total)]
    title = f"{data['model']} ({data['spec']}), batch {data['batch']}"
    notes = [
        f"params {data['params']:,}   MACs {data['macs']:,}   FLOPs {data['flops']:,}   other FLOPs "
        f"{data['other_flops']:,}",
        f"attention N² terms (q@k^T, attn@v): {data['attention_flops']:,} FLOPs "
        f"({100 * data['attention_share']:.1f}% of FLOPs)",
        "FLOPs = 2 x MACs of matmul and conv (FlopCounterMode's convention); other = norms, activations, softmax, adds",
    ]
    if data.get("token_dependent") and data["token_dependent"]["params"]:
        dep = data["token_dependent"]
        notes.append(f"parameters that depend on the token count (change with img_size): {dep['params']:,} in "
                     f"{', '.join(dep['layers'])}")  # fmt: skip
    if markdown:
        lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        return "\n".join([*lines, "", *notes]) + "\n"
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {3, 4, 5, 6, 7}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    out = [title, "", line(header), rule, *(line(r) for r in rows[:-1]), rule, line(rows[-1]), "", *notes]
    return "\n".join(s.rstrip() for s in out) + "\n"


def _csv(data: dict) -> str:
    buffer = io.StringIO()
    fields = ["layer", "kind", "depth", "output", "params", "macs", "flops", "other_flops", "attention_flops"]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in data["rows"]:
        writer.writerow(row)
    writer.writerow({"layer": "total", "kind": "", "depth": 0, "output": data["output_shape"] or "",
                     **{k: data[k] for k in ("params", "macs", "flops", "other_flops", "attention_flops")}})  # fmt: skip
    return buffer.getvalue()
