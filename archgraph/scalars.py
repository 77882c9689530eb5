"""Arithmetic on the spec's scalar values (ints, fractions, floats, bools, strings, lists).

`/` is exact: an int when it divides, else a `Fraction` (so `1408 * (48 / 11)` is exactly
6144, as timm's ViT-g needs). A number is accepted where a dimension is expected only when
it is whole, so a width that does not divide is an error where it is used, never a silent
floor. `//` is an explicit floor. Float literals (`2.5`, `1e-6`) stay floats.
"""

from __future__ import annotations

import math
import operator
from fractions import Fraction

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

LIMIT = 2**62  # larger values are mistakes, and would overflow the generated code's int64 shapes
FRACTION_BITS = 256  # numerator and denominator of an exact fraction; 4 times what 1/LIMIT needs
MAX_STRING = 4096  # characters in a string value; the longest in specs/ is 11


class ScalarError(Exception):
    """A scalar operation that cannot be done; the caller adds the span."""


def describe(value: Any) -> str:
    """A value as an error message names it: `the number 3`, `the string "x"`, `a tensor f32[...]`."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float, Fraction)):
        return f"the number {show_number(value)}"
    if isinstance(value, str):
        return f'the string "{_clip(value)}"'
    if isinstance(value, list):
        return f"the list {show(value)}"
    if isinstance(value, tuple):
        return f"{len(value)} values ({', '.join(describe(v) for v in value)})"
    return str(value)


def show(value: Any) -> str:
    """A scalar as the spec writes it: `7`, `100/3 (33.33)`, `true`, `"gelu"`, `[1, 3/2 (1.5)]`."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, Fraction)):
        return show_number(value)
    if isinstance(value, str):
        return f'"{_clip(value)}"'
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


def _clip(text: str, keep: int = 60) -> str:
    """A long string shortened for a message: its start, its end and its length."""
    return text if len(text) <= 2 * keep else f"{text[:keep]}...{text[-10:]} ({len(text):,} characters)"


def _digits(n: int) -> str:
    """An integer as digits, or as `about 2**k` when it is too long to print."""
    return str(n) if n.bit_length() <= 200 else f"(about 2**{n.bit_length()})"


def show_number(value: int | float | Fraction) -> str:
    """`7`, `0.5`, `518.4`, `100/3 (33.33)`."""
    if isinstance(value, Fraction):
        approx = f" ({float(value):.4g})" if _fits_float(value) else ""
        return f"{_digits(value.numerator)}/{_digits(value.denominator)}{approx}"
    return f"{value:g}" if isinstance(value, float) else _digits(value)


def _fits_float(value: Fraction) -> bool:
    return abs(value.numerator).bit_length() - value.denominator.bit_length() < 1000


def _exact(value):
    """A Fraction that is whole becomes an int."""
    if isinstance(value, Fraction) and value.denominator == 1:
        return int(value)
    return value


def _truediv(a, b):
    if isinstance(a, (int, Fraction)) and isinstance(b, (int, Fraction)):
        return Fraction(a) / Fraction(b)
    return a / b


_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": _truediv, "//": operator.floordiv,
          "%": operator.mod, "**": operator.pow}  # fmt: skip
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}  # fmt: skip


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float, Fraction)) and not isinstance(v, bool)


def binary(op: str, a: Any, b: Any) -> Any:
    if op in ("and", "or"):
        if not isinstance(a, bool) or not isinstance(b, bool):
            bad = a if not isinstance(a, bool) else b
            raise ScalarError(f"`{op}` needs booleans, found {describe(bad)}")
        return (a and b) if op == "and" else (a or b)
    if op in _COMPARE:
        if op in ("==", "!="):
            return _COMPARE[op](a, b)
        if not (is_number(a) and is_number(b)):
            raise ScalarError(f"`{op}` compares numbers, found {describe(a)} and {describe(b)}")
        return _COMPARE[op](a, b)
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        if len(a) + len(b) > MAX_STRING:  # checked before the string is built
            raise ScalarError(f"{show(a)} + {show(b)} makes a string of {len(a) + len(b):,} characters; "
                              f"strings are limited to {MAX_STRING:,}")  # fmt: skip
        return a + b
    if not (is_number(a) and is_number(b)):
        raise ScalarError(f"`{op}` needs numbers, found {describe(a)} and {describe(b)}")
    if op in ("/", "//", "%") and b == 0:
        raise ScalarError(f"division by zero: {show_number(a)} {op} 0")
    if op == "**":
        _check_power(a, b)
    try:
        result = _ARITH[op](a, b)
    except (OverflowError, ZeroDivisionError):
        raise ScalarError(f"{show_number(a)} {op} {show_number(b)} is out of range") from None
    if isinstance(result, complex) or abs(result) > LIMIT:
        raise ScalarError(f"{show_number(a)} {op} {show_number(b)} is out of range")
    return checked(_exact(result), f"{show_number(a)} {op} {show_number(b)}")


