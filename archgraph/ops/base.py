"""What an op is: data plus small functions, registered by name (the name the spec uses).

An `OpDef` says which tensor arguments and attributes the op takes, how its output shape
follows from its inputs (`infer`), how many parameters it owns, what it costs, what fvcore
counts for it (`fvcore`), what autograd keeps for its backward or whether it is a view
(`memory`), how the code generator writes it (`Emit`), and its documentation (`summary`,
`formulas`, `notes`, `example`, `Attr.doc`), from which docs/language.md's op reference is
generated (archgraph.docs). `@register` refuses a name registered twice; tests/test_registry.py
fails when an op lacks a rule.
"""

from __future__ import annotations

from collections.abc import Callable

from archgraph.errors import OpError
from archgraph.ir import Cost, TensorType
from archgraph.record import field, record

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

REQUIRED = object()  # marks an attribute without a default


@record(frozen=True)
class Attr:
    """An op attribute: its kind (int, float, bool, str, ints, any) and default."""

    kind: str
    default: Any = REQUIRED
    doc: str = ""


if TYPE_CHECKING:  # the rules' signatures, for annotations
    Infer = Callable[[list[TensorType], dict[str, Any]], TensorType | tuple[TensorType, ...]]
    # (input types, attributes, output types) -> a count at batch 1
    Count = Callable[[list[TensorType], dict[str, Any], tuple[TensorType, ...]], int]
    # (input types, attributes, output types, batch, bytes per activation element) -> bytes
    Bytes = Callable[[list[TensorType], dict[str, Any], tuple[TensorType, ...], int, int], int]
KEEPS = ("nothing", "input", "inputs", "output", "inputs+outputs")


@record(frozen=True)
class Memory:
    """What autograd keeps for an op's backward (memory.py reads it), or that the op is a view.

    keeps: one of KEEPS, or (input types, attributes) -> one of them; "input" is the first
    tensor operand that is not a parameter, "inputs" every one. extra: bytes kept beyond those
    tensors (statistics, copies made inside the op). view: the output shares the input's storage.
    why: the backward formula the rule follows, for the docs.
    """

    keeps: str | Callable[[list[TensorType], dict[str, Any]], str]
    why: str
    extra: Bytes | None = None
    view: bool = False


VIEW = Memory("nothing", "a view of its input: no storage of its own, nothing saved", view=True)


def uncounted(ins, a, outs) -> int:
    """fvcore's count for an op its default handles ignore (or count as matmuls, already in `macs`): 0."""
    return 0


@record(frozen=True)
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
    flags: tuple[str, ...] = ()  # constructor flags (default False) of the class holding the op, read as `self.<flag>`


@record(frozen=True)
class OpDef:
    name: str
    inputs: tuple[str, ...]  # tensor arguments; a leading `*` means "one or more", a trailing `?` "optional"
    attrs: dict[str, Attr]
    infer: Infer
    emit: Emit
    summary: str
    params: Callable[[list[TensorType], dict[str, Any]], int] = lambda ins, a: 0
    # at batch 1: every op here is linear in the batch, so the report scales by B
    cost: Callable[[list[TensorType], dict[str, Any], tuple[TensorType, ...]], Cost] = lambda ins, a, outs: Cost()
    learnable: bool = False  # owns weights, so its label becomes a state_dict prefix
    # how many of its parameters are not trained; None: all of them when its `frozen` attribute is on
    frozen: Callable[[list[TensorType], dict[str, Any]], int] | None = None
    buffer: bool = False  # holds a constant buffer (not a parameter, not an activation): memory lists it
    formulas: dict[str, str] = field(default_factory=dict)  # shape / params / FLOPs, for the docs
    # rules with no default: tests/test_registry.py fails on an op that leaves one None
    fvcore: Count | None = None  # the elementwise count fvcore's default handles add (matmuls are in `macs`)
    memory: Memory | None = None  # what backward keeps, or that the op is a view
    notes: str = ""  # prose for the op reference (markdown), after the summary
    example: str = ""  # one spec line using the op
    written: str = ""  # how a spec writes it, when not as a call (`a + b`, `x[i]`)
    # the dtypes an input accepts, by input name; an input not named here takes f32 (any dtype for a view)
    dtypes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def accepts(self, index: int) -> tuple[str, ...] | None:
        """The dtypes tensor input `index` may have, or None for any."""
        name = self.input_names[0 if self.variadic else index]
        if name in self.dtypes:
            return self.dtypes[name]
        return None if self.memory is not None and self.memory.view else ("f32",)

    @property
    def input_names(self) -> list[str]:
        """The tensor inputs' names, without the `*` of a variadic or the `?` of an optional one."""
        return [name.strip("*?") for name in self.inputs]

    @property
    def required_inputs(self) -> list[str]:
        """The tensor inputs a call must give (not variadic, not optional `name?`)."""
        return [] if self.variadic else [name for name in self.inputs if not name.endswith("?")]

    @property
    def variadic(self) -> bool:
        return bool(self.inputs) and self.inputs[0].startswith("*")


REGISTRY: dict[str, OpDef] = {}


def frozen_params(op: OpDef, ins: list[TensorType], attrs: dict[str, Any], params: int) -> int:
    """How many of the `params` parameters of an `op` node (inputs `ins`, attributes `attrs`) no
    optimiser updates."""
    if op.frozen is not None:
        return op.frozen(ins, attrs)
    return params if attrs.get("frozen") else 0


def register(op: OpDef) -> OpDef:
    if op.name in REGISTRY:
        raise ValueError(f"op `{op.name}` registered twice")
    REGISTRY[op.name] = op
    return op


def missing_rules(op: OpDef) -> list[str]:
    """The per-op rules and docs `op` lacks (tests/test_registry.py requires none for every op)."""
    missing = [rule for rule in ("fvcore", "memory") if getattr(op, rule) is None]
    if op.memory is not None and isinstance(op.memory.keeps, str) and op.memory.keeps not in KEEPS:
        missing.append(f"memory.keeps (`{op.memory.keeps}` is none of {', '.join(KEEPS)})")
    missing += [f"formulas[{key!r}]" for key in ("shape", "params", "flops") if not op.formulas.get(key)]
    missing += [field for field in ("summary", "example") if not getattr(op, field)]
    missing += [f"the doc of attribute `{name}`" for name, attr in op.attrs.items() if not attr.doc]
    return missing


def suggest(name: str, candidates) -> str | None:
    """The closest known name, for 'did you mean ...?'."""
    import difflib  # only for a mistake: not at start-up

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


def fvcore_norm(ins, a, outs) -> int:
    """fvcore's layer/group norm handle: 5 per output element (mean, variance, normalise, scale, shift), 4 without affine."""
    return (5 if a.get("affine", True) else 4) * outs[0].numel()


def call_module(a) -> str:
    """`self.<op>(x)`: the forward expression of an op whose module takes its one input."""
    return f"{a.target}({a.ins[0]})"


def norm_dim(dim: int, rank: int, arg: str = "dim") -> int:
    if not -rank <= dim < rank:
        raise OpError(f"`{arg}` must lie in [{-rank}, {rank - 1}] for a rank-{rank} tensor, found {dim}", arg)
    return dim % rank


__all__ = ["REGISTRY", "REQUIRED", "VIEW", "Attr", "Emit", "Memory", "OpDef", "register", "suggest", "uncounted"]
