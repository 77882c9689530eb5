"""One class per block definition: every instance's code, sizes turned into the block's parameters.

`build(graphs)` writes each scope of `graphs[0]` (the model) and of its other lowerings (the
same model at other sizes) as a class with literal sizes, children first. Instances of one
block whose code has the same shape share a class: each literal that differs between them
becomes a formula of the block's parameters (`fit`), constructor arguments in `__init__` and
`self.<name>` elsewhere. Instances that no formula reconciles get a class of their own.
The builds of one model share their rendered scopes and parsed sources (`memo.Views`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from archgraph import syntax as s
from archgraph.codegen import optional, parts
from archgraph.codegen.classifier import optional_head
from archgraph.codegen.fit import expression, float_parameters, is_list, native
from archgraph.codegen.helpers import HELPERS
from archgraph.codegen.knobs import strip, used_helpers
from archgraph.codegen.literals import literals as literals_of
from archgraph.codegen.memo import Views
from archgraph.codegen.names import Namespace, camel
from archgraph.codegen.parts import Fitted, Instance, Part
from archgraph.codegen.view import ClassView, FileView, Signature
from archgraph.ir import Graph, Scope


@dataclass
class Written:
    """A finished class: its tree, and the signature its parents call."""

    tree: ast.ClassDef | None  # None from a build that only names the classes
    signature: Signature
    doc: str


class UnfittedError(Exception):
    """The other lowerings hold a block the model does not (a structural parameter was varied)."""


@dataclass
class Result:
    classes: list[Written]
    helpers: list[str]
    models: dict[str, Signature] = field(default_factory=dict)  # model name -> the class that builds it


def build(graphs: list[Graph], allowed: set[str] | dict[str, set[str]], views: Views | None = None,
          write: bool = True, *, several: bool = False) -> Result:  # fmt: skip
    """The classes of `graphs[0]`, in dependency order, model last; the other graphs (the same
    model at other sizes) only add instances to fit formulas on. The model's formulas use only
    its parameters in `allowed` (the others are fixed in the file). `views`: what earlier
    builds rendered. Unless `write`, only the signatures are made (no trees). With `several`, the
    graphs may be other models, with blocks of their own, each model class named after its first
    model, and `allowed` is by model name (a class shared by models takes what all of them allow)."""
    views = views or Views()
    fvs = [views.file_view(g) for g in graphs]
    groups = _groups(graphs, fvs, views, several)
    names = Namespace(set(HELPERS), classes=True)
    model_names = {n: names.create(camel(n)) for n in dict.fromkeys(g.name for g in graphs)}
    written: list[Written] = []
    defaults = dict(_LAYER_DEFAULTS)
    callees: dict[str, tuple[str, ...]] = {}  # each class written so far -> its parameters (to name lifted ones)
    for key, members in groups.items():
        is_model = key == ""
        instances = _instances(fvs, members, views)
        if not is_model:
            instances = optional.merge(instances, _order(members), views)
        siblings: list[list[str]] = []  # the layers of the block's classes so far, before `_finish` adds attributes
        for part in parts.partition(instances):
            order = _model_order(graphs, part, allowed) if is_model else _order(members)
            for fitted in parts.fitted(views, part, order, lift=not is_model, callees=callees):
                layers = fitted.members[0].layers
                if is_model:  # named after its first model (`assemble.named_by_definitions` may rename it)
                    name = model_names[graphs[min(i for m in fitted.members for i, _ in m.scopes)].name]
                else:
                    name = names.create(_variant(camel(key), layers, siblings))
                siblings.append(layers)
                sig = _sign(fitted, name, fvs, _defaults(graphs[0], key), is_model)
                tree = _finish(fitted, sig, is_model) if write else None
                if tree is not None:
                    _drop_defaults(tree, defaults)
                written.append(Written(tree, sig, fitted.members[0].doc))
                defaults[name] = sig.defaults
                callees[name] = tuple(sig.params)
    found = [h for fv in fvs for h in fv.helpers]
    found = sorted(set(found), key=found.index)
    helpers = used_helpers(found, [w.tree for w in written]) if write else found
    models = {g.name: fvs[i].signatures[id(g.root)] for i, g in enumerate(graphs)}
    return Result(written, helpers, models)


# Keyword arguments a layer's emitter always writes (so instances compare), dropped at their default.
_CONV = {"stride": 1, "padding": 0, "groups": 1}
_LAYER_DEFAULTS = {"nn.Conv2d": {**_CONV, "bias": True}, "nn.Linear": {"bias": True}, "StdConv2d": _CONV,
                   "StdConv2dSame": _CONV}  # fmt: skip


def _drop_defaults(tree: ast.ClassDef, defaults: dict[str, dict[str, Any]]) -> None:
    """Remove keyword arguments written at the callee's default (`stride=1`, `qkv_bias=True`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (known := defaults.get(ast.unparse(node.func))):
            node.keywords = [kw for kw in node.keywords if not (
                kw.arg in known and isinstance(kw.value, ast.Constant)
                and type(kw.value.value) is type(known[kw.arg]) and kw.value.value == known[kw.arg])]  # fmt: skip


