"""Export a lowered graph at op level or block level: JSON, Graphviz DOT, GraphML, Mermaid, SVG.

`view(graph, level, depth)` makes the vertices and edges: at `op` level one vertex per node
(edges keep the argument position), at `block` level one per report row (the top-level
layers and each block of a repeat, or every scope down to `depth` levels), with the op edges
that cross between blocks. Every vertex carries its path, kind, output shapes, parameters,
MACs and FLOPs. SVG comes from Graphviz's `dot` when it is installed, else from archgraph's
own layered renderer (archgraph.svg), so `--format svg` always works.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from dataclasses import dataclass

from archgraph.cost import totals
from archgraph.errors import ResourceError, os_cause
from archgraph.ir import Graph, Scope
from archgraph.report import expands, human


@dataclass
class Vertex:
    id: str
    path: str
    kind: str
    outputs: list[str]
    params: int = 0
    macs: int = 0
    other_flops: int = 0

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def lines(self) -> list[str]:
        """The label: path, kind and shape, then parameters and FLOPs where there are any."""
        lines = [self.path or self.id, f"{self.kind} → {', '.join(self.outputs)}"]
        cost = [f"{self.params:,} params" if self.params else "", f"{human(self.flops)}FLOPs" if self.flops else ""]
        return [*lines, " · ".join(c for c in cost if c)] if any(cost) else lines


@dataclass
class View:
    name: str
    level: str
    vertices: list[Vertex]
    edges: list[tuple[str, str, str]]  # (source id, target id, label)


def view(graph: Graph, level: str = "op", depth: int | None = None) -> View:
    if level == "op":
        vertices = [Vertex(n.id, n.path, n.op, [str(t) for t in n.outs], n.params, n.cost.macs, n.cost.other)
                    for n in graph.nodes.values()]  # fmt: skip
        edges = [(v.node, n.id, str(port)) for n in graph.nodes.values() for port, v in enumerate(n.inputs)]
        return View(graph.name, level, vertices, edges)
    group: dict[str, str] = {}
    vertices = []
    _group(graph, graph.root.items, 0, depth, group, vertices, None)
    edges: list[tuple[str, str, str]] = []
    for node in graph.nodes.values():
        for value in node.inputs:
            edge = (group[value.node], group[node.id], "")
            if edge[0] != edge[1] and edge not in edges:
                edges.append(edge)
    return View(graph.name, level, vertices, edges)


def _group(graph: Graph, items: list, level: int, depth: int | None, group: dict, vertices: list, owner) -> None:
    """Assign every node under `items` to a block vertex (`owner`, or a new one per item)."""
    for item in items:
        if isinstance(item, Scope):
            if owner is None and not expands(item, level, depth):
                t = totals(graph, item.path)
                kind = "repeat" if item.kind == "repeat" else item.block
                outs = [str(graph.type_of(v)) for v in item.outputs]
                if all(v.id != item.path for v in vertices):  # a shared module's calls: one vertex, its first
                    vertices.append(Vertex(item.path, item.path, kind, outs, t.params, t.macs, t.other_flops))
                _group(graph, item.items, level + 1, depth, group, vertices, item.path)
            else:
                _group(graph, item.items, level + 1, depth, group, vertices, owner)
            continue
        node = graph.nodes[item]
        if owner is None:
            vertices.append(Vertex(node.id, node.path, node.op, [str(t) for t in node.outs], node.params,
                                   node.cost.macs, node.cost.other))  # fmt: skip
        group[node.id] = owner or node.id


def to_json(graph: Graph, level: str = "op", depth: int | None = None) -> str:
    """The vertices (every node at `op` level, with its attributes and span) and edges as JSON."""
    shown = view(graph, level, depth)
    if level == "op":
        nodes = [
            {"id": n.id, "op": n.op, "path": n.path, "scope": n.scope, "inputs": [str(v) for v in n.inputs],
             "attrs": {k: list(v) if isinstance(v, tuple) else v for k, v in n.attrs.items()},
             "outputs": [str(t) for t in n.outs], "params": n.params, "macs": n.cost.macs, "flops": n.cost.flops,
             "other_flops": n.cost.other, "span": str(n.span)}
            for n in graph.nodes.values()
        ]  # fmt: skip
    else:
        nodes = [{"id": x.id, "kind": x.kind, "path": x.path, "outputs": x.outputs, "params": x.params,
                  "macs": x.macs, "flops": x.flops, "other_flops": x.other_flops}
                 for x in shown.vertices]  # fmt: skip
    edges = [{"source": s, "target": t} for s, t, _ in shown.edges]
    outputs = [str(v) for v in graph.outputs]
    data = {"model": graph.name, "level": level, "nodes": nodes, "edges": edges, "outputs": outputs}
    return json.dumps(data, indent=2, default=str) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(graph: Graph, level: str = "op", depth: int | None = None) -> str:
    v = view(graph, level, depth)
    lines = [f'digraph "{_dot_text(graph.name)}" {{', "  rankdir=TB;",
             '  node [shape=box, fontname="monospace", fontsize=10];']  # fmt: skip
    for vertex in v.vertices:
        label = "\\n".join(_dot_text(line) for line in vertex.lines())
        lines.append(f'  "{vertex.id}" [label="{label}"];')
    for source, target, label in v.edges:
        lines.append(f'  "{source}" -> "{target}"' + (f' [label="{label}"];' if label else ";"))
    return "\n".join([*lines, "}"]) + "\n"


def to_graphml(graph: Graph, level: str = "op", depth: int | None = None) -> str:
    import networkx as nx

    if level == "op":
        g = graph.to_networkx()
        for _, data in g.nodes(data=True):
            data["attrs"] = json.dumps(data["attrs"], default=str)
    else:
        v = view(graph, level, depth)
        g = nx.DiGraph(name=graph.name)
        for x in v.vertices:
            g.add_node(x.id, path=x.path, kind=x.kind, shape=", ".join(x.outputs), params=x.params, macs=x.macs,
                       flops=x.flops, other_flops=x.other_flops)  # fmt: skip
        g.add_edges_from((s, t) for s, t, _ in v.edges)
    buffer = io.BytesIO()
    nx.write_graphml(g, buffer)
    return buffer.getvalue().decode()


def _mermaid_text(text: str) -> str:
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def to_mermaid(graph: Graph, level: str = "op", depth: int | None = None) -> str:
    v = view(graph, level, depth)
    ids = {x.id: f"v{i}" for i, x in enumerate(v.vertices)}
    lines = ["flowchart TD"]
    for x in v.vertices:
        lines.append(f'    {ids[x.id]}["{"<br/>".join(_mermaid_text(line) for line in x.lines())}"]')
    for source, target, label in v.edges:
        arrow = f"-->|{label}|" if label else "-->"
        lines.append(f"    {ids[source]} {arrow} {ids[target]}")
    return "\n".join(lines) + "\n"


def dot_binary() -> str | None:
    """Graphviz's `dot`, if installed."""
    return shutil.which("dot")


