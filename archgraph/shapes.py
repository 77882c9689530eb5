"""Shape inference and costing for one node: run the op's shape rule, count its parameters
and FLOPs. An `OpError` from a rule becomes an `ArchShapeError` at the argument at fault,
with the input shapes as notes."""

from __future__ import annotations

from archgraph.errors import ArchShapeError, ArchTypeError, InternalError, Note, OpError
from archgraph.ir import Node, TensorType
from archgraph.ops import REGISTRY
from archgraph.ops.elementwise import SYMBOLS
from archgraph.source import Span

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any


def make_node(node_id: str, op: str, inputs: tuple, attrs: dict[str, Any], outs, span: Span, scope: str,
              path: str, label: str | None, arg_spans: dict) -> Node:  # fmt: skip
    """A node with its output types, parameter count and cost filled in."""
    values = tuple(t.value for t in inputs)
    types = [t.type for t in inputs]
    if op == "input":
        _check_size(op, outs, 0, span)
        return Node(node_id, op, values, attrs, outs, span, scope, path, label)
    opdef = REGISTRY[op]
    try:
        _check_dtypes(opdef, types)
        out = opdef.infer(types, attrs)
        outs = out if isinstance(out, tuple) else (out,)
        params, cost = opdef.params(types, attrs), opdef.cost(types, attrs, outs)
    except OpError as error:
        where = arg_spans.get(error.arg, span)
        cls = ArchTypeError if error.kind == "type error" else ArchShapeError
        names = _input_names(opdef, len(types))
        notes = [Note(f"{name} is {t}") for name, t in zip(names, types, strict=True)] if cls is ArchShapeError else []
        raise cls(f"`{op}`: {error.message}", where, notes) from None
    except (ArithmeticError, TypeError, ValueError, IndexError, KeyError) as error:
        raise InternalError(f"shape rule of `{op}` failed on {types} {attrs}: {error!r}") from error
    _check_size(op, outs, params, span)
    return Node(node_id, op, values, attrs, outs, span, scope, path, label, params=params, cost=cost)


_DTYPE_WORDS = {"f32": "a float tensor (f32)", "i64": "token ids (i64)", "bool": "a mask (bool)"}


def _check_dtypes(opdef, types: list[TensorType]) -> None:
    """An OpError (type error, at the input) for a tensor whose dtype the op does not take."""
    for i, t in enumerate(types):
        allowed = opdef.accepts(i)
        if allowed is not None and t.dtype not in allowed:
            want = " or ".join(_DTYPE_WORDS[d] for d in allowed)
            raise OpError(f"{_input_names(opdef, len(types))[i]} must be {want}, found {t}", i, "type error")


MAX_ELEMENTS = 2**40  # per tensor at batch 1, and parameters per layer: 4 TiB in f32


def _check_size(op: str, outs: tuple[TensorType, ...], params: int, span: Span) -> None:
    """A tensor or a layer too large for any machine is a mistake (a huge or mistyped size)."""
    for t in outs:
        if t.numel() > MAX_ELEMENTS:
            what = "the input is" if op == "input" else f"`{op}` makes"
            raise ArchShapeError(f"{what} {t}, {t.numel():,} elements per sample; the limit is 2**40", span)
    if params > MAX_ELEMENTS:
        raise ArchShapeError(f"`{op}` would hold {params:,} parameters; the limit is 2**40", span)


def _input_names(opdef, count: int) -> list[str]:
    if opdef.name in SYMBOLS:  # infix: `a + b`
        return ["the left operand", "the right operand"][:count]
    if opdef.variadic:
        return [f"input {i}" for i in range(count)]
    return [f"input `{name}`" for name in opdef.input_names[:count]]


__all__ = ["make_node"]
