"""A block call copied from an earlier one (archgraph.lowering.instances) gives exactly the graph
that evaluating it again gives: the same nodes (ids, inputs, shapes, costs, spans, paths,
labels) and the same scope tree (every field of every scope), for every model in
specs/ and for calls whose arguments alias or whose body reads a tap."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from archgraph import conventions
from archgraph.check import check
from archgraph.cost import totals
from archgraph.errors import SpecError
from archgraph.ir import Graph, Scope
from archgraph.loader import load
from archgraph.lower import lower
from archgraph.lowering import Sketch, instances
from archgraph.poly import token_count
from archgraph.sketched import counted

SPECS = sorted(Path("specs").glob("*.arch"))


def _scope(scope: Scope) -> tuple:
    """Every field of the scope (a field added to Scope is compared too), its children's likewise."""
    fields = []
    for name in Scope.__record_fields__:
        value = getattr(scope, name)
        if name == "items":
            value = [item if isinstance(item, str) else _scope(item) for item in value]
        elif isinstance(value, dict):
            value = sorted(value.items(), key=str)
        fields.append((name, value))
    return tuple(fields)


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


SCHEDULED = """
block layer(x: [B, N, D], rate: float = 0.0) {
    return x + drop_path(fc: linear(x, D), rate)
}

block stage(x: [B, N, D], rate: float, first: int) {
    x = even: repeat 2 as i layer(x, rate = linspace(0, rate, 2)[i])
    return sliced: repeat 2 as i layer(x, rate = linspace(0, rate, 6)[first + i])
}

model m(r = 0.3) {
    input x: [B, 4, 8]
    return stages: repeat 2 stage(x, r, 2)
}
"""


def test_a_copied_block_keeps_its_repeats_per_iteration_schedules(tmp_path, monkeypatch):
    """`stages.1` is a copy of `stages.0`: its repeats keep the keywords that read their index and the
    sliced schedule (`linspace(0, rate, 6)[first + i]`), which codegen writes from."""
    path = tmp_path / "scheduled.arch"
    path.write_text(SCHEDULED)
    program = load(path)
    check(program)
    copies = []
    real = instances.instantiate
    monkeypatch.setattr(instances, "instantiate", lambda *args: copies.append(args) or real(*args))
    copied, evaluated = _both(program, "m")
    assert copied == evaluated and copies
    repeats = [s for s in lower(program, "m").root.walk() if s.kind == "repeat" and s.path != "stages"]
    assert [(s.path, s.per_iteration, s.schedules) for s in repeats] == [
        (f"stages.{k}.{label}", ["rate"], {"rate": (0, 0.3, 6, 2)} if label == "sliced" else {})
        for k in range(2) for label in ("even", "sliced")]  # fmt: skip


def _sketch_matches(program, name: str, overrides: dict | None = None) -> int:
    """Assert a sketch (archgraph.sketched: copies not made) gives every path of the full graph its
    parameter count, and the same totals, counts under each convention and token count; the number
    of calls it skipped."""
    full = lower(program, name, overrides)
    sketch = counted(program, name, overrides or {})
    want = {n.path: n.params for n in full.nodes.values() if n.params}
    have = {n.path: n.params for n in sketch.graph.nodes.values() if n.params}
    assert {p: have.get(sketch.sketch.resolve(p, have)) for p in want} == want, name
    assert sketch.totals() == totals(full), name
    for conv in conventions.CONVENTIONS.values():
        assert sketch.total(conv) == conv.total(full), (name, conv.name)
        assert sketch.quadratic(conv) == sum(conv.count(full, n) for n in full.nodes.values() if n.cost.quadratic)
    assert [full.type_of(v) for v in full.outputs] == [sketch.graph.type_of(v) for v in sketch.graph.outputs]
    assert _tokens(full) == _tokens(sketch.graph), name
    assert sketch.sketch.exact and len(sketch.graph.nodes) <= len(full.nodes)
    return len(sketch.sketch.aliases)


def _tokens(graph: Graph) -> int | None:
    try:
        return token_count(graph)
    except ValueError:
        return None


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_a_sketch_counts_every_path_as_the_full_graph_does(spec):
    program = load(spec)
    check(program)
    for name in program.models:
        _sketch_matches(program, name)


def test_a_sketch_aliases_repeats_and_taps(tmp_path):
    """The tapped repeat and its aliased arguments. The full graph copies 9 calls (same.2-3, stack.0-3,
    late.1-3); in the sketch stack's iterations all stand for same.1's value, so late.0 reads one
    value twice and late.1 (reading two) is evaluated: 7 aliases, the counts per path still exact."""
    path = tmp_path / "alias.arch"
    path.write_text(ALIASES)
    program = load(path)
    check(program)
    assert _sketch_matches(program, "m", {"depth": 4}) == 7


BUDGET = """
block b(x: [B, N]) {
    return fc: linear(x, 8)
}

block stage(x: [B, N]) {
    return inner: repeat 1000 b(x)
}

model m(n: int = 300) {
    input x: [B, 8]
    return outer: repeat n stage(x)
}
"""


def test_a_sketch_refuses_an_oversized_model_as_the_full_lowering_does(tmp_path):
    """The op budget counts a sketch's skipped calls: the same error, at the same place."""
    path = tmp_path / "budget.arch"
    path.write_text(BUDGET)
    program = load(path)
    check(program)
    errors = []
    for sketch in (None, Sketch()):
        with pytest.raises(SpecError) as error:
            lower(program, "m", {}, sketch)
        errors.append((str(error.value), error.value.span))
    assert errors[0] == errors[1] and "repeat `outer` would make 300,001 ops" in errors[0][0]
    assert counted(program, "m", {"n": 100}).totals() == totals(lower(program, "m", {"n": 100}))


INEXACT = """
block inner(x: [B, N]) {
    return fc: linear(x, 8)
}

block outer(x: [B, N], k: int) {
    y = r: repeat 2 shared inner(x)
    return out: linear(y, 8 * k)
}

model m() {
    input x: [B, 8]
    a = first: outer(x, 1)
    return second: outer(a, 2)
}
"""


def test_a_sketch_that_cannot_map_a_copy_falls_back_to_the_full_lowering(tmp_path):
    """`second.r` copies `first.r`'s shared call at another path: the sketch says so, and `counted`
    lowers the whole model instead."""
    path = tmp_path / "inexact.arch"
    path.write_text(INEXACT)
    program = load(path)
    check(program)
    sketch = Sketch()
    lower(program, "m", {}, sketch)
    full = lower(program, "m")
    model = counted(program, "m", {})
    assert not sketch.exact and len(model.graph.nodes) == len(full.nodes) and model.totals() == totals(full)
