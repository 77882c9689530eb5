"""Time each generated module against timm's, with the same weights, in one process.

For every case (a spec model and the timm model with the same state_dict keys), for
inference and for a training step, at each batch size: both models run alternately
(generated then timm, then timm then generated, ...) after warm-up, with a `torch.mm`
timed in the same loop as the machine's reference rate. It prints the medians, the ratio
generated/timm (the bar: <= 1.02), and the achieved GFLOP/s beside torch.mm's.

    .venv/bin/python benchmarks/vs_timm.py                       # CPU, fp32, batches 1 and 8
    .venv/bin/python benchmarks/vs_timm.py --device cuda --dtype bf16 --batches 1 8 64
    .venv/bin/python benchmarks/vs_timm.py --cases vit_b16 --modes inference --runs 5

FLOPs: inference uses archgraph's analytic count (= FlopCounterMode); a training step
(forward + backward) is counted by FlopCounterMode on the `meta` device; the optimizer's
elementwise update is not counted. bf16/fp16 run under torch.autocast (weights stay fp32).
A case whose spec is not in specs/ yet is skipped with a message.

The allocator: by default glibc returns freed blocks of 128 KiB and more to the system and maps
them again on the next allocation, so each forward pays page faults whose number depends on the
heap's history (measured: 0 to 120,000 per ViT-B/16 forward at batch 8, a few percent of the
time, differing between two models in the same process by chance). The script pins glibc's
mmap threshold at its 32 MiB maximum and never trims the heap (`mallopt`), as tcmalloc or
jemalloc would keep the memory; `--default-malloc` measures with glibc's defaults instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import archgraph  # noqa: E402
from archgraph.api import open_model  # noqa: E402
from archgraph.bench import make_step, steady_malloc, sync, training_flops  # noqa: E402
from archgraph.codegen.names import camel  # noqa: E402
from archgraph.devices import device_problem  # noqa: E402


@dataclass(frozen=True)
class Case:
    title: str
    spec: str
    model: str
    timm: str | None  # None: timm has no such model; the generated module is timed alone
    timm_kwargs: dict = field(default_factory=dict)
    batches: tuple[int, ...] | None = None  # None: the --batches given
    overrides: dict = field(default_factory=dict)  # spec parameters (then the module is built from the spec)
    runs: int | None = None  # None: --runs, or its default


CASES = [
    Case("ViT-B/16", "specs/vit.arch", "vit_b16", "vit_base_patch16_224"),
    Case("Mixer-B/16", "specs/mixer.arch", "mixer_b16", "mixer_b16_224"),
    Case("ViT-R50+B/16", "specs/vit_hybrid.arch", "vit_r50_b16", "vit_base_r50_s16_224", {"num_classes": 1000}),
    Case("SETR-PUP 512", "specs/setr.arch", "setr_pup_ade20k", None, batches=(1,), runs=7),  # timm has no SETR
]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# torch.mm reference: square, large enough to reach the device's matmul rate (a 2048^3 bf16 product
# takes ~20 us on an H100, where the timer's synchronisation would dominate)
MM_SIZE = {"cpu": 2048, "cuda": 8192}


@dataclass
class Result:
    title: str
    mode: str
    batch: int
    gen_ms: float
    timm_ms: float | None
    min_ratio: float | None  # ratio of the fastest runs: the least disturbed by other processes
    cpu_ratio: float | None  # ratio of the median CPU seconds this process spent: time others took is not counted
    gflop: float
    mm_gflops: float
    others: float  # share of the machine's CPU time used by other processes during the timed runs

    @property
    def ratio(self) -> float | None:
        return self.gen_ms / self.timm_ms if self.timm_ms else None


def timed(fn, device: str) -> tuple[float, float]:
    """Wall-clock and this process's CPU seconds of one call of `fn` (the device synchronised around it)."""
    sync(device)
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return time.perf_counter() - start, time.process_time() - cpu


class OtherLoad:
    """The share of the machine's CPU time that other processes used while the block ran (Linux /proc/stat)."""

    share = float("nan")

    @staticmethod
    def _now() -> tuple[float, float, float]:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
        hz = os.sysconf("SC_CLK_TCK")
        return sum(ticks) / hz, (ticks[3] + ticks[4]) / hz, time.process_time()

    def __enter__(self) -> OtherLoad:
        self.start = self._now() if Path("/proc/stat").exists() else None
        return self

    def __exit__(self, *exc) -> None:
        if self.start:
            total, idle, own = (b - a for a, b in zip(self.start, self._now(), strict=True))
            self.share = max(0.0, (total - idle - own) / total) if total else float("nan")


def generated_model(case: Case, device: str) -> torch.nn.Module:
    """The committed generated module when there is one, else built from the spec."""
    if not case.overrides and (ROOT / "generated" / f"{Path(case.spec).stem}.py").exists():
        module = importlib.import_module(f"generated.{Path(case.spec).stem}")  # one file per spec file
        make = getattr(module, case.model, None) or getattr(module, camel(case.model))  # entry function or class
        return make(device=device)
    return archgraph.build(ROOT / case.spec, case.model, device=device, **case.overrides)


def models(case: Case, device: str) -> tuple[torch.nn.Module, torch.nn.Module | None]:
    """The generated model and timm's, holding the same weights (timm's, loaded strictly)."""
    gen = generated_model(case, device)
    if case.timm is None:
        return gen, None
    import timm

    ref = timm.create_model(case.timm, pretrained=False, **case.timm_kwargs).to(device)
    gen.load_state_dict(ref.state_dict(), strict=True)
    return gen, ref


