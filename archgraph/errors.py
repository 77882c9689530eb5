"""The errors archgraph raises, and how a spec error is rendered for the user.

Two kinds (after Hy): `SpecError` is the user's mistake and always carries a span; it
renders as `file:line:col: kind: message`, the source line, a caret under the span and
notes. `InternalError` is a bug in archgraph: the CLI prints its traceback, exit code 3.
"""

from __future__ import annotations

import errno
import stat

from archgraph.record import field, record
from archgraph.source import Span, lookup


class ArchError(Exception):
    """Anything archgraph raises on purpose."""


@record(frozen=True)
class Note:
    message: str
    span: Span | None = None


@record
class Diagnostic:
    """One user-facing problem: a kind (`syntax error`, `name error`, ...), a message, a span."""

    kind: str
    message: str
    span: Span
    notes: list[Note] = field(default_factory=list)

    def render(self) -> str:
        out = [_escape(f"{self.span}: {self.kind}: {self.message}")]
        out += _quote(self.span)
        for note, repeats in _collapse(self.notes):
            if repeats:
                out.append(f"note: ... and {repeats} more times")
                continue
            where = f"{note.span}: " if note.span else ""
            out.append(_escape(f"note: {where}{note.message}"))
            if note.span is not None:
                out += _quote(note.span)
        return "\n".join(out) + "\n"


def _collapse(notes: list[Note]) -> list[tuple[Note, int]]:
    """Notes with runs of identical ones folded: (note, 0) for a note, (note, n) for n more of it."""
    out: list[tuple[Note, int]] = []
    i = 0
    while i < len(notes):
        j = i
        while j + 1 < len(notes) and notes[j + 1] == notes[i]:
            j += 1
        out.append((notes[i], 0))
        if j > i:
            out.append((notes[i], j - i))
        i = j + 1
    return out


def _quote(span: Span) -> list[str]:
    """The source line under a span and a caret stretched across it."""
    source = lookup(span.file)
    if source is None or span.line < 1:
        return []
    line = source.line(span.line)
    if len(line) > 200:  # a huge generated line: show the neighbourhood only
        start = max(0, span.col - 60)
        line, span = (
            line[start : start + 120],
            Span(span.file, span.line, span.col - start, span.line, span.col - start),
        )
    line = "".join(c if c.isprintable() or c == "\t" else "\ufffd" for c in line)  # one column each
    stop = span.end_col if span.end_line == span.line else len(line) + 1
    pad = len(line[: span.col - 1].expandtabs())
    width = max(1, len(line[span.col - 1 : stop - 1].expandtabs()))
    gutter = " " * len(str(span.line))
    return [f" {span.line} | {line.expandtabs()}", f" {gutter} | {' ' * pad}^{'~' * (width - 1)}"]


def _escape(text: str) -> str:
    """A message safe for a terminal: control characters (ESC, NUL, CR, ...) written as escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in text)


class SpecError(ArchError):
    """One or more mistakes in a spec; `str()` renders them all."""

    kind = "error"

    def __init__(self, message: str, span: Span, notes: list[Note] | None = None) -> None:
        self.diagnostics = [Diagnostic(self.kind, message, span, list(notes or []))]
        super().__init__(message)

    @classmethod
    def many(cls, diagnostics: list[Diagnostic]) -> SpecError:
        error = cls.__new__(cls)
        Exception.__init__(error, diagnostics[0].message)
        error.diagnostics = diagnostics
        return error

    @property
    def span(self) -> Span:
        return self.diagnostics[0].span

    def render(self) -> str:
        return "".join(d.render() for d in self.diagnostics)

    def __str__(self) -> str:
        return self.render().rstrip("\n")


class ArchSyntaxError(SpecError):
    kind = "syntax error"


class ArchNameError(SpecError):
    kind = "name error"


class ArchTypeError(SpecError):
    kind = "type error"


class ArchShapeError(SpecError):
    kind = "shape error"


class ArchRequireError(SpecError):
    kind = "requirement failed"


class ArchImportError(SpecError):
    kind = "import error"


class ResourceError(ArchError):
    """A file, program or machine resource that cannot serve (a checkpoint that is not a state_dict, a
    Graphviz that fails, too little memory): the user's to fix. The CLI prints one line, exit 1."""


class InternalError(ArchError):
    """A bug in archgraph, never the user's fault."""


class OpError(Exception):
    """Raised by an op's shape rule without a span; the lowering pass adds the node's span.

    `arg` names the argument at fault, so the caret can point at it.
    """

    def __init__(self, message: str, arg: str | int | None = None, kind: str = "shape error") -> None:
        super().__init__(message)
        self.message = message
        self.arg = arg
        self.kind = kind


_CAUSES = {
    errno.ENOENT: "it does not exist",
    errno.ELOOP: "its symbolic links form a loop",
    errno.ENAMETOOLONG: "a name in the path is longer than the file system allows (255 bytes)",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "the disk is full",
    errno.EISDIR: "it is a directory",
    errno.EEXIST: "it already exists",
}


def os_cause(error: OSError | RuntimeError) -> str:
    """Why an OS call failed, in words: `it does not exist`, `permission denied`, ... (a RuntimeError
    is pathlib's symlink loop in Python 3.11)."""
    if isinstance(error, RuntimeError):  # pathlib: "Symlink loop from '...'"; anything else says itself
        return _CAUSES[errno.ELOOP] if "symlink loop" in str(error).lower() else str(error).split("\n")[0].lower()
    if error.errno in _CAUSES:
        return _CAUSES[error.errno]
    return (error.strerror or str(error) or type(error).__name__).lower()


def file_kind(mode: int) -> str:
    """What a non-regular file is: `a directory`, `a FIFO (named pipe)`, `a device`, `a socket`."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"
