"""The op reference of docs/language.md, generated from the op registry (archgraph.ops).

`op_reference()` renders every registered op: its signature, summary, shape, parameter and
FLOP formulas, what training keeps for its backward, its attributes and an example.
`update(text)` replaces the part of language.md between the markers with it;
tests/test_registry.py keeps the file current (ARCHGRAPH_UPDATE_GOLDEN=1 rewrites it).
"""

from __future__ import annotations

from typing import Any

from archgraph.ops import REGISTRY, REQUIRED, OpDef

BEGIN = "<!-- op-reference: generated from the op registry by archgraph.docs.op_reference(); do not edit -->"
END = "<!-- /op-reference -->"


def literal(value: Any) -> str:
    """A default as a spec writes it: true/false, "text", 1e-6, none (not given)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float):
        return repr(value).replace("e-0", "e-").replace("e+0", "e+")
    return str(value)


def signature(op: OpDef) -> str:
    """`linear(x, out_features, bias = true, ...)`, or how a spec writes an infix op."""
    if op.written:
        return f"written `{op.written}`"
    ins = [f"{name[1:]}1, {name[1:]}2, ..." if name.startswith("*") else f"{name[:-1]} = none" if name.endswith("?")
           else name for name in op.inputs]  # fmt: skip
    attrs = [name if a.default is REQUIRED else f"{name} = {literal(a.default)}" for name, a in op.attrs.items()]
    return f"`{op.name}({', '.join([*ins, *attrs])})`"


def _attributes(op: OpDef) -> list[str]:
    if not op.attrs:
        return []
    rows = [f"| `{n}` | {'required' if a.default is REQUIRED else f'`{literal(a.default)}`'} | {a.kind} | {a.doc} |"
            for n, a in op.attrs.items()]  # fmt: skip
    return ["", "| attribute | default | kind | meaning |", "|---|---|---|---|", *rows]


def section(op: OpDef) -> str:
    """One op's reference section (markdown)."""
    f = op.formulas
    memory = op.memory
    lines = [
        f"### {op.name}",
        "",
        f"{signature(op)}: {op.summary}.",
        "",
        f"Shape `{f.get('shape', '?')}`. Params `{f.get('params', '?')}`. FLOPs `{f.get('flops', '?')}`.",
        f"Training keeps for backward: {memory.why if memory else '?'}.",
        *_attributes(op),
    ]
    if op.notes:
        lines += ["", op.notes]
    if op.example:
        lines += ["", f"Example: `{op.example}`."]
    return "\n".join(lines)


def op_reference() -> str:
    """The generated op reference: an index table, then a section per op in registry order."""
    table = ["| op | signature | learnable |", "|---|---|---|"]
    for op in REGISTRY.values():
        written = signature(op).replace("|", "\\|")
        table.append(f"| [`{op.name}`](#{op.name}) | {written} | {'yes' if op.learnable else 'no'} |")
    return "\n\n".join(["\n".join(table), *(section(op) for op in REGISTRY.values())]) + "\n"


def update(text: str) -> str:
    """`text` (language.md) with the part between the markers replaced by `op_reference()`."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return f"{text[:start]}\n\n{op_reference()}\n{text[end:]}"
