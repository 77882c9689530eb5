"""One scope's class with literal sizes: its layers (`__init__`), `init_weights`, `forward`.

`classes.build` calls `class_view` for every block instance, children first (their classes'
signatures are in `FileView.signatures`, so a child is constructed with its own arguments),
and turns the instances of one block into one class.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from archgraph.codegen.classifier import classifier, methods
from archgraph.codegen.fit import native
from archgraph.codegen.forward import Stmt, expression, hole, render, statements, target
from archgraph.codegen.helpers import HELPERS
from archgraph.codegen.knobs import schedule_lines
from archgraph.codegen.loops import comprehension, lists_of, passed
from archgraph.codegen.names import Namespace, attribute, is_attribute, sanitize
from archgraph.ir import Graph, Node, Scope, Value
from archgraph.ops import REGISTRY
from archgraph.ops.emit import EmitArgs


@dataclass
class ClassView:
    """One instance's nn.Module class, sizes as literals; `classes.build` turns these into formulas."""

    doc: str
    init_lines: list[str]
    weight_lines: list[str]
    args: list[str]
    lines: list[str]
    returns: str
    is_model: bool = False
    outputs: int = 1
    checkpointing: bool = False  # takes `grad_checkpointing`: it runs repeats, or holds a class that does
    named: bool = False  # returns a dict of named outputs
    methods: list[str] = field(default_factory=list)  # a classifier's timm API, its `forward` included
    flags: list[str] = field(default_factory=list)  # constructor flags its ops read (`dynamic_img_size`)

    @property
    def annotation(self) -> str:
        if self.named:
            return " -> dict[str, torch.Tensor]"
        return " -> torch.Tensor" if self.outputs == 1 else f" -> tuple[{', '.join(['torch.Tensor'] * self.outputs)}]"


@dataclass
class Signature:
    """A generated class as its parent calls it: name, parameters in order, the spec's defaults."""

    name: str
    params: list[str]
    defaults: dict[str, Any]
    checkpointing: bool = False
    lifted: dict[int, dict[str, Any]] = field(default_factory=dict)  # scope id -> its lifted arguments (lift.py)


@dataclass
class FileView:
    """One lowered graph, and the classes already written for its scopes (by scope identity)."""

    graph: Graph
    signatures: dict[int, Signature]
    helpers: list[str] = field(default_factory=list)

    @cached_property
    def uses(self) -> Counter:
        """How many times each value is read: by a node, as a block's output, as the model's output."""
        counts = Counter(v for node in self.graph.nodes.values() for v in node.inputs)
        counts.update(self.graph.outputs)
        counts.update(v for scope in self.graph.root.walk() for v in scope.outputs)
        return counts


def class_view(fv: FileView, scope: Scope, skeletons: dict | None = None) -> ClassView:
    """The class of one scope, its children already written (in `fv.signatures`). `skeletons`: the
    classes of the scopes with the same code but for their children's signatures (`memo.Views.same`),
    the children's constructors left to write, by the children's `checkpointing` (the one other
    thing the code reads of them)."""
    key = _checkpointing(fv, scope)
    skeleton = skeletons.get(key) if skeletons is not None else None
    if skeleton is None:
        saved, fv.helpers = fv.helpers, []
        try:
            skeleton = (_class_view(fv, scope, scope is fv.graph.root), fv.helpers)
        finally:
            fv.helpers = saved
        if skeletons is not None:
            skeletons[key] = skeleton
    view, helpers = skeleton
    fv.helpers.extend(h for h in helpers if h not in fv.helpers)
    children = [item for item in scope.items if isinstance(item, Scope)]
    lists = lists_of(fv.graph.params if scope is fv.graph.root else scope.args)  # its list parameters (loops.py)
    init = [
        out
        for line in view.init_lines
        for out in ([line] if isinstance(line, str) else line.lines(fv, children, lists))
    ]
    return replace(view, init_lines=init)


