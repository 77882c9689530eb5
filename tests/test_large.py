"""The large cases of issue 17, end to end through the CLI (marked `slow`; the README states
their measured times). The growth of each pass is bounded by operation counts in
tests/test_linear.py; these only show that the sizes the issue names finish and answer.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT, run

VIT_B16 = str(ROOT / "specs" / "vit.arch")


@pytest.mark.slow
def test_a_2048_deep_repeat_reports(capsys):
    """ViT-B/16 with 2,048 blocks: 2,048 x 7,087,872 parameters per block plus 1,513,192 outside them."""
    code, out, err = run(capsys, "report", VIT_B16, "--set", "depth=2048", "--format", "json")
    assert code == 0, err
    per_block = 7_087_872  # timm vit_base_patch16_224: 86,567,656 = 12 x 7,087,872 + 1,513,192
    assert json.loads(out)["params"] == 2048 * per_block + 1_513_192


@pytest.mark.slow
def test_a_chain_of_2000_variants_checks(capsys, tmp_path):
    """`model v{i} = v{i-1}(k = i)`: every variant resolved once, not by searching the chain."""
    lines = ["model v0(k = 0) {\n    input x: [B, 8]\n    return fc: linear(x, 8)\n}"]
    lines += [f"model v{i} = v{i - 1}(k = {i})" for i in range(1, 2000)]
    spec = tmp_path / "chain.arch"
    spec.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "check", str(spec))
    assert code == 0 and "ok" in out, err


@pytest.mark.slow
def test_forty_deep_nesting_is_refused_or_compiles(capsys, tmp_path):
    """40 group repeats nested in one block: check and compile agree (both accept, or both refuse)."""
    body = "x = fc: linear(x, 8)"
    for depth in range(40):
        body = f"r{depth}: repeat 1 as i{depth} {{ {body} }}"
    spec = tmp_path / "nest.arch"
    spec.write_text(f"model m() {{\n    input x: [B, 8]\n    {body}\n    return x\n}}\n")
    checked, _, check_err = run(capsys, "check", str(spec))
    compiled, _, compile_err = run(capsys, "compile", str(spec), "-o", str(tmp_path / "out"))
    assert checked == compiled and checked in (0, 1), (check_err, compile_err)  # 1: a spec error, not 3
    assert "Traceback" not in check_err + compile_err
