"""Optional layers: one class for a block's instances that differ by a sub-chain one of them lacks.

A block with `if downsample { shortcut = downsample: ...(x) }` lowers to instances with the
shortcut's layers and instances without them, whose code reads `x` where the others read
`shortcut`. `merge` rewrites both as one class source: the optional layers built under a flag
(`self.downsample = None`, then `if <flag>:` their construction), initialised when present, and
the forward choosing (`shortcut = x if self.downsample is None else ...(x)`). The flag is a
literal, `True` in the instances that have the layers and `False` in the others, so `parts.fit`
finds it as the block's own boolean parameter (`downsample`) or lifts it (`with_downsample`).
The optional layers' sizes in the instances without them are don't-cares: each is filled with
the formula that gives it in the instances that have them, so the fit agrees on it.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import replace
from typing import Any

from archgraph.codegen.fit import Fitter, is_list, native
from archgraph.codegen.literals import NUMERIC, layers, literals, walk


def merge(instances: list, order: list[str], views) -> list:
    """`instances` (`classes.Instance`) with those of a shape that equals another's minus an
    optional sub-chain rewritten to that other's shape, in place; the rest unchanged."""
    shapes: dict[bytes, list] = {}
    for inst in instances:
        shapes.setdefault(inst.shape, []).append(inst)
    if len(shapes) < 2:
        return instances
    groups = sorted(shapes.values(), key=lambda group: -len(group[0].layers))
    key = tuple(group[0].source for group in groups)  # the merges depend on the sources only
    if key not in views.merges:
        views.merges[key] = _merges(groups, views)
    rewritten: dict[int, Any] = {}
    for full, lesser, merged in views.merges[key]:
        olds = [*groups[full], *(m for j in lesser for m in groups[j])]
        news = merged.apply(groups[full], [groups[j] for j in lesser], order)
        rewritten.update({id(o): n for o, n in zip(olds, news, strict=True)})
    return [rewritten.get(id(inst), inst) for inst in instances]


def _merges(groups: list[list], views) -> list[tuple[int, list[int], _Merged]]:
    """(full group, lesser groups, how to merge them) for each merge of the groups (by shape, most
    layers first); computed from each group's first source."""
    used: set[int] = set()
    out = []
    for f, full in enumerate(groups):
        if f in used:
            continue
        tree = ast.parse(full[0].source).body[0]
        lesser: list[tuple[int, _Plan]] = []
        for j, group in enumerate(groups):
            if j == f or j in used:
                continue
            found = _match(tree, group[0].source)
            if found is not None and (not lesser or found.extra == lesser[0][1].extra):
                lesser.append((j, found))
        if lesser:
            used |= {f, *(j for j, _ in lesser)}
            out.append((f, [j for j, _ in lesser], _rewrite(tree, [plan for _, plan in lesser], views)))
    return out


class _Plan:
    """How the lesser source's literals sit in the full one's: `index[id(const)]` is the position,
    in the lesser source's literal order, of each constant of the full tree's kept statements."""

    def __init__(self, tree: ast.ClassDef, extra: list[str], index: dict[int, int]) -> None:
        self.tree, self.extra, self.index = tree, extra, index


def _match(full: ast.ClassDef, source: str) -> _Plan | None:
    """The plan when `source` is the class `full` without the layers only it has, else None."""
    other = ast.parse(source).body[0]
    mine, theirs = layers(full), layers(other)
    extra = [a for a in mine if a not in theirs]
    if not extra or any(a not in mine for a in theirs):
        return None
    positions = {id(c): k for k, (_, c) in enumerate(literals(other))}
    index: dict[int, int] = {}
    fmethods = [fn for fn in full.body if isinstance(fn, ast.FunctionDef)]
    omethods = [fn for fn in other.body if isinstance(fn, ast.FunctionDef)]
    if [fn.name for fn in fmethods] != [fn.name for fn in omethods]:
        return None
    for fn, ofn in zip(fmethods, omethods, strict=True):
        pairs = _pairs(fn, extra, ofn)
        if pairs is None:
            return None
        for kept, theirs_st in pairs:
            for c, oc in zip(_constants(kept), _constants(theirs_st), strict=True):
                index[id(c)] = positions[id(oc)]
    return _Plan(full, extra, index)


