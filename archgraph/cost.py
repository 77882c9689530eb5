"""Totals of parameters and cost over a graph, and per scope.

Conventions (those of torch.utils.flop_counter.FlopCounterMode, so the two can be compared
exactly): FLOPs count matmuls and convolutions only, 2 per multiply-add; bias adds are not
counted; MACs = FLOPs / 2. Elementwise work (norms 5/element, GELU 8, softmax 3 plus the
score scaling, residual adds 1) is reported apart as "other" FLOPs. Attention's scores
`q@k^T` and `attn@v` (2*B*h*N^2*d each) are counted as matmul FLOPs and also itemised as the
N^2 term. Parameters are exact integers, biases and embeddings included, equal to
`sum(p.numel())` of the generated module. All figures are at batch 1 unless scaled.
"""

from __future__ import annotations

from dataclasses import dataclass

from archgraph.ir import Graph, Node


@dataclass
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
    t = Totals()
    for node in graph.nodes.values():
        if under(node, prefix):
            t.add(node)
    return t


def under(node: Node, prefix: str | None) -> bool:
    """Whether `node` lies in the scope `prefix` (every node when `prefix` is None)."""
    return prefix is None or node.path == prefix or node.path.startswith(prefix + ".")