DOT_TIMEOUT = 60.0  # seconds; dot lays out the largest graph in specs/ (ViT-bigG, op level) in under 1 s


def run_dot(binary: str, source: str, timeout: float = DOT_TIMEOUT) -> str:
    """SVG from Graphviz's `dot` for the DOT `source`, within `timeout` seconds; else a ResourceError."""
    try:
        done = subprocess.run([binary, "-Tsvg"], input=source, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ResourceError(f"Graphviz's `dot` did not finish within {timeout:g} s; use --renderer builtin, "
                            "or --level block") from None  # fmt: skip
    except OSError as error:
        raise ResourceError(f"cannot run Graphviz's `dot` ({binary}): {os_cause(error)}") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0][:200]
        raise ResourceError(f"Graphviz's `dot` failed (exit {done.returncode}): {first}")
    return done.stdout


def to_svg(graph: Graph, level: str = "op", depth: int | None = None, renderer: str = "auto") -> str:
    """SVG through Graphviz (`renderer="dot"`), archgraph's own layout (`"builtin"`), or dot when present."""
    binary = dot_binary()
    if renderer == "dot" and binary is None:
        raise ResourceError("Graphviz's `dot` is not installed (apt-get install graphviz); use --renderer builtin")
    if renderer != "builtin" and binary is not None:
        return run_dot(binary, to_dot(graph, level, depth))
    from archgraph.svg import render_svg

    return render_svg(view(graph, level, depth))


EXPORTERS = {"json": to_json, "dot": to_dot, "graphml": to_graphml, "mermaid": to_mermaid, "svg": to_svg}
