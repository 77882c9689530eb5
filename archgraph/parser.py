"""Parse `.arch` text into a `syntax.File`.

Lark (LALR, positions on) builds a parse tree; `ToSyntax` turns it into syntax records and
does nothing else (checks raised inside a Lark Transformer come out as `VisitError`).
Parse errors become `ArchSyntaxError`s that say what was expected, in the user's words.
The lexer is Lark's basic one, not the contextual default: a keyword is a keyword
everywhere, so `block if(x)` is a syntax error rather than a block named `if`.
"""

from __future__ import annotations

import inspect
import math
import re
from functools import cache
from importlib.resources import files
from pathlib import Path

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr
from lark.tree import Meta

from archgraph import syntax as s
from archgraph.errors import ArchSyntaxError
from archgraph.record import record, replace
from archgraph.scalars import LIMIT, MAX_STRING
from archgraph.source import SourceFile, Span, register

_BINARY = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%", "pow": "**",
           "and_": "and", "or_": "or", "matmul": "@"}  # fmt: skip


_ESCAPE = re.compile(r"\\(.)")


def grammar_text() -> str:
    """The grammar (archgraph/grammar/arch.lark), e.g. for hypothesis.extra.lark."""
    return files("archgraph").joinpath("grammar/arch.lark").read_text(encoding="utf-8")


@cache
def _lark() -> Lark:
    grammar = grammar_text()
    options = {"parser": "lalr", "lexer": "basic", "propagate_positions": True, "maybe_placeholders": True}
    return Lark(grammar, **options, cache=_cache_file(f"{options}\n{grammar}") or False)


def _cache_file(key: str) -> str | None:
    """Where Lark keeps the LALR tables built for `key` (the options and grammar), a pickle: a private
    per-user directory, never a shared /tmp path another user could plant a file at. Building the
    tables takes ~0.1 s; loading them, a few ms."""
    import hashlib
    import os

    import lark

    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "archgraph"
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = base.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None  # not ours alone: do without a cache
    except (OSError, RuntimeError):  # no home directory, or not writable
        return None
    digest = hashlib.sha256(f"{lark.__version__}\n{key}".encode()).hexdigest()[:16]
    return str(base / f"grammar-{digest}.lark-cache")


_PARSED: dict[tuple[str, str], s.File] = {}  # (filename, text) -> its tree: a file imported by many specs
_PARSED_LIMIT = (256, 8 * 2**20)  # files and characters of text kept (the trees are immutable: sharing is safe)


def parse(text: str, filename: str = "<string>") -> s.File:
    """Parse one file's text (once per process for a given name and text). Raises ArchSyntaxError
    at the first syntax error."""
    source = register(SourceFile(filename, text))
    if (filename, text) in _PARSED:
        return _PARSED[filename, text]
    tree = _parse(source)
    _make_room(len(text))
    _PARSED[filename, text] = tree
    return tree


def _make_room(size: int) -> None:
    """Drop the oldest trees until one more file of `size` characters fits in _PARSED_LIMIT."""
    files, chars = _PARSED_LIMIT
    while _PARSED and (len(_PARSED) >= files or sum(len(text) for _, text in _PARSED) + size > chars):
        _PARSED.pop(next(iter(_PARSED)))


def _parse(source: SourceFile) -> s.File:
    text, filename = source.text, source.name
    _guard_brackets(source)  # before Lark: 10,000 nested brackets would take it seconds to reject
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as error:
        raise _syntax_error(error, source) from None
    _guard(tree, filename)  # bounded nesting and numbers, so no later pass can overflow the stack
    return s.File(filename, tuple(ToSyntax(filename).transform(tree).children))


MAX_NESTING = 100  # levels of the parse tree; the deepest spec in specs/ has 19
_STATEMENTS = {"import_stmt", "param", "input_stmt", "assign", "return_stmt", "require_stmt", "if_stmt",
               "repeat_stmt", "variant_def"}  # fmt: skip


