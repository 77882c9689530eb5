"""A model's stages built in a loop: one constructor call indexing the spec's lists, as timm's.

`view._child` writes a repeat whose iterations differ in size as a list of calls
(`[Stages(56, 0, 32, ...), Stages(28, 2, 64, ...), ...]`). When every argument that differs
between the iterations is a formula of the loop index `i` and the model's lists (`embed_dims[i]`,
`embed_dims[i - 1]`, `sum(depths[:i])`, `56 // 2 ** i`), the model builds them in one loop:
`[Stages(56 // 2 ** i, sum(depths[:i]), embed_dims[i], ...) for i in range(len(depths))]`.
The literals left in a formula (`56`) are fitted to the model's parameters afterwards, as any
other (`img_size // 4`), and the lists become the model's keyword arguments. A class several
models share that way is named after the definition they vary (`PvtV2`, `assemble.named_by_definitions`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from archgraph import syntax as s
from archgraph.codegen.fit import Fitter, is_list, native, scalars
from archgraph.ir import Graph, Scope
from archgraph.knobs import variant_chain

# The lists a build must not turn into arguments: changing one changes the model's structure
# (`families._fitting` tried it), so the classes fix its values.
FROZEN: ContextVar[frozenset[str]] = ContextVar("frozen_lists", default=frozenset())


def lists_of(args: dict[str, Any]) -> dict[str, tuple]:
    """The lists of numbers among a class's parameters (a model's, or a block's scope `args`),
    but the `FROZEN` ones."""
    frozen = FROZEN.get()
    return {n: v for n, v in scalars(args).items() if is_list(v) and n not in frozen}


def passed(lists: dict[str, tuple], args: dict[str, Any]) -> dict[str, str]:
    """A child's list arguments that are one of the class's own lists, by that list's name
    (`Mit(depths, hidden_sizes, ...)`; the same name first)."""
    out = {}
    for n, v in lists_of(args).items():
        same = [n] if lists.get(n) == v else [m for m, w in lists.items() if w == v]
        if same:
            out[n] = same[0]
    return out


def comprehension(lists: dict[str, tuple], iterations: list[Scope], signatures: dict[int, Any],
                  construct: Callable[[dict[str, str]], str]) -> str | None:  # fmt: skip
    """`[<call> for i in range(<count>)]` for the iterations of a repeat in a class with the list
    parameters `lists` (`signatures`: each scope's class; `construct(given)`: the call with the
    expressions `given` for some parameters, the first iteration's values for the others), or
    None when some argument is no formula of `i` and the lists, or the iterations are of
    different classes."""
    sigs = [signatures[id(it)] for it in iterations]
    if (
        not lists or len(iterations) < 3 or any(s is not sigs[0] for s in sigs)
    ):  # two: any pair fits `a if i == 0 else b`
        return None
    envs = [{"i": k, **lists} for k in range(len(iterations))]
    fitter = Fitter(envs, ["i", *lists], tuple(lists), ("i",))
    given: dict[str, str] = {}
    for p in sigs[0].params:
        values = tuple(_value(it, sigs[0], p) for it in iterations)
        expr = fitter.indexed(values)  # else the same value in every iteration: the first's
        if expr is None and len({(type(v), v) for v in values}) > 1:
            expr = _first_differs(envs, lists, values)
            if expr is None:
                return None
        if expr is not None:
            given[p] = expr
    if not any("i" in _read(e) for e in given.values()):
        return None
    count = next((f"len({n})" for n, v in lists.items() if len(v) == len(iterations)
                  and any(n in _read(e) for e in given.values())), str(len(iterations)))  # fmt: skip
    return f"[{construct(given)} for i in range({count})]"


def _first_differs(envs: list[dict[str, Any]], lists: dict[str, tuple], values: tuple) -> str | None:
    """`7 if i == 0 else 3` (timm's stage loops: the stem's patch size, its input width): the
    first iteration's literal, and a constant or a list term for the others."""
    rest = values[1:]
    if len({(type(v), v) for v in rest}) == 1:
        other = repr(rest[0])
    else:
        other = Fitter(envs[1:], ["i", *lists], tuple(lists), ("i",)).indexed(rest)
    if other is None or type(values[0]) not in (int, float) or isinstance(values[0], bool):
        return None
    return f"{values[0]!r} if i == 0 else {other}"


def _value(it: Scope, sig: Any, name: str) -> Any:
    """An iteration's value of its class's parameter `name` (a spec argument or a lifted one)."""
    lifted = sig.lifted.get(id(it), {})
    return native(lifted[name] if name in lifted else it.args[name])


def _read(expr: str) -> set[str]:
    import ast

    return {n.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name)}


def common_definition(graph: Graph, models: list[str]) -> str | None:
    """The model definition every one of `models` varies (`vit` for `vit_b16`, `vit_l16_384`), or
    None when they vary none in common."""
    definitions = graph.program.definitions if graph.program is not None else {}
    chains = [variant_chain(definitions, n) for n in models]
    return next((n for n in chains[0] if all(n in c for c in chains)), None)


def definition_doc(graph: Graph, name: str) -> str:
    """The first paragraph of the definition `name`'s docstring, on one line ('' when none)."""
    definition = graph.program.definitions.get(name) if graph.program is not None else None
    if isinstance(definition, s.Model) and definition.doc:
        return " ".join(definition.doc.strip().split("\n\n")[0].split())
    return ""


def flags(graphs: list[Graph], models: set[str]) -> list[str]:
    """The boolean parameters true in every one of `models` and false in every other model of
    `graphs` (DeiT's `distilled`: the class `VitDistilled` beside `Vit`)."""
    own = [g for g in graphs if g.name in models]
    rest = [g for g in graphs if g.name not in models]
    return [p for p, v in own[0].params.items()
            if v is True and all(g.params.get(p) is True for g in own) and all(g.params.get(p) is False for g in rest)]  # fmt: skip
