"""Training knobs beyond ViT (issue 13): CaiT, PVT v2, the ResNet+ViT hybrids, and the head dropout
(timm's `drop_rate`, its `head_drop` before the classifier) on ViT, DeiT-distilled, Mixer and ResMLP.

Reference: timm 1.0's `Cait`, `PyramidVisionTransformerV2` and `VisionTransformer` (with a
`HybridEmbed`) built with the same knobs. Each check: the per-block stochastic depth rates equal
timm's (CaiT: the same rate in every self-attention block and none in the class-attention blocks;
PVT v2: `torch.linspace` over all the blocks of all the stages), a training forward at the same
seed equals timm's (the random draws come in timm's order), two SGD steps, then in eval the model
equals itself with the knobs off and timm's with the trained weights (strict loads), and the
report's parameters and FLOPs are those with the knobs off.
"""

from __future__ import annotations

from functools import partial

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from timm.layers import HybridEmbed, StdConv2dSame  # noqa: E402
from timm.models.cait import Cait  # noqa: E402
from timm.models.deit import VisionTransformerDistilled  # noqa: E402
from timm.models.mlp_mixer import Affine, MlpMixer, ResBlock  # noqa: E402
from timm.models.resnetv2 import ResNetV2  # noqa: E402
from timm.models.vision_transformer import VisionTransformer  # noqa: E402

import archgraph  # noqa: E402
from tests.conftest import ROOT, reduced  # noqa: E402

CAIT = ROOT / "specs" / "cait.arch"
PVT = ROOT / "specs" / "pvt_v2.arch"
HYBRID = ROOT / "specs" / "vit_hybrid.arch"
VIT_KNOBS = {"pos_drop_rate": 0.1, "proj_drop_rate": 0.1, "attn_drop_rate": 0.1, "drop_path_rate": 0.5,
             "drop_rate": 0.2}  # fmt: skip
PVT_KNOBS = {"proj_drop_rate": 0.1, "attn_drop_rate": 0.1, "drop_path_rate": 0.5, "drop_rate": 0.2}


def _train_then_eval(ours, off, theirs, x, tol: float | None = None) -> None:
    """Same-seed training forwards equal (to `tol`, else the default float32 tolerances); two SGD steps
    on `ours`; then in eval it equals `off` exactly and `theirs`, given its weights."""
    close = partial(torch.testing.assert_close, rtol=tol, atol=tol) if tol else torch.testing.assert_close
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.train(), theirs.train()
    torch.manual_seed(3)
    first = ours(x)
    torch.manual_seed(3)
    close(first, theirs(x))
    ours.eval()
    with torch.no_grad():
        assert not torch.allclose(first, ours(x))  # something was dropped while training: the test can fail
    ours.train()
    optimizer = torch.optim.SGD(ours.parameters(), lr=0.05)
    for _ in range(2):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(ours(x), torch.arange(len(x)) % first.shape[-1]).backward()
        optimizer.step()
    off.load_state_dict(ours.state_dict(), strict=True)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    ours.eval(), off.eval(), theirs.eval()
    with torch.no_grad():
        out = ours(x)
        torch.testing.assert_close(out, off(x), rtol=0, atol=0)
        close(out, theirs(x))


def _same_report(spec, name: str, knobs: dict) -> None:
    on, off = archgraph.analyze(spec, name, overrides=knobs), archgraph.analyze(spec, name)
    assert [on[k] for k in ("params", "flops", "other_flops")] == [off[k] for k in ("params", "flops", "other_flops")]
    assert all(n["flops"] == n["params"] == 0 for n in on["nodes"] if n["op"] in ("dropout", "drop_path"))


def _cait(**knobs):
    """timm's cait_xxs24_224 arguments (timm/models/cait.py) at 2 + 2 blocks, 64 px, init_values 0.1."""
    return Cait(img_size=64, embed_dim=192, depth=2, num_heads=4, init_values=0.1, num_classes=10, **knobs)


