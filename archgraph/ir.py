"""The graph archgraph lowers a spec to: nodes of ops with ordered inputs, and the block scopes.

A `Node` keeps its inputs as an ordered tuple of `Value`s (node id, output index): the
tuple is the source of truth, and `Graph.to_networkx()` derives a MultiDiGraph from it
(edge attribute `port` = argument position). A `Scope` is one block instance: its path
is the generated module's attribute path and the prefix of its state_dict keys.
"""

from __future__ import annotations

import math

from archgraph.record import field, record
from archgraph.source import Span

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

BATCH = "B"  # the one symbolic dimension
DTYPES = {"f32": "torch.float32", "i64": "torch.int64", "bool": "torch.bool"}  # what an `input` may declare


@record(frozen=True, slots=True)
class TensorType:
    """A tensor's shape and dtype; dims are ints, or `B` for the batch."""

    dims: tuple[int | str, ...]
    dtype: str = "f32"

    def __str__(self) -> str:
        return f"{self.dtype}[{','.join(str(d) for d in self.dims)}]"

    @property
    def rank(self) -> int:
        return len(self.dims)

    def shape(self, batch: int = 1) -> tuple[int, ...]:
        """The concrete shape at batch size `batch`."""
        return tuple(batch if d == BATCH else int(d) for d in self.dims)

    def numel(self, batch: int = 1) -> int:
        return math.prod(self.shape(batch))


@record(frozen=True, slots=True)
class Value:
    """Output `index` of node `node`."""

    node: str
    index: int = 0

    def __str__(self) -> str:
        return self.node if self.index == 0 else f"{self.node}:{self.index}"


@record
class Cost:
    """Multiply-adds (FLOPs = 2 x MACs) and elementwise work, itemised where it helps."""

    macs: int = 0
    other: int = 0
    terms: tuple[tuple[str, int, int], ...] = ()  # (name, macs, other)
    quadratic: bool = False  # scales with tokens squared (attention scores and A.V)
    scores: tuple[int, int] | None = None  # attention's (queries Nq, keys Nk): its cost is h * Nq * Nk per sample

    @property
    def flops(self) -> int:
        return 2 * self.macs


@record
class Node:
    """One op application, with everything the report and the code generator need."""

    id: str
    op: str
    inputs: tuple[Value, ...]
    attrs: dict[str, Any]
    outs: tuple[TensorType, ...]
    span: Span
    scope: str  # path of the enclosing block instance ("" at model level)
    path: str  # scope + label: the generated attribute and state_dict prefix
    label: str | None = None  # the attribute name the user gave, if any
    params: int = 0
    cost: Cost = field(default_factory=Cost)

    @property
    def out(self) -> TensorType:
        return self.outs[0]


@record
class Scope:
    """A block instance (kind `block`/`model`) or a repeat of instances (kind `repeat`)."""

    path: str
    label: str
    kind: str
    block: str
    span: Span
    inputs: list[Value] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)
    items: list[str | Scope] = field(default_factory=list)  # node ids and child scopes, in order
    taps: list[int] = field(default_factory=list)  # repeat iterations whose outputs are read
    doc: str | None = None
    input_names: list[str] = field(default_factory=list)  # spec names of `inputs`, for the generated forward
    names: dict[Value, str] = field(default_factory=dict)  # spec variable names given to values here
    shared: bool = False  # a `repeat N shared block(...)`: its iterations are one module, called N times
    continued: bool = False  # a shared repeat whose label an earlier one has: it calls that module again
    args: dict[str, Any] = field(default_factory=dict)  # scalar names bound here (parameters), for codegen
    per_iteration: list[str] = field(default_factory=list)  # a repeat's keywords that read its index
    # a per-iteration keyword written `linspace(start, stop, n)[offset + i]` (one stage's slice of a
    # schedule over all blocks): (start, stop, n, offset), evaluated
    schedules: dict[str, tuple] = field(default_factory=dict)

    def walk(self):
        yield self
        for item in self.items:
            if isinstance(item, Scope):
                yield from item.walk()


@record
class Graph:
    """A lowered model: nodes in creation (= topological) order and the scope tree."""

    name: str
    nodes: dict[str, Node]
    root: Scope
    inputs: list[tuple[str, Value]]
    outputs: list[Value]
    doc: str | None
    params: dict[str, Any]
    source: str
    output_names: tuple[str, ...] = ()  # `return logits = a, boxes = b`: the forward returns a dict
    program: Any = field(default=None, repr=False, compare=False)  # the loader.Program it came from

    def type_of(self, value: Value) -> TensorType:
        return self.nodes[value.node].outs[value.index]

    def to_networkx(self):
        """A networkx MultiDiGraph: node attributes from `Node`, an edge per input with its `port`."""
        import networkx as nx

        g = nx.MultiDiGraph(name=self.name)
        for node in self.nodes.values():
            g.add_node(
                node.id, op=node.op, path=node.path, attrs=node.attrs, shape=str(node.out),
                params=node.params, macs=node.cost.macs, flops=node.cost.flops, other_flops=node.cost.other,
                span=str(node.span), scope=node.scope,
            )  # fmt: skip
            for port, value in enumerate(node.inputs):
                g.add_edge(value.node, node.id, port=port, index=value.index)
        return g


def verify(graph: Graph) -> None:
    """Check the graph's invariants: inputs exist and come earlier, every node has shapes."""
    seen: set[str] = set()
    for node in graph.nodes.values():
        for value in node.inputs:
            if value.node not in seen:
                raise AssertionError(f"{node.id} reads {value} before it is defined")
            if value.index >= len(graph.nodes[value.node].outs):
                raise AssertionError(f"{node.id} reads output {value.index} of {value.node}")
        if not node.outs:
            raise AssertionError(f"{node.id} has no output type")
        seen.add(node.id)
