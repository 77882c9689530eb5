"""Fuzzing: any text compiles, or raises a SpecError that renders with a span; nothing else escapes.

Three sources of text: the grammar itself (hypothesis.extra.lark, with names, numbers and
strings drawn partly from what the ops and specs use), mutations of the real specs (delete,
duplicate, swap or replace tokens, change numbers), and hostile edits of the real specs
(Python keywords, builtins and dunders as names and labels, control and non-ASCII characters,
unbalanced quotes and brackets, huge numbers, deep nesting). When a spec compiles, its
generated module must be plain Python whose top level only defines things.

Budget by default, as CI runs it: 200 grammar cases, and 80 each for the two fuzzers of whole spec
files; 360 in all. A mutated spec that still compiles is checked and every model of it lowered, and
one of its models, drawn by Hypothesis, generated (generating all ten of cait.arch's takes several
seconds: the cost of the default run was the few cases that compiled a spec of many models). The
slow profile runs 7,000 per test (21,000 in all) and generates every model of each case:

    ARCHGRAPH_FUZZ=slow nice .venv/bin/python -m pytest tests/test_fuzz.py -p no:cacheprovider \\
        --hypothesis-show-statistics

ARCHGRAPH_FUZZ_EXAMPLES=N sets the per-test count directly. The default run is derandomized (a
fixed seed: the same cases each run); ARCHGRAPH_FUZZ_RANDOM=1 or the slow profile draws new ones.
"""

from __future__ import annotations

import ast
import keyword
import os
import re

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from archgraph.check import check
from archgraph.codegen import generate
from archgraph.errors import SpecError
from archgraph.loader import load
from archgraph.lower import lower
from archgraph.ops import REGISTRY
from tests.conftest import ROOT, SPECS, VIT_TI16

SLOW = os.environ.get("ARCHGRAPH_FUZZ", "") == "slow"
EXAMPLES = int(os.environ.get("ARCHGRAPH_FUZZ_EXAMPLES", "7000" if SLOW else "200"))
SPEC_EXAMPLES = int(os.environ.get("ARCHGRAPH_FUZZ_EXAMPLES", "7000" if SLOW else "80"))  # mutations of whole specs
# Derandomized by default (the same examples every run, so a failure reproduces on any machine and
# a run's cost is fixed); the slow profile, or ARCHGRAPH_FUZZ_RANDOM=1, draws new ones each run.
RANDOM = SLOW or bool(os.environ.get("ARCHGRAPH_FUZZ_RANDOM"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=not RANDOM)
SPEC_FUZZ = settings(FUZZ, max_examples=SPEC_EXAMPLES)
HEADLINE = re.compile(r"^\S.*:\d+:\d+: [a-z ]+: ")


def compile_text(root, text: str, pick=None) -> str:
    """Parse, check and lower every model in `text`, and generate those `pick(models)` names (default:
    all); SpecErrors must render with a span.

    Returns the outcome, for Hypothesis's statistics: how far the text got."""
    try:
        program = load(root / "fuzz.arch", text=text)
        check(program)
        models = program.models
        graphs = {name: lower(program, name) for name in models}
        for name in models if pick is None or not models else pick(models):
            assert_only_definitions(generate(graphs[name], "fuzz.arch"))
    except SpecError as error:
        assert_renders(error, text)
        return error.diagnostics[0].kind
    return f"compiled {min(len(models), 2)}+ models" if models else "checked, no models"


def assert_renders(error: SpecError, text: str) -> None:
    """Every diagnostic renders as `file:line:col: kind: message`, with a span inside its file."""
    for d in error.diagnostics:
        assert d.span.line >= 1 and d.span.col >= 1, d
        if d.span.file.endswith("fuzz.arch"):  # the fuzzed text itself (else an imported library file)
            assert d.span.line <= text.count("\n") + 1, (d.span, text)
        assert HEADLINE.match(d.render()), d.render()


ALLOWED_TOP = (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef)  # functions: init helpers


def assert_only_definitions(source: str) -> None:
    """Generated code is ASCII Python whose top level holds a docstring, imports, `__all__`, classes and helper functions."""
    assert source.isascii() and "\x00" not in source
    tree = ast.parse(source)
    doc, *rest = tree.body
    assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str)
    for node in rest:
        is_all = isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["__all__"]
        assert isinstance(node, ALLOWED_TOP) or is_all, ast.dump(node)[:200]


# ---- 1. the grammar, with realistic terminals mixed in ----

