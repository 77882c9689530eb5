"""Lower a checked program to a `Graph`: evaluate one model with concrete parameter values.

In: a `Program` (see loader, check), a model name and parameter overrides. Out: an
`ir.Graph` whose nodes have shapes (from `shapes`), parameter counts and costs, and whose
scopes mirror the generated module's attributes. Blocks are expanded per call, `repeat`s
per iteration, `if`s decided, `require`s checked: all errors here are spec errors at a span.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from archgraph import syntax as s
from archgraph.errors import ArchNameError, ArchRequireError, ArchShapeError, ArchTypeError, Note, SpecError
from archgraph.ir import BATCH, Graph, Node, Scope, TensorType, Value
from archgraph.loader import Program
from archgraph.ops import OpDef, suggest
from archgraph.scalars import ScalarError, as_int, coerce, describe, is_fractional, show
from archgraph.shapes import make_node
from archgraph.source import Span, text_of

MAX_REPEAT = 4096
MAX_NODES = 200_000
MAX_BLOCK_DEPTH = 64
STACK_LIMIT = 40_000  # frames; the deepest spec the parser and MAX_BLOCK_DEPTH allow needs ~13,000


@dataclass(frozen=True)
class Tensor:
    """A tensor value while lowering: which node output it is, and its type."""

    value: Value
    type: TensorType

    def __str__(self) -> str:
        return f"a tensor {self.type}"


@dataclass
class Taps:
    """The outputs of each iteration of a labelled repeat, read as `label[i]`."""

    scope: Scope
    outputs: list[Tensor] = field(default_factory=list)

    def __str__(self) -> str:
        return f"the repeat `{self.scope.label}`"


def lower(program: Program, model: str, overrides: dict[str, Any] | None = None) -> Graph:
    """Evaluate `model` of a checked program with `overrides` and return its graph."""
    # Blocks (at most MAX_BLOCK_DEPTH deep) times expressions (at most parser.MAX_NESTING deep)
    # can recurse further than Python's default limit allows; pure-Python frames are cheap.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, STACK_LIMIT))
    try:
        graph = Lowering(program).model(model, overrides or {})
        graph.program = program  # codegen lowers it again at other sizes to learn each size's formula
        return graph
    except RecursionError:
        where = program.definitions[model].span
        raise ArchTypeError(f"model `{model}` nests blocks and expressions too deeply to evaluate", where) from None
    finally:
        sys.setrecursionlimit(limit)


def resolve_model(program: Program, name: str, overrides: dict[str, Any]) -> tuple[s.Model, dict, dict]:
    """The base model of `name`, the explicit parameter values (evaluated), and where each came from."""
    item = program.definitions[name]
    chain: list[s.Variant] = []
    while isinstance(item, s.Variant):
        chain.append(item)
        item = program.definitions[item.base]
    values: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    for variant in reversed(chain):
        for kw in variant.kwargs:
            values[kw.name] = Lowering(program).expr(kw.value, {}, None)
            spans[kw.name] = kw.span
    known = [p.name for p in item.params]
    for key, value in overrides.items():
        if key not in known:
            guess = suggest(key, known)
            hint = f"; did you mean `{guess}`?" if guess else f"; it has {', '.join(known)}"
            definition = program.definitions[name]
            raise ArchTypeError(f"model `{name}` has no parameter `{key}`{hint}", definition.name_span)
        values[key] = value
    return item, values, spans


class Lowering:
    """One evaluation of one model; `nodes` grows as ops are applied."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.nodes: dict[str, Node] = {}
        self.depth = 0

    # ---- models ----

    def model(self, name: str, overrides: dict[str, Any]) -> Graph:
        item, values, spans = resolve_model(self.program, name, overrides)
        env = self.bind_params(item.params, values, item.name_span, f"model `{name}`", spans)
        root = Scope("", "", "model", name, item.span, doc=item.doc)
        reserve_labels(root, item.body)
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
        root.inputs = [v for _, v in inputs]
        params = {p.name: plain(env[p.name]) for p in item.params}
        root.args = {k: v for k, v in env.items() if not isinstance(v, (Tensor, Taps))}
        doc = self._doc(name) or item.doc
        return Graph(name, self.nodes, root, inputs, root.outputs, doc, params, self.program.files[0])

    def _doc(self, name: str) -> str | None:
        """The doc of the nearest variant in the chain that has one."""
        item = self.program.definitions[name]
        while isinstance(item, s.Variant):
            if item.doc:
                return item.doc
            item = self.program.definitions[item.base]
        return None

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
        elif isinstance(st, s.RepeatBlock):
            from archgraph.repeat import repeat_block

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
        node = self.add_node("input", (), {"name": st.name}, (TensorType(tuple(dims)),), st.span, scope, st.name)
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
        from archgraph.evaluate import evaluate

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
        if len(self.nodes) >= MAX_NODES:
            raise ArchShapeError(f"the model has more than {MAX_NODES:,} ops; is a repeat count too large?", span)
        node_id = f"n{len(self.nodes)}"
        path = ".".join(p for p in (scope.path, label or op) if p)
        node = make_node(node_id, op, inputs, attrs, outs, span, scope.path, path, label, arg_spans or {})
        self.nodes[node_id] = node
        scope.items.append(node_id)
        return node

    def apply_op(self, op: OpDef, call: s.Call, ins: list[Tensor], attrs: dict, scope: Scope,
                 arg_spans: dict) -> Any:  # fmt: skip
        label = call.label or (unique_label(scope, op.name) if op.learnable else None)
        if label:
            use_label(scope, label, call)
        node = self.add_node(op.name, tuple(ins), attrs, None, call.span, scope, label, arg_spans)
        tensors = tuple(Tensor(Value(node.id, i), t) for i, t in enumerate(node.outs))
        return tensors[0] if len(tensors) == 1 else tensors


