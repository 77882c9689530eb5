"""Load a checkpoint (a timm ViT's state_dict) into a generated model whose keys match timm's.

Tensors with equal shapes load as they are; a position embedding of another grid is resampled
the way timm does it (bicubic, antialiased, prefix tokens kept), so a ViT-L/16 trained at 384
initialises a SETR encoder at 512 or 768. The report says what was loaded, resampled, left
missing (newly initialised, e.g. a decoder) and what the checkpoint had that the model does not.
Strict by default: a load with any tensor missing, unexpected or of another shape raises and
changes nothing; strict=False (the CLI's --partial) loads what fits, as SETR's decoder needs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from archgraph.errors import ArchError

SHOWN = 5  # keys listed per kind in the summary; the rest are counted


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    resampled: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # key, from shape, to shape
    missing: list[str] = field(default_factory=list)  # in the model, not in the checkpoint: newly initialised
    unexpected: list[str] = field(default_factory=list)  # in the checkpoint, not in the model
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # same key, shapes that cannot map

    @property
    def complete(self) -> bool:
        """Every model tensor came from the checkpoint and every checkpoint tensor went into the model."""
        return not (self.missing or self.unexpected or self.mismatched)

    def render(self) -> str:
        """The summary: a count per kind, its top-level modules, and the first SHOWN keys of each."""
        total = len(self.loaded) + len(self.resampled) + len(self.missing) + len(self.mismatched)
        lines = [f"loaded {len(self.loaded) + len(self.resampled)} of the model's {total} tensors"]
        lines += [f"resampled {k}: {list(a)} -> {list(b)}" for k, a, b in self.resampled]
        mismatched = [f"{k}: checkpoint {list(a)}, model {list(b)}" for k, a, b in self.mismatched]
        lines += _kind("shape mismatch, not loaded (newly initialised)", [k for k, _, _ in self.mismatched], mismatched)
        lines += _kind("missing (newly initialised)", self.missing, self.missing)
        lines += _kind("unexpected (ignored)", self.unexpected, self.unexpected)
        return "\n".join(lines) + "\n"

    def problems(self) -> str:
        """One line: the counts that make a strict load fail."""
        counts = [(len(self.mismatched), "of another shape"), (len(self.missing), "missing from the checkpoint"),
                  (len(self.unexpected), "not in the model")]  # fmt: skip
        return ", ".join(f"{n} {'tensor' if n == 1 else 'tensors'} {why}" for n, why in counts if n)


class WeightsMismatchError(ArchError, ValueError):
    """A strict load found tensors missing, unexpected or of another shape; the model was not changed."""

    def __init__(self, report: LoadReport) -> None:
        self.report = report
        super().__init__(self.message("the checkpoint"))

    def message(self, checkpoint: str) -> str:
        """`<checkpoint> does not fit the model: <counts>` and the grouped report, its lines ended."""
        return f"{checkpoint} does not fit the model: {self.report.problems()}\n{self.report.render()}"


def _kind(title: str, keys: list[str], shown: list[str]) -> list[str]:
    groups = sorted({k.split(".")[0] for k in keys})
    lines = [f"{title}: {len(keys)}" + (f" ({', '.join(groups)})" if groups else "")]
    lines += [f"  {line}" for line in shown[:SHOWN]]
    if len(shown) > SHOWN:
        lines.append(f"  ... and {len(shown) - SHOWN} more")
    return lines


def load_pretrained(model, state_dict: dict, strict: bool = True) -> LoadReport:
    """Copy `state_dict` into `model`, resampling position embeddings; returns the report.

    strict (the default): unless every tensor fits (none missing, unexpected or of another shape),
    raise WeightsMismatchError and leave `model` as it was. strict=False loads what fits. Arguments of
    the wrong kind are an ArgumentKindError (a path for `state_dict`: `torch.load` it first)."""
    _check_arguments(model, state_dict, strict)
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
    report.missing = [k for k in own if k not in state_dict]
    if strict and not report.complete:
        raise WeightsMismatchError(report)
    model.load_state_dict(fitted, strict=False)
    return report


def _check_arguments(model, state_dict, strict) -> None:
    import torch

    from archgraph.arguments import ArgumentKindError

    if not isinstance(model, torch.nn.Module):
        raise ArgumentKindError(f"model: expected a torch.nn.Module, found {type(model).__name__}")
    if isinstance(state_dict, str | os.PathLike):
        raise ArgumentKindError(f"state_dict: expected a dict of tensors, found the path {str(state_dict)!r}; "
                                "read it first (torch.load(path, weights_only=True)) or run `archgraph load-weights`")  # fmt: skip
    if not isinstance(state_dict, Mapping):
        raise ArgumentKindError(f"state_dict: expected a dict of names to tensors, found {type(state_dict).__name__}")
    for key, value in state_dict.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ArgumentKindError(f"state_dict: expected a dict of names to tensors, found {key!r}: "
                                    f"{type(value).__name__}")  # fmt: skip
    if not isinstance(strict, bool):
        raise ArgumentKindError(f"strict: expected true or false, found {strict!r}")


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
