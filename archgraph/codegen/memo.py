"""What the builds of one model share: each scope's class, built once and written once per signatures.

`_classes` builds a model's classes several times (the model, then with its other lowerings
added). A block scope's literal-size class depends only on what the lowering saw when it ran
the block (its definition and call site, its arguments, its input types: the lowering runs a
block on those alone), on whether a ReLU may overwrite one of its inputs, and on its children:
their classes and their signatures. The scopes that agree on all but the signatures are one
class (`same`: the iterations of a repeat, a block a lowering at another size leaves alone):
each build looks it up once per lowering for all its scopes there, its code is built from the
graph once (`class_view`'s skeleton), and its source is written once per set of children's
signatures (only their constructors change). A source's literals are found statement by
statement, each statement parsed once. Also kept: the optional layers' merges of a block's
sources and the fit of a block whose instances a build left as they were. A scope whose nodes
read a value from outside its inputs is always rendered.
"""

from __future__ import annotations

import ast
from collections import Counter
from typing import Any

from archgraph import syntax as s
from archgraph.codegen.fit import float_parameters, scalars
from archgraph.codegen.literals import NUMERIC, layers, literals, walk
from archgraph.codegen.view import FileView, Signature, class_view
from archgraph.ir import Graph, Scope, Value


class Views:
    """Rendered classes by scope key, and each distinct source's shape and literals, for one model."""

    def __init__(self) -> None:
        self.rendered: dict[tuple, tuple[str, bool, str, tuple[str, ...]]] = {}
        self.parsed: dict[str, tuple[bytes, list[str], list[Any], list[str]]] = {}
        self.graphs: dict[int, tuple[Graph, Counter]] = {}  # keeps each graph alive: ids stay unique
        self.own: dict[tuple[int, int], tuple | None] = {}  # (graph, scope) -> the key's part the children leave out
        self.orders: dict[int, list[Scope]] = {}  # scope -> `postorder`
        self.envs: dict[int, tuple[dict[str, Any], str]] = {}  # scope -> `env(scope)`
        self.arguments: dict[int, str] = {}  # scope -> `_args(scope.args)`
        self.signatures: dict[int, tuple[Signature, int]] = {}  # signature -> its number (the signature kept alive)
        self.classes: dict[int, int | None] = {}  # scope -> its class (`same`)
        self.interned: dict[tuple, int] = {}  # a class's or signature's key -> its number
        self.merges: dict[tuple[str, ...], list] = {}  # sources of a block's shapes -> `optional._merges`
        self.parts: dict[str, tuple] = {}  # a statement or methods' text -> `_statements` or `_methods`
        self.groupings: dict[tuple, dict] = {}  # (graph, the block keys) -> `grouped`
        self.closed: dict[int, dict[int, bool]] = {}  # graph -> `_closed`
        self.inners: dict[int, list[tuple[str, Any]]] = {}  # scope -> `inner`
        self.fits: dict[tuple, list] = {}  # a block's instances -> `parts.fitted`
        self.skeletons: dict[Any, dict] = {}  # `same` (or the model) -> `class_view`'s skeletons

    def file_view(self, graph: Graph) -> FileView:
        """A fresh FileView of `graph`, its read counts computed once per model."""
        if id(graph) not in self.graphs:
            fv = FileView(graph, {})
            self.graphs[id(graph)] = (graph, fv.uses)
        fv = FileView(graph, {})
        fv.__dict__["uses"] = self.graphs[id(graph)][1]  # the cached_property, filled in
        return fv

    def source(self, fv: FileView, scope: Scope) -> tuple[str, bool, str]:
        """The scope's class source (literal sizes), whether it takes `grad_checkpointing`, its doc;
        the helpers it calls are noted in `fv.helpers` as `class_view` would."""
        from archgraph.codegen.classes import class_source

        key = self._key(fv, scope)
        hit = self.rendered.get(key) if key is not None else None
        if hit is None:
            saved, fv.helpers = fv.helpers, []
            try:
                same = ("model", id(fv.graph)) if scope is fv.graph.root else self.same(fv, scope)
                view = class_view(fv, scope, None if same is None else self.skeletons.setdefault(same, {}))
            finally:
                touched, fv.helpers = fv.helpers, saved
            hit = (class_source(view), view.checkpointing, view.doc, tuple(touched))
            if hit[0] not in self.parsed:
                self.parsed[hit[0]] = self._pieces(hit[0], view)
            if key is not None:
                self.rendered[key] = hit
        fv.helpers.extend(h for h in hit[3] if h not in fv.helpers)
        return hit[0], hit[1], hit[2]

    def same(self, fv: FileView, scope: Scope) -> int | None:
        """A number shared by the scopes (of any lowering) that get the same `source` key in every build:
        their own parts and their children's labels and arguments agree, and their children are
        the same in turn (so they get the same class). None for a scope whose key is None."""
        if id(scope) not in self.classes:
            children = tuple(self._child_same(fv, item) for item in scope.items if isinstance(item, Scope))
            own = self._own(fv, scope) if scope is not fv.graph.root else None
            found = (
                None
                if own is None or None in children
                else self.interned.setdefault((own, children), len(self.interned))
            )
            self.classes[id(scope)] = found
        return self.classes[id(scope)]

    def _child_same(self, fv: FileView, child: Scope) -> tuple | None:
        """`_child_key` with each child's class in place of its signature (None if a child has none)."""
        if child.kind != "repeat":
            same = self.same(fv, child)
            return None if same is None else (child.label, self._args(child), same)
        iterations = tuple((self._args(it), self.same(fv, it), len(it.inputs), len(it.outputs))
                           for it in child.items if isinstance(it, Scope))  # fmt: skip
        if any(it[1] is None for it in iterations):
            return None
        return (child.label, "repeat", child.shared, tuple(child.taps), len(child.inputs), iterations)

    def literals(self, source: str) -> tuple[bytes, list[str], list[Any], list[str]]:
        """A class source's shape (its syntax tree, literals blanked), each literal's method and
        value, and the layers its `__init__` assigns."""
        if source not in self.parsed:
            tree = ast.parse(source).body[0]
            found = literals(tree)
            values = [c.value for _, c in found]
            blank = [c for _, c in found]
            if isinstance(doc := tree.body[0], ast.Expr) and isinstance(doc.value, ast.Constant):
                blank.append(doc.value)  # the models of one file share a class whatever their docs
            self.parsed[source] = (_blanked(source, blank), [m for m, _ in found], values, layers(tree))
        return self.parsed[source]

    def _pieces(self, source: str, view) -> tuple[bytes, list[str], list[Any], list[str]]:
        """`literals(source)` of `source = class_source(view)`, from its parts, each parsed once (a
        class's sources differ in a few lines): each statement of `__init__`, then its other methods."""
        lines = source.split("\n")
        shape, methods, values, layers = [line.encode() for line in lines[:5]], [], [], []
        shape[1] = b"    ..."  # the docstring, blanked
        at = 5
        for text in view.init_lines:
            n = text.count("\n") + 1
            if lines[at : at + n] != ["        " + part for part in text.split("\n")]:
                return self.literals(source)
            blanked, found, assigned = self._statements(text)
            shape += [b"        " + line for line in blanked.split(b"\n")]
            methods += ["__init__"] * len(found)
            values += found
            layers += assigned
            at += n
        shape += [line.encode() for line in lines[at : at + view.is_model]]  # `self.init_weights()`
        rest = "\n".join(lines[at + view.is_model :])
        if not (lines[1].startswith('    """') and lines[2].startswith("    def __init__(")
                and rest.startswith("    def init_weights(")):  # fmt: skip
            return self.literals(source)
        blanked, found = self._methods(rest)
        return b"\n".join([*shape, blanked]), methods + [m for m, _ in found], values + [v for _, v in found], layers

    def _statements(self, text: str) -> tuple[bytes, list[Any], list[str]]:
        """Statements of `__init__` (unindented): blanked, their literals' values, the layers they assign."""
        if text not in self.parts:
            body = ast.parse(text).body
            found = [n for st in body for n in walk(st) if isinstance(n, ast.Constant) and type(n.value) in NUMERIC]
            layers = [t.attr for st in body if isinstance(st, ast.Assign) for t in st.targets
                      if isinstance(t, ast.Attribute)]  # fmt: skip
            self.parts[text] = (_blanked(text, found), [c.value for c in found], layers)
        return self.parts[text]

    def _methods(self, text: str) -> tuple[bytes, list[tuple[str, Any]]]:
        """Methods (class-body indentation): blanked, and each literal's method and value."""
        if text not in self.parts:
            wrapped = "class C:\n" + text
            found = literals(ast.parse(wrapped).body[0])
            self.parts[text] = (_blanked(wrapped, [c for _, c in found]).split(b"\n", 1)[1],
                                [(m, c.value) for m, c in found])  # fmt: skip
        return self.parts[text]

    def grouped(self, fv: FileView, keys: dict) -> dict[str, tuple[list[list[Scope]], list[tuple[str, Any]]]]:
        """The graph's block scopes by their class key (`keys[block, span]`, the model as ""), first
        seen first: each key's scopes by `same` (a scope without one alone), and the distinct
        (block, span) inside them."""
        token = (id(fv.graph), frozenset(keys.items()))
        if token not in self.groupings:
            found: dict[str, tuple[dict, dict]] = {}
            for scope in self.postorder(fv.graph.root):
                key = "" if scope is fv.graph.root else keys[scope.block, scope.span]
                classes, inner = found.setdefault(key, ({}, {}))
                same = self.same(fv, scope)
                classes.setdefault(("scope", id(scope)) if same is None else same, []).append(scope)
                inner.update(dict.fromkeys(self.inner(scope)))
            self.groupings[token] = {key: (list(c.values()), list(inner)) for key, (c, inner) in found.items()}
        return self.groupings[token]

    def postorder(self, scope: Scope) -> list[Scope]:
        """`scope`'s block scopes (repeats left out), children first, `scope` last unless a repeat."""
        if id(scope) not in self.orders:
            from archgraph.codegen.classes import _postorder

            self.orders[id(scope)] = list(_postorder(scope))
        return self.orders[id(scope)]

    def inner(self, scope: Scope) -> list[tuple[str, Any]]:
        """The distinct (block, span) of the block scopes strictly inside `scope`, first seen first
        (in postorder): each child's, then the child's own (a repeat has none)."""
        if id(scope) not in self.inners:
            pairs: dict[tuple[str, Any], None] = {}
            for item in scope.items:
                if isinstance(item, Scope):
                    pairs.update(dict.fromkeys(self.inner(item)))
                    if item.kind != "repeat":
                        pairs[item.block, item.span] = None
            self.inners[id(scope)] = list(pairs)
        return self.inners[id(scope)]

    def env(self, graph: Graph, scope: Scope) -> tuple[dict[str, Any], str]:
        """The numeric and boolean names a scope's class is fitted over (the model's parameters at the
        root), and their sorted repr (instances compare by it). A float parameter of the block
        (`fit.float_parameters`: `mlp_ratio: float` given 4) is a float."""
        if id(scope) not in self.envs:
            env = scalars(graph.params if scope is graph.root else scope.args)
            for name in _floats(graph, scope):
                if type(env.get(name)) is int:
                    env[name] = float(env[name])
            self.envs[id(scope)] = (env, repr(sorted(env.items())))
        return self.envs[id(scope)]

    def _args(self, scope: Scope) -> str:
        if id(scope) not in self.arguments:
            self.arguments[id(scope)] = _args(scope.args)
        return self.arguments[id(scope)]

    def _key(self, fv: FileView, scope: Scope) -> tuple | None:
        """The scope's class (`same`; the model's graph) and its children's signatures (each iteration's)."""
        children = tuple(self._child_key(fv, item) for item in scope.items if isinstance(item, Scope))
        if scope is fv.graph.root:
            return (id(fv.graph), "model", children)
        same = self.same(fv, scope)
        return None if same is None else (same, children)

    def _own(self, fv: FileView, scope: Scope) -> tuple | None:
        at = (id(fv.graph), id(scope))
        if at not in self.own:
            if id(fv.graph) not in self.closed:
                self.closed[id(fv.graph)] = _closed(fv.graph)
            self.own[at] = _own(fv, scope, self._args(scope)) if self.closed[id(fv.graph)][id(scope)] else None
        return self.own[at]

    def _signature(self, sig: Signature) -> int:
        """A number per distinct (name, parameters, defaults, checkpointing)."""
        if id(sig) not in self.signatures:
            key = (sig.name, tuple(sig.params), repr(sorted(sig.defaults.items())), sig.checkpointing)
            self.signatures[id(sig)] = (sig, self.interned.setdefault(("signature", key), len(self.interned)))
        return self.signatures[id(sig)][1]

    def _child_key(self, fv: FileView, child: Scope) -> tuple:
        """What a parent's class takes from a child besides its class: its signature and lifted
        arguments (each iteration's)."""
        if child.kind != "repeat":
            return (self._signature(fv.signatures[id(child)]), _lifted(fv, child))
        return tuple((self._signature(fv.signatures[id(it)]), _lifted(fv, it)) for it in child.items
                     if isinstance(it, Scope))  # fmt: skip