def _guard(tree: Tree, file: str) -> None:
    """Reject, before anything recurses over it, a tree nested too deeply or a number out of range.

    The error points at the innermost statement around the overflow (a whole statement, not
    the one leaf that happened to reach the limit)."""
    stack: list[tuple[Tree, int, Meta | None]] = [(tree, 1, None)]
    while stack:
        node, depth, statement = stack.pop()
        if node.data in _STATEMENTS and not node.meta.empty:
            statement = node.meta
        if depth > MAX_NESTING:
            where = _span(file, statement) if statement is not None else Span(file, 1, 1, 1, 2)
            raise ArchSyntaxError(f"this nests more than {MAX_NESTING} levels deep; split it into named steps", where)
        for child in node.children:
            if isinstance(child, Tree):
                stack.append((child, depth + 1, statement))
            elif isinstance(child, Token) and child.type == "NUMBER":
                _check_number(child, file)
            elif node.data == "string" and isinstance(child, Token) and len(child) > MAX_STRING + 2:
                raise ArchSyntaxError(f"this string has {len(child) - 2:,} characters; strings are limited to "
                                      f"{MAX_STRING:,}", _span(file, child))  # fmt: skip


@cache
def _brackets() -> re.Pattern[str]:
    """Matches a string or a comment (as the grammar's STRING and COMMENT match them), or one bracket."""
    patterns = {t.name: t.pattern.to_regexp() for t in _lark().terminals}
    return re.compile(f"{patterns['STRING']}|{patterns['COMMENT']}|[(\\[{{]|[)\\]}}]")


def _guard_brackets(source: SourceFile) -> None:
    """Brackets nested more than MAX_NESTING deep (strings and comments skipped) are a syntax error."""
    depth = 0
    for match in _brackets().finditer(source.text):
        char = match.group()
        if char in "([{":
            depth += 1
            if depth > MAX_NESTING:
                line = source.text.count("\n", 0, match.start()) + 1
                col = match.start() - source.text.rfind("\n", 0, match.start())
                where = Span(source.name, line, col, line, col + 1)
                raise ArchSyntaxError(f"this nests more than {MAX_NESTING} levels deep; split it into named steps",
                                      where)  # fmt: skip
        elif char in ")]}":
            depth = max(0, depth - 1)


def _check_number(token: Token, file: str) -> None:
    text = str(token)
    digits = text.lstrip("0")
    shown = text if len(text) <= 24 else f"{text[:10]}...{text[-6:]} ({len(text):,} characters)"
    if any(c in text for c in ".eE"):
        if math.isfinite(float(text)) and abs(float(text)) <= LIMIT:
            return
    elif len(digits) <= 19 and int(text) <= LIMIT:
        return
    raise ArchSyntaxError(f"the number {shown} is too large; numbers are limited to 2**62", _span(file, token))


def _syntax_error(error: UnexpectedInput, source: SourceFile) -> ArchSyntaxError:
    line, col = error.line, error.column
    at_end = isinstance(error, UnexpectedToken) and error.token.type == "$END"
    if isinstance(error, UnexpectedEOF) or at_end or line < 1:
        lines = source.text.split("\n")  # as Lark counts lines: a lone `\r` does not end one
        if len(lines) > 1 and not lines[-1]:
            lines.pop()
        line, col = len(lines), len(lines[-1].removesuffix("\r")) + 1
    span = Span(source.name, line, col, line, col + 1)
    if isinstance(error, UnexpectedCharacters):
        return _unexpected_character(source, error.pos_in_stream, span)
    expected = set(error.expected or ())
    token = getattr(error, "token", None)
    found = "end of file"
    if isinstance(error, UnexpectedToken) and token is not None and token.type != "$END":
        span = Span(source.name, line, col, token.end_line or line, token.end_column or col + len(token))
        found = f"`{token}`"
        if "NAME" in expected and str(token).isidentifier():
            return ArchSyntaxError(f"`{token}` is a keyword and cannot be used as a name here", span)
    previous, opener = _context(source.text, _offset(source.text, line, col))
    # after `model` the parser wants the `:` of a label (`model: call(...)`), not a name
    label = "NAME" not in expected and str(previous) == "model"
    if previous is not None and ("NAME" in expected or label) and previous.type != "NAME" and str(
            previous).isidentifier():  # fmt: skip
        if _meant_as_name(source.text, previous, _error_offset(error, source.text)):
            where = _span(source.name, previous)
            return ArchSyntaxError(f"`{previous}` is a keyword and cannot be used as a name{' here' * label}", where)
    if misspelt := _misspelt_keyword(previous, token):
        return ArchSyntaxError(
            f"expected {_expected(expected)}, found {found}; {misspelt}", _span(source.name, previous)
        )
    closer = _CLOSERS.get(str(opener)) if opener is not None else None
    if closer is not None and _terminal_names()[closer] in expected:
        others = (["`,`"] if _terminal_names()[","] in expected else []) + (
            ["an operator"] if expected & _operators() else []
        )
        at = f"{opener.line}:{opener.column}"
        wanted = _join([f"`{closer}` to close the `{opener}` at {at}", *others])
        step = "; a slice takes no step (`a:b`, not `a:b:s`)" if str(opener) == "[" and found == "`:`" else ""
        return ArchSyntaxError(f"expected {wanted}, found {found}{step}", span)
    return ArchSyntaxError(f"expected {_expected(expected)}, found {found}", span)


