"""Compare two models side by side, per block: parameter and FLOP deltas.

`diff_data(a, b)` takes two reports (archgraph.report.report_data) and pairs their rows by
layer path (`blocks.3` with `blocks.3`); a layer only one side has is paired with nothing.
Counts are the reports' `convention_count`, so `--convention fvcore` diffs paper numbers.
`render(data, fmt)` prints a table, markdown, CSV, JSON or YAML.
"""

from __future__ import annotations

import csv
import io

from archgraph.report import dump, human, tabulate

FIELDS = ("layer", "kind_a", "kind_b", "params_a", "params_b", "params_delta", "count_a", "count_b", "count_delta",
          "count_ratio")  # fmt: skip


def _pair(rows_a: list[dict], rows_b: list[dict]) -> list[tuple[dict | None, dict | None]]:
    """Rows matched by layer, in A's order; B's extra rows follow the row they follow in B."""
    by_b = {r["layer"]: r for r in rows_b}
    pairs: list[tuple[dict | None, dict | None]] = [(r, by_b.get(r["layer"])) for r in rows_a]
    seen = {r["layer"] for r in rows_a}
    for i, row in enumerate(rows_b):
        if row["layer"] in seen:
            continue
        before = rows_b[i - 1]["layer"] if i else None
        at = next((k + 1 for k, (a, b) in enumerate(pairs) if (b or a or {}).get("layer") == before), len(pairs))
        pairs.insert(at if before else 0, (None, row))
        seen.add(row["layer"])
    return pairs


def _line(layer: str, a: dict | None, b: dict | None) -> dict:
    pa, pb = (a or {}).get("params", 0), (b or {}).get("params", 0)
    ca, cb = (a or {}).get("convention_count", 0), (b or {}).get("convention_count", 0)
    return {"layer": layer, "kind_a": (a or {}).get("kind"), "kind_b": (b or {}).get("kind"),
            "params_a": pa if a else None, "params_b": pb if b else None, "params_delta": pb - pa,
            "count_a": ca if a else None, "count_b": cb if b else None, "count_delta": cb - ca,
            "count_ratio": round(cb / ca, 6) if a and b and ca else None,
            "depth": (a or b or {}).get("depth", 0)}  # fmt: skip


def diff_data(a: dict, b: dict) -> dict:
    """Per-layer and total deltas from report `a` to report `b` (B minus A)."""
    rows = [_line((x or y)["layer"], x, y) for x, y in _pair(a["rows"], b["rows"])]
    total = _line("total", {"kind": "", "params": a["params"], "convention_count": a["convention"]["count"]},
                  {"kind": "", "params": b["params"], "convention_count": b["convention"]["count"]})  # fmt: skip
    return {"a": {"model": a["model"], "spec": a["spec"], "batch": a["batch"]},
            "b": {"model": b["model"], "spec": b["spec"], "batch": b["batch"]},
            "convention": a["convention"]["name"], "unit": a["convention"]["unit"], "rows": rows, "total": total}  # fmt: skip


def render(data: dict, fmt: str) -> str:
    """`data` (diff_data's result) as json, yaml, csv, markdown or a table."""
    if fmt in ("json", "yaml"):
        return dump(data, fmt)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows([*data["rows"], data["total"]])
        return buffer.getvalue()
    return _table(data, fmt == "markdown")


def _num(n: int | None, signed: bool = False, exact: bool = False) -> str:
    if n is None:
        return "-"
    text = f"{abs(n):,}" if exact else human(abs(n))
    return ("+" if n > 0 else "-" if n < 0 else "±") + text if signed else (f"{n:,}" if exact else human(n))


def _cells(row: dict, indent: str) -> list[str]:
    kind = row["kind_a"] if row["kind_a"] == row["kind_b"] else f"{row['kind_a'] or '-'} / {row['kind_b'] or '-'}"
    ratio = f"x{row['count_ratio']:.3f}" if row["count_ratio"] not in (None, 1) else ""
    return [indent * row["depth"] + row["layer"], kind or "", _num(row["params_a"], exact=True),
            _num(row["params_b"], exact=True), _num(row["params_delta"], True, True), _num(row["count_a"]),
            _num(row["count_b"]), _num(row["count_delta"], True), ratio]  # fmt: skip


def _table(data: dict, markdown: bool) -> str:
    unit = data["unit"].split()[0]
    header = ["layer", "kind", "params A", "params B", "Δ params", f"{unit} A", f"{unit} B", f"Δ {unit}", "B/A"]
    rows = [_cells(r, "" if markdown else "  ") for r in data["rows"]] + [_cells(data["total"], "")]
    title = (f"A = {data['a']['model']} ({data['a']['spec']}), B = {data['b']['model']} ({data['b']['spec']}); "
             f"{data['convention']} convention, batch {data['a']['batch']}")  # fmt: skip
    return tabulate(header, rows, 2, markdown, title, total=True)
