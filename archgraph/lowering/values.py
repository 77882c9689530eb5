"""The values lowering passes around besides scalars and lists, and its size limits (a leaf module).

`Tensor` is one node output with its type; `Taps` is a labelled repeat's per-iteration
outputs, read as `label[i]`. `computed` and `scalar_values` explain in an error how an
argument was computed from the names in scope.
"""

from __future__ import annotations

from fractions import Fraction

from archgraph import syntax as s
from archgraph.errors import Note
from archgraph.ir import Scope, TensorType, Value
from archgraph.record import field, record
from archgraph.scalars import show
from archgraph.source import text_of

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

MAX_REPEAT = 4096
MAX_NODES = 200_000  # ops in one model: checked before a repeat grows past it, and on every op
MAX_BLOCK_DEPTH = 64


@record(frozen=True)
class Tensor:
    """A tensor value while lowering: which node output it is, and its type."""

    value: Value
    type: TensorType

    def __str__(self) -> str:
        return f"a tensor {self.type}"


@record
class Taps:
    """The outputs of each iteration of a labelled repeat, read as `label[i]`."""

    scope: Scope
    outputs: list[Tensor] = field(default_factory=list)

    def __str__(self) -> str:
        return f"the repeat `{self.scope.label}`"


def syntax_walk(node):
    """`node` and every syntax node below it, except the bodies of labelled `repeat ... as i { }` blocks."""
    yield node
    if isinstance(node, s.RepeatBlock) and node.label is not None:
        return  # its body belongs to the iterations' scopes (an unlabelled one's, to the enclosing scope)
    for field_name in getattr(node, "__record_fields__", ()):
        value = getattr(node, field_name)
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, s.SyntaxNode):
                yield from syntax_walk(v)


def scalars_of(env: dict) -> dict[str, Any]:
    """The names in `env` bound to scalars or lists (not tensors or taps): a scope's `args`, for codegen."""
    return {k: v for k, v in env.items() if not isinstance(v, (Tensor, Taps))}


def scalar_values(e: s.Expr, env: dict) -> str:
    """The scalars `e` reads, by name: `dim = 192, mlp_ratio = 2.7` ("" if it reads none)."""
    names = {n.id for n in syntax_walk(e) if isinstance(n, s.Name)}
    shown = sorted(n for n in names if n in env and not isinstance(env[n], (Tensor, Taps)))
    return ", ".join(f"{n} = {show(env[n])}" for n in shown)


def computed(e: s.Expr, value: Any, env: dict) -> list[Note]:
    """How an argument was computed: "`dim * mlp_ratio` = 518.4 with dim = 192, mlp_ratio = 2.7".
    No note for a literal, a bare name or a tensor, whose value the message already shows."""
    if isinstance(e, (s.Number, s.String, s.Bool, s.Name)) or isinstance(value, (Tensor, Taps)):
        return []
    values = scalar_values(e, env)
    text = text_of(e.span) or "this expression"
    return [Note(f"`{text}` = {show(value)}" + (f" with {values}" if values else ""))]


def plain(value: Any) -> Any:
    """A parameter value for reports and JSON: Fractions become floats."""
    return float(value) if isinstance(value, Fraction) else value
