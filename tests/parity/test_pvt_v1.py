"""PVT v1 Tiny-Large (issue 15) against Hugging Face transformers' PvtForImageClassification (random
init): exact parameter counts at full size (HF on the meta device and ../shared/reference/
architectures.md section 12), the PVT paper's GFLOPs (Table 2) under the mmcv convention, and equal
logits at a reduced size, HF's state_dict loaded with strict=True and no renaming: std/pvt_v1.arch
has HF's keys (`pvt.encoder.patch_embeddings.{i}`, `pvt.encoder.block.{i}.{j}`, from a repeat
without a label and labels numbered by the stage index)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import archgraph  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.parity.reduced import assert_reduced_outputs_equal  # noqa: E402

SPEC = ROOT / "specs/pvt_v1.arch"
DEPTHS = {"pvt_v1_tiny": [2, 2, 2, 2], "pvt_v1_small": [3, 4, 6, 3], "pvt_v1_medium": [3, 4, 18, 3],
          "pvt_v1_large": [3, 8, 27, 3]}  # fmt: skip
# architectures.md section 12, "[C] params (with head)" and the paper's GFLOPs (PVT Table 2).
PARAMS = {"pvt_v1_tiny": 13_229_288, "pvt_v1_small": 24_485_864, "pvt_v1_medium": 44_208_104,
          "pvt_v1_large": 61_369_320}  # fmt: skip
PAPER_GFLOPS = {"pvt_v1_tiny": 1.9, "pvt_v1_small": 3.8, "pvt_v1_medium": 6.7, "pvt_v1_large": 9.8}


def hf_model(name: str, **changes):
    settings = {"depths": DEPTHS[name], "num_labels": 1000, **changes}
    return transformers.PvtForImageClassification(transformers.PvtConfig(**settings))


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameters_equal_hf_and_the_reference(name):
    with torch.device("meta"):
        ref = hf_model(name)
    assert archgraph.analyze(SPEC, name)["params"] == sum(p.numel() for p in ref.parameters()) == PARAMS[name]


@pytest.mark.parametrize("name", sorted(PAPER_GFLOPS))
def test_mmcv_convention_reproduces_the_papers_gflops(name):
    count = archgraph.analyze(SPEC, name, convention="mmcv")["convention"]["count"]
    assert round(count / 1e9, 1) == PAPER_GFLOPS[name]


@pytest.mark.parametrize("name", sorted(DEPTHS))
def test_reduced_size_loads_hf_weights_and_equals_its_logits(name):
    def reference(small):
        return hf_model(name, depths=small["depths"], num_labels=small["num_classes"], image_size=64)

    assert_reduced_outputs_equal(SPEC, name, reference, output=lambda out: out.logits)


@pytest.mark.parametrize("name", sorted(DEPTHS))
def test_keys_and_shapes_are_hfs_at_full_size(name):
    with torch.device("meta"):
        ref = hf_model(name)
    ours = archgraph.build(SPEC, name, device="meta")
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}


def test_stage_rows_show_spatial_reduction_cutting_n2_by_r_squared():
    """The report's per-stage rows for HF's layout (the numbered repeats `block.0` ... `block.3`): keys per
    query N / R² with PVT's SR ratios 8, 4, 2, 1 (architectures.md section 12), the class token in stage 4."""
    stages = archgraph.analyze(SPEC, "pvt_v1_small")["stages"]
    assert [s["stage"] for s in stages] == [f"pvt.encoder.block.{i}" for i in range(4)]
    assert [s["tokens"] for s in stages] == [56 * 56, 28 * 28, 14 * 14, 7 * 7 + 1]
    assert [s["keys"] for s in stages] == [7 * 7, 7 * 7, 7 * 7, 7 * 7 + 1]
    assert [s["reduction"] for s in stages] == [64, 16, 4, 1]
    for s, depth in zip(stages, DEPTHS["pvt_v1_small"], strict=True):  # q@k^T and attn@v: 2 x 2 * N * keys * C
        assert s["attention_flops"] == depth * 2 * 2 * s["tokens"] * s["keys"] * s["width"]
