"""Parsed files kept on disk between processes, so a command whose files are unchanged never
imports Lark nor parses (about a third of `archgraph report`'s CPU time for ViT-H/14).

`parse(text, filename)` returns what `archgraph.parser.parse` returns. A tree is stored after
a successful parse (errors are never stored) as a pickle in the per-user cache directory that
Lark's tables already use (`$XDG_CACHE_HOME/archgraph` or `~/.cache/archgraph`, mode 0700 and
owned by the user, else no disk cache at all), named by a hash of the file's name, its text and
the front end's own sources (`_FRONT_END`: grammar, parser, syntax, source, scalars, record), so an
edit to any of them misses. A write goes to a temporary file renamed into place (atomic:
concurrent processes read a whole file or none); a file that cannot be read or unpickled is a
miss. About `KEEP` trees are kept (one write in 16 removes the least recently written beyond
it). ARCHGRAPH_NO_CACHE=1 turns the disk cache off.
"""

from __future__ import annotations

import contextlib
import os
from functools import cache
from pathlib import Path

from archgraph import syntax as s
from archgraph.source import SourceFile, register

KEEP = 512  # trees kept on disk
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
def _directory() -> Path | None:
    """The private cache directory, or None where there is none we alone own (or it is turned off)."""
    if os.environ.get("ARCHGRAPH_NO_CACHE"):
        return None
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "archgraph"
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = base.stat()
    except (OSError, RuntimeError):  # no home directory, or not writable
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None  # not ours alone: a planted pickle would run code
    return base


@cache
def _front_end_digest() -> bytes | None:
    """A hash of the sources that decide what a parse returns (a code change invalidates every tree),
    or None where they cannot be read (a zipped or stripped install: then no disk cache)."""
    here = Path(__file__).resolve().parent
    digest = _sha256()
    try:
        for name in _FRONT_END:
            digest.update((here / name).read_bytes())
    except OSError:
        return None
    return digest.digest()


def _sha256(data: bytes = b""):
    """hashlib.sha256, from CPython's own module where there is one (importing hashlib loads OpenSSL: ~2 ms)."""
    try:
        from _sha256 import sha256  # CPython 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # CPython 3.12+
        except ImportError:
            from hashlib import sha256
    return sha256(data)


def _entry(filename: str, text: str) -> Path | None:
    """The cache file for this name and text, or None without a cache directory."""
    base, front_end = _directory(), _front_end_digest()
    if base is None or front_end is None:
        return None
    key = _sha256(front_end + filename.encode("utf-8", "surrogatepass") + b"\0")
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
    return tree if isinstance(tree, s.File) else None


def _write(path: Path, tree: s.File) -> None:
    """Store `tree` at `path` atomically, then keep the newest KEEP trees; failures are ignored."""
    import pickle
    import tempfile

    handle, temporary = tempfile.mkstemp(suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            pickle.dump(tree, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except (OSError, pickle.PicklingError, RecursionError):
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return
    if path.name.startswith("0"):  # one write in 16 (by the key's hash) scans the directory
        _prune(path.parent)


def _prune(base: Path) -> None:
    """Remove the oldest trees beyond KEEP (another process may remove them first: ignored)."""
    try:
        entries = [(e.stat().st_mtime, e.path) for e in os.scandir(base) if e.name.endswith(_SUFFIX)]
    except OSError:
        return
    if len(entries) <= KEEP:
        return
    for _, old in sorted(entries)[: len(entries) - KEEP]:
        with contextlib.suppress(OSError):
            os.unlink(old)
