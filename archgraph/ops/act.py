"""Activations and softmax: parameter-free, one elementwise op per element ("other" FLOPs)."""

from __future__ import annotations

from archgraph.errors import OpError
from archgraph.ops.base import Attr, Emit, Memory, OpDef, norm_dim, per_element, register, uncounted

# name -> (forward expression, per-element cost, summary)
_ACTIVATIONS = {
    "relu": ("F.relu({x})", 1, "max(x, 0)"),
    "silu": ("F.silu({x})", 4, "x * sigmoid(x)"),
    "sigmoid": ("torch.sigmoid({x})", 4, "1 / (1 + exp(-x))"),
    "tanh": ("torch.tanh({x})", 4, "hyperbolic tangent"),
    "identity": ("{x}", 0, "returns its input"),
}
# name -> what its backward keeps (relu, sigmoid and tanh's derivatives are functions of their output)
_MEMORY = {
    "relu": Memory("output", "the output (its sign is the gradient's mask)"),
    "silu": Memory("input", "the input"),
    "sigmoid": Memory("input", "the input"),
    "tanh": Memory("input", "the input"),
    "identity": Memory("nothing", "nothing: the gradient passes through"),
}


def _unchanged(ins, a):
    return ins[0]


for _name, (_expr, _per, _summary) in _ACTIVATIONS.items():
    register(OpDef(
        name=_name, inputs=("x",), attrs={}, infer=_unchanged, cost=per_element(_per),
        emit=Emit(call=lambda a, e=_expr: e.format(x=a.ins[0])), summary=_summary,
        formulas={"shape": "unchanged", "params": "0", "flops": f"0 (other: {_per} per element)"},
        fvcore=uncounted, memory=_MEMORY[_name],
        notes=f"Generated code: `{_expr.format(x='x')}`.", example=f"h = {_name}(h)",
    ))  # fmt: skip


def _gelu_infer(ins, a):
    if a["approximate"] not in ("none", "tanh"):
        raise OpError(f'`approximate` must be "none" or "tanh", found {a["approximate"]!r}', "approximate")
    return ins[0]


register(OpDef(
    name="gelu",
    inputs=("x",),
    attrs={"approximate": Attr("str", "none", "\"none\" (exact erf, timm's default) or \"tanh\"")},
    infer=_gelu_infer,
    cost=per_element(8),
    emit=Emit(call=lambda a: f"F.gelu({a.ins[0]})" if a.value("approximate") == "none"
              else f"F.gelu({a.ins[0]}, approximate={a['approximate']})"),
    summary="Gaussian error linear unit",
    formulas={"shape": "unchanged", "params": "0", "flops": "0 (other: 8 per element)"},
    fvcore=uncounted,
    memory=Memory("input", "the input (GELU's derivative is a function of it)"),
    notes="Generated code: `F.gelu(x)` or `F.gelu(x, approximate='tanh')`.",
    example='x = gelu(fc1: linear(x, hidden))',
))  # fmt: skip


def _softmax_infer(ins, a):
    norm_dim(a["dim"], ins[0].rank)
    return ins[0]


register(OpDef(
    name="softmax",
    inputs=("x",),
    attrs={"dim": Attr("int", -1, "the axis to normalise over (negative counts from the end)")},
    infer=_softmax_infer,
    cost=per_element(3),  # exp, sum, divide
    emit=Emit(call=lambda a: f"{a.ins[0]}.softmax(dim={a['dim']})"),
    summary="softmax along `dim`",
    formulas={"shape": "unchanged", "params": "0", "flops": "0 (other: 3 per element)"},
    fvcore=uncounted,
    memory=Memory("output", "the output (softmax's backward reads its result)"),
    notes='Negative `dim` counts from the end. Generated code: `x.softmax(dim=-1)`.',
    example='a = softmax(scores, dim = -1)',
))  # fmt: skip
