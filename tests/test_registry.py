"""The op registry is complete: every op carries every rule (fvcore's count, what backward keeps or
that it is a view, formulas, docs), the formulas agree with the rules they describe, and
docs/language.md's op reference is the one generated from it (ARCHGRAPH_UPDATE_GOLDEN=1 rewrites it)."""

from __future__ import annotations

import dataclasses

import pytest

from archgraph import docs
from archgraph.ir import TensorType
from archgraph.memory import rule
from archgraph.ops import REGISTRY, Emit, OpDef
from archgraph.ops.base import missing_rules
from tests.conftest import ROOT, update_golden

LANGUAGE = ROOT / "docs" / "language.md"
DEFAULTS = {f.name: f.default for f in dataclasses.fields(OpDef) if f.name in ("params", "cost")}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_op_has_every_rule(name):
    assert missing_rules(REGISTRY[name]) == []


def test_an_op_without_a_rule_is_caught():
    bare = OpDef(name="bare", inputs=("x",), attrs={}, infer=lambda ins, a: ins[0], emit=Emit(call=str), summary="s")
    assert missing_rules(bare) == ["fvcore", "memory", "formulas['shape']", "formulas['params']",
                                   "formulas['flops']", "example"]  # fmt: skip
    with pytest.raises(KeyError, match="no_such_op"):
        rule("no_such_op")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_formulas_say_zero_exactly_when_the_rule_is_the_zero_default(name):
    """A documented "0" params/FLOPs formula is the default rule, and a nonzero one is not."""
    op = REGISTRY[name]
    assert (op.formulas["params"] == "0") == (op.params is DEFAULTS["params"])
    assert (op.formulas["flops"] == "0") == (op.cost is DEFAULTS["cost"])
    assert op.learnable == (op.params is not DEFAULTS["params"])


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_an_example_uses_its_op(name):
    op = REGISTRY[name]
    symbol = op.written.split()[1] if op.written.startswith("a ") else "["  # `a + b`, or `x[i, a:b, ...]`
    assert f"{name}(" in op.example or (op.written and f" {symbol} " in op.example.replace("[", " [ "))


def test_views_keep_nothing_and_fvcore_counts_norms():
    views = sorted(n for n, op in REGISTRY.items() if op.memory.view)
    assert views == [
        "drop_path",
        "dropout",
        "expand_batch",
        "index",
        "merge_heads",
        "resample_pos_embed",
        "split_heads",
        "to_grid",
        "to_tokens",
        "transpose",
    ]
    assert all(REGISTRY[n].memory.keeps == "nothing" for n in views)
    x = TensorType((1, 8, 4, 4))
    # fvcore 0.1.5's norm handle: 5 per element with affine, 4 without (fvcore/nn/jit_handles.py norm_flop_counter)
    norm = REGISTRY["group_norm"].fvcore
    assert norm([x], {"affine": True}, (x,)) == 5 * 128 and norm([x], {"affine": False}, (x,)) == 4 * 128


def test_language_md_op_reference_is_generated_from_the_registry():
    text = LANGUAGE.read_text()
    current = docs.update(text)
    if update_golden() and text != current:
        LANGUAGE.write_text(current)
        text = current
    assert text == current, (
        "docs/language.md's op reference is stale: ARCHGRAPH_UPDATE_GOLDEN=1 pytest tests/test_registry.py"
    )


def test_signatures_render_defaults_as_a_spec_writes_them():
    assert docs.signature(REGISTRY["layer_norm"]) == "`layer_norm(x, eps = 1e-6, affine = true)`"
    assert docs.signature(REGISTRY["concat"]) == "`concat(xs1, xs2, ..., dim = 1)`"
    assert docs.signature(REGISTRY["add"]) == "written `a + b`"


def test_the_hints_for_pytorch_names_name_real_ops():
    """`permute`, `cat`, ... are not ops; the error says what to use instead, and every op it names exists
    (and none of those PyTorch names became an op the hint would then hide)."""
    import re

    from archgraph.check import _TORCH_NAMES

    for name, hint in _TORCH_NAMES.items():
        assert name not in REGISTRY, name
        named = re.findall(r"`(\w+)(?:\(|`)", hint)
        assert named and all(op in REGISTRY for op in named), (name, named)
