"""One file for the models of one spec file, shaped like timm's model files.

`merge` takes each model's classes (`classes.build`, block classes first, the model last) and
keeps every block class once; a block class that differs from one of the same name already
kept gets a variant name (`BlocksNoDownsample`, `AttentionB`), never a number. A model whose
class equals one kept already except for its constructor's defaults (and its docstring)
becomes a timm-style entry function calling that class with the other defaults:

    def vit_b16_384(**kwargs) -> VitB16:
        model_args = dict(img_size=384)
        return VitB16(**dict(model_args, **kwargs))
"""

from __future__ import annotations

import ast
import copy
import textwrap
from dataclasses import dataclass, field
from fractions import Fraction

from archgraph.codegen.classes import Result, Written, _variant
from archgraph.codegen.fit import same_value, scalars
from archgraph.codegen.layout import WIDTH, _wrap, layout
from archgraph.codegen.literals import layers
from archgraph.codegen.loops import common_definition, definition_doc, flags
from archgraph.codegen.names import Namespace, camel, sanitize
from archgraph.ir import Graph


@dataclass
class Model:
    """A model of the file: its name, the class that builds it, and for an entry function the
    keyword arguments that differ from the class's defaults (None: the model is the class)."""

    name: str
    cls: str
    doc: str
    arguments: dict | None = None
    params: list[str] = field(default_factory=list)  # the class's keyword arguments from the spec
    with_class: bool = False  # an entry function written after its class (named after another definition)


@dataclass
class Merged:
    blocks: list[ast.ClassDef] = field(default_factory=list)
    models: dict[str, ast.ClassDef] = field(default_factory=dict)  # model class name -> its tree
    entries: list[Model] = field(default_factory=list)  # every model, in the spec's order
    helpers: list[str] = field(default_factory=list)

    @property
    def exports(self) -> list[str]:
        """`__all__`: the model classes and every model's entry function."""
        classes = [m.cls for m in self.entries if m.arguments is None or m.with_class]
        return [*classes, *(sanitize(m.name) for m in self.entries)]


def merge(names: list[str], results: list[Result]) -> Merged:
    """The classes of the models `names` (one Result each), each block class once."""
    out = Merged()
    kept: dict[str, str] = {}  # class name -> its dump
    variants: dict[str, list] = {}  # a block's class name -> (name, layers) of its kept variants
    bases: dict[str, tuple[str, Written]] = {}  # model class name -> (its shape, its Written)
    for name, result in zip(names, results, strict=True):
        renames: dict[str, str] = {}
        for w in result.classes[:-1]:
            tree = _renamed(w.tree, renames)
            new = _keep(tree, kept, variants, out)
            if new != w.signature.name:
                renames[w.signature.name] = new
        for h in result.helpers:
            if h not in out.helpers:
                out.helpers.append(h)
        model = result.classes[-1]
        tree = _renamed(model.tree, renames)
        shape = _model_shape(tree)
        base = next((n for n, (s, _) in bases.items() if s == shape), None)
        if base is not None:
            defaults = bases[base][1].signature.defaults
            mine = model.signature.defaults
            arguments = {p: v for p, v in mine.items() if defaults.get(p) != v or type(defaults.get(p)) is not type(v)}
            out.entries.append(Model(name, base, model.doc, arguments, model.signature.params))
            continue
        tree.name = _unique(tree.name, kept)
        kept[tree.name] = _dump(tree)
        bases[tree.name] = (shape, model)
        out.models[tree.name] = tree
        out.entries.append(Model(name, tree.name, model.doc, None, model.signature.params))
    return out


def merge_fitted(graphs: list[Graph], result: Result) -> Merged:
    """The file of the models `graphs` from their classes fitted together (`build(several=True)`)."""
    out = Merged(helpers=list(result.helpers))
    models = {sig.name for sig in result.models.values()}
    trees = {w.signature.name: w.tree for w in result.classes}
    out.blocks = [w.tree for w in result.classes if w.signature.name not in models]
    for graph in graphs:
        sig = result.models[graph.name]
        doc = (graph.doc or graph.name).strip().splitlines()[0].strip()  # its first line, as `merge`'s
        if sig.name not in out.models:
            out.models[sig.name] = trees[sig.name]  # named after its first model (`named_by_definitions` may rename it)
            out.entries.append(Model(graph.name, sig.name, doc, None, sig.params))
            continue
        mine = scalars({p: graph.params[p] for p in sig.params})  # a list as a tuple, as the defaults
        arguments = {p: v for p, v in mine.items() if not same_value(v, sig.defaults.get(p))}
        out.entries.append(Model(graph.name, sig.name, doc, arguments, sig.params))
    return out