def _check_power(a, b) -> None:
    """`a ** b` refused before it is computed when it could not be exact, finite and in range."""
    if isinstance(b, Fraction) and b.denominator != 1:
        raise ScalarError(f"{show_number(a)} ** {show_number(b)}: a fractional power is not exact")
    if a == 0 and b < 0:
        raise ScalarError(f"{show_number(a)} ** {show_number(b)}: zero has no negative power")
    if abs(b) > 256 or (abs(a) > 1 and abs(b) > 64):
        raise ScalarError(f"{show_number(a)} ** {show_number(b)} is too large")
    if isinstance(a, (int, Fraction)) and not isinstance(b, float):
        f = Fraction(a)
        bits = max(abs(f.numerator).bit_length(), f.denominator.bit_length()) * abs(b)
        if bits > FRACTION_BITS:
            raise ScalarError(f"{show_number(a)} ** {show_number(b)} needs {bits:,} bits to be exact; "
                              f"exact fractions are limited to {FRACTION_BITS}")  # fmt: skip


def checked(value: Any, what: str = "") -> Any:
    """`value` if it is within the limits on every value, else a ScalarError naming it (or `what`).

    Limits: integers and floats within 2**62 in size, floats finite, fractions with numerator and
    denominator of at most FRACTION_BITS bits, strings of at most MAX_STRING characters, lists
    of checked values."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise ScalarError(f"{what or value} is not a finite number; numbers are finite")
    if isinstance(value, Fraction):
        bits = max(abs(value.numerator).bit_length(), value.denominator.bit_length())
        if bits > FRACTION_BITS:
            raise ScalarError(f"{what or show(value)} is a fraction of {bits:,} bits; exact fractions are limited to "
                              f"{FRACTION_BITS} bits (write a float, e.g. 1e-20, for a tiny value)")  # fmt: skip
    if isinstance(value, (int, float, Fraction)) and abs(value) > LIMIT:
        raise ScalarError(f"{what or show(value)} is out of range; numbers are limited to 2**62")
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise ScalarError(f"{what + ' makes ' if what else ''}a string of {len(value):,} characters; "
                          f"strings are limited to {MAX_STRING:,}")  # fmt: skip
    if isinstance(value, list):
        for item in value:
            checked(item)
    return value


def is_fractional(value: Any) -> bool:
    """A number that is not whole (a float like 518.4 or a Fraction like 100/3)."""
    if isinstance(value, float):
        return not value.is_integer()
    return isinstance(value, Fraction) and value.denominator != 1


def as_int(value: Any) -> int:
    """An integer, from an int or a whole float; anything else is a ScalarError."""
    if isinstance(value, bool) or not is_number(value):
        raise ScalarError(f"expected an integer, found {describe(value)}")
    if isinstance(value, (float, Fraction)):
        if is_fractional(value):
            raise ScalarError(f"expected an integer, found {show_number(value)}, which is not whole")
        return int(value)
    return value


def coerce(kind: str, value: Any) -> Any:
    """An attribute value of the given kind (int, float, bool, str, ints, any)."""
    if kind == "any":
        return value
    if kind == "int":
        return as_int(value)
    if kind == "float":
        if value is None:
            return None
        if not is_number(value):
            raise ScalarError(f"expected a number, found {describe(value)}")
        return checked(float(value))  # an attribute is a plain float (eps, std, init values)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ScalarError(f"expected true or false, found {describe(value)}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ScalarError(f"expected a string, found {describe(value)}")
        return value
    if kind == "list":
        if not isinstance(value, list):
            raise ScalarError(f"expected a list, found {describe(value)}")
        return value
    if kind == "ints":
        if not isinstance(value, list):
            raise ScalarError(f"expected a list of integers, found {describe(value)}")
        return tuple(as_int(v) for v in value)
    raise ValueError(kind)
