"""Resolution sweeps: one row per model and setting, with the count split into its N² part and the rest.

`sweep_data(specs, grid, ...)` lowers every model of the request at every point of `grid`
(the product of the swept values, e.g. img_size=224,384,512), counts it under a
convention, and fits each model's closed form (archgraph.poly) so each row can show the
N² terms apart from the linear and constant ones. `render(data, fmt)` prints a table,
markdown, CSV, JSON or YAML; archgraph.plot draws the same data.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archgraph import conventions
from archgraph.errors import SpecError
from archgraph.ir import Graph
from archgraph.poly import closed_form, token_count
from archgraph.report import human

FIELDS = ("model", "spec", "setting", "tokens", "params", "macs", "count", "quadratic", "linear",
          "attention_flops", "quadratic_share", "other_flops", "error")  # fmt: skip


def grid(swept: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the swept values, in the order given: [{"img_size": 224}, ...]."""
    keys = list(swept)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(swept[k] for k in keys))]


def sweep_data(models: list[tuple[Path, str]], points: list[dict[str, Any]], fixed: dict[str, Any],
               convention: str = conventions.DEFAULT, batch: int = 1,
               progress: Callable[[str], None] | None = None) -> dict:  # fmt: skip
    """Rows for every (spec, model) at every point, each model's closed form, and the convention used."""
    conv = conventions.get(convention)
    out: dict[str, Any] = {"convention": conv.describe(), "batch": batch, "swept": sorted({k for p in points for k in p}),
                           "fixed": fixed, "models": [], "rows": []}  # fmt: skip
    for spec, name in models:
        if progress:
            progress(f"{spec}: {name}")
        program_lower = _lowerer(spec, name)
        base = program_lower(fixed)
        form, why = _closed_form(base, program_lower, fixed, conv)
        out["models"].append({"model": name, "spec": str(spec), "doc": base.doc, "closed_form": form and form.json(),
                              "closed_form_error": why})  # fmt: skip
        for point in points:
            # the closed form holds every other parameter at `fixed`: it splits rows that vary img_size only
            fits = form if set(point) <= {"img_size"} else None
            out["rows"].append(_row(spec, name, program_lower, {**fixed, **point}, point, conv, batch, fits))
    return out


def _lowerer(spec: Path, name: str) -> Callable[[dict[str, Any]], Graph]:
    from archgraph.check import check
    from archgraph.loader import load
    from archgraph.lower import lower

    program = load(spec)
    check(program)
    return lambda overrides: lower(program, name, overrides)


def _closed_form(base: Graph, lower: Callable, fixed: dict, conv):
    """(the closed form, None), or (None, why there is none)."""
    try:
        return closed_form(base, lambda img: lower({**fixed, "img_size": img}), conv.total, conv.name), None
    except (ValueError, SpecError) as error:
        return None, str(error).splitlines()[0]


def _row(spec, name, lower, overrides, point, conv, batch, form) -> dict:
    row: dict[str, Any] = {"model": name, "spec": str(spec), "setting": point}
    try:
        graph = lower(overrides)
    except SpecError as error:
        return {**row, "error": str(error).splitlines()[0]}
    count = conv.total(graph)
    nodes = graph.nodes.values()
    tokens = token_count(graph) if _has_tokens(graph) else None
    quadratic = int(form.quadratic(tokens)) if form and tokens else sum(conv.count(graph, n) for n in nodes
                                                                          if n.cost.quadratic)  # fmt: skip
    return {**row, "tokens": tokens, "params": sum(n.params for n in nodes),
            "macs": batch * sum(n.cost.macs for n in nodes), "count": batch * count,
            "quadratic": batch * quadratic, "linear": batch * (count - quadratic),
            "attention_flops": batch * sum(n.cost.flops for n in nodes if n.cost.quadratic),
            "quadratic_share": round(quadratic / count, 6) if count else 0.0,
            "other_flops": batch * sum(n.cost.other for n in nodes)}  # fmt: skip


def _has_tokens(graph: Graph) -> bool:
    try:
        token_count(graph)
    except ValueError:
        return False
    return True


# ---- rendering ----


def render(data: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, default=str) + "\n"
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False, width=120)
    if fmt == "csv":
        return _csv(data)
    return _table(data, markdown=fmt == "markdown")


def _setting(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items())


def _cells(row: dict, unit: str) -> list[str]:
    if row.get("error"):
        return [row["model"], _setting(row["setting"]), "", "", f"error: {row['error']}", "", "", ""]
    return [row["model"], _setting(row["setting"]), f"{row['tokens']:,}" if row["tokens"] else "",
            f"{row['params']:,}", human(row["count"]), human(row["quadratic"]), human(row["linear"]),
            f"{100 * row['quadratic_share']:.1f}%"]  # fmt: skip


def _table(data: dict, markdown: bool) -> str:
    unit = data["convention"]["unit"]
    header = ["model", "setting", "N", "params", unit, "N² part", "linear part", "N² share"]
    rows = [_cells(r, unit) for r in data["rows"]]
    notes = [f"convention: {data['convention']['name']} ({data['convention']['includes']}); batch {data['batch']}",
             "N = tokens entering the first repeated stack (ViT: patches + prefix tokens)"]  # fmt: skip
    for model in data["models"]:
        form = model["closed_form"]
        if not form:
            notes.append(f"{model['model']}: no closed form ({model['closed_form_error']})")
            continue
        notes.append(f"{model['model']}: {unit} = {form['polynomial']}; N = {form['tokens_polynomial']}")
        if form["crossover_tokens"]:
            notes.append(f"  the N² terms overtake everything else at N = {form['crossover_tokens']:,} "
                         f"(img_size {form['crossover_img_size']}; first valid {form['crossover_valid_img_size']})")  # fmt: skip
        else:
            notes.append("  no N² term: the count is linear in N")
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(rows_i) + " |" for rows_i in rows]
        return "\n".join([*lines, "", *notes]) + "\n"
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i >= 2 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join(s.rstrip() for s in [line(header), "  ".join("-" * w for w in widths), *map(line, rows), "",
                                           *notes]) + "\n"  # fmt: skip


def _csv(data: dict) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*FIELDS, *data["swept"]], lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in data["rows"]:
        writer.writerow({**row, "setting": _setting(row["setting"]), **row["setting"]})
    return buffer.getvalue()
