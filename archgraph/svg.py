"""A small SVG renderer for graph views (archgraph.export.View), used when Graphviz is absent.

Layered layout: each vertex's rank is its longest path from a source; vertices of a rank sit
side by side in graph order, ranks top to bottom. Edges between adjacent ranks are straight;
an edge that skips ranks (a residual connection) bends out to the right so it does not run
through the boxes between. Labels are monospace text, so box sizes follow the text.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

CHAR_W, LINE_H, PAD, GAP_X, GAP_Y = 7.0, 14, 6, 24, 36


def _ranks(vertices, edges) -> dict[str, int]:
    """Longest path from a source, by Kahn's topological order; sources move down to just above their reader."""
    succs: dict[str, list[str]] = {v.id: [] for v in vertices}
    indegree = {v.id: 0 for v in vertices}
    for source, target, _ in edges:
        succs[source].append(target)
        indegree[target] += 1
    rank = {v.id: 0 for v in vertices}
    ready = [v.id for v in vertices if indegree[v.id] == 0]
    while ready:
        vid = ready.pop()
        for t in succs[vid]:
            rank[t] = max(rank[t], rank[vid] + 1)
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    targets = {t for _, t, _ in edges}
    for v in vertices:  # a source (a parameter) sits just above its first reader, not at the top
        if succs[v.id] and v.id not in targets:
            rank[v.id] = max(0, min(rank[t] for t in succs[v.id]) - 1)
    return rank


def _layout(vertices, rank: dict[str, int]) -> tuple[dict[str, tuple[float, float, float, float]], float, float]:
    """{id: (x, y, width, height)}, total width, total height."""
    rows: dict[int, list] = {}
    for v in vertices:
        rows.setdefault(rank[v.id], []).append(v)
    size = {v.id: (max(len(line) for line in v.lines()) * CHAR_W + 2 * PAD, len(v.lines()) * LINE_H + 2 * PAD)
            for v in vertices}  # fmt: skip
    widths = {r: sum(size[v.id][0] for v in row) + GAP_X * (len(row) - 1) for r, row in rows.items()}
    total_w = max(widths.values(), default=0) + 2 * GAP_X + 160  # room on the right for bent edges
    boxes, y = {}, float(GAP_Y) / 2
    for r in sorted(rows):
        x = (total_w - 160 - widths[r]) / 2
        height = max(size[v.id][1] for v in rows[r])
        for v in rows[r]:
            w, h = size[v.id]
            boxes[v.id] = (x, y, w, h)
            x += w + GAP_X
        y += height + GAP_Y
    return boxes, total_w, y


def _edge(a, b, rank_gap: int, right: float, index: int) -> str:
    """A straight edge between adjacent ranks; else a curve out past `right`, the boxes' right edge between."""
    ax, ay, aw, ah = a
    bx, by, bw, _ = b
    x1, y1, x2, y2 = ax + aw / 2, ay + ah, bx + bw / 2, by
    if rank_gap <= 1:
        return f'<path d="M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}" class="e"/>'
    side = right + 24 + 10 * (index % 6)
    return (f'<path d="M{ax + aw:.1f},{ay + ah / 2:.1f} C{side:.1f},{ay + ah / 2:.1f} {side:.1f},{by + 8:.1f} '
            f'{bx + bw:.1f},{by + 8:.1f}" class="e"/>')  # fmt: skip


def render_svg(view) -> str:
    """The view as a standalone SVG document."""
    rank = _ranks(view.vertices, view.edges)
    boxes, width, height = _layout(view.vertices, rank)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="monospace" font-size="11">',
           f"<title>{escape(view.name)} ({view.level} level)</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
           "<style>.e{fill:none;stroke:#555;stroke-width:1;marker-end:url(#arrow)}"
           ".b{fill:#f4f7fb;stroke:#4a6fa5;stroke-width:1}</style>"]  # fmt: skip
    right: dict[int, float] = {}
    for vid, (x, _, w, _) in boxes.items():
        right[rank[vid]] = max(right.get(rank[vid], 0.0), x + w)
    for i, (source, target, _) in enumerate(view.edges):
        span = range(rank[source], rank[target] + 1)
        edge_right = max((right.get(r, 0.0) for r in span), default=0.0)
        out.append(_edge(boxes[source], boxes[target], rank[target] - rank[source], edge_right, i))
    for v in view.vertices:
        x, y, w, h = boxes[v.id]
        out.append(f'<g><rect class="b" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="3"/>')
        for k, line in enumerate(v.lines()):
            weight = ' font-weight="bold"' if k == 0 else ""
            out.append(
                f'<text x="{x + PAD:.1f}" y="{y + PAD + LINE_H * (k + 1) - 3:.1f}"{weight}>{escape(line)}</text>'
            )
        out.append("</g>")
    return "\n".join([*out, "</svg>"]) + "\n"
