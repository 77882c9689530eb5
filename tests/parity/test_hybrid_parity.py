"""Parity for the specs with a CNN part: ResNet+ViT hybrids, ViT_C / ViT_P, ResNet-50.

Hybrids against timm 1.0.31 (strict state_dict load, equal outputs in fp32 on CPU, equal
parameter counts and FlopCounterMode totals). ViT_C has no timm model: its counts equal the
reference's exact integers, and its numerics equal timm's ConvStem inside a ViT (keys mapped).
ResNet-50 against timm's resnet50, its state_dict loaded as it is (strict=True).

Before comparing outputs the reference's norm parameters, biases and BatchNorm statistics are
redrawn: timm zero-initialises each bottleneck's last norm, which would hide the residual branch.
"""

from __future__ import annotations

from functools import partial

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from timm.layers import HybridEmbed, StdConv2d, StdConv2dSame  # noqa: E402
from timm.layers.pool2d_same import MaxPool2dSame  # noqa: E402
from timm.models.resnetv2 import ResNetV2  # noqa: E402
from timm.models.vision_transformer import VisionTransformer  # noqa: E402
from timm.models.vision_transformer_hybrid import ConvStem  # noqa: E402

import archgraph  # noqa: E402
from tests.conftest import ROOT, spec_models  # noqa: E402
from tests.parity.hybrid_models import CONV_TIMM, HYBRIDS  # noqa: E402
from tests.torch.tiny import flop_count as count_flops  # noqa: E402

SPECS = {name: spec for spec, name in spec_models()}
SMALL = {"img_size": 64, "embed_dim": 64, "depth": 2, "num_heads": 2, "num_classes": 10}
# ../shared/reference/architectures.md section 14 (pycls structure recounted): exact integers, 1000-class head
EARLY_CONV = {
    "vit_c_1gf": 4_567_936, "vit_c_4gf": 17_754_136, "vit_c_18gf": 81_573_160, "vit_c_36gf": 167_796_008,
    "vit_p_1gf": 4_830_376, "vit_p_4gf": 18_507_112, "vit_p_18gf": 86_567_656, "vit_p_36gf": 178_364_392,
}  # fmt: skip


def shake(model) -> None:
    """Redraw 1-D parameters (norm scales in [0.5, 1.5), biases ~ N(0, 0.1)) and BatchNorm statistics."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in [*model.named_parameters(), *model.named_buffers()]:
            if t.dim() != 1 or not t.is_floating_point():
                continue
            scale = name.endswith(("weight", "running_var"))
            t.copy_(torch.rand(t.shape, generator=g) + 0.5 if scale else torch.randn(t.shape, generator=g) * 0.1)


def assert_same_outputs(ours, ref, img_size: int, key_map=lambda k: k) -> None:
    ours.eval(), ref.eval()
    shake(ref)
    ours.load_state_dict({key_map(k): v for k, v in ref.state_dict().items()}, strict=True)
    x = torch.randn(2, 3, img_size, img_size)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


def flop_count(model, img_size: int) -> int:
    """FlopCounterMode's total for one image on `meta` (tests.torch.tiny.flop_count)."""
    return count_flops(model, torch.empty(1, 3, img_size, img_size, device="meta"))


# ---- ResNet + ViT hybrids ----


@pytest.mark.parametrize("name", HYBRIDS)
def test_hybrid_full_size_counts_and_flops_equal_timm(name):
    timm_name, kwargs = CONV_TIMM[name]
    ref = timm.create_model(timm_name, pretrained=False, device="meta", **kwargs)
    data = archgraph.analyze(SPECS[name], name)
    ours = archgraph.build(SPECS[name], name, device="meta")
    assert data["params"] == sum(p.numel() for p in ref.parameters()) == sum(p.numel() for p in ours.parameters())
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    img_size = ref.patch_embed.img_size[0]
    assert data["flops"] == flop_count(ref, img_size) == flop_count(ours, img_size)


def test_hybrid_published_counts():
    """timm.md section 2: params with and without the 1000-class head, FlopCounterMode GFLOP at batch 1
    (to the 3 decimals it records: 43.069 headless, 43.071 with the head, 6.928)."""
    r50, r26 = SPECS["vit_r50_b16"], SPECS["vit_r26_s32"]
    assert archgraph.analyze(r50, "vit_r50_b16", num_classes=0)["params"] == 97_890_112
    assert archgraph.analyze(r50, "vit_r50_b16")["params"] == 98_659_112
    assert round(archgraph.analyze(r50, "vit_r50_b16", num_classes=0)["flops"] / 1e9, 3) == 43.069
    assert round(archgraph.analyze(r50, "vit_r50_b16")["flops"] / 1e9, 3) == 43.071
    assert archgraph.analyze(r26, "vit_r26_s32")["params"] == 36_431_912
    assert round(archgraph.analyze(r26, "vit_r26_s32")["flops"] / 1e9, 3) == 6.928


@pytest.mark.parametrize("name", HYBRIDS)
def test_hybrid_reduced_size_loads_timm_state_dict_and_matches_outputs(name):
    """Full backbone, 2 narrow blocks, 64x64 images (a 4x4 or 2x2 feature map)."""
    timm_name, kwargs = CONV_TIMM[name]
    torch.manual_seed(0)
    ref = timm.create_model(timm_name, pretrained=False, **{**kwargs, **SMALL})
    assert_same_outputs(archgraph.build(SPECS[name], name, **SMALL), ref, SMALL["img_size"])


