"""`repeat` while lowering: a block call applied N times (`blocks: repeat depth block(x, ...)`)
or a group of statements run N times with an index (`stages: repeat 4 as i { ... }`).

Each iteration is a scope `label.i`, so state_dict keys read `blocks.0.attn.qkv`. The
outputs of every iteration are kept, so `blocks[5]` can tap one (SETR-MLA). After the
first iteration the op budget is checked for all of them, so an oversized repeat fails
before it grows (a spec error at its count).
"""

from __future__ import annotations

from archgraph import syntax as s
from archgraph.errors import ArchShapeError, ArchTypeError, Note, SpecError
from archgraph.ir import Scope, Value
from archgraph.lowering.blocks import call_block
from archgraph.lowering.values import MAX_NODES, MAX_REPEAT, Taps, Tensor, scalars_of
from archgraph.scalars import ScalarError, as_int, describe

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

    from archgraph.lowering.interpreter import Lowering


def _count(lw: Lowering, e: s.Expr, env: dict) -> int:
    try:
        n = as_int(lw.expr(e, env, None))
    except ScalarError as error:
        raise ArchTypeError(f"a repeat count must be an integer: {error}", e.span) from None
    if not 0 <= n <= MAX_REPEAT:
        raise ArchShapeError(f"a repeat count must lie in 0..{MAX_REPEAT}, found {n:,}", e.span)
    return n


def _budget(lw: Lowering, label: str, count_expr: s.Expr, count: int, before: int) -> None:
    """After a repeat's first iteration (which began with `before` nodes): would all `count` iterations
    pass MAX_NODES? Then say so now, at the count, instead of after building most of them."""
    each = len(lw.nodes) + lw.skipped - before  # a sketch's skipped calls count (sketch.Sketch)
    total = before + each * count
    if total > MAX_NODES:
        raise ArchShapeError(f"repeat `{label}` would make {total:,} ops ({count:,} iterations of {each:,}); "
                             f"a model is limited to {MAX_NODES:,}", count_expr.span)  # fmt: skip


def _container(lw: Lowering, scope: Scope, label: str, where, again: bool = False) -> Scope:
    if not again:  # a shared repeat's label given again calls its module again: no new attribute
        lw.labels.use(scope, label, where)
    path = f"{scope.path}.{label}" if scope.path else label
    return lw.scope(scope, path, label, "repeat", label, where.span)


def repeat_call(lw: Lowering, e: s.Repeat, env: dict, scope: Scope) -> Any:
    """`label: repeat count block(x, ...)`: x threads through `count` calls of the block; the
    other arguments are evaluated once, before the first (check rejects repeating an op); with
    `as i` (`repeat depth as i block(x, p = rates[i])`) once per iteration, `i` bound to its number."""
    count = _count(lw, e.count, env)
    x = lw.tensor(lw.expr(e.call.args[0], env, scope), e.call.args[0].span, "the repeated argument")
    others, kwargs = _arguments(lw, e, env, scope, 0) if count or e.index is None else ([], {})
    initial = (others, kwargs)  # iteration 0's: later ones keep what does not read the index
    block = lw.program.definitions[e.call.callee]
    first = lw.shared.get((id(scope), e.label)) if e.modifier == "shared" else None
    rep = _container(lw, scope, e.label, e, again=first is not None)
    rep.inputs, rep.input_names = [x.value], [_name_of(e.call.args[0])]
    rep.shared, rep.continued = e.modifier == "shared", first is not None
    if rep.shared and first is None:
        lw.shared[(id(scope), e.label)] = rep
    taps = Taps(rep)
    env[e.label] = taps
    rep.per_iteration = _per_iteration(e)
    rep.schedules = _sliced_schedules(lw, e, env) if count else {}  # evaluated as the arguments are
    for i in range(count):
        start, before = len(lw.nodes), len(lw.nodes) + lw.skipped
        if e.index is not None and i:
            others, kwargs = _arguments(lw, e, env, scope, i, initial)
        # a shared repeat's iterations are one module at the repeat's own path: its weights once
        zeroed = rep.continued or (rep.shared and i > 0)
        lw.zeroed += zeroed  # a sketch's calls skipped in here hold no weights (sketch.Sketch.skip)
        try:
            y = call_block(lw, block, e.call, [x, *others], kwargs, rep, env, label=str(i),
                           path=rep.path if rep.shared else None)  # fmt: skip
        except SpecError as error:
            if i and x.value != rep.inputs[0]:  # a per-iteration repeat changed the shape before
                error.diagnostics[0].notes.append(Note(f"in iteration {i} of `{e.label}`, given iteration "
                                                       f"{i - 1}'s {x.type}", e.span))  # fmt: skip
            raise
        finally:
            lw.zeroed -= zeroed
        y = lw.tensor(y, e.call.span, f"iteration {i} of `{e.label}`")
        if y.type != x.type and not (rep.per_iteration and not rep.shared):  # else the next call checks it
            _not_threaded(e, i, x, y)
        if i == 0:
            _budget(lw, e.label, e.count, count, before)
        if first is not None and i == 0:
            _same_module(lw, e, first, rep)
        if rep.continued or (rep.shared and i > 0):
            for node in lw.order[start:]:
                node.params = 0  # the first call holds the weights; the others read them
        taps.outputs.append(y)
        x = y
    rep.outputs = [x.value]
    return x


