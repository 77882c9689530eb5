"""Fuzzing: any text compiles, or raises a SpecError that renders with a span; nothing else escapes.

Two sources of text: the grammar itself (hypothesis.extra.lark) and mutations of the real
specs (delete, duplicate or swap tokens, change numbers). The default budget keeps CI
fast; ARCHGRAPH_FUZZ_EXAMPLES=20000 is the slow profile.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

from archgraph import syntax as s
from archgraph.check import check
from archgraph.codegen import generate
from archgraph.errors import SpecError
from archgraph.loader import load
from archgraph.lower import lower
from archgraph.parser import _lark
from tests.conftest import ROOT, SPECS

EXAMPLES = int(os.environ.get("ARCHGRAPH_FUZZ_EXAMPLES", "250"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
SPAN = re.compile(r"^\S+:\d+:\d+: [a-z ]+: ", re.MULTILINE)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A spec root holding a copy of specs/lib, so mutated specs can import it."""
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(ROOT / "specs" / "lib", root / "lib")
    return root


def compile_text(root, text: str) -> None:
    """Parse, check, lower and generate every model in `text`; SpecErrors must render with a span."""
    try:
        program = load(root / "fuzz.arch", text=text)
        check(program)
        for name in program.own:
            if not isinstance(program.definitions[name], s.Block):
                generate(lower(program, name), "fuzz.arch")
    except SpecError as error:
        rendered = error.render()
        assert SPAN.match(rendered), rendered
        assert error.span.line >= 1 and error.span.col >= 1


@FUZZ
@given(text=from_lark(_lark(), start="start"))
def test_grammar_generated_text(workdir, text):
    compile_text(workdir, text)


SOURCES = [p.read_text() for p in [*SPECS, *sorted((ROOT / "specs" / "lib").glob("*.arch"))]]
TOKEN = re.compile(r'"[^"\n]*"|\d+(?:\.\d+)?(?:e-?\d+)?|\w+|\S')


@st.composite
def mutated_specs(draw) -> str:
    tokens = TOKEN.findall(draw(st.sampled_from(SOURCES)))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(tokens) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "swap", "number", "replace"]))
        if action == "delete":
            del tokens[i]
        elif action == "duplicate":
            tokens.insert(i, tokens[i])
        elif action == "swap" and i + 1 < len(tokens):
            tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
        elif action == "number":
            tokens[i] = str(draw(st.sampled_from([0, -1, 3, 7, 1.5, 10**12, 2**70])))
        else:
            tokens[i] = draw(st.sampled_from(tokens))
    return " ".join(tokens)


@FUZZ
@given(text=mutated_specs())
def test_mutated_specs(workdir, text):
    compile_text(workdir, text)
