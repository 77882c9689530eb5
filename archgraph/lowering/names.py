"""Which attribute names a scope's layers take while lowering: the lowering's own state, not the IR's.

A body's labels are reserved when its scope opens, so an automatic name (`linear_1`) never
takes one; a label given twice in one scope is an error.
"""

from __future__ import annotations

from archgraph import syntax as s
from archgraph.errors import ArchNameError
from archgraph.ir import Scope
from archgraph.lowering.values import syntax_walk

MAX_BODIES = 4096  # bodies whose labels are kept between lowerings (the syntax tree is immutable)
_BODY_LABELS: dict[int, tuple[tuple, frozenset[str]]] = {}  # id(body) -> (body, its labels)


class LabelState:
    """Per scope (by identity): the names reserved and the names given so far."""

    def __init__(self) -> None:
        self.reserved: dict[int, set[str]] = {}
        self.used: dict[int, set[str]] = {}

    def reserve(self, scope: Scope, body: tuple[s.Stmt, ...]) -> None:
        """Reserve the labels `body` writes in `scope` (each body's labels are found once per process)."""
        known = _BODY_LABELS.get(id(body))
        if known is None or known[0] is not body:
            if len(_BODY_LABELS) >= MAX_BODIES:
                _BODY_LABELS.clear()
            known = _BODY_LABELS[id(body)] = (body, body_labels(body))
        self.reserved.setdefault(id(scope), set()).update(known[1])

    def unique(self, scope: Scope, base: str) -> str:
        """`base`, or `base_1`, `base_2`, ...: an attribute name no label in the scope uses."""
        taken = self.reserved.setdefault(id(scope), set())
        label, n = base, 1
        while label in taken:
            label, n = f"{base}_{n}", n + 1
        taken.add(label)
        return label

    def use(self, scope: Scope, label: str, where: s.Call | s.Repeat | s.RepeatBlock) -> None:
        """Claim an attribute name in a scope; a second layer under one name is an error."""
        used = self.used.setdefault(id(scope), set())
        if label in used:
            span = getattr(where, "label_span", None) or where.span
            raise ArchNameError(f"two layers are labelled `{label}` in one block", span)
        used.add(label)


def body_labels(body: tuple[s.Stmt, ...]) -> frozenset[str]:
    """The labels a body's calls, repeats and repeat blocks write (not those inside a repeat block)."""
    labels: set[str] = set()
    for st in body:
        for node in syntax_walk(st):
            if isinstance(node, (s.Call, s.Repeat)) and node.label:
                labels.add(node.label)
                labels.add(node.label.partition(".")[0])  # `layers.0` takes the attribute `layers`
            elif isinstance(node, s.RepeatBlock) and node.label is not None:
                labels.add(node.label)
    return frozenset(labels)