def _same_module(lw: Lowering, e: s.Repeat, first: Scope, rep: Scope) -> None:
    """A shared repeat given a label again calls the first one's module: the same arguments and input types."""
    was, now = (r.items[0] for r in (first, rep))
    if not isinstance(was, Scope) or not isinstance(now, Scope):
        return  # `repeat 0`: no call to compare
    types = [[lw.nodes[v.node].outs[v.index] for v in it.inputs] for it in (was, now)]
    if was.args != now.args or types[0] != types[1]:
        got = ", ".join(f"{k} = {v}" for k, v in now.args.items() if was.args.get(k) != v) or "other input types"
        raise ArchShapeError(f"a shared block is reused with other widths: `{e.label}` calls its one module again "
                             f"with {got}", e.call.span,
                             [Note("a shared repeat given a label again reuses that label's module (its weights); "
                                   "its arguments must be the first call's", first.span)])  # fmt: skip


def _arguments(lw: Lowering, e: s.Repeat, env: dict, scope: Scope, i: int,
               first: tuple[list, dict] | None = None) -> tuple[list, dict]:  # fmt: skip
    """The call's arguments after the first, and its keywords, for iteration `i` (the index bound to `i`).
    Given iteration 0's (`first`), a scalar argument that does not read the index is kept, not evaluated
    again: the same expression over the same names (`depth`, `mlp_ratio`) has the same value."""
    inner = {**env, e.index: i} if e.index is not None else env
    exprs = [*e.call.args[1:], *(kw.value for kw in e.call.kwargs)]
    if first is None:
        values = [lw.expr(x, inner, scope) for x in exprs]
    else:
        old = [*first[0], *first[1].values()]
        reads = _reading(e)
        values = [lw.expr(x, inner, scope) if r or isinstance(v, (Tensor, Taps)) else v
                  for x, v, r in zip(exprs, old, reads, strict=True)]  # fmt: skip
    split = len(e.call.args) - 1
    return values[:split], {kw.name: v for kw, v in zip(e.call.kwargs, values[split:], strict=True)}


_READING: dict[int, tuple[s.Repeat, list[bool]]] = {}  # id(repeat) -> (it, which arguments read its index)


def _reading(e: s.Repeat) -> list[bool]:
    """For each argument after the first and each keyword of `e`'s call: whether it reads the index."""
    known = _READING.get(id(e))
    if known is None or known[0] is not e:
        if len(_READING) >= 4096:
            _READING.clear()
        exprs = [*e.call.args[1:], *(kw.value for kw in e.call.kwargs)]
        known = _READING[id(e)] = (e, [_reads(x, e.index) for x in exprs])
    return known[1]


def _per_iteration(e: s.Repeat) -> list[str]:
    """The keywords of `repeat n as i block(...)` whose value reads the index (a schedule, for codegen)."""
    if e.index is None:
        return []
    return [kw.name for kw in e.call.kwargs if _reads(kw.value, e.index)]


