"""DINO's projection head: `l2_normalize` (F.normalize) and `weight_norm_linear`, a linear map whose
weight is g * v / ||v|| as torch.nn.utils.parametrizations.weight_norm stores it."""

from __future__ import annotations

from archgraph.errors import OpError
from archgraph.ir import Cost, TensorType
from archgraph.ops.base import (
    Attr,
    Emit,
    Memory,
    OpDef,
    batch_dims,
    call_module,
    check_positive,
    norm_dim,
    register,
    uncounted,
)


def _l2_infer(ins, a):
    norm_dim(a["dim"], ins[0].rank)
    if a["eps"] <= 0:
        raise OpError(f"`eps` must be positive, found {a['eps']}", "eps")
    return ins[0]


register(OpDef(
    name="l2_normalize",
    inputs=("x",),
    attrs={"dim": Attr("int", -1, "the axis whose L2 norm becomes 1"),
           "eps": Attr("float", 1e-12, "the smallest norm divided by (F.normalize's default)")},
    infer=_l2_infer,
    cost=lambda ins, a, outs: Cost(other=3 * outs[0].numel()),  # square, sum, divide
    emit=Emit(call=lambda a: f"F.normalize({a.ins[0]}, dim={a['dim']}"
              + ("" if a.value("eps") == 1e-12 else f", eps={a['eps']}") + ")"),
    summary="x / max(||x||_2, eps) along `dim` (F.normalize; DINO's head before its last layer)",
    formulas={"shape": "unchanged", "params": "0", "flops": "0 (other: 3 per element)"},
    fvcore=uncounted,
    memory=Memory("inputs+outputs", "the input and the output (the backward of a division by the norm)"),
    notes="Generated code: `F.normalize(x, dim=-1)` (p = 2). Neither FlopCounterMode nor fvcore counts it.",
    example="x = l2_normalize(x, dim = -1)",
))  # fmt: skip


def _wn_infer(ins, a):
    (x,) = ins
    if x.rank < 1:
        raise OpError(f"weight_norm_linear needs at least one axis, found {x}", 0)
    check_positive(a, "out_features")
    return TensorType((*x.dims[:-1], a["out_features"]), x.dtype)


def _wn_module(a) -> str:
    return (f"nn.utils.parametrizations.weight_norm(nn.Linear({a.types[0].dims[-1]}, {a['out_features']}, "
            "bias=False, **dd))")  # fmt: skip


def _wn_init(a) -> list[str]:
    """v as nn.Linear initialises its weight (DINO leaves it so), g = 1 (DINO fills it), frozen with fixed_gain."""
    weight = f"{a.target}.parametrizations.weight"
    lines = [f"nn.init.kaiming_uniform_({weight}.original1, a=5 ** 0.5)", f"nn.init.ones_({weight}.original0)"]
    if a.value("fixed_gain"):
        lines.append(f"{weight}.original0.requires_grad_(False)  # DINO's norm_last_layer: the gain stays 1")
    return lines


register(OpDef(
    name="weight_norm_linear",
    inputs=("x",),
    attrs={"out_features": Attr("int", doc="output width"),
           "fixed_gain": Attr("bool", True, "the gain g is 1 and not trained (DINO's norm_last_layer)")},
    infer=_wn_infer,
    params=lambda ins, a: (ins[0].dims[-1] + 1) * a["out_features"],
    frozen=lambda ins, a: a["out_features"] if a["fixed_gain"] else 0,  # the gain g, when fixed
    cost=lambda ins, a, outs: Cost(macs=batch_dims(ins[0]) * ins[0].dims[-1] * a["out_features"]),
    emit=Emit(module=_wn_module, call=call_module, init=_wn_init),
    summary="a bias-free linear map with a weight-normalised weight g * v / ||v|| (DINO's last layer)",
    learnable=True,
    formulas={"shape": "[..., C] -> [..., out_features]", "params": "C*out_features (v) + out_features (g)",
              "flops": "2 * prod(...) * C * out_features"},
    fvcore=uncounted,
    memory=Memory("input", "the input (for the weight gradient)"),
    notes="Stored as `torch.nn.utils.parametrizations.weight_norm` stores it: keys "
          "`<label>.parametrizations.weight.original0` (g, [out, 1]) and `...original1` (v, [out, C]); both "
          "are parameters, so the count includes g (DINO's head at D = 768: 23,138,560, of which 65,536 are g). "
          "v is initialised as nn.Linear's weight, g to 1 (as DINO does); with `fixed_gain` (DINO's default "
          "`norm_last_layer`) g is frozen (`requires_grad_(False)` in `init_weights`). The weight's normalisation runs once per forward, "
          "not per token, and is not counted. Generated code: "
          "`self.last_layer = nn.utils.parametrizations.weight_norm(nn.Linear(256, 65536, bias=False, **dd))`.",
    example="x = last_layer: weight_norm_linear(l2_normalize(x), out_dim)",
))  # fmt: skip