def _floats(graph: Graph, scope: Scope) -> set[str]:
    """`fit.float_parameters` of the block of `scope` (none for the model, whose parameters
    `families._as_floats` lowers again as floats, or for a repeat's body)."""
    program = graph.program
    block = program.definitions.get(scope.block) if program is not None and scope is not graph.root else None
    return float_parameters(block) if isinstance(block, s.Block) else set()


def _closed(graph: Graph) -> dict[int, bool]:
    """Scope id -> whether every value its nodes (nested scopes' included) read, and each of its
    outputs, is made inside it or is one of its inputs."""
    spans: dict[int, tuple[int, int]] = {}  # scope id -> the range of preorder numbers of the scopes in it
    where: dict[str, int] = {}  # node id -> the preorder number of its scope
    order: list[Scope] = []

    def number(scope: Scope) -> None:
        start = len(order)
        order.append(scope)
        for item in scope.items:
            if isinstance(item, Scope):
                number(item)
            else:
                where[item] = start
        spans[id(scope)] = (start, len(order) - 1)

    number(graph.root)
    closed: dict[int, bool] = {}
    outside: dict[int, set[Value]] = {}  # scope id -> the values read inside that are made outside it
    for scope in reversed(order):  # children before parents
        first, last = spans[id(scope)]
        read = [v for n in scope.items if not isinstance(n, Scope) for v in graph.nodes[n].inputs]
        read += [v for sc in scope.items if isinstance(sc, Scope) for v in outside[id(sc)]]
        outside[id(scope)] = {v for v in read if not first <= where.get(v.node, -1) <= last}
        given = set(scope.inputs)
        outputs = [v for v in scope.outputs if not first <= where.get(v.node, -1) <= last]
        closed[id(scope)] = all(v in given for v in [*outside[id(scope)], *outputs])
    return closed


