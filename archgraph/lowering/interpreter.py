"""The lowering interpreter: evaluate one model of a checked program with concrete parameter values.

In: a `Program` (see loader, check), a model name and parameter overrides. Out: an
`ir.Graph` whose nodes have shapes (from `shapes`), parameter counts and costs, and whose
scopes mirror the generated module's attributes. Blocks are expanded per call (blocks),
`repeat`s per iteration (repeat), expressions evaluated (evaluate), `if`s decided,
`require`s checked: all errors here are spec errors at a span. The interpreter's state
(nodes, the labels taken per scope, where each scope's nodes start) lives here, not in the IR.
"""

from __future__ import annotations

import weakref

from archgraph import syntax as s
from archgraph.depth import check_scopes, guarded
from archgraph.errors import ArchNameError, ArchRequireError, ArchShapeError, ArchTypeError, Note, SpecError
from archgraph.ir import BATCH, Graph, Node, Scope, TensorType, Value
from archgraph.loader import Program
from archgraph.lowering.evaluate import evaluate
from archgraph.lowering.instances import Template
from archgraph.lowering.names import LabelState
from archgraph.lowering.repeat import repeat_block, repeat_inline
from archgraph.lowering.sketch import Sketch
from archgraph.lowering.values import MAX_NODES, Taps, Tensor, plain, scalar_values, scalars_of
from archgraph.ops import OpDef, suggest
from archgraph.scalars import ScalarError, as_int, coerce, describe, is_fractional, show
from archgraph.shapes import make_node
from archgraph.source import Span, text_of

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any


def lower(program: Program, model: str, overrides: dict[str, Any] | None = None,
          sketch: Sketch | None = None) -> Graph:  # fmt: skip
    """Evaluate `model` of a checked program with `overrides` and return its graph. With a new `sketch`
    (filled in) the graph is a sketch: a block call like an earlier one is not copied but recorded
    (archgraph.lowering.sketch), for counting, not for building."""
    # Blocks (at most MAX_BLOCK_DEPTH deep) times expressions (at most parser.MAX_NESTING deep)
    # can recurse further than Python's default limit allows; pure-Python frames are cheap.
    where = program.definitions[model].span
    graph = guarded(lambda: Lowering(program, sketch).model(model, overrides or {}), where, f"model `{model}`")
    check_scopes(graph.root)  # so that every later pass (codegen, build, forward) fits in the stack
    graph.program = program  # codegen lowers it again at other sizes to learn each size's formula
    return graph


def resolve_model(program: Program, name: str, overrides: dict[str, Any]) -> tuple[s.Model, dict, dict]:
    """The base model of `name`, the explicit parameter values (evaluated), and where each came from."""
    item, chained, chained_spans, _ = _resolved(program, name)
    values, spans = dict(chained), dict(chained_spans)
    known = [p.name for p in item.params]
    for key, value in overrides.items():
        if key not in known:
            guess = suggest(key, known)
            hint = f"; did you mean `{guess}`?" if guess else f"; it has {', '.join(known)}"
            definition = program.definitions[name]
            raise ArchTypeError(f"model `{name}` has no parameter `{key}`{hint}", definition.name_span)
        values[key] = value
    return item, values, spans


_RESOLVED: list[tuple[weakref.ref, dict[str, tuple]]] = []  # the last few programs' resolved variants


def _resolved(program: Program, name: str) -> tuple[s.Model, dict, dict, str | None]:
    """(base model, values its variant chain sets, their spans, the nearest variant doc) for `name`.
    Each variant is resolved once per program, so lowering every model of a chain of n variants
    evaluates n variant lines, not n squared."""
    cache = next((c for ref, c in _RESOLVED if ref() is program), None)
    if cache is None:
        cache = {}
        _RESOLVED[:] = [(weakref.ref(program), cache), *_RESOLVED[:3]]
    pending: list[str] = []
    current = name
    while current not in cache and isinstance(program.definitions[current], s.Variant):
        pending.append(current)
        current = program.definitions[current].base
    if current not in cache:
        cache[current] = (program.definitions[current], {}, {}, None)
    for variant_name in reversed(pending):
        item, values, spans, doc = cache[current]
        variant = program.definitions[variant_name]
        values, spans = dict(values), dict(spans)
        for kw in variant.kwargs:
            values[kw.name] = Lowering(program).expr(kw.value, {}, None)
            spans[kw.name] = kw.span
        cache[variant_name] = (item, values, spans, variant.doc or doc)
        current = variant_name
    return cache[name]


