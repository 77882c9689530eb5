"""Block calls lowered once and instantiated: the iterations of `repeat depth block(x)` after the first.

A block's body sees only its arguments, so a call with the same block, call site, nesting
depth and arguments (tensors by type, scalars by type and value) builds the same nodes and
scopes as an earlier one, under another path and reading other tensors. `Template` keeps
where the first call's nodes and scope are; `instantiate` copies them with new node ids,
the new path prefix and the new argument tensors, exactly as evaluating the body again
would (same spans, labels, shapes, costs, taps and free inputs). A call whose arguments
cannot be compared this way (a repeat's taps, a tuple) is always evaluated.
"""

from __future__ import annotations

from fractions import Fraction

from archgraph.errors import ArchShapeError
from archgraph.ir import Node, Scope, Value
from archgraph.lowering.values import MAX_NODES, Tensor
from archgraph.record import record

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

    from archgraph.lowering.interpreter import Lowering

ENABLED = True  # tests switch it off to compare against evaluating every call


@record
class Template:
    """The first call's scope, its nodes [start, end), which argument each outer value it reads came
    from, and its result."""

    scope: Scope
    start: int
    end: int
    arguments: dict[Value, str]
    result: Any


def key(block: Any, call: Any, depth: int, given: dict[str, Any]) -> tuple | None:
    """What decides a call's subgraph, or None when an argument cannot be compared by value."""
    seen: list[Value] = []
    parts = []
    for name, value in given.items():
        if isinstance(value, Tensor):
            alias = seen.index(value.value) if value.value in seen else len(seen)
            seen.append(value.value)
            parts.append((name, "tensor", value.type, alias))
            continue
        part = _scalar(value)
        if part is None:
            return None
        parts.append((name, part))
    return (id(block), id(call), depth, tuple(parts))


def _scalar(value: Any) -> tuple | None:
    if isinstance(value, (bool, int, float, str, Fraction)):
        return (type(value).__name__, repr(value))
    if isinstance(value, list):
        items = [_scalar(v) for v in value]
        return None if any(i is None for i in items) else ("list", tuple(items))
    return None


def capture(lw: Lowering, scope: Scope, start: int, given: dict[str, Any], result: Any) -> Template | None:
    """A template of the call just lowered into `scope` (its nodes from index `start`), or None if
    its nodes read an outer value that is not one of its tensor arguments."""
    arguments = {v.value: name for name, v in reversed(given.items()) if isinstance(v, Tensor)}
    for node in lw.order[start:]:
        for v in node.inputs:
            if lw.position[v.node] < start and v not in arguments:
                return None
    return Template(scope, start, len(lw.nodes), arguments, result)


def instantiate(lw: Lowering, t: Template, parent: Scope, path: str, label: str, given: dict[str, Any]) -> Any:
    """Copy template `t` as a child of `parent` at `path`, reading the tensors in `given`; its result."""
    count = t.end - t.start
    if lw.sketch is not None and path != t.scope.path:
        lw.sketch.exact = False  # the template's skipped calls cannot be mapped to this copy's paths
    if len(lw.nodes) + lw.skipped + count > MAX_NODES:
        raise ArchShapeError(f"the model has more than {MAX_NODES:,} ops; is a repeat count too large?", t.scope.span)
    offset = len(lw.nodes) - t.start
    old = lw.order[t.start : t.end]

    def value(v: Value) -> Value:
        if lw.position[v.node] < t.start:
            return given[t.arguments[v]].value
        return Value(f"n{lw.position[v.node] + offset}", v.index)

    prefix = len(t.scope.path)
    for node in old:
        new_id = f"n{lw.position[node.id] + offset}"
        copy = Node(new_id, node.op, tuple(value(v) for v in node.inputs), dict(node.attrs), node.outs, node.span,
                    path + node.scope[prefix:], path + node.path[prefix:], node.label, node.params, node.cost)  # fmt: skip
        lw.position[new_id] = len(lw.nodes)
        lw.nodes[new_id] = copy
        lw.order.append(copy)
    scope = _copy_scope(lw, t.scope, path, label, prefix, value, offset)
    parent.items.append(scope)
    if isinstance(t.result, tuple):
        return tuple(Tensor(value(r.value), r.type) for r in t.result)
    return Tensor(value(t.result.value), t.result.type)


def alias(lw: Lowering, t: Template, scope: Scope, path: str, given: dict[str, Any]) -> Any:
    """A sketch's call like template `t` (archgraph.lowering.sketch): no copy, the call recorded as
    skipped; the template's own result stands for the copy's (the same types)."""
    lw.skipped += t.end - t.start
    if len(lw.nodes) + lw.skipped > MAX_NODES:
        raise ArchShapeError(f"the model has more than {MAX_NODES:,} ops; is a repeat count too large?", t.scope.span)
    lw.sketch.skip(path, t.scope.path, scope.path, lw.zeroed > 0)

    def value(v: Value) -> Value:
        return given[t.arguments[v]].value if lw.position[v.node] < t.start else v

    if isinstance(t.result, tuple):
        return tuple(Tensor(value(r.value), r.type) for r in t.result)
    return Tensor(value(t.result.value), t.result.type)


def _copy_scope(lw: Lowering, old: Scope, path: str, label: str | None, prefix: int, value, offset: int) -> Scope:
    """`old` and its children under the new path (the top keeps `label`), node ids shifted by `offset`."""
    scope = Scope(path + old.path[prefix:], old.label if label is None else label, old.kind, old.block, old.span,
                  inputs=[value(v) for v in old.inputs], outputs=[value(v) for v in old.outputs], taps=list(old.taps),
                  doc=old.doc, input_names=list(old.input_names), args=dict(old.args),
                  names={value(v): n for v, n in old.names.items()}, shared=old.shared,
                  continued=old.continued, per_iteration=list(old.per_iteration),
                  schedules=dict(old.schedules))  # fmt: skip
    lw.starts[id(scope)] = lw.starts[id(old)] + offset
    for item in old.items:
        if isinstance(item, Scope):
            scope.items.append(_copy_scope(lw, item, path, None, prefix, value, offset))
        else:
            scope.items.append(f"n{lw.position[item] + offset}")
    return scope
