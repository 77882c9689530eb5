"""The cost report: totals, a row per layer at any depth, a row per op kind, every node, memory.

`report_data(graph, batch, convention, depth)` is the machine-readable form (what `analyze()`
returns and `--format json|yaml` prints; the schema is in README.md). Its FLOP keys always
follow FlopCounterMode (`flops` = 2 x `macs`); `convention` adds each row's count under the
chosen preset (archgraph.conventions) as `convention_count`. `render(data, fmt, view)` prints
the rows per layer (`view="layer"`), per op kind (`"op"`) or per node (`"node"`) as a
table, markdown or CSV.
"""

from __future__ import annotations

from archgraph import conventions
from archgraph.cost import Totals, sums_by_scope, totals
from archgraph.ir import Graph, Node, Scope
from archgraph.ops import matmul


def report_data(graph: Graph, batch: int = 1, convention: str = conventions.DEFAULT, depth: int | None = None,
                dtype: str = "f32") -> dict:  # fmt: skip
    """Totals at `batch`, rows per layer (`depth` levels; None: top level and each repeated block),
    rows per op kind, every node, the count under `convention`, memory in `dtype`."""
    from archgraph.memory import memory_data
    from archgraph.stages import stage_data

    t = totals(graph).scaled(batch)
    conv = conventions.get(convention)
    return {
        "model": graph.name,
        "spec": graph.source,
        "doc": graph.doc,
        "parameters": graph.params,
        "batch": batch,
        "conventions": "flops = 2 x macs of matmul and conv (FlopCounterMode); other_flops = elementwise work",
        "params": t.params,
        "trainable_params": t.params - _frozen(graph),
        "macs": t.macs,
        "flops": t.flops,
        "other_flops": t.other_flops,
        "attention_flops": t.attention_flops,
        "attention_share": round(t.attention_flops / t.flops, 6) if t.flops else 0.0,
        "input_shapes": {name: _shape(graph, v) for name, v in graph.inputs},
        "output_shape": _shape(graph, graph.outputs[0]) if len(graph.outputs) == 1 else None,
        "output_shapes": [_shape(graph, v) for v in graph.outputs],
        "outputs": _outputs(graph),
        "output_names": list(graph.output_names),
        "convention": {**conv.describe(), "count": conv.total(graph) * batch},
        "depth": depth,
        "rows": _rows(graph, batch, conv, depth),
        "by_op": _by_op(graph, batch, conv),
        "nodes": _nodes(graph, batch, conv),
        "tools": conventions.tool_figures(graph, batch),
        "memory": memory_data(graph, batch, dtype),
        "stages": stage_data(graph, batch),
    }


def _outputs(graph: Graph) -> dict[str, str]:
    """Each output's name (`return logits = ...`; else `output`, `output1`, ...) and shape."""
    names = graph.output_names or [f"output{i or ''}" for i in range(len(graph.outputs))]
    return {name: _shape(graph, v) for name, v in zip(names, graph.outputs, strict=True)}


def _output_text(data: dict) -> str:
    if data["output_names"]:
        return ", ".join(f"{k} {v}" for k, v in data["outputs"].items())
    return ", ".join(data["output_shapes"])


def _frozen(graph: Graph) -> int:
    """The parameters no optimiser updates (a `frozen` conv, DINO's fixed weight-norm gain): each op's
    registry rule (`ops.base.frozen_params`)."""
    from archgraph.ops import REGISTRY
    from archgraph.ops.base import frozen_params

    return sum(frozen_params(REGISTRY[n.op], [graph.type_of(v) for v in n.inputs], n.attrs, n.params)
               for n in graph.nodes.values() if n.params)  # fmt: skip


def _shape(graph: Graph, value) -> str:
    return str(graph.type_of(value))


def _rows(graph: Graph, batch: int, conv: conventions.Convention, depth: int | None) -> list[dict]:
    """Top-level layers and each block of a repeat (depth None), or every scope and costed node
    down to `depth` levels (1: the top level only)."""
    rows: list[dict] = []
    counts = sums_by_scope(graph, lambda node: conv.count(graph, node))  # one pass, not one per row
    _level(graph, graph.root.items, 0, (batch, conv, counts, matmul.roles(graph)), depth, rows)
    return rows


