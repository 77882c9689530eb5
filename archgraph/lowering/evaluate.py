"""Evaluate one expression while lowering: scalars compute, tensors become nodes.

Calls bind their arguments here: an op's tensor inputs and attributes (with type checks),
a block's parameters (then its body runs in a scope of its own).
"""

from __future__ import annotations

import functools
from fractions import Fraction

from archgraph import syntax as s
from archgraph.errors import ArchNameError, ArchShapeError, ArchTypeError, Note, SpecError
from archgraph.ir import Scope, Value
from archgraph.lowering.blocks import call_block
from archgraph.lowering.repeat import repeat_call
from archgraph.lowering.values import Taps, Tensor, computed
from archgraph.ops import REGISTRY, REQUIRED, OpDef, suggest
from archgraph.record import replace
from archgraph.scalars import ScalarError, as_int, binary, coerce, describe, is_fractional

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

    from archgraph.lowering.interpreter import Lowering

_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div"}


def evaluate(lw: Lowering, e: s.Expr, env: dict, scope: Scope | None) -> Any:
    if isinstance(e, (s.Number, s.String, s.Bool)):
        return e.value
    if isinstance(e, s.Name):
        if e.id not in env:
            guess = suggest(e.id, env)
            raise ArchNameError(f"`{e.id}` is not defined" + (f"; did you mean `{guess}`?" if guess else ""), e.span)
        return env[e.id]
    if isinstance(e, s.ListExpr):
        items = [evaluate(lw, item, env, scope) for item in e.items]
        for item, expr in zip(items, e.items, strict=True):
            if isinstance(item, (Tensor, Taps, tuple)):
                raise ArchTypeError(f"a list holds numbers, found {describe(item)}", expr.span)
        return items
    if isinstance(e, s.BinOp):
        return _binary(lw, e, env, scope)
    if isinstance(e, s.UnaryOp):
        return _unary(lw, e, env, scope)
    if isinstance(e, s.Subscript):
        return _subscript(lw, e, env, scope)
    if isinstance(e, s.Call) and e.callee == "len" and e.callee not in lw.program.definitions:
        return _len(lw, e, env, scope)
    if isinstance(e, (s.Call, s.Repeat)) and e.label_index is not None:
        e = numbered(lw, e, env, scope)
    if isinstance(e, s.Call) and e.callee == "linspace" and e.callee not in lw.program.definitions:
        return _linspace(lw, e, env, scope)
    if isinstance(e, s.Call):
        return call(lw, e, env, _need_scope(scope, e))
    if isinstance(e, s.Repeat):
        return repeat_call(lw, e, env, _need_scope(scope, e))
    raise TypeError(f"unknown expression {e!r}")


def numbered(lw: Lowering, e: s.Call | s.Repeat, env: dict, scope: Scope | None) -> s.Call | s.Repeat:
    """`name.(expr): call`: the same call labelled `name.N`, N the integer `expr` gives in `env`.
    One syntax node per (call, N), kept, so the lowering's caches (by node identity) stay sound."""
    try:
        n = as_int(evaluate(lw, e.label_index, env, scope))
    except ScalarError as error:
        raise ArchTypeError(f"the number in label `{e.label}.(...)` must be an integer: {error}",
                            e.label_index.span) from None  # fmt: skip
    if n < 0:
        raise ArchShapeError(f"the number in label `{e.label}.(...)` must be 0 or more, found {n}", e.label_index.span)
    found = lw.numbered.get((id(e), n))
    if found is None:
        found = lw.numbered[(id(e), n)] = (e, replace(e, label=f"{e.label}.{n}", label_index=None))
    return found[1]


def _len(lw: Lowering, e: s.Call, env: dict, scope: Scope | None) -> int:
    """`len(depths)`: the length of a list (the checker allows one argument)."""
    value = evaluate(lw, e.args[0], env, scope)
    if not isinstance(value, list):
        raise ArchTypeError(f"`len` takes a list, found {describe(value)}", e.args[0].span)
    return len(value)


def _linspace(lw: Lowering, e: s.Call, env: dict, scope: Scope | None) -> list[float]:
    """`linspace(start, end, n)`: n evenly spaced floats from start to end (torch.linspace; timm's
    stochastic depth schedule `linspace(0, drop_path_rate, depth)`)."""
    start, end = (_number(evaluate(lw, a, env, scope), a) for a in e.args[:2])
    n = _int(lw, e.args[2], env)
    if not 0 <= n <= 4096:
        raise ArchShapeError(f"`linspace` makes 0..4096 values, found {n:,}", e.args[2].span)
    return list(_spaced(start, end, n))


@functools.lru_cache(maxsize=64)
def _spaced(start: Fraction, end: Fraction, n: int) -> tuple[float, ...]:
    """The values of `linspace(start, end, n)`, computed once per (start, end, n): `linspace(0, rate,
    depth)[i]` in a repeat's keywords is evaluated at every iteration."""
    return tuple(float(start + (end - start) * Fraction(k, n - 1)) if n > 1 else float(start) for k in range(n))


