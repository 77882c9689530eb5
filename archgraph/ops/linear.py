"""Learned linear maps: `linear` (nn.Linear) and `conv2d` (nn.Conv2d; its checks and costs are std_conv2d's)."""

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
    check_choice,
    check_positive,
    register,
    uncounted,
)
from archgraph.ops.conv import check_conv, conv_cost, conv_params, conv_shape

_LINEAR_INIT = {
    # timm ViT: trunc_normal(std=.02) weights, zero bias (init_weights_vit_timm)
    "trunc_normal": ["nn.init.trunc_normal_({m}.weight, std=0.02)", "nn.init.zeros_({m}.bias)"],
    # timm Mixer/ResMLP: xavier_uniform weights; biases of MLPs N(0, 1e-6)
    "xavier_uniform": ["nn.init.xavier_uniform_({m}.weight)", "nn.init.zeros_({m}.bias)"],
    "xavier_mlp": ["nn.init.xavier_uniform_({m}.weight)", "nn.init.normal_({m}.bias, std=1e-6)"],
    "zeros": ["nn.init.zeros_({m}.weight)", "nn.init.zeros_({m}.bias)"],
    "torch": ["{m}.reset_parameters()"],  # PyTorch's default (kaiming_uniform, a=sqrt(5))
    # timm ResNet / ResNetV2 convs: kaiming_normal(fan_out, relu); zero bias
    "kaiming_normal": [
        "nn.init.kaiming_normal_({m}.weight, mode='fan_out', nonlinearity='relu')",
        "nn.init.zeros_({m}.bias)",
    ],
    "lecun_normal": [],  # computed from the fan-in in _init_lines
    "fan_out_normal": [],  # timm PVT v2 / SegFormer convs: N(0, 2 / (k * k * out / groups)), zero bias
}


def _init_lines(a) -> list[str]:
    if a.value("init") == "lecun_normal":  # timm lecun_normal_: N(0, 1/fan_in) truncated at 2 std
        lines = [f"lecun_normal_({a.target}.weight)", f"nn.init.zeros_({a.target}.bias)"]
    elif a.value("init") == "fan_out_normal":  # the helper reads the sizes from the conv, as timm's _init_weights
        lines = [f"fan_out_normal_({a.target})", f"nn.init.zeros_({a.target}.bias)"]
    else:
        lines = [line.format(m=a.target) for line in _LINEAR_INIT[a.value("init")]]
    lines = [line for line in lines if ".bias" not in line or a.value("bias")]
    if a.attrs.get("frozen"):  # DETR's stem and layer1: no gradient, so no optimiser updates them
        lines.append(f"{a.target}.requires_grad_(False)")
    return lines


def _linear_infer(ins, a):
    (x,) = ins
    if x.rank < 1:
        raise OpError(f"linear needs at least one axis, found {x}", 0)
    check_positive(a, "out_features")
    check_choice(a, "init", {k: v for k, v in _LINEAR_INIT.items() if k != "fan_out_normal"})  # a conv's init
    return TensorType((*x.dims[:-1], a["out_features"]), x.dtype)


register(OpDef(
    name="linear",
    inputs=("x",),
    attrs={"out_features": Attr("int", doc="output width"),
           "bias": Attr("bool", True, "learn an additive bias"),
           "init": Attr("str", "trunc_normal", "trunc_normal | xavier_uniform | xavier_mlp | zeros | torch | lecun_normal")},
    infer=_linear_infer,
    params=lambda ins, a: ins[0].dims[-1] * a["out_features"] + (a["out_features"] if a["bias"] else 0),
    cost=lambda ins, a, outs: Cost(macs=batch_dims(ins[0]) * ins[0].dims[-1] * a["out_features"]),
    emit=Emit(
        module=lambda a: f"nn.Linear({a.types[0].dims[-1]}, {a['out_features']}, bias={a['bias']}, **dd)",
        call=call_module,
        init=_init_lines,
    ),
    summary="a learned linear map on the last axis (nn.Linear)",
    learnable=True,
    formulas={"shape": "[..., C] -> [..., out_features]", "params": "C*out_features + out_features (bias)",
              "flops": "2 * prod(...) * C * out_features"},
    fvcore=uncounted,
    memory=Memory("input", "the input (for the weight gradient)"),
    notes="`init`: `trunc_normal` (weight N(0, 0.02) truncated, bias 0: timm ViT), `xavier_uniform` (bias 0), `xavier_mlp` (bias N(0, 1e-6): timm Mixer MLPs), `zeros`, `torch` (PyTorch's default), `kaiming_normal` (weight N(0, 2 / fan_out) as timm's ResNets init convs, bias 0), `lecun_normal` (timm's jax init), `fan_out_normal` (conv only: weight N(0, 2 / (k * k * out_channels / groups)), bias 0: timm PVT v2 and SegFormer). Generated code: `self.fc1 = nn.Linear(64, 256, **dd)` (plus `bias=False`), called as `self.fc1(x)`.",
    example='x = fc1: linear(x, 4 * dim)',
))  # fmt: skip


