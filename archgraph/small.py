"""A reduced size of a model, for `verify --small` and the test suite: one function, so the sizes
verify checks and the sizes the tests compare with timm are the same."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from archgraph import syntax as s
from archgraph.ir import Graph
from archgraph.knobs import model_definition, size_knob
from archgraph.poly import image_step

SMALL = {"depth": 2, "num_heads": 2, "num_classes": 10}
TAPS = ("mla_index", "aux_index")  # block indices read out of the encoder (SETR)


def small_overrides(graph: Graph, **extra: Any) -> dict[str, Any]:
    """Overrides that shrink `graph`'s model, kept to the parameters it has: 2 blocks, width 64 (a
    multiple of mlp_ratio's denominator, so the MLP width stays whole: 88 for ViT-g's 48/11), 2
    heads, 10 classes, the smallest input of two token rows (set through the size knob, archgraph.knobs; a
    model whose input axes are several parameters, as DETR's height and width, gets 2 x 3 steps), and taps out of the encoder moved
    inside its 2 blocks; per-stage `depths` at most 2 blocks a stage, other per-stage lists kept.
    `extra` replaces any of these (or adds other parameters)."""
    params = graph.params
    ratio = params.get("mlp_ratio")
    exact = isinstance(ratio, int | float | Fraction) and not isinstance(ratio, bool)
    denominator = Fraction(ratio).limit_denominator(1000).denominator if exact else 1
    small = {**SMALL, "embed_dim": 64 if denominator == 1 else 8 * denominator}
    knob = size_knob(graph)  # the input-size parameter the spec declares (img_size in every spec here)
    if knob:
        small[knob] = 2 * image_step(graph)
    for i, name in enumerate([] if knob else _spatial_params(graph)):  # DETR's height and width: 2 and 3 steps
        small[name] = (2 + i) * image_step(graph)
    small = {k: v for k, v in small.items() if not isinstance(params.get(k), bool)}  # a size, not a flag
    small.update(extra)
    stage_depths = params.get("depths")
    if isinstance(stage_depths, list) and "depths" not in extra:  # a hierarchical model: 2 blocks a stage at most
        small["depths"] = [min(2, d) if isinstance(d, int) else d for d in stage_depths]
    for key in TAPS:
        if key in params and key not in extra and isinstance(params[key], list):
            small[key] = [i % small.get("depth", 2) for i in range(len(params[key]))]
    # a per-stage list keeps its value where the override is a number (PVT's num_heads = [1, 2, 5, 8])
    return {k: v for k, v in small.items() if k in params and (isinstance(v, list) or not isinstance(params[k], list))}


def _spatial_params(graph: Graph) -> list[str]:
    """The integer parameters written alone on the first input's spatial axes (after batch and
    channels), when every such axis is one: `img_size`, `img_w` of `[B, in_chans, img_size, img_w]`."""
    model = model_definition(graph)
    first = next((st for st in model.body if isinstance(st, s.Input)), None) if model else None
    if first is None or len(first.shape) < 3:
        return []
    names = [d.id if isinstance(d, s.Name) else None for d in first.shape[2:]]
    params = {p.name for p in model.params}
    ints = all(n in params and isinstance(graph.params.get(n), int) and not isinstance(graph.params.get(n), bool)
               for n in names)  # fmt: skip
    return list(dict.fromkeys(names)) if ints else []
