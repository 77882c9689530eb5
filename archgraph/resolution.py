"""Which parameters depend on the token count: lower the model again with one more row of patches
(its size knob, archgraph.knobs, one image step larger) as a sketch (a repeat's identical iterations
not copied: archgraph.sketched) and compare layer by layer. Mixer's token MLPs, ResMLP's token maps
and ViT's position embedding change size with the image; attention and channel MLPs do not.
"""

from __future__ import annotations

import re

from archgraph.errors import SpecError
from archgraph.ir import Graph
from archgraph.knobs import size_knob
from archgraph.loader import Program
from archgraph.poly import image_step
from archgraph.sketched import counted

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

_INDEX = re.compile(r"(?<=\.)\d+(?=\.|$)")


def token_dependence(program: Program, model: str, overrides: dict[str, Any], graph: Graph) -> dict | None:
    """{"params": n, "layers": ["blocks.*.mlp_tokens.fc1", ...], "knob": "img_size"} at this size, or
    None if the model has no size knob (archgraph.knobs) to vary. The other size is one image step
    (a row of patches of the coarsest token grid) larger."""
    knob = size_knob(graph)
    if knob is None:
        return None
    try:  # a sketch: the repeats' copies not made, their paths read their first iteration's counts
        other = counted(program, model, {**overrides, knob: graph.params[knob] + image_step(graph)})
    except SpecError:  # the larger size may not be valid for this model; then say nothing
        return None
    before = {n.path: n.params for n in graph.nodes.values() if n.params}
    after = {n.path: n.params for n in other.graph.nodes.values() if n.params}
    changed = [path for path, count in before.items() if after.get(other.sketch.resolve(path, after)) != count]
    layers = sorted({_INDEX.sub("*", path) for path in changed})
    return {"params": sum(before[p] for p in changed), "layers": layers, "knob": knob}
