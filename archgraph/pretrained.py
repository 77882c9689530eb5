"""Load a checkpoint (a timm ViT's state_dict) into a generated model whose keys match timm's.

Tensors with equal shapes load as they are; a position embedding of another grid is resampled
the way timm does it (bicubic, antialiased, prefix tokens kept), so a ViT-L/16 trained at 384
initialises a SETR encoder at 512 or 768. The report says what was loaded, resampled, left
missing (newly initialised, e.g. a decoder) and what the checkpoint had that the model does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    resampled: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # key, from shape, to shape
    missing: list[str] = field(default_factory=list)  # in the model, not loaded: newly initialised
    unexpected: list[str] = field(default_factory=list)  # in the checkpoint, not in the model
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # same key, shapes that cannot map

    def render(self) -> str:
        lines = [f"loaded {len(self.loaded)} tensors"]
        lines += [f"resampled {k}: {list(a)} -> {list(b)}" for k, a, b in self.resampled]
        lines += [
            f"shape mismatch, not loaded: {k}: checkpoint {list(a)}, model {list(b)}" for k, a, b in self.mismatched
        ]
        lines.append(f"missing (newly initialised): {len(self.missing)}" + _sample(self.missing))
        lines.append(f"unexpected (ignored): {len(self.unexpected)}" + _sample(self.unexpected))
        return "\n".join(lines) + "\n"


def _sample(keys: list[str]) -> str:
    groups = sorted({k.split(".")[0] for k in keys})
    return f" ({', '.join(groups)})" if groups else ""


def load_pretrained(model, state_dict: dict) -> LoadReport:
    """Copy `state_dict` into `model` where it fits, resampling position embeddings; returns the report."""
    own = model.state_dict()
    report, fitted = LoadReport(), {}
    for key, value in state_dict.items():
        if key not in own:
            report.unexpected.append(key)
        elif value.shape == own[key].shape:
            fitted[key] = value
            report.loaded.append(key)
        elif _resamplable(key, value.shape, own[key].shape):
            fitted[key] = resample_pos_embed(value, own[key].shape[1])
            report.resampled.append((key, tuple(value.shape), tuple(own[key].shape)))
        else:
            report.mismatched.append((key, tuple(value.shape), tuple(own[key].shape)))
    report.missing = [k for k in own if k not in fitted]
    model.load_state_dict(fitted, strict=False)
    return report


def _resamplable(key: str, found, wanted) -> bool:
    """A position embedding [1, tokens, D] of the same width whose grids can be resized into each other."""
    if not (key.endswith("pos_embed") and len(found) == len(wanted) == 3 and found[2] == wanted[2]):
        return False
    try:
        prefix_tokens(found[1], wanted[1])
    except ValueError:
        return False
    return True


def prefix_tokens(old: int, new: int) -> int:
    """How many leading tokens (class, distillation, registers) precede the square grids of both sizes."""
    for prefix in range(9):
        if _square(old - prefix) and _square(new - prefix):
            return prefix
    raise ValueError(f"position embeddings of {old} and {new} tokens are not prefix tokens plus square grids")


def _square(n: int) -> bool:
    return n > 0 and math.isqrt(n) ** 2 == n


def resample_pos_embed(pos_embed, tokens: int):
    """[1, p + h*w, D] -> [1, p + H*W, D]: the grid part resized as timm's resample_abs_pos_embed does."""
    import torch
    import torch.nn.functional as F

    prefix = prefix_tokens(pos_embed.shape[1], tokens)
    old, new = math.isqrt(pos_embed.shape[1] - prefix), math.isqrt(tokens - prefix)
    head, grid = pos_embed[:, :prefix], pos_embed[:, prefix:]
    dim, dtype = grid.shape[-1], grid.dtype
    grid = grid.reshape(1, old, old, dim).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=(new, new), mode="bicubic", antialias=True)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new * new, dim).to(dtype)
    return torch.cat([head, grid], dim=1)
