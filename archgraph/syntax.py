"""The syntax tree of a `.arch` file: frozen records (archgraph.record), one per grammar construct.

The parser builds these and nothing else; every node carries the span it came from.
No meaning is attached here: names are resolved by `check`, values by `lower`.
"""

from __future__ import annotations

from archgraph.record import record
from archgraph.source import Span


class SyntaxNode:
    """Base of every syntax class (a frozen record: equal and hashed by class and fields, shown as
    `Call(callee='linear', ...)`). No `__slots__` in the classes: a `__dict__` lets the parse cache's
    unpickler fill each node in C, where slots would run Python code per node."""

    __slots__ = ()


node = record(frozen=True)  # the decorator of every syntax class

# ---- expressions ----


@node
class Number(SyntaxNode):
    value: int | float
    span: Span


@node
class String(SyntaxNode):
    value: str
    span: Span


@node
class Bool(SyntaxNode):
    value: bool
    span: Span


@node
class Name(SyntaxNode):
    id: str
    span: Span


@node
class ListExpr(SyntaxNode):
    items: tuple[Expr, ...]
    span: Span


@node
class BinOp(SyntaxNode):
    """`left op right`; op is the operator's text: `+ - * / // % ** == != < <= > >= and or`."""

    op: str
    left: Expr
    right: Expr
    span: Span


@node
class UnaryOp(SyntaxNode):
    op: str  # "-" or "not"
    operand: Expr
    span: Span


@node
class Slice(SyntaxNode):
    start: Expr | None
    stop: Expr | None
    span: Span


@node
class Subscript(SyntaxNode):
    """`value[i, a:b, ...]`: token selection on a tensor, or a tap `blocks[5]` into a repeat."""

    value: Expr
    items: tuple[Expr | Slice, ...]
    span: Span


@node
class Keyword(SyntaxNode):
    name: str
    value: Expr
    span: Span


@node
class Call(SyntaxNode):
    """`callee(args)`: an op from the registry or a block; `label` names the layer it makes."""

    callee: str
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]
    span: Span
    callee_span: Span
    label: str | None = None
    label_span: Span | None = None
    label_index: Expr | None = None  # `name.(expr)`: label is `name`, the number is computed when lowering


@node
class Repeat(SyntaxNode):
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


@node
class Input(SyntaxNode):
    """`input ids: i64[B, S]`: a model input, its dtype (f32 when not written: f32, i64 or bool) and shape."""

    name: str
    shape: tuple[Expr, ...]
    span: Span
    dtype: str = "f32"
    dtype_span: Span | None = None


@node
class Assign(SyntaxNode):
    targets: tuple[str, ...]
    value: Expr
    span: Span


@node
class Return(SyntaxNode):
    """`return x` or `return logits = a, boxes = b`: names are the outputs' names (a model's), or empty."""

    values: tuple[Expr, ...]
    span: Span
    names: tuple[str, ...] = ()
    name_spans: tuple[Span, ...] = ()


@node
class Require(SyntaxNode):
    condition: Expr
    message: str | None
    span: Span


@node
class RequireShape(SyntaxNode):
    """`require x: [B, K, H, W], "message"`: a tensor's shape, checked where the statement runs."""

    name: str
    shape: tuple[Expr, ...]
    message: str | None
    span: Span
    name_span: Span


@node
class If(SyntaxNode):
    condition: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    span: Span


@node
class RepeatBlock(SyntaxNode):
    """`label: repeat count as i { ... }`: the statements as one unnamed block, `count` times. Without a
    label (`repeat count as i { ... }`) the statements run in the enclosing scope, with no scope of their own."""

    label: str | None
    count: Expr
    index: str
    body: tuple[Stmt, ...]
    span: Span


Stmt = Input | Assign | Return | Require | RequireShape | If | RepeatBlock

# ---- definitions ----


@node
class Param(SyntaxNode):
    """A parameter of a block or model: `name[: type][= default]`; type is a name or a shape."""

    name: str
    type: str | tuple[Expr, ...] | None
    default: Expr | None
    span: Span


@node
class Block(SyntaxNode):
    name: str
    params: tuple[Param, ...]
    doc: str | None
    body: tuple[Stmt, ...]
    span: Span
    name_span: Span


@node
class Model(SyntaxNode):
    name: str
    params: tuple[Param, ...]
    doc: str | None
    body: tuple[Stmt, ...]
    span: Span
    name_span: Span


@node
class Variant(SyntaxNode):
    """`model name = base(key = value, ...)`: a model that only changes defaults."""

    name: str
    base: str
    kwargs: tuple[Keyword, ...]
    doc: str | None
    span: Span
    name_span: Span
    base_span: Span
    args: tuple[Expr, ...] = ()


@node
class Import(SyntaxNode):
    path: str
    span: Span


@node
class File(SyntaxNode):
    """One parsed `.arch` file."""

    name: str
    items: tuple[Import | Block | Model | Variant, ...]
