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

from dataclasses import dataclass, field

from archgraph.api import instantiate
from archgraph.cost import totals
from archgraph.ir import Graph
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
        model = instantiate(source, "<verified module>", device=device).eval()
    except Exception as error:  # a broken module is a finding, not a crash
        result.check(False, f"the module does not build: {type(error).__name__}: {error}")
        return result
    model.requires_grad_(False)
    _check_params(graph, model, result)
    inputs = [_random(graph.type_of(v), batch, device) for _, v in graph.inputs]
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
    _check_flops(graph, type(model).__name__, counts, batch, result)
    return result


def _random(t, batch: int, device: str):
    import torch

    shape = t.shape(batch)
    if t.dtype != "f32":  # token ids 0 or 1 (valid for any vocabulary); masks that hide nothing
        dtype = torch.int64 if t.dtype == "i64" else torch.bool
        return torch.zeros(shape, device=device, dtype=dtype) if device == "meta" else torch.randint(
            0, 2 if t.dtype == "i64" else 1, shape, device=device, dtype=dtype)  # fmt: skip
    return torch.empty(shape, device=device) if device == "meta" else torch.randn(shape, device=device)


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
        if path:
            checked += 1
            n = sum(p.numel() for p in module.parameters())
            if n != totals(graph, path).params:
                bad.append(f"{path}: spec {totals(graph, path).params:,}, module {n:,}")
    for name, p in model.named_parameters(recurse=False):
        checked += 1
        if p.numel() != totals(graph, name).params:
            bad.append(f"{name}: spec {totals(graph, name).params:,}, module {p.numel():,}")
    for line in bad:
        result.check(False, f"parameters of {line}")
    if not bad:
        result.check(True, f"parameters per module: {checked} module paths and direct parameters agree")


def _check_flops(graph: Graph, root: str, counts: dict[str, int], batch: int, result: Result) -> None:
    expected, found = totals(graph).flops * batch, counts.get("Global", 0)
    result.check(expected == found, f"FlopCounterMode FLOPs: spec {expected:,}, measured {found:,}")
    bad, compared = [], 0
    for name, n in counts.items():
        if name in ("Global", root) or not name.startswith(root + "."):
            continue
        compared += 1
        path = name[len(root) + 1 :]
        if n != totals(graph, path).flops * batch:
            bad.append(f"{path}: spec {totals(graph, path).flops * batch:,}, measured {n:,}")
    for line in bad:
        result.check(False, f"FLOPs of {line}")
    if not bad:
        result.check(True, f"FLOPs per module: {compared} module paths agree")