@dataclass
class _Body:
    """What a class's items contribute: __init__ lines, init_weights lines, forward statements."""

    init: list[str] = field(default_factory=list)
    weights: list[str] = field(default_factory=list)
    stmts: list[Stmt] = field(default_factory=list)
    attrs: Namespace = field(default_factory=Namespace)
    checkpointing: bool = False
    containers: dict[str, str] = field(default_factory=dict)  # numbered labels' head -> its nn.ModuleDict
    layers: dict[str, str] = field(default_factory=dict)  # node id -> `self.<attribute>` of its layer
    shared: dict[str, str] = field(default_factory=dict)  # a shared repeat's label -> its module's attribute
    flags: list[str] = field(default_factory=list)  # `Emit.flags` of its ops

    def attribute(self, label: str) -> str:
        """The label itself (it is the state_dict key) when legal, else a safe unique name.

        A numbered label `downsample.0` is entry "0" of an nn.ModuleDict `downsample`, created
        on first use, so the key is `downsample.0.weight` as torchvision's nn.Sequential has it."""
        head, dot, index = label.partition(".")
        if dot:
            if head not in self.containers:
                self.containers[head] = self.attribute(head)
                self.init.append(f"self.{self.containers[head]} = nn.ModuleDict()  # numbered layers: {head}.N")
            return f'{self.containers[head]}["{index}"]'
        if is_attribute(label) and label not in self.attrs.taken:
            self.attrs.taken.add(label)
            return label
        return self.attrs.create(attribute(label))


def _class_view(fv: FileView, scope: Scope, is_model: bool) -> ClassView:
    """The class, its children's constructors as `_Built` lines."""
    graph = fv.graph
    body = _Body()
    k = 0
    for item in scope.items:
        if isinstance(item, Scope):
            attr = body.shared[item.label] if item.continued else body.attribute(item.label)
            body.shared.setdefault(item.label, attr)
            _child(fv, item, (k, attr), body, scope.names)
            k += 1
        elif graph.nodes[item].op != "input":
            _node(fv, graph.nodes[item], body, scope.names)
    if is_model:
        inputs = [(v, name) for name, v in graph.inputs]
    else:
        inputs = list(zip(scope.inputs, scope.input_names, strict=True))
    args = _arguments([name for _, name in inputs], body.stmts)
    named = [(v, arg) for (v, _), arg in zip(inputs, args, strict=True)]
    outputs_named = graph.output_names if is_model else ()
    lines, returns = render(body.stmts, named, scope.outputs, outputs_named)
    api = classifier(graph, body.stmts, named, body.layers) if is_model else None
    doc = _doc(scope, graph, is_model)
    if any(_CHECKPOINTED in line for line in lines):  # the flag is kept where it acts, and passed on elsewhere
        body.init.insert(0, "self.grad_checkpointing = grad_checkpointing  # training: recompute in backward")
    view = ClassView(
        doc, body.init, body.weights, args, lines, returns, is_model, len(scope.outputs), named=bool(outputs_named)
    )
    view.checkpointing = body.checkpointing or is_model
    view.flags = body.flags
    body.init[:0] = [f"self.{flag} = {flag}" for flag in body.flags]
    if api is not None:
        body.init[:0] = [f"self.num_classes = {api.num_classes}", f"self.num_features = {api.num_features}"]
        view.methods = methods(api)
    return view


def _checkpointing(fv: FileView, scope: Scope) -> tuple[bool, ...]:
    """Whether each child scope's class (each iteration's, in a repeat) takes `grad_checkpointing`."""
    out = []
    for child in scope.items:
        if isinstance(child, Scope):
            its = [it for it in child.items if isinstance(it, Scope)] if child.kind == "repeat" else [child]
            out += [fv.signatures[id(it)].checkpointing for it in its]
    return tuple(out)


def _arguments(names: list[str], stmts: list[Stmt]) -> list[str]:
    """The forward's argument names for the inputs' `names`: legal, distinct, and none a statement binds."""
    namespace = Namespace({name for st in stmts for name in st.locals})
    return [namespace.create(name) for name in names]


def _node(fv: FileView, node: Node, body: _Body, given: dict[Value, str]) -> None:
    op = REGISTRY[node.op]
    types = [fv.graph.type_of(v) for v in node.inputs]
    attr = f"self.{body.attribute(node.label or node.op)}" if op.learnable or op.buffer else ""
    if attr:
        body.layers[node.id] = attr
    args = EmitArgs(node.attrs, [hole(i) for i in range(len(node.inputs))], types, node.outs, attr)
    module = op.emit.module(args)
    if module is not None:
        weights = op.emit.init(args)
        body.init.append(f"{attr} = {module}")
        body.weights.extend(weights)
        for code in [module, *weights]:
            _use_helper(fv, code)
    body.flags += [flag for flag in op.emit.flags if flag not in body.flags]
    call = f"F.relu({hole(0)}, inplace=True)" if _relu_in_place(fv, node) else op.emit.call(args)
    _use_helper(fv, call)
    defs = [Value(node.id, i) for i in range(len(node.outs))]
    names = [given.get(v, "") for v in defs]
    body.stmts.append(Stmt(defs, expression(call), list(node.inputs), list(node.outs), names, pure=op.emit.parameter))