NAMES = sorted(
    {
        *REGISTRY,
        "x",
        "y",
        "h",
        "B",
        "N",
        "C",
        "dim",
        "depth",
        "blocks",
        "fc",
        "mlp",
        "attn",
        "i",
        "i64",
        "bool",
        "f32",
        "src",
        "mask",
        "logits",
    }
)  # dtypes of inputs, names of outputs
HOSTILE_NAMES = ["class", "lambda", "None", "self", "torch", "nn", "F", "dd", "forward", "training", "to",
                 "init_weights", "__init__", "__class__", "_x", "print", "exec", "open", "é", "ﬁ", "a" * 300]  # fmt: skip
STRINGS = ['"attention"', '"zeros"', '"token"', '"avg"', '"none"', '"tanh"', '"x"', '""', r'"\""', r'"\\"',
           '"""doc"""', '"""a\n\\"""', "\"zeros'); import os; ('\""]  # fmt: skip
TERMINALS = {
    "NAME": st.one_of(st.sampled_from(NAMES + HOSTILE_NAMES), st.from_regex(r"\A[^\W\d]\w{0,8}\Z")),
    "NUMBER": st.one_of(
        st.sampled_from(["0", "1", "2", "3", "4", "8", "16", "0.5", "1e-6"]),
        st.from_regex(r"\A(\d{1,25}(\.\d*)?|\.\d+)([eE][+-]?\d{1,4})?\Z"),
    ),
    "STRING": st.sampled_from(STRINGS),
    "INDEXED": st.one_of(
        st.sampled_from(["downsample.0", "downsample.1", "layers.0", "x.0", "forward.1", "class.0"]),
        st.from_regex(r"\A[^\W\d]\w{0,6}\.\d{1,3}\Z"),
    ),  # numbered labels
    "NUMBERED_BY": st.one_of(
        st.sampled_from(["block.(", "layers.(", "x.(", "class.(", "forward.("]),
        st.from_regex(r"\A[^\W\d]\w{0,6}\.\(\Z"),
    ),  # labels numbered by an expression: `block.(i)`
}


# The fuzzer needs the grammar's rules (`Lark.grammar`), which a parser loaded from Lark's cache lacks.
GRAMMAR = Lark((ROOT / "archgraph" / "grammar" / "arch.lark").read_text(encoding="utf-8"), parser="lalr")


@FUZZ
@given(text=from_lark(GRAMMAR, start="start", explicit=TERMINALS))
def test_grammar_generated_text(spec_root, text):
    event(compile_text(spec_root, text))


# ---- 2. mutations of the real specs ----

SOURCES = [p.read_text() for p in [*SPECS, *sorted((ROOT / "archgraph" / "std").glob("*.arch"))]]
TOKEN = re.compile(r'"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*|\d+(?:\.\d+)?(?:e-?\d+)?|\w+|\n|[^\S\n]+|\S')
NUMBERS = ["0", "-1", "1", "3", "7", "1.5", "0.1", "1e-9", "1e308", str(10**12), str(2**62), str(2**70)]


def tokens_of(text: str) -> list[str]:
    """Tokens that join back to the text: strings, comments, numbers, words, newlines, blanks, symbols."""
    return TOKEN.findall(text)


ACTIONS = ["delete", "duplicate", "swap", "number", "number", "name", "name", "replace"]


@st.composite
def mutated_specs(draw) -> str:
    tokens = tokens_of(draw(st.sampled_from(SOURCES)))
    words = [i for i, t in enumerate(tokens) if not t.isspace()]
    names = [i for i in words if tokens[i].isidentifier()]
    numbers = [i for i in words if tokens[i][:1].isdigit()]
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3, 4]))):
        i = draw(st.sampled_from(words))
        action = draw(st.sampled_from(ACTIONS))
        if action == "number" and numbers:
            tokens[draw(st.sampled_from(numbers))] = draw(st.sampled_from(NUMBERS))
        elif action == "name" and names:  # another name of the same file: usually still parses
            tokens[draw(st.sampled_from(names))] = tokens[draw(st.sampled_from(names))]
        elif action == "delete":
            tokens[i] = ""
        elif action == "duplicate":
            tokens[i] = tokens[i] + " " + tokens[i]
        elif action == "swap" and i + 2 < len(tokens):
            tokens[i], tokens[i + 2] = tokens[i + 2], tokens[i]
        else:
            tokens[i] = tokens[draw(st.sampled_from(words))]
    return "".join(tokens)


def drawn_model(data):
    """What a whole-spec fuzzer generates: one model drawn by `data` (st.data()), every model in the slow profile."""
    return None if SLOW else (lambda models: [data.draw(st.sampled_from(models), label="generated model")])


