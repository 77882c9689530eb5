"""Parsed files kept on disk between processes, so a command whose files are unchanged never
imports Lark nor parses (about a third of `archgraph report`'s CPU time for ViT-H/14).

`parse(text, filename)` returns what `archgraph.parser.parse` returns. A tree is stored after
a successful parse (errors are never stored) as a pickle in the private cache directory
(`diskcache`), named by a hash of the file's name, its text and the front end's own sources
(`_FRONT_END`: grammar, parser, syntax, source, scalars, record), so an edit to any of them
misses. A file that cannot be read or unpickled is a miss. About `KEEP` trees are kept, the least
recently used removed first.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from archgraph import diskcache
from archgraph import syntax as s
from archgraph.source import SourceFile, register

KEEP = 2048  # trees kept on disk (about 5 KB each)
_SUFFIX = ".tree"
_FRONT_END = ("grammar/arch.lark", "parser.py", "syntax.py", "source.py", "scalars.py", "parsed.py", "record.py")


def parse(text: str, filename: str = "<string>") -> s.File:
    """Parse one file's text (see module doc): from memory or the disk cache when it holds this
    name and text, else with `archgraph.parser` (and stored)."""
    tree = _TREES.get((filename, text))
    path = None if tree is not None else _entry(filename, text)
    if tree is None and path is not None:
        tree = _read(path)
    if tree is None:
        from archgraph.parser import parse as parse_text

        tree = parse_text(text, filename)
        if path is not None:
            _write(path, tree)
    register(SourceFile(filename, text))
    if len(_TREES) >= 256:
        _TREES.pop(next(iter(_TREES)))
    _TREES[filename, text] = tree
    return tree


_TREES: dict[tuple[str, str], s.File] = {}  # this process's trees (immutable: sharing is safe)


@cache
def _front_end_digest() -> bytes | None:
    """A hash of the sources that decide what a parse returns (a code change invalidates every tree),
    or None where they cannot be read."""
    return diskcache.sources_digest([Path(name) for name in _FRONT_END])


def _entry(filename: str, text: str) -> Path | None:
    """The cache file for this name and text, or None without a cache directory."""
    base, front_end = diskcache.directory(), _front_end_digest()
    if base is None or front_end is None:
        return None
    key = diskcache.sha256(front_end + filename.encode("utf-8", "surrogatepass") + b"\0")
    key.update(text.encode("utf-8", "surrogatepass"))
    return base / f"{key.hexdigest()[:32]}{_SUFFIX}"


def _read(path: Path) -> s.File | None:
    """The tree stored at `path`, or None (missing, truncated, or written by other code)."""
    try:
        from _pickle import load  # CPython's unpickler itself: `pickle` also defines the pure-Python one (~1 ms)
    except ImportError:
        from pickle import load
    try:
        with path.open("rb") as handle:
            tree = load(handle)
    except Exception:  # a damaged cache entry (any unpickling failure) is a miss, never an error
        return None
    if not isinstance(tree, s.File):
        return None
    diskcache.used(path)
    return tree


def _write(path: Path, tree: s.File) -> None:
    """Store `tree` at `path` (`diskcache.write`); a tree pickle cannot hold is not stored."""
    import pickle

    try:
        data = pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, RecursionError):
        return
    diskcache.write(path, data, _SUFFIX, KEEP)