def test_cait_knobs_equal_timms():
    knobs = {**VIT_KNOBS, "drop_path_rate": 0.3}
    small = {"img_size": 64, "depth": 2, "init_values": 0.1, "num_classes": 10}
    torch.manual_seed(0)
    theirs = _cait(**knobs)
    ours = archgraph.build(CAIT, "cait_xxs24_224", **small, **knobs)
    # timm's Cait: drop_path_rate in every LayerScaleBlock (no decay rule), none in the class-attention blocks
    assert [b.drop_path for b in ours.blocks] == [b.drop_path.drop_prob for b in theirs.blocks] == [0.3, 0.3]
    assert all(isinstance(b.drop_path, torch.nn.Identity) for b in theirs.blocks_token_only)
    # the talking heads are written out (q * scale @ k^T, the head mixing as transposed linears): float32
    # rounding differs from timm's by ~1e-6, and the dropouts' 1 / (1 - p) scales grow it to ~2e-5
    x = torch.randn(2, 3, 64, 64)
    _train_then_eval(ours, archgraph.build(CAIT, "cait_xxs24_224", **small), theirs, x, tol=1e-4)
    _same_report(CAIT, "cait_xxs24_224", knobs)


def test_pvt_v2_drop_path_rises_over_all_the_stages_as_timms():
    ours = archgraph.load_graph(PVT, "pvt_v2_b2", drop_path_rate=0.3)
    theirs = timm.create_model("pvt_v2_b2", pretrained=False, drop_path_rate=0.3, device="meta")
    expected = {f"stages.{i}.blocks.{j}.drop_path1": getattr(b.drop_path1, "drop_prob", 0.0)
                for i, s in enumerate(theirs.stages) for j, b in enumerate(s.blocks)}  # fmt: skip
    rates = {n.path: n.attrs["p"] for n in ours.nodes.values() if n.path.endswith("drop_path1")}
    assert len(rates) == 3 + 4 + 6 + 3 and rates == pytest.approx(expected, rel=1e-6)
    assert rates["stages.3.blocks.2.drop_path1"] == pytest.approx(0.3)  # the last block of all: the full rate


@pytest.mark.parametrize("name", ["pvt_v2_b0", "pvt_v2_b2_li"])
def test_pvt_v2_knobs_equal_timms(name):
    small = reduced(PVT, name)
    torch.manual_seed(0)
    theirs = timm.create_model(name, pretrained=False, depths=small["depths"], num_classes=small["num_classes"],
                               **PVT_KNOBS)  # fmt: skip
    ours = archgraph.build(PVT, name, **small, **PVT_KNOBS)
    pairs = [(b.drop_path, getattr(t.drop_path1, "drop_prob", 0.0))
             for s, u in zip(ours.stages, theirs.stages, strict=True) for b, t in zip(s.blocks, u.blocks, strict=True)]  # fmt: skip
    assert [a for a, _ in pairs] == pytest.approx([b for _, b in pairs], rel=1e-6) and pairs[-1][0] == 0.5
    _train_then_eval(ours, archgraph.build(PVT, name, **small), theirs, torch.randn(2, 3, 64, 64))
    _same_report(PVT, name, PVT_KNOBS)


def test_the_generated_pvt_v2_file_takes_timms_drop_path_rate():
    """The committed generated/pvt_v2.py, not a module built for one setting: its `PvtV2` takes
    `drop_path_rate` as timm's does, one linspace over the blocks of all the stages, each stage its
    slice (`torch.linspace(0, drop_path_rate, total)[first:]`, the model passing `sum(depths)`)."""
    from generated.pvt_v2 import pvt_v2_b0

    small = reduced(PVT, "pvt_v2_b0")
    torch.manual_seed(0)
    theirs = timm.create_model("pvt_v2_b0", pretrained=False, depths=small["depths"],
                               num_classes=small["num_classes"], **PVT_KNOBS)  # fmt: skip
    ours = pvt_v2_b0(**small, **PVT_KNOBS)
    pairs = [(b.drop_path, getattr(t.drop_path1, "drop_prob", 0.0))
             for s, u in zip(ours.stages, theirs.stages, strict=True) for b, t in zip(s.blocks, u.blocks, strict=True)]  # fmt: skip
    assert [a for a, _ in pairs] == pytest.approx([b for _, b in pairs], rel=1e-6) and pairs[-1][0] == 0.5
    _train_then_eval(ours, pvt_v2_b0(**small), theirs, torch.randn(2, 3, 64, 64))


