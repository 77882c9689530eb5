"""Training regularisers: `dropout` (elementwise) and `drop_path` (stochastic depth, per sample).

Both are the identity in `eval()` and at rate 0 (the default), own no parameters and cost
0 FLOPs in the report, as FlopCounterMode counts them. Generated code calls them
functionally with `self.training`, so no module appears and state_dict keys stay timm's.
"""

from __future__ import annotations

from archgraph.errors import OpError
from archgraph.ops.base import Attr, Emit, Memory, OpDef, register, uncounted


def _infer(ins, a):
    p = a["p"]
    if isinstance(p, bool) or not 0 <= p < 1:
        raise OpError(f"`p` is a probability in [0, 1), found {p!r}", "p")
    return ins[0]


def _rate(a) -> str:
    """The rate as a float literal (`0.0`, never `0`), so instances at other rates fit one formula."""
    return repr(float(a.value("p")))


def _mask_bytes(ins, a, outs, batch, nbytes) -> int:
    """nn.Dropout keeps a one-byte mask per element while training at p > 0 (nothing at p = 0)."""
    return outs[0].numel(batch) if a["p"] > 0 else 0


def _sample_mask_bytes(ins, a, outs, batch, nbytes) -> int:
    """drop_path keeps its per-sample scale: one element per sample."""
    return batch * nbytes if a["p"] > 0 else 0


_P = Attr("float", 0.0, "the probability of zeroing (dropout) or skipping (drop_path); 0: off")

register(OpDef(
    name="dropout",
    inputs=("x",),
    attrs={"p": _P},
    infer=_infer,
    emit=Emit(call=lambda a: f"F.dropout({a.ins[0]}, {_rate(a)}, self.training)"),
    summary="zero each element with probability p while training, scaling the rest by 1 / (1 - p) (nn.Dropout)",
    formulas={"shape": "unchanged", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=Memory("nothing", "a one-byte mask per element (CUDA's native_dropout) while training at p > 0; in eval and at p = 0 torch "
                  "returns the input itself, so it holds no storage of its own", extra=_mask_bytes, view=True),
    dtypes={"x": ("f32",)},
    notes="timm's `proj_drop`, `pos_drop` and the MLP's `drop1`/`drop2`. 0 FLOPs: the identity in eval, and FlopCounterMode counts none in training. Generated code: "
          "`F.dropout(x, p, self.training)`; written out at p = 0 only where a model parameter sets p, "
          "else left out.",
    example="x = dropout(x, proj_drop)",
))  # fmt: skip

register(OpDef(
    name="drop_path",
    inputs=("x",),
    attrs={"p": _P},
    infer=_infer,
    emit=Emit(call=lambda a: f"drop_path({a.ins[0]}, {_rate(a)}, self.training)"),
    summary="stochastic depth: drop a residual branch for a whole sample with probability p while training, "
            "scaling kept samples by 1 / (1 - p) (timm DropPath, scale_by_keep=True)",
    formulas={"shape": "unchanged", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=Memory("nothing", "one scale per sample while training at p > 0; in eval and at p = 0 the "
                  "input itself, no storage of its own", extra=_sample_mask_bytes, view=True),
    dtypes={"x": ("f32",)},
    notes="Apply it to a residual branch before the add: `x = x + drop_path(h, drop_path_rate)`. A per-block "
          "rate rising linearly over a stack, as timm's, is written `blocks: repeat depth as i block(x, "
          "drop_path = linspace(0, drop_path_rate, depth)[i])`; generated code then computes the list "
          "with `torch.linspace` as timm does. Generated code: `drop_path(x, p, self.training)`, a function "
          "defined in the file.",
    example="x = x + drop_path(h, drop_path)",
))  # fmt: skip
