"""The body of a generated `forward`: one statement per node or child module, in graph order.

Single-use unnamed values are inlined into their consumer (`self.attn(self.norm1(x))`);
variables take the spec's names, and a name is reused only once its old value is dead,
so the code reads like the spec and stays correct.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from archgraph.codegen.names import sanitize
from archgraph.ir import TensorType, Value

HOLE = re.compile(r"\x00(\d+)\x00")


@dataclass
class Stmt:
    """`defs = expr`, where expr holds `\\x00k\\x00` holes for the values in `uses`."""

    defs: list[Value]
    expr: str
    uses: list[Value]
    types: list[TensorType]  # unused: the generated code is printed from its syntax tree, without comments
    names: list[str]  # preferred variable names of defs
    locals: tuple[str, ...] = ()  # variables the expr binds itself (a loop's taps list): no value takes them
    pure: bool = False  # an attribute read: inlined wherever it is used
    atomic: bool = True  # needs no parentheses when inlined
    template: bool = False  # expr places its own targets (`\x02k\x02`): a loop over a ModuleList
    aliases: dict[Value, str] = field(default_factory=dict)  # values it makes readable by expression


def hole(k: int) -> str:
    return f"\x00{k}\x00"


def target(k: int) -> str:
    return f"\x02{k}\x02"


TARGET = re.compile("\x02(\\d+)\x02")


def render(stmts: list[Stmt], inputs: list[tuple[Value, str]], outputs: list[Value],
           output_names: tuple[str, ...] = ()) -> tuple[list[str], str]:  # fmt: skip
    """Lines of the forward body and its return expression (a dict when `output_names` are given).

    `inputs` pairs each argument's value with its (legal, distinct) Python name.
    """
    uses = Counter(outputs)
    for st in stmts:  # a hole written k times is k reads: inlining its producer would compute it k times
        uses.update(st.uses[int(k)] for k in HOLE.findall(st.expr))
    inline: dict[Value, Stmt] = {}
    for st in stmts:
        if len(st.defs) == 1 and not st.template and (st.pure or (uses[st.defs[0]] == 1 and not st.names[0])):
            inline[st.defs[0]] = st
    kept = [st for st in stmts if not (len(st.defs) == 1 and st.defs[0] in inline)]
    texts = [_expand(st, inline) for st in kept]
    returned = [_expand(inline[v], inline) if v in inline else _expand_value(v, inline) for v in outputs]
    last_use = {}
    for i, (_, reads) in enumerate([*texts, ("", [v for _, r in returned for v in r])]):
        for v in reads:
            last_use[v] = i
    names = _assign_names(kept, inputs, last_use)
    lines = []
    for st, (expr, _) in zip(kept, texts, strict=True):
        code = _fill(expr, names)
        if st.template:
            code = TARGET.sub(lambda m, st=st: names[st.defs[int(m.group(1))]], code)
            lines += [line for line in code.split("\n") if not _self_assignment(line)]
        else:
            targets = ", ".join(names[d] for d in st.defs)
            lines.append(f"{targets} = {code}" if targets else code)
    if output_names:
        pairs = zip(output_names, returned, strict=True)
        return lines, "{" + ", ".join(f'"{name}": {_fill(text, names)}' for name, (text, _) in pairs) + "}"
    returns = ", ".join(_fill(text, names) for text, _ in returned)
    last = kept[-1] if kept else None
    if last and not last.template and last.defs == outputs and len(outputs) == 1 and lines[-1].startswith(
            f"{returns} = "):  # fmt: skip
        returns = lines.pop().split(" = ", 1)[1]  # `x = self.head(x)` + `return x` -> `return self.head(x)`
    return lines, returns


_KEY = "\x01{node}:{index}\x01"
_KEY_RE = re.compile("\x01([^:\x01]+):(\\d+)\x01")


def _expand(st: Stmt, inline: dict[Value, Stmt]) -> tuple[str, list[Value]]:
    """The statement's expression with inlined producers substituted, and the values it reads."""
    reads: list[Value] = []

    def sub(m: re.Match) -> str:
        v = st.uses[int(m.group(1))]
        whole_argument = m.string[m.start() - 1 : m.start()] in ("(", "[", " ") and m.string[m.end() : m.end() + 1] in (
            ")",
            "]",
            ",",
        )
        text, more = _expand(inline[v], inline) if whole_argument and v in inline else _expand_value(v, inline)
        reads.extend(more)
        return text

    return HOLE.sub(sub, st.expr), reads


def _expand_value(v: Value, inline: dict[Value, Stmt]) -> tuple[str, list[Value]]:
    producer = inline.get(v)
    if producer is None:
        return _KEY.format(node=v.node, index=v.index), [v]
    text, reads = _expand(producer, inline)
    return (text if producer.atomic else f"({text})"), reads


def _fill(expr: str, names: dict[Value, str]) -> str:
    return _KEY_RE.sub(lambda m: names[Value(m.group(1), int(m.group(2)))], expr)


def _self_assignment(line: str) -> bool:
    left, sep, right = line.partition(" = ")
    return bool(sep) and left.strip() == right.strip()


def _assign_names(stmts: list[Stmt], inputs: list[tuple[Value, str]], last_use: dict[Value, int]) -> dict:
    """Variable names: the preferred name unless it still holds a value needed later, or a statement binds it."""
    names: dict[Value, str] = dict(inputs)
    holder: dict[str, Value] = {name: v for v, name in inputs}
    bound = {name for st in stmts for name in st.locals}
    for i, st in enumerate(stmts):
        for v, preferred in zip(st.defs, st.names, strict=True):
            base = sanitize(preferred or "h")
            name, n = base, 1
            while name in bound or (name in holder and last_use.get(holder[name], -1) > i):
                name, n = f"{base}_{n}", n + 1
            names[v] = name
            holder[name] = v
        for v, expr in st.aliases.items():
            names.setdefault(v, expr)
    return names
