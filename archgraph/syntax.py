"""The syntax tree of a `.arch` file: frozen dataclasses, one per grammar construct.

The parser builds these and nothing else; every node carries the span it came from.
No meaning is attached here: names are resolved by `check`, values by `lower`.
"""

from __future__ import annotations

from dataclasses import dataclass

from archgraph.source import Span

# ---- expressions ----


@dataclass(frozen=True, slots=True)
class Number:
    value: int | float
    span: Span


@dataclass(frozen=True, slots=True)
class String:
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class BinOp:
    """`left op right`; op is the operator's text: `+ - * / // % ** == != < <= > >= and or`."""

    op: str
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class UnaryOp:
    op: str  # "-" or "not"
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Slice:
    start: Expr | None
    stop: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class Subscript:
    """`value[i, a:b, ...]`: token selection on a tensor, or a tap `blocks[5]` into a repeat."""

    value: Expr
    items: tuple[Expr | Slice, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Keyword:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    """`callee(args)`: an op from the registry or a block; `label` names the layer it makes."""

    callee: str
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]
    span: Span
    callee_span: Span
    label: str | None = None
    label_span: Span | None = None
    label_index: Expr | None = None  # `name.(expr)`: label is `name`, the number is computed when lowering


@dataclass(frozen=True, slots=True)
class Repeat:
    """`label: repeat count block(x, ...)`: the call applied `count` times, its first argument threaded."""

    count: Expr
    call: Call
    span: Span
    label: str | None = None
    label_span: Span | None = None
    label_index: Expr | None = None  # as Call's
    modifier: str | None = None  # `shared` (checked by check): every iteration is one module, one set of weights
    modifier_span: Span | None = None
    index: str | None = None  # `repeat depth as i block(...)`: the arguments are evaluated per iteration, `i` bound


Expr = Number | String | Bool | Name | ListExpr | BinOp | UnaryOp | Subscript | Call | Repeat

# ---- statements ----


@dataclass(frozen=True, slots=True)
class Input:
    """`input ids: i64[B, S]`: a model input, its dtype (f32 when not written: f32, i64 or bool) and shape."""

    name: str
    shape: tuple[Expr, ...]
    span: Span
    dtype: str = "f32"
    dtype_span: Span | None = None


@dataclass(frozen=True, slots=True)
class Assign:
    targets: tuple[str, ...]
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Return:
    """`return x` or `return logits = a, boxes = b`: names are the outputs' names (a model's), or empty."""

    values: tuple[Expr, ...]
    span: Span
    names: tuple[str, ...] = ()
    name_spans: tuple[Span, ...] = ()


@dataclass(frozen=True, slots=True)
class Require:
    condition: Expr
    message: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class RequireShape:
    """`require x: [B, K, H, W], "message"`: a tensor's shape, checked where the statement runs."""

    name: str
    shape: tuple[Expr, ...]
    message: str | None
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class If:
    condition: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class RepeatBlock:
    """`label: repeat count as i { ... }`: the statements as one unnamed block, `count` times. Without a
    label (`repeat count as i { ... }`) the statements run in the enclosing scope, with no scope of their own."""

    label: str | None
    count: Expr
    index: str
    body: tuple[Stmt, ...]
    span: Span


Stmt = Input | Assign | Return | Require | RequireShape | If | RepeatBlock

# ---- definitions ----


@dataclass(frozen=True, slots=True)
class Param:
    """A parameter of a block or model: `name[: type][= default]`; type is a name or a shape."""

    name: str
    type: str | tuple[Expr, ...] | None
    default: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class Block:
    name: str
    params: tuple[Param, ...]
    doc: str | None
    body: tuple[Stmt, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    params: tuple[Param, ...]
    doc: str | None
    body: tuple[Stmt, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Variant:
    """`model name = base(key = value, ...)`: a model that only changes defaults."""

    name: str
    base: str
    kwargs: tuple[Keyword, ...]
    doc: str | None
    span: Span
    name_span: Span
    base_span: Span
    args: tuple[Expr, ...] = ()


@dataclass(frozen=True, slots=True)
class Import:
    path: str
    span: Span


@dataclass(frozen=True, slots=True)
class File:
    """One parsed `.arch` file."""

    name: str
    items: tuple[Import | Block | Model | Variant, ...]
