"""A model's size knob: the parameter that sets its input's spatial size, read from the spec.

The knob is the parameter written alone on every spatial axis of the model's first input (the
axes after batch and channels): `img_size` in `input x: [B, in_chans, img_size, img_size]`,
`res` in `input x: [B, 3, res, res]`, `length` in `input x: [B, 1, length]`. A model whose
spatial axes are literals, expressions or two different parameters (`[B, 3, h, w]`) has none;
whatever varies the image size (the closed form, the token-dependence line, a reduced test
size) then says so instead of guessing a name. See docs/language.md, "Size knob".
"""

from __future__ import annotations

from archgraph import syntax as s
from archgraph.ir import Graph


def size_knob(graph: Graph) -> str | None:
    """The name of `graph`'s size knob, or None (no program to read, no input, no single name)."""
    model = model_definition(graph)
    if model is None:
        return None
    first = next((st for st in model.body if isinstance(st, s.Input)), None)
    if first is None or len(first.shape) < 3:
        return None
    names = {d.id if isinstance(d, s.Name) else None for d in first.shape[2:]}
    if len(names) != 1 or None in names:
        return None
    (name,) = names
    value = graph.params.get(name)
    is_size = isinstance(value, int) and not isinstance(value, bool)
    return name if is_size and any(p.name == name for p in model.params) else None


def input_size(graph: Graph) -> int | None:
    """The knob's value in `graph` (224 for ViT-B/16), or None without a knob."""
    knob = size_knob(graph)
    return graph.params[knob] if knob else None


def model_definition(graph: Graph) -> s.Model | None:
    """The model definition `graph` was lowered from (a variant's base model), if its program is known."""
    program = graph.program
    if program is None or graph.name not in program.definitions:
        return None
    item = program.definitions.get(variant_chain(program.definitions, graph.name)[-1])
    return item if isinstance(item, s.Model) else None


def variant_chain(definitions: dict, name: str) -> list[str]:
    """`name`, the model it varies (`model b1 = pvt_v2(...)`), that one's, ... up to a model definition
    (or a name defined otherwise, or not at all; a cycle ends it)."""
    chain = [name]
    while isinstance(item := definitions.get(chain[-1]), s.Variant) and item.base not in chain:
        chain.append(item.base)
    return chain
