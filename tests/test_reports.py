"""Reports people read and tools parse: formats that agree, counting conventions that reproduce
published numbers, breakdowns by depth / op / node, memory, diff, and the ViT-g/G specs.
None of this imports torch."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
import yaml

import archgraph
from archgraph import conventions
from archgraph.api import analyze
from archgraph.cli import main
from tests.conftest import run

VIT_B16 = "specs/vit.arch"


# ---- formats agree with each other and with analyze() ----


@pytest.mark.parametrize("view", ["layer", "op", "node"])
@pytest.mark.parametrize("options", [[], ["--convention", "fvcore", "--depth", "3", "--batch", "2"]])
def test_json_yaml_csv_agree_with_each_other_and_with_analyze(capsys, view, options):
    argv = ["report", VIT_B16, "--by", view, *options]
    _, js, _ = run(capsys, *argv, "--format", "json")
    _, ym, _ = run(capsys, *argv, "--format", "yaml")
    _, cs, _ = run(capsys, *argv, "--format", "csv")
    data = json.loads(js)
    assert yaml.safe_load(ym) == data
    if not options:
        assert data == json.loads(json.dumps(archgraph.analyze(VIT_B16)))
    rows = list(csv.DictReader(io.StringIO(cs)))
    source = {"layer": data["rows"], "op": data["by_op"], "node": data["nodes"]}[view]
    assert len(rows) == len(source) + 1
    for row, expected in zip(rows, source, strict=False):
        assert int(row["flops"]) == expected["flops"] and int(row["convention_count"]) == expected["convention_count"]
    total = rows[-1]
    assert (int(total["params"]), int(total["flops"])) == (data["params"], data["flops"])
    assert int(total["convention_count"]) == data["convention"]["count"]


def test_json_keeps_the_documented_keys(capsys):
    _, js, _ = run(capsys, "report", VIT_B16, "--format", "json")
    data = json.loads(js)
    documented = ("model", "spec", "doc", "parameters", "batch", "params", "macs", "flops", "other_flops",
                  "attention_flops", "attention_share", "input_shapes", "output_shape", "output_shapes",
                  "convention", "depth", "rows", "by_op", "nodes", "tools", "memory", "token_dependent")  # fmt: skip
    assert set(documented) <= set(data)
    assert set(data["convention"]) == {"name", "aliases", "unit", "per_mac", "includes", "reproduces", "count"}
    row = data["rows"][0]
    assert set(row) == {"layer", "kind", "depth", "output", "params", "macs", "flops", "other_flops",
                        "attention_flops", "convention_count"}  # fmt: skip


def test_op_and_node_breakdowns_add_up_to_the_totals():
    data = analyze(VIT_B16, convention="full")
    for key in ("params", "macs", "flops", "other_flops", "attention_flops"):
        assert sum(r[key] for r in data["by_op"]) == data[key]
    assert sum(n["flops"] for n in data["nodes"]) == data["flops"]
    assert sum(r["convention_count"] for r in data["by_op"]) == data["convention"]["count"]
    assert data["convention"]["count"] == data["flops"] + data["other_flops"]  # full = FLOPs + elementwise
    linear = next(r for r in data["by_op"] if r["op"] == "linear")
    assert linear["count"] == 12 * 4 + 1


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_depth_rows_cover_the_model_once_per_level(depth):
    data = analyze(VIT_B16, depth=depth)
    assert max(r["depth"] for r in data["rows"]) == depth - 1
    top = [r for r in data["rows"] if r["depth"] == 0]
    assert sum(r["params"] for r in top) == data["params"]
    assert sum(r["flops"] for r in top) == data["flops"]
    if depth >= 3:
        assert any(r["layer"] == "blocks.0.attn" and r["kind"] == "attention" for r in data["rows"])
    if depth >= 4:
        assert any(r["layer"] == "blocks.11.attn.sdpa" for r in data["rows"])


def test_table_labels_macs_flops_and_the_convention(capsys):
    _, out, _ = run(capsys, "report", VIT_B16, "--convention", "paper", "--tools")
    assert "MACs" in out and "FLOPs" in out and "fvcore (flops)" in out
    assert "fvcore convention: 17,582,740,224" in out and "DeiT paper" in out
    assert "33,697,001,472" in out  # what FlopCounterMode prints on CPU with fused SDPA
    _, md, _ = run(capsys, "report", VIT_B16, "--by", "op", "--format", "markdown")
    assert "| sdpa | 12 |" in md


# ---- conventions reproduce published numbers ----

# (spec, model, convention, published, decimals, source); all at batch 1
PUBLISHED = [
    (VIT_B16, None, "fvcore", 17.583, 3, "fvcore unfused, timm.md section 2"),
    ("specs/deit.arch", None, "paper", 17.6, 1, "DeiT paper Table 1"),
    ("specs/deit.arch", "deit_s16", "paper", 4.6, 1, "DeiT paper Table 1"),
    ("specs/deit.arch", "deit_ti16", "paper", 1.3, 1, "DeiT paper Table 1"),
    ("specs/deit.arch", "deit_b16_distilled", "fvcore", 17.676, 3, "architectures.md section 3"),
    ("specs/deit.arch", "deit_b16_384", "fvcore", 55.540, 3, "architectures.md section 3"),
    ("specs/vit.arch", "vit_l16", "fvcore", 61.604, 3, "fvcore unfused, timm.md section 2"),
    ("specs/vit.arch", "vit_b16_384", "fvcore", 55.540, 3, "fvcore unfused, timm.md section 2"),
    ("specs/mixer.arch", None, "fvcore", 12.621, 3, "fvcore, timm.md section 2"),
    ("specs/resmlp.arch", None, "fvcore", 3.010, 3, "fvcore, timm.md section 2"),
    ("specs/vit_hybrid.arch", "vit_r26_s32", "fvcore", 3.559, 3, "fvcore, timm.md section 2 (vit_small_r26_s32_224)"),
    ("specs/vit_early_conv.arch", "vit_c_1gf", "macs", 1.1, 1, "Xiao et al. 2021 Table 1 (pycls MACs)"),
    ("specs/vit_early_conv.arch", "vit_c_4gf", "macs", 4.0, 1, "Xiao et al. 2021 Table 1"),
    ("specs/vit_early_conv.arch", "vit_c_18gf", "macs", 17.7, 1, "Xiao et al. 2021 Table 1"),
    ("specs/vit_early_conv.arch", "vit_c_36gf", "macs", 35.0, 1, "Xiao et al. 2021 Table 1"),
    (VIT_B16, None, "torchvision", 17.56, 2, "torchvision docs vit_b_16"),
    ("specs/vit.arch", "vit_l16", "macs", 61.55, 2, "torchvision docs vit_l_16"),
    ("specs/vit.arch", "vit_b32", "torchvision", 4.41, 2, "torchvision docs vit_b_32"),
]


@pytest.mark.parametrize(("spec", "model", "convention", "published", "decimals", "source"), PUBLISHED,
                         ids=[f"{p[1] or p[0]}-{p[2]}" for p in PUBLISHED])  # fmt: skip
def test_convention_reproduces_published_number(spec, model, convention, published, decimals, source):
    count = analyze(spec, model, convention=convention)["convention"]["count"]
    assert round(count / 1e9, decimals) == published, source


@pytest.mark.parametrize(("img_size", "published"), [(224, 21.658), (384, 67.43)])
def test_fvcore_convention_counts_the_hybrids_weight_standardisation(img_size, published):
    """timm vit_base_r50_s16_224/384 (headless default cfg), fvcore: timm.md section 2, architectures.md section 2."""
    data = analyze("specs/vit_hybrid.arch", convention="fvcore", overrides={"num_classes": 0, "img_size": img_size})
    assert round(data["convention"]["count"] / 1e9, len(str(published).split(".")[1])) == published


def test_flop_counter_convention_is_the_flops_column_and_tool_gaps_are_reproduced():
    data = analyze(VIT_B16)
    # ../shared/reference/timm.md, "Closed-form check": vit_base_patch16_224, FlopCounterMode total
    assert data["convention"]["count"] == data["flops"] == 35_127_656_448
    tools = data["tools"]
    # timm.md section 2: FC raw CPU 33.697 G, fvcore (fused) 16.867 G for vit_base_patch16_224
    cpu = tools["FlopCounterMode (CPU tensor, fused SDPA counted as 0: pytorch#195460)"]
    fused = tools["fvcore FlopCountAnalysis (fused SDPA skipped as unsupported)"]
    assert round(cpu / 1e9, 3) == 33.697 and round(fused / 1e9, 3) == 16.867


def test_torchvision_convention_counts_are_flops_not_gflops(capsys):
    """torchvision's docs print GFLOPS (giga multiply-adds); archgraph prints the raw count, so its unit is FLOPS."""
    data = analyze(VIT_B16, convention="torchvision")
    assert data["convention"]["unit"] == "FLOPS (= multiply-adds)" and data["convention"]["count"] == data["macs"]
    _, out, _ = run(capsys, "report", VIT_B16, "--convention", "torchvision")
    assert "torchvision convention: 17,563,828,224 FLOPS (= multiply-adds) (17.56 G)" in out
    assert "torchvision (FLOPS)" in out
    assert [line for line in out.splitlines() if "GFLOPS" in line] == [
        "  reproduces torchvision model docs: vit_b_16 17.56, vit_b_32 4.41, vit_l_16 61.55 GFLOPS"
    ]  # GFLOPS only where quoting torchvision's docs
    _, out, _ = run(capsys, "diff", VIT_B16, VIT_B16, "--model-b", "vit_l16", "--convention", "macs")
    assert "FLOPS A" in out and "GFLOPS" not in out
    _, out, _ = run(capsys, "sweep", VIT_B16, "--set", "img_size=224,384", "--convention", "torchvision")
    assert "vit_b16: FLOPS (= multiply-adds) = 18,432·N²" in out and "GFLOPS" not in out


