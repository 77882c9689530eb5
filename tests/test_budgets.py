"""Budgets checked before work grows: a repeat that would pass the op limit fails after its first
iteration, naming the repeat; a sweep refuses a grid above its documented size; a point a
model cannot take is a note, never a number in the count column."""

from __future__ import annotations

import pytest

from archgraph.check import check
from archgraph.cli import main
from archgraph.errors import ArchShapeError
from archgraph.loader import load
from archgraph.lower import MAX_NODES, lower
from archgraph.lowering import instances, interpreter, repeat
from archgraph.source import text_of
from archgraph.sweep import MAX_LOWERINGS
from tests.test_linear import operations

WIDE = """
block wide(x: [B, 8]) {{
{body}
    return x
}}

model big(depth: int = 1) {{
    input x: [B, 8]
    return blocks: repeat depth wide(x)
}}
"""


def _program(tmp_path, layers: int):
    path = tmp_path / "big.arch"
    path.write_text(WIDE.format(body="\n".join("    x = linear(x, 8)" for _ in range(layers))))
    program = load(path)
    check(program)
    return program


def test_an_oversized_repeat_fails_after_one_iteration_naming_it(tmp_path):
    program = _program(tmp_path, 100)  # 100 ops an iteration: 4,096 iterations would be 409,601 ops
    assert 4096 * 100 > MAX_NODES
    with pytest.raises(ArchShapeError) as caught:
        lower(program, "big", {"depth": 4096})
    assert "repeat `blocks` would make 409,601 ops (4,096 iterations of 100)" in str(caught.value)
    assert text_of(caught.value.span) == "depth"  # the repeat's count, in the model
    one = operations(lambda: lower(program, "big", {"depth": 1}))
    failed = operations(lambda: _fails(program, {"depth": 4096}))
    assert failed < 3 * one  # it stopped after the first iteration, not after 2,000


def _fails(program, overrides) -> None:
    with pytest.raises(ArchShapeError):
        lower(program, "big", overrides)


def test_the_budget_is_exact_at_its_limit(tmp_path, monkeypatch):
    """With the limit at 1,001 ops: 10 iterations of 100 plus the input fit, 11 do not."""
    for module in (repeat, interpreter, instances):
        monkeypatch.setattr(module, "MAX_NODES", 1001)
    program = _program(tmp_path, 100)
    assert len(lower(program, "big", {"depth": 10}).nodes) == 1001
    with pytest.raises(
        ArchShapeError, match=r"would make 1,101 ops \(11 iterations of 100\); a model is limited to 1,001"
    ):
        lower(program, "big", {"depth": 11})


def test_sweep_refuses_a_grid_above_its_limit(capsys):
    """A usage error (exit 2, the command's usage line), not a spec error: the request is too large."""
    sizes = ",".join(str(16 * i) for i in range(1, MAX_LOWERINGS + 2))
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "specs/vit.arch", "--set", f"img_size={sizes}"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("usage: archgraph sweep")
    assert f"the sweep would lower {MAX_LOWERINGS + 1} models" in err and f"limit is {MAX_LOWERINGS}" in err


def test_a_failing_sweep_point_is_a_note_not_a_count(capsys):
    code = main(["sweep", "specs/vit.arch", "--model", "vit_h14", "--set", "img_size=224,384", "--format", "markdown"])
    header, _, ok, bad = [[c.strip() for c in line.strip("|").split(" | ")] for line in
                          capsys.readouterr().out.splitlines()[:4]]  # fmt: skip
    assert code == 0 and header[-1] == "notes" and ok[-1] == "" and ok[4].endswith(" G")
    assert bad[:2] == ["vit_h14", "img_size=384"] and bad[2:-1] == [""] * (len(header) - 3)
    assert bad[-1].startswith("error: ") and "multiple of patch_size" in bad[-1]