def unique_label(scope: Scope, base: str) -> str:
    """`base`, or `base_1`, `base_2`, ...: an attribute name no label in the scope uses."""
    label, n = base, 1
    while label in scope.labels:
        label, n = f"{base}_{n}", n + 1
    scope.labels.add(label)
    return label


def use_label(scope: Scope, label: str, where: s.Call | s.Repeat | s.RepeatBlock) -> None:
    """Claim an attribute name in a scope; a second layer under one name is an error."""
    if label in scope.used:
        span = getattr(where, "label_span", None) or where.span
        raise ArchNameError(f"two layers are labelled `{label}` in one block", span)
    scope.used.add(label)


def reserve_labels(scope: Scope, body: tuple[s.Stmt, ...]) -> None:
    """Reserve the labels a body writes, so automatic names never take them."""
    for st in body:
        for node in _walk(st):
            if isinstance(node, (s.Call, s.Repeat)) and node.label:
                scope.labels.add(node.label)
            elif isinstance(node, s.RepeatBlock):
                scope.labels.add(node.label)


def _walk(node):
    yield node
    if isinstance(node, s.RepeatBlock):
        return  # its body belongs to the iterations' scopes
    for field_name in getattr(node, "__slots__", ()):
        value = getattr(node, field_name)
        for v in value if isinstance(value, tuple) else (value,):
            if hasattr(v, "__slots__") and not isinstance(v, Span):
                yield from _walk(v)


def scalar_values(e: s.Expr, env: dict) -> str:
    """The scalars `e` reads, by name: `dim = 192, mlp_ratio = 2.7` ("" if it reads none)."""
    names = {n.id for n in _walk(e) if isinstance(n, s.Name)}
    shown = sorted(n for n in names if n in env and not isinstance(env[n], (Tensor, Taps)))
    return ", ".join(f"{n} = {show(env[n])}" for n in shown)


def computed(e: s.Expr, value: Any, env: dict) -> list[Note]:
    """How an argument was computed: "`dim * mlp_ratio` = 518.4 with dim = 192, mlp_ratio = 2.7".
    No note for a literal, a bare name or a tensor, whose value the message already shows."""
    if isinstance(e, (s.Number, s.String, s.Bool, s.Name)) or isinstance(value, (Tensor, Taps)):
        return []
    values = scalar_values(e, env)
    text = text_of(e.span) or "this expression"
    return [Note(f"`{text}` = {show(value)}" + (f" with {values}" if values else ""))]


def plain(value: Any) -> Any:
    """A parameter value for reports and JSON: Fractions become floats."""
    from fractions import Fraction

    return float(value) if isinstance(value, Fraction) else value


__all__ = ["MAX_BLOCK_DEPTH", "MAX_REPEAT", "Lowering", "Taps", "Tensor", "lower"]
