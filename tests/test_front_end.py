"""The front end: keywords and syntax errors (parser), the syntax tree it builds, and `check`.

Regression tests for review findings: names leaking between `if` branches, blocks named
like ops, keywords claimed as misused names, keywords accepted as names in some positions.
"""

from __future__ import annotations

import pytest

from archgraph import parser
from archgraph import syntax as s
from archgraph.check import check, model_params, variant_chain
from archgraph.errors import SpecError
from archgraph.loader import load
from archgraph.lower import lower
from archgraph.parser import parse


def check_text(tmp_path, text: str):
    """Load and check `text` as a spec file; return the program."""
    path = tmp_path / "spec.arch"
    path.write_text(text, encoding="utf-8")
    program = load(path)
    check(program)
    return program


def check_error(tmp_path, text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        check_text(tmp_path, text)
    return info.value


def syntax_error(text: str) -> str:
    """The first line of the syntax error that parsing `text` raises."""
    with pytest.raises(SpecError) as info:
        parse(text, "t.arch")
    return str(info.value).splitlines()[0]


# ---- check: `if` branches ----

BRANCHES = """
model m(dim = 8, deep = true) {{
    input x: [B, 4, dim]
    if deep {{ {then} }} else {{ {orelse} }}
    return {result}
}}
"""


def test_a_branch_cannot_read_a_name_set_in_the_other(tmp_path):
    error = check_error(tmp_path, BRANCHES.format(then="y = x", orelse="z = y", result="x"))
    assert [d.message for d in error.diagnostics] == ["`y` is not defined"]
    assert (error.span.line, error.span.col) == (4, 34)


def test_the_then_branch_cannot_read_the_else_branch_either(tmp_path):
    error = check_error(tmp_path, BRANCHES.format(then="z = y", orelse="y = x", result="x"))
    assert [d.message for d in error.diagnostics] == ["`y` is not defined"]


def test_a_name_from_either_branch_is_defined_after_the_if(tmp_path):
    check_text(tmp_path, BRANCHES.format(then="y = x", orelse="z = x", result="y"))
    check_text(tmp_path, BRANCHES.format(then="y = x", orelse="z = x", result="z"))
    program = check_text(tmp_path, BRANCHES.format(then="y = gelu(x)", orelse="y = x", result="y"))
    assert lower(program, "m", {}).outputs


def test_a_name_set_before_the_if_is_visible_in_both_branches(tmp_path):
    check_text(tmp_path, BRANCHES.format(then="x = gelu(x)", orelse="x = relu(x)", result="x"))


# ---- check: a block named like an op ----


def test_a_block_cannot_take_an_ops_name(tmp_path):
    text = "block linear(x, n) { return x }\nmodel m() { input x: [B, 4] return fc: linear(x, 8) }\n"
    error = check_error(tmp_path, text)
    assert [d.message for d in error.diagnostics] == ["`linear` is an op; a block cannot take its name"]
    assert (error.span.line, error.span.col, error.span.end_col) == (1, 7, 13)


def test_a_model_may_share_an_ops_name(tmp_path):
    check_text(tmp_path, "model linear(dim = 8) { input x: [B, 4] return fc: linear(x, dim) }\n")


# ---- variants ----


def test_variant_chain_follows_variants_and_stops_on_a_cycle(tmp_path):
    program = load_text(tmp_path, "model m(a = 1) { input x: [B, 4] return x }\nmodel v = m(a = 2)\nmodel w = v()\n")
    assert variant_chain(program, "w") == (["w", "v"], "m")
    assert variant_chain(program, "m") == ([], "m")
    assert [p.name for p in model_params(program, "w")] == ["a"]
    cyclic = load_text(tmp_path, "model a = b()\nmodel b = c()\nmodel c = b()\n")
    assert variant_chain(cyclic, "a") == (["a", "b", "c"], "b")
    assert model_params(cyclic, "a") is None


def test_a_variant_cycle_is_reported_once_per_variant(tmp_path):
    error = check_error(tmp_path, "model a = b()\nmodel b = a()\n")
    assert [d.message for d in error.diagnostics] == [
        "variant `a` is defined in terms of itself: a -> b -> a",
        "variant `b` is defined in terms of itself: b -> a -> b",
    ]


def load_text(tmp_path, text: str):
    path = tmp_path / "variants.arch"
    path.write_text(text, encoding="utf-8")
    return load(path)


# ---- parser: keywords ----


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("block if(x) { return x }", "if"),
        ("model m(input, block) { return input }", "input"),
        ("block f(as) { return as }", "as"),
        ("model import(x) { return x }", "import"),
        ("block f(x) { true = 1 return x }", "true"),
        ("block f(repeat) { return repeat }", "repeat"),  # `repeat = 1`: a statement may start with `repeat`
        ("block f(x) { return model(x) }", "model"),
        ("block f(x) { return else: linear(x, 2) }", "else"),
        ("block f(x) { return linear(x, if = 2) }", "if"),
    ],
)
def test_a_keyword_is_reserved_in_every_position(text, keyword):
    assert syntax_error(text).endswith(f"syntax error: `{keyword}` is a keyword and cannot be used as a name here")