def expands(scope: Scope, level: int, depth: int | None) -> bool:
    """Whether a report (or a block-level graph) shows what is inside `scope`, found at `level`
    (0: the top level): with `depth` None, only a top-level repeat; else scopes above `depth` levels."""
    return scope.kind == "repeat" and level == 0 if depth is None else level + 1 < depth


def _level(graph: Graph, items: list, level: int, how: tuple, depth: int | None, rows: list[dict]) -> None:
    """Append the rows of `items` at `level`; `how` is (batch, convention, its count per scope path)."""
    for item in items:
        if isinstance(item, Scope):
            if item.continued:
                continue  # a shared repeat's label again: its calls are in the row of the first
            kind = "repeat" if item.kind == "repeat" else item.block
            inner = item.items
            if item.shared and inner:  # one module called N times: its layers once, each summed over the calls
                calls = sum(len(s.items) for s in items if isinstance(s, Scope) and s.path == item.path)
                kind, inner = f"shared x{calls}", inner[0].items
            rows.append(_row(graph, item.path, kind, item, level, how))
            if expands(item, level, depth):
                _level(graph, inner, level + 1, how, depth, rows)
            continue
        node = graph.nodes[item]
        if node.op != "input" and (node.params or node.cost.macs or node.cost.other):
            rows.append(_row(graph, node.path, how[3].get(node.id, node.op), node, level, how))


def _row(graph: Graph, path: str, kind: str, item: Scope | Node, depth: int, how: tuple) -> dict:
    batch, conv, counts = how[:3]
    if isinstance(item, Node):
        t = Totals()
        t.add(item)
        output = str(item.out)
        count = conv.count(graph, item)
    else:
        t = totals(graph, path)
        output = ", ".join(str(graph.type_of(v)) for v in item.outputs)
        count = counts.get(path, 0)
    t = t.scaled(batch)
    return {"layer": path, "kind": kind, "depth": depth, "output": output, "params": t.params, "macs": t.macs,
            "flops": t.flops, "other_flops": t.other_flops, "attention_flops": t.attention_flops,
            "convention_count": count * batch}  # fmt: skip


def _by_op(graph: Graph, batch: int, conv) -> list[dict]:
    """One row per op kind, in order of first appearance: how many, and their totals."""
    kinds: dict[str, tuple[list[int], Totals]] = {}  # op -> ([nodes, convention count], totals)
    roles = matmul.roles(graph)  # a written-out attention matmul is its own kind: q@k^T or attn@v
    for node in graph.nodes.values():
        if node.op == "input":
            continue
        counts, t = kinds.setdefault(roles.get(node.id, node.op), ([0, 0], Totals()))
        counts[0] += 1
        counts[1] += conv.count(graph, node)
        t.add(node)
    rows = []
    for op, ((count, convention_count), t) in kinds.items():
        t = t.scaled(batch)
        rows.append({"op": op, "count": count, "params": t.params, "macs": t.macs, "flops": t.flops,
                     "other_flops": t.other_flops, "attention_flops": t.attention_flops,
                     "convention_count": convention_count * batch})  # fmt: skip
    return rows


def _nodes(graph: Graph, batch: int, conv) -> list[dict]:
    """Every node but the inputs; a written-out attention matmul with its role and its Nq x Nk scores."""
    roles, out = matmul.roles(graph), []
    for node in graph.nodes.values():
        if node.op != "input":
            out.append(_node(graph, node, batch, conv))
        if node.id in roles:
            scores = node.out.dims if roles[node.id] == "q@k^T" else graph.type_of(node.inputs[0]).dims
            out[-1].update(role=roles[node.id], scores={"queries": scores[-2], "keys": scores[-1]})
    return out


def _node(graph: Graph, node: Node, batch: int, conv) -> dict:
    out = {
        "id": node.id, "path": node.path, "op": node.op, "inputs": [str(v) for v in node.inputs],
        "output": ", ".join(str(t) for t in node.outs), "params": node.params, "macs": node.cost.macs * batch,
        "flops": node.cost.flops * batch, "other_flops": node.cost.other * batch,
        "attention_n2": node.cost.quadratic, "span": str(node.span),
        "convention_count": conv.count(graph, node) * batch,
    }  # fmt: skip
    if node.cost.scores:  # cross-attention's cost is Nq * Nk, self-attention's N * N
        out["scores"] = {"queries": node.cost.scores[0], "keys": node.cost.scores[1]}
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


