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
import re
from fractions import Fraction
from functools import cache
from types import CodeType
from typing import Any

from archgraph import syntax as s
from archgraph.codegen.names import sanitize

Vector = tuple[Any, ...]


def native(value: Any) -> Any:
    """A Python scalar for an evaluator value: exact fractions as int when whole, else float."""
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else float(value)
    return value


def float_parameters(definition: s.Block | s.Model | None) -> set[str]:
    """The parameters of a block or model definition that are floats whatever a caller gives: declared
    `float` or defaulting to a float (`mlp_ratio = 4.0`). Fitted as floats though given integers, so
    their formulas hold for any ratio (`int(dim * mlp_ratio)`, not `dim * mlp_ratio`)."""
    if definition is None:
        return set()
    return {p.name for p in definition.params
            if p.type == "float" or (isinstance(p.default, s.Number) and type(p.default.value) is float)}  # fmt: skip


def scalars(env: dict[str, Any]) -> dict[str, Any]:
    """The numeric and boolean names of an instance's environment, and its lists of numbers as
    tuples (a formula may index them: `embed_dims[i]`); strings are structure."""
    out = {}
    for name, value in env.items():
        value = native(value)
        if isinstance(value, (bool, int, float)):
            out[name] = value
        elif isinstance(value, (list, tuple)) and value and all(type(native(x)) in (int, float) for x in value):
            out[name] = tuple(native(x) for x in value)
    return out


def is_list(value: Any) -> bool:
    """Whether an environment value is a list of numbers (`scalars` keeps them as tuples)."""
    return type(value) is tuple


def _same(a: Vector, b: Vector) -> bool:
    return all(type(x) is type(y) and x == y for x, y in zip(a, b, strict=True))


def _div(a: Any, b: Any) -> Any:
    """`a // b` when both are ints and it is exact, else None."""
    if type(a) is int and type(b) is int and b and a % b == 0:
        return a // b
    return None


class Fitter:
    """Formulas over the names of a fixed list of instance environments."""

    def __init__(self, envs: list[dict[str, Any]], names: list[str], lists: tuple[str, ...] = (),
                 indices: tuple[str, ...] = ()) -> None:  # fmt: skip
        """`lists`: names of lists of numbers whose elements formulas may use (`lists.py`: their
        first and last, sum and length, and, for each int name in `indices`, `L[a]`, `L[a - 1]`,
        `sum(L[:a])`); their terms come after the plain names, so a plain name wins a tie."""
        # a spec name that is no plain Python identifier (`lambda`, `größe`, `dd`) is not a parameter
        self.names = [n for n in names if all(n in env for env in envs) and n.isascii() and sanitize(n) == n]
        self.vectors = {n: tuple(env[n] for env in envs) for n in self.names}
        self.terms: dict[str, str] = {}  # a list term's placeholder name -> its text
        self.indices = [a for a in indices if a in self.names]  # the loop indices (`2 ** i`)
        self.constant: set[str] = set()  # the placeholders of L[0], L[-1], sum(L), len(L)
        for text, vector in list_terms(envs, [n for n in lists if n in self.names], indices):
            placeholder = f"_term{len(self.terms)}"
            self.terms[placeholder] = text
            self.vectors[placeholder] = vector
            if not any(re.search(rf"\b{re.escape(a)}\b", text) for a in indices):
                self.constant.add(placeholder)
        self.cache: dict[tuple, str | None] = {}

    def formula(self, values: Vector, varying: bool) -> str | None:
        """The expression giving `values` in every instance, or None. A value that never varies
        is only named when it is a width (>= 8) some parameter equals."""
        key = (tuple((type(v), v) for v in values), varying)
        if key not in self.cache:
            found = self._search(values, varying)
            if found is not None and self.terms:
                found = _TERM.sub(lambda m: self.terms[m.group()], found)
            self.cache[key] = found
        return self.cache[key]

    def _exact(self, values: Vector) -> str | None:
        """The plain name or loop-indexed list term equal to `values` in every instance."""
        for n, vec in self.vectors.items():
            if n not in self.constant and _same(vec, values):
                return n
        return None

    def indexed(self, values: Vector) -> str | None:
        """A loop's argument (`loops.py`): a list term, `c // 2 ** i`, or a flag `i > 0`; no other
        arithmetic, which the lists of one model meet by chance (`widths[i] // 2` for 4, 8, 16),
        nor `L[0]` for a constant (a kernel size 3 is no `depths[0]`)."""
        found = self._exact(values) or self._halving(values)
        if found is None and all(type(v) is bool for v in values):
            found = self._threshold(values)
        return _TERM.sub(lambda m: self.terms[m.group()], found) if found else None

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
        halving = self._halving(values) if self.indices else None  # before a list meeting it by chance
        return halving or self._scaled(values) or self._root(values) or self._pairs(values) or self._grid(values)

    def _halving(self, values: Vector) -> str | None:
        """`c // 2 ** a` for an index `a` (a pyramid's stage grids); not `c * 2 ** a`: growing
        widths come from a list, and the first stage's input (`4, 8, 16`) would double by chance."""
        for n in self.indices:
            vec = self.vectors[n]
            if not all(type(x) is int and 0 <= x < 16 for x in vec) or not all(type(v) is int for v in values):
                continue
            tops = {v << x for v, x in zip(values, vec, strict=True)}
            if len(tops) == 1 and (c := tops.pop()) > 0 and all(c >> x == v for v, x in zip(values, vec, strict=True)):
                return f"{c} // 2 ** {n}"
        return None

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
        """The numeric names and the loop-indexed list terms (`L[i]`), which formulas combine; a list's
        first, last, sum or length only ever names a value equal to it (`img_size // sum(layers)`
        would be a coincidence)."""
        return [(n, v) for n, v in self.vectors.items()
                if all(type(x) in (int, float) for x in v) and n not in self.constant]  # fmt: skip

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

    def _root(self, values: Vector) -> str | None:
        """`a ** 0.5`, `a ** -0.5`, `(a // b) ** -0.5` (a width's square root scaling embeddings, a
        `d ** -0.5` init std, an attention head's scale)."""
        if not all(type(v) is float for v in values):
            return None
        numeric = [(n, vec) for n, vec in self._numeric() if all(type(x) is int and x > 0 for x in vec)]
        for n, _ in numeric:
            for expr in (f"{n} ** 0.5", f"{n} ** -0.5"):
                if self._check(expr, n, values):
                    return expr
        for (a, va), (b, vb) in ((p, q) for p in numeric for q in numeric if p[0] != q[0]):
            quotients = [_div(x, y) for x, y in zip(va, vb, strict=True)]  # a head's width: dim // heads
            for power in (0.5, -0.5):
                if None not in quotients and _same(tuple(q**power for q in quotients), values):
                    return f"({a} // {b}) ** {power}"
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
        (x0, y0), v0 = pairs[0], values[0]  # each form tried on the first instance before all of them
        if a <= b and x0 * y0 == v0 and _same(tuple(x * y for x, y in pairs), values):
            yield f"{a} * {b}"
        if a <= b and int(x0 * y0) == v0 and _same(tuple(int(x * y) for x, y in pairs), values) and any(
                type(x * y) is float for x, y in pairs):  # fmt: skip
            yield f"int({a} * {b})"
        if a != b and _div(x0, y0) is not None:
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
        return all(same_value(eval(code, {}, {name: x}), v) for x, v in zip(self.vectors[name], values, strict=True))


