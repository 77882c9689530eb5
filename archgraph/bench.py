"""`archgraph bench SPEC`: throughput, latency and peak memory of one generated model.

    archgraph bench specs/vit.arch --batch 8
    archgraph bench specs/vit.arch --device cuda --dtype bf16 --batch 64 --train --compile

The module is generated from the spec and built with random weights (initialised as timm
does). Each run is one forward pass (`torch.inference_mode()`) or, with `--train`, one
training step (forward, cross-entropy, backward, SGD update); medians after warm-up.
bf16 and fp16 run under `torch.autocast` (weights stay fp32). Peak memory: on CUDA the
allocator's peak during the timed runs; on CPU the process's peak resident set (weights,
activations and the torch runtime together). On glibc the heap is kept steady (`mallopt`: no
fresh mapping and page faults for every large tensor, as tcmalloc or jemalloc behave; see
docs/benchmarks.md); `--default-malloc` leaves glibc's defaults. Imports torch, lazily: the
rest of the CLI never does.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archgraph.commands import add_model_options, at_least_zero, positive
from archgraph.cost import totals

DTYPES = ("fp32", "bf16", "fp16")


def add_parser(sub) -> None:
    bench = sub.add_parser("bench", help="throughput, latency and peak memory of the generated module (imports torch)")
    bench.add_argument("spec", type=Path)
    add_model_options(bench)
    bench.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    bench.add_argument("--batch", type=positive, default=1, help="the batch each timed run takes (default 1)")
    bench.add_argument("--dtype", choices=DTYPES, default="fp32", help="bf16/fp16: under torch.autocast")
    bench.add_argument("--train", action="store_true", help="time a training step instead of inference")
    bench.add_argument("--compile", action="store_true", help="torch.compile(fullgraph=True) the module first")
    bench.add_argument("--runs", type=positive, default=10, help="timed runs (default 10)")
    bench.add_argument("--warmup", type=at_least_zero, default=3, help="untimed runs first (default 3)")
    bench.add_argument("--default-malloc", action="store_true", help="leave glibc's malloc settings as they are")


@dataclass(frozen=True)
class Bench:
    model: str
    device: str
    dtype: str
    batch: int
    mode: str
    runs_ms: list[float]
    flops: int  # per batch: forward, or forward + backward with --train
    params: int
    peak_bytes: int
    peak_kind: str

    @property
    def median_ms(self) -> float:
        import statistics

        return statistics.median(self.runs_ms)

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "device": self.device, "dtype": self.dtype, "batch": self.batch,
                "mode": self.mode, "median_ms": self.median_ms, "min_ms": min(self.runs_ms),
                "max_ms": max(self.runs_ms), "images_per_s": self.batch / self.median_ms * 1e3,
                "gflop_per_s": self.flops / self.median_ms / 1e6, "flops": self.flops, "params": self.params,
                "peak_bytes": self.peak_bytes, "peak_kind": self.peak_kind}  # fmt: skip


def main(args, overrides: dict[str, Any], parser: argparse.ArgumentParser) -> int:
    from archgraph.devices import device_problem

    if problem := device_problem(args.device, allowed=("cpu", "cuda", "mps")):  # meta: nothing to time
        parser.error(problem)
    if not args.default_malloc:
        steady_malloc()
    result = run(args.spec, args.model, overrides, device=args.device, batch=args.batch, dtype=args.dtype,
                 train=args.train, compile=args.compile, runs=args.runs, warmup=args.warmup)  # fmt: skip
    print(render(result))
    return 0


def run(
    spec,
    model: str | None,
    overrides: dict[str, Any],
    *,
    device: str = "cpu",
    batch: int = 1,
    dtype: str = "fp32",
    train: bool = False,
    compile: bool = False,
    runs: int = 10,
    warmup: int = 3,
) -> Bench:
    """Build the model, warm up, time `runs` runs; the numbers as a `Bench`."""  # fmt: skip
    import torch

    from archgraph.api import build, load_graph
    from archgraph.ir import Graph
    from archgraph.verify import random_inputs

    graph = spec if isinstance(spec, Graph) else load_graph(spec, model, overrides=overrides)  # lowered once
    check_memory(graph, batch, train, device)  # before a byte is allocated
    module = build(graph, device=device)
    inputs = random_inputs(graph, batch, device)
    step = make_step(torch.compile(module, fullgraph=True) if compile else module, module, inputs, train, dtype)
    for _ in range(warmup):
        step()
    peak = _Peak(device)
    times = []
    with peak:
        for _ in range(runs):
            times.append(1e3 * timed(step, device))
    t = totals(graph)
    flops = training_flops(graph, batch) if train else t.flops * batch
    mode = "train" if train else "inference"
    return Bench(graph.name, device, dtype, batch, mode, times, flops, t.params, peak.bytes, peak.kind)


def _first(out):
    """A model's first output: the tensor itself, the first of a tuple, or the first named output."""
    if isinstance(out, dict):
        return next(iter(out.values()))
    return out[0] if isinstance(out, (tuple, list)) else out