def named_by_definitions(merged: Merged, graphs: list[Graph]) -> Merged:
    """`merged` with each model class that builds several models varying one definition renamed
    after it (`CaitXxs24224` -> `Cait`, its docstring the definition's first paragraph), every one
    of those models then an entry function; a second class of that definition is named by the flags
    its models set (`VitDistilled`), else keeps its name. The one naming rule of both ways a file's
    classes are made (`merge`, `merge_fitted`)."""
    by_name = {g.name: g for g in graphs}
    taken = {t.name for t in merged.blocks} | set(merged.models)
    for cls, tree in list(merged.models.items()):
        entries = [m for m in merged.entries if m.cls == cls]
        common = common_definition(by_name[entries[0].name], [m.name for m in entries])
        if len(entries) < 2 or common is None or common in by_name:
            continue
        new = camel(common)
        if new in taken - {cls}:  # another class has the definition's name: named by its flags
            new += "".join(camel(f) for f in flags(graphs, {m.name for m in entries}))
            if new in taken:  # no flag tells it apart, or that name is taken too
                continue
        taken = (taken - {cls}) | {new}
        tree.name = new
        doc = definition_doc(by_name[entries[0].name], common) if new == camel(common) else ""
        if doc and tree.body and isinstance(tree.body[0], ast.Expr):
            tree.body[0] = ast.Expr(ast.Constant(doc))
        merged.models = {new if k == cls else k: v for k, v in merged.models.items()}
        for m in entries:
            m.cls = new
            if m.arguments is None:  # the class's own model: now an entry function written after it
                m.arguments, m.with_class = {}, True
    return merged


def _keep(tree: ast.ClassDef, kept: dict[str, str], variants: dict, out: Merged) -> str:
    """The name `tree` is kept under: an equal class's of its block, else its own or a variant name."""
    dump, base = _dump(tree), tree.name
    for name, _ in variants.get(base, []):
        if kept[name] == dump:
            return name
    if base in variants:
        tree.name = _variant(base, layers(tree), [v for _, v in variants[base]])
    tree.name = _unique(tree.name, kept)
    variants.setdefault(base, []).append((tree.name, layers(tree)))
    kept[tree.name] = dump
    out.blocks.append(tree)
    return tree.name


def _dump(tree: ast.ClassDef) -> str:
    saved, tree.name = tree.name, ""
    text = ast.dump(tree)
    tree.name = saved
    return text


def _unique(name: str, kept: dict[str, str]) -> str:
    """`name`, or with a letter when a kept class has it (`MlpB`; never a number)."""
    return Namespace(set(kept), classes=True).create(name)


def _renamed(tree: ast.ClassDef, renames: dict[str, str]) -> ast.ClassDef:
    """`tree` with the class names it calls renamed (in place: each build parses its own trees)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in renames:
            node.id = renames[node.id]
    return tree


def _model_shape(tree: ast.ClassDef) -> str:
    """A model class without its name, docstring and constructor defaults."""
    other = copy.deepcopy(tree)
    other.name = ""
    if other.body and isinstance(other.body[0], ast.Expr) and isinstance(other.body[0].value, ast.Constant):
        other.body[0] = ast.Expr(ast.Constant(""))
    for fn in other.body:
        if isinstance(fn, ast.FunctionDef) and fn.name == "__init__":
            fn.args.kw_defaults = [None] * len(fn.args.kw_defaults)
    return ast.dump(other)


def entry_source(model: Model, doc: str) -> str:
    """`def name(**kwargs) -> Class:` calling the class with the model's other defaults."""
    lines = [f"def {sanitize(model.name)}(**kwargs) -> {model.cls}:", *_docstring(doc)]
    if model.arguments:
        call = ast.Call(ast.Name("dict"), [], [ast.keyword(k, _literal(v)) for k, v in model.arguments.items()])
        line = f"    model_args = {ast.unparse(call)}"
        lines += _wrap(line) if len(line) > WIDTH else [line]
        lines.append(f"    return {model.cls}(**dict(model_args, **kwargs))")
    else:
        lines.append(f"    return {model.cls}(**kwargs)")
    return "\n".join(lines)


def _literal(value) -> ast.expr:
    """`value` as code: a float that is a fraction with a small denominator and no short decimal as
    that fraction (`mlp_ratio=48 / 11`, as timm writes ViT-g's), else its literal."""
    if type(value) is float and len(repr(value)) > 10:
        fraction = Fraction(value).limit_denominator(1000)
        if fraction.denominator > 1 and fraction.numerator / fraction.denominator == value:
            return ast.BinOp(ast.Constant(fraction.numerator), ast.Div(), ast.Constant(fraction.denominator))
    return ast.Constant(value)


def _docstring(doc: str) -> list[str]:
    """An entry function's docstring lines, wrapped to WIDTH at spaces."""
    if len(doc) + 10 <= WIDTH:
        return [f'    """{doc}"""']
    lines = textwrap.wrap(doc, WIDTH - 7, initial_indent='    """', subsequent_indent="    ", break_long_words=False)
    return [*lines[:-1], lines[-1] + '"""']


def sources(merged: Merged, docs: dict[str, str]) -> list[str]:
    """The block classes, then in the spec's order each model's class (where it has one of its own) and
    its entry function, as timm's files end (`def resnet50(**kwargs)`; `docs`: an entry function's
    docstring by model name)."""
    out = [layout(t) for t in merged.blocks]
    for m in merged.entries:
        if m.arguments is None or m.with_class:
            out.append(layout(merged.models[m.cls]))
        out.append(entry_source(m, docs[m.name]))
    return out
