"""What a label may be: it becomes an attribute of the generated nn.Module and its state_dict key.

Used by `check` (a bad label is a name error, never silently renamed) and by the code
generator (automatic names that break these rules get a trailing `_`). Imports nothing heavy.
"""

from __future__ import annotations

import keyword

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
    an error, never silently renamed (the key would no longer be the label). A numbered label
    `downsample.0` is a container `downsample` (an nn.ModuleDict) and its entry `0`."""
    head, dot, index = label.partition(".")
    if dot:
        return label_problem(head) if index.isdigit() else "a numbered label is `name.N`"
    if not (label.isascii() and label.isidentifier()):
        return "it is not an ASCII name (letters, digits and `_`)"
    if keyword.iskeyword(label):
        return "it is a Python keyword"
    if label.startswith("_"):
        return "it starts with `_` (Python and nn.Module keep such names)"
    if label in MODULE_ATTRIBUTES:
        return f"it would replace nn.Module's `{label}`"
    return None