def _number(value: Any, e: s.Expr) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)):
        raise ArchTypeError(f"`linspace` takes numbers, found {describe(value)}", e.span)
    return Fraction(value)


def _need_scope(scope: Scope | None, e) -> Scope:
    if scope is None:
        raise ArchTypeError("a tensor cannot be computed here; a number, boolean, string or list is needed",
                            e.span)  # fmt: skip
    return scope


def _binary(lw: Lowering, e: s.BinOp, env: dict, scope: Scope | None) -> Any:
    a, b = evaluate(lw, e.left, env, scope), evaluate(lw, e.right, env, scope)
    if e.op == "@":
        return _matmul(lw, a, b, e, scope)
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        if e.op not in _OPS:
            raise ArchTypeError(f"`{e.op}` is not defined on tensors; only + - * / are", e.span)
        for value, side in ((a, e.left), (b, e.right)):
            if not isinstance(value, Tensor) and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ArchTypeError(f"`{e.op}` combines a tensor with a tensor or a number, found {describe(value)}",
                                    side.span)  # fmt: skip
        return _elementwise(lw, _OPS[e.op], a, b, e, _need_scope(scope, e))
    try:
        return binary(e.op, a, b)
    except ScalarError as error:
        raise ArchTypeError(str(error), e.span) from None


def _matmul(lw: Lowering, a: Any, b: Any, e: s.BinOp, scope: Scope | None) -> Tensor:
    """`a @ b`: both sides must be tensors (the `matmul` op)."""
    for value, side in ((a, e.left), (b, e.right)):
        if not isinstance(value, Tensor):
            raise ArchTypeError(f"`@` multiplies two tensors, found {describe(value)}", side.span)
    spans = {0: e.left.span, 1: e.right.span}
    node = lw.add_node("matmul", (a, b), {}, None, e.span, _need_scope(scope, e), None, spans)
    return Tensor(Value(node.id), node.out)


def _elementwise(lw: Lowering, op: str, a: Any, b: Any, e: s.BinOp, scope: Scope) -> Any:
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        ins, attrs = [a, b], {"scalar": None, "scalar_first": False}
    else:
        tensor, number = (a, b) if isinstance(a, Tensor) else (b, a)
        number = float(number) if is_fractional(number) else int(number) if isinstance(number, Fraction) else number
        ins, attrs = [tensor], {"scalar": number, "scalar_first": not isinstance(a, Tensor)}
        if op == "div" and isinstance(a, Tensor) and number == 0:
            raise ArchTypeError("division by zero: a tensor divided by 0", e.right.span)
    spans = {0: e.left.span, 1: e.right.span}
    node = lw.add_node(op, tuple(ins), attrs, None, e.span, scope, None, spans)
    return Tensor(Value(node.id), node.out)


def _unary(lw: Lowering, e: s.UnaryOp, env: dict, scope: Scope | None) -> Any:
    value = evaluate(lw, e.operand, env, scope)
    if e.op == "not":
        if not isinstance(value, bool):
            raise ArchTypeError(f"`not` needs true or false, found {describe(value)}", e.span)
        return not value
    if isinstance(value, Tensor):
        return _elementwise(lw, "mul", value, -1, s.BinOp("*", e.operand, e.operand, e.span), _need_scope(scope, e))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArchTypeError(f"`-` needs a number, found {describe(value)}", e.span)
    return -value


def _subscript(lw: Lowering, e: s.Subscript, env: dict, scope: Scope | None) -> Any:
    value = evaluate(lw, e.value, env, scope)
    if isinstance(value, Taps):
        return _tap(lw, value, e, env)
    if isinstance(value, list):
        if len(e.items) != 1 or isinstance(e.items[0], s.Slice):
            raise ArchTypeError("a list takes one index", e.span)
        i = _int(lw, e.items[0], env)
        if not -len(value) <= i < len(value):
            raise ArchTypeError(f"index {i} is out of range for a list of {len(value)}", e.items[0].span)
        return value[i]
    if not isinstance(value, Tensor):
        raise ArchTypeError(f"only tensors, lists and repeats can be indexed, found {describe(value)}", e.value.span)
    items = []
    for item in e.items:
        if isinstance(item, s.Slice):
            start = None if item.start is None else _int(lw, item.start, env)
            stop = None if item.stop is None else _int(lw, item.stop, env)
            items.append(None if start is None and stop is None else (start, stop))
        else:
            items.append(_int(lw, item, env))
    spans = {0: e.value.span, **{f"item{i}": item.span for i, item in enumerate(e.items)}}
    node = lw.add_node("index", (value,), {"items": tuple(items)}, None, e.span, _need_scope(scope, e), None, spans)
    return Tensor(Value(node.id), node.out)