_TERM = re.compile(r"\b_term\d+\b")


def list_terms(envs: list[dict[str, Any]], lists: list[str], indices: tuple[str, ...]):
    """(text, vector) of each term of the lists `lists` over the environments `envs`: `L[0]`,
    `L[-1]`, `L[k]`, `sum(L)`, `len(L)`, and for an int name `a` of `indices` within every list's range
    `L[a]`, `L[a - 1]` and `sum(L[:a])` (Python's meaning: `L[-1]` at `a = 0`)."""
    tables = [(name, [env[name] for env in envs]) for name in lists]
    tables = [(name, ls) for name, ls in tables if all(is_list(x) for x in ls)]
    for a in indices:  # first: a constant list's `depths[i]` is not `depths[0]`
        at = [env.get(a) for env in envs]
        for name, ls in tables:
            if all(type(k) is int and 0 <= k < len(x) for k, x in zip(at, ls, strict=True)):
                yield f"{name}[{a}]", tuple(x[k] for k, x in zip(at, ls, strict=True))
                yield f"{name}[{a} - 1]", tuple(x[k - 1] for k, x in zip(at, ls, strict=True))
                yield f"sum({name}[:{a}])", tuple(sum(x[:k]) for k, x in zip(at, ls, strict=True))
    for name, ls in tables:
        yield f"{name}[0]", tuple(x[0] for x in ls)
        yield f"{name}[-1]", tuple(x[-1] for x in ls)
        for k in range(1, min(len(x) for x in ls) - 1):  # a middle stage's width (a decoder's inputs)
            yield f"{name}[{k}]", tuple(x[k] for x in ls)
        yield f"sum({name})", tuple(sum(x) for x in ls)
        yield f"len({name})", tuple(len(x) for x in ls)


@cache
def _compiled(expr: str) -> CodeType:
    return compile(expr, "<formula>", "eval")


def same_value(a: Any, b: Any) -> bool:
    """Equal and of one type (`4 == 4.0` is not: the generated code would differ)."""
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
