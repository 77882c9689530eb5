"""The body of a generated `forward`: one statement per node or child module, in graph order.

Single-use unnamed values are inlined into their consumer (`self.attn(self.norm1(x))`);
variables take the spec's names, and a name is reused only once its old value is dead,
so the code reads like the spec and stays correct.

Statements are syntax trees (`ast`). An op's code is parsed once (`expression`), its inputs
written as the names `hole(k)`; those become `Name` nodes tagged `hole = k`, and a loop's
assigned variables (`target(k)`) nodes tagged `target = k`. Inlining puts the producer's tree in
the hole's place (`ast.unparse` adds the parentheses precedence needs); a value kept in a
variable is a `Name` tagged `ref = value`, named once every statement is known.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from archgraph.codegen.names import sanitize
from archgraph.ir import TensorType, Value

Code = ast.expr | list[ast.stmt]


@dataclass
class Stmt:
    """`defs = code`: code is an expression tree whose `hole` names read the values in `uses`,
    or, for a template, statements that also assign its `target` names."""

    defs: list[Value]
    code: Code
    uses: list[Value]
    types: list[TensorType]  # unused: the generated code is printed from its syntax tree, without comments
    names: list[str]  # preferred variable names of defs
    locals: tuple[str, ...] = ()  # variables the code binds itself (a loop's taps list): no value takes them
    pure: bool = False  # an attribute read: inlined wherever it is used
    template: bool = False  # code places its own targets: a loop over a ModuleList
    aliases: dict[Value, ast.expr] = field(default_factory=dict)  # values it makes readable by expression
    holes: list[int] = field(init=False)  # the input read by each hole, in the code's order

    def __post_init__(self) -> None:
        listed = getattr(self.code, "holes", None)  # by `expression` and `statements`
        self.holes = _holes(self.code) if listed is None else listed


_PLACEHOLDERS = {"hole": ("__in", "__"), "target": ("__out", "__")}  # tag -> name's head and tail


def hole(k: int) -> str:
    """The name standing for input `k` in code passed to `expression` or `statements`."""
    head, tail = _PLACEHOLDERS["hole"]
    return f"{head}{k}{tail}"


def target(k: int) -> str:
    """The name standing for the variable of output `k` in a template's `statements`."""
    head, tail = _PLACEHOLDERS["target"]
    return f"{head}{k}{tail}"


@lru_cache(maxsize=4096)
def expression(code: str) -> ast.expr:
    """The tree of one expression (an op's call), its `hole(k)` names tagged and the holes listed
    in `tree.holes`; shared, never changed."""
    tree = ast.parse(code, mode="eval").body
    _tagged(tree)
    tree.holes = _holes(tree)
    return tree


@lru_cache(maxsize=1024)
def statements(code: str) -> list[ast.stmt]:
    """The trees of a template's statements, its `hole(k)` and `target(k)` names tagged; shared, never changed."""
    trees = _Statements(ast.parse(code).body)
    for tree in trees:
        _tagged(tree)
    trees.holes = _holes(trees)
    return trees


class _Statements(list):
    """A template's statements, and the input each of their holes reads (`holes`, as `expression`'s)."""

    holes: list[int]


def _tagged(node: ast.AST) -> bool:
    """Tag the placeholder names under `node` and mark them and each node above one (`spine`): the
    nodes a substitution visits, the others being shared. Whether `node` holds a tagged name."""
    found = False
    for child in ast.iter_child_nodes(node):
        found = _tagged(child) or found
    if isinstance(node, ast.Name):
        for tag, (head, tail) in _PLACEHOLDERS.items():
            index = node.id.removeprefix(head).removesuffix(tail)
            if node.id == f"{head}{index}{tail}" and index.isdigit():
                setattr(node, tag, int(index))
                found = True
    if found:
        node.spine = True
    return found


def _holes(code: Code) -> list[int]:
    """The input each hole of `code` reads, in the tree's order."""
    if isinstance(code, list):
        return [k for tree in code for k in _holes(tree)]
    if "hole" in code.__dict__:
        return [code.hole]
    if "spine" not in code.__dict__:
        return []
    return [k for child in ast.iter_child_nodes(code) for k in _holes(child)]


def render(stmts: list[Stmt], inputs: list[tuple[Value, str]], outputs: list[Value],
           output_names: tuple[str, ...] = ()) -> tuple[list[str], str]:  # fmt: skip
    """Lines of the forward body and its return expression (a dict
    when `output_names` are given), printed from their trees.

    `inputs` pairs each argument's value with its (legal, distinct) Python name.
    """
    uses = Counter(outputs)
    for st in stmts:  # a hole written k times is k reads: inlining its producer would compute it k times
        uses.update(st.uses[k] for k in st.holes)
    inline: dict[Value, Stmt] = {}
    for st in stmts:
        if len(st.defs) == 1 and not st.template and (st.pure or (uses[st.defs[0]] == 1 and not st.names[0])):
            inline[st.defs[0]] = st
    kept = [st for st in stmts if not (len(st.defs) == 1 and st.defs[0] in inline)]
    trees = [_Expanded(st.code, st.uses, inline) for st in kept]
    returned = [_Expanded(inline[v].code, inline[v].uses, inline) if v in inline else _Expanded(_ref(v), [v], inline)
                for v in outputs]  # fmt: skip
    last_use = {}
    for i, tree in enumerate([*trees, *returned]):
        for node in tree.refs:
            last_use[node.ref] = min(i, len(trees))
    names = _assign_names(kept, inputs, last_use)
    body: list[ast.stmt] = []
    for st, tree in zip(kept, trees, strict=True):
        body += _statements(st, tree.named(names, st.defs), names)
    values = [tree.named(names, []) for tree in returned]
    if output_names:
        returns = ast.Dict([ast.Constant(name) for name in output_names], values)
    elif len(values) == 1:
        returns = values[0]
        last = kept[-1] if kept else None
        # `x = self.head(x)` + `return x` -> `return self.head(x)`
        if last and not last.template and last.defs == outputs:
            returns = body.pop().value
    else:
        returns = ast.Tuple(values, ast.Load())
    return ast.unparse(ast.Module(body, [])).split("\n") if body else [], ast.unparse(returns)


