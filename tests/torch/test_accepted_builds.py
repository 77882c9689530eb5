"""Invariant 5 of issue 17: what `check` accepts, compile generates and Python imports.

Property: every spec that check accepts (mutations of the real specs, from the fuzzer in
tests/test_fuzz.py, and a family of nested blocks and repeats) compiles, its module imports
and builds on `meta`, and its forward runs there; at a reduced size (2 blocks, width 64) it
also builds and runs on the CPU. Anything check refuses is a spec error with a span.
Deep nesting is checked once, against archgraph.depth.MAX_SCOPE_DEPTH, so no later pass (codegen,
build, forward) runs out of stack: the issue's 40 repeats deep in 8 blocks builds and runs,
one level more than the limit is refused with the location.

Budget: 25 mutated specs and 12 nestings by default; ARCHGRAPH_SLOW=1 (or -m slow) runs 300. Of an
accepted mutation, by default, one model drawn by Hypothesis is lowered, built and run
(all the models of a family file took most of this file's time); the slow profile does every model.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from archgraph.check import check
from archgraph.codegen import generate
from archgraph.depth import MAX_SCOPE_DEPTH, scope_depth
from archgraph.errors import SpecError
from archgraph.loader import load
from archgraph.lower import lower
from archgraph.verify import verify
from tests.test_fuzz import assert_renders, drawn_model, mutated_specs

SLOW = os.environ.get("ARCHGRAPH_SLOW") == "1"
BUDGET = settings(max_examples=300 if SLOW else 25, deadline=None, suppress_health_check=list(HealthCheck))


def nested_spec(blocks: int, per_block: int) -> str:
    """`blocks` blocks, each nesting `per_block` group repeats around a call of the next (the last: a linear)."""
    out = []
    for b in range(blocks):
        inner = f"b{b + 1}(h)" if b + 1 < blocks else "fc: linear(h, 8)"
        opening = "".join(f"{'    ' * (k + 1)}g{k}: repeat 1 as i{k} {{\n" for k in range(per_block))
        closing = "".join(f"{'    ' * (k + 1)}}}\n" for k in reversed(range(per_block)))
        out.append(f"block b{b}(h) {{\n{opening}{'    ' * (per_block + 1)}h = {inner}\n{closing}    return h\n}}\n")
    out.append("model deep(dim = 8) {\n    input x: [B, 4, dim]\n    y = b0(x)\n    return fc: linear(y, dim)\n}\n")
    return "".join(out)


def builds_and_runs(root, text: str, pick=None) -> str:
    """Check `text`; if accepted, the models `pick(models)` names (default: all) lower, generate,
    import, build and run on meta. The outcome. (A family file holds up to 16 models: lowering them
    all for every mutation took most of this file's time; the slow profile still does.)"""
    try:
        program = load(root / "fuzz.arch", text=text)
        check(program)
        models = program.models
        graphs = {name: lower(program, name) for name in (models if pick is None or not models else pick(models))}
    except SpecError as error:
        assert_renders(error, text)
        return f"refused: {error.diagnostics[0].kind}"
    for graph in graphs.values():
        result = verify(graph, generate(graph, "fuzz.arch"), device="meta", batch=1)
        broken = [m for ok, m in result.checks if not ok and m.startswith(("the module does not", "forward failed"))]
        assert not broken, (broken, text)
        shapes = [m for ok, m in result.checks if m.startswith("output shape")]
        assert all(ok for ok, m in result.checks if m.startswith("output shape")) and shapes, result.render()
    return "built and ran" if graphs else "checked, no models"


@BUDGET
@given(text=mutated_specs(), data=st.data())
def test_every_accepted_mutation_builds_and_runs(spec_root, text, data):
    event(builds_and_runs(spec_root, text, None if SLOW else drawn_model(data)))


@BUDGET
@given(blocks=st.integers(1, 14), per_block=st.integers(0, 6))
def test_nesting_is_refused_by_check_or_builds(spec_root, blocks, per_block):
    """Deep nesting: refused by check with a span exactly when it is over the limit; else it builds and runs."""
    text = nested_spec(blocks, per_block)
    levels = 1 + blocks * (1 + 2 * per_block)  # the model, each block call, each repeat and its step
    outcome = builds_and_runs(spec_root, text)
    assert outcome.startswith("refused") == (levels > MAX_SCOPE_DEPTH), (levels, outcome)
    event(outcome)


def test_forty_repeats_deep_in_eight_blocks_builds(spec_root):
    """The issue's case: passed check, then compile said "nests too deeply" and build raised RecursionError."""
    text = nested_spec(8, 5)
    program = load(spec_root / "fuzz.arch", text=text)
    check(program)
    assert scope_depth(lower(program, "deep").root)[0] == 1 + 8 * 11
    assert builds_and_runs(spec_root, text) == "built and ran"


@pytest.mark.slow
def test_reduced_size_of_every_spec_runs_on_cpu():
    """Every model of specs/ at a reduced size builds and runs its forward on the CPU (the meta runs above
    cover the full sizes)."""
    import archgraph
    from tests.conftest import reduced, spec_models

    for spec, name in spec_models():
        graph = archgraph.load_graph(spec, name, **reduced(spec, name))
        result = verify(graph, generate(graph, str(spec)), device="cpu", batch=1)
        assert result.ok, result.render()


def test_build_of_a_spec_nested_too_deeply_is_a_spec_error(tmp_path):
    """`archgraph.build` raised a bare RecursionError; now the spec error check gives, with its location."""
    import archgraph

    spec = tmp_path / "deep.arch"
    spec.write_text(nested_spec(12, 5))
    with pytest.raises(SpecError, match="modules nest 133 deep") as error:
        archgraph.build(spec, device="meta")
    assert error.value.span.file.endswith("deep.arch") and error.value.span.line > 1
