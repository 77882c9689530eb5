"""A file's models fitted together, so that a block has one class and a family one model class.

Each model's classes are fitted on the model lowered again at other sizes (`_Trials`: a change of a
parameter that keeps the classes makes it an argument; one that changes them leaves it fixed in
the file); a model that differs from one fitted before only in such arguments reuses its lowerings
(`_refitting`). The classes are then built once over every model and its lowerings (`file_classes`),
and each model's own classes only when those are not distinct.
"""

from __future__ import annotations

from itertools import chain

from archgraph.codegen.assemble import Merged, merge, merge_fitted, named_by_definitions
from archgraph.codegen.classes import Result, UnfittedError, build
from archgraph.codegen.fit import float_parameters, native, same_value
from archgraph.codegen.loops import FROZEN
from archgraph.codegen.memo import Views
from archgraph.errors import SpecError
from archgraph.ir import Graph
from archgraph.knobs import model_definition
from archgraph.lower import lower


def file_classes(graphs: list[Graph]) -> Merged:
    """The classes of the models `graphs` of one file: fitted over all of them and their lowerings
    at other sizes, so that a block has one class; else (a model's class fitted so splits in two:
    two classes of one name) each model's classes, merged."""
    graphs = _as_floats(graphs)
    if len(graphs) == 1:
        return merge([graphs[0].name], [_classes(graphs[0])])
    views = Views()  # the scopes rendered while fitting each model, looked up again when fitting all
    lowered, allowed, _ = _each_fitted(graphs, views, write=False)
    frozen = frozenset(n for g in graphs for n, v in g.params.items() if _listed(v) and n not in allowed[g.name])
    token = FROZEN.set(frozen)  # a list one model may not take is fixed in them all
    try:
        together = build(lowered, allowed, Views() if frozen else views, several=True)
    finally:
        FROZEN.reset(token)
    if _distinct(together):
        return named_by_definitions(merge_fitted(graphs, together), graphs)
    alone = _each_fitted(graphs, Views(), write=True)[2]
    return named_by_definitions(merge([g.name for g in graphs], alone), graphs)


def _each_fitted(
    graphs: list[Graph], views: Views, write: bool
) -> tuple[list[Graph], dict[str, set[str]], list[Result]]:
    """Each model fitted alone (`_fitting`, or `_refitting` on a model fitted before): the models and
    the lowerings fitted on, each model's arguments, and if `write` its classes."""
    lowered, allowed, alone = list(graphs), {}, []
    fits: list[tuple[list[Graph], set[str]]] = []  # each model's lowerings (itself first) and arguments
    refused: set[str] = set()  # the names the trials of a model before did not keep
    for graph in graphs:
        refit = _refitting(graph, fits, views, write)
        if refit is None:
            others, names, shape = _fitting(graph, views, refused)
            refused |= set(chain(*_tried(graph))) - names
            lowered += others[1:]
            if write:
                alone.append(_final(graph, others, names, shape, views))
        else:
            others, names, result = refit
            alone.append(result)
        allowed[graph.name] = names
        fits.append((others, names))
    return lowered, allowed, alone


def _as_floats(graphs: list[Graph]) -> list[Graph]:
    """The models, each lowered again where it gives as an integer (`mlp_ratio = 4`) a parameter that is
    a float elsewhere: in another model of the file, or by its definition (`fit.float_parameters`).
    Its classes are then those of the others (`mlp_ratio: float`, `int(dim * mlp_ratio)`), not a class
    of its own for an integer ratio; the sizes are the same."""
    floats = {n for g in graphs for n, v in g.params.items() if type(v) is float}
    floats |= {n for g in graphs for n in float_parameters(model_definition(g))}
    out = []
    for graph in graphs:
        changed = {n: float(v) for n, v in graph.params.items() if n in floats and type(v) is int}
        relower = changed and graph.program is not None
        out.append(lower(graph.program, graph.name, {**graph.params, **changed}) if relower else graph)
    return out


