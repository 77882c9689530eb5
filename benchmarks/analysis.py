"""Time archgraph's analysis as whole processes, next to what a user can run today to count a model.

For ViT-B/16 at depth 12, 48, 192 and 768 and for ViT-H/14, in one run, each as a fresh
process (interpreter start-up and imports included), the median over `--rounds`:

- `archgraph report SPEC --set depth=D` (what a user types; the table, with the token-dependence line);
- timm on the `meta` device with FlopCounterMode: import torch and timm, build the model on
  `meta`, count one forward (the fastest build-and-count path without archgraph);
- fvcore's FlopCountAnalysis on CPU (it jit-traces, which does not run on `meta`), unfused
  attention: only where the weights fit in memory (ViT-B at depth 12 and 48, ViT-H/14).

It prints seconds (wall, and CPU of the child process), each tool's count (they agree:
archgraph's report equals FlopCounterMode; fvcore counts multiply-adds), and the ratios the
issue sets bars for: report depth 768 / depth 192 (linear: ~4, bar < 5) and timm meta /
report for ViT-H/14 (bar >= 50). Last, the CPU time of `archgraph compile` of every spec in
specs/ (bar < 1 s).

    .venv/bin/python benchmarks/analysis.py                  # 3 rounds, fvcore included
    .venv/bin/python benchmarks/analysis.py --rounds 5 --no-fvcore
    .venv/bin/python benchmarks/analysis.py --root ../before --no-fvcore   # another checkout's archgraph
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = [  # (title, spec and --model, --set, timm model, timm kwargs, fvcore on CPU)
    ("ViT-B/16 depth 12", "specs/vit.arch", "depth=12", "vit_base_patch16_224", {"depth": 12}, True),
    ("ViT-B/16 depth 48", "specs/vit.arch", "depth=48", "vit_base_patch16_224", {"depth": 48}, True),
    ("ViT-B/16 depth 192", "specs/vit.arch", "depth=192", "vit_base_patch16_224", {"depth": 192}, False),
    ("ViT-B/16 depth 768", "specs/vit.arch", "depth=768", "vit_base_patch16_224", {"depth": 768}, False),
    ("ViT-H/14", "specs/vit.arch --model vit_h14", None, "vit_huge_patch14_224", {"num_classes": 1000}, True),
]

TIMM_META = """
import sys, torch, timm
from torch.utils.flop_counter import FlopCounterMode
with torch.device("meta"):
    model = timm.create_model(sys.argv[1], **eval(sys.argv[2]))
    x = torch.randn(1, 3, model.default_cfg["input_size"][1], model.default_cfg["input_size"][2])
with FlopCounterMode(display=False) as counter:
    model(x)
print(counter.get_total_flops())
"""

FVCORE_CPU = """
import sys, torch, timm
from fvcore.nn import FlopCountAnalysis
timm.layers.set_fused_attn(False)
model = timm.create_model(sys.argv[1], **eval(sys.argv[2])).eval()
x = torch.randn(1, 3, model.default_cfg["input_size"][1], model.default_cfg["input_size"][2])
count = FlopCountAnalysis(model, x)
count.unsupported_ops_warnings(False)
count.uncalled_modules_warnings(False)
print(count.total())
"""


def archgraph_command(root: Path) -> list[str]:
    """What a user types: the `archgraph` console script beside this interpreter (it imports `root`'s archgraph,
    first on PYTHONPATH), else `python -m archgraph`. Byte-compiles `root`'s archgraph first, as installing a
    package does: without it, a machine with PYTHONDONTWRITEBYTECODE set (this one) compiles every module from
    source in every process (about 0.06 s of a report's CPU), while torch and timm load their bytecode."""
    compileall.compile_dir(root / "archgraph", quiet=1)
    script = Path(sys.executable).parent / "archgraph"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "archgraph"]


def run(argv: list[str], root: Path = ROOT, **env_extra: str) -> tuple[float, float, str]:
    """(wall seconds, child CPU seconds, stdout) of one process in `root` (`env_extra` added to its
    environment); raises if it fails."""
    env = {**os.environ, "PYTHONPATH": str(root), **env_extra}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, done.stdout


