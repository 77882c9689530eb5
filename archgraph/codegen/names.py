"""Python identifiers for generated code (after torch.fx's _Namespace).

Every identifier in a generated file goes through here: legal characters, no leading
digit, no keyword, builtin or name the generated file itself uses, unique on collision.
"""

from __future__ import annotations

import builtins
import keyword
import re

RESERVED = {"self", "torch", "nn", "F", "dd", "device", "dtype", "math", "checkpoint", "grad_checkpointing"}
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


# The public attributes of every nn.Module (torch 2.x; tests/torch checks the list against the
# installed torch), and those a generated class adds. A label with one of these names would
# replace a method (`forward`, `to`) or state (`training`) of the generated module.
MODULE_ATTRIBUTES = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile", "cpu",
    "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer", "get_extra_state",
    "get_parameter", "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers",
    "named_children", "named_modules", "named_parameters", "parameters", "register_backward_hook",
    "register_buffer", "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook",
    "requires_grad_", "set_extra_state", "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train",
    "training", "type", "xpu", "zero_grad",
    "init_weights", "grad_checkpointing",  # added by every generated class
})  # fmt: skip


def label_problem(label: str) -> str | None:
    """Why `label` cannot be an attribute of a generated module, or None when it can.

    A label is the attribute and the state_dict key, so a label that is not usable as-is is
    an error, never silently renamed (the key would no longer be the label)."""
    if not (label.isascii() and label.isidentifier()):
        return "it is not an ASCII name (letters, digits and `_`)"
    if keyword.iskeyword(label):
        return "it is a Python keyword"
    if label.startswith("_"):
        return "it starts with `_` (Python and nn.Module keep such names)"
    if label in MODULE_ATTRIBUTES:
        return f"it would replace nn.Module's `{label}`"
    return None


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
    """Names unique within one scope: `x`, `x_1`, `x_2`, ... (classes: `Mlp`, `Mlp2`, `Mlp3`)."""

    def __init__(self, taken: set[str] | None = None, classes: bool = False) -> None:
        self.taken: set[str] = set(taken or ())
        self.classes = classes

    def create(self, candidate: str) -> str:
        base = sanitize(candidate)
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}{n}" if self.classes else f"{base}_{n - 1}"
        self.taken.add(name)
        return name