class Lowering:
    """One evaluation of one model; `nodes` grows as ops are applied."""

    def __init__(self, program: Program, sketch: Sketch | None = None) -> None:
        self.program = program
        self.sketch = sketch  # where a sketch records the copies it does not make (instances.alias)
        self.skipped = 0  # nodes those copies would have made
        self.zeroed = 0  # > 0 inside a shared repeat's later call, whose nodes hold no parameters
        self.nodes: dict[str, Node] = {}
        self.depth = 0
        self.labels = LabelState()
        self.numbered: dict[tuple[int, int], tuple] = {}  # (id(call), N) -> (call, the call labelled `name.N`)
        self.shared: dict[tuple[int, str], Scope] = {}  # (id(scope), label) -> its first shared repeat
        self.starts: dict[int, int] = {}  # id(scope) -> how many nodes existed when it opened
        self.position: dict[str, int] = {}  # node id -> its index in creation order
        self.order: list[Node] = []  # the nodes in creation order
        self.templates: dict[tuple, Template] = {}  # block calls lowered so far, to copy (instances.key)
        self.free: dict[int, list[Value]] = {}  # id(scope) -> outer values its nodes read (repeat.free_values)
        self.current_inputs: list[tuple[str, Value]] = []

    def scope(self, parent: Scope | None, path: str, label: str, kind: str, block: str, span: Span,
              doc: str | None = None) -> Scope:  # fmt: skip
        """A new scope, appended to `parent`'s items (if any); its nodes are those created from now on."""
        scope = Scope(path, label, kind, block, span, doc=doc)
        self.starts[id(scope)] = len(self.nodes)
        if parent is not None:
            parent.items.append(scope)
        return scope

    # ---- models ----

    def model(self, name: str, overrides: dict[str, Any]) -> Graph:
        item, values, spans = resolve_model(self.program, name, overrides)
        env = self.bind_params(item.params, values, item.name_span, f"model `{name}`", spans)
        root = self.scope(None, "", "", "model", name, item.span, item.doc)
        self.labels.reserve(root, item.body)
        inputs: list[tuple[str, Value]] = []
        self.current_inputs = inputs
        try:
            result = self.run(item.body, env, root)
        except SpecError as error:
            definition = self.program.definitions[name]
            if definition is not item:  # point back at the user's variant line
                error.diagnostics[0].notes.append(Note(f"in model `{name}`", definition.span))
            raise
        spans = [e.span for e in self.returned.values]
        outputs = [self.tensor(v, span, "a model's output") for v, span in zip(result, spans, strict=True)]
        root.outputs = [t.value for t in outputs]
        root.args = scalars_of(env)
        root.inputs = [v for _, v in inputs]
        params = {p.name: plain(env[p.name]) for p in item.params}
        doc = _resolved(self.program, name)[3] or item.doc
        graph = Graph(name, self.nodes, root, inputs, root.outputs, doc, params, self.program.files[0])
        graph.output_names = self.returned.names
        return graph

    def bind_params(self, params, given: dict, span: Span, what: str, spans: dict | None = None) -> dict[str, Any]:
        """Parameter values, types checked: given scalars first, then tensors with shapes (a shape checks
        the names it shares with given parameters and binds the others), then defaults in order."""
        env: dict[str, Any] = {}
        spans = spans or {}
        shaped = [p for p in params if isinstance(p.type, tuple)]
        for p in params:
            if p.name in given and p not in shaped:
                env[p.name] = self.check_param(p, given[p.name], spans.get(p.name, p.span), env)
        for p in [*shaped, *params]:
            if p.name in env:
                continue
            if p.name in given:
                value = given[p.name]
            elif p.default is not None:
                value = self.expr(p.default, env, None)
            else:
                raise ArchTypeError(f"{what} needs a value for `{p.name}`", span,
                                    [Note(f"`{p.name}` is declared here without a default", p.span)])  # fmt: skip
            env[p.name] = self.check_param(p, value, spans.get(p.name, p.span), env)
        return env

    def check_param(self, p: s.Param, value: Any, span: Span, env: dict) -> Any:
        if p.type is None:
            return value
        if p.type == "tensor" or isinstance(p.type, tuple):
            tensor = self.tensor(value, span, f"parameter `{p.name}`")
            if isinstance(p.type, tuple):
                self.check_shape(p, tensor.type, env, span)
            return tensor
        try:
            coerced = coerce(p.type, value)
            return value if p.type == "float" and not isinstance(value, float) else coerced  # keep 7/3 exact
        except ScalarError as error:
            fractional = p.type == "int" and is_fractional(value)
            cls = ArchShapeError if fractional else ArchTypeError
            raise cls(f"parameter `{p.name}`: {error}", span,
                      [Note(f"`{p.name}` is declared `{p.type}` here", p.span)]) from None  # fmt: skip

    def check_shape(self, p: s.Param, t: TensorType, env: dict, span: Span) -> None:
        """A shape annotation `[B, N, dim]`: known names must match, new ones are bound."""
        if len(p.type) != t.rank:
            raise ArchShapeError(f"parameter `{p.name}` expects rank {len(p.type)}, found {t}", span,
                                 [Note("declared here", p.span)])  # fmt: skip
        for axis, (dim_expr, size) in enumerate(zip(p.type, t.dims, strict=True)):
            if isinstance(dim_expr, s.Name) and dim_expr.id not in env:
                env[dim_expr.id] = size
                continue
            want = self.expr(dim_expr, env, None)
            if want != size:
                named = "" if isinstance(dim_expr, s.Number) else f"`{text_of(dim_expr.span)}` = "
                raise ArchShapeError(f"parameter `{p.name}` expects {named}{show(want)} on axis {axis}, found {t}",
                                     span, [Note("declared here", dim_expr.span)])  # fmt: skip

    # ---- statements ----

    def run(self, body: tuple[s.Stmt, ...], env: dict, scope: Scope) -> tuple | None:
        for st in body:
            result = self.stmt(st, env, scope)
            if result is not None:
                return result
        return None

    def stmt(self, st: s.Stmt, env: dict, scope: Scope) -> tuple | None:
        if isinstance(st, s.Assign):
            self.assign(st, self.expr(st.value, env, scope), env, scope)
        elif isinstance(st, s.Return):
            values = tuple(self.expr(v, env, scope) for v in st.values)
            self.returned = st  # the return that ran (set after nested calls): its spans point at the outputs
            return values
        elif isinstance(st, s.Input):
            self.input(st, env, scope)
        elif isinstance(st, s.Require):
            self.require(st, env, scope)
        elif isinstance(st, s.RequireShape):
            self.require_shape(st, env)
        elif isinstance(st, s.If):
            branch = st.then if self.condition(st.condition, env, scope) else st.orelse
            return self.run(branch, env, scope)
        elif isinstance(st, s.RepeatBlock) and st.label is None:
            repeat_inline(self, st, env, scope)
        elif isinstance(st, s.RepeatBlock):
            repeat_block(self, st, env, scope)
        return None

    def assign(self, st: s.Assign, value: Any, env: dict, scope: Scope) -> None:
        values = value if isinstance(value, tuple) else (value,)
        if len(values) != len(st.targets):
            names = "1 name" if len(st.targets) == 1 else f"{len(st.targets)} names"
            raise ArchTypeError(f"{names} on the left, but the right side gives {len(values)} "
                                f"value{'s' if len(values) != 1 else ''}", st.span)  # fmt: skip
        for target, v in zip(st.targets, values, strict=True):
            if isinstance(v, Tensor):
                scope.names.setdefault(v.value, target)  # the generated forward names this value after the spec
            env[target] = v

    def input(self, st: s.Input, env: dict, scope: Scope) -> None:
        if any(name == st.name for name, _ in self.current_inputs):
            raise ArchNameError(f"input `{st.name}` is declared twice", st.span)
        dims: list[int | str] = []
        for axis, d in enumerate(st.shape):
            if axis == 0 and isinstance(d, s.Name) and d.id not in env:
                dims.append(BATCH)
                continue
            if isinstance(d, s.Name) and d.id == BATCH and BATCH not in env:
                raise ArchShapeError(f"the batch `{BATCH}` can only be the first axis, found it on axis {axis}", d.span)
            dims.append(self.dim(d, env, "input dimension"))
        out = TensorType(tuple(dims), st.dtype)
        node = self.add_node("input", (), {"name": st.name}, (out,), st.span, scope, st.name)
        self.current_inputs.append((st.name, Value(node.id)))
        env[st.name] = Tensor(Value(node.id), node.out)

    def require(self, st: s.Require, env: dict, scope: Scope) -> None:
        if self.condition(st.condition, env, scope):
            return
        values = scalar_values(st.condition, env)
        message = st.message or "this requirement does not hold"
        raise ArchRequireError(message, st.condition.span, [Note(f"with {values}")] if values else [])

    def require_shape(self, st: s.RequireShape, env: dict) -> None:
        """`require x: [B, K, H, W]`: the tensor's shape, axis by axis; `B` is the batch."""
        tensor = self.tensor(env[st.name], st.name_span, f"`{st.name}`")
        want = [BATCH if isinstance(d, s.Name) and d.id == BATCH else self.dim(d, env, "a required dimension")
                for d in st.shape]  # fmt: skip
        if list(tensor.type.dims) == want:
            return
        expected = "[" + ", ".join(str(d) for d in want) + "]"
        message = st.message or f"`{st.name}` must have shape {expected}"
        note = Note(f"expected {tensor.type.dtype}{expected.replace(' ', '')}, found {tensor.type}")
        raise ArchShapeError(message, st.span, [note])

    def condition(self, e: s.Expr, env: dict, scope: Scope) -> bool:
        value = self.expr(e, env, scope)
        if not isinstance(value, bool):
            raise ArchTypeError(f"a condition must be true or false, found {describe(value)}", e.span)
        return value

    # ---- expressions ----

    def expr(self, e: s.Expr, env: dict, scope: Scope | None) -> Any:
        return evaluate(self, e, env, scope)

    def dim(self, e: s.Expr, env: dict, what: str) -> int:
        value = self.expr(e, env, None)
        try:
            size = as_int(value)
        except ScalarError as error:
            raise ArchShapeError(f"{what}: {error}", e.span) from None
        if size < 1:
            raise ArchShapeError(f"{what} must be positive, found {size}", e.span)
        return size

    def tensor(self, value: Any, span: Span, what: str) -> Tensor:
        if isinstance(value, Tensor):
            return value
        hint = f"; take one iteration's output with `{value.scope.label}[i]`" if isinstance(value, Taps) else ""
        raise ArchTypeError(f"{what} must be a tensor, found {describe(value)}{hint}", span)

    # ---- nodes ----

    def add_node(self, op: str, inputs: tuple[Tensor, ...], attrs: dict, outs, span: Span, scope: Scope,
                 label: str | None, arg_spans: dict | None = None) -> Node:  # fmt: skip
        if len(self.nodes) + self.skipped >= MAX_NODES:
            raise ArchShapeError(f"the model has more than {MAX_NODES:,} ops; is a repeat count too large?", span)
        node_id = f"n{len(self.nodes)}"
        self.position[node_id] = len(self.nodes)
        path = ".".join(p for p in (scope.path, label or op) if p)
        node = make_node(node_id, op, inputs, attrs, outs, span, scope.path, path, label, arg_spans or {})
        self.nodes[node_id] = node
        self.order.append(node)
        scope.items.append(node_id)
        return node

    def apply_op(self, op: OpDef, call: s.Call, ins: list[Tensor], attrs: dict, scope: Scope,
                 arg_spans: dict) -> Any:  # fmt: skip
        label = call.label or (self.labels.unique(scope, op.name) if op.learnable or op.buffer else None)
        if label:
            self.labels.use(scope, label, call)
        node = self.add_node(op.name, tuple(ins), attrs, None, call.span, scope, label, arg_spans)
        tensors = tuple(Tensor(Value(node.id, i), t) for i, t in enumerate(node.outs))
        return tensors[0] if len(tensors) == 1 else tensors


__all__ = ["Lowering", "lower", "resolve_model"]
