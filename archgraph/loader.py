"""Load a spec file and its imports into one `Program`: every block and model by name.

Imports are resolved relative to the importing file and must stay inside the directory of
the file the user named (the spec root). Cycles and duplicates are spec errors.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from archgraph import syntax as s
from archgraph.errors import ArchImportError, ArchNameError, ArchSyntaxError, Note, SpecError, file_kind, os_cause
from archgraph.parser import parse
from archgraph.source import Span

MAX_FILE_BYTES = 256 * 1024  # 30 times the largest spec in specs/, and parsed in about 2 s


@dataclass
class Program:
    """The definitions visible from one spec file; `own` are those the file itself defines."""

    definitions: dict[str, s.Block | s.Model | s.Variant] = field(default_factory=dict)
    own: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        """The models (not blocks) the file itself defines, in order."""
        return [n for n in self.own if not isinstance(self.definitions[n], s.Block)]


def display_name(path: Path) -> str:
    """A path as the user would type it: relative to the working directory where possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # elsewhere, or a path the OS cannot follow (a symlink loop)
        return str(path)


def read_spec(path: Path, span: Span | None = None) -> str:
    """The text of a spec file, or a spec error that says why it cannot be read.

    Only a regular file is opened (a FIFO or a device is refused from its `stat`, before any
    read could block), and at most MAX_FILE_BYTES + 1 bytes are read, whatever size the file
    reports (/proc files report 0)."""
    shown = display_name(path)
    where = span or Span(shown, 1, 1, 1, 1)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            kind = file_kind(info.st_mode)
            raise ArchImportError(f"cannot read `{shown}`: it is {kind}{'' if 'not' in kind else ', not a spec file'}",
                                  where)  # fmt: skip
        if info.st_size > MAX_FILE_BYTES:
            raise ArchImportError(f"`{shown}` is {info.st_size:,} bytes; specs are limited to {MAX_FILE_BYTES:,}",
                                  where)  # fmt: skip
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except (OSError, RuntimeError) as error:
        raise ArchImportError(f"cannot read `{shown}`: {os_cause(error)}", where) from None
    if len(data) > MAX_FILE_BYTES:
        raise ArchImportError(f"`{shown}` holds more than {MAX_FILE_BYTES:,} bytes; specs are limited to "
                              f"{MAX_FILE_BYTES:,}", where)  # fmt: skip
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ArchImportError(f"`{shown}` is not UTF-8 text (byte {error.start}: {data[error.start]:#04x})",
                              where) from None  # fmt: skip


def resolved(path: Path, span: Span | None = None) -> Path:
    """`path.resolve()`, or a spec error naming the path when the OS cannot follow it (a symlink loop)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as error:
        shown = str(path)
        raise ArchImportError(f"cannot read `{shown}`: {os_cause(error)}", span or Span(shown, 1, 1, 1, 1)) from None


def load(path: str | Path, text: str | None = None) -> Program:
    """Parse `path` (or `text`, named `path`) and everything it imports."""
    entry = Path(path)
    root = resolved(entry).parent
    program = Program()
    name = display_name(entry) if text is None else str(path)
    _load_file(program, resolved(entry), name, text, root, stack=[], own=True)
    return program


def _load_file(program: Program, path: Path, name: str, text: str | None, root: Path, stack: list, own: bool) -> None:
    if text is None:
        text = read_spec(path)
    tree = parse(text, name)
    if not tree.items:
        what = "is empty" if not text.strip() else "holds only comments"
        raise ArchSyntaxError(f"`{name}` {what}; a spec imports files or defines blocks and models",
                              Span(name, 1, 1, 1, 2))  # fmt: skip
    program.files.append(name)
    stack = [*stack, path]
    for item in tree.items:
        if isinstance(item, s.Import):
            _import(program, item, path, root, stack)
            continue
        _define(program, item)
        if own:
            program.own.append(item.name)


def _import(program: Program, item: s.Import, importer: Path, root: Path, stack: list) -> None:
    if not item.path or any(not c.isprintable() for c in item.path):
        raise ArchImportError(f"an import path must be a printable file name, found {item.path!r}", item.span)
    if Path(item.path).is_absolute() or item.path.startswith(("/", "\\")):
        raise ArchImportError(f"import paths are relative to the importing file, found absolute `{item.path}`",
                              item.span)  # fmt: skip
    target = resolved(importer.parent / item.path, item.span)
    if not target.is_relative_to(root):
        raise ArchImportError(f"`{item.path}` points outside the spec root `{display_name(root)}`", item.span)
    if target in stack:
        chain = " -> ".join(p.name for p in [*stack[stack.index(target) :], target])
        raise ArchImportError(f"import cycle: {chain}", item.span)
    if display_name(target) in program.files:
        return  # already loaded through another import
    text = read_spec(target, item.span)
    try:
        _load_file(program, target, display_name(target), text, root, stack, own=False)
    except SpecError as error:
        error.diagnostics[0].notes.append(Note("imported here", item.span))
        raise


def _define(program: Program, item: s.Block | s.Model | s.Variant) -> None:
    previous = program.definitions.get(item.name)
    if previous is not None:
        raise ArchNameError(f"`{item.name}` is defined twice", item.name_span,
                            [Note("first defined here", previous.name_span)])  # fmt: skip
    program.definitions[item.name] = item
