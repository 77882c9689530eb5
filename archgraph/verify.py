"""`archgraph verify`: run the generated module and check it against the spec's analytic numbers.

It builds the generated module (or a given source file) on a device, runs it on random input
under torch's FlopCounterMode, and compares: the parameter count in total, per module path and
per direct parameter; the output shapes; and the FLOPs in total and per module path
(FlopCounterMode's per-module counts against the analytic totals of the same scope). Any
difference is a mismatch, reported with both numbers.

Known counter gap it works around: FlopCounterMode (torch 2.13, 2.14) counts
F.scaled_dot_product_attention on a CPU tensor as 0 (pytorch#195460). A tiny probe detects
the gap; when it is there the run uses the math SDPA backend, which the counter sees, and
says so. On `meta` and on CUDA the counter counts SDPA itself. Imports torch.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field

from archgraph.api import instantiate
from archgraph.cost import totals
from archgraph.ir import DTYPES, Graph
from archgraph.small import small_overrides


@dataclass
class Result:
    model: str
    device: str
    batch: int
    checks: list[tuple[bool, str]] = field(default_factory=list)  # (ok, message)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for ok, _ in self.checks)

    def check(self, ok: bool, message: str) -> None:
        self.checks.append((ok, message))

    def render(self) -> str:
        lines = [f"{'ok  ' if ok else 'MISMATCH'}  {message}" for ok, message in self.checks]
        lines += [f"note: {note}" for note in self.notes]
        verdict = "ok" if self.ok else "FAILED"
        return "\n".join([*(f"  {line}" for line in lines), f"{self.model}: {verdict}"]) + "\n"


def verify_graph(path, name: str, overrides: dict, small: bool) -> tuple[dict, Graph]:
    """(the overrides used, the graph) for `verify`: with `small`, the reduced size, keeping the full
    depth if the model needs it (a model that taps block 23 needs 24 blocks)."""
    from archgraph.api import load_graph
    from archgraph.errors import SpecError

    base = load_graph(path, name, **overrides)
    if not small:
        return overrides, base
    reduced = small_overrides(base)
    for attempt in (reduced, {k: v for k, v in reduced.items() if k != "depth"}):
        try:
            return {**attempt, **overrides}, load_graph(path, name, **{**attempt, **overrides})
        except SpecError:
            continue
    return overrides, base


def sdpa_gap(device: str) -> bool:
    """Whether FlopCounterMode counts F.scaled_dot_product_attention on `device` as 0."""
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    q = torch.zeros(1, 1, 4, 8, device=device)
    with FlopCounterMode(display=False) as counter:
        F.scaled_dot_product_attention(q, q, q)
    return counter.get_total_flops() == 0


def verify(graph: Graph, source: str, device: str = "cpu", batch: int = 1) -> Result:
    """Build `source` on `device`, run a batch, compare with `graph`'s numbers."""
    import torch

    result = Result(graph.name, device, batch)
    try:
        model = instantiate(source, "<verified module>", graph.name, graph.params, device=device).eval()
    except Exception as error:  # a broken module is a finding, not a crash
        result.check(False, f"the module does not build: {type(error).__name__}: {error}")
        return result
    model.requires_grad_(False)
    _check_params(graph, model, result)
    inputs = random_inputs(graph, batch, device)
    try:
        outputs, counts = _run(model, inputs, device, graph, result)
    except Exception as error:
        result.check(False, f"forward failed: {type(error).__name__}: {error}")
        return result
    outputs = list(outputs.values()) if isinstance(outputs, dict) else outputs  # named outputs, in order
    outputs = outputs if isinstance(outputs, tuple | list) else (outputs,)
    expected = [graph.type_of(v).shape(batch) for v in graph.outputs]
    found = [tuple(o.shape) for o in outputs]
    result.check(found == expected, f"output shape: spec {_shapes(expected)}, module {_shapes(found)}")
    if device != "meta" and found == expected:
        result.check(all(bool(torch.isfinite(o).all()) for o in outputs), "output is finite")
    order = {path: i for i, (path, _) in enumerate(model.named_modules())}
    _check_flops(graph, type(model).__name__, counts, batch, result, order)
    return result


RESULT_TAG = "archgraph-verify-result"
MAX_MODULE_BYTES = 16 * 2**20  # a generated module is under 200 KB
CHILD_TIMEOUT = 3600.0  # seconds: generous for a full-size run on a CPU; a module that hangs fails


def verify_isolated(graph: Graph, source: str, device: str = "cpu", batch: int = 1,
                    timeout: float = CHILD_TIMEOUT) -> Result:  # fmt: skip
    """`verify` run in a child process: it passes only on the child's positive result message, so a
    module that calls `sys.exit(0)` or `os._exit(0)` (at import, build or forward) fails, and one
    that hangs fails after `timeout` seconds."""
    return verify_isolated_all([(graph, source)], device, batch, timeout)[0]


