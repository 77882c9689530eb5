"""Sizes no formula gives, made constructor arguments: one class for a block's instances that
differ only in literals (a stage's widths taken from a list, a stem's per-layer channels).

`parts.fit` splits a block's instances into classes by the literals no formula of the block's
parameters reconciles. Before splitting, a `Lifter` turns such a literal into a parameter of its
own, named after where it stands (`conv_out_channels`, `proj_stride`), whose value each instance
passes: the parent constructs `Stem(24, ...)`, `Stem(48, ...)` instead of `Stem`, `StemVariant`.
Models are never lifted (their arguments are the spec's parameters).
"""

from __future__ import annotations

import ast
from functools import cache
from typing import Any

from archgraph.codegen.literals import literals
from archgraph.codegen.names import RESERVED, sanitize

# The positional parameters of the layers the generator writes, to name a lifted argument.
_CONV = ["in_channels", "out_channels", "kernel_size", "stride", "padding"]
_POSITIONAL = {"nn.Conv2d": _CONV, "StdConv2d": _CONV, "StdConv2dSame": _CONV, "nn.Linear": ["in_features", "out_features"],
               "nn.BatchNorm2d": ["num_features"], "nn.LayerNorm": ["normalized_shape"],
               "nn.GroupNorm": ["num_groups", "num_channels"]}  # fmt: skip


class Lifter:
    """Lifts the literals of one part's instances (`members`, each with `.env` and `.source`)."""

    def __init__(self, members: list, callees: tuple = ()) -> None:
        """`callees`: (class name, its parameters) of the generated classes the part calls."""
        self.members = members
        self.places = _places(members[0].source, callees)
        self.lifted: list[str] = []

    def lift(self, fitter, k: int, values: tuple) -> str | None:
        """The parameter that gives literal `k` its `values`: one lifted already with the same values,
        else a new one; None when the values are of several types. No formula is built on a lifted
        parameter (three stages' widths would fit `fc_in_features * 2` by chance)."""
        if len({type(v) for v in values}) != 1:
            return None
        for n in self.lifted:
            if tuple(m.env[n] for m in self.members) == values:
                return n
        taken = {*fitter.names, *(n for m in self.members for n in m.env), *RESERVED}
        base = sanitize(self.places.get(k, "size"))
        name, n = base, 0
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        for m, v in zip(self.members, values, strict=True):
            m.env[name] = v
        self.lifted.append(name)
        return name

    def values(self, member) -> dict[str, Any]:
        """The lifted arguments' values for one instance."""
        return {n: member.env[n] for n in self.lifted}


@cache
def _places(source: str, callees: tuple = ()) -> dict[int, str]:
    """Literal (by its index in `literals.literals` order) -> its name in the `__init__` of the class
    `source`: `<attribute>_<parameter>` for a layer's argument (`conv_out_channels`), the parameter's
    own name for an argument of a generated class in `callees` (`num_heads` of `PvtV2Block(...)`),
    `depth` for a repeat's count (`range(3)`)."""
    params = dict(callees)
    tree = ast.parse(source).body[0]
    out: dict[int, str] = {}
    for fn in tree.body:
        if not (isinstance(fn, ast.FunctionDef) and fn.name == "__init__"):
            continue
        for st in ast.walk(fn):  # optional layers sit under an `if` (`optional.py`)
            if isinstance(st, ast.If) and isinstance(st.test, ast.Constant) and st.body:
                out[id(st.test)] = f"with_{_attribute(st.body[0].targets[0]).split('_')[0]}"
            if not (isinstance(st, ast.Assign) and isinstance(st.value, ast.Call)):
                continue
            attr = _attribute(st.targets[0])
            for call in (n for n in ast.walk(st.value) if isinstance(n, ast.Call)):
                func = ast.unparse(call.func)
                own = func in params or func == "range"  # a generated class's parameter names itself
                names = params.get(func) or (["depth"] if func == "range" else _POSITIONAL.get(func, []))
                for pos, a in enumerate(call.args):
                    if isinstance(a, ast.Constant) and id(a) not in out:
                        name = names[pos] if pos < len(names) else None
                        out[id(a)] = name if own and name else f"{attr}_{name or pos}"
                for kw in call.keywords:
                    if isinstance(kw.value, ast.Constant) and kw.arg and id(kw.value) not in out:
                        out[id(kw.value)] = kw.arg if own else f"{attr}_{kw.arg}"
    return {k: out[id(c)] for k, (_, c) in enumerate(literals(tree)) if id(c) in out}


def _attribute(target: ast.expr) -> str:
    """`self.conv` -> `conv`; `self.downsample['0']` -> `downsample_0`."""
    if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
        return f"{_attribute(target.value)}_{target.slice.value}"
    return target.attr if isinstance(target, ast.Attribute) else "size"
