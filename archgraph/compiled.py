"""Generated files kept on disk between processes, so that generating a module again from the
same inputs neither lowers nor fits its models again.

A generated file is a function of: the text of every file the spec loads (itself and its imports, by
the name a span shows; where it was found does not change what it says), the name the header gives
the spec and the output folder its command names, which models it holds and at which parameters,
archgraph's own sources (every `.py`, `.lark` and `.j2` file of the package: any edit misses), and
the versions of Python (`ast.unparse` prints the classes) and Jinja2 (renders the file). `entry`
hashes exactly these into the entry's name, in the private cache directory of `diskcache`. Two
callers: `archgraph compile` names the models of a spec at their defaults (a hit skips lowering
too), and `codegen.generate_file` names lowered models by their parameters (so `build`, `verify` and
the tests generate a model at one size once). A hit is the stored text only if its checksum line
(`codegen.checksum`) still matches it, so a truncated or edited entry is a miss. A failed generation
stores nothing. About `KEEP` files are kept, the least recently used removed first;
ARCHGRAPH_NO_CACHE=1 turns it off.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

from archgraph import diskcache
from archgraph.loader import Program, libraries_used

KEEP = 2048  # generated files kept on disk (a few KB to 60 KB each)
_SUFFIX = ".module"


def entry(program: Program, spec: str, output: str | None, models: list[str]) -> Path | None:
    """The cache file of the module holding `models` (each a text that names one model and its
    parameters) of `program`, the spec named `spec` in its header, compiled into `output` (None: the
    default) with the library folders its header names (`loader.libraries_used`); None without a
    cache directory (or archgraph's sources unreadable)."""
    base, generator = diskcache.directory(), _generator_digest()
    if base is None or generator is None:
        return None
    files = [part for pair in zip(program.files, program.texts, strict=True) for part in pair]
    key = diskcache.sha256(generator)
    libraries = libraries_used(program)
    for part in (spec, str(output), str(len(libraries)), *libraries, str(len(models)), *models, *files):
        data = part.encode("utf-8", "surrogatepass")
        key.update(b"%d:" % len(data) + data)  # each part length-prefixed: no two lists hash alike
    return base / f"{key.hexdigest()[:32]}{_SUFFIX}"


def cached(path: Path | None, make: Callable[[], str]) -> str:
    """The text stored at `path` (an `entry`) if any, else `make()`'s, stored there; None: no cache."""
    text = read(path) if path is not None else None
    if text is None:
        text = make()
        if path is not None:
            write(path, text)
    return text


def read(path: Path) -> str | None:
    """The generated file stored at `path`, or None (missing, damaged or edited)."""
    from archgraph.codegen.checksum import OK, status

    try:
        data = path.read_bytes()
        text = data.decode("utf-8") if status(data) == OK else None
    except (OSError, UnicodeDecodeError):
        return None
    if text is not None:
        diskcache.used(path)
    return text


def write(path: Path, text: str) -> None:
    """Store the generated file `text` at `path` (`diskcache.write`)."""
    diskcache.write(path, text.encode("utf-8"), _SUFFIX, KEEP)


@cache
def _generator_digest() -> bytes | None:
    """A hash of what turns a spec into a module besides the spec: archgraph's sources, Python's and
    Jinja2's versions; None where a source cannot be read (a zipped or stripped install)."""
    import jinja2

    sources = sorted(p.relative_to(diskcache.PACKAGE) for suffix in ("*.py", "*.lark", "*.j2")
                     for p in diskcache.PACKAGE.rglob(suffix))  # fmt: skip
    digest = diskcache.sources_digest(sources)
    if digest is None:
        return None
    versions = f"{sys.version_info[0]}.{sys.version_info[1]}\0{jinja2.__version__}"
    return diskcache.sha256(digest + versions.encode()).digest()
