"""`resample_pos_embed`: a position embedding for the input's patch grid (timm's `dynamic_img_size`).

At the spec's image size it is the embedding itself (0 FLOPs, no parameters); the generated model
takes a `dynamic_img_size` flag (default False) and, when set, resamples the grid part in
`forward` to the input image's grid as timm's `resample_abs_pos_embed` does.
"""

from __future__ import annotations

from archgraph.errors import OpError
from archgraph.ir import TensorType
from archgraph.ops.base import Attr, Emit, Memory, OpDef, check_positive, expect_rank, register, uncounted


def _infer(ins, a) -> TensorType:
    pos, image = ins
    check_positive(a, "patch_size")
    expect_rank(pos, 3, 0, "the position embedding [1, prefix + grid, D]")
    expect_rank(image, 4, 1, "`image` [B, C, H, W]")
    if a["num_prefix"] < 0:
        raise OpError(f"`num_prefix` must not be negative, found {a['num_prefix']}", "num_prefix")
    grid = (image.dims[2] // a["patch_size"]) * (image.dims[3] // a["patch_size"])
    if pos.dims[0] != 1 or pos.dims[1] != a["num_prefix"] + grid:
        raise OpError(f"the embedding needs [1, {a['num_prefix']} + {grid}, D] for a {image.dims[2]} x {image.dims[3]} "
                      f"image in {a['patch_size']} px patches, found {pos}", 0)  # fmt: skip
    return pos


def _call(a) -> str:
    pos, image = a.ins
    return f"resample_pos_embed({pos}, {image}.shape[-2:], {a['patch_size']}, {a['num_prefix']}, self.dynamic_img_size)"


register(OpDef(
    name="resample_pos_embed",
    inputs=("pos", "image"),
    attrs={"patch_size": Attr("int", doc="the patch size: the image's grid is H // patch_size x W // patch_size"),
           "num_prefix": Attr("int", 0, "tokens before the grid (class, register) that are kept as they are")},
    infer=_infer,
    emit=Emit(call=_call, flags=("dynamic_img_size",)),
    summary="the position embedding for the input's patch grid: itself at the spec's size; resampled "
            "bicubically in forward when the generated model is built with dynamic_img_size=True",
    formulas={"shape": "unchanged: [1, num_prefix + grid, D]", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=Memory("nothing", "nothing: at the spec's size it is the embedding itself", view=True),
    notes="timm's `dynamic_img_size`: the class that holds it takes `dynamic_img_size: bool = False` "
          "(`archgraph.build(..., dynamic_img_size=True)`); when set, `forward` resamples the grid part "
          "of the embedding to the input's grid as timm's `resample_abs_pos_embed` does (float32, "
          "bicubic, antialiased; the prefix tokens kept). The spec is checked and counted at its own "
          "size, where the op is the identity. Generated code: `(resample_pos_embed(self.pos_embed, "
          "x.shape[-2:], 16, 1, self.dynamic_img_size)`, a function defined in the file that returns the "
          "embedding itself unless the flag is set.",
    example="x = x + resample_pos_embed(pos_embed: parameter([1, 197, 768]), image, patch_size, 1)",
))  # fmt: skip