def test_unknown_convention_is_a_usage_error():
    with pytest.raises(SystemExit) as exit_info:
        main(["report", VIT_B16, "--convention", "thop"])
    assert exit_info.value.code == 2
    with pytest.raises(KeyError, match="expected one of"):
        conventions.get("thop")


# ---- memory ----


def test_memory_section_states_bytes_and_assumptions():
    data = analyze(VIT_B16, batch=8)
    mem = data["memory"]
    assert mem["param_bytes"] == {"f32": 4 * data["params"], "bf16": 2 * data["params"], "f16": 2 * data["params"],
                                  "int8": data["params"]}  # fmt: skip
    assert mem["training_step_bytes"] == sum(mem["training_step_parts"].values())
    assert mem["assumptions"] and mem["batch"] == 8
    one = analyze(VIT_B16, batch=1)["memory"]
    assert mem["training_saved_activation_bytes"] == 8 * one["training_saved_activation_bytes"]
    assert 0 < one["inference_activation_peak_bytes"] < one["training_saved_activation_bytes"]
    half = analyze(VIT_B16, batch=8, dtype="bf16")["memory"]
    assert half["inference_activation_peak_bytes"] < mem["inference_activation_peak_bytes"]


# ---- diff ----


def test_diff_deltas_equal_the_difference_of_the_reports(capsys):
    code, out, _ = run(capsys, "diff", VIT_B16, "specs/vit_b16_token_mlp.arch", "--format", "json")
    assert code == 0
    data = json.loads(out)
    a, b = archgraph.analyze(VIT_B16), archgraph.analyze("specs/vit_b16_token_mlp.arch")
    assert data["total"]["params_delta"] == b["params"] - a["params"]
    assert data["total"]["count_delta"] == b["flops"] - a["flops"]
    blocks = next(r for r in data["rows"] if r["layer"] == "blocks.0")
    assert blocks["params_delta"] < 0  # a token MLP is smaller than attention at 197 tokens
    _, table, _ = run(capsys, "diff", VIT_B16, VIT_B16, "--set-b", "img_size=384", "--depth", "3")
    # pos_embed grows from 197 to 577 tokens of width 768: (577 - 197) * 768 = 291,840 parameters
    assert "Δ params" in table and "blocks.0.attn" in table and "+291,840" in table


