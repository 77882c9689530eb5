"""Totals of parameters and cost over a graph, and per scope.

Conventions (those of torch.utils.flop_counter.FlopCounterMode, so the two can be compared
exactly): FLOPs count matmuls and convolutions only, 2 per multiply-add; bias adds are not
counted; MACs = FLOPs / 2. Elementwise work (norms 5/element, GELU 8, softmax 3 plus the
score scaling, residual adds 1) is reported apart as "other" FLOPs. Attention's scores
`q@k^T` and `attn@v` (2*B*h*N^2*d each) are counted as matmul FLOPs and also itemised as the
N^2 term. Parameters are exact integers, biases and embeddings included, equal to
`sum(p.numel())` of the generated module. All figures are at batch 1 unless scaled.

Per-scope totals come from one pass over the nodes (`by_scope`): each node adds to every
prefix of its path, so a report with a row per block is linear in the model's size.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator

from archgraph.ir import Graph, Node
from archgraph.record import record, replace


@record
class Totals:
    params: int = 0
    macs: int = 0
    other_flops: int = 0
    attention_flops: int = 0  # the N^2 part of `flops`

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def add(self, node: Node) -> None:
        self.params += node.params
        self.macs += node.cost.macs
        self.other_flops += node.cost.other
        if node.cost.quadratic:
            self.attention_flops += node.cost.flops

    def scaled(self, batch: int) -> Totals:
        """Costs at batch `batch` (every op is linear in the batch); parameters unchanged."""
        return Totals(self.params, self.macs * batch, self.other_flops * batch, self.attention_flops * batch)


def totals(graph: Graph, prefix: str | None = None) -> Totals:
    """Totals over the whole graph, or over the nodes whose path starts with `prefix.`."""
    if prefix is not None:
        return replace(by_scope(graph).get(prefix) or Totals())
    t = Totals()
    for node in graph.nodes.values():
        t.add(node)
    return t


def prefixes(path: str) -> Iterator[str]:
    """`a`, `a.b`, `a.b.c` for the path `a.b.c`: the scopes a node at `path` lies in, and itself."""
    end = path.find(".")
    while end != -1:
        yield path[:end]
        end = path.find(".", end + 1)
    yield path


_INDEX: list[tuple[weakref.ref, int, dict[str, Totals]]] = []  # the last few graphs' per-scope totals
_INDEX_SIZE = 4


def by_scope(graph: Graph) -> dict[str, Totals]:
    """{prefix: Totals of the nodes under it} for every prefix of every node's path, in one pass
    (kept for the last few graphs, so repeated `totals(graph, prefix)` calls stay linear)."""
    for ref, size, index in _INDEX:
        if ref() is graph and size == len(graph.nodes):
            return index
    index: dict[str, Totals] = {}
    for node in graph.nodes.values():
        for prefix in prefixes(node.path):
            t = index.get(prefix)
            if t is None:
                t = index[prefix] = Totals()
            t.add(node)
    _INDEX[:] = [(weakref.ref(graph), len(graph.nodes), index), *_INDEX[: _INDEX_SIZE - 1]]
    return index


def sums_by_scope(graph: Graph, value: Callable[[Node], int]) -> dict[str, int]:
    """{prefix: sum of `value(node)` over the nodes under it}, in one pass (see `by_scope`)."""
    sums: dict[str, int] = {}
    for node in graph.nodes.values():
        v = value(node)
        for prefix in prefixes(node.path):
            sums[prefix] = sums.get(prefix, 0) + v
    return sums


def under(node: Node, prefix: str | None) -> bool:
    """Whether `node` lies in the scope `prefix` (every node when `prefix` is None)."""
    return prefix is None or node.path == prefix or node.path.startswith(prefix + ".")
