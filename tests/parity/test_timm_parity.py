"""Parity with timm: same state_dict keys (strict load), same outputs, same parameter counts.

Reference: timm 1.0.31 (`timm.create_model(name, pretrained=False, ...)`, random weights).
Numerics at a reduced size (every model), and at full size for ViT-B/16 and
DeiT-B-distilled; parameter counts at full size on the `meta` device.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import archgraph  # noqa: E402
from tests.conftest import ROOT, reduced, spec_models  # noqa: E402
from tests.parity.hybrid_models import CONV_TIMM  # noqa: E402  (checked in test_hybrid_parity.py)

CAIT = ("cait_xxs24_224", "cait_xxs24_384", "cait_xxs36_224", "cait_xxs36_384", "cait_xs24_384", "cait_s24_224")
CAIT += ("cait_s24_384", "cait_s36_384", "cait_m36_384", "cait_m48_448")
# archgraph model -> timm model (and constructor kwargs timm needs to build the same thing)
TIMM = {
    "vit_ti16": ("vit_tiny_patch16_224", {}),
    "vit_ti16_384": ("vit_tiny_patch16_384", {}),
    "vit_s16": ("vit_small_patch16_224", {}),
    "vit_s16_384": ("vit_small_patch16_384", {}),
    "vit_b16": ("vit_base_patch16_224", {}),
    "vit_b16_384": ("vit_base_patch16_384", {}),
    "vit_b32": ("vit_base_patch32_224", {}),
    "vit_b32_384": ("vit_base_patch32_384", {}),
    "vit_l16": ("vit_large_patch16_224", {}),
    "vit_l16_384": ("vit_large_patch16_384", {}),
    "vit_l32": ("vit_large_patch32_224", {"num_classes": 1000}),  # timm default cfg is headless (in21k)
    "vit_l32_384": ("vit_large_patch32_384", {}),
    "vit_h14": ("vit_huge_patch14_224", {"num_classes": 1000}),
    "vit_h14_518": ("vit_huge_patch14_224", {"num_classes": 1000, "img_size": 518}),
    "deit_ti16": ("deit_tiny_patch16_224", {}),
    "deit_ti16_distilled": ("deit_tiny_distilled_patch16_224", {}),
    "deit_s16": ("deit_small_patch16_224", {}),
    "deit_s16_distilled": ("deit_small_distilled_patch16_224", {}),
    "deit_b16": ("deit_base_patch16_224", {}),
    "deit_b16_384": ("deit_base_patch16_384", {}),
    "deit_b16_distilled": ("deit_base_distilled_patch16_224", {}),
    "deit_b16_distilled_384": ("deit_base_distilled_patch16_384", {}),
    # CaiT (../shared/reference/architectures.md section 10): the ten timm registrations
    **{name: (name, {}) for name in CAIT},
    # DINO backbones (architectures.md section 4): timm's `.dino` configurations are headless
    "dino_vit_s16": ("vit_small_patch16_224.dino", {}),
    "dino_vit_b16": ("vit_base_patch16_224.dino", {}),
    "dino_vit_s8": ("vit_small_patch8_224.dino", {}),
    "dino_vit_b8": ("vit_base_patch8_224.dino", {}),
    "vit_g14": ("vit_giant_patch14_224", {}),
    "vit_bigg14": ("vit_gigantic_patch14_224", {}),
    "mixer_s32": ("mixer_s32_224", {}),
    "mixer_s16": ("mixer_s16_224", {}),
    "mixer_b32": ("mixer_b32_224", {}),
    "mixer_b16": ("mixer_b16_224", {}),
    "mixer_l32": ("mixer_l32_224", {}),
    "mixer_l16": ("mixer_l16_224", {}),
    "resmlp_12": ("resmlp_12_224", {}),
    "resmlp_24": ("resmlp_24_224", {}),
    "resmlp_36": ("resmlp_36_224", {}),
    "resmlp_b24": ("resmlp_big_24_224", {}),
    # ViT_P of Xiao et al. 2021 (pycls) is timm's ViT: MLP ratio 3 at 1GF and 4GF, 14 blocks at 36GF
    "vit_p_1gf": ("vit_tiny_patch16_224", {"mlp_ratio": 3}),
    "vit_p_4gf": ("vit_small_patch16_224", {"mlp_ratio": 3}),
    "vit_p_18gf": ("vit_base_patch16_224", {}),
    "vit_p_36gf": ("vit_large_patch16_224", {"depth": 14}),
}
# Spec models without a timm counterpart, and where their numbers are checked instead.
NO_TIMM = {
    "mixer_h14": "timm has no Mixer-H/14: the paper's count, test_parameter_count_equals_published_count",
    "ff_tiny": "official code only (lukemelas/do-you-even-need-attention): recount in the reference",
    "ff_base": "official code only: recount in the reference",
    "ff_large": "official code only: recount in the reference",
    "transformer_base": "torch.nn.Transformer's stacks and the reference's recount: test_transformer_parity.py",
    "transformer_big": "torch.nn.Transformer's stacks and the reference's recount: test_transformer_parity.py",
    # hierarchical models: their own parity files (strict loads, equal outputs, exact counts)
    **{f"pvt_v2_{v}": "timm pvt_v2_*: test_pvt.py" for v in ("b0", "b1", "b2", "b2_li", "b3", "b4", "b5")},
    **{f"pvt_v1_{v}": "HF PvtForImageClassification: test_pvt_v1.py" for v in ("tiny", "small", "medium", "large")},
    **{
        f"segformer_{v}": "HF SegformerForSemanticSegmentation: test_segformer.py"
        for v in (*(f"b{i}" for i in range(6)), "b5_640")
    },
    **{f"detr_{v}": "HF DetrForObjectDetection: test_detr.py" for v in ("r50", "dc5", "r101")},
    "perceiver": "the paper's count (reference recount) and the unshared model's logits: test_perceiver.py",
    "perceiver_unshared": "the paper's count (reference recount): test_perceiver.py",
    "perceiver_io_fourier": "HF PerceiverForImageClassificationFourier: test_perceiver.py",
    "vit_b16_token_mlp": "an archgraph ablation (ViT-B/16 with a token MLP); checked against its parts below",
    # DINO networks: timm's backbone plus the projection head of dino's source, in test_cait_dino.py
    "dino_s8": "timm backbone + DINOHead (facebookresearch/dino): test_cait_dino.py",
    "dino_b8": "timm backbone + DINOHead (facebookresearch/dino): test_cait_dino.py",
    # ViT_C (Xiao et al. 2021): pycls only; counts and numerics (vs timm's ConvStem) in test_hybrid_parity.py
    "vit_c_1gf": "pycls only",
    "vit_c_4gf": "pycls only",
    "vit_c_18gf": "pycls only",
    "vit_c_36gf": "pycls only",
    # SETR: official code only; counts against the reference's recount, the encoder against timm's ViT
    # (a vit_large_patch16_384 checkpoint loaded and compared block by block) in test_setr.py
    **{
        f"setr_{kind}_{variant}": "official SETR code only: test_setr.py"
        for kind in ("naive", "pup", "mla")
        for variant in ("ade20k", "cityscapes", "base")
    },
}
# timm's MlpMixer calls the depth `num_blocks`.
RENAMED = {"depth": "num_blocks"}
MODELS = spec_models()
IDS = [name for _, name in MODELS]


def test_every_spec_model_has_a_timm_reference():
    missing = [name for name in IDS if name not in TIMM and name not in NO_TIMM and name not in CONV_TIMM]
    stale = [name for name in [*TIMM, *NO_TIMM, *CONV_TIMM] if name not in IDS]
    assert not missing and not stale, f"no timm reference for {missing}; table entries without a spec: {stale}"


TIMM_MODELS = [(spec, name) for spec, name in MODELS if name in TIMM]
TIMM_IDS = [name for _, name in TIMM_MODELS]


def _timm_model(timm_name: str, spec, name, kwargs: dict):
    """timm's model; Mixer and ResMLP registrations fix their sizes, so small ones use the MlpMixer class."""
    if not timm_name.startswith(("mixer", "resmlp")):
        return timm.create_model(timm_name, pretrained=False, **kwargs)
    from timm.models.mlp_mixer import Affine, MlpMixer, ResBlock

    family = {"block_layer": ResBlock, "norm_layer": Affine, "mlp_ratio": 4} if timm_name.startswith("resmlp") else {}
    patch = archgraph.load_graph(spec, name).params["patch_size"]
    return MlpMixer(patch_size=patch, **family, **{RENAMED.get(k, k): v for k, v in kwargs.items()})


