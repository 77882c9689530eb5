"""Static checks over a loaded program, before anything is evaluated.

Reports, all at once: undefined names (with did-you-mean), unknown ops and blocks, calls
with the wrong arguments, duplicate parameters and labels, blocks without a `return`,
variants of unknown models or with unknown parameters. Values, `require`s and shapes are
checked later, by `lower`, which evaluates the model.
"""

from __future__ import annotations

from archgraph import syntax as s
from archgraph.errors import ArchNameError, ArchSyntaxError, ArchTypeError, Diagnostic, Note, SpecError
from archgraph.ir import DTYPES
from archgraph.labels import label_problem
from archgraph.loader import Program
from archgraph.ops import REGISTRY, REQUIRED, suggest

TYPES = ("int", "float", "bool", "str", "list", "tensor")
FUNCTIONS = ("len", "linspace")  # built-in functions of numbers and lists, evaluated while lowering
BUILTIN_NAMES = ("B",)


def check(program: Program) -> None:
    """Raise one SpecError carrying every diagnostic found, or return quietly."""
    found: list[Diagnostic] = []
    roots = variant_roots(program)
    for item in program.definitions.values():
        if isinstance(item, s.Variant):
            found += _check_variant(item, program, roots)
        else:
            found += _Checker(program, item).run()
        if isinstance(item, s.Block) and item.name in REGISTRY:  # a call would reach the op, never the block
            found.append(_diag(ArchNameError, f"`{item.name}` is an op; a block cannot take its name", item.name_span))
        if isinstance(item, s.Block) and item.name in FUNCTIONS:
            found.append(
                _diag(
                    ArchNameError, f"`{item.name}` is a built-in function; a block cannot take its name", item.name_span
                )
            )
    if found:
        found.sort(key=lambda d: (d.span.file != program.files[0], d.span.file, d.span.line, d.span.col))
        raise SpecError.many(found)


def _diag(cls: type[SpecError], message: str, span, notes=()) -> Diagnostic:
    return Diagnostic(cls.kind, message, span, list(notes))


_AXES = ("`transpose` swaps two axes; `to_tokens` and `to_grid` turn [B, C, H, W] into [B, N, C] and back; "
         "`split_heads` and `merge_heads` split channels into attention heads and back")  # fmt: skip
# PyTorch names a user reaches for, and what the language has instead (a spelling guess would mislead)
_TORCH_NAMES = {
    **dict.fromkeys(("permute", "reshape", "view", "flatten", "unflatten"), f"archgraph has no such op: {_AXES}"),
    "cat": "the op is `concat(a, b, dim = ...)`",
    "interpolate": "the op is `upsample(x, size = ...)` or `upsample(x, scale_factor = ...)` (bilinear)",
    "scaled_dot_product_attention": "the op is `sdpa(q, k, v)`, on heads from `split_heads`",
}


def _did_you_mean(name: str, candidates) -> str:
    guess = suggest(name, candidates)
    return f"; did you mean `{guess}`?" if guess else ""


def variant_chain(program: Program, name: str) -> tuple[list[str], str]:
    """Follow `name` from variant to base: the variants passed, in order, and the name it stopped at
    (a model, a name that is no variant, or, on a cycle, the first variant reached twice)."""
    chain: list[str] = []
    passed: set[str] = set()
    while isinstance(program.definitions.get(name), s.Variant) and name not in passed:
        chain.append(name)
        passed.add(name)
        name = program.definitions[name].base
    return chain, name


def variant_roots(program: Program) -> dict[str, str | None]:
    """{variant: the name its chain stops at} for every variant, None for one on or into a cycle.
    Each variant is followed once (a chain of n variants costs n steps, not n squared)."""
    roots: dict[str, str | None] = {}
    for start, item in program.definitions.items():
        path: list[str] = []
        on_path: set[str] = set()
        name = start
        while isinstance(item, s.Variant) and name not in roots and name not in on_path:
            path.append(name)
            on_path.add(name)
            name = item.base
            item = program.definitions.get(name)
        root = roots[name] if name in roots else None if name in on_path else name
        roots.update(dict.fromkeys(path, root))
    return roots


