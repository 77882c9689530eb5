"""Hostile inputs, one test each: a clear spec error (or, where the input is legal, correct code),
under 64 MiB, and never a crash.

`run` runs `archgraph check` or `compile` in-process, then again under tracemalloc for the peak
memory. No wall-clock bound: time is bounded by operation counts (tests/test_linear.py), which
hold on a loaded machine, and measured in benchmarks/.
"""

from __future__ import annotations

import ast
import os
import re
import tracemalloc
from pathlib import Path

import pytest

from archgraph.cli import main
from archgraph.lower import MAX_BLOCK_DEPTH, MAX_REPEAT
from archgraph.parser import MAX_NESTING

MEMORY = 64 * 2**20
TINY = "model m() {{ input x: [B, 8] return {} }}\n"


def run(capsys, argv: list[str], code: int = 1, memory: bool = True) -> str:
    """stderr of `archgraph ARGV` (stdout when it succeeds), asserting the exit code and memory."""
    capsys.readouterr()
    assert main(argv) == code, capsys.readouterr()
    out, err = capsys.readouterr()
    if memory:  # tracemalloc slows Python down several times: a second run, untimed
        tracemalloc.start()
        try:
            main(argv)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        capsys.readouterr()
        assert peak < MEMORY, f"peak {peak / 2**20:.0f} MiB"
    assert "Traceback" not in err and "internal error" not in err, err
    return err if code else out


def spec(tmp_path: Path, text: str | bytes, name: str = "spec.arch") -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return str(path)


def check_error(capsys, tmp_path, text: str | bytes, *expected: str) -> str:
    err = run(capsys, ["check", spec(tmp_path, text)])
    for part in expected:
        assert part in err, err
    return err


def compiled(capsys, tmp_path, text: str, memory: bool = True) -> dict[str, str]:
    """Compile a legal spec; every generated file parses as Python and is ASCII."""
    out = tmp_path / "out"
    run(capsys, ["compile", spec(tmp_path, text), "-o", str(out)], code=0, memory=memory)
    files = {p.name: p.read_text(encoding="utf-8") for p in out.glob("*.py")}
    for source in files.values():
        assert source.isascii()
        ast.parse(source)
    return files


# ---- names ----


@pytest.mark.parametrize("label", ["class", "lambda", "None", "def", "yield"])
def test_python_keyword_as_label(capsys, tmp_path, label):
    check_error(capsys, tmp_path, TINY.format(f"{label}: linear(x, 2)"), f"label `{label}`", "is a Python keyword")


@pytest.mark.parametrize("label", ["forward", "training", "to", "cuda", "parameters", "init_weights", "state_dict"])
def test_module_attribute_as_label(capsys, tmp_path, label):
    check_error(capsys, tmp_path, TINY.format(f"{label}: linear(x, 2)"), f"would replace nn.Module's `{label}`")


@pytest.mark.parametrize("label", ["__class__", "__init__", "_modules", "__dict__"])
def test_dunder_or_private_label(capsys, tmp_path, label):
    check_error(capsys, tmp_path, TINY.format(f"{label}: linear(x, 2)"), "starts with `_`")


def test_keywords_builtins_and_dunders_as_names_compile_to_safe_code(capsys, tmp_path):
    text = (
        "block class(self, lambda: int) { return fc: linear(self, lambda) }\n"
        "model None(print = 8) { input __init__: [B, print]\n"
        "    torch = class(__init__, print) nn = gelu(torch) F = nn + torch dd = F * 2 x = dd\n"
        "    return head: linear(x, 2) }\n"
    )
    (source,) = compiled(capsys, tmp_path, text).values()
    assert "def forward(self, v__init__: torch.Tensor)" in source
    assert "class Class(nn.Module)" in source and "class None_(nn.Module)" in source
    assert "torch_ = self.class_(" in source and "F_ = " in source


def test_non_ascii_names_compile_and_non_ascii_labels_are_errors(capsys, tmp_path):
    files = compiled(capsys, tmp_path, "model größe() { input ü: [B, 8] return fc: linear(ü * 2, 2) }")
    assert list(files) == ["spec.py"]  # named after the spec file
    assert "class GrXf6Xdfe(nn.Module)" in files["spec.py"]
    check_error(capsys, tmp_path, TINY.format("ﬁ: linear(x, 2)"), "label `ﬁ`", "not an ASCII name")


