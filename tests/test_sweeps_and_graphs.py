"""Closed forms in N checked against full lowering, resolution sweeps and their plot, and graph
export at op and block level (JSON, DOT, GraphML, Mermaid, SVG)."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archgraph
from archgraph import conventions, sweep
from archgraph.api import open_program
from archgraph.cli import main
from archgraph.export import dot_binary, to_svg
from archgraph.lower import lower
from archgraph.poly import Polynomial, fit, token_count
from archgraph.sketched import of_graph
from tests.conftest import run, with_spec_library

VIT_B16 = "specs/vit.arch"
VIT_TI16 = [VIT_B16, "--model", "vit_ti16"]  # the same file's smallest model


# ---- the closed form ----


def test_vit_b16_flops_are_an_integer_polynomial_in_n():
    form = archgraph.closed_form(VIT_B16)
    # 12 blocks: a = 4*L*D (q@k^T, attn@v), b = 24*L*D^2 + 2*D*C*p^2 (blocks, patch projection),
    # c = 2*D*1000 (head) - 2*D*C*p^2 (the class token is not a patch)
    d, layers, c_p2 = 768, 12, 3 * 16 * 16
    assert form.count.json() == [2 * d * 1000 - 2 * d * c_p2, 24 * layers * d * d + 2 * d * c_p2, 4 * layers * d]
    assert form.count.json() == [356_352, 171_048_960, 36_864]
    assert form.tokens.json() == [1, 0, "1/256"]  # N = img_size² / 16² + 1
    assert form.crossover_tokens() == pytest.approx(4640.0, abs=0.01)
    assert form.crossover_image() == pytest.approx(16 * 4639**0.5, abs=0.01)
    assert form.json()["crossover_valid_img_size"] == 1104


# (spec, model, image sizes never used in the fit); each a multiple of the model's stride
CASES = [
    (VIT_B16, None, [112, 448, 640, 1024]),
    ("specs/deit.arch", "deit_b16_distilled", [96, 512, 800]),
    ("specs/vit.arch", "vit_h14", [112, 518, 1008]),
    ("specs/vit.arch", "vit_bigg14", [140, 448]),
    ("specs/mixer.arch", None, [128, 512, 768]),
    ("specs/resmlp.arch", None, [160, 384, 640]),
    ("specs/vit.arch", "vit_b32", [96, 384, 1024]),
]


@pytest.mark.parametrize("convention", ["flop_counter", "fvcore", "full"])
@pytest.mark.parametrize(("spec", "model", "sizes"), CASES, ids=[c[1] or c[0] for c in CASES])
def test_polynomial_equals_the_full_count_at_other_resolutions(spec, model, sizes, convention):
    form = archgraph.closed_form(spec, model, convention)
    conv = conventions.get(convention)
    assert all(c.denominator == 1 for c in form.count.coeffs), form.count
    for img in sizes:
        graph = archgraph.load_graph(spec, model, img_size=img)
        n = token_count(graph)
        assert form.tokens(img) == n
        assert form.count(n) == conv.total(graph), f"img_size {img}, N {n}"


def test_token_mixing_without_attention_is_linear_or_has_its_own_n2():
    mixer = archgraph.closed_form("specs/mixer.arch")
    assert mixer.count.degree == 1 and mixer.crossover_tokens() is None
    resmlp = archgraph.closed_form("specs/resmlp.arch")  # linear_tokens: an N x N map per block
    assert resmlp.count.coefficient(2) == 12 * 2 * 384  # 2 * L * D
    assert resmlp.crossover_tokens() is not None


def test_fit_is_exact_and_refuses_an_unchecked_polynomial():
    poly = fit([(1, 6), (2, 17), (3, 34), (4, 57)])  # 3x^2 + 2x + 1
    assert poly.coeffs[:3] == (Fraction(1), Fraction(2), Fraction(3)) and poly.degree == 2
    assert str(poly) == "3·N² + 2·N + 1"
    with pytest.raises(ValueError, match="not a polynomial"):
        fit([(1, 1), (2, 8), (3, 27)])
    assert str(Polynomial((Fraction(-5), Fraction(2)))) == "2·N - 5"


def test_report_closed_form_option(capsys):
    _, out, _ = run(capsys, "report", VIT_B16, "--closed-form")
    assert "36,864·N² + 171,048,960·N + 356,352" in out and "N = 4,640.0" in out
    _, js, _ = run(capsys, "report", VIT_B16, "--closed-form", "--format", "json")
    assert json.loads(js)["closed_form"]["coefficients"] == [356_352, 171_048_960, 36_864]


def test_a_model_without_tokens_has_no_closed_form_and_says_why(capsys):
    code, out, _ = run(capsys, "report", "specs/resnet50.arch", "--closed-form")
    assert code == 0 and "closed form: none (`resnet50` has no token sequence" in out
    code, out, _ = run(capsys, "sweep", "specs/resnet50.arch", "--set", "img_size=224,256")
    assert code == 0 and "resnet50: no closed form" in out


def _vit_requiring_224(tmp_path) -> str:
    """A small ViT whose spec rejects img_size below 224 (smaller than the closed form's fit samples)."""
    vit = with_spec_library(tmp_path) / "lib" / "vit.arch"
    line = "    input x: [B, in_chans, img_size, img_size]\n"
    require = '    require img_size >= 224, "img_size must be at least 224"\n'
    vit.write_text(vit.read_text().replace(line, require + line))
    spec = tmp_path / "big.arch"
    spec.write_text('import "lib/vit.arch"\nmodel big = vit(embed_dim = 192, num_heads = 3, depth = 2)\n')
    return str(spec)


def test_a_spec_rejecting_the_fit_sizes_still_reports_without_a_closed_form(capsys, tmp_path):
    spec = _vit_requiring_224(tmp_path)
    code, out, err = run(capsys, "report", spec, "--closed-form")
    assert code == 0, err
    assert "closed form: none (" in out and "img_size must be at least 224" in out
    _, js, _ = run(capsys, "report", spec, "--closed-form", "--format", "json")
    why = json.loads(js)["closed_form"]["error"]
    code, js, _ = run(capsys, "sweep", spec, "--set", "img_size=224,384", "--format", "json")
    data = json.loads(js)
    assert code == 0 and data["models"][0]["closed_form"] is None
    assert data["models"][0]["closed_form_error"] == why  # the report and the sweep share one reason
    assert [r["count"] for r in data["rows"]] == [archgraph.analyze(spec, img_size=i)["flops"] for i in (224, 384)]


# ---- sweeps ----

SWEEP = ["sweep", VIT_B16, "specs/mixer.arch", "--set", "img_size=224,384,512"]


def test_sweep_rows_agree_with_analyze_and_formats_agree(capsys):
    code, js, _ = run(capsys, *SWEEP, "--format", "json")
    assert code == 0
    data = json.loads(js)
    assert [(r["model"], r["setting"]["img_size"]) for r in data["rows"]] == [
        (m, s) for m in ("vit_b16", "mixer_b16") for s in (224, 384, 512)
    ]
    for row in data["rows"]:
        spec = VIT_B16 if row["model"] == "vit_b16" else "specs/mixer.arch"
        report = archgraph.analyze(spec, img_size=row["setting"]["img_size"])
        assert (row["params"], row["count"]) == (report["params"], report["flops"])
        assert row["quadratic"] + row["linear"] == row["count"]
        if row["model"] == "vit_b16":
            assert row["quadratic"] == report["attention_flops"]  # ViT's N² terms are attention's
    _, cs, _ = run(capsys, *SWEEP, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(cs)))
    assert [int(r["count"]) for r in rows] == [r["count"] for r in data["rows"]]
    _, table, _ = run(capsys, *SWEEP)
    assert "36,864·N² + 171,048,960·N + 356,352" in table and "no N² term" in table


