"""Queries that are parameters: `expand_batch` broadcasts a learned `[1, n, D]` tensor over the batch.

CaiT's class token (joined only before its class-attention stage), DETR's object queries and
Perceiver's latent array are learned tensors that enter the network as a sequence of their own,
so they need the batch axis of the input they will attend to.
"""

from __future__ import annotations

from archgraph.errors import OpError
from archgraph.ir import BATCH, TensorType
from archgraph.ops.base import VIEW, Attr, Emit, OpDef, register, uncounted


def _infer(ins, a):
    x, like = ins
    if a["new_axis"] and BATCH in x.dims:
        raise OpError(f"`new_axis` gives a learned tensor the batch axis, but {x} has it already", 0)
    if a["new_axis"] and like.dims and like.dims[0] == BATCH:
        return TensorType((BATCH, *x.dims), x.dtype)  # [n, D] -> [B, n, D], as torch's expand prepends
    if not x.dims or x.dims[0] != 1:
        raise OpError(f"expands a tensor whose first axis is 1 (a learned [1, n, D]), found {x}", 0)
    if not like.dims or like.dims[0] != BATCH:
        raise OpError(f"`like` must carry the batch axis B first, found {like}", 1)
    return TensorType((BATCH, *x.dims[1:]), x.dtype)


def _call(a) -> str:
    rest = ", ".join(["-1"] * (a.types[0].rank - (0 if a.value("new_axis") else 1)))
    return f"{a.ins[0]}.expand({a.ins[1]}.shape[0]{', ' if rest else ''}{rest})"


register(OpDef(
    name="expand_batch",
    inputs=("x", "like"),
    attrs={"new_axis": Attr("bool", False, "prepend B as a new axis: [n, D] -> [B, n, D] (Hugging Face's latents)")},
    infer=_infer,
    emit=Emit(call=_call),
    summary="a learned [1, ...] tensor broadcast over the batch of `like`: [1, n, D] -> [B, n, D]",
    formulas={"shape": "[1, ...] -> [B, ...] (B from `like`)", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=VIEW,
    notes="For queries that are parameters (CaiT's class token, object queries, a latent array): the "
          "result is a `[B, n, D]` sequence a repeated block can carry. `like` only lends its batch size. "
          "With `new_axis = true` a `[n, D]` tensor gains the batch axis in front (Hugging Face Perceiver's "
          "`latents` [512, 1024]). Generated code: `self.cls_token.expand(x.shape[0], -1, -1)` (a view, as "
          "timm writes it).",
    example="x_cls = expand_batch(cls_token: parameter([1, 1, embed_dim]), x)",
))  # fmt: skip
