"""Binary elementwise arithmetic, written in specs as `a + b`, `a - b`, `a * b`, `a / b`.

One operand may be a number. Tensors broadcast as in PyTorch; the batch `B` only with 1.
A residual `x + f(x)` is an `add`.
"""

from __future__ import annotations

from archgraph.errors import OpError
from archgraph.ops.base import Attr, Emit, Memory, OpDef, broadcast, per_element, register, uncounted
from archgraph.ops.emit import py
from archgraph.scalars import describe

SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_KEEPS_OPERANDS = Memory("inputs", "its tensor operands (each one's gradient is scaled by the other)")
_MEMORY = {"add": Memory("nothing", "nothing: the gradient passes through"),
           "sub": Memory("nothing", "nothing: the gradient passes through (negated)"),
           "mul": _KEEPS_OPERANDS, "div": _KEEPS_OPERANDS}  # fmt: skip


def _infer(ins, a):
    scalar = a["scalar"]
    if len(ins) > 2:
        raise OpError(f"takes two operands, found {len(ins)} tensors", 2, "type error")
    if len(ins) == 2 and scalar is not None:
        raise OpError("takes two tensors, or a tensor and a number, not both", "scalar", "type error")
    if len(ins) == 1 and (isinstance(scalar, bool) or not isinstance(scalar, (int, float))):
        found = "nothing" if scalar is None else describe(scalar)
        raise OpError(f"needs a second operand, a tensor or a number, found {found}", "scalar", "type error")
    return broadcast(ins[0], ins[1]) if len(ins) == 2 else ins[0]


def _call(symbol: str):
    def call(a) -> str:
        if len(a.ins) == 2:
            return f"{a.ins[0]} {symbol} {a.ins[1]}"
        scalar = py(a.value("scalar"))
        return f"{scalar} {symbol} {a.ins[0]}" if a.value("scalar_first") else f"{a.ins[0]} {symbol} {scalar}"

    return call


for _name, _symbol in SYMBOLS.items():
    register(OpDef(
        name=_name,
        inputs=("*x",),
        attrs={"scalar": Attr("any", None, "the number operand, when one side is a number"),
               "scalar_first": Attr("bool", False, "the number is the left operand (`2 / x`)")},
        infer=_infer,
        cost=per_element(1),
        emit=Emit(call=_call(_symbol)),
        summary=f"elementwise `a {_symbol} b`, broadcasting",
        formulas={"shape": "broadcast(a, b)", "params": "0", "flops": "0 (other: 1 per element)"},
        fvcore=uncounted, memory=_MEMORY[_name], written=f"a {_symbol} b",
        notes="Two tensors (broadcast as in PyTorch; `B` only against `1` or `B`), or a tensor and a number. "
              f"It can also be called by name (`{_name}(x, y)`); its attributes are internal. "
              f"Generated code: `x {_symbol} h`, `x {_symbol} 0.5`, `1 {_symbol} x`.",
        example=f"x = x {_symbol} h",
    ))  # fmt: skip
