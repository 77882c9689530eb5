"""The code generator renders each distinct block instance once per model (`codegen/memo.py`).

`classes.build` runs about ten times per model (the model lowered at other sizes, added one
by one); a scope's literal-size class is rendered only the first time a scope with the same
block, call site, arguments, input types and children's classes is met. Counted, not timed:
ViT-B/16 at depth 24 renders one class more per added block than at depth 12, from the one
lowering whose blocks all differ (the drop-path schedule tried on); before the memo, every
iteration of every build was rendered. The two files are the same but for the default depth
and the counts in their docstrings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import archgraph.codegen.memo as memo
import archgraph.codegen.view as view
from archgraph.api import open_model
from archgraph.codegen import generate

SPEC = Path(__file__).resolve().parents[1] / "specs" / "vit.arch"


def _rendered(monkeypatch: pytest.MonkeyPatch, depth: int) -> tuple[int, int, str]:
    """How many times `class_view` ran while generating ViT-B/16 at `depth`, how many of those
    built the class from the graph (the others only wrote its children's constructors into a
    skeleton built before), and the file."""
    calls, built = [], []
    real, build = memo.class_view, view._class_view
    monkeypatch.setattr(memo, "class_view", lambda fv, scope, *rest: calls.append(scope) or real(fv, scope, *rest))
    monkeypatch.setattr(view, "_class_view", lambda fv, scope, *rest: built.append(scope) or build(fv, scope, *rest))
    code = generate(open_model(SPEC, overrides={"depth": depth}).graph, "specs/vit.arch")
    return len(calls), len(built), code


def test_repeat_iterations_are_rendered_once(monkeypatch: pytest.MonkeyPatch, no_disk_cache) -> None:
    count12, built12, code12 = _rendered(monkeypatch, 12)
    count24, built24, code24 = _rendered(monkeypatch, 24)
    # One render per added block, from the one trial lowering whose blocks all differ (drop_path_rate
    # tried at 0.25 gives each block its own rate); every other build reuses the renders. Without the
    # memo each of the ~10 builds rendered every block again.
    assert count24 - count12 == 24 - 12
    # Each of those is built from the graph once; a render for other children's signatures is not.
    assert built24 - built12 == 24 - 12
    assert built12 < count12
    assert _classes(code12) == _classes(code24)


def _classes(code: str) -> list[str]:
    """The file's code after its header and docstring (which count parameters), the depth left out."""
    lines = code.splitlines()
    return [line for line in lines[lines.index("import torch") :] if "depth" not in line]
