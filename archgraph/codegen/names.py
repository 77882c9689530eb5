"""Python identifiers for generated code (after torch.fx's _Namespace).

Every identifier in a generated file goes through here: legal characters, no leading
digit, no keyword, builtin or name the generated file itself uses, unique on collision.
"""

from __future__ import annotations

import builtins
import keyword
import re

from archgraph.labels import label_problem

CHECKPOINTING = {"checkpoint", "checkpointed", "grad_checkpointing"}  # names the checkpointed repeats use
LOOP = {"block"}  # the variable of a loop over a repeat's blocks
RESERVED = {"self", "torch", "nn", "F", "dd", "device", "dtype", "math", *CHECKPOINTING, *LOOP}
_ILLEGAL = re.compile(r"[^0-9a-zA-Z_]+")


def sanitize(candidate: str) -> str:
    """A legal, non-shadowing Python identifier for `candidate` (not yet made unique)."""
    name = _ILLEGAL.sub("_", candidate.encode("ascii", "backslashreplace").decode("ascii").replace("\\", "_"))
    name = name[:64] or "v"
    if name[0].isdigit():
        name = f"_{name}"
    if name.startswith("__"):
        name = "v" + name
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or hasattr(builtins, name) or name in RESERVED:
        name = f"{name}_"
    return name


def camel(snake: str) -> str:
    """`encoder_block` -> `EncoderBlock`, a legal class name."""
    parts = [p for p in sanitize(snake).split("_") if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Block"
    return name if not name[0].isdigit() else f"M{name}"


def is_attribute(label: str) -> bool:
    """Whether a label can be used as-is as a module attribute (it is its state_dict key)."""
    return label_problem(label) is None


def attribute(candidate: str) -> str:
    """An attribute name for an automatic label (an op's or block's name): `forward` -> `forward_`."""
    name = sanitize(candidate)
    if name.startswith("_"):
        name = "v" + name
    while not is_attribute(name):
        name += "_"
    return name


class Namespace:
    """Names unique within one scope: `x`, `x_1`, `x_2`, ... (classes: `Mlp`, `MlpB`, `MlpC`: a
    number at the end of a class name would read as part of the block's own name)."""

    def __init__(self, taken: set[str] | None = None, classes: bool = False) -> None:
        self.taken: set[str] = set(taken or ())
        self.classes = classes

    def create(self, candidate: str) -> str:
        base = sanitize(candidate)
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = base + _letters(n - 1) if self.classes else f"{base}_{n - 1}"
        self.taken.add(name)
        return name


def _letters(n: int) -> str:
    """The `n`th class suffix: `B` (1) ... `Z` (25), then `BA`, `BB`, ... (`n` in base 26, A = 0)."""
    out = ""
    while n:
        n, digit = divmod(n, 26)
        out = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[digit] + out
    return out