def _use_helper(fv: FileView, code: str) -> None:
    """Note the helper (`StdConv2d`, `lecun_normal_`) that `code` calls, if any, for the file to define."""
    helper = code.split("(")[0]
    if helper in HELPERS and helper not in fv.helpers:
        fv.helpers.append(helper)


# Ops whose output is a fresh tensor that their backward never reads: a ReLU may overwrite it.
_FRESH = {"add", "batch_norm", "conv2d", "group_norm", "layer_norm", "linear", "std_conv2d"}


def _relu_in_place(fv: FileView, node: Node) -> bool:
    """A ReLU of a fresh tensor nothing else reads runs in place, as timm's `inplace=True` (one allocation less)."""
    return node.op == "relu" and fv.graph.nodes[node.inputs[0].node].op in _FRESH and fv.uses[node.inputs[0]] == 1


def _child(fv: FileView, child: Scope, at: tuple[int, str], body: _Body, given: dict[Value, str]) -> None:
    """Add child scope `at = (k, attr)` (the k-th, the module `self.<attr>`): its constructor (`_Built`),
    weights, call."""
    k, attr = at
    types = [fv.graph.type_of(v) for v in child.outputs]
    names = [given.get(v, "") for v in child.outputs]
    call = f"self.{attr}({', '.join(hole(i) for i in range(len(child.inputs)))})"
    if child.kind != "repeat":
        body.init.append(_Built(k, attr, "one"))
        body.checkpointing |= fv.signatures[id(child)].checkpointing
        body.weights.append(f"self.{attr}.init_weights()")
        body.stmts.append(Stmt(list(child.outputs), expression(call), list(child.inputs), types, names))
        return
    iterations = [it for it in child.items if isinstance(it, Scope)]
    if not iterations:
        return  # `repeat 0`: the output is the input, and there are no weights
    if child.shared:
        _shared_loop(fv, child, at, iterations, body, types, names, given)
        return
    body.checkpointing = True
    body.weights.append(f"for block in self.{attr}:\n    block.init_weights()")
    # Checkpoint the innermost repeats only: a block that runs repeats checkpoints its own.
    checkpointed = not any(fv.signatures[id(it)].checkpointing for it in iterations)
    single = len(child.inputs) == 1 and all(len(it.inputs) == 1 for it in iterations)
    if single and not child.taps:
        body.init.append(_Built(k, attr, "sequential"))
        if not checkpointed:
            body.stmts.append(Stmt(list(child.outputs), expression(call), list(child.inputs), types, names))
            return
    else:
        body.init.append(_Built(k, attr, "list"))
    loop_names = [name or given.get(child.inputs[0], "") or "x" for name in names]  # never `h`: it carries x
    body.stmts.append(_loop(child, attr, iterations, types, loop_names, checkpointed))


def _shared_loop(fv: FileView, child: Scope, at: tuple[int, str], iterations: list[Scope], body: _Body, types,
                 names, given: dict[Value, str]) -> None:  # fmt: skip
    """`repeat N shared block(...)`: one module, `for _ in range(N): x = self.<attr>(x, ...)`; a repeat
    that continues an earlier one (its label again) calls that module without building one."""
    attr = at[1]
    if not child.continued:
        body.init.append(_Built(at[0], attr, "shared"))
        body.checkpointing |= fv.signatures[id(iterations[0])].checkpointing
        body.weights.append(f"self.{attr}.init_weights()")
    extra = list(iterations[0].inputs[1:])
    if len(iterations) == 1 and not child.taps:  # one call, no loop: an expression like any layer's
        call = f"self.{attr}({', '.join(hole(j) for j in range(1 + len(extra)))})"
        body.stmts.append(Stmt(list(child.outputs), expression(call), [*child.inputs, *extra], types, names))
        return
    args = ", ".join([target(0)] + [hole(1 + j) for j in range(len(extra))])
    lines = [f"{target(0)} = {hole(0)}", f"for _ in range({len(iterations)}):",
             f"    {target(0)} = self.{attr}({args})"]  # fmt: skip
    taps = f"{sanitize(attr)}_out"
    if child.taps:  # each call's output, as `_loop` keeps them
        lines[1:1] = [f"{taps} = []"]
        lines.append(f"    {taps}.append({target(0)})")
    aliases = {it.outputs[0]: expression(f"{taps}[{i}]") for i, it in enumerate(iterations) if i in child.taps}
    loop_names = [name or given.get(child.inputs[0], "") or "x" for name in names]
    body.stmts.append(Stmt(list(child.outputs), statements("\n".join(lines)), [*child.inputs, *extra], types, loop_names,
                           template=True, aliases=aliases, locals=(taps,) if child.taps else ()))  # fmt: skip