def _pairs(fn: ast.FunctionDef, extra: list[str], other: ast.FunctionDef) -> list | None:
    """(the full method's kept statement, the lesser's statement) pairs, or None when the lesser
    method is not the full one with its optional statements left out (a forward's optional
    assignment `v = f(u)` read as `u` afterwards)."""
    if sum(not _touches(st, extra) for st in fn.body) != len(other.body):
        return None  # the statements left would not pair up: no need to rename and compare them
    kept: list[tuple[ast.stmt, ast.stmt]] = []  # (original, as the lesser source would have it)
    renames: dict[str, str] = {}  # a name the optional code assigned -> the name the lesser code reads
    local: set[str] | None = None  # the method's arguments and assigned names, found once (if needed)
    for st in fn.body:
        if not _touches(st, extra):
            if not isinstance(st, (ast.Assign, ast.Return, ast.Expr)) and _reads(st, renames):
                return None  # a loop reading a renamed name may also assign it
            kept.append((st, _renamed(st, renames)))
            stored = {n.id for n in ast.walk(st) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            for v in stored:
                renames.pop(v, None)
            for v in [v for v, u in renames.items() if u in stored]:  # `u` changes: `v` may not be read as it
                renames[v] = "@stale"
            continue
        if fn.name in ("__init__", "init_weights"):
            continue
        local = _locals(fn) if local is None else local
        single = _single_input(st, local)
        if single is None:
            return None
        v, u = st.targets[0].id, renames.get(single, single)
        renames.pop(v, None)
        if u != v:
            renames[v] = u
    if (
        any("@stale" in _dump(b) for _, b in kept)
        or len(kept) != len(other.body)
        or any(_dump(a) != _dump(b) for (_, a), b in zip(kept, other.body, strict=True))
    ):
        return None
    return [(st, theirs) for (st, _), theirs in zip(kept, other.body, strict=True)]


def _locals(fn: ast.FunctionDef) -> set[str]:
    """The method's arguments and the names its statements assign."""
    return {a.arg for a in fn.args.args} | {
        t.id for s in fn.body for node in ast.walk(s) if isinstance(node, ast.Assign)
        for t in node.targets if isinstance(t, ast.Name)}  # fmt: skip


def _single_input(st: ast.stmt, local: set[str]) -> str | None:
    """The one local name (of `local`: `_locals`) an optional forward assignment `v = f(u)` reads (None
    if not that form)."""
    if not (isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name)):
        return None
    read = {n.id for n in ast.walk(st.value) if isinstance(n, ast.Name) and n.id in local and n.id != "self"}
    return read.pop() if len(read) == 1 else None


def _reads(st: ast.stmt, names: dict[str, str]) -> bool:
    return any(isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in names for n in ast.walk(st))


def _renamed(st: ast.stmt, renames: dict[str, str]) -> ast.stmt:
    if not renames:
        return st

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            if isinstance(node.ctx, ast.Load) and node.id in renames:
                return ast.Name(renames[node.id], ast.Load())
            return node

    return Rename().visit(copy.deepcopy(st))


def _touches(node: ast.AST, extra: list[str]) -> bool:
    return any(isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
               and n.attr in extra for n in ast.walk(node))  # fmt: skip


def _constants(node: ast.AST) -> list[ast.Constant]:
    return [n for n in walk(node) if isinstance(n, ast.Constant) and type(n.value) in NUMERIC]


def _dump(node: ast.AST) -> str:
    """The statement's structure with its numeric literals blanked (in place while dumped, not copied)."""
    found = [n for n in ast.walk(node) if isinstance(n, ast.Constant) and type(n.value) in NUMERIC]
    values = [n.value for n in found]
    try:
        for n in found:
            n.value = ...
        return ast.dump(node, annotate_fields=False)
    finally:
        for n, value in zip(found, values, strict=True):
            n.value = value