def _tap(lw: Lowering, taps, e: s.Subscript, env: dict) -> Any:
    if len(e.items) != 1 or isinstance(e.items[0], s.Slice):
        raise ArchTypeError(f"take one iteration of `{taps.scope.label}` with `{taps.scope.label}[i]`", e.span)
    i = _int(lw, e.items[0], env)
    if len(taps.scope.outputs) != 1:
        carried = ", ".join(f"`{n}`" for n in taps.scope.input_names)
        raise ArchTypeError(f"`{taps.scope.label}[i]` needs a repeat that carries one tensor; it carries {carried}",
                            e.span)  # fmt: skip
    count = len(taps.outputs)
    if not 0 <= i < count:
        raise ArchShapeError(f"`{taps.scope.label}` has {count} iterations (0 to {count - 1}), found index {i}",
                             e.items[0].span, [Note(f"`{taps.scope.label}` is defined here", taps.scope.span)])  # fmt: skip
    if i not in taps.scope.taps:
        taps.scope.taps.append(i)
    return taps.outputs[i]


def _int(lw: Lowering, e: s.Expr, env: dict) -> int:
    value = evaluate(lw, e, env, None)
    try:
        return as_int(value)
    except ScalarError as error:
        raise ArchTypeError(f"an index must be an integer: {error}", e.span) from None


# ---- calls ----


def call(lw: Lowering, e: s.Call, env: dict, scope: Scope) -> Any:
    """Apply an op or a block to the call's arguments, evaluated in `env`."""
    args = [evaluate(lw, a, env, scope) for a in e.args]
    kwargs = {kw.name: evaluate(lw, kw.value, env, scope) for kw in e.kwargs}
    if e.callee in REGISTRY:
        return _op(lw, REGISTRY[e.callee], e, args, kwargs, scope, env)
    return call_block(lw, lw.program.definitions[e.callee], e, args, kwargs, scope, env)


def _op(lw: Lowering, op: OpDef, e: s.Call, args: list, kwargs: dict, scope: Scope, env: dict) -> Any:
    """Bind an op's tensor inputs (by position or by name) and its attributes, and apply it."""
    exprs: dict[Any, s.Expr] = {kw.name: kw.value for kw in e.kwargs}  # inputs by position, attributes by name
    if op.variadic:
        n_in = next((i for i, a in enumerate(args) if not isinstance(a, Tensor)), len(args))
        if not n_in:
            raise ArchTypeError(f"`{op.name}` needs at least one tensor", e.span)
        names = [op.inputs[0][1:]] * n_in
    else:
        names = list(op.inputs)
    ins, positional = [], 0  # positional: how many of `args` are tensor inputs
    for i, name in enumerate(names):
        optional, name = name.endswith("?"), name.rstrip("?")
        if i == positional < len(args) and not (optional and not isinstance(args[i], Tensor)):
            value, expr = args[i], e.args[i]
            positional += 1
        elif name in kwargs:
            value, expr = kwargs.pop(name), exprs.pop(name)
        elif optional:  # not given: the op runs without it
            continue
        else:
            raise ArchTypeError(f"`{op.name}` needs argument `{name}`", e.span)
        exprs[len(ins)] = expr
        ins.append(lw.tensor(value, expr.span, f"argument `{name}` of `{op.name}`"))
    n_in = n_in if op.variadic else positional
    attr_names = list(op.attrs)
    rest = args[n_in:]
    if len(rest) > len(attr_names):
        raise ArchTypeError(f"`{op.name}` takes {len(attr_names)} attributes after its tensors, found {len(rest)}",
                            e.args[n_in + len(attr_names)].span)  # fmt: skip
    given = dict(zip(attr_names, rest, strict=False))
    for name in given.keys() & kwargs.keys():  # after an optional tensor input not given, check could not tell
        raise ArchTypeError(f"argument `{name}` of op `{op.name}` is given twice", exprs[name].span)
    given |= kwargs
    exprs.update(zip(attr_names, e.args[n_in:], strict=False))
    attrs = {}
    for name, attr in op.attrs.items():
        if name not in given:
            if attr.default is REQUIRED:
                raise ArchTypeError(f"`{op.name}` needs argument `{name}`", e.span)
            attrs[name] = attr.default
            continue
        try:
            attrs[name] = coerce(attr.kind, given[name])
        except ScalarError as error:
            raise _attr_error(op, name, error, given[name], exprs[name], env) from None
    return lw.apply_op(op, e, ins, attrs, scope, {key: expr.span for key, expr in exprs.items()})


def _attr_error(op: OpDef, name: str, error: ScalarError, value: Any, expr: s.Expr, env: dict) -> SpecError:
    """A bad attribute value at `expr`; a fractional int is a shape error, with how it was computed."""
    fractional = op.attrs[name].kind == "int" and is_fractional(value)
    cls = ArchShapeError if fractional else ArchTypeError
    message = f"argument `{name}` of `{op.name}`: {error}" + ("; a whole number is needed" if fractional else "")
    return cls(message, expr.span, computed(expr, value, env))


__all__ = ["call", "evaluate"]
