"""Resolution sweeps: one row per model and setting, with the count split into its N² part and the rest.

`sweep_data(specs, grid, ...)` counts every model of the request at every point of `grid`
(the product of the swept values, e.g. img_size=224,384,512) under a convention, each point
from a sketch (archgraph.sketched: each distinct block call lowered once, a repeat's identical
iterations counted, not copied), and fits each model's closed form (archgraph.poly) so each row
can show the N² terms apart from the linear and constant ones. `render(data, fmt)` prints a table,
markdown, CSV, JSON or YAML; archgraph.plot draws the same data.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archgraph import conventions
from archgraph.api import closed_form_or_reason
from archgraph.arguments import ArgumentError
from archgraph.errors import SpecError
from archgraph.ir import Graph
from archgraph.knobs import size_knob
from archgraph.loader import Program
from archgraph.lower import lower
from archgraph.poly import ClosedForm, token_count
from archgraph.report import dump, human, tabulate
from archgraph.sketched import counted, of_graph

MAX_LOWERINGS = 512  # models x points one sweep may lower (README, "Resolution sweeps")

FIELDS = ("model", "spec", "setting", "tokens", "params", "macs", "count", "quadratic", "linear",
          "attention_flops", "quadratic_share", "other_flops", "error")  # fmt: skip


def grid(swept: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the swept values, in the order given: [{"img_size": 224}, ...]."""
    keys = list(swept)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(swept[k] for k in keys))]


def sweep_data(models: list[tuple[Path, Program, str]], points: list[dict[str, Any]], fixed: dict[str, Any],
               convention: str = conventions.DEFAULT, batch: int = 1,
               progress: Callable[[str], None] | None = None) -> dict:  # fmt: skip
    """Rows for every (spec, checked program, model) at every point, each model's closed form, and the convention."""
    conv = conventions.get(convention)
    _refuse_large(models, points)
    out: dict[str, Any] = {"convention": conv.describe(), "batch": batch, "swept": sorted({k for p in points for k in p}),
                           "fixed": fixed, "models": [], "rows": []}  # fmt: skip
    for spec, program, name in models:
        if progress:
            progress(f"{spec}: {name}")
        base = lower(program, name, fixed)
        form, why = closed_form_or_reason(program, name, base, conv.name, fixed)
        out["models"].append({"model": name, "spec": str(spec), "doc": base.doc, "closed_form": form and form.json(),
                              "closed_form_error": why})  # fmt: skip
        for point in points:
            # the closed form holds every other parameter at `fixed`: it splits rows that vary the size knob only
            fits = form if set(point) <= {size_knob(base)} else None
            same = all(fixed.get(k, base.params.get(k)) == v and type(base.params.get(k)) is type(v)
                       for k, v in point.items())  # fmt: skip
            out["rows"].append(_row(spec, name, program, {**fixed, **point}, point, conv, batch, fits,
                                    base if same else None))  # fmt: skip
    return out


def _refuse_large(models: list[tuple[Path, Program, str]], points: list[dict[str, Any]]) -> None:
    """An ArgumentError (the request's, not a spec's: the CLI's usage error) when the sweep would lower
    more than MAX_LOWERINGS models."""
    total = len(models) * len(points)
    if total > MAX_LOWERINGS:
        raise ArgumentError(f"the sweep would lower {total:,} models ({len(models)} x {len(points):,} settings); "
                            f"the limit is {MAX_LOWERINGS}: sweep fewer values or fewer models")  # fmt: skip


def _row(spec: Path, name: str, program: Program, overrides: dict[str, Any], point: dict[str, Any],
         conv: conventions.Convention, batch: int, form: ClosedForm | None, graph: Graph | None) -> dict:  # fmt: skip
    """One row: model `name` with `overrides` (`point` is the swept part; `graph` if already lowered at
    it, else a sketch, archgraph.sketched), or why it fails."""
    row: dict[str, Any] = {"model": name, "spec": str(spec), "setting": point}
    try:  # a sketch: each distinct block call lowered once, the repeats' copies counted by weight
        model = of_graph(graph) if graph else counted(program, name, overrides)
    except SpecError as error:
        return {**row, "error": str(error).splitlines()[0]}
    count = model.total(conv)
    t = model.totals().scaled(batch)
    tokens = token_count(model.graph) if _has_tokens(model.graph) else None
    quadratic = int(form.quadratic(tokens)) if form and tokens else model.quadratic(conv)
    return {**row, "tokens": tokens, "params": t.params, "macs": t.macs, "count": batch * count,
            "quadratic": batch * quadratic, "linear": batch * (count - quadratic),
            "attention_flops": t.attention_flops, "quadratic_share": round(quadratic / count, 6) if count else 0.0,
            "other_flops": t.other_flops}  # fmt: skip


def _has_tokens(graph: Graph) -> bool:
    try:
        token_count(graph)
    except ValueError:
        return False
    return True


# ---- rendering ----


def render(data: dict, fmt: str) -> str:
    """`data` (sweep_data's result) as json, yaml, csv, markdown or a table."""
    if fmt in ("json", "yaml"):
        return dump(data, fmt)
    if fmt == "csv":
        return _csv(data)
    return _table(data, markdown=fmt == "markdown")


def _setting(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items())


def _cells(row: dict, notes: bool) -> list[str]:
    """A row's cells; a point the model cannot take leaves the numbers empty and says why under notes."""
    if row.get("error"):
        return [row["model"], _setting(row["setting"]), "", "", "", "", "", "", f"error: {row['error']}"]
    cells = [row["model"], _setting(row["setting"]), f"{row['tokens']:,}" if row["tokens"] else "",
             f"{row['params']:,}", human(row["count"]), human(row["quadratic"]), human(row["linear"]),
             f"{100 * row['quadratic_share']:.1f}%"]  # fmt: skip
    return [*cells, ""] if notes else cells


def _table(data: dict, markdown: bool) -> str:
    unit = data["convention"]["unit"]
    header = ["model", "setting", "N", "params", unit, "N² part", "linear part", "N² share"]
    errors = any(r.get("error") for r in data["rows"])
    header += ["notes"] if errors else []
    rows = [_cells(r, errors) for r in data["rows"]]
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
                         f"({form.get('size_knob', 'img_size')} {form['crossover_img_size']}; "
                         f"first valid {form['crossover_valid_img_size']})")  # fmt: skip
        else:
            notes.append("  no N² term: the count is linear in N")
    return tabulate(header, rows, 2, markdown, notes=notes)


def _csv(data: dict) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*FIELDS, *data["swept"]], lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in data["rows"]:
        writer.writerow({**row, "setting": _setting(row["setting"]), **row["setting"]})
    return buffer.getvalue()