def _pair(spec, name, **overrides):
    timm_name, timm_kwargs = TIMM[name]
    small = {**reduced(spec, name), **overrides}
    ours = archgraph.build(spec, name, **small).eval()
    ref = _timm_model(timm_name, spec, name, {**timm_kwargs, **small}).eval()
    if getattr(ref, "head", None) is not None and hasattr(ref.head, "weight"):
        torch.nn.init.normal_(ref.head.weight, std=0.02)  # Mixer heads start at zero: give the outputs content
    return ours, ref, small


@pytest.mark.parametrize(("spec", "name"), TIMM_MODELS, ids=TIMM_IDS)
def test_reduced_size_loads_timm_state_dict_and_matches_outputs(spec, name):
    torch.manual_seed(0)
    ours, ref, small = _pair(spec, name)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, small["img_size"], small["img_size"])
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize(("spec", "name"), TIMM_MODELS, ids=TIMM_IDS)
def test_full_size_parameter_count_equals_timm(spec, name):
    timm_name, timm_kwargs = TIMM[name]
    ref = timm.create_model(timm_name, pretrained=False, device="meta", **timm_kwargs)
    expected = sum(p.numel() for p in ref.parameters())
    assert archgraph.analyze(spec, name)["params"] == expected
    ours = archgraph.build(spec, name, device="meta")
    assert sum(p.numel() for p in ours.parameters()) == expected
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in ref.state_dict().items()
    }


