"""CNN layers for stems and backbones: weight-standardised convolution, BatchNorm, GroupNorm, max pooling.

As timm builds ResNetV2 (the hybrid ViTs' backbone) and ResNet: `std_conv2d` is timm's
StdConv2d / StdConv2dSame, `group_norm` its GroupNorm(Act) (32 groups, eps 1e-5),
`batch_norm` nn.BatchNorm2d, `max_pool2d` nn.MaxPool2d / MaxPool2dSame.

`padding = "same"` is TensorFlow's SAME (timm's `padding="same"`): the output is
ceil(H / stride), and the total padding max((ceil(H / s) - 1) * s + k - H, 0) is split with
the odd pixel after (right, bottom). With stride 1 and an odd kernel it is symmetric,
(k - 1) / 2 a side, and static; otherwise timm computes it from the input in `forward`.

Costs follow FlopCounterMode: only the convolution counts (2 per multiply-add, bias excluded).
Norms, ReLU and pooling are "other" work. Weight standardisation normalises the weights once
per forward, whatever the batch, so it is not in "other" (every figure there scales with B).
"""

from __future__ import annotations

from archgraph.errors import OpError
from archgraph.ir import Cost, TensorType
from archgraph.ops.base import (
    Attr,
    Emit,
    Memory,
    OpDef,
    call_module,
    check_choice,
    check_positive,
    expect_rank,
    fvcore_norm,
    per_element,
    register,
    uncounted,
)
from archgraph.ops.emit import py
from archgraph.scalars import describe

