"""Sizes as formulas: find the Python expression of a class's parameters that gives a literal.

A generated class is written once per block definition, but each instance has its own
literal sizes (`nn.Linear(768, 2304)`). Given the literal's value in every instance and each
instance's parameter values (`dim = 768, num_heads = 12`), `formula` finds the simplest
expression over the parameters that reproduces every value: a name, `not name`, `a * k`,
`a // k`, `a + k`, or a pair (`a * b`, `a // b`, `int(a * b)`, `a + b`, `(a // b) ** 2 + k`).
More instances (the model lowered again at other sizes) leave fewer coincidences.
"""

from __future__ import annotations

import ast
import math
from fractions import Fraction
from functools import cache
from types import CodeType
from typing import Any

from archgraph.codegen.names import sanitize

Vector = tuple[Any, ...]


def native(value: Any) -> Any:
    """A Python scalar for an evaluator value: exact fractions as int when whole, else float."""
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else float(value)
    return value


def scalars(env: dict[str, Any]) -> dict[str, Any]:
    """The numeric and boolean names of an instance's environment (strings and lists are structure)."""
    out = {}
    for name, value in env.items():
        value = native(value)
        if isinstance(value, (bool, int, float)):
            out[name] = value
    return out


def _same(a: Vector, b: Vector) -> bool:
    return all(type(x) is type(y) and x == y for x, y in zip(a, b, strict=True))


def _div(a: Any, b: Any) -> Any:
    """`a // b` when both are ints and it is exact, else None."""
    if type(a) is int and type(b) is int and b and a % b == 0:
        return a // b
    return None


class Fitter:
    """Formulas over the names of a fixed list of instance environments."""

    def __init__(self, envs: list[dict[str, Any]], names: list[str]) -> None:
        # a spec name that is no plain Python identifier (`lambda`, `größe`, `dd`) is not a parameter
        self.names = [n for n in names if all(n in env for env in envs) and n.isascii() and sanitize(n) == n]
        self.vectors = {n: tuple(env[n] for env in envs) for n in self.names}
        self.cache: dict[tuple, str | None] = {}

    def formula(self, values: Vector, varying: bool) -> str | None:
        """The expression giving `values` in every instance, or None. A value that never varies
        is only named when it is a width (>= 8) some parameter equals."""
        key = (tuple((type(v), v) for v in values), varying)
        if key not in self.cache:
            self.cache[key] = self._search(values, varying)
        return self.cache[key]

    def _search(self, values: Vector, varying: bool) -> str | None:
        kind = type(values[0])
        if any(type(v) is not kind for v in values) and kind is not float:
            return None
        if not varying and (kind is not int or values[0] < 8):
            return None
        for n, vec in self.vectors.items():
            if _same(vec, values):
                return n
        if not varying:
            return None
        if kind is bool:
            return next((f"not {n}" for n, vec in self.vectors.items()
                         if all(type(x) is bool and x != y for x, y in zip(vec, values, strict=True))),
                        None) or self._threshold(values)  # fmt: skip
        return self._scaled(values) or self._pairs(values) or self._grid(values)

    def _threshold(self, values: Vector) -> str | None:
        """`a > 0`, `a == 0` or `a > 1` (tried in that order over all names) for a flag an integer
        parameter sets (a stage's `i > 0`, PVT's `sr_ratio > 1`); no other bound, which two
        parameters' lists would meet by chance (`num_heads < 8`)."""
        ints = [(n, vec) for n, vec in self._numeric() if all(type(x) is int for x in vec)]
        for op, k in ((">", 0), ("==", 0), (">", 1)):
            for n, vec in ints:
                if all((x > k if op == ">" else x == k) == v for x, v in zip(vec, values, strict=True)):
                    return f"{n} {op} {k}"
        return None

    def _numeric(self) -> list[tuple[str, Vector]]:
        return [(n, v) for n, v in self.vectors.items() if all(type(x) in (int, float) for x in v)]

    def _scaled(self, values: Vector) -> str | None:
        """`a * k`, `a // k`, `a + k`, `a - k` with one constant k."""
        for n, vec in self._numeric():
            ratios = {Fraction(v) / Fraction(x) if x else None for v, x in zip(values, vec, strict=True)}
            if len(ratios) == 1 and (r := ratios.pop()) is not None and r > 0:
                expr = f"{n} * {r.numerator}" if r.denominator == 1 else (
                    f"{n} // {r.denominator}" if r.numerator == 1 else None)  # fmt: skip
                if expr and self._check(expr, n, values):
                    return expr
            diffs = {v - x for v, x in zip(values, vec, strict=True)}
            if len(diffs) == 1 and type(d := diffs.pop()) is int and d:
                expr = f"{n} + {d}" if d > 0 else f"{n} - {-d}"
                if self._check(expr, n, values):
                    return expr
        return None

    def _grid(self, values: Vector) -> str | None:
        """`(a // k) ** 2 + d`: the tokens of an a x a image in k x k patches, plus d prefix tokens."""
        if not all(type(v) is int and v > 0 for v in values):
            return None
        for d in range(8):
            roots = [math.isqrt(v - d) if v > d else 0 for v in values]
            if not all(r and r * r == v - d for r, v in zip(roots, values, strict=True)):
                continue
            for n, vec in self._numeric():
                ks = {x // r if type(x) is int and x % r == 0 else None for x, r in zip(vec, roots, strict=True)}
                if len(ks) == 1 and (k := ks.pop()) and k > 1:
                    return f"({n} // {k}) ** 2" + (f" + {d}" if d else "")
        return None

    def _pairs(self, values: Vector) -> str | None:
        numeric = self._numeric()
        for a, va in numeric:
            for b, vb in numeric:
                for expr in self._pair_exprs(a, va, b, vb, values):
                    return expr
        return None

    def _pair_exprs(self, a: str, va: Vector, b: str, vb: Vector, values: Vector):
        pairs = list(zip(va, vb, strict=True))
        if a <= b and _same(tuple(x * y for x, y in pairs), values):
            yield f"{a} * {b}"
        if a <= b and _same(tuple(int(x * y) for x, y in pairs), values) and any(
                type(x * y) is float for x, y in pairs):  # fmt: skip
            yield f"int({a} * {b})"
        if a != b:
            quotients = tuple(_div(x, y) for x, y in pairs)
            if None not in quotients:
                if _same(quotients, values):
                    yield f"{a} // {b}"
                diffs = {v - q**2 for v, q in zip(values, quotients, strict=True)}
                if len(diffs) == 1:
                    d = diffs.pop()
                    yield f"({a} // {b}) ** 2" + (f" + {d}" if d > 0 else f" - {-d}" if d else "")
        if a < b and _same(tuple(x + y for x, y in pairs), values):
            yield f"{a} + {b}"

    def _check(self, expr: str, name: str, values: Vector) -> bool:
        code = _compiled(expr)
        return all(_equal(eval(code, {}, {name: x}), v) for x, v in zip(self.vectors[name], values, strict=True))


@cache
def _compiled(expr: str) -> CodeType:
    return compile(expr, "<formula>", "eval")


def _equal(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def expression(text: str, attributes: set[str]) -> ast.expr:
    """The syntax tree of `text`, with the names in `attributes` read from `self`."""
    tree = ast.parse(text, mode="eval").body

    class ToSelf(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id in attributes:
                return ast.Attribute(ast.Name("self", ast.Load()), node.id, ast.Load())
            return node

    return ToSelf().visit(tree)