# Published exact counts (timm 1.0.31, ../shared/reference/timm.md section 2), independent of the table above.
PUBLISHED = {
    "vit_b16": 86_567_656,
    "vit_l16": 304_326_632,
    "vit_h14": 632_045_800,
    "deit_b16_distilled": 87_338_192,
    "vit_b16_384": 86_859_496,
    "vit_l16_384": 304_715_752,
    "deit_ti16": 5_717_416,
    "vit_s16": 22_050_664,
    "vit_b32": 88_224_232,
    "mixer_b16": 59_880_472,  # issue 3 / timm.md section 2
    "mixer_l16": 208_196_168,
    "resmlp_12": 15_350_872,
    # ../shared/reference/architectures.md: Mixer-H/14 analytic count with head (7); FF-only recounts (9)
    "mixer_h14": 432_350_952,
    "ff_tiny": 7_676_332,
    "ff_base": 61_943_020,
    "ff_large": 206_213_048,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_equals_published_count(name):
    spec = next(spec for spec, model in MODELS if model == name)
    assert archgraph.analyze(spec, name)["params"] == PUBLISHED[name]


@pytest.mark.parametrize(
    ("name", "timm_kwargs"),
    [
        ("vit_b16", dict(global_pool="avg", reg_tokens=4, init_values=1e-5, pre_norm=True)),
        ("vit_b16", dict(class_token=False, global_pool="avg", no_embed_class=True, qkv_bias=False, fc_norm=False)),
        ("vit_b16", dict(global_pool="avg", fc_norm=True, mlp_ratio=3)),
        ("vit_b16", dict(no_embed_class=True, reg_tokens=1, num_classes=0)),
    ],
    ids=["avg-reg-layerscale-prenorm", "no-cls-no-embed-class-no-qkv-bias", "avg-fcnorm-ratio3", "headless-reg"],
)
def test_timm_structural_options(name, timm_kwargs):
    spec = ROOT / "specs" / "vit.arch"
    torch.manual_seed(0)
    ours, ref, small = _pair(spec, name, **timm_kwargs)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, small["img_size"], small["img_size"])
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize("name", ["vit_b16", "deit_b16_distilled"])
def test_full_size_outputs_equal_timm(name):
    spec = next(spec for spec, model in MODELS if model == name)
    torch.manual_seed(0)
    timm_name, timm_kwargs = TIMM[name]
    ref = timm.create_model(timm_name, pretrained=False, **timm_kwargs).eval()
    ours = archgraph.build(spec, name, device="meta").eval()  # no weights of its own to draw: timm's are loaded
    ours.load_state_dict(ref.state_dict(), strict=True, assign=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))


def test_token_mixer_swap_changes_only_the_mixer():
    """ViT-B/16 with a token MLP = ViT-B/16 - attention + Mixer-B/16's token MLP, counted from timm's parts."""
    vit = timm.create_model("vit_base_patch16_224", pretrained=False, device="meta")
    mixer = timm.create_model("mixer_b16_224", pretrained=False, device="meta")
    attn = sum(p.numel() for p in vit.blocks[0].attn.parameters())
    # the Mixer's token MLP maps 196 patches; with the class token the ViT has 197 tokens
    token_mlp = 2 * 384 * 197 + 384 + 197
    assert sum(p.numel() for p in mixer.blocks[0].mlp_tokens.parameters()) == 2 * 384 * 196 + 384 + 196
    expected = sum(p.numel() for p in vit.parameters()) + 12 * (token_mlp - attn)
    spec = ROOT / "specs" / "vit_b16_token_mlp.arch"
    assert archgraph.analyze(spec)["params"] == expected


@pytest.mark.parametrize(("name", "img_size"), [("mixer_b16", 384), ("resmlp_12", 320), ("mixer_s32", 448)])
def test_resolution_changes_token_mixing_parameters_as_in_timm(name, img_size):
    """`--set img_size=...` on a Mixer: the token-mixing weights grow with the patch count, as timm's do."""
    spec = next(spec for spec, model in spec_models() if model == name)
    ref = timm.create_model(TIMM[name][0], pretrained=False, device="meta", img_size=img_size)
    data = archgraph.analyze(spec, name, img_size=img_size)
    assert data["params"] == sum(p.numel() for p in ref.parameters())
    assert data["token_dependent"]["params"] == sum(
        p.numel() for n, p in ref.named_parameters() if "mlp_tokens" in n or "linear_tokens" in n
    )