def test_ten_thousand_character_names(capsys, tmp_path):
    long = "a" * 10_000
    files = compiled(capsys, tmp_path, f"block {long}(x) {{ return x * 2 }}\nmodel {long}_m() {{ input x: [B, 8] "
                     f"return {long}(x) }}")  # fmt: skip
    (name,) = files
    assert len(name) <= 64 + 3
    err = check_error(capsys, tmp_path, TINY.format(f"{long}z(x)"), "unknown op or block")
    assert len(err) < 80_000


# ---- numbers and sizes ----


@pytest.mark.parametrize(
    ("dim", "expected"),
    [("(2 ** 62)", "elements per sample; the limit is 2**40"), ("99999999999999999999", "is too large"),
     ("9" * 5000, "(5,000 characters) is too large"), ("1e999", "1e999 is too large"),
     ("0", "must be positive, found 0"), ("-3", "must be positive, found -3"), ("2.5", "found 2.5, which is not whole")],
)  # fmt: skip
def test_huge_zero_negative_and_float_dimensions(capsys, tmp_path, dim, expected):
    check_error(capsys, tmp_path, f"model m() {{ input x: [B, 3, {dim}] return x }}", expected)


def test_huge_layer(capsys, tmp_path):
    check_error(capsys, tmp_path, TINY.format("fc: linear(x, 2 ** 40)"), "parameters; the limit is 2**40")


def test_division_that_does_not_come_out_even(capsys, tmp_path):
    check_error(capsys, tmp_path, TINY.format("fc: linear(x, 8 / 3)"), "8/3 (2.667)", "not whole")


def test_repeat_of_a_billion(capsys, tmp_path):
    text = "block b(x) { return x * 2 }\n" + TINY.format("blocks: repeat 1000000000 b(x)")
    check_error(capsys, tmp_path, text, f"a repeat count must lie in 0..{MAX_REPEAT}, found 1,000,000,000")


def test_a_block_that_uses_itself(capsys, tmp_path):
    text = "block a(x) { return b(x) }\nblock b(x) { return a(x) }\n" + TINY.format("a(x)")
    check_error(capsys, tmp_path, text, f"blocks nest more than {MAX_BLOCK_DEPTH} deep", "does `a` call itself?")


# ---- files and imports ----


def test_import_cycle(capsys, tmp_path):
    spec(tmp_path, 'import "b.arch"\nblock a(x) { return x }', "a.arch")
    spec(tmp_path, 'import "a.arch"\nblock b(x) { return x }', "b.arch")
    check_error(capsys, tmp_path, 'import "a.arch"\n' + TINY.format("x"), "import cycle: a.arch -> b.arch -> a.arch")


def test_import_that_escapes_the_root(capsys, tmp_path):
    spec(tmp_path, "block a(x) { return x }", "outside.arch")
    err = run(capsys, ["check", spec(tmp_path, 'import "../outside.arch"', "root/spec.arch")])
    assert "points outside the spec root" in err


def test_import_through_a_symlink_that_escapes_the_root(capsys, tmp_path):
    spec(tmp_path, "block a(x) { return x }", "outside.arch")
    (tmp_path / "root").mkdir()
    os.symlink(tmp_path / "outside.arch", tmp_path / "root" / "link.arch")
    err = run(capsys, ["check", spec(tmp_path, 'import "link.arch"', "root/spec.arch")])
    assert "points outside the spec root" in err


def test_absolute_import(capsys, tmp_path):
    check_error(capsys, tmp_path, 'import "/etc/passwd"', "relative to the importing file, found absolute")


def test_missing_file(capsys, tmp_path):
    assert "does not exist" in run(capsys, ["check", str(tmp_path / "nope.arch")])
    check_error(capsys, tmp_path, 'import "nope.arch"', "cannot find `nope.arch`")


def test_empty_file(capsys, tmp_path):
    check_error(capsys, tmp_path, "", "is empty")
    check_error(capsys, tmp_path, "# nothing but a comment\n\n", "holds only comments")


