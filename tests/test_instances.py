"""A block call copied from an earlier one (archgraph.lowering.instances) gives exactly the graph
that evaluating it again gives: the same nodes (ids, inputs, shapes, costs, spans, paths,
labels) and the same scope tree (paths, inputs, outputs, names, taps), for every model in
specs/ and for calls whose arguments alias or whose body reads a tap."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from archgraph.check import check
from archgraph.ir import Graph, Scope
from archgraph.loader import load
from archgraph.lower import lower
from archgraph.lowering import instances

SPECS = sorted(Path("specs").glob("*.arch"))


def _scope(scope: Scope) -> tuple:
    items = [item if isinstance(item, str) else _scope(item) for item in scope.items]
    names = sorted(scope.names.items(), key=str)
    return (scope.path, scope.label, scope.kind, scope.block, scope.span, scope.inputs, scope.outputs, scope.taps,
            scope.doc, scope.input_names, names, items, sorted(scope.args.items(), key=str), scope.shared)  # fmt: skip


def _graph(graph: Graph) -> tuple:
    nodes = [dataclasses.astuple(node) for node in graph.nodes.values()]
    return (nodes, _scope(graph.root), graph.inputs, graph.outputs, graph.params, graph.doc)


def _both(program, name: str, overrides: dict | None = None) -> tuple[tuple, tuple]:
    try:
        copied = _graph(lower(program, name, overrides))
        instances.ENABLED = False
        evaluated = _graph(lower(program, name, overrides))
    finally:
        instances.ENABLED = True
    return copied, evaluated


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_copied_calls_equal_evaluated_ones_for_every_spec(spec):
    program = load(spec)
    check(program)
    for name in program.models:
        copied, evaluated = _both(program, name)
        assert copied == evaluated, name


ALIASES = """
block pair(a: tensor, b: tensor, width: int) {
    return fc: linear(a + b, width)
}

block tapped(x: [B, N], early: tensor) {
    return x + early
}

model m(depth: int = 3) {
    input x: [B, 8]
    y = same: repeat depth pair(x, x, 8)
    z = stack: repeat depth pair(y, x, 8)
    w = late: repeat depth tapped(z, stack[1])
    return w
}
"""


def test_aliased_arguments_and_taps_are_copied_exactly(tmp_path, monkeypatch):
    """`pair(x, x)` then `pair(y, x)`: the first iteration aliases its arguments, the others do not."""
    path = tmp_path / "alias.arch"
    path.write_text(ALIASES)
    program = load(path)
    check(program)
    copies = []  # so the comparison cannot pass because no call was copied at all
    real = instances.instantiate
    monkeypatch.setattr(instances, "instantiate", lambda *args: copies.append(args) or real(*args))
    copied, evaluated = _both(program, "m", {"depth": 4})
    assert copied == evaluated and copies
    graph = lower(program, "m", {"depth": 4})
    first, second = graph.root.items[1].items[:2]  # `same.0` reads x twice, `same.1` reads same.0 and x
    assert first.inputs == [graph.inputs[0][1]] * 2 and second.inputs[1] == graph.inputs[0][1]