def test_diff_csv_parses(capsys):
    _, out, _ = run(capsys, "diff", VIT_B16, VIT_B16, "--model-b", "vit_l16", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    # timm's parameter counts of vit_large_patch16_224 and vit_base_patch16_224 (../shared/reference/timm.md)
    assert rows[-1]["layer"] == "total" and int(rows[-1]["params_delta"]) == 304_326_632 - 86_567_656
    assert any(r["layer"] == "blocks.23" and r["params_a"] == "" for r in rows)  # only ViT-L has block 23


# ---- models too big to build ----

# timm 1.0.31, create_model(name, pretrained=False, device="meta"), sum(p.numel()) (counted here), and
# ../shared/reference/timm.md's ViT parameter formula with its per-block term 12*D^2 + 13*D written for
# any MLP width M as 4*D^2 + 2*D*M + 9*D + M (M = 4*D gives 12*D^2 + 13*D):
#   C*p*p*D + D + D + T*D + L*(4*D^2 + 2*D*M + 9*D + M) + 2*D + D*1000 + 1000, C = 3, p = 14, T = 16^2 + 1:
#   ViT-g/14 (D 1408, L 40, M 6144) 1,012,611,432; ViT-G/14 (D 1664, L 48, M 8192) 1,844,440,680
GIANTS = {"vit_g14": ("specs/vit.arch", 1_012_611_432), "vit_bigg14": ("specs/vit.arch", 1_844_440_680)}


@pytest.mark.parametrize("name", sorted(GIANTS))
def test_giant_vits_are_reported_without_torch(name):
    """The giants' parameter counts, from a fresh process that never imports torch. Their report's time is
    a benchmark (benchmarks/, docs/benchmarks.md), not asserted here: a wall-clock limit fails on a busy machine."""
    spec, params = GIANTS[name]
    code = f"import sys, archgraph; d = archgraph.analyze({spec!r}, {name!r}); assert 'torch' not in sys.modules; print(d['params'])"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert int(out) == params


@pytest.mark.parametrize("command", [["sweep", VIT_B16, "--set", "img_size=224,384"], ["diff", VIT_B16, VIT_B16],
                                     ["graph", VIT_B16, "--format", "mermaid", "--level", "block"],
                                     ["report", VIT_B16, "--closed-form", "--by", "node"]])  # fmt: skip
def test_reporting_commands_do_not_import_torch(command):
    code = (
        f"import sys; from archgraph.cli import main; rc = main({command!r}); "
        "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