def test_sweep_reports_a_bad_point_and_goes_on(capsys):
    code, js, _ = run(
        capsys, "sweep", "specs/vit.arch", "--model", "vit_h14", "--set", "img_size=224,384", "--format", "json"
    )
    data = json.loads(js)
    assert code == 0 and "multiple" in data["rows"][1]["error"] and data["rows"][0]["count"]


def test_sweep_over_two_parameters_takes_their_product(capsys):
    _, js, _ = run(capsys, "sweep", VIT_B16, "--set", "depth=6,12", "--set", "img_size=224,384", "--format", "json")
    rows = json.loads(js)["rows"]
    assert [r["setting"] for r in rows] == [{"depth": d, "img_size": i} for d in (6, 12) for i in (224, 384)]
    for row in rows:
        report = archgraph.analyze(VIT_B16, overrides=row["setting"])
        assert row["count"] == report["flops"] and row["quadratic"] == report["attention_flops"]


def test_sweep_needs_a_list(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", VIT_B16, "--set", "img_size=224"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_sweep_plot_of_vit_mixer_and_hybrid_is_a_valid_file(capsys, tmp_path, suffix):
    pytest.importorskip("matplotlib")
    target = tmp_path / f"sweep{suffix}"
    code, _, err = run(
        capsys,
        "sweep",
        VIT_B16,
        "specs/mixer.arch",
        "specs/vit_hybrid.arch",
        "--set",
        "img_size=224,384,512",
        "--plot",
        str(target),
    )
    assert code == 0 and f"wrote {target}" in err
    data = target.read_bytes()
    if suffix == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    else:
        assert ET.fromstring(data).tag == "{http://www.w3.org/2000/svg}svg"


# ---- graph export ----


@pytest.mark.parametrize("level", ["op", "block"])
def test_graph_json_at_each_level_sums_to_the_report(capsys, level):
    _, out, _ = run(capsys, "graph", "specs/vit.arch", "--model", "vit_ti16", "--level", level)
    data = json.loads(out)
    report = archgraph.analyze("specs/vit.arch", "vit_ti16")
    assert data["level"] == level
    assert sum(n["flops"] for n in data["nodes"]) == report["flops"]
    assert sum(n["params"] for n in data["nodes"]) == report["params"]
    ids = {n["id"] for n in data["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in data["edges"])
    if level == "block":
        assert [n["id"] for n in data["nodes"] if n["kind"] == "encoder_block"] == [f"blocks.{i}" for i in range(12)]
        assert {"source": "blocks.3", "target": "blocks.4"} in data["edges"]


def test_graph_block_level_dot_graphml_mermaid(capsys):
    import networkx as nx

    # one ViT-Ti block: 12*D^2 + 13*D with D = 192 (the per-block term of ../shared/reference/timm.md's
    # parameter formula) = 12*192^2 + 13*192 = 444,864
    _, dot, _ = run(capsys, "graph", *VIT_TI16, "--level", "block", "--format", "dot")
    assert '"blocks.3" -> "blocks.4";' in dot and "444,864 params" in dot
    _, gml, _ = run(capsys, "graph", *VIT_TI16, "--level", "block", "--format", "graphml")
    g = nx.parse_graphml(gml)
    assert g.nodes["blocks.0"]["params"] == 444_864
    _, mm, _ = run(capsys, "graph", *VIT_TI16, "--level", "op", "--format", "mermaid")
    assert mm.startswith("flowchart TD\n") and "-->|0|" in mm and "blocks.11.mlp.fc2" in mm
    assert '"' not in mm.replace('["', "").replace('"]', "")  # quotes inside labels are escaped


@pytest.mark.parametrize("renderer", ["builtin", "dot"])
@pytest.mark.parametrize("level", ["op", "block"])
def test_graph_svg_is_valid(capsys, renderer, level):
    if renderer == "dot" and dot_binary() is None:
        pytest.skip("Graphviz's dot is not installed (setup.sh installs it where apt-get works)")
    code, out, _ = run(capsys, "graph", *VIT_TI16, "--format", "svg", "--level", level,
                       "--renderer", renderer, "--set", "depth=2")  # fmt: skip
    assert code == 0
    root = ET.fromstring(out.split("?>", 1)[-1] if out.startswith("<?xml") else out)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = "".join(root.itertext())
    assert "blocks.1" in text and "FLOPs" in text


def test_builtin_svg_handles_a_deep_graph():
    graph = archgraph.load_graph("specs/vit.arch", "vit_bigg14")
    svg = to_svg(graph, "op", renderer="builtin")
    assert ET.fromstring(svg).tag.endswith("svg") and "blocks.47.mlp.fc2" in svg


# ---- a sweep's rows come from sketches: equal to lowering every point ----

SKETCHED = {  # spec -> parameters a point may set, and their values (valid and invalid sizes both)
    VIT_B16: {"img_size": [64, 100, 224, 384], "depth": [1, 2, 12], "drop_path_rate": [0.0, 0.1]},
    "specs/vit_hybrid.arch": {"img_size": [224, 256, 320], "depth": [2, 12]},
    "specs/cait.arch": {"img_size": [160, 224], "depth": [3, 24], "depth_token_only": [1, 2]},
    "specs/perceiver.arch": {"img_size": [32, 64], "depth": [1, 6]},
    "specs/detr.arch": {"img_size": [320, 800], "img_w": [320, 1216], "enc_layers": [1, 6]},
    "specs/pvt_v2.arch": {"img_size": [160, 224, 250]},
}


@settings(max_examples=8, deadline=None)
@given(spec=st.sampled_from(sorted(SKETCHED)), data=st.data())
def test_sweep_rows_from_sketches_equal_rows_from_full_lowerings(spec, data):
    """Every row field (tokens, params, MACs, counts, the N² part, errors) is what lowering the whole
    model at that point gives: the same sweep with `sweep.counted` replaced by a full lowering."""
    choices = SKETCHED[spec]
    keys = data.draw(st.lists(st.sampled_from(sorted(choices)), min_size=1, max_size=2, unique=True))
    swept = {k: data.draw(st.lists(st.sampled_from(choices[k]), min_size=1, max_size=2, unique=True)) for k in keys}
    program = open_program(spec)
    models = [(spec, program, program.models[0])]
    for convention in ("flop_counter", "fvcore"):
        sketched = sweep.sweep_data(models, sweep.grid(swept), {}, convention)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sweep, "counted", lambda p, name, overrides: of_graph(lower(p, name, overrides)))
            full = sweep.sweep_data(models, sweep.grid(swept), {}, convention)
        assert sketched == full


def test_a_sweep_point_is_a_sketch_with_one_block_per_repeat(monkeypatch):
    """ViT-B at 384: the row's model holds one of the 12 encoder blocks; 11 calls are counted, not copied."""
    seen = []
    real = sweep.counted
    monkeypatch.setattr(sweep, "counted", lambda *args: seen.append(real(*args)) or seen[-1])
    program = open_program(VIT_B16)
    data = sweep.sweep_data([(VIT_B16, program, "vit_b16")], [{"img_size": 384}], {})
    full = lower(program, "vit_b16", {"img_size": 384})
    assert len(seen) == 1 and len(seen[0].sketch.aliases) == 11 and len(seen[0].graph.nodes) < len(full.nodes) / 5
    assert data["rows"][0]["count"] == conventions.get("flop_counter").total(full)