def _unexpected_character(source: SourceFile, at: int, span: Span) -> ArchSyntaxError:
    """The error for a character no token starts with, at offset `at` (`span`): an unterminated string
    or docstring, else the character itself."""
    char = source.text[at] if at < len(source.text) else ""
    if char == '"' and source.text[max(at - 2, 0) : at + 1] == '"""':
        span = Span(source.name, span.line, span.col - 2, span.line, span.col + 1)  # `""` lexed as a string, then `"`
        return ArchSyntaxError('unterminated docstring: this `"""` is never closed', span)
    if char == '"':
        return ArchSyntaxError('unterminated string: this `"` is never closed on its line', span)
    return ArchSyntaxError(f"unexpected character `{char}`" if char.isprintable() else
                           f"unexpected character {char!r}", span)  # fmt: skip


def _misspelt_keyword(previous: Token | None, token: Token | None) -> str | None:
    """A hint when a name stands right before another name, number or string, which no statement
    allows, and reads like a keyword (`inptu x`, `reapeat 2`): "`inptu` ...: did you mean `input`?"."""
    if previous is None or token is None or previous.type != "NAME" or token.type == "$END":
        return None
    if not (str(token).isidentifier() or str(token)[:1].isdigit() or str(token)[:1] == '"'):
        return None
    import difflib  # only for a mistake: not at start-up

    keywords = [text for text in _terminal_names() if text.isidentifier()]  # the grammar's: `input`, `repeat`, ...
    guess = difflib.get_close_matches(str(previous), keywords, n=1, cutoff=0.6)
    return f"`{previous}` is not a keyword: did you mean `{guess[0]}`?" if guess else None


def _error_offset(error: UnexpectedInput, text: str) -> int:
    """Where in `text` parsing stopped: the offending token or character, or the end."""
    if isinstance(error, UnexpectedEOF) or (isinstance(error, UnexpectedToken) and error.token.type == "$END"):
        return len(text)
    return error.pos_in_stream


def _meant_as_name(text: str, keyword: Token, error_at: int) -> bool:
    """Whether `keyword`, read as a name instead, gets the parse past `error_at`.

    `input = x` is a keyword used as a name; `return }` is a missing expression. The keyword is
    replaced by as many underscores (a name; every position stays put) and the text parsed again."""
    renamed = text[: keyword.start_pos] + "_" * len(keyword) + text[keyword.end_pos :]
    try:
        _lark().parse(renamed)
    except UnexpectedInput as error:
        return _error_offset(error, renamed) > error_at
    return True


_CLOSERS = {"(": ")", "[": "]", "{": "}"}
_FIRST = [")", "]", "}", ",", ":", "=", "(", "{"]  # listed first, in this order, in "expected ..."; then a name
# Terminals whose text is not a user's word for them, in "expected ..." lists.
_WORDS = {"NAME": "a name", "INDEXED": "a numbered label", "NUMBERED_BY": "a computed numbered label", "NUMBER": "a number", "STRING": "a string", "COMPARE": "a comparison",
          "$END": "end of file"}  # fmt: skip


@cache
def _terminal_names() -> dict[str, str]:
    """Text -> terminal name for each literal terminal of the grammar: `)` -> RPAR, `//` -> __ANON_0."""
    return {t.pattern.value: t.name for t in _lark().terminals if isinstance(t.pattern, PatternStr)}