@pytest.mark.parametrize(
    ("layers", "img_size"), [([1, 2], 50), ([2, 1, 1, 1], 97)], ids=["2-stages-50px", "4-stages-97px"]
)
def test_hybrid_other_backbones_and_odd_sizes_match_timm(layers, img_size):
    """Other depths, and image sizes where TF-"same" padding is asymmetric and the map rounds up."""
    torch.manual_seed(0)
    conv = partial(StdConv2dSame, eps=1e-8)
    backbone = ResNetV2(layers, num_classes=0, global_pool="", preact=False, stem_type="same", conv_layer=conv)
    small = {**SMALL, "img_size": img_size}
    ref = VisionTransformer(embed_layer=partial(HybridEmbed, backbone=backbone), patch_size=1, **small)
    ours = archgraph.build(SPECS["vit_r50_b16"], "vit_r50_b16", layers=layers, num_stages=len(layers), **small)
    assert_same_outputs(ours, ref, img_size)


def test_hybrid_full_size_outputs_equal_timm():
    torch.manual_seed(0)
    ref = timm.create_model("vit_small_r26_s32_224", pretrained=False)
    assert_same_outputs(archgraph.build(SPECS["vit_r26_s32"], "vit_r26_s32"), ref, 224)


# ---- ViT_C and ViT_P (Xiao et al. 2021) ----


@pytest.mark.parametrize("name", sorted(EARLY_CONV))
def test_early_conv_parameter_counts_equal_reference(name):
    assert archgraph.analyze(SPECS[name], name)["params"] == EARLY_CONV[name]


@pytest.mark.parametrize("name", ["vit_c_1gf", "vit_c_18gf"])
def test_vit_c_matches_timm_conv_stem(name):
    """timm's ConvStem (conv, BatchNorm + ReLU per layer; a last 1x1 conv with bias) in a ViT: keys mapped."""
    params = archgraph.load_graph(SPECS[name], name).params
    chs, strides, n = params["stem_chs"], params["stem_strides"], params["num_convs"]
    small = {**SMALL, "embed_dim": 96, "num_heads": 3}
    stem = ConvStem(depth=n + 1, channels=(*chs, 96), kernel_size=(3,) * n + (1,), stride=(*strides, 1))
    torch.manual_seed(0)
    ref = VisionTransformer(embed_layer=partial(HybridEmbed, backbone=stem, proj=False), patch_size=1,
                            mlp_ratio=params["mlp_ratio"], **small)  # fmt: skip

    def key_map(key: str) -> str:
        last = f"patch_embed.backbone.{n}.conv."
        return key.replace(last, "patch_embed.proj.") if key.startswith(last) else key.replace(".backbone.", ".stem.")

    assert_same_outputs(archgraph.build(SPECS[name], name, **small), ref, SMALL["img_size"], key_map)


@pytest.mark.parametrize("name", sorted(EARLY_CONV))
def test_early_conv_flops_equal_flop_counter(name):
    model = archgraph.build(SPECS[name], name, device="meta")
    assert flop_count(model, 224) == archgraph.analyze(SPECS[name], name)["flops"]


# ---- ResNet-50 (classic, BatchNorm) ----


def test_resnet50_matches_timm():
    """timm's keys exactly (numbered labels give the shortcut's `downsample.0` / `.1`): no prefix, no renaming."""
    spec = ROOT / "specs" / "resnet50.arch"
    ref = timm.create_model("resnet50", pretrained=False, device="meta")
    ours = archgraph.build(spec, device="meta")
    assert {k: v.shape for k, v in ref.state_dict().items()} == {k: v.shape for k, v in ours.state_dict().items()}
    # 25,557,032: torchvision's published count for resnet50 (ResNet50_Weights.IMAGENET1K_V1 meta "num_params")
    assert archgraph.analyze(spec)["params"] == sum(p.numel() for p in ref.parameters()) == 25_557_032
    assert archgraph.analyze(spec)["flops"] == flop_count(ref, 224) == flop_count(ours, 224)
    torch.manual_seed(0)
    small = timm.create_model("resnet50", pretrained=False, num_classes=10)
    assert_same_outputs(archgraph.build(spec, num_classes=10, img_size=64), small, 64)  # strict load of timm's keys


# ---- the ops on their own ----

OPS_SPEC = """
model ops(size = 15, kernel = 3, stride = 2) {
    input x: [B, 8, size, size]
    a = same: std_conv2d(x, 32, kernel, stride = stride, padding = "same", eps = 1e-8)
    b = sym: std_conv2d(x, 32, kernel, stride = stride, padding = 1, groups = 2, bias = true)
    return max_pool2d(a, 3, stride = 2, padding = "same"), b
}
"""


@pytest.mark.parametrize(("size", "kernel", "stride"), [(15, 3, 2), (16, 3, 2), (15, 7, 2), (16, 4, 1), (9, 1, 2)])
def test_std_conv_and_max_pool_match_timm_layers(tmp_path, size, kernel, stride):
    path = tmp_path / "ops.arch"
    path.write_text(OPS_SPEC)
    ours = archgraph.build(path, size=size, kernel=kernel, stride=stride)
    same = StdConv2dSame(8, 32, kernel, stride=stride, padding="same", eps=1e-8)
    sym = StdConv2d(8, 32, kernel, stride=stride, padding=1, groups=2, bias=True)
    ours.load_state_dict({**{f"same.{k}": v for k, v in same.state_dict().items()},
                          **{f"sym.{k}": v for k, v in sym.state_dict().items()}}, strict=True)  # fmt: skip
    x = torch.randn(2, 8, size, size)
    with torch.no_grad():
        a, b = ours(x)
        torch.testing.assert_close(a, MaxPool2dSame(3, stride=2)(same(x)))
        torch.testing.assert_close(b, sym(x))
