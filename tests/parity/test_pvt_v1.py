"""PVT v1 Tiny-Large (issue 15) against Hugging Face transformers' PvtForImageClassification (random
init): exact parameter counts at full size (HF on the meta device and ../shared/reference/
architectures.md section 12), the PVT paper's GFLOPs (Table 2) under the mmcv convention, and equal
logits at a reduced size after HF's keys are mapped onto the spec's stage layout (HF interleaves two
lists, `patch_embeddings.i` and `block.i.j`, which a stage loop cannot label; its separate key and
value projections are the spec's fused `kv`)."""

from __future__ import annotations

import re

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

RENAMES = [
    (r"^pvt\.encoder\.patch_embeddings\.(\d)\.projection\.", r"stages.\1.patch_embed.proj."),
    (r"^pvt\.encoder\.patch_embeddings\.(\d)\.layer_norm\.", r"stages.\1.patch_embed.norm."),
    (r"^pvt\.encoder\.patch_embeddings\.(\d)\.position_embeddings$", r"stages.\1.pos_embed"),
    (r"^pvt\.encoder\.patch_embeddings\.(\d)\.cls_token$", r"stages.\1.cls_token"),
    (r"^pvt\.encoder\.block\.(\d)\.(\d+)\.", r"stages.\1.blocks.\2."),
    (r"\.layer_norm_1\.", ".norm1."),
    (r"\.layer_norm_2\.", ".norm2."),
    (r"\.attention\.self\.query\.", ".attn.q."),
    (r"\.attention\.self\.sequence_reduction\.", ".attn.sr."),
    (r"\.attention\.self\.layer_norm\.", ".attn.norm."),
    (r"\.attention\.output\.dense\.", ".attn.proj."),
    (r"\.mlp\.dense1\.", ".mlp.fc1."),
    (r"\.mlp\.dense2\.", ".mlp.fc2."),
    (r"^pvt\.encoder\.layer_norm\.", "norm."),
    (r"^classifier\.", "head."),
]


def _rename(key: str) -> str:
    for pattern, repl in RENAMES:
        key = re.sub(pattern, repl, key)
    return key


def to_spec_keys(state: dict) -> dict:
    """HF's state_dict under the spec's names; key and value weights stacked into `kv` (rows k|v)."""
    out = {
        _rename(k): v for k, v in state.items() if ".attention.self.key." not in k and ".attention.self.value." not in k
    }
    for key in (k for k in state if ".attention.self.key." in k):
        kv = _rename(key.replace(".attention.self.key.", ".attn.kv."))
        out[kv] = torch.cat([state[key], state[key.replace(".key.", ".value.")]])
    return out


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

    assert_reduced_outputs_equal(SPEC, name, reference, to_spec_keys, lambda out: out.logits)
