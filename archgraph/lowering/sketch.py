"""A sketch: a model lowered with the block calls like an earlier one not copied, for counting.

`lower(program, model, overrides, sketch=Sketch())` evaluates every block call whose key
(lowering.instances.key) is new, as a full lowering does, but a call that a full lowering would
copy from an earlier one (a repeat's identical iterations) is recorded here instead: its path,
the path of the call it repeats (the template) and the scope it was made in. Its result is the
template's (same types). So a sketch of ViT has one encoder block, not 32, and still gives
exactly the full graph's counts: a node stands for `weights()[node.id]` nodes of the full graph,
and `resolve` maps a full graph's path to the sketch node with its parameter count.

A sketch in which a copy was still made at another path (a shared repeat inside a block that is
evaluated twice) cannot map the copy's skipped calls: `exact` is then False and callers lower in full.
"""

from __future__ import annotations

from archgraph.record import field, record

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any


@record
class Sketch:
    """What a sketch skipped: each skipped call's path -> its template's path, and per template path
    the scopes the skipped calls were made in, each with whether it holds parameters (not when the
    call is in a shared repeat's later call, which reads the first one's weights)."""

    aliases: dict[str, str] = field(default_factory=dict)
    sites: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    exact: bool = True

    def skip(self, path: str, template: str, parent: str, zeroed: bool) -> None:
        """Record a call at `path`, made in scope `parent`, that repeats the call at `template`."""
        self.aliases[path] = template
        self.sites.setdefault(template, []).append((parent, zeroed))

    def resolve(self, path: str, known: dict[str, Any]) -> str:
        """A full graph's `path` with its skipped prefixes replaced (longest first) by their templates'
        paths, until it is in `known` or none is left."""
        for _ in range(path.count(".") + len(self.aliases) + 1):
            if path in known:
                return path
            heads = list(_prefixes(path))
            head = next((h for h in reversed(heads) if h in self.aliases), None)
            if head is None:
                return path
            path = self.aliases[head] + path[len(head) :]
        return path

    def weights(self, graph, params: bool = False) -> dict[str, int]:
        """{node id: how many nodes of the full graph the sketch's node stands for} for `graph`, this
        sketch's graph: 1, plus for each template it lies in, the weight of every scope that skipped
        it. With `params`, how many of them hold their parameters (skips in shared calls left out)."""
        memo: dict[str, int] = {}
        return {node.id: self._multiplicity(node.scope, memo, params) for node in graph.nodes.values()}

    def _multiplicity(self, scope: str, memo: dict[str, int], params: bool) -> int:
        m = memo.get(scope)
        if m is None:
            m = 1
            for head in _prefixes(scope):
                for parent, zeroed in self.sites.get(head, ()):
                    m += 0 if params and zeroed else self._multiplicity(parent, memo, params)
            memo[scope] = m
        return m


def _prefixes(path: str):
    """`a`, `a.b`, `a.b.c` for `a.b.c` (nothing for the root's empty path)."""
    end = path.find(".")
    while end != -1:
        yield path[:end]
        end = path.find(".", end + 1)
    if path:
        yield path