def verify_isolated_all(jobs: list[tuple[Graph, str]], device: str = "cpu", batch: int = 1,
                        timeout: float = CHILD_TIMEOUT) -> list[Result]:  # fmt: skip
    """`verify_isolated` for each (graph, source) of `jobs`, in as few child processes as they allow
    (torch imported once, not once a model): the child verifies them in turn and prints a tagged
    result for each. The first job without a result fails (its module exited, crashed or hung); the
    ones after it run again in a new child. A child that exits with an error after its results fails
    every job it ran."""
    results: list[Result] = []
    while len(results) < len(jobs):
        results += _child(jobs[len(results) :], device, batch, timeout)
    return results


def _child(jobs: list[tuple[Graph, str]], device: str, batch: int, timeout: float) -> list[Result]:
    """The results of one child process over `jobs`: those it reported, then one failure for the first
    job it did not (none when it reported all)."""
    import secrets
    import subprocess
    import sys
    from pathlib import Path

    import archgraph

    nonce = secrets.token_hex(16)
    payload = pickle.dumps({"jobs": jobs, "device": device, "batch": batch, "nonce": nonce})
    home = str(Path(archgraph.__file__).resolve().parent.parent)
    code = f"import sys; sys.path.insert(0, {home!r}); from archgraph.verify import child_main; child_main()"
    try:  # `timeout` a module: a child of n jobs may take n times as long
        done = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True,
                              timeout=timeout * len(jobs))  # fmt: skip
        stdout, stderr, returncode = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as expired:
        stdout, stderr, returncode = expired.stdout or b"", b"", None
    found: dict[int, dict] = {}
    for line in stdout.decode("utf-8", "replace").splitlines():
        if line.startswith(f"{RESULT_TAG} {nonce} "):
            index, data = line.split(" ", 3)[2:]
            found[int(index)] = json.loads(data)
    results = []
    for k, (graph, _) in enumerate(jobs):
        if k not in found:
            break
        result = Result(graph.name, device, batch, [(ok, m) for ok, m in found[k]["checks"]], found[k]["notes"])
        results.append(result)
    if len(results) == len(jobs):
        if returncode:
            for result in results:
                result.check(False, f"the module's process exited with code {returncode} after its result")
        return results
    failed = Result(jobs[len(results)][0].name, device, batch)
    if returncode is None:
        failed.check(False, f"the module's process did not finish within {timeout:g} s")
    else:
        errors = stderr.decode("utf-8", "replace").strip().splitlines()
        last = f"; its last words: {errors[-1][:300]}" if errors else ""
        failed.check(False, f"the module's process ended (exit code {returncode}) without a result: the "
                            f"module exited or crashed while it was imported, built or run{last}")  # fmt: skip
    return [*results, failed]


def child_main() -> None:
    """The child of `verify_isolated_all`: read the jobs from stdin, verify each, print its tagged result."""
    import os
    import sys

    job = pickle.loads(sys.stdin.buffer.read())
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")  # stdout as it is now, whatever a module does to fd 1
    for k, (graph, source) in enumerate(job["jobs"]):
        result = verify(graph, source, job["device"], job["batch"])
        checks = json.dumps({"checks": result.checks, "notes": result.notes})
        out.write(f"{RESULT_TAG} {job['nonce']} {k} {checks}\n")
        out.flush()


def read_module(path) -> str:
    """The text of a `--module` file; ValueError saying why it is not one (missing, not a regular file,
    too large, binary)."""
    import os
    import stat

    from archgraph.errors import file_kind, os_cause

    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"--module {path}: it is {file_kind(info.st_mode)}, not a Python file")
        with open(path, "rb") as handle:
            data = handle.read(MAX_MODULE_BYTES + 1)
    except OSError as error:
        raise ValueError(f"--module {path}: {os_cause(error)}") from None
    if len(data) > MAX_MODULE_BYTES:
        raise ValueError(f"--module {path}: larger than {MAX_MODULE_BYTES:,} bytes; not a generated module")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"--module {path}: not UTF-8 text (a binary file?)") from None
    if "\x00" in text:
        raise ValueError(f"--module {path}: holds NUL bytes (a binary file?)")
    return text


