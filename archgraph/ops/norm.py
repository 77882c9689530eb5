"""Normalisation: `layer_norm` over the last axis (timm's ViT/Mixer default eps 1e-6), and ResMLP's `affine`."""

from __future__ import annotations

from archgraph.errors import OpError
from archgraph.ir import TensorType
from archgraph.ops.base import (
    Attr,
    Emit,
    Memory,
    OpDef,
    call_module,
    check_positive,
    fvcore_norm,
    per_element,
    register,
    uncounted,
)


def _channels_last(ins: list[TensorType], a: dict) -> TensorType:
    """The input, unchanged, once it is known to have a last axis to normalise."""
    (x,) = ins
    if x.rank < 1:
        raise OpError(f"layer_norm needs at least one axis, found {x}", 0)
    return x


def _layer_norm_infer(ins, a):
    x = _channels_last(ins, a)
    check_positive(a, "eps")
    return x


def _layer_norm_module(a) -> str:
    extra = "" if a.value("affine") else ", elementwise_affine=False"
    return f"nn.LayerNorm({a.types[0].dims[-1]}, eps={a['eps']}{extra}, **dd)"


_LAYER_NORM_MEMORY = Memory(
    "input",
    "the input, and a f32 mean and rstd per row",
    extra=lambda ins, a, outs, batch, nbytes: 2 * 4 * outs[0].numel(batch) // int(outs[0].dims[-1]),
)


register(OpDef(
    name="layer_norm",
    inputs=("x",),
    attrs={"eps": Attr("float", 1e-6, "added to the variance (timm's ViT uses 1e-6; PyTorch's default is 1e-5)"),
           "affine": Attr("bool", True, "learn a per-channel scale and shift")},
    infer=_layer_norm_infer,
    params=lambda ins, a: 2 * ins[0].dims[-1] if a["affine"] else 0,
    # mean, variance, normalise, scale, shift: 5 per element (fvcore's convention)
    cost=per_element(5),
    emit=Emit(
        module=_layer_norm_module,
        call=call_module,
        init=lambda a: [f"{a.target}.reset_parameters()"] if a.value("affine") else [],
    ),
    summary="layer normalisation over the last axis (nn.LayerNorm)",
    learnable=True,
    formulas={"shape": "unchanged", "params": "2 * C (scale and shift)", "flops": "0 (other: 5 per element)"},
    fvcore=fvcore_norm,
    memory=_LAYER_NORM_MEMORY,
    notes="The default eps is timm's ViT value; PyTorch's own default is 1e-5. Init: weight 1, bias 0. Generated code: `self.norm = nn.LayerNorm(768, eps=1e-06, **dd)` (plus `elementwise_affine=False`). On a channels-first map `[B, C, H, W]` the last axis is W, not C: normalise the channels as tokens, `to_grid(norm: layer_norm(to_tokens(x)), H, W)` (ConvNeXt's LayerNorm2d, with timm's keys `norm.weight`).",
    example='x = norm: layer_norm(x)',
))  # fmt: skip


register(OpDef(
    name="affine",
    inputs=("x",),
    attrs={},
    infer=_channels_last,
    params=lambda ins, a: 2 * ins[0].dims[-1],
    cost=per_element(2),  # a multiply and an add per element
    emit=Emit(
        module=lambda a: f"Affine({a.types[0].dims[-1]}, **dd)",
        call=call_module,
        init=lambda a: [f"nn.init.ones_({a.target}.alpha)", f"nn.init.zeros_({a.target}.beta)"],
    ),
    summary="ResMLP's normalisation: a learned per-channel `alpha * x + beta`, no statistics (timm Affine)",
    learnable=True,
    formulas={"shape": "unchanged", "params": "2 * C (alpha, beta of shape [1, 1, C])", "flops": "0 (other: 2 per element)"},
    fvcore=uncounted,
    memory=Memory("input", "the input (for alpha's gradient)"),
    notes="Keys `alpha`, `beta` of shape `[1, 1, C]`, as timm's `Affine`. Generated code: `self.norm1 = Affine(384, **dd)` (a helper class in the generated file), `torch.addcmul(self.beta, self.alpha, x)`.",
    example='h = norm1: affine(x)',
))  # fmt: skip
