"""The helper functions and classes generated code may call (`StdConv2d`, `lecun_normal_`,
`fan_out_normal_`, `max_pool2d_same`, the knobs' `drop_path`, DETR's), by name: their source, which
a generated file defines once when one of its classes uses them (`view._use_helper`).
"""

from archgraph.codegen.detr_helpers import DETR_HELPERS
from archgraph.codegen.knobs import KNOB_HELPERS

HELPERS = {
    "max_pool2d_same": '''def max_pool2d_same(x: torch.Tensor, kernel_size: int, stride: int) -> torch.Tensor:
    """Max pooling with TensorFlow "SAME" padding: output ceil(H / stride), -inf padding, the odd
    pixel right and bottom (timm MaxPool2dSame)."""
    pad_h, pad_w = (max((-(-n // stride) - 1) * stride + kernel_size - n, 0) for n in x.shape[-2:])
    pads = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
    x = F.pad(x, pads, value=float("-inf"))
    return F.max_pool2d(x, kernel_size, stride)
''',
    "lecun_normal_": '''def lecun_normal_(weight: torch.Tensor) -> None:
    """timm's lecun_normal_: N(0, 1 / fan_in) truncated at two standard deviations."""
    # 0.8796...: the standard deviation of N(0, 1) truncated to [-2, 2]
    std = (1 / weight[0].numel()) ** 0.5 / 0.87962566103423978
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)
''',
    "fan_out_normal_": '''def fan_out_normal_(conv: nn.Conv2d) -> None:
    """timm's PVT v2 and SegFormer conv init: weights N(0, 2 / fan_out), where fan_out is
    k * k * out_channels / groups."""
    fan_out = conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels // conv.groups
    nn.init.normal_(conv.weight, std=(2 / fan_out) ** 0.5)
''',
    "Affine": '''class Affine(nn.Module):
    """`alpha * x + beta` per channel, no statistics (timm Affine, ResMLP's norm)."""

    def __init__(self, dim: int, *, device=None, dtype=None) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, 1, dim, device=device, dtype=dtype))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.beta, self.alpha, x)
''',
    "FourierPosition": '''class FourierPosition(nn.Module):
    """Perceiver's Fourier features of an H x W grid (Jaegle et al. 2021), a [1, H*W, 2 + 4K]
    buffer.

    Per pixel: (y, x) in [-1, 1], then sin and cos of pi * f * y and pi * f * x for K frequencies f
    from 1 to max_resolution / 2 (0: the grid's size; Hugging Face's channel order); computed once,
    not in state_dict.
    """

    def __init__(
        self,
        height: int,
        width: int,
        num_bands: int,
        max_resolution: int,
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.size, self.num_bands, self.max_resolution = (height, width), num_bands, max_resolution
        pe = torch.empty(1, height * width, 2 + 4 * num_bands, device=device, dtype=dtype)
        self.register_buffer("pe", pe, persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Compute the table in place (again after `to_empty()` of a model built on `meta`)."""
        if self.pe.is_meta:
            return
        (height, width), device = self.size, self.pe.device
        axes = [torch.linspace(-1.0, 1.0, n, device=device) for n in (height, width)]
        pos = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 2)
        top = (self.max_resolution or max(height, width)) / 2
        freq = torch.linspace(1.0, top, self.num_bands, device=device)
        angle = (pos[:, :, None] * freq).reshape(-1, 2 * self.num_bands)
        waves = [torch.sin(torch.pi * angle), torch.cos(torch.pi * angle)]
        self.pe.copy_(torch.cat([pos, *waves], dim=-1)[None])

    def forward(self) -> torch.Tensor:
        return self.pe
''',
    "LayerScale": '''class LayerScale(nn.Module):
    """`x * gamma`, one learned scale per channel (timm LayerScale)."""

    def __init__(self, dim: int, *, device=None, dtype=None) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma
''',
    "SinePosition": '''class SinePosition(nn.Module):
    """The fixed sinusoidal position encoding (Vaswani et al. 2017, section 3.5), a [1, n, dim]
    buffer.

    PE(pos, 2i) = sin(pos / base^(2i/dim)), PE(pos, 2i+1) = cos(pos / base^(2i/dim)); computed once,
    not saved in state_dict.
    """

    def __init__(self, n: int, dim: int, base: float = 10000.0, *, device=None, dtype=None) -> None:
        super().__init__()
        self.base = base
        pe = torch.empty(1, n, dim, device=device, dtype=dtype)
        self.register_buffer("pe", pe, persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Compute the table in place (again after `to_empty()` of a model built on `meta`)."""
        if self.pe.is_meta:
            return
        (_, n, dim), device = self.pe.shape, self.pe.device
        position = torch.arange(n, device=device, dtype=torch.float32)[:, None]
        even = torch.arange(0, dim, 2, device=device, dtype=torch.float32)
        angle = position / self.base ** (even / dim)
        # sin, cos interleaved
        self.pe.copy_(torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(1, n, dim))

    def forward(self) -> torch.Tensor:
        return self.pe
''',
    "StdConv2d": '''class StdConv2d(nn.Conv2d):
    """Conv2d whose filters are standardised each forward: zero mean, unit variance (timm StdConv2d)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        bias: bool = False,
        eps: float = 1e-6,
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            groups=groups,
            bias=bias,
            device=device,
            dtype=dtype,
        )
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1),
            None,
            None,
            training=True,
            momentum=0.0,
            eps=self.eps,
        ).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
''',
    "StdConv2dSame": '''class StdConv2dSame(nn.Conv2d):
    """StdConv2d with TensorFlow "SAME" padding: output ceil(H / stride) (timm StdConv2dSame)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        bias: bool = False,
        eps: float = 1e-6,
        *,
        device=None,
        dtype=None,
    ) -> None:
        dynamic = stride > 1 or kernel_size % 2 == 0  # SAME is symmetric, hence static, only here
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=0 if dynamic else (kernel_size - 1) // 2,
            groups=groups,
            bias=bias,
            device=device,
            dtype=dtype,
        )
        self.same_pad = dynamic
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same_pad:  # pad to ceil(H / stride) outputs; the odd pixel goes right and bottom
            sizes = zip(x.shape[-2:], self.stride, self.kernel_size, strict=True)
            pad_h, pad_w = (max((-(-n // s) - 1) * s + k - n, 0) for n, s, k in sizes)
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        weight = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1),
            None,
            None,
            training=True,
            momentum=0.0,
            eps=self.eps,
        ).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
''',
}
HELPERS.update(KNOB_HELPERS)
HELPERS.update(DETR_HELPERS)  # FrozenBatchNorm2d, SinePosition2d