def model_params(program: Program, name: str) -> tuple[s.Param, ...] | None:
    """The parameters of a model, following variants to their base; None if unresolvable."""
    item = program.definitions.get(variant_chain(program, name)[1])
    return item.params if isinstance(item, s.Model) else None


def _check_variant(item: s.Variant, program: Program, roots: dict[str, str | None]) -> list[Diagnostic]:
    base = program.definitions.get(item.base)
    if not isinstance(base, (s.Model, s.Variant)):
        models = [n for n, d in program.definitions.items() if not isinstance(d, s.Block)]
        what = "a block, not a model" if isinstance(base, s.Block) else "not defined"
        return [_diag(ArchNameError, f"`{item.base}` is {what}{_did_you_mean(item.base, models)}", item.base_span)]
    root = program.definitions.get(roots[item.name]) if roots[item.name] is not None else None
    params = root.params if isinstance(root, s.Model) else None
    if params is None:
        chain, current = variant_chain(program, item.name)
        if current not in chain:
            return []  # the broken link is reported where it is
        cycle = " -> ".join([*chain, current])
        return [_diag(ArchNameError, f"variant `{item.name}` is defined in terms of itself: {cycle}", item.base_span)]
    out = []
    if item.args:
        out.append(_diag(ArchTypeError, "a variant sets parameters by name, e.g. `depth = 24`", item.args[0].span))
    names = [p.name for p in params]
    for kw in item.kwargs:
        if kw.name not in names:
            out.append(_diag(ArchNameError, f"model `{item.base}` has no parameter `{kw.name}`"
                             f"{_did_you_mean(kw.name, names)}", kw.span))  # fmt: skip
    return out


