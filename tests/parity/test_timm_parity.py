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
from tests.conftest import ROOT, spec_models  # noqa: E402

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
}
MODELS = spec_models()
IDS = [name for _, name in MODELS]
# Small enough to run in milliseconds, large enough to exercise every structure (2 blocks, 2 heads).
SMALL = {"img_size": 32, "embed_dim": 64, "depth": 2, "num_heads": 2, "num_classes": 10}


def test_every_spec_model_has_a_timm_reference():
    missing = [name for name in IDS if name not in TIMM]
    stale = [name for name in TIMM if name not in IDS]
    assert not missing and not stale, f"no timm reference for {missing}; table entries without a spec: {stale}"


def _pair(spec, name, **overrides):
    timm_name, timm_kwargs = TIMM[name]
    params = archgraph.load_graph(spec, name).params
    patch = params["patch_size"]
    small = {**SMALL, "img_size": 2 * patch, **overrides}
    ours = archgraph.build(spec, name, **small).eval()
    ref = timm.create_model(timm_name, pretrained=False, **{**timm_kwargs, **small}).eval()
    return ours, ref, small


@pytest.mark.parametrize(("spec", "name"), MODELS, ids=IDS)
def test_reduced_size_loads_timm_state_dict_and_matches_outputs(spec, name):
    torch.manual_seed(0)
    ours, ref, small = _pair(spec, name)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, small["img_size"], small["img_size"])
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize(("spec", "name"), MODELS, ids=IDS)
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
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_equals_published_timm_count(name):
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
    spec = ROOT / "specs" / "vit_b16.arch"
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
    ours = archgraph.build(spec, name).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))