def _variant(base: str, mine: list[str], siblings: list[list[str]]) -> str:
    """The class name of a second, differently built instance of a block: named after a layer
    it has and the first has not (`BlocksDownsample`), or one it lacks (`BlocksNoDownsample`);
    a name already taken gets a letter from `Namespace.create` (`StagesDownsampleB`)."""
    if not siblings:
        return base
    first = siblings[0]
    extra = [a for a in mine if a not in first]
    missing = [a for a in first if a not in mine]
    return base + (camel(extra[0]) if extra else "No" + camel(missing[0]) if missing else "Variant")


def _groups(graphs: list[Graph], fvs: list[FileView], views: Views, several: bool = False) -> dict[str, list]:
    """Block scopes by block name (the model as ""), children before parents, as `graphs[0]` orders them
    (unless `several`, the other graphs may hold no block `graphs[0]` does not): each a list of
    (graph index, `Views.grouped` of the graph's scopes of the block)."""
    groups: dict[str, list] = {}
    keys = _group_keys(graphs, views)
    for i, fv in enumerate(fvs):
        for key, grouped in views.grouped(fv, keys).items():
            if i and key not in groups and not several:
                raise UnfittedError(key)
            groups.setdefault(key, []).append((i, grouped))
    return _children_first(groups, keys)


def _group_keys(graphs: list[Graph], views: Views) -> dict[tuple[str, object], str]:
    """(scope.block, scope.span) -> the scope's class key: the block's name, except for iterations of
    group repeats that share a label but are different statements (`g0` in two blocks): `g0`, `g0_1`."""
    definitions = graphs[0].program.definitions if graphs[0].program is not None else {}
    spans: dict[str, list] = {}
    pairs = {pair for g in graphs for pair in views.inner(g.root)}
    for block, span in sorted(pairs, key=lambda p: (p[0], str(p[1]))):
        if block not in definitions:  # a group repeat's label, not a block definition
            spans.setdefault(block, []).append(span)
    keys = {}
    for block, span in pairs:
        group = spans.get(block, [span])
        keys[block, span] = block if group.index(span) == 0 else f"{block}_{group.index(span)}"
    return keys


def _children_first(groups: dict[str, list], keys: dict) -> dict[str, list]:
    """`groups` reordered so that every block comes after the blocks inside any of its scopes (a group
    repeat's last iteration may call a block its first does not: DINO's attention map)."""
    inside = {key: list(dict.fromkeys(keys[pair] for _, grouped in members for pair in grouped[1]))
              for key, members in groups.items()}  # fmt: skip
    ordered: dict[str, list] = {}
    visiting: set[str] = set()

    def visit(key: str) -> None:
        if key in ordered or key in visiting or key not in groups:
            return
        visiting.add(key)
        for sub in inside[key]:
            visit(sub)
        ordered[key] = groups[key]

    for key in groups:
        visit(key)
    return ordered


def _postorder(scope: Scope):
    for item in scope.items:
        if isinstance(item, Scope):
            yield from _postorder(item)
    if scope.kind != "repeat":
        yield scope


def _instances(fvs: list[FileView], members: list, views: Views) -> list[Instance]:
    """The distinct (code, parameter values) pairs of a block's scopes (`_groups`), found once for
    the scopes of one class (`Views.same`)."""
    seen: dict[tuple[str, str], Instance] = {}
    for i, (classes, _) in members:
        fv = fvs[i]
        for scopes in classes:
            source, checkpointing, doc = views.source(fv, scopes[0])
            env, env_key = views.env(fv.graph, scopes[0])
            key = (source, env_key)
            if key not in seen:
                literals = views.literals(source)
                seen[key] = Instance(source, dict(env), checkpointing, doc, *literals)  # `Lifter` adds to env
            seen[key].scopes += [(i, scope) for scope in scopes]
    return list(seen.values())


def _model_order(graphs: list[Graph], part: Part, allowed: set[str] | dict[str, set[str]]) -> list[str]:
    """The model parameters a model class may take, in its first model's order."""
    first = graphs[min(i for i, _ in part.scopes)]
    if isinstance(allowed, dict):
        allowed = set.intersection(*(allowed[graphs[i].name] for i, _ in part.scopes))
    return [n for n in first.params if n in allowed]


def _order(members: list) -> list[str]:
    """A block's names (parameters, then the widths its input shapes bind), as the model binds them."""
    return list(min(members, key=lambda m: m[0])[1][0][0][0].args)  # the first graph holding the block