class _Checker:
    """Walks one block or model body with the names defined so far."""

    def __init__(self, program: Program, item: s.Block | s.Model) -> None:
        self.program = program
        self.item = item
        self.found: list[Diagnostic] = []

    def run(self) -> list[Diagnostic]:
        names = self._params(self.item.params)
        self._body(self.item.body, names, labels={})
        self._returns(self.item.body)
        return self.found

    def error(self, cls: type[SpecError], message: str, span, notes=()) -> None:
        self.found.append(_diag(cls, message, span, notes))

    def _params(self, params: tuple[s.Param, ...]) -> set[str]:
        names: dict[str, s.Param] = {}
        shape_names: set[str] = set()
        for p in params:
            if p.name in names:
                self.error(ArchNameError, f"parameter `{p.name}` is declared twice", p.span,
                           [Note("first declared here", names[p.name].span)])  # fmt: skip
            if isinstance(p.type, str) and p.type not in TYPES:
                self.error(ArchTypeError, f"unknown type `{p.type}`; expected one of {', '.join(TYPES)} or a shape"
                           f"{_did_you_mean(p.type, TYPES)}", p.span)  # fmt: skip
            if p.default is not None:
                self._expr(p.default, set(names) | shape_names | set(BUILTIN_NAMES))
            names[p.name] = p
            if isinstance(p.type, tuple):
                shape_names |= {e.id for e in p.type if isinstance(e, s.Name)}
        return set(names) | shape_names | set(BUILTIN_NAMES)

    def _returns(self, body: tuple[s.Stmt, ...]) -> None:
        returns = [i for i, st in enumerate(body) if isinstance(st, s.Return)]
        if not returns:
            nested = _nested_returns(body)
            if nested:
                where = nested[0].span
                message = (f"`{self.item.name}` may end without returning: the `return` at {where.line}:{where.col} "
                           "is inside an `if`; end the body with a `return`")  # fmt: skip
            else:
                message = f"`{self.item.name}` never returns a value; end it with `return ...`"
            self.error(ArchSyntaxError, message, self.item.name_span)
            return
        if returns[0] != len(body) - 1:
            self.error(ArchSyntaxError, "statements after `return` never run", body[returns[0] + 1].span)

    def _body(self, body: tuple[s.Stmt, ...], names: set[str], labels: dict[str, s.Expr]) -> None:
        for st in body:
            self._stmt(st, names, labels)

    def _stmt(self, st: s.Stmt, names: set[str], labels: dict) -> None:
        if isinstance(st, s.Input):
            if isinstance(self.item, s.Block):
                self.error(ArchSyntaxError, "`input` declares a model's inputs; a block takes tensors as parameters",
                           st.span)  # fmt: skip
            if st.dtype not in DTYPES:
                self.error(ArchTypeError, f"unknown dtype `{st.dtype}`; an input is one of {', '.join(DTYPES)}",
                           st.dtype_span, [Note("token ids are i64, masks bool, images and features f32")])  # fmt: skip
            for i, d in enumerate(st.shape):
                if not (i == 0 and isinstance(d, s.Name) and d.id not in names):
                    self._expr(d, names)
            names.add(st.name)
        elif isinstance(st, s.Assign):
            self._expr(st.value, names, labels)
            names.update(st.targets)
        elif isinstance(st, s.Return):
            for v in st.values:
                self._expr(v, names, labels)
            self._output_names(st)
        elif isinstance(st, s.Require):
            self._expr(st.condition, names, labels)
        elif isinstance(st, s.RequireShape):
            self._expr(s.Name(st.name, st.name_span), names, labels)
            for d in st.shape:
                self._expr(d, names, labels)
        elif isinstance(st, s.If):
            self._expr(st.condition, names, labels)
            defined: set[str] = set()
            for branch in (st.then, st.orelse):  # a label may recur in exclusive branches; lower checks the rest
                branch_names = set(names)  # a branch cannot see what the other one defines
                self._body(branch, branch_names, dict(labels))
                defined |= branch_names
            names.update(defined)  # after the `if`, a name from either branch; lower reports one never set
        elif isinstance(st, s.RepeatBlock):
            for ret in _nested_returns(st.body):
                self.error(ArchSyntaxError, "`return` inside a repeat body; assign to a carried name instead", ret.span)
            self._expr(st.count, names)
            if st.label is None:  # no scope: its labels are the enclosing body's (numbered from the index)
                self._body(st.body, names | {st.index}, labels)
                return
            self._label(st.label, st, labels)
            self._body(st.body, names | {st.index}, {})
            names.add(st.label)

    def _output_names(self, st: s.Return) -> None:
        """Named outputs (`return logits = a, boxes = b`): a model's, every one named, each name once."""
        if not st.names:
            return
        if isinstance(self.item, s.Block):
            first = next(span for name, span in zip(st.names, st.name_spans, strict=True) if name)
            self.error(ArchSyntaxError, "only a model names its outputs; a block returns plain values", first)
            return
        seen: dict = {}
        for name, span in zip(st.names, st.name_spans, strict=True):
            if not name:
                self.error(ArchSyntaxError, "name every output or none: write `name = ...` here too", span)
            elif name in seen:
                self.error(
                    ArchNameError, f"output `{name}` is named twice", span, [Note("first named here", seen[name])]
                )
            seen.setdefault(name, span)

    def _label(self, label: str, node, labels: dict, names: set[str] | None = None) -> None:
        """Check one label against the body's `labels` (label -> node), and record it. A computed
        `name.(expr)` is `name.(...)`; two of them with the same N are found when lowering."""
        span = getattr(node, "label_span", None) or node.span
        computed = getattr(node, "label_index", None) is not None
        if computed:
            self._expr(node.label_index, names or set())
        problem = label_problem(label + ".0" if computed else label)
        if problem is not None:
            self.error(ArchNameError, f"label `{label}` cannot be an attribute of the generated module: {problem}",
                       span, [Note("a label is the layer's attribute and state_dict key; choose another")])  # fmt: skip
        head = label.partition(".")[0]
        numbered = computed or "." in label
        clash = next((other for other in labels if (other == head if numbered else other.startswith(label + "."))),
                     None)  # fmt: skip
        if clash is not None:
            shown = f"{head}.(...)" if computed else label
            self.error(ArchNameError, f"label `{shown}` and label `{clash.split('#')[0]}` both claim the attribute "
                       f"`{head}`", span, [Note(f"`{head}.N` labels make `{head}` a container of numbered layers; "
                                               "name the other layer differently")])  # fmt: skip
        if computed:
            labels[f"{head}.(...)#{len(labels)}"] = node
            return
        if label in labels and not _continues(labels[label], node):
            first = labels[label]
            self.error(ArchNameError, f"label `{label}` is used twice in `{self.item.name}`", span,
                       [Note("first used here", getattr(first, "label_span", None) or first.span)])  # fmt: skip
        labels[label] = node

    def _expr(self, e: s.Expr, names: set[str], labels: dict | None = None) -> None:
        labels = {} if labels is None else labels
        if isinstance(e, s.Name):
            if e.id not in names:
                self.error(ArchNameError, f"`{e.id}` is not defined{_did_you_mean(e.id, names - {'B'})}", e.span)
        elif isinstance(e, s.BinOp):
            self._expr(e.left, names, labels)
            self._expr(e.right, names, labels)
        elif isinstance(e, s.UnaryOp):
            self._expr(e.operand, names, labels)
        elif isinstance(e, s.ListExpr):
            for item in e.items:
                self._expr(item, names, labels)
        elif isinstance(e, s.Subscript):
            self._expr(e.value, names, labels)
            for item in e.items:
                for part in (item.start, item.stop) if isinstance(item, s.Slice) else (item,):
                    if part is not None:
                        self._expr(part, names, labels)
        elif isinstance(e, s.Call):
            self._call(e, names, labels)
        elif isinstance(e, s.Repeat):
            if e.label is None:
                self.error(ArchSyntaxError, "a repeat needs a label, e.g. `blocks: repeat depth block(x)`", e.span)
            else:
                self._label(e.label, e, labels, names)
            self._expr(e.count, names)
            if e.modifier is not None and e.modifier != "shared":
                self.error(ArchSyntaxError, f"expected `shared` or a block call after the count, found `{e.modifier}`",
                           e.modifier_span)  # fmt: skip
            self._call(e.call, names | ({e.index} if e.index else set()), labels, in_repeat=True)
            if e.label is not None:
                names.add(e.label)  # `label[i]` taps iteration i

    def _call(self, call: s.Call, names: set[str], labels: dict, in_repeat: bool = False) -> None:
        if call.label is not None:
            self._label(call.label, call, labels, names)
        for arg in call.args:
            self._expr(arg, names, labels)
        for kw in call.kwargs:
            self._expr(kw.value, names, labels)
        target = self.program.definitions.get(call.callee)
        if call.callee in FUNCTIONS:
            self._function(call)
        elif call.callee in REGISTRY:
            op = REGISTRY[call.callee]
            positional = [] if op.variadic else op.input_names
            optional = {name[:-1] for name in op.inputs if name.endswith("?")}  # a tensor there, else attributes
            self._arguments(call, [*positional, *op.attrs], _required_op(op), f"op `{op.name}`", op.variadic, optional)
        elif isinstance(target, s.Block):
            params = [p.name for p in target.params]
            required = [p.name for p in target.params if p.default is None]
            self._arguments(call, params, required, f"block `{target.name}`", False)
        elif isinstance(target, (s.Model, s.Variant)):
            self.error(
                ArchTypeError, f"`{call.callee}` is a model; only ops and blocks can be called", call.callee_span
            )
        else:
            known = [*REGISTRY, *(n for n, d in self.program.definitions.items() if isinstance(d, s.Block))]
            hint = (
                f"; {_TORCH_NAMES[call.callee]}" if call.callee in _TORCH_NAMES else _did_you_mean(call.callee, known)
            )
            self.error(ArchNameError, f"unknown op or block `{call.callee}`{hint}", call.callee_span)
        if in_repeat and not call.args:
            self.error(ArchTypeError, "a repeated call needs the tensor to thread as its first argument", call.span)
        if in_repeat and call.callee in REGISTRY:
            self.error(ArchTypeError, f"`repeat` repeats a block, not the op `{call.callee}`; write a block that "
                       "calls it, or use `repeat N as i { ... }`", call.callee_span)  # fmt: skip

    def _function(self, call: s.Call) -> None:
        """`len(list)`, `linspace(start, end, n)`: positional arguments only, no label."""
        if call.label is not None:
            self.error(ArchTypeError, f"`{call.callee}` computes a number; it cannot be labelled", call.label_span)
        if call.kwargs:
            self.error(ArchTypeError, f"`{call.callee}` takes no keyword arguments", call.kwargs[0].span)
        elif call.callee == "linspace" and len(call.args) != 3:
            self.error(ArchTypeError, f"`linspace` takes start, end and a count, found {len(call.args)} arguments",
                       call.span)  # fmt: skip
        elif call.callee == "len" and len(call.args) != 1:
            self.error(ArchTypeError, f"`{call.callee}` takes one list, found {len(call.args)} arguments", call.span)

    def _arguments(self, call: s.Call, params: list[str], required: list[str], what: str, variadic: bool,
                   optional: set[str] = frozenset()) -> None:  # fmt: skip
        given = set()
        if not variadic and len(call.args) > len(params):
            extra = call.args[len(params)]
            noun = "argument" if len(params) == 1 else "arguments"
            self.error(ArchTypeError, f"{what} takes at most {len(params)} positional {noun}, found "
                       f"{len(call.args)}", extra.span)  # fmt: skip
        if not variadic:
            given.update(p for p in params[: len(call.args)] if p not in optional)
        for kw in call.kwargs:
            if kw.name not in params:
                guess = suggest(kw.name, params)
                hint = f"; did you mean `{guess}`?" if guess else f"; it takes {', '.join(params) or 'no arguments'}"
                self.error(ArchTypeError, f"{what} has no argument `{kw.name}`{hint}", kw.span)
            elif kw.name in given:
                self.error(ArchTypeError, f"argument `{kw.name}` of {what} is given twice", kw.span)
            given.add(kw.name)
        missing = [p for p in required if p not in given]
        if missing and not variadic:
            self.error(ArchTypeError, f"{what} needs {_plural(missing)}", call.span)


def _required_op(op) -> list[str]:
    return [*op.required_inputs, *(k for k, a in op.attrs.items() if a.default is REQUIRED)]


def _plural(names: list[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return ("argument " if len(names) == 1 else "arguments ") + ", ".join(quoted)


def _nested_returns(body: tuple[s.Stmt, ...]) -> list[s.Return]:
    """`return` statements anywhere in a body, nested ones included."""
    found: list[s.Return] = []
    for st in body:
        if isinstance(st, s.Return):
            found.append(st)
        elif isinstance(st, s.If):
            found += _nested_returns(st.then) + _nested_returns(st.orelse)
        elif isinstance(st, s.RepeatBlock):
            found += _nested_returns(st.body)
    return found


def _continues(first, node) -> bool:
    """Whether `node` is a shared repeat that calls `first`'s module again: both `repeat N shared` of one block."""
    repeats = isinstance(first, s.Repeat) and isinstance(node, s.Repeat)
    return repeats and first.modifier == node.modifier == "shared" and first.call.callee == node.call.callee