def test_the_hybrid_vit_knobs_equal_timms():
    """R50+ViT's hybrid_vit with a 2-stage ResNetV2 (one bottleneck each), as timm's HybridEmbed."""
    small = {"img_size": 64, "embed_dim": 64, "depth": 3, "num_heads": 2, "num_classes": 10, "layers": [1, 1],
             "num_stages": 2}  # fmt: skip
    backbone = ResNetV2([1, 1], num_classes=0, global_pool="", preact=False, stem_type="same",
                        conv_layer=partial(StdConv2dSame, eps=1e-8))  # fmt: skip
    vit = {k: small[k] for k in ("img_size", "embed_dim", "depth", "num_heads", "num_classes")}
    theirs = VisionTransformer(embed_layer=partial(HybridEmbed, backbone=backbone), patch_size=1, **vit, **VIT_KNOBS)
    ours = archgraph.build(HYBRID, "vit_r50_b16", **small, **VIT_KNOBS)
    # timm's decay rule: linspace(0, 0.5, 3)
    assert [b.drop_path for b in ours.blocks] == [0.0, 0.25, 0.5] == [0.0] + [
        b.drop_path1.drop_prob for b in theirs.blocks[1:]]  # fmt: skip
    _train_then_eval(ours, archgraph.build(HYBRID, "vit_r50_b16", **small), theirs, torch.randn(2, 3, 64, 64))
    _same_report(HYBRID, "vit_r50_b16", VIT_KNOBS)


def _mixer(resmlp: bool, **knobs):
    """timm's mixer_b16_224 / resmlp_12_224 arguments at 2 blocks and 64 px, the head redrawn (timm's is zero)."""
    layers = {"embed_dim": 384, "mlp_ratio": 4, "block_layer": ResBlock, "norm_layer": Affine} if resmlp else {}
    model = MlpMixer(patch_size=16, num_blocks=2, img_size=64, num_classes=10, **layers, **knobs)
    torch.nn.init.normal_(model.head.weight, std=0.02)
    return model


HEADS = {
    "vit_b16": lambda **k: VisionTransformer(img_size=64, depth=2, num_classes=10, **k),
    "deit_ti16_distilled": lambda **k: VisionTransformerDistilled(
        img_size=64, embed_dim=192, depth=2, num_heads=3, num_classes=10, **k
    ),
    "mixer_b16": lambda **k: _mixer(False, embed_dim=768, **k),
    "resmlp_12": lambda **k: _mixer(True, **k),
}
SPECS = {
    "vit_b16": "vit.arch",
    "deit_ti16_distilled": "deit.arch",
    "mixer_b16": "mixer.arch",
    "resmlp_12": "resmlp.arch",
}


@pytest.mark.parametrize("name", sorted(HEADS))
def test_head_dropout_equals_timms(name):
    """drop_rate alone: timm's head_drop on the pooled features (DeiT: on each token before its head)."""
    spec, small = ROOT / "specs" / SPECS[name], {"img_size": 64, "depth": 2, "num_classes": 10}
    torch.manual_seed(0)
    theirs = HEADS[name](drop_rate=0.5)
    ours = archgraph.build(spec, name, **small, drop_rate=0.5)
    _train_then_eval(ours, archgraph.build(spec, name, **small), theirs, torch.randn(2, 3, 64, 64))
    _same_report(spec, name, {"drop_rate": 0.5})