@cache
def _operators() -> frozenset[str]:
    """The terminal names of the operators: comparisons and those in _BINARY."""
    return frozenset({"COMPARE", *(_terminal_names()[op] for op in _BINARY.values())})


def _expected(terminals: set[str]) -> str:
    """Expected terminals in a user's words: closers first, operators as one item."""
    operators = terminals & _operators()
    names = _terminal_names()
    words_for = {name: f"`{text}`" for text, name in names.items()} | _WORDS
    first = [*(names[text] for text in _FIRST), "NAME"]
    rest = sorted(terminals - operators, key=lambda t: (first.index(t) if t in first else len(first), t))
    words = [words_for.get(t, f"`{t.lower()}`") for t in rest]
    if len(words) > 6:
        words = [*words[:6], "another statement"]
    if operators:
        words.append("an operator")
    return _join(words) if words else "something else"


def _offset(text: str, line: int, col: int) -> int:
    lines = text.split("\n")
    return sum(len(s) + 1 for s in lines[: line - 1]) + col - 1


def _context(text: str, end: int) -> tuple[Token | None, Token | None]:
    """The last token before `end`, and the innermost bracket opened before it and not closed."""
    stack: list[Token] = []
    previous = None
    try:
        for token in _lark().lex(text[:end], dont_ignore=False):
            previous = token
            if str(token) in _CLOSERS:
                stack.append(token)
            elif str(token) in _CLOSERS.values() and stack and _CLOSERS[str(stack[-1])] == str(token):
                stack.pop()
    except UnexpectedInput:
        return None, None
    return previous, (stack[-1] if stack else None)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _span(file: str, meta: Meta | Token) -> Span:
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


@record(frozen=True)
class _Named:
    """`name = expr` in a `return`, until return_stmt unpacks it."""

    name: str
    value: s.Expr
    span: Span