def _construct(fv: FileView, child: Scope, lists: dict[str, tuple], given: dict[str, str] | None = None) -> str:
    """`Name(768, 12, qkv_bias=True, **dd)`: the child's parameters with this instance's values
    (or the expressions `given` for some, or an entry of the parent's `lists`), passing
    `grad_checkpointing` on to a class that takes it."""
    sig = fv.signatures[id(child)]
    lifted = {k: repr(v) for k, v in sig.lifted.get(id(child), {}).items()}  # lift.py
    values = {k: repr(native(v)) for k, v in child.args.items()} | lifted | passed(lists, child.args) | (given or {})
    args = [values[p] if p not in sig.defaults else f"{p}={values[p]}" for p in sig.params]
    if sig.checkpointing:
        args.append("grad_checkpointing=grad_checkpointing")
    return f"{sig.name}({', '.join([*args, '**dd'])})"


@dataclass
class _Built:
    """The `__init__` lines that build the k-th child scope as `self.<attr>`: `kind` "one" (a block),
    "shared" (a shared repeat's one module), "sequential" or "list" (a repeat's blocks, in an
    nn.Sequential or nn.ModuleList); written from the children's signatures (`lines`)."""

    k: int
    attr: str
    kind: str

    def lines(self, fv: FileView, children: list[Scope], lists: dict[str, tuple]) -> list[str]:
        child = children[self.k]
        if self.kind == "one":
            return [f"self.{self.attr} = {_construct(fv, child, lists)}"]
        iterations = [it for it in child.items if isinstance(it, Scope)]
        if self.kind == "shared":
            return [f"self.{self.attr} = {_construct(fv, iterations[0], lists)}"]
        schedules = schedule_lines(child, iterations, fv.signatures[id(iterations[0])].params)
        built_each = [_construct(fv, it, lists, {p: f"{p}_schedule[i]" for p in schedules}) for it in iterations]
        if schedules:  # timm's stochastic depth decay rule: one rate per block, from torch.linspace
            built = f"[{built_each[0]} for i in range({len(built_each)})]"
        elif len(set(built_each)) == 1:
            built = f"[{built_each[0]} for _ in range({len(built_each)})]"
        else:  # stages: one call indexing the class's lists (`loops.py`), else each call
            construct = lambda g: _construct(fv, iterations[0], lists, g)  # noqa: E731
            loop = comprehension(lists, iterations, fv.signatures, construct)
            built = loop or "[" + ", ".join(built_each) + "]"
        container = f"nn.Sequential(*{built})" if self.kind == "sequential" else f"nn.ModuleList({built})"
        return [*schedules.values(), f"self.{self.attr} = {container}"]


def _loop(child: Scope, attr: str, iterations: list[Scope], types, names, checkpointed: bool) -> Stmt:
    """`for block in self.<attr>: x = block(x, ...)`; with taps, each output is kept in `<attr>_out`.

    When `checkpointed`, a block runs through torch.utils.checkpoint while training with
    `grad_checkpointing` on: its activations are recomputed in backward instead of stored.
    """
    n = len(child.outputs)
    extra = list(iterations[0].inputs[n:])
    outs = ", ".join(target(i) for i in range(n))
    args = ", ".join([target(i) for i in range(n)] + [hole(n + j) for j in range(len(extra))])
    lines = [f"{outs} = {', '.join(hole(i) for i in range(n))}"]
    taps = f"{sanitize(attr)}_out"
    if child.taps:
        lines.append(f"{taps} = []")
    if checkpointed:
        lines.append(f"checkpointed = {_CHECKPOINTED}")
    call = f"checkpoint(block, {args}, use_reentrant=False) if checkpointed else block({args})"
    lines += [f"for block in self.{attr}:", f"    {outs} = {call if checkpointed else f'block({args})'}"]
    if child.taps:
        lines.append(f"    {taps}.append({target(0)})")
    aliases = {it.outputs[0]: expression(f"{taps}[{i}]") for i, it in enumerate(iterations) if i in child.taps}
    return Stmt(list(child.outputs), statements("\n".join(lines)), [*child.inputs, *extra], types, names, template=True,
                aliases=aliases, locals=(taps,) if child.taps else ())  # fmt: skip


_CHECKPOINTED = "self.grad_checkpointing and self.training"


def _doc(scope: Scope, graph: Graph, is_model: bool) -> str:
    text = (graph.doc or graph.name) if is_model else (scope.doc or f"Block `{scope.block}`.")
    return text.strip().splitlines()[0].strip()
