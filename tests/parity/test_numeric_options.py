"""The numeric constants in which timm's families differ are parameters, and outputs match timm with them.

timm 1.0.31 (../shared/reference/timm.md section 4): ViT and Mixer LayerNorms use eps 1e-6, the
CLIP towers 1e-5 (`vit_base_patch16_clip_224`: `norm_layer=partial(LayerNorm, eps=1e-5)`,
`pre_norm=True`); the hybrids' StdConv2dSame eps 1e-8 (StdConv2d's own default 1e-6) and GroupNorm
eps 1e-5; the attention scale is head_dim ** -0.5 unless set. Each test compares outputs after a
strict state_dict load, at values where eps is visible: activations are made small (variance near
eps), and a build with the default value is checked to differ, so the test can fail.
"""

from __future__ import annotations

import ast
from functools import partial

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from timm.layers import GroupNormAct, HybridEmbed, StdConv2dSame  # noqa: E402
from timm.models.resnetv2 import ResNetV2  # noqa: E402
from timm.models.vision_transformer import VisionTransformer  # noqa: E402

import archgraph  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

VIT = ROOT / "specs" / "vit.arch"
HYBRID = ROOT / "specs" / "vit_hybrid.arch"
MIXER = ROOT / "specs" / "mixer.arch"
SMALL = {"img_size": 32, "embed_dim": 64, "depth": 2, "num_heads": 2, "num_classes": 10}


def _outputs(ours, ref, x):
    ours.eval(), ref.eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    with torch.no_grad():
        return ours(x), ref(x)


def _matches(ours, ref, x) -> bool:
    a, b = _outputs(ours, ref, x)
    torch.testing.assert_close(a, b)
    return True


def _differs(ours, ref, x) -> bool:
    a, b = _outputs(ours, ref, x)
    return not torch.allclose(a, b, rtol=1.3e-6, atol=1e-5)


def _shrink(model, names: tuple[str, ...], factor: float = 1e-3) -> None:
    """Scale parameters down so the activations the first norms see have a variance near their eps."""
    with torch.no_grad():
        for name in names:
            model.get_parameter(name).mul_(factor)


def test_clip_tower_norm_eps_1e5():
    torch.manual_seed(0)
    ref = timm.create_model("vit_base_patch16_clip_224", pretrained=False, **SMALL)
    _shrink(ref, ("patch_embed.proj.weight", "cls_token", "pos_embed"))
    x = torch.randn(2, 3, 32, 32)
    clip = {**SMALL, "pre_norm": True, "norm_eps": 1e-5}
    assert _matches(archgraph.build(VIT, **clip), ref, x)
    assert _differs(archgraph.build(VIT, **{**clip, "norm_eps": 1e-6}), ref, x)
    norms = [m.eps for m in archgraph.build(VIT, **clip).modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms == [1e-5] * (1 + 2 * 2 + 1)  # norm_pre, two per block, the final norm


def test_attention_scale():
    torch.manual_seed(0)
    ref = timm.create_model("vit_base_patch16_224", pretrained=False, **SMALL)
    for block in ref.blocks:
        block.attn.fused_attn, block.attn.scale = False, 0.5  # timm's explicit path reads attn.scale
    x = torch.randn(2, 3, 32, 32)
    assert _matches(archgraph.build(VIT, **SMALL, attn_scale=0.5), ref, x)
    assert _differs(archgraph.build(VIT, **SMALL), ref, x)


def test_hybrid_backbone_and_encoder_eps():
    """StdConv2d's own default eps (1e-6), GroupNorm at 1e-6 and LayerNorm at 1e-5 in a hybrid (none of them the
    spec's default), against timm's classes."""
    torch.manual_seed(0)
    backbone = ResNetV2([1, 1], num_classes=0, global_pool="", preact=False, stem_type="same",
                        conv_layer=partial(StdConv2dSame, eps=1e-6),
                        norm_layer=partial(GroupNormAct, num_groups=32, eps=1e-6))  # fmt: skip
    small = {**SMALL, "img_size": 64}
    ref = VisionTransformer(embed_layer=partial(HybridEmbed, backbone=backbone), patch_size=1,
                            norm_layer=partial(torch.nn.LayerNorm, eps=1e-5), **small)  # fmt: skip
    _shrink(ref, ("patch_embed.backbone.stem.conv.weight",), 1e-2)
    x = torch.randn(2, 3, 64, 64) * 1e-2
    hybrid = {**small, "layers": [1, 1], "num_stages": 2, "std_eps": 1e-6, "gn_eps": 1e-6, "norm_eps": 1e-5}
    assert _matches(archgraph.build(HYBRID, "vit_r50_b16", **hybrid), ref, x)
    for default in ({"std_eps": 1e-8}, {"gn_eps": 1e-5}, {"norm_eps": 1e-6}):
        assert _differs(archgraph.build(HYBRID, "vit_r50_b16", **{**hybrid, **default}), ref, x), default


def test_mixer_norm_eps():
    torch.manual_seed(0)
    from timm.models.mlp_mixer import MlpMixer

    small = {"img_size": 32, "embed_dim": 64, "depth": 2, "num_classes": 10}
    ref = MlpMixer(patch_size=16, num_blocks=2, norm_layer=partial(torch.nn.LayerNorm, eps=1e-5),
                   **{k: v for k, v in small.items() if k != "depth"})  # fmt: skip
    torch.nn.init.normal_(ref.head.weight, std=0.02)  # a Mixer head starts at zero
    _shrink(ref, ("stem.proj.weight", "stem.proj.bias"))
    x = torch.randn(2, 3, 32, 32)
    assert _matches(archgraph.build(MIXER, **small, norm_eps=1e-5), ref, x)
    assert _differs(archgraph.build(MIXER, **small), ref, x)


def test_defaults_keep_the_counts_and_the_generated_code():
    """Parameters with their defaults generate what the committed modules hold (test_golden checks all)."""
    source = archgraph.generate_source(VIT, norm_eps=1e-6, attn_scale=0)
    committed = {n.name: n for n in ast.parse((ROOT / "generated" / "vit.py").read_text()).body
                 if isinstance(n, ast.ClassDef)}  # fmt: skip
    *blocks, model = [n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]
    assert blocks and all(ast.dump(n) == ast.dump(committed[n.name]) for n in blocks)
    # the file's class is named after the definition its sixteen models vary, with its docstring
    model.name, model.body[0] = "Vit", committed["Vit"].body[0]
    assert ast.dump(model) == ast.dump(committed["Vit"])
    # architectures.md section 2: timm vit_base_patch16_224, 86,567,656 parameters with the 1000-class head
    assert archgraph.analyze(VIT, overrides={"norm_eps": 1e-6, "attn_scale": 0})["params"] == 86_567_656
