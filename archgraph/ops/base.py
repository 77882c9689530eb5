"""What an op is: data plus small functions, registered by name (the name the spec uses).

An `OpDef` says which tensor arguments and attributes the op takes, how its output shape
follows from its inputs (`infer`), how many parameters it owns, what it costs, and how
the code generator writes it (`Emit`). `@register` refuses a name registered twice.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archgraph.errors import OpError
from archgraph.ir import Cost, TensorType

REQUIRED = object()  # marks an attribute without a default


@dataclass(frozen=True)
class Attr:
    """An op attribute: its kind (int, float, bool, str, ints, any) and default."""

    kind: str
    default: Any = REQUIRED
    doc: str = ""


Infer = Callable[[list[TensorType], dict[str, Any]], TensorType | tuple[TensorType, ...]]


@dataclass(frozen=True)
class Emit:
    """How generated code writes an op.

    module(a) -> constructor source, or None for an op with no module of its own;
    call(a) -> forward expression; init(a) -> lines of `init_weights`.
    `a` is an `EmitArgs` (attribute sources, input expressions, the attribute path).
    """

    call: Callable[[Any], str]
    module: Callable[[Any], str | None] = lambda a: None
    init: Callable[[Any], list[str]] = lambda a: []
    parameter: bool = False  # the module is an nn.Parameter, not an nn.Module


@dataclass(frozen=True)
class OpDef:
    name: str
    inputs: tuple[str, ...]  # tensor arguments; a leading `*` means "one or more"
    attrs: dict[str, Attr]
    infer: Infer
    emit: Emit
    summary: str
    params: Callable[[list[TensorType], dict[str, Any]], int] = lambda ins, a: 0
    # at batch 1: every op here is linear in the batch, so the report scales by B
    cost: Callable[[list[TensorType], dict[str, Any], tuple[TensorType, ...]], Cost] = lambda ins, a, outs: Cost()
    learnable: bool = False  # owns weights, so its label becomes a state_dict prefix
    formulas: dict[str, str] = field(default_factory=dict)  # shape / params / FLOPs, for the docs

    @property
    def variadic(self) -> bool:
        return bool(self.inputs) and self.inputs[0].startswith("*")


REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    if op.name in REGISTRY:
        raise ValueError(f"op `{op.name}` registered twice")
    REGISTRY[op.name] = op
    return op


def suggest(name: str, candidates) -> str | None:
    """The closest known name, for 'did you mean ...?'."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return match[0] if match else None


# ---- helpers shared by the shape rules ----


def expect_rank(t: TensorType, rank: int | tuple[int, ...], arg: str | int = 0, what: str = "") -> None:
    ranks = (rank,) if isinstance(rank, int) else rank
    if t.rank not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise OpError(f"{what or 'input'} must have rank {want}, found {t} (rank {t.rank})", arg)


def broadcast(a: TensorType, b: TensorType) -> TensorType:
    """Numpy broadcasting; the batch `B` broadcasts with 1 and with itself only."""
    rank = max(a.rank, b.rank)
    da = (1,) * (rank - a.rank) + a.dims
    db = (1,) * (rank - b.rank) + b.dims
    dims = []
    for x, y in zip(da, db, strict=True):
        if x == y or y == 1:
            dims.append(x)
        elif x == 1:
            dims.append(y)
        else:
            raise OpError(f"shapes {a} and {b} do not broadcast: {x} against {y}")
    return TensorType(tuple(dims), a.dtype)


def batch_dims(t: TensorType) -> int:
    """Product of all dims but the last, for a linear map applied on the last axis (B = 1)."""
    return TensorType(t.dims[:-1]).numel()


def check_positive(a: dict[str, Any], *keys: str) -> None:
    """Raise an OpError on the first of the attributes `keys` that is not positive."""
    for key in keys:
        if a[key] <= 0:
            raise OpError(f"`{key}` must be positive, found {a[key]}", key)


def check_choice(a: dict[str, Any], key: str, choices) -> None:
    """Raise an OpError if the string attribute `key` is none of `choices` (e.g. an unknown init)."""
    if a[key] not in choices:
        raise OpError(f"unknown {key} `{a[key]}`; expected one of {', '.join(choices)}", key, "type error")


def per_element(k: int) -> Callable[[list[TensorType], dict[str, Any], tuple[TensorType, ...]], Cost]:
    """A cost of `k` "other" operations per output element (activations, norms, adds)."""
    return lambda ins, a, outs: Cost(other=k * outs[0].numel())


def call_module(a) -> str:
    """`self.<op>(x)`: the forward expression of an op whose module takes its one input."""
    return f"{a.target}({a.ins[0]})"


def norm_dim(dim: int, rank: int, arg: str = "dim") -> int:
    if not -rank <= dim < rank:
        raise OpError(f"`{arg}` must lie in [{-rank}, {rank - 1}] for a rank-{rank} tensor, found {dim}", arg)
    return dim % rank


__all__ = ["REGISTRY", "REQUIRED", "Attr", "Emit", "OpDef", "register", "suggest"]
