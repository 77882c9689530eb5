"""Per-stage lists and per-stage report rows (issue 15): `len`, list-typed parameters, numbers carried
through a repeat, and the report's stage table for PVT v2, where spatial reduction divides each
stage's N² attention term by R² (Wang et al. 2021, PVT section 3.3: SRA costs N²/R² instead of N²)."""

from __future__ import annotations

import archgraph
from archgraph.cli import main
from tests.conftest import ROOT

PVT = ROOT / "specs/pvt_v2.arch"
SR = [8, 4, 2, 1]  # architectures.md section 12: PVT v2's SR ratios


def test_pvt_stage_rows_show_tokens_width_and_keys_cut_by_r_squared():
    stages = archgraph.analyze(PVT, "pvt_v2_b2")["stages"]
    assert [s["stage"] for s in stages] == ["stages.0", "stages.1", "stages.2", "stages.3"]
    assert [s["tokens"] for s in stages] == [56 * 56, 28 * 28, 14 * 14, 7 * 7]  # 224 / 4, / 8, / 16, / 32
    assert [s["width"] for s in stages] == [64, 128, 320, 512]
    assert [s["heads"] for s in stages] == [1, 2, 5, 8]
    assert [s["reduction"] for s in stages] == [r * r for r in SR]
    assert [s["keys"] for s in stages] == [7 * 7] * 4  # 56 / 8, 28 / 4, 14 / 2, 7 / 1: a 7x7 map at every stage
    for s, depth in zip(stages, [3, 4, 6, 3], strict=True):  # q@k^T and attn@v: 2 x 2 * N * (N / R^2) * C per block
        assert s["attention_flops"] == depth * 2 * 2 * s["tokens"] * s["keys"] * s["width"]


def test_linear_sra_attends_to_a_fixed_7x7_map():
    stages = archgraph.analyze(PVT, "pvt_v2_b2_li", overrides={"img_size": 448})["stages"]
    assert [s["keys"] for s in stages] == [49] * 4
    assert stages[0]["tokens"] == 112 * 112


def test_a_plain_vit_has_no_stages():
    assert archgraph.analyze(ROOT / "specs/vit.arch")["stages"] == []


def test_report_prints_the_stage_table_and_set_takes_per_stage_lists(capsys):
    assert main(["report", str(PVT), "--model", "pvt_v2_b0", "--set", "depths=[1,1,1,1]"]) == 0
    out = capsys.readouterr().out
    assert "per stage (spatial reduction" in out
    row = next(line.split() for line in out.splitlines() if line.startswith("stages.0 "))
    assert row[:6] == ["stages.0", "3,136", "32", "1", "49", "64"]
    assert archgraph.analyze(PVT, "pvt_v2_b0", overrides={"depths": [1, 1, 1, 1]})["params"] < 3_666_760


def test_len_and_list_parameters_drive_a_repeat(tmp_path):
    spec = tmp_path / "stages.arch"
    spec.write_text(
        "model m(widths: list = [8, 16, 32]) {\n"
        "    input x: [B, 4, 8]\n"
        "    width = 0\n"
        "    layers: repeat (len(widths)) as i {\n"
        "        x = fc: linear(x, widths[i])\n"
        "        width = widths[i]\n"
        "    }\n"
        "    return proj: linear(x, width * 2)\n"
        "}\n"
    )
    graph = archgraph.load_graph(spec)
    assert str(graph.type_of(graph.outputs[0])) == "f32[B,4,64]"  # `width` carried out of the loop: 32
    assert archgraph.analyze(spec)["params"] == (8 * 8 + 8) + (8 * 16 + 16) + (16 * 32 + 32) + (32 * 64 + 64)


def _worked_example() -> str:
    """The whole spec of docs/language.md section 13 (the fenced block after "The whole spec:")."""
    text = (ROOT / "docs/language.md").read_text()
    section = text[text.index("## 13. Worked example") :]
    block = section[section.index("The whole spec:") :]
    return block.split("```\n", 2)[1]


def test_the_language_docs_stage_example_is_pvt_v2_b0(tmp_path):
    spec = tmp_path / "pyramid.arch"
    spec.write_text(_worked_example())
    ours, std = archgraph.analyze(spec), archgraph.analyze(PVT, "pvt_v2_b0")
    assert ours["params"] == std["params"] == 3_666_760  # architectures.md section 12: timm pvt_v2_b0
    assert ours["flops"] == std["flops"]
    assert [s["reduction"] for s in ours["stages"]] == [r * r for r in SR]


def test_closed_form_n2_coefficient_is_the_sum_over_stages_of_n2_over_r2():
    """PVT v2-B0 in N (stage 1's tokens): stage s has N / 4^s tokens and N / (4^s R_s^2) keys, so its
    q@k^T and attn@v cost depth * 4 * C_s * N^2 / (16^s R_s^2) FLOPs: 4 + 2 + 5/4 + 1/2 = 31/4 N^2."""
    from fractions import Fraction

    widths, depths = [32, 64, 160, 256], [2, 2, 2, 2]
    stages = enumerate(zip(widths, depths, SR, strict=True))
    expected = sum(Fraction(4 * d * c, 16**s * r * r) for s, (c, d, r) in stages)
    form = archgraph.analyze(PVT, "pvt_v2_b0", closed_form=True)["closed_form"]
    assert Fraction(form["coefficients"][2]) == expected == Fraction(31, 4)


def test_linear_sra_has_no_n2_term():
    """PVT v2-Li attends to a fixed 7x7 map: its cost is linear in the token count."""
    assert len(archgraph.analyze(PVT, "pvt_v2_b2_li", closed_form=True)["closed_form"]["coefficients"]) == 2


def test_no_list_parameter_ignores_an_entry():
    """Every list parameter of every model in specs/ reads all its entries: one entry more (the last
    repeated) is refused by a `require` or changes the graph, never silently dropped (a fifth ResNet
    stage, a fourth SETR auxiliary head)."""
    from archgraph.api import open_program
    from archgraph.cost import totals
    from archgraph.errors import SpecError
    from archgraph.lower import lower

    ignored, tried = [], 0
    for path in sorted((ROOT / "specs").glob("*.arch")):
        program = open_program(path)
        for name in program.models:
            graph = lower(program, name)
            for param, value in graph.params.items():
                if not isinstance(value, list) or not value:
                    continue
                tried += 1
                try:
                    longer = lower(program, name, {param: [*value, value[-1]]})
                except SpecError:
                    continue
                if len(longer.nodes) == len(graph.nodes) and totals(longer) == totals(graph):
                    ignored.append(f"{path.name} {name}: {param} = {value}")
    assert tried >= 40 and not ignored, ignored
