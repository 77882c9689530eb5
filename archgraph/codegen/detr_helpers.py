"""Helper classes a generated DETR file defines: FrozenBatchNorm2d and SinePosition2d
(see archgraph/ops/detr.py). Lines within 100 characters, as every generated line."""

DETR_HELPERS = {
    "FrozenBatchNorm2d": '''class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with fixed statistics and affine terms, all buffers (DETR; HF
    DetrFrozenBatchNorm2d)."""

    def __init__(self, n: int, eps: float = 1e-5, *, device=None, dtype=None) -> None:
        super().__init__()
        self.eps = eps
        for name in ("weight", "bias", "running_mean", "running_var"):
            self.register_buffer(name, torch.empty(n, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        values = {"weight": 1.0, "bias": 0.0, "running_mean": 0.0, "running_var": 1.0}
        for name, value in values.items():
            getattr(self, name).fill_(value)

    def _load_from_state_dict(self, state_dict, prefix, *args) -> None:
        # a BatchNorm2d checkpoint loads as it is
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = self.running_var.reshape(1, -1, 1, 1)
        scale = self.weight.reshape(1, -1, 1, 1) * (var + self.eps).rsqrt()
        shift = self.bias.reshape(1, -1, 1, 1) - self.running_mean.reshape(1, -1, 1, 1) * scale
        return x * scale + shift
''',
    "SinePosition2d": '''class SinePosition2d(nn.Module):
    """DETR's fixed 2-D sine position embedding of an h x w map, a [1, h*w, dim] buffer in
    token order.

    Per axis, positions 1..h (1..w), normalised to (0, scale]; dim / 2 features each, sin and cos
    interleaved at wavelengths temperature^(2 (i // 2) / (dim / 2)); y first, then x. Not saved.
    """

    def __init__(
        self,
        h: int,
        w: int,
        dim: int,
        temperature: float = 10000.0,
        normalize: bool = True,
        scale: float = 2 * torch.pi,
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.size, self.temperature = (h, w), temperature
        self.normalize, self.scale = normalize, scale
        pe = torch.empty(1, h * w, dim, device=device, dtype=dtype)
        self.register_buffer("pe", pe, persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Compute the table in place (again after `to_empty()` of a model built on `meta`)."""
        if self.pe.is_meta:
            return
        (h, w), dim, device = self.size, self.pe.shape[-1], self.pe.device
        y = torch.arange(1, h + 1, device=device, dtype=torch.float32)[:, None].expand(h, w)
        x = torch.arange(1, w + 1, device=device, dtype=torch.float32)[None, :].expand(h, w)
        if self.normalize:
            y = y / (y[-1:, :] + 1e-6) * self.scale
            x = x / (x[:, -1:] + 1e-6) * self.scale
        dim_t = torch.arange(dim // 2, device=device, dtype=torch.float32)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / (dim // 2))
        pos_y, pos_x = y[:, :, None] / dim_t, x[:, :, None] / dim_t
        pos_y = torch.stack((pos_y[:, :, 0::2].sin(), pos_y[:, :, 1::2].cos()), dim=3).flatten(2)
        pos_x = torch.stack((pos_x[:, :, 0::2].sin(), pos_x[:, :, 1::2].cos()), dim=3).flatten(2)
        self.pe.copy_(torch.cat((pos_y, pos_x), dim=2).reshape(1, h * w, dim))

    def forward(self) -> torch.Tensor:
        return self.pe
''',
}
