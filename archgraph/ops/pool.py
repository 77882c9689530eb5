"""Adaptive average pooling (PVT v2-Li's fixed 7x7 key/value map)."""

from __future__ import annotations

from archgraph.errors import OpError
from archgraph.ir import Cost, TensorType
from archgraph.ops.base import Attr, Emit, Memory, OpDef, check_positive, expect_rank, register


def _windows(size: int, out: int) -> int:
    """Input cells summed along one axis: PyTorch's window i spans [floor(i*n/o), ceil((i+1)*n/o))."""
    return sum(-(-(i + 1) * size // out) - i * size // out for i in range(out))


def _adaptive_infer(ins, a):
    (x,) = ins
    expect_rank(x, 4, 0, "the input [B, C, H, W]")
    check_positive(a, "output_size")
    if 0 in x.dims[2:]:
        raise OpError(f"the input map is empty: {x}", 0)
    return TensorType((*x.dims[:2], a["output_size"], a["output_size"]), x.dtype)


def _adaptive_cost(ins, a, outs) -> Cost:
    """One add per input cell per window that holds it, and one divide per output element."""
    _, c, h, w = ins[0].dims
    o = a["output_size"]
    return Cost(other=c * _windows(h, o) * _windows(w, o) + outs[0].numel())


register(OpDef(
    name="adaptive_avg_pool2d",
    inputs=("x",),
    attrs={"output_size": Attr("int", doc="s: the output map is s x s, whatever the input's size")},
    infer=_adaptive_infer,
    cost=_adaptive_cost,
    emit=Emit(call=lambda a: f"F.adaptive_avg_pool2d({a.ins[0]}, {a['output_size']})"),
    summary="average pooling to a fixed s x s map (F.adaptive_avg_pool2d; PVT v2-Li's 7x7 key/value map)",
    formulas={"shape": "[B, C, H, W] -> [B, C, s, s]", "params": "0",
              "flops": "0 (other: one add per cell per window holding it, one divide per output)"},
    fvcore=lambda ins, a, outs: ins[0].numel(),  # fvcore's handle: elementwise_flop_counter(1, 0) on the input
    memory=Memory("nothing", "an average is linear: its backward needs only the sizes"),
    notes="Window `i` along an axis of size `n` spans `floor(i*n/s)` to `ceil((i+1)*n/s)`, as PyTorch's, so a map smaller than `s x s` is upsampled by repetition. Generated code: `F.adaptive_avg_pool2d(x, 7)`.",
    example="k = sr: conv2d(adaptive_avg_pool2d(x, 7), dim, 1)",
))  # fmt: skip