def _distinct(result: Result) -> bool:
    names = _names(result)
    return len(set(names)) == len(names)


def _classes(graph: Graph) -> Result:
    """The classes of `graph`, fitted on its lowerings at the sizes `_fitting` keeps."""
    views = Views()
    return _final(graph, *_fitting(graph, views), views)


def _refitting(
    graph: Graph, fits: list, views: Views, write: bool = True
) -> tuple[list[Graph], set[str], Result] | None:
    """The lowerings and arguments (as `_fitting`'s) and the classes (written if `write`) of a model that
    differs from one fitted before only in parameters that one keeps as arguments (`vit_b16_384` is
    `vit_b16` at another `img_size`): fitted on that model's lowerings, with the same arguments, in one
    build instead of its own trials. None when no model fitted before is such, or the classes differ
    from the model's own (then it is tried itself)."""
    for others, names in fits:
        base = others[0]
        if base.program is not graph.program or set(base.params) != set(graph.params):
            continue
        if any(not same_value(graph.params[p], v) and p not in names for p, v in base.params.items()):
            continue
        shape = _names(build([graph], set(), views, write=False))
        try:
            found = _final(graph, [graph, *others], names, shape, views, write)
        except UnfittedError:  # a lowering of the other model lacks one of this model's blocks
            return None
        if _names(found)[:-1] != shape[:-1]:
            return None
        model = found.classes[-1]  # named after what the two models vary: this file's model keeps its own name
        model.signature.name = shape[-1]
        if model.tree is not None:
            model.tree.name = shape[-1]
        return [graph, *others], names, found
    return None


def _fitting(
    graph: Graph, views: Views, refused: set[str] | frozenset[str] = frozenset()
) -> tuple[list[Graph], set[str], list[str]]:
    """The lowerings of `graph` its classes are fitted on: the model lowered again with each numeric
    parameter changed; a parameter no change of which keeps the classes' structure stays fixed in
    the file. While a parameter is tried, formulas may use the untried ones (`img_size // patch_size`).
    Returns the lowerings (the model first), the parameters kept as arguments, and the names of the
    model's classes built alone (`_final` builds the classes). The trials only name the classes
    (`write=False`). `views`: what earlier builds rendered (shared by the models of one file);
    `refused`: the names another model's trials did not keep (a sibling in the file), tried last
    and one by one."""
    numeric, lists = _tried(graph)
    trials = _Trials(graph, _names(build([graph], set(), views, write=False)), {*numeric, *lists}, views)
    graphs, allowed = trials.kept([*numeric, *lists], set(lists), refused)
    return graphs, allowed, trials.shape


def _final(graph: Graph, graphs: list[Graph], allowed: set[str], shape: list[str], views: Views,
           write: bool = True) -> Result:  # fmt: skip
    """The classes of `graph` fitted over `graphs` (it first) with the arguments `allowed` (`shape`:
    the names of its classes built alone), written if `write`; a list not allowed is fixed
    (`loops.FROZEN`)."""
    numeric, lists = _tried(graph)
    frozen = frozenset(lists) - allowed  # lists no change of which keeps the classes: their values fixed
    if frozen:
        views = Views()  # the classes rendered again, those lists as literals (`loops.FROZEN`)
    token = FROZEN.set(frozen)
    try:
        if not allowed - set(lists):
            return build(graphs, allowed, views, write)
        # the classes of `graphs` fitted with every numeric name, unless fewer give the same classes
        if allowed != {*numeric, *lists} and _names(result := build(graphs, allowed, views, write)) == shape:
            return result
        return build(graphs, {*numeric, *allowed}, views, write)
    finally:
        FROZEN.reset(token)


