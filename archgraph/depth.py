"""How deep a model may nest, decided once, so that no pass runs out of stack.

Every pass that follows the scope tree (codegen, the generated module's construction and its
forward, the report's rows) recurses once or a few frames per level. So the tree is limited
to MAX_SCOPE_DEPTH levels (each block call, repeat and repeat iteration is a level), checked
when the model is lowered (`check_scopes`), with the span of the scope that goes too deep;
whatever `check` accepts then fits within Python's default stack in every later pass.
`guarded` runs a pass with room to spare and turns a RecursionError that still happens into
the same kind of spec error, at a span, instead of "internal error".
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from archgraph.errors import ArchTypeError, Note
from archgraph.ir import Scope
from archgraph.source import Span

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")

MAX_SCOPE_DEPTH = 128  # levels; the deepest model in specs/ has 6, and 128 build and run in 1,000 frames
STACK_LIMIT = 40_000  # frames; the deepest spec the parser and MAX_BLOCK_DEPTH allow needs ~13,000


def scope_depth(root: Scope) -> tuple[int, list[Scope]]:
    """The depth of the scope tree under `root` (root = 1) and the chain of scopes to its deepest leaf."""
    # each entry is (scope, its parent's entry): a chain shares its ancestors, so this is linear
    # in the number of scopes, not in scopes times depth
    deepest: tuple = (root, None)
    most = 1
    stack: list[tuple[tuple, int]] = [(deepest, 1)]
    while stack:  # iterative: the check itself must not recurse
        entry, depth = stack.pop()
        if depth > most:
            deepest, most = entry, depth
        stack.extend(((item, entry), depth + 1) for item in entry[0].items if isinstance(item, Scope))
    chain: list[Scope] = []
    while deepest is not None:
        chain.append(deepest[0])
        deepest = deepest[1]
    return most, chain[::-1]


def check_scopes(root: Scope) -> None:
    """A spec error at the first scope deeper than MAX_SCOPE_DEPTH, naming the chain that leads to it."""
    depth, chain = scope_depth(root)
    if depth <= MAX_SCOPE_DEPTH:
        return
    culprit = chain[MAX_SCOPE_DEPTH]
    blocks = [s.block for s in chain[1 : MAX_SCOPE_DEPTH + 1] if s.kind == "block" and not s.label.isdigit()]
    path = " -> ".join(blocks if len(blocks) <= 8 else [*blocks[:3], "...", *blocks[-4:]])
    notes = [Note(f"through the block calls {path}")] if blocks else []
    raise ArchTypeError(f"modules nest {depth} deep here; at most {MAX_SCOPE_DEPTH} levels are allowed (each "
                        "block call, repeat and repeat step is a level): flatten the nesting", culprit.span,
                        notes)  # fmt: skip


def guarded(run: Callable[[], T], span: Span, what: str) -> T:
    """`run()` with STACK_LIMIT frames of room; a RecursionError becomes a spec error at `span`."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, STACK_LIMIT))
    try:
        return run()
    except RecursionError:
        raise ArchTypeError(f"{what} nests too deeply to follow", span) from None
    finally:
        sys.setrecursionlimit(limit)