def test_a_name_that_starts_with_a_keyword_is_a_name():
    block = parse("block iffy(input_x, returns) { return iffy_2 }").items[0]
    assert block.name == "iffy" and [p.name for p in block.params] == ["input_x", "returns"]


def test_a_keyword_before_the_error_is_blamed_when_it_was_meant_as_a_name():
    message = syntax_error("model m(dim = 64) {\n    input x: [B, 16, dim]\n    input = fc: linear(x, dim)\n}")
    assert message == "t.arch:3:5: syntax error: `input` is a keyword and cannot be used as a name"


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("block f(x) { return }", "1:21"),
        ("block f(x) { if { } return x }", "1:17"),
        ("block f(x) { require }", "1:22"),
    ],
)
def test_a_missing_expression_is_not_blamed_on_the_keyword(text, at):
    message = syntax_error(text)
    assert "is a keyword" not in message
    assert message.startswith(f"t.arch:{at}: syntax error: expected ")


# ---- parser: the terminal tables come from the grammar ----


def test_every_literal_terminal_reads_as_its_text_or_as_an_operator():
    names = parser._terminal_names()
    assert names["//"] in parser._operators() and names["**"] in parser._operators()
    for text, name in names.items():
        word = "an operator" if name in parser._operators() else f"`{text}`"
        assert parser._expected({name}) == word


def test_brackets_in_strings_and_comments_do_not_count_towards_nesting():
    deep = "(" * (parser.MAX_NESTING + 1)
    parse(f'block f(x) {{ # {deep}\n return g(x, "{deep}") }}')
    with pytest.raises(SpecError, match="nests more than"):
        parse(f"block f(x) {{ return {deep} }}")


# ---- parser: the syntax tree ----


def test_a_labelled_call_keeps_its_callee_span_and_gets_the_labels():
    (block,) = parse("block f(x) { return fc: linear(x, 2) }").items
    call = block.body[0].values[0]
    assert isinstance(call, s.Call) and (call.label, call.callee) == ("fc", "linear")
    assert (call.span.col, call.label_span.col, call.label_span.end_col, call.callee_span.col) == (21, 21, 23, 25)


def test_a_labelled_repeat_gets_the_label():
    (block,) = parse("block f(x) { return blocks: repeat 2 g(x) }").items
    rep = block.body[0].values[0]
    assert isinstance(rep, s.Repeat) and rep.label == "blocks" and rep.call.callee == "g"
    assert (rep.span.col, rep.label_span.col, rep.call.span.col) == (21, 21, 38)


def test_if_else_if_else_builds_nested_ifs():
    (block,) = parse("block f(x) { if a { x = 1 y = 2 } else if b { } else { x = 3 } return x }").items
    outer = block.body[0]
    assert [type(st) for st in outer.then] == [s.Assign, s.Assign]
    (inner,) = outer.orelse
    assert isinstance(inner, s.If) and inner.then == () and len(inner.orelse) == 1
    (plain,) = parse("block f(x) { if a { } return x }").items
    assert plain.body[0].then == () and plain.body[0].orelse == ()


def test_trailing_commas_add_nothing():
    (block,) = parse("block f(x, n = 2,) { return g(x, n,)[0, 1:,] }").items
    assert [p.name for p in block.params] == ["x", "n"]
    sub = block.body[0].values[0]
    assert len(sub.items) == 2 and len(sub.value.args) == 2
