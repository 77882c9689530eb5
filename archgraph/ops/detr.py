"""DETR's pieces (Carion et al. 2020): `frozen_batch_norm`, the 2-D `sine_position_2d` and `zeros`.

`frozen_batch_norm` is torchvision's FrozenBatchNorm2d as Hugging Face's DetrFrozenBatchNorm2d
writes it: weight, bias and running statistics are buffers (in state_dict, 0 parameters), eps
added before the rsqrt. `sine_position_2d` is DETR's PositionEmbeddingSine (models/position_encoding.py,
normalize=True), computed when the module is built from the feature map's size: a constant
buffer like `sine_position`, not in state_dict. `zeros` gives the decoder its all-zero target
sequence, with the batch of another tensor (DETR's `tgt = torch.zeros_like(query_embed)`).
"""

from __future__ import annotations

import math

from archgraph.errors import OpError
from archgraph.ir import BATCH, TensorType
from archgraph.ops.base import (
    Attr,
    Emit,
    Memory,
    OpDef,
    call_module,
    check_positive,
    expect_rank,
    per_element,
    register,
    uncounted,
)


def _frozen_infer(ins, a):
    (x,) = ins
    expect_rank(x, 4, 0, "the input [B, C, H, W]")
    check_positive(a, "eps")
    return x


register(OpDef(
    name="frozen_batch_norm",
    inputs=("x",),
    attrs={"eps": Attr("float", 1e-5, "added to the running variance before the rsqrt (DETR's and HF's 1e-5)")},
    infer=_frozen_infer,
    params=lambda ins, a: 0,  # weight, bias, running_mean, running_var: buffers, not parameters
    cost=per_element(2),  # a scale and a shift per element, as batch_norm in eval
    emit=Emit(module=lambda a: f"FrozenBatchNorm2d({a.types[0].dims[1]}, eps={a['eps']}, **dd)", call=call_module,
              init=lambda a: [f"{a.target}.reset_parameters()"]),
    summary="batch normalisation with fixed statistics and affine terms, all four buffers (DETR's FrozenBatchNorm2d)",
    learnable=True,
    formulas={"shape": "unchanged", "params": "0 parameters (4 * C buffers in state_dict)",
              "flops": "0 (other: 2 per element)"},
    fvcore=uncounted,  # HF writes it as a multiply and an add, which fvcore ignores
    memory=Memory("nothing", "nothing: the scale is a constant, so backward needs no activation"),
    notes="`x * scale + shift` with `scale = weight * (running_var + eps).rsqrt()` and `shift = bias - running_mean * scale`, in HF's order (transformers' DetrFrozenBatchNorm2d; torchvision's FrozenBatchNorm2d). Keys `weight`, `bias`, `running_mean`, `running_var`, all buffers: the `state_dict` holds them, the parameter count does not, and no optimiser sees them. A `num_batches_tracked` entry in a checkpoint is dropped on load, as HF does. Generated code: a `FrozenBatchNorm2d` helper class; `self.bn1 = FrozenBatchNorm2d(64, eps=1e-05, **dd)`.",
    example="h = relu(bn1: frozen_batch_norm(conv1: conv2d(x, 64, 1, bias = false)))",
))  # fmt: skip


def _sine_2d_infer(ins, a):
    (like,) = ins
    expect_rank(like, 4, 0, "the feature map [B, C, H, W]")
    check_positive(a, "dim", "temperature", "scale")
    if a["dim"] % 4:
        raise OpError(f"`dim` must be a multiple of 4 (sin and cos pairs for y and for x), found {a['dim']}", "dim")
    h, w = like.dims[2:]
    return TensorType((1, h * w, a["dim"]))


def _sine_2d_module(a) -> str:
    h, w = a.types[0].dims[2:]
    scale = "2 * torch.pi" if a.value("scale") == 2 * math.pi else a["scale"]  # DETR's, as its code writes it
    return f"SinePosition2d({h}, {w}, {a['dim']}, {a['temperature']}, {a['normalize']}, {scale}, **dd)"


register(OpDef(
    name="sine_position_2d",
    inputs=("like",),
    attrs={"dim": Attr("int", doc="width D, a multiple of 4: D / 2 features for y, then D / 2 for x"),
           "temperature": Attr("float", 10000.0, "the wavelength base (DETR's 10000)"),
           "normalize": Attr("bool", True, "scale the positions 1..H and 1..W to (0, scale] (DETR's sine: true)"),
           "scale": Attr("float", 2 * math.pi, "the range of the normalised positions (DETR's 2 pi)")},
    infer=_sine_2d_infer,
    emit=Emit(module=_sine_2d_module, call=lambda a: f"{a.target}()", init=lambda a: [f"{a.target}.reset_parameters()"]),
    summary="DETR's fixed 2-D sine position embedding of an H x W feature map, a [1, H*W, D] buffer in token order",
    buffer=True,
    formulas={"shape": "[B, C, H, W] -> [1, H*W, dim]", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=Memory("nothing", "a constant: its gradient is not taken"),
    notes="For each of y (rows) and x (columns): the position p = 1..H (1..W), with `normalize` p / (H + 1e-6) * scale; then with F = D / 2 features and t = temperature ** (2 * (i // 2) / F), feature 2i is sin(p / t) and 2i + 1 cos(p / t). The y features come first, then x; tokens are row-major, as `to_tokens` orders them (DETR's models/position_encoding.py PositionEmbeddingSine, HF's DetrSinePositionEmbedding, with an all-ones pixel mask). Only the feature map's size is read (`like`), at build time: 0 parameters, registered with `persistent=False` (HF's state_dict has no such key; `init_weights` recomputes it, so a model built on `meta` gets it after `to_empty()`), listed under the memory report's buffers. Generated code: a `SinePosition2d` helper class (buffer `pe`); `self.position_embedding = SinePosition2d(25, 38, 256, 10000.0, True, 2 * torch.pi, **dd)`, read as `self.position_embedding()`.",
    example="pos = position_embedding: sine_position_2d(f, d_model)",
))  # fmt: skip


def _zeros_infer(ins, a):
    (like,) = ins
    if not like.dims or like.dims[0] != BATCH:
        raise OpError(f"`like` must carry the batch axis B first, found {like}", 0)
    shape = a["shape"]
    if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in shape):
        raise OpError(f"`shape` must be a list of positive integers, found {shape}", "shape")
    return TensorType((BATCH, *shape))


register(OpDef(
    name="zeros",
    inputs=("like",),
    attrs={"shape": Attr("ints", doc="the sizes after the batch axis, e.g. [num_queries, d_model]")},
    infer=_zeros_infer,
    emit=Emit(call=lambda a: f"{a.ins[0]}.new_zeros({a.ins[0]}.shape[0], {', '.join(map(str, a.value('shape')))})"),
    summary="a [B, ...] tensor of zeros with the batch of `like` (DETR's decoder input `torch.zeros_like(query_embed)`)",
    formulas={"shape": "[B, ...] -> [B, *shape]", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=Memory("nothing", "a fresh constant: nothing to differentiate"),
    notes="DETR's decoder starts from zeros and learns only the query positions added to q and k in every layer. `like` lends only its batch size and its dtype and device. Generated code: `f.new_zeros(f.shape[0], 100, 256)`.",
    example="tgt = zeros(f, [num_queries, d_model])",
))  # fmt: skip
