"""Invariant 1 of issue 17: every value is bounded.

Any chain of scalar operations, on any values the spec language can write, either gives a
value within the limits (`scalars.checked`) or a ScalarError (which the evaluator turns into a
spec error with a span); never another exception, and never a value whose size grows without
bound. `--set` values obey the same limits (inf, nan, 2**70 are usage errors).
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archgraph.cli import main
from archgraph.scalars import FRACTION_BITS, LIMIT, MAX_STRING, ScalarError, binary, checked, describe

OPS = ("+", "-", "*", "/", "//", "%", "**", "==", "<")

numbers = st.one_of(
    st.integers(-LIMIT, LIMIT),
    st.floats(-1e18, 1e18, allow_nan=False, allow_infinity=False),
    st.fractions(max_denominator=2**62).filter(lambda f: abs(f) <= LIMIT),
    st.sampled_from([0, 1, -1, 2, 2**62, Fraction(1, 4611686018427387903), 4e18, 0.0, 1e-300]),
)
values = st.one_of(numbers, st.text(max_size=50), st.booleans())


def _within_limits(value) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) <= LIMIT
    if isinstance(value, Fraction):
        return max(abs(value.numerator).bit_length(), value.denominator.bit_length()) <= FRACTION_BITS
    if isinstance(value, int):
        return abs(value) <= LIMIT
    return isinstance(value, str) and len(value) <= MAX_STRING


@settings(max_examples=300, deadline=None)
@given(start=values, steps=st.lists(st.tuples(st.sampled_from(OPS), values, st.booleans()), max_size=30))
def test_any_chain_of_operations_stays_bounded(start, steps) -> None:
    """Fold `steps` over `start` (each step: op, operand, whether the running value is the left side
    or is combined with itself, as `a = a * a` does); every result is within the limits."""
    value = start
    for op, operand, with_itself in steps:
        other = value if with_itself else operand
        try:
            value = binary(op, value, other)
        except ScalarError as error:
            assert len(str(error)) < 2000  # the message itself is bounded: no 5,000-digit number in it
            continue
        assert _within_limits(value), (op, value)
        describe(value)  # formatting any value never fails


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 2**63, Fraction(1, 2**300),
                                   "x" * (MAX_STRING + 1), [1, float("nan")]])  # fmt: skip
def test_checked_refuses_what_is_out_of_bounds(value) -> None:
    with pytest.raises(ScalarError):
        checked(value)


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "NaN", "1e400", str(2**70), "9" * 5000])
def test_set_refuses_values_out_of_bounds(text, capsys, tmp_path) -> None:
    """`--set init_values=inf` used to be accepted and generated `constant_(..., inf)`: now a usage error."""
    spec = tmp_path / "t.arch"
    spec.write_text("model t(dim = 8, init_values = 1e-5) {\n    input x: [B, 4, dim]\n"
                    "    return fc: linear(x, dim)\n}\n")  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(spec), "--set", f"init_values={text}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--set value" in err and len(err) < 1000


def test_float_attribute_refuses_infinity() -> None:
    """An attribute of kind float (an op's `init_values`, `eps`) is finite: `inf` never reaches codegen."""
    from archgraph.scalars import coerce

    with pytest.raises(ScalarError, match="finite"):
        coerce("float", float("inf"))


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=40), st.from_regex(r"\A[+-]?\d{1,30}(\.\d*)?([eE][+-]?\d{1,4})?\Z")))
def test_any_set_value_parses_within_bounds_or_is_a_usage_error(text) -> None:
    """Whatever follows `--set KEY=`: a value within the limits, or argparse's usage error; nothing else."""
    import argparse

    from archgraph.commands import parse_value

    try:
        value = parse_value(text)
    except argparse.ArgumentTypeError as error:
        assert str(error).startswith("--set value") and len(str(error)) < 500
        return
    assert _within_limits(value)


def test_sweep_refuses_a_value_out_of_bounds(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "specs/vit.arch", "--set", "img_size=224,inf"])
    assert exit_.value.code == 2 and "inf is not a finite number" in capsys.readouterr().err