def dump(data: dict, fmt: str) -> str:
    """`data` as JSON (`fmt` "json") or YAML (any other `fmt`), keys in their order."""
    if fmt == "json":
        import json

        return json.dumps(data, indent=2) + "\n"
    import yaml

    return yaml.safe_dump(data, sort_keys=False, width=120)


def tabulate(header: list[str], rows: list[list[str]], left: int, markdown: bool, title: str | None = None,
             total: bool = False, notes: list[str] | None = None) -> str:  # fmt: skip
    """`rows` of cells under `header` as markdown, or as text with the first `left` columns
    left-aligned and the rest right-aligned; `title` above, `notes` below, and with `total`
    the last row set apart by a rule (text only)."""
    if markdown:
        lines = [f"**{title}**", ""] if title else []
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        return "\n".join([*lines, *(["", *notes] if notes else [])]) + "\n"
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    body = [line(r) for r in rows]
    if total:
        body.insert(len(body) - 1, rule)
    lines = [*([title, ""] if title else []), line(header), rule, *body, *(["", *notes] if notes else [])]
    return "\n".join(s.rstrip() for s in lines) + "\n"


def render(data: dict, fmt: str, view: str = "layer", tools: bool = False) -> str:
    """`data` as json, yaml, csv, markdown or a table; csv and tables show the rows of `view`."""
    if fmt in ("json", "yaml"):
        return dump(data, fmt)
    if fmt == "csv":
        return _csv(data, view)
    return _table(data, fmt == "markdown", view, tools)


def _share(row: dict) -> str:
    return f"{100 * row['attention_flops'] / row['flops']:.1f}%" if row["flops"] and row["attention_flops"] else ""


def _n2(row: dict) -> str:
    """A node's attention mark: `N²` with its N x N scores, `Nq·Nk` with Nq x Nk for cross-attention."""
    if not row.get("attention_n2"):
        return ""
    if "scores" not in row:
        return "N²"
    nq, nk = row["scores"]["queries"], row["scores"]["keys"]
    return f"N² {nq}x{nk}" if nq == nk else f"Nq·Nk {nq}x{nk}"


def _extra(data: dict) -> bool:
    """Whether the chosen convention gets a column of its own (it differs from the FLOPs column)."""
    return data["convention"]["name"] != conventions.DEFAULT


def _cells(data: dict, row: dict, view: str, indent_by: str = "  ") -> list[str]:
    if view == "op":
        first = [row["op"], f"{row['count']:,}"]
    elif view == "node":
        first = [row["path"], row.get("role", row["op"]), row["output"]]
    else:
        first = [indent_by * row.get("depth", 0) + row["layer"], row["kind"], row["output"]]
    cells = [*first, f"{row['params']:,}", human(row["macs"]), human(row["flops"]), human(row["other_flops"])]
    cells.append(_share(row) if "attention_flops" in row else _n2(row))
    return [*cells, human(row["convention_count"])] if _extra(data) else cells


def _header(data: dict, view: str) -> list[str]:
    first = {"op": ["op", "nodes"], "node": ["node", "op", "output"]}.get(view, ["layer", "kind", "output"])
    header = [*first, "params", "MACs", "FLOPs", "other FLOPs", "attn N² share"]
    return (
        [*header, f"{data['convention']['name']} ({data['convention']['unit'].split()[0]})"] if _extra(data) else header
    )


def _total(data: dict, view: str) -> dict:
    keys = ("params", "macs", "flops", "other_flops", "attention_flops")
    total = {"layer": "total", "kind": "", "depth": 0, **{k: data[k] for k in keys},
             "convention_count": data["convention"]["count"],
             "output": data["output_shape"] or _output_text(data)}  # fmt: skip
    if view == "op":
        return {**total, "op": "total", "count": sum(r["count"] for r in data["by_op"])}
    if view == "node":
        return {**total, "path": "total", "op": ""}
    return total