def _own(fv: FileView, scope: Scope, args: str) -> tuple:
    """What the lowering decided a block scope's nodes from (for a scope `_closed` holds: its
    nodes read no value from outside its inputs; the others are never shared); `args`: `_args(scope.args)`."""
    graph = fv.graph
    inputs = tuple((graph.type_of(v), _fresh_once(fv, v)) for v in scope.inputs)
    return (scope.block, scope.span, scope.kind, scope.doc, args, inputs, tuple(scope.input_names))


def _lifted(fv: FileView, child: Scope) -> str:
    """The arguments `lift.py` gave a child scope (its parent passes them), as text."""
    lifted = fv.signatures[id(child)].lifted.get(id(child))
    return repr(sorted(lifted.items())) if lifted else "[]"


def _args(args: dict[str, Any]) -> str:
    return repr(sorted((k, type(v).__name__, v) for k, v in args.items()))


def _blanked(source: str, found: list[ast.Constant]) -> bytes:
    """The source with each constant's text (a literal, the docstring) replaced by `...`: sources agree
    on it exactly when their syntax trees agree but for those (the code has no value-dependent comments)."""
    text = source.encode()  # the trees' columns count UTF-8 bytes
    starts = [0]
    for line in text.split(b"\n"):
        starts.append(starts[-1] + len(line) + 1)
    for c in sorted(found, key=lambda c: (c.lineno, c.col_offset), reverse=True):
        a, b = starts[c.lineno - 1] + c.col_offset, starts[c.end_lineno - 1] + c.end_col_offset
        text = text[:a] + b"..." + text[b:]  # the last first, so the offsets of the earlier ones stay put
    return text


def _fresh_once(fv: FileView, v: Value) -> bool:
    """Whether a ReLU reading input `v` could run in place (its producer's op, its read count)."""
    from archgraph.codegen.view import _FRESH

    return fv.graph.nodes[v.node].op in _FRESH and fv.uses[v] == 1