def needed_bytes(graph, batch: int, train: bool) -> tuple[int, str]:
    """The report's own estimate (archgraph.memory, fp32) of what one run needs, and its parts in words: the
    weights and the inference activation peak, or for a training step the weights, their gradients
    (SGD keeps no other state) and the activations saved for backward."""
    from archgraph.memory import inference_peak, training_saved

    weights = totals(graph).params * 4
    if train:
        saved = training_saved(graph, batch, 4)
        return (
            2 * weights + saved,
            f"weights {_gib(weights)} + gradients {_gib(weights)} + saved activations {_gib(saved)}",
        )
    peak, _ = inference_peak(graph, batch, 4)
    return weights + peak, f"weights {_gib(weights)} + activation peak {_gib(peak)}"


def available_bytes(device: str) -> int | None:
    """Memory free for a run on `device` now: CUDA's free memory, or on the CPU the smaller of the
    kernel's MemAvailable and the cgroup's remaining limit; None where it cannot be known (MPS)."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.mem_get_info(torch.device(device))[0]
    if device != "cpu":
        return None
    found = []
    meminfo = _read_small("/proc/meminfo")
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            found.append(int(line.split()[1]) * 1024)
    limit, used = _read_small("/sys/fs/cgroup/memory.max").strip(), _read_small("/sys/fs/cgroup/memory.current")
    if limit.isdigit() and used.strip().isdigit():
        found.append(int(limit) - int(used))
    return min(found) if found else None


def _read_small(path: str, limit: int = 1 << 20) -> str:
    """At most `limit` bytes of a text file (a /proc or /sys file reports size 0); "" if unreadable."""
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("ascii", "replace")
    except OSError:
        return ""


def check_memory(graph, batch: int, train: bool, device: str) -> None:
    """A ResourceError (exit 1) naming both numbers when the estimate exceeds the memory available."""
    from archgraph.errors import ResourceError

    need, parts = needed_bytes(graph, batch, train)
    free = available_bytes(device)
    if free is not None and need > free:
        raise ResourceError(f"{graph.name} at batch {batch} needs at least {_gib(need)} on {device} (the report's "
                            f"estimate: {parts}), but {_gib(free)} is available; use a smaller --batch")  # fmt: skip


def _gib(n: int) -> str:
    return f"{n / 2**30:,.2f} GiB"


def timed(fn, device: str) -> float:
    """Wall-clock seconds of one call of `fn`, the device synchronised around it."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def autocast(device_type: str, dtype: str):
    """`torch.autocast` for bf16/fp16 (weights stay fp32); nothing for fp32."""
    import torch

    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype={"bf16": torch.bfloat16, "fp16": torch.float16}[dtype])


def make_step(call, module, inputs: list, train: bool, dtype: str):
    """One run: `call(*inputs)` for inference, or a whole SGD training step of `module` (through `call`)."""
    import torch

    device_type = inputs[0].device.type
    if not train:
        module.eval()

        def infer() -> None:
            with torch.inference_mode(), autocast(device_type, dtype):
                call(*inputs)

        return infer
    module.train()
    optimizer = torch.optim.SGD(module.parameters(), lr=1e-4)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast(device_type, dtype):
            out = _first(call(*inputs))
            target = torch.zeros(out.shape[:1] + out.shape[2:], dtype=torch.long, device=out.device)  # class 0
            loss = torch.nn.functional.cross_entropy(out, target)
        loss.backward()
        optimizer.step()

    return train_step


def training_flops(graph, batch: int) -> int:
    """Forward + backward matmul and conv FLOPs of `graph` at `batch`: FlopCounterMode on the `meta` device."""
    from torch.utils.flop_counter import FlopCounterMode

    from archgraph.api import build
    from archgraph.verify import random_inputs

    module = build(graph, device="meta")
    with FlopCounterMode(display=False) as counter:
        _first(module(*random_inputs(graph, batch, "meta"))).sum().backward()
    return counter.get_total_flops()


def steady_malloc() -> bool:
    """glibc: keep freed memory in the heap (mmap threshold at its 32 MiB maximum, never trim), so a
    large tensor does not cost fresh pages each time. False where it does not apply (not glibc)."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 32 * 2**20) and libc.mallopt(m_trim_threshold, 2**31 - 1))


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    elif device.startswith("mps"):
        torch.mps.synchronize()


class _Peak:
    """Peak memory over a block: CUDA allocator peak, or the process's peak resident set on CPU."""

    def __init__(self, device: str) -> None:
        self.device, self.bytes = device, 0
        self.kind = "peak allocated (CUDA)" if device.startswith("cuda") else "peak resident set (process)"

    def __enter__(self) -> _Peak:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc) -> None:
        if self.device.startswith("cuda"):
            import torch

            self.bytes = torch.cuda.max_memory_allocated(self.device)
        else:
            import resource

            self.bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def render(b: Bench) -> str:
    d = b.as_dict()
    return "\n".join([
        f"{b.model}: {b.mode}, batch {b.batch}, {b.device}, {b.dtype}, median of {len(b.runs_ms)} runs",
        f"latency     {d['median_ms']:.2f} ms per batch (min {d['min_ms']:.2f}, max {d['max_ms']:.2f})",
        f"throughput  {d['images_per_s']:.2f} images/s",
        f"compute     {b.flops / 1e9:.2f} GFLOP per batch, {d['gflop_per_s']:.1f} GFLOP/s",
        f"memory      {_mib(b.peak_bytes)} {b.peak_kind}; weights {_mib(4 * b.params)} ({b.params:,} params, fp32)",
    ])  # fmt: skip


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"