@v_args(meta=True)
class ToSyntax(Transformer):
    """Parse tree -> syntax records. Builds only; never checks."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def span(self, meta: Meta | Token) -> Span:
        return _span(self.file, meta)

    # ---- definitions ----
    def import_stmt(self, meta, children):
        return s.Import(_unquote(children[0]), self.span(meta))

    def block_def(self, meta, children):
        name, params, (doc, body) = children
        return s.Block(str(name), tuple(params or ()), doc, body, self.span(meta), self.span(name))

    def model_def(self, meta, children):
        name, params, (doc, body) = children
        return s.Model(str(name), tuple(params or ()), doc, body, self.span(meta), self.span(name))

    def variant_def(self, meta, children):
        name, base, args, doc = children
        args, kwargs = args or ((), ())
        doc = _unquote(doc) if doc is not None else None
        return s.Variant(str(name), str(base), kwargs, doc, self.span(meta), self.span(name), self.span(base), args)

    def params(self, meta, children):
        return children

    def param(self, meta, children):
        name, type_, default = children
        return s.Param(str(name), type_, default, self.span(meta))

    def type_name(self, meta, children):
        return str(children[0])

    def shape(self, meta, children):
        return tuple(c for c in children if c is not None)

    def body(self, meta, children):
        doc = _unquote(children[0]) if children[0] is not None else None
        return doc, tuple(children[1:])

    # ---- statements ----
    def input_stmt(self, meta, children):
        name, dtype, shape = children
        if dtype is None:
            return s.Input(str(name), shape, self.span(meta))
        return s.Input(str(name), shape, self.span(meta), str(dtype), self.span(dtype))

    def assign(self, meta, children):
        return s.Assign(tuple(str(t) for t in children[:-1]), children[-1], self.span(meta))

    def return_stmt(self, meta, children):
        named = [c for c in children if isinstance(c, _Named)]
        values = tuple(c.value if isinstance(c, _Named) else c for c in children)
        if not named:
            return s.Return(values, self.span(meta))
        names = tuple(c.name if isinstance(c, _Named) else "" for c in children)
        spans = tuple(c.span for c in children)
        return s.Return(values, self.span(meta), names, spans)

    def named_output(self, meta, children):
        name, value = children
        return _Named(str(name), value, self.span(name))

    def require_stmt(self, meta, children):
        condition, message = children
        return s.Require(condition, _unquote(message) if message is not None else None, self.span(meta))

    def require_shape(self, meta, children):
        name, shape, message = children
        message = _unquote(message) if message is not None else None
        return s.RequireShape(str(name), shape, message, self.span(meta), self.span(name))

    def if_stmt(self, meta, children):
        condition, *then, orelse = children  # `orelse`: the else_clause's tuple, or None without one
        return s.If(condition, tuple(then), orelse or (), self.span(meta))

    def else_clause(self, meta, children):
        return tuple(children)

    def repeat_stmt(self, meta, children):
        label, count, index, *body = children
        return s.RepeatBlock(str(label), count, str(index), tuple(body), self.span(meta))

    def repeat_inline(self, meta, children):
        count, index, *body = children
        return s.RepeatBlock(None, count, str(index), tuple(body), self.span(meta))

    # ---- expressions ----
    def number(self, meta, children):
        text = str(children[0])
        value = float(text) if any(c in text for c in ".eE") else int(text)
        return s.Number(value, self.span(meta))

    def string(self, meta, children):
        return s.String(_unquote(children[0]), self.span(meta))

    def true(self, meta, children):
        return s.Bool(True, self.span(meta))

    def false(self, meta, children):
        return s.Bool(False, self.span(meta))

    def name(self, meta, children):
        return s.Name(str(children[0]), self.span(meta))

    def list_(self, meta, children):
        return s.ListExpr(tuple(c for c in children if c is not None), self.span(meta))

    def neg(self, meta, children):
        return s.UnaryOp("-", children[0], self.span(meta))

    def not_(self, meta, children):
        return s.UnaryOp("not", children[0], self.span(meta))

    def compare(self, meta, children):
        left, op, right = children
        return s.BinOp(str(op), left, right, self.span(meta))

    def __default__(self, data, children, meta):
        if data in _BINARY:
            return s.BinOp(_BINARY[data], children[0], children[1], self.span(meta))
        return super().__default__(data, children, meta)

    def subscript(self, meta, children):
        value, items = children
        return s.Subscript(value, tuple(items), self.span(meta))

    def subscripts(self, meta, children):
        return children

    def index(self, meta, children):
        return children[0]

    def slice(self, meta, children):
        return s.Slice(children[0], children[1], self.span(meta))

    def call(self, meta, children):
        name, args = children
        args, kwargs = args or ((), ())
        return s.Call(str(name), args, kwargs, self.span(meta), self.span(name))

    def args(self, meta, children):
        return (
            tuple(c for c in children if not isinstance(c, s.Keyword)),
            tuple(c for c in children if isinstance(c, s.Keyword)),
        )

    def kwarg(self, meta, children):
        return s.Keyword(str(children[0]), children[1], self.span(meta))

    def repeat_call(self, meta, children):
        count, modifier, call = children
        if modifier is None:
            return s.Repeat(count, call, self.span(meta))
        return s.Repeat(count, call, self.span(meta), modifier=str(modifier), modifier_span=self.span(modifier))

    def repeat_indexed(self, meta, children):
        count, index, call = children
        return s.Repeat(count, call, self.span(meta), index=str(index))

    def labelled(self, meta, children):
        label, inner = children
        return replace(inner, label=str(label), label_span=self.span(label), span=self.span(meta))

    def labelled_at(self, meta, children):
        label, index, inner = children  # label: the token `name.(`
        return replace(inner, label=str(label)[:-2], label_span=self.span(label), label_index=index,
                       span=self.span(meta))  # fmt: skip

    def labelled_model(self, meta, children):
        """`model: call(...)`: the keyword as a label (Hugging Face wraps its models' cores in `model`)."""
        span = self.span(meta)
        word = Span(span.file, span.line, span.col, span.line, span.col + len("model"))
        return replace(children[0], label="model", label_span=word, span=span)


def _unquote(token: Token | str) -> str:
    text = str(token)
    if text.startswith('"""'):
        return inspect.cleandoc(text[3:-3])
    # `\n`, `\t`, `\"` and `\\` are escapes; any other backslash stands for the character after it
    return _ESCAPE.sub(lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text[1:-1])