def test_binary_garbage(capsys, tmp_path):
    garbage = bytes(range(256)) * 64
    check_error(capsys, tmp_path, garbage, "is not UTF-8 text (byte 128: 0x80)")


def test_nul_bytes_and_control_characters(capsys, tmp_path):
    err = check_error(capsys, tmp_path, TINY.format("x") + "\x00\x1b[2J", "unexpected character '\\x00'")
    assert "\x00" not in err and "\x1b" not in err


def test_ten_megabyte_file(capsys, tmp_path):
    check_error(capsys, tmp_path, "# " + "x" * 10_000_000 + "\n", "10,000,003 bytes; specs are limited to 262,144")


def test_crlf_line_endings_and_tabs_keep_the_caret_in_place(capsys, tmp_path):
    text = "model m() {\r\n\tinput x: [B, 8]\r\n\treturn\tfc: linear(y, 2)\r\n}\r\n"
    err = check_error(capsys, tmp_path, text, ":3:20: name error: `y` is not defined")
    source, caret = err.splitlines()[1:3]
    assert "\r" not in err and source.index("y") == caret.index("^")


# ---- nesting ----


# Brackets (10,000 deep) are rejected before Lark runs; other nesting is parsed first (Lark's LALR
# loop is iterative), so DEEP levels, three times Python's default recursion limit: any recursive pass
# that ran before the nesting check would overflow.
DEEP = 3_000
NESTED = {
    "parentheses": "fc: linear(x, " + "(" * 10_000 + "2" + ")" * 10_000 + ")",
    "minus": "fc: linear(x, " + "-" * DEEP + "2)",
    "sum": "fc: linear(x, " + "1 + " * DEEP + "2)",
    "power": "fc: linear(x, " + "1 ** " * DEEP + "2)",
    "calls": "gelu(" * 10_000 + "x" + ")" * 10_000,
    "lists": "fc: linear(x, " + "[" * 10_000 + "2" + "]" * 10_000 + ")",
    "subscripts": "fc: linear(x, [2]" + "[0]" * DEEP + ")",
    "not": "fc: linear(x, " + "not " * DEEP + "true)",
}


@pytest.mark.parametrize("kind", NESTED)
def test_expressions_nested_thousands_deep(capsys, tmp_path, kind):
    """Brackets are counted before parsing; other nesting is measured on the parse tree, before any pass
    recurses over it. Either way the error points into the expression, or at its statement."""
    err = check_error(capsys, tmp_path, TINY.format(NESTED[kind]), f"this nests more than {MAX_NESTING} levels deep")
    assert re.search(r"spec\.arch:1:(29|\d{3}): syntax error", err), err


def test_statements_nested_ten_thousand_deep(capsys, tmp_path):
    text = "model m() { input x: [B, 8] " + "if true { " * 10_000 + "x = x * 2 " + "} " * 10_000 + "return x }"
    check_error(capsys, tmp_path, text, f"this nests more than {MAX_NESTING} levels deep")


def test_deepest_legal_nesting_in_the_deepest_legal_blocks(capsys, tmp_path):
    """63 blocks, each calling the next from inside a 45-deep expression: evaluates without overflow."""
    depth, blocks = 45, MAX_BLOCK_DEPTH - 1
    lines = [f"block b{i}(x) {{ return {'gelu(' * depth}b{i + 1}(x){')' * depth} }}" for i in range(blocks)]
    lines.append(f"block b{blocks}(x) {{ return x }}")
    compiled(capsys, tmp_path, "\n".join(lines) + "\n" + TINY.format("b0(x)"), memory=False)


def test_lone_carriage_returns_do_not_move_the_caret(capsys, tmp_path):
    """Lark ends lines at `\\n` only; the quoted line and the end-of-file position agree with it."""
    err = check_error(capsys, tmp_path, "model m() {\r\n  input x: [B, 8]\r  return x\r\n", ":2:29: syntax error")
    source, caret = err.splitlines()[1:3]
    assert "\r" not in err
    assert len(caret) == len(source) + 1 and caret.endswith("^")  # one past the last character
