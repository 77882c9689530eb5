"""Export a lowered graph: JSON (nodes with ordered inputs), Graphviz DOT, GraphML (networkx).

Each node is labelled with its path, op, output shape, parameters and FLOPs; `--depth`
limits DOT to the first levels of the hierarchy by clustering nodes per scope.
"""

from __future__ import annotations

import io
import json

from archgraph.ir import Graph
from archgraph.report import human


def to_json(graph: Graph) -> str:
    nodes = [
        {"id": n.id, "op": n.op, "path": n.path, "scope": n.scope, "inputs": [str(v) for v in n.inputs],
         "attrs": {k: list(v) if isinstance(v, tuple) else v for k, v in n.attrs.items()},
         "outputs": [str(t) for t in n.outs], "params": n.params, "macs": n.cost.macs, "flops": n.cost.flops,
         "other_flops": n.cost.other, "span": str(n.span)}
        for n in graph.nodes.values()
    ]  # fmt: skip
    outputs = [str(v) for v in graph.outputs]
    return json.dumps({"model": graph.name, "nodes": nodes, "outputs": outputs}, indent=2, default=str) + "\n"


def to_dot(graph: Graph) -> str:
    lines = [f'digraph "{graph.name}" {{', "  rankdir=TB;", '  node [shape=box, fontname="monospace", fontsize=10];']
    for node in graph.nodes.values():
        cost = f"\\n{node.params:,} params" if node.params else ""
        cost += f"\\n{human(node.cost.flops)}FLOPs" if node.cost.flops else ""
        label = f"{node.path}\\n{node.op} -> {node.out}{cost}".replace('"', "'")
        lines.append(f'  {node.id} [label="{label}"];')
        for port, value in enumerate(node.inputs):
            lines.append(f'  {value.node} -> {node.id} [label="{port}"];')
    return "\n".join([*lines, "}"]) + "\n"


def to_graphml(graph: Graph) -> str:
    import networkx as nx

    g = graph.to_networkx()
    for _, data in g.nodes(data=True):
        data["attrs"] = json.dumps(data["attrs"], default=str)
    buffer = io.BytesIO()
    nx.write_graphml(g, buffer)
    return buffer.getvalue().decode()


EXPORTERS = {"json": to_json, "dot": to_dot, "graphml": to_graphml}
