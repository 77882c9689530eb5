"""What archgraph keeps on disk between processes: the private directory, its keys, atomic writes.

Two caches use it: parsed files (`parsed`: one tree per file name and text) and generated files
(`compiled`: one module per spec and everything it was generated from). Both live in the per-user
cache directory that Lark's tables already use (`$XDG_CACHE_HOME/archgraph` or
`~/.cache/archgraph`), used only when it is mode 0700 and owned by the user (a planted entry could
inject code), and not at all under ARCHGRAPH_NO_CACHE=1. An entry is written to a temporary file
renamed into place (atomic: concurrent processes read a whole entry or none); failures to write
are ignored, and each cache treats an entry it cannot read as a miss. An entry read is touched
(`used`), so the least recently used go first when a cache passes its size (`prune`): a burst of
one-off entries (a fuzzer's) does not push out the files a user works on.
"""

from __future__ import annotations

import contextlib
import os
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


@cache
def directory() -> Path | None:
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


def sha256(data: bytes = b""):
    """hashlib.sha256, from CPython's own module where there is one (importing hashlib loads OpenSSL: ~2 ms)."""
    try:
        from _sha256 import sha256 as new  # CPython 3.11
    except ImportError:
        try:
            from _sha2 import sha256 as new  # CPython 3.12+
        except ImportError:
            from hashlib import sha256 as new
    return new(data)


def sources_digest(paths: list[Path]) -> bytes | None:
    """A hash of archgraph's own files `paths` (relative to the package), each named, so that an edit
    to any of them invalidates what they decide; None where one cannot be read (a zipped or stripped
    install: then no disk cache)."""
    digest = sha256()
    try:
        for path in paths:
            digest.update(path.as_posix().encode() + b"\0" + (PACKAGE / path).read_bytes() + b"\0")
    except OSError:
        return None
    return digest.digest()


def used(path: Path) -> None:
    """Mark the entry at `path` as just used (its modification time: what `prune` keeps the newest of)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def write(path: Path, data: bytes, suffix: str, keep: int) -> None:
    """Store `data` at `path` atomically, then keep the newest `keep` entries ending in `suffix`."""
    import tempfile

    try:
        handle, temporary = tempfile.mkstemp(suffix=".tmp", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return
    if path.name.startswith("0"):  # one write in 16 (by the key's hash) scans the directory
        prune(path.parent, suffix, keep)


def prune(base: Path, suffix: str, keep: int) -> None:
    """Remove the oldest entries ending in `suffix` beyond `keep` (another process may remove them first)."""
    try:
        entries = [(e.stat().st_mtime, e.path) for e in os.scandir(base) if e.name.endswith(suffix)]
    except OSError:
        return
    if len(entries) <= keep:
        return
    for _, old in sorted(entries)[: len(entries) - keep]:
        with contextlib.suppress(OSError):
            os.unlink(old)
