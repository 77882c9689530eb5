"""A model's counts at another setting from a sketch (archgraph.lowering.sketch): each distinct block
call lowered once, the repeats' identical iterations counted by weight instead of copied.

`counted(program, model, overrides)` gives exactly the totals, a convention's count and the token
count that lowering the whole model would give (tests/test_instances.py compares them for every
spec); the token-dependence line, the closed form's samples and the sweep's rows use it.
"""

from __future__ import annotations

from archgraph.conventions import Convention
from archgraph.cost import Totals
from archgraph.ir import Graph
from archgraph.loader import Program
from archgraph.lower import lower
from archgraph.lowering.sketch import Sketch
from archgraph.record import record

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any


@record(frozen=True)
class Counted:
    """A sketch (or, where a sketch cannot be exact, the full graph) and each node's weight."""

    graph: Graph
    weights: dict[str, int]  # node id -> how many nodes of the full graph it stands for
    holding: dict[str, int]  # node id -> how many of those hold its parameters (not a shared repeat's later)
    sketch: Sketch

    def total(self, conv: Convention) -> int:
        """The convention's count of the whole model at batch 1."""
        return sum(self.weights[n.id] * conv.count(self.graph, n) for n in self.graph.nodes.values())

    def quadratic(self, conv: Convention) -> int:
        """The convention's count of the N² ops (attention's scores) at batch 1."""
        nodes = self.graph.nodes.values()
        return sum(self.weights[n.id] * conv.count(self.graph, n) for n in nodes if n.cost.quadratic)

    def totals(self) -> Totals:
        """Parameters and costs of the whole model at batch 1 (cost.totals of the full graph)."""
        t = Totals()
        for n in self.graph.nodes.values():
            w = self.weights[n.id]
            t.params += self.holding[n.id] * n.params
            t.macs += w * n.cost.macs
            t.other_flops += w * n.cost.other
            t.attention_flops += w * n.cost.flops if n.cost.quadratic else 0
        return t


def counted(program: Program, model: str, overrides: dict[str, Any]) -> Counted:
    """Model `model` of a checked `program` with `overrides`, sketched (a SpecError where lowering fails)."""
    sketch = Sketch()
    graph = lower(program, model, overrides, sketch)
    if not sketch.exact:
        graph, sketch = lower(program, model, overrides), Sketch()
    return Counted(graph, sketch.weights(graph), sketch.weights(graph, params=True), sketch)


def of_graph(graph: Graph) -> Counted:
    """A fully lowered graph as a Counted (every weight 1)."""
    ones = dict.fromkeys(graph.nodes, 1)
    return Counted(graph, ones, ones, Sketch())
