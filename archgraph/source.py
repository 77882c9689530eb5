"""Source text and spans: where every syntax node, graph node and error points.

Positions are 1-based; `end_col` is exclusive, as Lark's `Token` and `Meta` give them.
"""

from __future__ import annotations

from archgraph.record import record


@record(frozen=True)
class Span:
    """A region of one source file: `file:line:col` up to `end_line:end_col` (exclusive)."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@record(frozen=True)
class SourceFile:
    """A spec file's display name (as the user typed it) and its text."""

    name: str
    text: str

    def line(self, number: int) -> str:
        """Line `number` as Lark counts lines (only `\\n` ends one), without a CRLF's `\\r`."""
        lines = self.text.split("\n")
        return lines[number - 1].removesuffix("\r") if 0 < number <= len(lines) else ""


def text_of(span: Span) -> str | None:
    """The source text a one-line span covers, if known."""
    source = _SOURCES.get(span.file)
    if source is None or span.line != span.end_line:
        return None
    return source.line(span.line)[span.col - 1 : span.end_col - 1]


# Every span's file name -> its text, so an error can quote the line it points at.
_SOURCES: dict[str, SourceFile] = {}


def register(source: SourceFile) -> SourceFile:
    _SOURCES[source.name] = source
    return source


def lookup(name: str) -> SourceFile | None:
    return _SOURCES.get(name)