class _Trials:
    """The changes of a model's parameters that keep its classes (`shape`: their names)."""

    def __init__(self, graph: Graph, shape: list[str], names: set[str], views: Views) -> None:
        self.graph, self.shape, self.names, self.views = graph, shape, names, views

    def kept(
        self, order: list[str], lists: set[str], refused: set[str] | frozenset[str] = frozenset()
    ) -> tuple[list[Graph], set[str]]:
        """The lowerings kept (the model first, then in the order of `order`) and the names they change.
        A run of names is first tried together, each at its first change the spec accepts (one
        build: usually every one is kept), and halved when that fails; a name alone tries its
        other changes, but a list only its first (each trial costs a build). The names `refused`
        (by a sibling model) are each a run of their own after the others: found again by halving,
        each would cost about log2(len(order)) builds."""
        tries = {name: _variations(self.graph, name, self.graph.params[name]) for name in order}
        firsts = {name: other for name, it in tries.items() if (other := next(it, None)) is not None}
        likely = [name for name in order if name not in refused]
        runs = ([likely] if likely else []) + [[name] for name in order if name in refused]
        graphs, allowed, by = [self.graph], set(), {}  # by: each kept lowering -> the name it changes
        while runs:
            run = runs.pop(0)
            changed = [firsts[name] for name in run if name in firsts]
            if len(run) > 1:
                if changed and self._keeps([*graphs, *changed]):
                    graphs += changed
                    allowed |= {name for name in run if name in firsts}
                    by.update({id(firsts[name]): name for name in run if name in firsts})
                elif changed:
                    runs[:0] = [run[: len(run) // 2], run[len(run) // 2 :]]
                continue
            for other in chain(changed, tries[run[0]]):
                kept = self._keeps([*graphs, other])
                if kept:
                    graphs.append(other)
                    allowed.add(run[0])
                    by[id(other)] = run[0]
                    break
                if kept is False and run[0] in lists:
                    break
        graphs[1:] = sorted(graphs[1:], key=lambda g: order.index(by[id(g)]))  # as if tried in order
        return graphs, allowed

    def _keeps(self, graphs: list[Graph]) -> bool | None:
        """Whether the classes fitted over `graphs` are those of `shape`; None when a lowering adds a
        block the model does not have (then the name's next change is tried, a list's too)."""
        try:
            return _names(build(graphs, self.names, self.views, write=False)) == self.shape
        except UnfittedError:
            return None


def _tried(graph: Graph) -> tuple[list[str], list[str]]:
    """The parameters `_fitting` tries at other values: the numbers (`_varied`), the lists (`_listed`)."""
    if graph.program is None:
        return [], []
    params = graph.params.items()
    return [n for n, v in params if _varied(v)], [n for n, v in params if _listed(v)]


def _listed(value) -> bool:
    """Whether `_fitting` tries a parameter as a list: one of numbers, which a stage loop may index."""
    return isinstance(value, list) and bool(value) and all(type(native(x)) in (int, float) for x in value)


def _varied(value) -> bool:
    """Whether `_classes` tries a parameter at other values: a nonzero number, or a float 0.0 (a rate
    that is off by default, as dropout's)."""
    return type(value) in (int, float) and (value != 0 or type(value) is float)


def _names(result: Result) -> list[str]:
    return [w.signature.name for w in result.classes]


def _variations(graph: Graph, name: str, value: int | float | list):
    """The model lowered with `name` doubled, else halved, else tripled (the first the spec accepts);
    a float 0.0 (a rate switched off) as 0.25; a list with each entry plus one, doubled, halved (at
    least 1) or tripled (plus one first: two lists doubled would multiply to the same widths)."""
    changes = [value * 2, *([value // 2] if type(value) is int and value % 2 == 0 else []), value * 3]
    if type(value) is float and value == 0:  # a rate that is off (dropout, drop path): tried on
        changes = [0.25]
    if isinstance(value, list):
        entries = [native(x) for x in value]
        changes = [[x + 1 for x in entries], [x * 2 for x in entries],
                   [max(x // 2, 1) if type(x) is int else x / 2 for x in entries], [x * 3 for x in entries]]  # fmt: skip
    for changed in changes:
        try:
            yield lower(graph.program, graph.name, {**graph.params, name: changed})
        except SpecError:
            continue
