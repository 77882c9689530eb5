"""Load a spec file and its imports into one `Program`: every block and model by name.

An import names a `.arch` file by a relative path, looked up in this order (the first that
exists wins): the importing file's folder, each `--lib` folder, each ARCHGRAPH_PATH folder
(os.pathsep-separated), then, for a path starting `std/`, the standard library shipped in
archgraph/std/. A file may only be read from inside one of these roots: the spec root (the
folder of the file the user named; a file found there imports relative to it), a library
folder, or the standard library. Cycles and duplicates are spec errors, and a file that does
not begin as a spec is refused without quoting it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

from archgraph import syntax as s
from archgraph.errors import ArchImportError, ArchNameError, ArchSyntaxError, Note, SpecError, file_kind, os_cause
from archgraph.parsed import parse
from archgraph.record import field, record
from archgraph.source import SourceFile, Span, register

MAX_FILE_BYTES = 256 * 1024  # 30 times the largest spec in specs/, and parsed in about 2 s
STD = Path(__file__).resolve().parent / "std"  # the standard library: `import "std/vit.arch"`
ENV = "ARCHGRAPH_PATH"
_LIBRARY: list[Path] = []  # the --lib folders (set_library_path)
_FIRST_WORD = re.compile(r"\A(?:\s|#[^\n]*)*(\w*)")
_FIRST_WORDS = ("import", "block", "model")


def set_library_path(folders: Iterable[str | Path]) -> None:
    """The folders searched after the importing file's own (the CLI's --lib, in order)."""
    _LIBRARY[:] = [Path(f) for f in folders]


def library_roots() -> list[tuple[str, Path]]:
    """(origin, folder) in search order after the importing file's folder: --lib, then ARCHGRAPH_PATH."""
    return [(origin, given.resolve()) for origin, given in _library_folders()]


def libraries_used(program: Program) -> list[str]:
    """The library folders (`--lib`, then ARCHGRAPH_PATH's, as given) that `program` loaded a file from,
    in search order: what a command must name to load it again (a generated file's header)."""
    used: list[str] = []
    for _, given in _library_folders():
        root = given.resolve()
        if str(given) not in used and any(p.is_relative_to(root) for p in program.paths):
            used.append(str(given))
    return used


def _library_folders() -> list[tuple[str, Path]]:
    """(origin, folder as given) of each existing library folder: --lib, then ARCHGRAPH_PATH."""
    env = [Path(p) for p in os.environ.get(ENV, "").split(os.pathsep) if p.strip()]
    folders = [("--lib", p) for p in _LIBRARY] + [(ENV, p) for p in env]
    return [(origin, p) for origin, p in folders if p.is_dir()]


@record
class Program:
    """The definitions visible from one spec file; `own` are those the file itself defines."""

    definitions: dict[str, s.Block | s.Model | s.Variant] = field(default_factory=dict)
    own: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # the text of each of `files`, as parsed
    paths: set[Path] = field(default_factory=set)  # every file loaded, resolved

    @property
    def models(self) -> list[str]:
        """The models (not blocks) the file itself defines, in order."""
        return [n for n in self.own if not isinstance(self.definitions[n], s.Block)]


