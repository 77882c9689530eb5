"""Plot a sweep (archgraph.sweep): per model and setting, the N² part stacked on the linear part.

Left panel: grouped bars, one group per setting (e.g. img_size) and one bar per model, each
bar the linear-and-constant part with the N² part stacked on top (hatched). Right panel: the
N² share of the count per model. matplotlib is imported here only, with the Agg backend, so
nothing else in archgraph needs it. The format follows the file's suffix (.png, .svg, .pdf), and
the file written is exactly the path given: a path without one of those suffixes, or a directory,
is refused (`target_problem`) before any work.
"""

from __future__ import annotations

from pathlib import Path

SUFFIXES = (".png", ".svg", ".pdf")
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def target_problem(target: Path) -> str | None:
    """Why `target` cannot be the plot's file (None if it can): no suffix, an unknown one, or a directory."""
    if target.is_dir():
        return f"--plot {target} is a directory; give a file name ending in {', '.join(SUFFIXES)}"
    if target.suffix.lower() not in SUFFIXES:
        found = f"`{target.suffix}`" if target.suffix else "no suffix"
        return f"--plot {target} has {found}; the suffix picks the format: {', '.join(SUFFIXES)}"
    return None


def plot_sweep(data: dict, target: Path) -> Path:
    """Draw `data` (sweep_data's result) into exactly `target` (ValueError if `target_problem`); returns it."""
    target = Path(target)
    if problem := target_problem(target):
        raise ValueError(problem)
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    settings = _settings(data)
    models = [m["model"] for m in data["models"]]
    fig, (bars, share) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    _bars(bars, data, settings, models)
    _share(share, data, settings, models)
    fig.suptitle(f"{data['convention']['unit']} ({data['convention']['name']} convention), batch {data['batch']}")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    kind = target.suffix.lower().lstrip(".")
    fig.savefig(target, format=kind, dpi=120, metadata={"Date": None} if kind == "svg" else None)
    plt.close(fig)
    return target


def _settings(data: dict) -> list[str]:
    seen: list[str] = []
    for row in data["rows"]:
        label = ", ".join(str(v) for v in row["setting"].values())
        if label not in seen:
            seen.append(label)
    return seen


def _lookup(data: dict, model: str, setting: str) -> dict | None:
    for row in data["rows"]:
        if row["model"] == model and ", ".join(str(v) for v in row["setting"].values()) == setting:
            return None if row.get("error") else row
    return None


def _bars(ax, data: dict, settings: list[str], models: list[str]) -> None:
    width = 0.8 / max(1, len(models))
    for m, model in enumerate(models):
        color = COLORS[m % len(COLORS)]
        rows = [_lookup(data, model, s) for s in settings]
        xs = [i + (m - (len(models) - 1) / 2) * width for i in range(len(settings))]
        linear = [r["linear"] / 1e9 if r else 0 for r in rows]
        quad = [r["quadratic"] / 1e9 if r else 0 for r in rows]
        ax.bar(xs, linear, width, color=color, label=f"{model}: linear + constant")
        if any(quad):
            ax.bar(xs, quad, width, bottom=linear, color=color, alpha=0.45, hatch="//", edgecolor=color,
                   label=f"{model}: N² terms")  # fmt: skip
    ax.set_xticks(range(len(settings)), settings)
    ax.set_xlabel(", ".join(data["swept"]) or "setting")
    ax.set_ylabel(f"G{data['convention']['unit'].split()[0]}")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def _share(ax, data: dict, settings: list[str], models: list[str]) -> None:
    for m, model in enumerate(models):
        rows = [_lookup(data, model, s) for s in settings]
        pts = [(i, 100 * r["quadratic_share"]) for i, r in enumerate(rows) if r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=COLORS[m % len(COLORS)], label=model)
    ax.set_xticks(range(len(settings)), settings)
    ax.set_xlabel(", ".join(data["swept"]) or "setting")
    ax.set_ylabel("N² share of the count (%)")
    ax.axhline(50, color="grey", linestyle=":", linewidth=1)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