def _sliced_schedules(lw: Lowering, e: s.Repeat, env: dict) -> dict[str, tuple]:
    """(start, stop, n, offset), evaluated, of each keyword of `repeat n as i block(...)` written
    `linspace(start, stop, n)[offset + i]`: a stage's slice of one schedule over the blocks of all the
    stages (PVT v2's drop path), which codegen writes as that slice of one `torch.linspace`."""
    out = {}
    for kw in e.call.kwargs if e.index is not None else ():
        value = kw.value
        if not (isinstance(value, s.Subscript) and len(value.items) == 1 and isinstance(value.value, s.Call)
                and value.value.callee == "linspace" and len(value.value.args) == 3 and not value.value.kwargs
                and "linspace" not in lw.program.definitions):  # fmt: skip
            continue
        at = value.items[0]
        if not (isinstance(at, s.BinOp) and at.op == "+"):
            continue
        index = [isinstance(side, s.Name) and side.id == e.index for side in (at.left, at.right)]
        if not any(index):
            continue
        parts = [*value.value.args, at.right if index[0] else at.left]  # start, stop, n, offset
        if not any(_reads(p, e.index) for p in parts):
            out[kw.name] = tuple(lw.expr(p, env, None) for p in parts)
    return out


def _reads(e: object, name: str) -> bool:
    """Whether the expression `e` mentions the name `name`."""
    if isinstance(e, s.Name):
        return e.id == name
    if isinstance(e, (tuple, list)):
        return any(_reads(item, name) for item in e)
    fields = getattr(e, "__record_fields__", None)
    return fields is not None and any(_reads(getattr(e, f), name) for f in fields if f != "span")


def _not_threaded(e: s.Repeat, i: int, x: Tensor, y: Tensor) -> None:
    """The error for a repeated call whose output is not its input's type (the next call could not take it)."""
    if e.modifier == "shared":
        raise ArchShapeError(f"a shared block is reused with other widths: `{e.call.callee}` maps {x.type} to {y.type}"
                             f", so its next call would get {y.type} where its one set of weights was built for "
                             f"{x.type}", e.call.span,
                             [Note("a `shared` repeat runs one module N times: its output must fit its input")])  # fmt: skip
    raise ArchShapeError(f"a repeated call must return what it takes: iteration {i} maps {x.type} to "
                         f"{y.type}", e.call.span)  # fmt: skip


def repeat_block(lw: Lowering, st: s.RepeatBlock, env: dict, scope: Scope) -> None:
    """`label: repeat count as i { ... }`: carried names are those the body reassigns: tensors
    (the graph's loop-carried values) and numbers defined before the loop (a stage's grid size)."""
    count = _count(lw, st.count, env)
    assigned = _assigned(st.body)
    carried = [n for n in assigned if isinstance(env.get(n), Tensor)]
    scalars = [n for n in assigned if n in env and not isinstance(env[n], (Tensor, Taps))]
    rep = _container(lw, scope, st.label, st)
    rep.inputs, rep.input_names = [env[n].value for n in carried], list(carried)
    taps = Taps(rep)
    for i in range(count):
        before = len(lw.nodes) + lw.skipped
        it = lw.scope(rep, f"{rep.path}.{i}", str(i), "block", st.label, st.span)
        lw.labels.reserve(it, st.body)
        inner = {**env, st.index: i}
        try:
            if lw.run(st.body, inner, it) is not None:
                raise ArchTypeError("`return` inside a repeat body; assign to a name instead", st.span)
        except SpecError as error:
            error.diagnostics[0].notes.append(Note(f"in iteration {i} of `{st.label}`", st.span))
            raise
        if i == 0:
            _budget(lw, st.label, st.count, count, before)
        _check_carried(st, inner, carried, i)
        it.outputs = [inner[n].value for n in carried]
        it.args = scalars_of(inner)
        it.inputs, it.input_names = _free_inputs(lw, it, env, carried)
        for n in carried + scalars:
            env[n] = inner[n]
        if len(carried) == 1:
            taps.outputs.append(inner[carried[0]])
    rep.outputs = [env[n].value for n in carried]
    env[st.label] = taps