def random_inputs(graph: Graph, batch: int, device: str) -> list:
    """One input per graph input, in order: f32 normal, i64 token ids 0 or 1 (valid for any vocabulary),
    bool masks all false (they hide nothing); on `meta`, tensors of those shapes and types without data."""
    import torch

    inputs = []
    for _, value in graph.inputs:
        t = graph.type_of(value)
        shape, dtype = t.shape(batch), getattr(torch, DTYPES[t.dtype].removeprefix("torch."))
        if device == "meta":
            inputs.append(torch.empty(shape, dtype=dtype, device=device))
        elif t.dtype == "f32":
            inputs.append(torch.randn(shape, device=device))
        else:
            inputs.append(torch.randint(0, 2 if t.dtype == "i64" else 1, shape, dtype=dtype, device=device))
    return inputs


def _run(model, inputs, device: str, graph: Graph, result: Result):
    import contextlib

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    backend = contextlib.nullcontext()
    if any(n.op == "sdpa" for n in graph.nodes.values()) and sdpa_gap(device):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        backend = sdpa_kernel(SDPBackend.MATH)
        result.notes.append(f"FlopCounterMode counts F.scaled_dot_product_attention on {device} as 0 in torch "
                            f"{torch.__version__} (pytorch#195460): counted under the math SDPA backend instead")  # fmt: skip
    with backend, FlopCounterMode(display=False) as counter, torch.no_grad():
        outputs = model(*inputs)
    return outputs, {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}


def _shapes(shapes: list[tuple]) -> str:
    return ", ".join("[" + ", ".join(str(d) for d in s) + "]" for s in shapes)


def _check_params(graph: Graph, model, result: Result) -> None:
    expected, found = totals(graph).params, sum(p.numel() for p in model.parameters())
    result.check(expected == found, f"parameters: spec {expected:,}, module {found:,}")
    bad = []
    checked = 0
    for path, module in model.named_modules():
        if path and ".parametrizations" not in path:  # weight_norm's holder of a layer's own weights
            checked += 1
            n = sum(p.numel() for p in module.parameters())
            if n != totals(graph, path).params:
                bad.append((path, totals(graph, path).params, n))
    for name, p in model.named_parameters(recurse=False):
        checked += 1
        if p.numel() != totals(graph, name).params:
            bad.append((name, totals(graph, name).params, p.numel()))
    for line in grouped(bad, "module"):
        result.check(False, f"parameters of {line}")
    if not bad:
        result.check(True, f"parameters per module: {checked} module paths and direct parameters agree")


def grouped(bad: list[tuple[str, int, int]], found_as: str) -> list[str]:
    """Mismatches (path, spec, found), in model order, grouped by cause: a module whose difference is
    just the sum of its differing submodules' is not listed (a count says how many were folded), and
    modules that differ the same way are one line (`(also blocks.1.mlp.fc1, ...)`)."""
    paths = {path for path, _, _ in bad}
    inner: dict[str, int] = {}  # path -> the summed difference of the mismatches directly inside it
    for path, spec, found in bad:
        parts = path.split(".")
        enclosing = (".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1))
        if (parent := next((q for q in enclosing if q in paths), None)) is not None:
            inner[parent] = inner.get(parent, 0) + found - spec
    causes = [(path, spec, found) for path, spec, found in bad if inner.get(path) != found - spec]
    lines: dict[tuple[str, int, int], list[str]] = {}
    for path, spec, found in causes:
        generic = ".".join("#" if part.isdigit() else part for part in path.split("."))
        lines.setdefault((generic, spec, found), []).append(path)
    out = []
    for (_, spec, found), same in lines.items():
        also = f" (also {_few(same[1:])})" if len(same) > 1 else ""
        out.append(f"{same[0]}: spec {spec:,}, {found_as} {found:,}{also}")
    folded = len(bad) - len(causes)
    if out and folded:
        out[-1] += f"; {folded} enclosing module{'s' if folded > 1 else ''} differ by the sum of these"
    return out


def _few(paths: list[str], keep: int = 3) -> str:
    return ", ".join(paths) if len(paths) <= keep else f"{', '.join(paths[:keep])} and {len(paths) - keep} more"


def _check_flops(graph: Graph, root: str, counts: dict[str, int], batch: int, result: Result,
                 order: dict[str, int]) -> None:  # fmt: skip
    expected, found = totals(graph).flops * batch, counts.get("Global", 0)
    result.check(expected == found, f"FlopCounterMode FLOPs: spec {expected:,}, measured {found:,}")
    bad, compared = [], 0
    for name, n in counts.items():
        if name in ("Global", root) or not name.startswith(root + "."):
            continue
        compared += 1
        path = name[len(root) + 1 :]
        if n != totals(graph, path).flops * batch:
            bad.append((path, totals(graph, path).flops * batch, n))
    bad.sort(key=lambda item: order.get(item[0], len(order)))  # model order, as the module lists its children
    for line in grouped(bad, "measured"):
        result.check(False, f"FLOPs of {line}")
    if not bad:
        result.check(True, f"FLOPs per module: {compared} module paths agree")
