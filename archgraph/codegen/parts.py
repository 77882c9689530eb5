"""A block's instances split into parts of one code shape, and each part fitted into one class.

`partition` groups the instances (`Instance`: a scope's code with literal sizes, and its parameter
values) by the shape of their code; `fitted` finds, for each literal that differs between a part's
instances, the formula of the block's parameters that gives it (`fit.Fitter`), lifts one no formula
gives into an argument of its own (`lift.Lifter`), or splits the part by that literal's values.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from archgraph.codegen.fit import Fitter, is_list
from archgraph.codegen.lift import Lifter
from archgraph.codegen.memo import Views
from archgraph.ir import Scope


@dataclass
class Instance:
    """One distinct (code, parameter values) of a block's scopes, and the scopes that have it."""

    source: str
    env: dict[str, Any]
    checkpointing: bool
    doc: str
    shape: bytes  # the source with its literals blanked (`memo._blanked`)
    methods: list[str]  # each literal's method, in `literals.literals` order
    values: list[Any]  # each literal's value
    layers: list[str]  # `literals.layers` of its tree
    scopes: list[tuple[int, Scope]] = field(default_factory=list)  # (graph index, scope)


def partition(instances: list[Instance]) -> list[Part]:
    """Instances grouped by the shape of their code (literals left out)."""
    if len(instances) == 1:
        return [Part(instances)]
    parts: dict[str, list[Instance]] = {}
    for inst in instances:
        parts.setdefault(inst.shape, []).append(inst)
    return [Part(p) for p in parts.values()]


class Part:
    """Instances whose code has one shape: one class, if their literals can be fitted."""

    def __init__(self, members: list[Instance]) -> None:
        self.members = members
        self.scopes = [sc for m in members for sc in m.scopes]


@dataclass
class Fitted:
    """A part's class: the formula of each literal that is not fixed, its parameters, and the ones
    read outside `__init__` (kept as attributes)."""

    formulas: dict[int, str]  # literal index -> expression text
    params: list[str]
    attributes: set[str]
    members: list[Instance]
    lifter: Lifter | None = None


def fit(part: Part, order: list[str], lift: bool = False, callees: tuple = ()) -> list[Fitted]:
    """Formulas for the literals that differ between the part's instances; with `lift` (a block,
    not a model) a literal no formula gives becomes an argument of its own (`lift.py`), else the
    instances are split off by the values they disagree on."""
    members = part.members
    envs = [m.env for m in members]
    # the lists its stage loop indexes or it passes on (`loops.py`): `embed_dims[-1]` names a width
    read = _names_read(members[0].source)
    lists = tuple(n for n in order if is_list(members[0].env.get(n)) and n in read)
    fitter = Fitter(envs, order, lists)
    lifter = Lifter(members, callees) if lift else None
    formulas: dict[int, str] = {}
    for k in range(len(members[0].values)):
        values = tuple(m.values[k] for m in members)
        varying = len({(type(v), v) for v in values}) > 1
        expr = fitter.formula(values, varying)
        if expr is None and varying and lifter is not None:
            expr = lifter.lift(fitter, k, values)
        if expr is None and varying:
            return [f for sub in _split(members, k) for f in fit(sub, order, lift, callees)]
        if expr is not None:
            formulas[k] = expr
    known = [*fitter.names, *(lifter.lifted if lifter else [])]
    used = {k: _names(e) & set(known) for k, e in formulas.items()}
    params = [n for n in known if n in lists or any(n in u for u in used.values())]
    attributes = {n for k, u in used.items() for n in u if members[0].methods[k] != "__init__"}
    return [Fitted(formulas, params, attributes, members, lifter)]


def fitted(views: Views, part: Part, order: list[str], lift: bool, callees: dict | None = None) -> list[Fitted]:
    """`fit(part, order, lift)`, found once for instances of the same sources, parameter values and
    literals (a block the size a build varies leaves alone), each member taking its lifted arguments."""
    members = part.members
    source = members[0].source  # the parameters of the classes it calls name what it lifts (`lift.py`)
    called = tuple((n, p) for n, p in sorted((callees or {}).items()) if f"{n}(" in source) if lift else ()
    key = (tuple((m.source, tuple(m.env.items()), tuple(m.values)) for m in members), tuple(order), lift, called)
    if key not in views.fits:
        found = fit(part, order, lift, called)
        where = {id(m): i for i, m in enumerate(members)}
        views.fits[key] = [(f, [where[id(m)] for m in f.members],
                            [{n: m.env[n] for n in f.lifter.lifted} if f.lifter else {} for m in f.members])
                           for f in found]  # fmt: skip
        return found
    out = []
    for f, at, lifted in views.fits[key]:
        mine = [members[i] for i in at]
        for m, values in zip(mine, lifted, strict=True):
            m.env.update(values)
        out.append(Fitted(f.formulas, f.params, f.attributes, mine, f.lifter))
    return out


def _split(members: list[Instance], k: int) -> list[Part]:
    by_value: dict[tuple, list[Instance]] = {}
    for m in members:
        v = m.values[k]
        by_value.setdefault((type(v).__name__, v), []).append(m)
    return [Part(p) for p in by_value.values()]


@cache
def _names_read(source: str) -> frozenset[str]:
    """The names a class's source reads (a model's stage loop reads the spec's lists)."""
    return frozenset(n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name))


@cache
def _names(expr: str) -> frozenset[str]:
    return frozenset(n.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name))
