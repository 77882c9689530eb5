"""What an op's emitter sees: its attributes as Python source, its inputs as expressions."""

from __future__ import annotations

from archgraph.ir import TensorType
from archgraph.record import record

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any


def py(value: Any) -> str:
    """A Python literal for an attribute value (ints, floats, bools, strings, tuples)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (list, tuple)):
        inner = ", ".join(py(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


@record
class EmitArgs:
    attrs: dict[str, Any]
    ins: list[str]  # the tensor inputs as names (`codegen.forward.hole`): the call is parsed into a tree
    types: list[TensorType]
    outs: tuple[TensorType, ...]
    target: str  # `self.<path>` of the op's own module, if it has one

    def __getitem__(self, name: str) -> str:
        return py(self.attrs[name])

    def value(self, name: str) -> Any:
        return self.attrs[name]
