"""Small instances of the spec models, for the compile, export, precision, checkpointing and
distributed tests.

`representatives()` keeps one model per distinct structure (its set of op kinds and labels),
so ViT-B/16 stands for every plain ViT size and a new family is covered as soon as its spec
lands. `tiny()` builds one at the reduced size of `tests.conftest.reduced`, with the weights
initialised to zero redrawn, so that no output is trivially zero (Mixer's head is zero-initialised).
"""

from __future__ import annotations

import contextlib
from functools import cache
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import archgraph
from tests.conftest import image_models, lowered, reduced


@cache
def representatives() -> list[tuple[Path, str]]:
    """(spec, model): the first model of each distinct structure, in spec order."""
    seen: dict[frozenset, tuple[Path, str]] = {}
    for spec, name in image_models():
        graph = lowered(spec, name)  # lowered once for image_models too
        seen.setdefault(frozenset((node.op, node.label) for node in graph.nodes.values()), (spec, name))
    return list(seen.values())


def config(spec: Path, name: str) -> dict:
    """`tests.conftest.reduced`, with CNN stages cut to 2, 1, 1, ... blocks on a 64-pixel image."""
    small = reduced(spec, name)
    layers = lowered(spec, name).params.get("layers")
    if isinstance(layers, list):  # two blocks in the first stage: both kinds of block
        small["layers"] = [2] + [1] * (len(layers) - 1)
        if "img_size" in small:  # a 2x2 grid or more after a stride of 32
            small["img_size"] = max(small["img_size"], 64)
    return small


def tiny(spec: Path, name: str, batch: int = 2, seed: int = 0, **kwargs) -> tuple[torch.nn.Module, torch.Tensor]:
    """The model at a reduced size (`kwargs` go to archgraph.build) and an input batch for it."""
    small = config(spec, name)
    torch.manual_seed(seed)
    model = archgraph.build(spec, name, **small, **kwargs)
    with torch.no_grad():
        for p in model.parameters():
            if not p.is_meta and not p.any():  # zero-initialised heads, biases, last norms of residual blocks
                p.normal_(std=0.02)
    x = torch.randn(archgraph.input_shape(spec, name, batch, **small), dtype=kwargs.get("dtype"))
    return model, x


def joined(out) -> torch.Tensor:
    """A model's output as one tensor: named outputs (DETR's `logits`, `pred_boxes`) flattened per sample and joined."""
    if isinstance(out, dict):
        return torch.cat([t.flatten(1) for t in out.values()], dim=1)
    return out


def counted(model: torch.nn.Module, *inputs: torch.Tensor, math_sdpa: bool = False, precision=None):
    """(output, FlopCounterMode's total) of one forward `model(*inputs)` without grad: the oracle the FLOP
    tests share. `math_sdpa` runs attention on the math backend (on CPU the fused kernel counts 0,
    pytorch#195460); `precision` is a context such as torch.autocast."""
    model.requires_grad_(False)
    backend = sdpa_kernel(SDPBackend.MATH) if math_sdpa else contextlib.nullcontext()
    with FlopCounterMode(display=False) as counter, torch.no_grad(), backend, precision or contextlib.nullcontext():
        out = model(*inputs)
    return out, counter.get_total_flops()


def flop_count(model: torch.nn.Module, *inputs: torch.Tensor, **options) -> int:
    """FlopCounterMode's total for one forward of `model` on `inputs` (options as `counted`)."""
    return counted(model, *inputs, **options)[1]


IDS = [name for _, name in representatives()]
