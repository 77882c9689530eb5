"""Code as ruff format spells it where `ast.unparse` spells it otherwise (the tree is the same).

Three differences, fixed on the tokens of complete code (a class, an expression, a file):
- a one-line string literal in single quotes that holds no quote or backslash is written in double
  quotes (`{"device": device}`, not `{'device': device}`);
- `**` between simple operands (a name, a number or an attribute chain, maybe negated) has no spaces
  (`d_model**0.5`, `2**i`; but `f(x) ** 2`);
- a slice with a bound that is not simple has spaces around its colons where a bound is given
  (`w[0 : self.dim]`, `w[self.dim :]`; but `x[:, 1]`, `x[1:n]`).
Whitespace that holds a line break is left alone (the layout split the line there).
"""

from __future__ import annotations

import io
import keyword
import tokenize
from tokenize import NAME, NUMBER, OP, STRING

_SKIPPED = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


def spelled(source: str) -> str:
    """`source` (complete code) with the spellings above."""
    if "'" not in source and "**" not in source and "[" not in source:
        return source  # nothing to respell (most signature parameters and short expressions)
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type not in _SKIPPED]
    starts = [0]  # the offset of each line (tokenize counts rows from 1; StringIO splits at "\n" only)
    for line in source.split("\n"):
        starts.append(starts[-1] + len(line) + 1)

    def at(position: tuple[int, int]) -> int:
        return starts[position[0] - 1] + position[1]

    edits: list[tuple[int, int, str]] = []  # (start, end, text), in order
    for k, token in enumerate(tokens):
        if token.type == STRING and _single_quoted(token.string):
            edits.append((at(token.start), at(token.end), f'"{token.string[1:-1]}"'))
        elif token.type == OP and token.string == "**" and _simple_power(tokens, k):
            edits.append((at(tokens[k - 1].end), at(tokens[k + 1].start), "**"))
    edits += [(at(tokens[k - 1].end), at(tokens[k + 1].start), text) for k, text in _slice_colons(tokens)]
    pieces, done = [], 0
    for start, end, text in sorted(edits):
        if "\n" not in source[start:end] and start >= done:
            pieces += [source[done:start], text]
            done = end
    return "".join([*pieces, source[done:]])


def _single_quoted(text: str) -> bool:
    """A one-line literal in single quotes, no prefix (`f'...'` starts with `f`), no quote or backslash."""
    return text.startswith("'") and not text.startswith("'''") and '"' not in text and "\\" not in text


def _simple_power(tokens: list, k: int) -> bool:
    """Whether the `**` at `tokens[k]` is a binary power between simple operands (not `**kwargs`)."""
    if k == 0 or k + 1 >= len(tokens) or tokens[k - 1].type not in (NAME, NUMBER):
        return False
    j = k - 1
    while j >= 2 and tokens[j - 1].string == "." and tokens[j - 2].type == NAME:
        j -= 2  # `self.d_model`: back to the chain's first name
    if j and tokens[j - 1].string in (".", ")", "]"):
        return False  # the chain hangs off a call or a subscript: `f(x).a`
    j = k + 1 + (tokens[k + 1].string == "-")
    if j >= len(tokens) or tokens[j].type not in (NAME, NUMBER):
        return False
    while j + 2 < len(tokens) and tokens[j + 1].string == "." and tokens[j + 2].type == NAME:
        j += 2
    return j + 1 >= len(tokens) or tokens[j + 1].string not in ("(", "[", "**", ".")


def _slice_colons(tokens: list):
    """(index, spelling) of each colon of a subscript's slice with a bound that is not simple."""
    stack: list[tuple[bool, list]] = []  # per open bracket: is it a subscript, and its current element
    for k, token in enumerate(tokens):
        if token.type != OP:
            if stack:
                stack[-1][1].append(k)
            continue
        if token.string in "([{":
            if stack:
                stack[-1][1].append(k)
            before = tokens[k - 1] if k else None
            subscript = (
                token.string == "["
                and before is not None
                and ((before.type == NAME and not keyword.iskeyword(before.string)) or before.string in (")", "]"))
            )
            stack.append((subscript, []))
        elif token.string in ")]}" and stack:
            subscript, element = stack.pop()
            if subscript:
                yield from _spaced(tokens, element)
            if stack:
                stack[-1][1].append(k)
        elif token.string == "," and stack and stack[-1][0]:
            yield from _spaced(tokens, stack[-1][1])
            stack[-1][1].clear()
        elif stack:
            stack[-1][1].append(k)


def _spaced(tokens: list, element: list[int]):
    """The colons of one slice element (token indices at its bracket depth and below), spelled with
    spaces where a bound is given, when some bound is more than a name or a (negated) number."""
    depth, colons, bounds, current = 0, [], [], []
    for k in element:
        text = tokens[k].string
        depth += (text in "([{") - (text in ")]}") if tokens[k].type == OP else 0
        if depth == 0 and text == ":" and tokens[k].type == OP:
            colons.append(k)
            bounds.append(current)
            current = []
        else:
            current.append(tokens[k])
    bounds.append(current)
    if not colons or all(_simple_bound(b) for b in bounds):
        return
    for n, k in enumerate(colons):
        yield k, (" " if bounds[n] else "") + ":" + (" " if bounds[n + 1] else "")


def _simple_bound(bound: list) -> bool:
    """Empty, a name, a number, or a negated name or number."""
    rest = bound[1:] if bound and bound[0].string == "-" else bound
    return not bound or (len(rest) == 1 and rest[0].type in (NAME, NUMBER))