def _defaults(graph: Graph, key: str) -> dict[str, Any]:
    """The literal defaults of a block definition's parameters (none for a repeat's body), a float
    parameter's as a float (`mlp_ratio: float = 4` is written `4.0`, as `memo.Views.env` fits it)."""
    program = graph.program
    block = program.definitions.get(key) if program is not None else None
    if not isinstance(block, s.Block):
        return {}
    floats, out = float_parameters(block), {}
    for p in block.params:
        if isinstance(p.default, (s.Number, s.Bool)):
            value = native(p.default.value)
            out[p.name] = float(value) if p.name in floats and type(value) is int else value
    return out


def _sign(f: Fitted, name: str, fvs: list[FileView], defaults: dict, is_model: bool) -> Signature:
    """The class's signature (its parameters, the block's defaults), noted for every scope it writes."""
    env0 = f.members[0].env
    if is_model:
        params, defaults = f.params, {p: env0[p] for p in f.params}
    else:
        params = sorted(f.params, key=lambda p: p in defaults)
        defaults = {p: defaults[p] for p in params if p in defaults}
    sig = Signature(name, params, defaults, f.members[0].checkpointing)
    for m in f.members:
        for i, scope in m.scopes:
            fvs[i].signatures[id(scope)] = sig
            if f.lifter is not None and f.lifter.lifted:
                sig.lifted[id(scope)] = f.lifter.values(m)
    return sig


def _finish(f: Fitted, sig: Signature, is_model: bool) -> ast.ClassDef:
    """The class's tree: the first member's source, its literals replaced by the formulas."""
    tree = ast.parse(f.members[0].source).body[0]
    tree.name = sig.name
    literals = literals_of(tree)
    replace = {id(literals[k][1]): expression(e, f.attributes if literals[k][0] != "__init__" else set())
               for k, e in f.formulas.items()}  # fmt: skip

    class Sub(ast.NodeTransformer):
        def visit_Constant(self, node: ast.Constant) -> ast.AST:
            return replace.get(id(node), node)

    tree = strip(Sub().visit(tree))
    _signature(tree, sig.params, sig.defaults, f.attributes, f.members[0].env, is_model)
    if is_model:
        optional_head(tree)
    return tree


def _signature(tree: ast.ClassDef, params: list[str], defaults: dict, attributes: set[str], env: dict,
               keyword: bool) -> None:  # fmt: skip
    """Add the parameters to `__init__` (keyword-only for a model) and keep those forward reads."""
    init = next(fn for fn in tree.body if isinstance(fn, ast.FunctionDef) and fn.name == "__init__")
    args = [ast.arg(p, ast.Name(_type(env[p], defaults.get(p)), ast.Load())) for p in params]
    values = [ast.Constant(defaults[p]) for p in params if p in defaults]
    if keyword:
        init.args.kwonlyargs[:0] = args
        init.args.kw_defaults[:0] = values
    else:
        init.args.args += args
        init.args.defaults += values
    at = next(i for i, st in enumerate(init.body) if isinstance(st, ast.Assign) and ast.unparse(st.targets[0]) == "dd")
    keep = [ast.parse(f"self.{p} = {p}").body[0] for p in params if p in attributes]
    init.body[at + 1 : at + 1] = keep


def _type(value: Any, default: Any = None) -> str:
    """A parameter's annotation: its value's type, `float` where the default is a float (`mlp_ratio:
    float = 4.0` given 4), `tuple` for a list."""
    if is_list(value):
        return "tuple"
    return "float" if type(value) is int and type(default) is float else type(value).__name__


def class_source(cls: ClassView) -> str:
    """A class's source with literal sizes (what `build` parses and fits)."""
    from archgraph.codegen import _docstring_safe

    kw = "grad_checkpointing: bool = False, " if cls.checkpointing else ""
    kw += "".join(f"{flag}: bool = False, " for flag in cls.flags)
    out = [
        "class C(nn.Module):",
        f'    """{_docstring_safe(cls.doc)}"""',
        f"    def __init__(self, *, {kw}device=None, dtype=None) -> None:",
        "        super().__init__()",
        '        dd = {"device": device, "dtype": dtype}',
        *_indent(cls.init_lines),
        *(["        self.init_weights()"] if cls.is_model else []),
        "    def init_weights(self) -> None:",
        '        """Initialise the weights as timm does."""',
        *_indent(cls.weight_lines),
        *(cls.methods or _forward(cls)),
    ]
    return "\n".join(out) + "\n"


def _forward(cls: ClassView) -> list[str]:
    return [
        f"    def forward(self, {', '.join(f'{a}: torch.Tensor' for a in cls.args)}){cls.annotation}:",
        *_indent(cls.lines),
        f"        return {cls.returns}",
    ]


def _indent(lines: list[str]) -> list[str]:
    return ["        " + part for line in lines for part in line.split("\n")]