def _statements(st: Stmt, code: Code, names: dict[Value, str | ast.expr]) -> list[ast.stmt]:
    """The statements of `st`, its code named: `defs = code`, or a template's own, minus `x = x`."""
    if st.template:
        return [line for line in code if not _self_assignment(line)]
    if not st.defs:
        return [ast.Expr(code)]
    targets = [ast.Name(names[d], ast.Store()) for d in st.defs]
    return [ast.Assign([targets[0] if len(targets) == 1 else ast.Tuple(targets, ast.Store())], code, lineno=0)]


class _Expanded:
    """A copy of a statement's code, each hole replaced by its inlined producer's tree or a `ref`
    (a read of a variable, listed in `refs`); the template's `target` names listed in `targets`."""

    def __init__(self, code: Code, uses: list[Value], inline: dict[Value, Stmt]) -> None:
        self.refs: list[ast.Name] = []
        self.targets: list[ast.Name] = []
        self.inline = inline
        self.code = self._expand(code, uses)

    def _expand(self, code: Code, uses: list[Value]) -> Code:
        def sub(node: ast.Name) -> ast.expr:
            if "target" in node.__dict__:
                self.targets.append(ast.Name(node.id, node.ctx))
                self.targets[-1].target, self.targets[-1].spine = node.target, True
                return self.targets[-1]
            v = uses[node.hole] if "hole" in node.__dict__ else node.ref
            if v in self.inline:
                return self._expand(self.inline[v].code, self.inline[v].uses)
            self.refs.append(_ref(v))
            return self.refs[-1]

        return _copy(code, sub)

    def named(self, names: dict[Value, str | ast.expr], defs: list[Value]) -> Code:
        """The code with each `ref` named (or, a tap's, replaced by its alias expression) and each
        `target` the name of its variable (`defs[target]`)."""
        for node in self.targets:
            node.id = names[defs[node.target]]
        aliased = False
        for node in self.refs:
            name = names[node.ref]
            aliased |= not isinstance(name, str)
            node.id = name if isinstance(name, str) else node.id
        if not aliased:
            return self.code
        return _copy(self.code, lambda n: names[n.ref] if "ref" in n.__dict__ and n.id == _REF else n)


_TAGS = {"hole", "target", "ref"}
_REF = "<ref>"  # the name of a `ref` until it is named: no valid name


def _ref(v: Value) -> ast.Name:
    node = ast.Name(_REF, ast.Load())
    node.ref, node.spine = v, True
    return node


def _copy(code: Code, sub: Callable[[ast.Name], ast.expr]) -> Code:
    """The tree(s) `code` with each tagged `Name` (`_TAGS`) replaced by `sub(name)`: the nodes
    above one (`spine`) are copied, the rest shared."""
    if isinstance(code, list):
        return [_copy(x, sub) if isinstance(x, ast.AST) and "spine" in x.__dict__ else x for x in code]
    fields = code.__dict__
    if "spine" not in fields:
        return code
    if isinstance(code, ast.Name) and not _TAGS.isdisjoint(fields):  # (`For` has a field `target`)
        return sub(code)
    new = type(code).__new__(type(code))
    copied = new.__dict__
    copied.update(fields)
    for key in code._fields:
        value = fields.get(key)
        if isinstance(value, list) or (isinstance(value, ast.AST) and "spine" in value.__dict__):
            copied[key] = _copy(value, sub)
    return new


def _self_assignment(line: ast.stmt) -> bool:
    """`x = x` (or `x, y = x, y`): a loop's start when the variable already holds its input."""
    if not (isinstance(line, ast.Assign) and len(line.targets) == 1):
        return False
    left, right = _variables(line.targets[0]), _variables(line.value)
    return left is not None and left == right


def _variables(node: ast.expr) -> list[str] | None:
    """The names of `x` or `x, y`; None for any other expression."""
    items = node.elts if isinstance(node, ast.Tuple) else [node]
    return [n.id for n in items] if all(isinstance(n, ast.Name) for n in items) else None


def _assign_names(stmts: list[Stmt], inputs: list[tuple[Value, str]], last_use: dict[Value, int]) -> dict:
    """Variable names: the preferred name unless it still holds a value needed later, or a statement binds it."""
    names: dict[Value, str | ast.expr] = dict(inputs)
    holder: dict[str, Value] = {name: v for v, name in inputs}
    bound = {name for st in stmts for name in st.locals}
    for i, st in enumerate(stmts):
        for v, preferred in zip(st.defs, st.names, strict=True):
            base = sanitize(preferred or "h")
            name, n = base, 1
            while name in bound or (name in holder and last_use.get(holder[name], -1) > i):
                name, n = f"{base}_{n}", n + 1
            names[v] = name
            holder[name] = v
        for v, expr in st.aliases.items():
            names.setdefault(v, expr)
    return names
