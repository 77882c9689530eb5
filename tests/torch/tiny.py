"""Small instances of the spec models, for the compile, export, precision, checkpointing and
distributed tests.

`representatives()` keeps one model per distinct structure (its set of op kinds and labels),
so ViT-B/16 stands for every plain ViT size and a new family is covered as soon as its spec
lands. `tiny()` builds one at the reduced size of `tests.conftest.reduced`, with every
weight redrawn so that no output is trivially zero (Mixer's head is zero-initialised).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch

import archgraph
from tests.conftest import reduced, spec_models


@cache
def representatives() -> list[tuple[Path, str]]:
    """(spec, model): the first model of each distinct structure, in spec order."""
    seen: dict[frozenset, tuple[Path, str]] = {}
    for spec, name in spec_models():
        graph = archgraph.load_graph(spec, name)
        seen.setdefault(frozenset((node.op, node.label) for node in graph.nodes.values()), (spec, name))
    return list(seen.values())


def input_shape(spec: Path, name: str, batch: int, **overrides) -> list[int]:
    (shape,) = archgraph.analyze(spec, name, **overrides)["input_shapes"].values()
    return [batch if d == "B" else int(d) for d in shape[4:-1].split(",")]


def tiny(spec: Path, name: str, batch: int = 2, seed: int = 0, **kwargs) -> tuple[torch.nn.Module, torch.Tensor]:
    """The model at a reduced size (`kwargs` go to archgraph.build) and an input batch for it."""
    small = reduced(spec, name)
    torch.manual_seed(seed)
    model = archgraph.build(spec, name, **small, **kwargs)
    with torch.no_grad():
        for key, p in model.named_parameters():
            scale = 1.0 if key.endswith("weight") and p.ndim == 1 else 0.0  # norms' weights stay near 1
            p.copy_(scale + 0.1 * torch.randn_like(p))
    x = torch.randn(input_shape(spec, name, batch, **small), dtype=kwargs.get("dtype"))
    return model, x


IDS = [name for _, name in representatives()]