# ---- shapes ----


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding (before, after) along one axis: the output is ceil(size / stride)."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _out_size(size: int, kernel: int, stride: int, padding: int | str) -> int:
    if padding == "same":
        return -(-size // stride)
    return (size + 2 * padding - kernel) // stride + 1


def _check_padding(padding) -> None:
    if padding == "same":
        return
    if isinstance(padding, bool) or not isinstance(padding, int):
        raise OpError(f'`padding` must be an integer or "same", found {describe(padding)}', "padding", "type error")
    if padding < 0:
        raise OpError(f"`padding` must not be negative, found {padding}", "padding")


def _spatial(x: TensorType, kernel: int, stride: int, padding: int | str, what: str) -> tuple[int, int]:
    """The output height and width of a `kernel` window sliding with `stride` over `x` [B, C, H, W]."""
    h, w = (_out_size(s, kernel, stride, padding) for s in x.dims[2:])
    if h < 1 or w < 1:
        raise OpError(f"{what} {kernel} does not fit a {x.dims[2]}x{x.dims[3]} input", "kernel_size")
    return h, w


# ---- std_conv2d: timm StdConv2d / StdConv2dSame ----

_CONV_INIT = {
    # timm ResNetV2 / ResNet: kaiming_normal(fan_out, relu), zero bias
    "kaiming_normal": ["nn.init.kaiming_normal_({m}.weight, mode='fan_out', nonlinearity='relu')",
                       "nn.init.zeros_({m}.bias)"],
    "torch": ["{m}.reset_parameters()"],  # PyTorch's default (kaiming_uniform, a=sqrt(5))
}  # fmt: skip


def check_conv(x: TensorType, a: dict) -> None:
    """Check a convolution (`std_conv2d`, `conv2d`): its input [B, C, H, W], sizes, padding and groups."""
    expect_rank(x, 4, 0, "the input [B, C, H, W]")
    check_positive(a, "out_channels", "kernel_size", "stride", "groups")
    _check_padding(a["padding"])
    if x.dims[1] % a["groups"] or a["out_channels"] % a["groups"]:
        raise OpError(f"`groups` = {a['groups']} must divide both {x.dims[1]} input and {a['out_channels']} "
                      "output channels", "groups")  # fmt: skip


def conv_shape(x: TensorType, a: dict) -> TensorType:
    """The output [B, out_channels, H', W'] of a convolution of `x`, once `check_conv` passed."""
    k, rate = a["kernel_size"], a.get("dilation", 1)
    what = f"a {k}x{k} kernel with dilation {rate} spans" if rate > 1 else "kernel"
    h, w = _spatial(x, rate * (k - 1) + 1, a["stride"], a["padding"], what)  # a dilated kernel's extent
    return TensorType((x.dims[0], a["out_channels"], h, w), x.dtype)


def conv_params(ins: list[TensorType], a: dict) -> int:
    """Weights out_channels * C / groups * k * k, plus the bias."""
    k = a["kernel_size"]
    return a["out_channels"] * ins[0].dims[1] // a["groups"] * k * k + (a["out_channels"] if a["bias"] else 0)


def conv_cost(ins: list[TensorType], a: dict, outs: tuple[TensorType, ...]) -> Cost:
    """One multiply-add per output element and weight of its group; the bias is not counted."""
    return Cost(macs=outs[0].numel() * ins[0].dims[1] // a["groups"] * a["kernel_size"] ** 2)


def _std_conv_infer(ins, a):
    (x,) = ins
    check_conv(x, a)
    check_positive(a, "eps")
    check_choice(a, "init", _CONV_INIT)
    return conv_shape(x, a)


def _std_conv_module(a) -> str:
    same = a.value("padding") == "same"
    args = [str(a.types[0].dims[1]), a["out_channels"], f"kernel_size={a['kernel_size']}"]
    # every size is written, so instances compare; codegen drops those left at PyTorch's default
    args += [f"{k}={a[k]}" for k in (("stride", "groups") if same else ("stride", "padding", "groups"))]
    args += ["bias=True"] if a.value("bias") else []
    args.append(f"eps={a['eps']}")
    return f"{'StdConv2dSame' if same else 'StdConv2d'}({', '.join(args)}, **dd)"


def _std_conv_init(a) -> list[str]:
    lines = [line.format(m=a.target) for line in _CONV_INIT[a.value("init")]]
    return [line for line in lines if ".bias" not in line or a.value("bias")]


def _std_conv_fvcore(ins, a, outs) -> int:
    """Weight standardisation runs F.batch_norm(training=True, no affine) on the weight: 4 per element."""
    return 4 * a["out_channels"] * int(ins[0].dims[1]) // a["groups"] * a["kernel_size"] ** 2


def _std_conv_pads(ins, a) -> bool:
    """Whether the generated StdConv2dSame pads a copy of its input (F.pad copies even when it adds nothing)."""
    return a["padding"] == "same" and (a["stride"] > 1 or a["kernel_size"] % 2 == 0)


def padded_numel(x: TensorType, kernel: int, stride: int, batch: int) -> int:
    """Elements of the TF-"same" padded copy of `x` [B, C, H, W] at `batch`."""
    b, c, h, w = x.shape(batch)
    return b * c * (h + sum(same_padding(h, kernel, stride))) * (w + sum(same_padding(w, kernel, stride)))


def _std_conv_extra(ins, a, outs, batch: int, nbytes: int) -> int:
    """The standardised weight, F.batch_norm's mean and inverse std per output channel, and any padded copy."""
    k, out = a["kernel_size"], a["out_channels"]
    extra = (out * int(ins[0].dims[1]) // a["groups"] * k * k + 2 * out) * nbytes
    return extra + (padded_numel(ins[0], k, a["stride"], batch) * nbytes if _std_conv_pads(ins, a) else 0)


_STD_CONV_MEMORY = Memory(
    lambda ins, a: "nothing" if _std_conv_pads(ins, a) else "input",
    "the input (or, where forward pads it, the padded copy instead), the standardised weight, and its "
    "batch norm's mean and inverse std per output channel",
    extra=_std_conv_extra,
)


register(OpDef(
    name="std_conv2d",
    inputs=("x",),
    attrs={"out_channels": Attr("int", doc="output channels"), "kernel_size": Attr("int", doc="k: a square k x k kernel"),
           "stride": Attr("int", 1, "s, along both axes"),
           "padding": Attr("any", 0, 'an integer, or "same" (TensorFlow SAME: output ceil(H / stride))'),
           "groups": Attr("int", 1, "must divide C and out_channels"), "bias": Attr("bool", False, "timm's StdConv2d has none"),
           "eps": Attr("float", 1e-6, "added to each filter's variance (timm: 1e-6; the hybrid ViTs use 1e-8)"),
           "init": Attr("str", "kaiming_normal", "kaiming_normal (fan_out, relu: timm ResNetV2) | torch")},
    infer=_std_conv_infer,
    params=conv_params,
    cost=conv_cost,
    emit=Emit(module=_std_conv_module, call=call_module, init=_std_conv_init),
    summary="a 2-D convolution whose filters are standardised to zero mean and unit variance each forward "
            "(timm StdConv2d; StdConv2dSame with padding \"same\")",
    learnable=True,
    formulas={"shape": "[B, C, H, W] -> [B, out_channels, H', W']; \"same\": H' = ceil(H / s), "
                       "else (H + 2p - k) // s + 1",
              "params": "out_channels * C / groups * k * k (+ out_channels with bias)",
              "flops": "2 * B * out_channels * H' * W' * C / groups * k * k (weight standardisation: not counted)"},
    fvcore=_std_conv_fvcore,
    memory=_STD_CONV_MEMORY,
    notes='Weight standardisation as timm\'s `StdConv2d` (the BiT ResNets in the hybrid ViTs, which use `eps = 1e-8`). `padding = "same"` is TensorFlow\'s SAME (timm `StdConv2dSame`): output `ceil(H / stride)`, total padding `max((ceil(H / s) - 1) * s + k - H, 0)` with the odd pixel after (right, bottom); symmetric and static with stride 1 and an odd kernel, computed from the input otherwise. The standardisation (an `F.batch_norm` over the weights, once per forward whatever the batch) is not in FLOPs, as FlopCounterMode does not count it, and not in "other" either (every "other" figure scales with the batch). Generated code: `self.conv = StdConv2dSame(3, 64, kernel_size=7, stride=2, eps=1e-08, **dd)` or `StdConv2d(64, 64, kernel_size=3, padding=1, eps=1e-06, **dd)`, helper classes in the generated file with timm\'s forward.',
    example='x = conv: std_conv2d(x, 64, 7, stride = 2, padding = "same", eps = 1e-8)',
))  # fmt: skip


# ---- batch_norm, group_norm: normalisation over channels of [B, C, ...] ----


def _norm_init(a) -> list[str]:
    """PyTorch's own reset (ones, zeros; BatchNorm's running statistics too: after `to_empty()` on a
    model built on `meta` they hold garbage), then a zero scale for a residual branch's last norm."""
    zero = [f"nn.init.zeros_({a.target}.weight)"] if a.value("affine") and a.value("zero_init") else []
    return [f"{a.target}.reset_parameters()", *zero]


def _batch_norm_infer(ins, a):
    (x,) = ins
    expect_rank(x, 4, 0, "the input [B, C, H, W]")
    check_positive(a, "eps")
    return x


def _batch_norm_module(a) -> str:
    extra = "" if a.value("affine") else ", affine=False"
    return f"nn.BatchNorm2d({a.types[0].dims[1]}, eps={a['eps']}{extra}, **dd)"


_NORM_ATTRS = {
    "eps": Attr("float", 1e-5, "added to the variance (PyTorch's and timm's default 1e-5)"),
    "affine": Attr("bool", True, "learn a per-channel scale and shift"),
    "zero_init": Attr("bool", False, "start the scale at 0, as timm's zero_init_last does for a residual "
                                     "branch's last norm"),
}  # fmt: skip


def _batch_norm_fvcore(ins, a, outs) -> int:
    """fvcore's batch norm handle in eval: 2 per element (1 without affine)."""
    return (2 if a["affine"] else 1) * outs[0].numel()


register(OpDef(
    name="batch_norm",
    inputs=("x",),
    attrs=dict(_NORM_ATTRS),
    infer=_batch_norm_infer,
    params=lambda ins, a: 2 * ins[0].dims[1] if a["affine"] else 0,
    # in eval, running statistics fold into one scale and shift per channel
    cost=per_element(2),
    emit=Emit(module=_batch_norm_module, call=call_module, init=_norm_init),
    summary="batch normalisation over the channels of [B, C, H, W] (nn.BatchNorm2d; running statistics are "
            "buffers, not parameters)",
    learnable=True,
    formulas={"shape": "unchanged", "params": "2 * C (scale and shift)", "flops": "0 (other: 2 per element)"},
    fvcore=_batch_norm_fvcore,
    memory=Memory("input", "the input (the batch statistics are recomputed from it)"),
    notes='Statistics of the batch in training, running statistics in eval; the running statistics are buffers: in the `state_dict`, not in the parameter count. Init: weight 1 (0 with `zero_init`), bias 0. Generated code: `self.bn1 = nn.BatchNorm2d(64, eps=1e-05, **dd)`.',
    example='h = relu(bn1: batch_norm(conv1: conv2d(x, 64, 1, bias = false)))',
))  # fmt: skip


def _group_norm_infer(ins, a):
    (x,) = ins
    expect_rank(x, (3, 4), 0, "the input [B, C, ...]")
    check_positive(a, "num_groups")
    if x.dims[1] % a["num_groups"]:
        raise OpError(f"`num_groups` = {a['num_groups']} must divide the {x.dims[1]} channels of {x}", "num_groups")
    check_positive(a, "eps")
    return x


def _group_norm_module(a) -> str:
    extra = "" if a.value("affine") else ", affine=False"
    return f"nn.GroupNorm({a['num_groups']}, {a.types[0].dims[1]}, eps={a['eps']}{extra}, **dd)"


_GROUP_NORM_MEMORY = Memory(
    "input",
    "the input, and a mean and rstd per sample and group (in the activations' dtype)",
    extra=lambda ins, a, outs, batch, nbytes: 2 * batch * a["num_groups"] * nbytes,
)


register(OpDef(
    name="group_norm",
    inputs=("x",),
    attrs={"num_groups": Attr("int", 32, "channels are normalised in this many groups (timm ResNetV2: 32)"),
           **_NORM_ATTRS},
    infer=_group_norm_infer,
    params=lambda ins, a: 2 * ins[0].dims[1] if a["affine"] else 0,
    cost=per_element(5),  # as layer_norm
    emit=Emit(module=_group_norm_module, call=call_module, init=_norm_init),
    summary="group normalisation over the channels of [B, C, ...] (nn.GroupNorm; timm GroupNormAct is this "
            "then a ReLU)",
    learnable=True,
    formulas={"shape": "unchanged", "params": "2 * C (scale and shift)", "flops": "0 (other: 5 per element)"},
    fvcore=fvcore_norm,
    memory=_GROUP_NORM_MEMORY,
    notes="Over `[B, C, H, W]` or `[B, C, L]`; `num_groups` must divide `C`. timm's `GroupNormAct` is this followed by a ReLU; its keys are the norm's own. Generated code: `self.norm = nn.GroupNorm(32, 64, eps=1e-05, **dd)`.",
    example='x = relu(norm: group_norm(x, 32))',
))  # fmt: skip


# ---- max_pool2d ----


def _pool_stride(a) -> int:
    return a["kernel_size"] if a["stride"] is None else a["stride"]


def _max_pool_infer(ins, a):
    (x,) = ins
    expect_rank(x, 4, 0, "the input [B, C, H, W]")
    check_positive(a, "kernel_size")
    if a["stride"] is not None:
        check_positive(a, "stride")
    _check_padding(a["padding"])
    if a["padding"] != "same" and 2 * a["padding"] > a["kernel_size"]:
        raise OpError(f"`padding` = {a['padding']} must be at most half the kernel ({a['kernel_size']})", "padding")
    h, w = _spatial(x, a["kernel_size"], _pool_stride(a), a["padding"], "window")
    return TensorType((*x.dims[:2], h, w), x.dtype)


def _max_pool_call(a) -> str:
    k, s, p = a.value("kernel_size"), _pool_stride(a.attrs), a.value("padding")
    if p == "same":  # padded with -inf in forward, from the input's size (timm MaxPool2dSame)
        return f"max_pool2d_same({a.ins[0]}, {py(k)}, {py(s)})"
    extra = "" if s == k else f", stride={py(s)}"
    extra += f", padding={py(p)}" if p else ""
    return f"F.max_pool2d({a.ins[0]}, {py(k)}{extra})"


def _max_pool_padded(ins, a, batch: int) -> int:
    """Elements of the -inf padded copy generated code makes ("same" padding that adds pixels), else 0."""
    x, k = ins[0], a["kernel_size"]
    padded = padded_numel(x, k, _pool_stride(a), batch) if a["padding"] == "same" else 0
    return padded if padded != x.numel(batch) else 0


_MAX_POOL_MEMORY = Memory(
    lambda ins, a: "nothing" if _max_pool_padded(ins, a, 1) else "input",
    'int64 indices per output element, and the input (or the padded copy where "same" pads it)',
    extra=lambda ins, a, outs, batch, nbytes: 8 * outs[0].numel(batch) + _max_pool_padded(ins, a, batch) * nbytes,
)


register(OpDef(
    name="max_pool2d",
    inputs=("x",),
    attrs={"kernel_size": Attr("int", doc="k: a k x k window"), "stride": Attr("int", None, "default: kernel_size"),
           "padding": Attr("any", 0, 'an integer, or "same" (TensorFlow SAME, padded with -inf)')},
    infer=_max_pool_infer,
    cost=lambda ins, a, outs: Cost(other=outs[0].numel() * a["kernel_size"] ** 2),  # one comparison per window element
    emit=Emit(call=_max_pool_call),
    summary="2-D max pooling (F.max_pool2d; timm MaxPool2dSame with padding \"same\")",
    formulas={"shape": "[B, C, H, W] -> [B, C, H', W'], H' as for a convolution",
              "params": "0", "flops": "0 (other: k * k per output element)"},
    fvcore=uncounted,
    memory=_MAX_POOL_MEMORY,
    notes='`padding` is at most half the kernel, as PyTorch requires, or `"same"` as for `std_conv2d`, padded with `-inf` so padding never wins. Generated code: `F.max_pool2d(x, 3, stride=2, padding=1)`, or with `"same"` a `max_pool2d_same(x, 3, 2)` helper in the generated file (timm\'s `MaxPool2dSame`: the `-inf` padding computed from the input\'s size in forward).',
    example='x = max_pool2d(x, 3, stride = 2, padding = "same")',
))  # fmt: skip
