"""Tokens back to images and resizing: `to_grid` (SETR's reshape) and bilinear `upsample`."""

from __future__ import annotations

from archgraph.errors import OpError
from archgraph.ir import TensorType
from archgraph.ops.base import (
    VIEW,
    Attr,
    Emit,
    Memory,
    OpDef,
    check_positive,
    expect_rank,
    per_element,
    register,
    uncounted,
)


def _to_grid_infer(ins, a):
    (x,) = ins
    expect_rank(x, 3, 0, "the input [B, N, C]")
    b, n, c = x.dims
    h, w = a["height"], a["width"]
    if h < 1 or w < 1:
        raise OpError(f"the grid must be positive, found {h}x{w}", "height")
    if h * w != n:
        raise OpError(f"{n} tokens do not fold into a {h}x{w} grid ({h * w} cells)", "height")
    return TensorType((b, c, h, w), x.dtype)


def _to_grid_call(a) -> str:
    return f"{a.ins[0]}.transpose(1, 2).unflatten(-1, ({a['height']}, {a['width']}))"


register(OpDef(
    name="to_grid",
    inputs=("x",),
    attrs={"height": Attr("int", doc="grid rows"), "width": Attr("int", doc="grid columns")},
    infer=_to_grid_infer,
    emit=Emit(call=_to_grid_call),
    summary="a token sequence back to a feature map, row-major (SETR: x.transpose(1, 2).reshape(B, C, h, w))",
    formulas={"shape": "[B, h*w, C] -> [B, C, h, w]", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=VIEW,  # unflattening one dim of a transposed view is still a view: no copy
    notes='The token count must equal `height * width`. Generated code: `x.transpose(1, 2).unflatten(-1, (32, 32))`.',
    example='x = to_grid(norm: layer_norm(x[:, 1:]), grid, grid)',
))  # fmt: skip


def _upsample_infer(ins, a):
    (x,) = ins
    expect_rank(x, 4, 0, "the input [B, C, H, W]")
    size, scale = a["size"], a["scale_factor"]
    if (size is None) == (scale is None):
        raise OpError("give exactly one of `size` and `scale_factor`", "size" if size is not None else 0)
    if size is not None:
        check_positive(a, "size")
        h = w = size
    else:
        if scale < 1:
            raise OpError(f"`scale_factor` must be a positive integer, found {scale}", "scale_factor")
        h, w = x.dims[2] * scale, x.dims[3] * scale
    return TensorType((*x.dims[:2], h, w), x.dtype)


def _upsample_call(a) -> str:
    how = f"size={a['size']}" if a.value("size") is not None else f"scale_factor={a['scale_factor']}"
    return f'F.interpolate({a.ins[0]}, {how}, mode="bilinear", align_corners={a["align_corners"]})'


def _upsample_fvcore(ins, a, outs) -> int:
    """fvcore's bilinear upsample handle: 4 per output element."""
    return 4 * outs[0].numel()


register(OpDef(
    name="upsample",
    inputs=("x",),
    attrs={"scale_factor": Attr("int", None, "multiply H and W by this"),
           "size": Attr("int", None, "or resize to size x size"),
           "align_corners": Attr("bool", False, "as F.interpolate's flag")},
    infer=_upsample_infer,
    cost=per_element(4),  # 4 neighbours weighted per output element
    emit=Emit(call=_upsample_call),
    summary="bilinear resize by an integer factor or to a square size (F.interpolate, mode=\"bilinear\")",
    formulas={"shape": "[B, C, H, W] -> [B, C, s*H, s*W] or [B, C, size, size]", "params": "0",
              "flops": "0 (other: 4 per output element)"},
    fvcore=_upsample_fvcore,
    memory=Memory("nothing", "bilinear interpolation is linear: its backward needs only the sizes"),
    notes='Give exactly one of `scale_factor` and `size`. Generated code: `F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)`.',
    example='y = upsample(cls: conv2d(x, num_classes, 1), size = img_size)',
))  # fmt: skip