def median(argv: list[str], rounds: int, root: Path = ROOT, **env_extra: str) -> tuple[float, float, str]:
    """Median wall and CPU seconds over `rounds` runs, and the last run's output."""
    runs = [run(argv, root, **env_extra) for _ in range(rounds)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), runs[-1][2]


def report_flops(text: str) -> int:
    return int(re.search(r"FLOPs ([\d,]+)", text).group(1).replace(",", ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="processes per measurement; the median is shown")
    parser.add_argument("--no-fvcore", action="store_true", help="skip fvcore (it builds real weights on CPU)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose archgraph runs (default: this one)")
    parser.add_argument("--cases", nargs="+", metavar="TITLE", help="only these rows, e.g. ViT-H/14 (default: all)")
    parser.add_argument("--no-compile", action="store_true", help="skip timing `archgraph compile` of every spec")
    args = parser.parse_args()
    root = args.root.resolve()
    py = sys.executable
    archgraph = archgraph_command(root)
    results = {}
    print(f"{'case':20} {'report s':>9} {'cpu':>6} {'timm meta s':>12} {'cpu':>6} {'fvcore s':>9} "
          f"{'timm/report':>12} {'(cpu)':>7}  counts")  # fmt: skip
    for title, spec, setting, timm_name, kwargs, fvcore in CASES:
        if args.cases and title not in args.cases:
            continue
        report = median([*archgraph, "report", *spec.split(), *(["--set", setting] if setting else [])], args.rounds,
                        root)  # fmt: skip
        timm = median([py, "-c", TIMM_META, timm_name, repr(kwargs)], args.rounds)
        fv = None
        if fvcore and not args.no_fvcore:
            fv = median([py, "-c", FVCORE_CPU, timm_name, repr(kwargs)], 1)
        results[title] = report, timm
        counts = f"archgraph {report_flops(report[2]):,}, FlopCounterMode {int(timm[2]):,}"
        counts += f", fvcore {int(float(fv[2])):,} MACs" if fv else ""
        fv_s = f"{fv[0]:9.2f}" if fv else f"{'-':>9}"
        print(f"{title:20} {report[0]:9.3f} {report[1]:6.3f} {timm[0]:12.2f} {timm[1]:6.2f} {fv_s} "
              f"{timm[0] / report[0]:11.1f}x {timm[1] / report[1]:6.1f}x  {counts}", flush=True)  # fmt: skip
    if {"ViT-B/16 depth 768", "ViT-B/16 depth 192"} <= results.keys():
        deep, shallow = results["ViT-B/16 depth 768"][0], results["ViT-B/16 depth 192"][0]
        print(f"\nreport depth 768 / depth 192: {deep[0] / shallow[0]:.2f} wall, {deep[1] / shallow[1]:.2f} CPU "
              "(linear in depth: < 5)")  # fmt: skip
    if "ViT-H/14" in results:
        report_h, timm_h = results["ViT-H/14"]
        print(f"ViT-H/14: timm meta build-and-count / archgraph report: {timm_h[0] / report_h[0]:.1f}x wall, "
              f"{timm_h[1] / report_h[1]:.1f}x CPU (bar: >= 50)")  # fmt: skip
        cold = median([*archgraph, "report", "specs/vit.arch", "--model", "vit_h14"], args.rounds, root,
                      ARCHGRAPH_NO_CACHE="1")  # fmt: skip
        print(f"ViT-H/14 without the parse cache (ARCHGRAPH_NO_CACHE=1, as after editing the spec): {cold[0]:.3f} s "
              f"wall, {cold[1]:.3f} s CPU: {timm_h[0] / cold[0]:.1f}x wall, {timm_h[1] / cold[1]:.1f}x CPU")  # fmt: skip
    if args.no_compile:
        return 0
    specs = sorted(str(p.relative_to(root)) for p in (root / "specs").glob("*.arch"))
    with tempfile.TemporaryDirectory() as out:
        wall, cpu, _ = median([*archgraph, "compile", *specs, "-o", out, "--force"], args.rounds, root)
    print(f"archgraph compile of {len(specs)} specs: {cpu:.2f} s CPU, {wall:.2f} s wall (bar: < 1 s CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