class _Merged:
    """One source for a full group's instances and its lesser groups': `slots[g][k]` says where
    literal k of the merged source comes from in an instance of group g (0: the full one):
    `_FLAG` (the optional layers' flag), ("at", i) its literal i, ("fill", i) the formula giving
    the full instances' literal i (`_filler`)."""

    def __init__(self, source: str, parsed: tuple, slots: list[list]) -> None:
        self.source, self.parsed, self.slots = source, parsed, slots

    def apply(self, full: list, lesser: list[list], order: list[str]) -> list:
        """The instances of `full` and of the `lesser` groups as instances of the merged source."""
        shape, methods, _, layers = self.parsed
        fill = _filler(full, order, [m for group in lesser for m in group]) if any(
            s[0] == "fill" for slots in self.slots[1:] for s in slots if s is not _FLAG) else None  # fmt: skip
        merged = []
        for g, group in enumerate([full, *lesser]):
            flag = g == 0
            for inst in group:
                values = [flag if s is _FLAG else inst.values[s[1]] if s[0] == "at" else fill(s[1], inst.env)
                          for s in self.slots[g]]  # fmt: skip
                merged.append(replace(inst, source=self.source, shape=shape, methods=methods, values=values,
                                      layers=layers))  # fmt: skip
        return merged


_FLAG = ("flag",)


def _rewrite(tree: ast.ClassDef, plans: list[_Plan], views) -> _Merged:
    """How instances of the full source `tree` and of the lesser plans' become instances of one
    source: `tree`, its optional statements guarded."""
    extra = plans[0].extra
    old = {id(c): k for k, (_, c) in enumerate(literals(tree))}
    flags: list[ast.Constant] = []
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef):
            fn.body = _guarded(fn, extra, flags)
    source = ast.unparse(tree)
    found = [c for _, c in literals(tree)]
    flagged = {id(c) for c in flags}
    slots = [[_FLAG if id(c) in flagged else ("at", old[id(c)]) for c in found]]
    for plan in plans:
        slots.append([_FLAG if id(c) in flagged else ("at", plan.index[id(c)]) if id(c) in plan.index
                      else ("fill", old[id(c)]) for c in found])  # fmt: skip
    return _Merged(source, views.literals(source), slots)


def _guarded(fn: ast.FunctionDef, extra: list[str], flags: list[ast.Constant]) -> list[ast.stmt]:
    """`fn`'s statements with each run of optional ones guarded: built under a flag literal in
    `__init__`, initialised when present, chosen in the other methods."""
    out: list[ast.stmt] = []
    run: list[ast.stmt] = []
    local: set[str] | None = None  # `_locals(fn)`, found once (if needed)
    for st in [*fn.body, None]:
        if st is not None and _touches(st, extra) and fn.name in ("__init__", "init_weights"):
            run.append(st)
            continue
        if run:
            roots = [a for a in extra if any(_touches(s, [a]) for s in run)]
            if fn.name == "__init__":
                flags.append(ast.Constant(True))
                out += [ast.parse(f"self.{a} = None").body[0] for a in roots]
                out.append(ast.If(flags[-1], run, []))
            else:
                out.append(ast.If(ast.parse(f"self.{roots[0]} is not None", mode="eval").body, run, []))
            run = []
        if st is None:
            break
        if _touches(st, extra):  # a forward's `v = f(u)`
            root = next(a for a in extra if _touches(st, [a]))
            local = _locals(fn) if local is None else local
            u = _single_input(st, local)
            test = ast.parse(f"self.{root} is None", mode="eval").body
            st = ast.Assign(st.targets, ast.IfExp(test, ast.Name(u, ast.Load()), st.value), lineno=0)
        out.append(st)
    return out


def _filler(full: list, order: list[str], lesser: list):
    """`fill(k, env)`: an optional literal's value in an instance without the layers: the formula
    that gives the full instances' literal k in them (their value when it never varies)."""
    common = [n for n in order if all(n in m.env for m in [*full, *lesser])]
    lists = tuple(n for n in common if is_list(full[0].env[n]))  # a stage's width: `embed_dims[stage]`
    fitter = Fitter([m.env for m in full], common, lists, tuple(n for n in common if type(full[0].env[n]) is int))

    def fill(k: int, env: dict[str, Any]) -> Any:
        values = tuple(m.values[k] for m in full)
        varying = len({(type(v), v) for v in values}) > 1
        expr = fitter.formula(values, varying) if varying else None
        if expr is None:
            return values[0]
        return eval(expr, {}, {n: native(env[n]) for n in common})  # a formula `fit` wrote: names and arithmetic

    return fill