def _conv_infer(ins, a):
    (x,) = ins
    check_conv(x, a)
    check_positive(a, "dilation")
    out = conv_shape(x, a)
    check_choice(a, "init", _LINEAR_INIT)
    return out


def _conv_module(a) -> str:
    args = [str(a.types[0].dims[1]), a["out_channels"], f"kernel_size={a['kernel_size']}"]
    args += [f"{k}={a[k]}" for k in ("stride", "padding", "groups")]  # codegen drops PyTorch's defaults
    args += [f"dilation={a['dilation']}"] if a.value("dilation") != 1 else []
    args.append(f"bias={a['bias']}")
    return f"nn.Conv2d({', '.join(args)}, **dd)"


register(OpDef(
    name="conv2d",
    inputs=("x",),
    attrs={"out_channels": Attr("int", doc="output channels"), "kernel_size": Attr("int", doc="k: a square k x k kernel"),
           "stride": Attr("int", 1, "s, along both axes"), "padding": Attr("int", 0, "p zeros on every side"),
           "groups": Attr("int", 1, "must divide C and out_channels"),
           "dilation": Attr("int", 1, "r: kernel taps r apart (DETR-DC5's last stage)"),
           "frozen": Attr("bool", False, "requires_grad off: counted in the parameters, not in the trainable ones"),
           "bias": Attr("bool", True, "learn an additive bias"),
           "init": Attr("str", "torch", "torch (PyTorch default, as timm's patch_embed) | trunc_normal | ...")},
    infer=_conv_infer,
    params=conv_params,
    cost=conv_cost,
    emit=Emit(module=_conv_module, call=call_module, init=_init_lines),
    summary="a 2-D convolution (nn.Conv2d); output size floors as PyTorch does",
    learnable=True,
    formulas={"shape": "[B, C, H, W] -> [B, out_channels, (H + 2p - r(k - 1) - 1) // s + 1, (W + 2p - r(k - 1) - 1) // s + 1]",
              "params": "out_channels * C / groups * k * k + out_channels (bias)",
              "flops": "2 * B * out_channels * H' * W' * C / groups * k * k"},
    fvcore=uncounted,
    memory=Memory("input", "the input (for the weight gradient)"),
    notes="A square kernel. `groups` must divide `C` and `out_channels`, and the kernel must fit. `init` as `linear`; the default `torch` keeps PyTorch's init, as timm's `patch_embed.proj`. Generated code: `self.proj = nn.Conv2d(3, 768, kernel_size=16, stride=16, **dd)`; `stride`, `padding`, `groups` and `dilation` are written only when they differ from the defaults, and `bias=False` only when off. `dilation = r` spaces the taps r apart (`nn.Conv2d(dilation=r)`): the kernel spans r(k - 1) + 1 pixels at the cost of k * k taps, so with `padding = r` a 3x3 conv keeps the size, as DETR-DC5's dilated C5 stage. `frozen = true` turns its gradient off (`requires_grad_(False)` in `init_weights`), as DETR freezes its backbone's stem and first stage: the report's parameters still count it, its trainable figure does not.",
    example='x = proj: conv2d(x, embed_dim, patch_size, stride = patch_size)',
))  # fmt: skip