def display_name(path: Path) -> str:
    """A path as the user would type it: relative to the working directory where possible;
    a standard library file as its import path (`std/vit.arch`)."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symbolic link loop (RuntimeError before Python 3.13)
        return str(path)
    if resolved.is_relative_to(STD):
        return "std/" + resolved.relative_to(STD).as_posix()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
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
    name = display_name(entry) if text is None else str(path)
    target = resolved(entry)
    program = Program()
    _load_file(program, target, name, text, target.parent, stack=[], own=True)
    return program


def _load_file(program: Program, path: Path, name: str, text: str | None, root: Path, stack: list, own: bool) -> None:
    if text is None:
        text = read_spec(path)
        _refuse_non_spec(text, name, None)
    tree = parse(text, name)
    if not tree.items:
        what = "is empty" if not text.strip() else "holds only comments"
        raise ArchSyntaxError(f"`{name}` {what}; a spec imports files or defines blocks and models",
                              Span(name, 1, 1, 1, 2))  # fmt: skip
    program.files.append(name)
    program.texts.append(text)
    program.paths.add(path)
    stack = [*stack, path]
    for item in tree.items:
        if isinstance(item, s.Import):
            _import(program, item, path, root, stack)
            continue
        _define(program, item)
        if own:
            program.own.append(item.name)


def _refuse_non_spec(text: str, name: str, at: s.Import | None) -> None:
    """A file whose first word is not `import`, `block` or `model` is not shown: it may hold a secret.
    A first word of the file named on the command line that is a misspelt keyword is a syntax error."""
    match = _FIRST_WORD.match(text)
    word = match.group(1)
    if match.end() == len(text) or word in _FIRST_WORDS:
        return  # empty or only comments: said later; or it begins as a spec
    line = text[: match.start(1)].count("\n") + 1
    col = match.start(1) - text.rfind("\n", 0, match.start(1))
    import difflib  # only for a mistake: not at start-up

    guess = difflib.get_close_matches(word, _FIRST_WORDS, n=1, cutoff=0.6)
    if at is None and guess:
        register(SourceFile(name, text))  # the file named on the command line: its line may be shown
        raise ArchSyntaxError(f"expected `import`, `block` or `model`, found `{word}`; did you mean `{guess[0]}`?",
                              Span(name, line, col, line, col + len(word)))  # fmt: skip
    where = at.span if at else Span(name, line, 1, line, 1)
    raise ArchImportError(f"`{name}` is not an archgraph spec: it does not begin with `import`, `block` or "
                          "`model` (its content is not shown)", where)  # fmt: skip


def _import(program: Program, item: s.Import, importer: Path, root: Path, stack: list) -> None:
    _check_import_path(item)
    target, target_root = _resolve(item, importer, root)
    if target in stack:
        chain = " -> ".join(p.name for p in [*stack[stack.index(target) :], target])
        raise ArchImportError(f"import cycle: {chain}", item.span)
    if target in program.paths:
        return  # already loaded through another import
    text = read_spec(target, item.span)
    try:
        _refuse_non_spec(text, display_name(target), item)
        _load_file(program, target, display_name(target), text, target_root, stack, own=False)
    except SpecError as error:
        if error.diagnostics[0].span != item.span:
            error.diagnostics[0].notes.append(Note("imported here", item.span))
        raise


def _check_import_path(item: s.Import) -> None:
    """A printable, relative path to a `.arch` file, or an import error."""
    if not item.path or any(not c.isprintable() for c in item.path):
        raise ArchImportError(f"an import path must be a printable file name, found {item.path!r}", item.span)
    if Path(item.path).is_absolute() or item.path.startswith(("/", "\\")):
        raise ArchImportError(f"import paths are relative to the importing file, found absolute `{item.path}`",
                              item.span)  # fmt: skip
    if not item.path.endswith(".arch"):
        raise ArchImportError(f"an import names a `.arch` spec file, found `{item.path}`", item.span)


def _candidates(item: s.Import, importer: Path, root: Path, libraries: list) -> list[tuple[str, Path, Path]]:
    """(where, candidate file, the root it must stay in) in search order."""
    out = [(f"`{display_name(importer.parent)}` (the importing file's folder)", importer.parent / item.path, root)]
    out += [(f"`{display_name(folder)}` ({origin})", folder / item.path, folder) for origin, folder in libraries]
    if item.path.startswith("std/"):
        out.append(("the standard library", STD / item.path.removeprefix("std/"), STD))
    return out


def _resolve(item: s.Import, importer: Path, root: Path) -> tuple[Path, Path]:
    """The file an import names and the root it lies in, or an import error that says where it looked."""
    libraries = library_roots()
    candidates = _candidates(item, importer, root, libraries)
    for _, candidate, inside in candidates:
        target = _existing(candidate, item)
        if target is not None and target.is_relative_to(inside):
            return target, inside
    if not resolved(importer.parent / item.path, item.span).is_relative_to(root):
        raise ArchImportError(f"`{item.path}` points outside the spec root `{display_name(root)}`", item.span)
    looked = ", ".join(where for where, _, _ in candidates)
    hint = "" if libraries else "; no --lib or ARCHGRAPH_PATH folder is set"
    raise ArchImportError(f"cannot find `{item.path}`: looked in {looked}{hint}", item.span)


def _existing(candidate: Path, item: s.Import) -> Path | None:
    """`candidate` with its links followed if it exists, else None; a link loop or an OS error is an import error."""
    try:
        target = candidate.resolve(strict=True)
    except FileNotFoundError:
        return None
    except (OSError, RuntimeError) as error:  # a symlink loop (RuntimeError before Python 3.13), no permission
        raise ArchImportError(f"cannot read `{item.path}` ({display_name(candidate)}): {os_cause(error)}",
                              item.span) from None  # fmt: skip
    return target


def _define(program: Program, item: s.Block | s.Model | s.Variant) -> None:
    previous = program.definitions.get(item.name)
    if previous is not None:
        raise ArchNameError(f"`{item.name}` is defined twice", item.name_span,
                            [Note("first defined here", previous.name_span)])  # fmt: skip
    program.definitions[item.name] = item