def repeat_inline(lw: Lowering, st: s.RepeatBlock, env: dict, scope: Scope) -> None:
    """`repeat count as i { ... }` (no label): the body runs `count` times in `scope` itself, as if written
    out, so its layers are the enclosing block's (`block.(i): ...` numbers them). Names carry as in a
    labelled repeat: those the body reassigns flow on, those it first assigns stay in their iteration."""
    count = _count(lw, st.count, env)
    assigned = _assigned(st.body)
    carried = [n for n in assigned if n in env and not isinstance(env[n], Taps)]
    for i in range(count):
        before = len(lw.nodes) + lw.skipped
        inner = {**env, st.index: i}
        try:
            if lw.run(st.body, inner, scope) is not None:
                raise ArchTypeError("`return` inside a repeat body; assign to a name instead", st.span)
        except SpecError as error:
            notes = error.diagnostics[0].notes
            notes.append(Note(f"in iteration {i} of the repeat", st.span))
            if "two layers are labelled" in error.diagnostics[0].message:
                notes.append(Note(f"a repeat without a label adds no scope: each iteration's layers are the enclosing "
                                  f"block's, so build their labels from `{st.index}`, e.g. `name.({st.index})`"))  # fmt: skip
            raise
        if i == 0:
            _budget(lw, f"repeat ... as {st.index}", st.count, count, before)
        _check_carried(st, inner, [n for n in carried if isinstance(env[n], Tensor)], i)
        for n in carried:
            env[n] = inner[n]


def _check_carried(st: s.RepeatBlock, inner: dict, carried: list[str], i: int) -> None:
    for n in carried:
        if not isinstance(inner[n], Tensor):
            span = next((a.span for a in _assignments(st.body, n)), st.span)
            raise ArchTypeError(f"`{n}` is a tensor carried through `{st.label or 'the repeat'}`, but iteration {i} makes it "
                                f"{describe(inner[n])}", span)  # fmt: skip


def _assignments(body: tuple[s.Stmt, ...], name: str) -> list[s.Assign]:
    found = []
    for st in body:
        if isinstance(st, s.Assign) and name in st.targets:
            found.append(st)
        elif isinstance(st, s.If):
            found += _assignments(st.then, name) + _assignments(st.orelse, name)
        elif isinstance(st, s.RepeatBlock):  # a nested repeat carries its names out
            found += _assignments(st.body, name)
    return found


def _assigned(body: tuple[s.Stmt, ...]) -> list[str]:
    names: list[str] = []
    for st in body:
        targets = st.targets if isinstance(st, s.Assign) else ()
        if isinstance(st, s.If):
            targets = tuple(_assigned(st.then) + _assigned(st.orelse))
        elif isinstance(st, s.RepeatBlock):  # a nested repeat carries its names out
            targets = tuple(_assigned(st.body))
        names += [t for t in targets if t not in names]
    return names


def free_values(lw: Lowering, scope: Scope) -> list[Value]:
    """The values from outside `scope` its nodes read, in the order of `scope.walk()` (each scope's
    own nodes, then its child scopes'), first use only. Each scope's list is computed once, from
    its children's, so nested repeats cost their size, not their size times their nesting."""
    known = lw.free.get(id(scope))
    if known is not None:
        return known
    start = lw.starts[id(scope)]
    found: list[Value] = []
    seen: set[Value] = set()
    reads = [v for item in scope.items if isinstance(item, str) for v in lw.nodes[item].inputs]
    for item in scope.items:
        if isinstance(item, Scope):
            reads += free_values(lw, item)
    for v in reads:
        if v not in seen and lw.position[v.node] < start:
            seen.add(v)
            found.append(v)
    lw.free[id(scope)] = found
    return found


def _free_inputs(lw: Lowering, it: Scope, env: dict, carried: list[str]) -> tuple[list[Value], list[str]]:
    """The outer tensors an iteration reads, with distinct names for its generated forward:
    carried names first, then others by first use (a spec name, `blocks_0` for a tap, else `h`)."""
    values = [env[n].value for n in carried]
    names = list(carried)
    extra = [v for v in free_values(lw, it) if v not in values]
    if not extra:
        return values, names
    known: dict[Value, str] = {}
    for n, v in env.items():
        if isinstance(v, Taps):
            known.update((t.value, f"{n}_{i}") for i, t in enumerate(v.outputs))
    known.update((v.value, n) for n, v in env.items() if isinstance(v, Tensor))  # a spec name wins over a tap
    for v in extra:
        values.append(v)
        names.append(_distinct(known.get(v, "h"), names))
    return values, names


def _distinct(base: str, taken: list[str]) -> str:
    """`base`, or `base_1`, `base_2`, ...: the first not in `taken`."""
    name, n = base, 1
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


def _name_of(e: s.Expr) -> str:
    return e.id if isinstance(e, s.Name) else "x"