def _notes(data: dict, tools: bool) -> list[str]:
    conv, mem = data["convention"], data["memory"]
    notes = [
        f"params {data['params']:,}   MACs {data['macs']:,}   FLOPs {data['flops']:,}   other FLOPs "
        f"{data['other_flops']:,}",
        f"attention N² terms (q@k^T, attn@v): {data['attention_flops']:,} FLOPs "
        f"({100 * data['attention_share']:.1f}% of FLOPs)",
        "FLOPs = 2 x MACs of matmul and conv (FlopCounterMode's convention); other = norms, activations, softmax, adds",
    ]
    if _extra(data):
        notes += [f"{conv['name']} convention: {conv['count']:,} {conv['unit']} ({human(conv['count'])})",
                  f"  counts {conv['includes']}", *(f"  reproduces {r}" for r in conv["reproduces"])]  # fmt: skip
    if data.get("trainable_params", data["params"]) != data["params"]:
        notes.append(f"trainable parameters {data['trainable_params']:,} (the rest frozen: requires_grad off)")
    if data.get("token_dependent") and data["token_dependent"]["params"]:
        dep = data["token_dependent"]
        notes.append(f"parameters that depend on the token count (change with {dep.get('knob', 'the input size')}): "
                     f"{dep['params']:,} in "
                     f"{', '.join(dep['layers'])}")  # fmt: skip
    pb = mem["param_bytes"]
    notes += [
        f"memory: parameters {_bytes(pb['f32'])} f32, {_bytes(pb['bf16'])} bf16/f16, {_bytes(pb['int8'])} int8; "
        f"inference activations peak {_bytes(mem['inference_activation_peak_bytes'])} ({mem['dtype']}, batch "
        f"{mem['batch']}, at {mem['inference_peak_at']})",
        f"training step at batch {mem['batch']}: {_bytes(mem['training_step_bytes'])} = weights + gradients + "
        f"AdamW moments + {_bytes(mem['training_saved_activation_bytes'])} saved activations (assumptions: README)",
    ]
    if mem.get("buffers"):
        notes.append("buffers (constants, 0 parameters, not in state_dict): " + ", ".join(
            f"{path} {n:,} elements" for path, n in mem["buffers"].items()))  # fmt: skip
    if tools:
        notes += ["what tools print for this model:"] + [f"  {name}: {n:,}" for name, n in data["tools"].items()]
    if data.get("closed_form", {}).get("error"):
        notes.append(f"closed form: none ({data['closed_form']['error']})")
    elif data.get("closed_form"):
        form = data["closed_form"]
        notes.append(
            f"closed form ({form['convention']}, batch 1): {form['polynomial']}, N = {form['tokens_polynomial']}"
        )
        if form["crossover_tokens"]:
            notes.append(f"  N² terms overtake the rest at N = {form['crossover_tokens']:,} "
                         f"({form.get('size_knob', 'img_size')} {form['crossover_img_size']})")  # fmt: skip
    return notes


def _bytes(n: int) -> str:
    for factor, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= factor:
            return f"{n / factor:.2f} {suffix}"
    return f"{n} B"


def _view_rows(data: dict, view: str) -> list[dict]:
    return {"op": data["by_op"], "node": data["nodes"]}.get(view, data["rows"])


def _table(data: dict, markdown: bool, view: str = "layer", tools: bool = False) -> str:
    body = [_cells(data, r, view, "" if markdown else "  ") for r in _view_rows(data, view)]
    rows = [*body, _cells(data, _total(data, view), view)]
    title = f"{data['model']} ({data['spec']}), batch {data['batch']}"
    left = 2 if view == "op" else 3
    text = tabulate(_header(data, view), rows, left, markdown, title, total=True, notes=_notes(data, tools))
    if data.get("stages") and view == "layer":  # a hierarchical model: what each stage's attention costs
        from archgraph.stages import render_stages

        header, *cells = render_stages(data["stages"])
        text += "\n" + tabulate(header, cells, 1, markdown, "per stage (spatial reduction: N² -> N x keys)")
    return text


CSV_FIELDS = {
    "layer": ["layer", "kind", "depth", "output", "params", "macs", "flops", "other_flops", "attention_flops",
              "convention_count"],
    "op": ["op", "count", "params", "macs", "flops", "other_flops", "attention_flops", "convention_count"],
    "node": ["path", "id", "op", "output", "params", "macs", "flops", "other_flops", "attention_n2",
             "convention_count"],
}  # fmt: skip


def _csv(data: dict, view: str = "layer") -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS[view], lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in _view_rows(data, view):
        writer.writerow(row)
    writer.writerow(_total(data, view))
    return buffer.getvalue()