def mm_fn(device: str, dtype: torch.dtype):
    a = torch.randn(MM_SIZE[device], MM_SIZE[device], device=device, dtype=dtype)
    b = torch.randn(MM_SIZE[device], MM_SIZE[device], device=device, dtype=dtype)
    return lambda: torch.mm(a, b)


def flops(case: Case, mode: str, x: torch.Tensor) -> int:
    """Inference: archgraph's analytic FLOPs. Training: forward + backward, FlopCounterMode on `meta`."""
    if mode == "train":
        return training_flops(open_model(ROOT / case.spec, case.model, case.overrides).graph, x.shape[0])
    return archgraph.analyze(ROOT / case.spec, case.model, batch=x.shape[0], overrides=case.overrides)["flops"]


def measure(case: Case, mode: str, batch: int, args) -> Result:
    """Warm up, then alternate generated / timm / torch.mm for `runs` rounds; medians."""
    torch.manual_seed(0)
    gen, ref = models(case, args.device)
    x = torch.randn(archgraph.input_shape(ROOT / case.spec, case.model, batch, **case.overrides), device=args.device)
    train = mode == "train"
    fns = {"gen": make_step(gen, gen, [x], train, args.dtype)}
    if ref is not None:
        fns["timm"] = make_step(ref, ref, [x], train, args.dtype)
    for _ in range(args.warmup):
        for fn in fns.values():
            fn()
    mm = mm_fn(args.device, DTYPES[args.dtype])
    times: dict[str, list[float]] = {name: [] for name in [*fns, "mm"]}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    runs = args.runs or case.runs or (21 if batch == 1 else 11)
    with OtherLoad() as others:
        for i in range(runs):
            for name in list(fns) if i % 2 == 0 else list(reversed(fns)):
                wall, seconds = timed(fns[name], args.device)
                times[name].append(wall)
                cpu[name].append(seconds)
            times["mm"].append(timed(mm, args.device)[0])
    median = {name: statistics.median(t) for name, t in times.items()}
    mm_gflops = 2 * MM_SIZE[args.device] ** 3 / median["mm"] / 1e9
    timm_ms = 1e3 * median["timm"] if "timm" in median else None
    min_ratio = min(times["gen"]) / min(times["timm"]) if "timm" in times else None
    cpu_ratio = statistics.median(cpu["gen"]) / statistics.median(cpu["timm"]) if "timm" in cpu else None
    gflop = flops(case, mode, x) / 1e9
    return Result(case.title, mode, batch, 1e3 * median["gen"], timm_ms, min_ratio, cpu_ratio, gflop, mm_gflops,
                  others.share)  # fmt: skip


def row(r: Result) -> str:
    gen_rate = r.gflop / (r.gen_ms / 1e3)
    timm = f"{r.timm_ms:.1f}" if r.timm_ms else "n/a (no timm model)"
    ratio = f"**{r.ratio:.3f}**" if r.ratio else "n/a"
    min_ratio = f"{r.min_ratio:.3f}" if r.min_ratio else "n/a"
    cpu_ratio = f"{r.cpu_ratio:.3f}" if r.cpu_ratio else "n/a"
    timm_rate = f"{r.gflop / (r.timm_ms / 1e3):.1f}" if r.timm_ms else "n/a"
    return (f"| {r.title} | {r.mode} | {r.batch} | {r.gen_ms:.1f} | {timm} | {ratio} | {min_ratio} | {cpu_ratio} | {r.gflop:.1f} | "
            f"{gen_rate:.1f} | {timm_rate} | {r.mm_gflops:.1f} | {100 * gen_rate / r.mm_gflops:.0f}% | "
            f"{100 * r.others:.0f}% |")  # fmt: skip


HEADER = (
    "| model | mode | batch | generated ms | timm ms | ratio gen/timm (medians) | ratio (mins) | ratio (CPU time) "
    "| GFLOP | gen GFLOP/s | timm GFLOP/s | torch.mm GFLOP/s | gen / mm | other processes' CPU |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def machine(args, malloc: str) -> str:
    n = MM_SIZE[args.device]
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} torch threads"
    return (f"torch {torch.__version__}, {where}, {args.dtype}, warm-up {args.warmup}, "
            f"torch.mm {n}x{n}x{n} {args.dtype}, malloc: {malloc}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--dtype", default="fp32", choices=tuple(DTYPES))
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--modes", nargs="+", default=["inference", "train"], choices=("inference", "train"))
    parser.add_argument("--cases", nargs="+", help="model names (default: every case)")
    parser.add_argument("--runs", type=int, help="timed rounds (default: 21 at batch 1, else 11)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--default-malloc", action="store_true", help="leave glibc's malloc settings as they are")
    args = parser.parse_args(argv)
    if problem := device_problem(args.device, allowed=("cpu", "cuda")):
        parser.error(problem)
    malloc = "glibc defaults" if args.default_malloc or not steady_malloc() else "glibc, steady heap (mallopt)"
    print(machine(args, malloc), flush=True)
    print(HEADER, flush=True)
    for case in CASES:
        if args.cases and case.model not in args.cases:
            continue
        if not (ROOT / case.spec).exists():
            print(f"<!-- skipped {case.title}: {case.spec} does not exist yet -->", flush=True)
            continue
        for mode in args.modes:
            for batch in case.batches or args.batches:
                print(row(measure(case, mode, batch, args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
