"""The fvcore convention equals fvcore's FlopCountAnalysis on timm's (and Hugging Face's) models,
to the integer.

fvcore is in the `test` extra (unmaintained since 2022; it jit-traces each model for seconds).
Attention is built unfused (timm.layers.set_fused_attn(False), HF's "eager"), since fvcore skips
F.scaled_dot_product_attention.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
fvcore_nn = pytest.importorskip("fvcore.nn")

from archgraph.api import analyze  # noqa: E402

CASES = [
    ("vit_base_patch16_224", "specs/vit.arch", None),
    ("deit_tiny_distilled_patch16_224", "specs/deit.arch", "deit_ti16_distilled"),
    ("mixer_b16_224", "specs/mixer.arch", None),
    ("pvt_v2_b0", "specs/pvt_v2.arch", None),  # spatial reduction, depth-wise conv, overlapping patches
    ("pvt_v2_b2_li", "specs/pvt_v2.arch", "pvt_v2_b2_li"),  # adaptive average pooling
    ("resmlp_12_224", "specs/resmlp.arch", None),
    ("vit_small_r26_s32_224", "specs/vit_hybrid.arch", "vit_r26_s32"),
    ("cait_xxs24_224", "specs/cait.arch", "cait_xxs24_224"),  # talking heads: `@` and a Linear on the head axis
    ("vit_small_patch8_224.dino", "specs/dino.arch", "dino_vit_s8"),
]


@pytest.mark.parametrize(("timm_name", "spec", "model"), CASES, ids=[c[0] for c in CASES])
def test_fvcore_convention_equals_fvcore(timm_name, spec, model):
    from timm.layers import config

    before = config._USE_FUSED_ATTN
    timm.layers.set_fused_attn(False)
    try:
        ref = timm.create_model(timm_name, pretrained=False).eval()
    finally:
        config._USE_FUSED_ATTN = before
    analysis = fvcore_nn.FlopCountAnalysis(ref, torch.randn(1, 3, 224, 224))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    with torch.no_grad():
        measured = analysis.total()
    assert analyze(spec, model, convention="fvcore")["convention"]["count"] == measured


def test_fvcore_convention_equals_fvcore_on_hf_segformer():
    """SegFormer-B0 at 512x512, HF's model with eager attention: 8.49 GMACs in architectures.md section 13.
    HF resizes all four projected maps, the first to its own size, and fvcore counts that one too."""
    transformers = pytest.importorskip("transformers")
    config = transformers.SegformerConfig(num_labels=150)
    ref = transformers.SegformerForSemanticSegmentation._from_config(config, attn_implementation="eager").eval()
    analysis = fvcore_nn.FlopCountAnalysis(ref, torch.randn(1, 3, 512, 512))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    with torch.no_grad():
        measured = analysis.total()
    assert round(measured / 1e9, 2) == 8.49
    assert analyze("specs/segformer.arch", "segformer_b0", convention="fvcore")["convention"]["count"] == measured