@SPEC_FUZZ
@given(text=mutated_specs(), data=st.data())
def test_mutated_specs(spec_root, text, data):
    event(compile_text(spec_root, text, drawn_model(data)))


# ---- 3. hostile edits of the real specs ----

FRAGMENTS = [
    "\x00", "\r", "\r\n", "\t", "\x1b[31m", "\ufeff", "\u202e", "é", "ﬁ", "\U0001f600", '"', '"""', "\\", "(", ")",
    "[", "]", "{", "}", ":", ",", "=", "#", "(" * 120 + "1" + ")" * 120, "-" * 150 + "1", "1+" * 150 + "1",
    "9" * 5000, "1e999", "0.0", "-0", "2**62", "2**63", "0/0", "1//0", "repeat 1000000000 ", "repeat -1 ",
    "forward: ", "class: ", "__class__: ", "_x: ", "training: ", "to: ", "init_weights: ", "grad_checkpointing: ",
    'import "/etc/passwd"', 'import "../x.arch"', 'import "lib/missing.arch"', 'import "fuzz.arch"',
    '"""\\"\\"\\" + __import__(\'os\').system(\'x\') + """', "\"zeros'); import os; ('\"",
    *keyword.kwlist, "self", "torch", "nn", "F", "dd", "print", "exec", "__import__",
]  # fmt: skip


@st.composite
def hostile_specs(draw) -> str:
    tokens = tokens_of(draw(st.sampled_from(SOURCES)))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(tokens) - 1))
        fragment = draw(st.sampled_from(FRAGMENTS))
        if draw(st.booleans()):
            tokens.insert(i, fragment)
        else:
            tokens[i] = fragment
    return "".join(tokens)


@SPEC_FUZZ
@given(text=hostile_specs(), data=st.data())
def test_hostile_edits_of_specs(spec_root, text, data):
    event(compile_text(spec_root, text, drawn_model(data)))


def test_mutations_reach_every_stage(spec_root):
    """The mutation fuzzer is not stuck at the parser: unmutated sources compile, and join back exactly."""
    for text in SOURCES:
        assert "".join(tokens_of(text)) == text
    one_model = VIT_TI16  # one small model: cait.arch's ten cost 5 s
    assert compile_text(spec_root, one_model).startswith("compiled")


# ---- failures the fuzzers found, kept as regression cases (each was an internal error) ----

REGRESSIONS = {
    # blocks._explain read the caller's value of every name in a bad argument, but a repeat passed
    # no caller environment: KeyError while explaining `embed_dim * mlp_ratio[0]` = 0.5
    "explain_in_repeat": 'import "lib/mixer.arch"\nmodel m = mixer(patch_size = 16, embed_dim = 1, depth = 12)',
    # `index` took any value as its subscripts: `index(x, [1.5])` was a TypeError in its shape rule
    "index_items": "model m() { input x: [2, 8] return index(x, [1.5]) }",
    # `add` with three tensors generated `x + None`; with a string, `x + 'a'`
    "add_operands": 'model m() { input x: [B, 8] return add(x, x, x) + add(x, "a") }',
    # a number literal of 5,000 digits: int() raised ValueError inside the Lark Transformer (VisitError)
    "huge_literal": "model m() { input x: [B, 8] return fc: linear(x, " + "9" * 5000 + ") }",
    # `1 ** 1 ** ...` 10,000 deep: RecursionError inside the Lark Transformer (VisitError)
    "deep_power": "model m() { input x: [B, 8] return fc: linear(x, " + "1 ** " * 10_000 + "2) }",
    # issue 17: `index(x, [])` passed check and generated `x[]`, a SyntaxError
    "index_no_items": "model m() { input x: [B, 8] return index(x, []) }",
    # issue 17: 40 doublings built a string of 2**40 characters (6.3 GB); `0 ** -1` was ZeroDivisionError
    "string_doubling": 'model m() { input x: [B, 8] s = "ab" ' + "s = s + s " * 40 + "return fc: linear(x, 8) }",
    "zero_negative_power": "model m() { input x: [B, 8] return fc: linear(x, 0 ** -1) }",
    "float_power_overflow": "model m() { input x: [B, 8] return fc: linear(x, 4e18 ** 17) }",
}


@pytest.mark.parametrize("case", REGRESSIONS)
def test_fuzz_regressions(spec_root, case):
    assert compile_text(spec_root, REGRESSIONS[case]) in ("syntax error", "shape error", "type error")
