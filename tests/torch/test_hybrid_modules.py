"""The generated hybrid modules on their own: timm's initialisation, training step, standalone helpers."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import archgraph  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

SMALL = {"img_size": 64, "embed_dim": 64, "depth": 1, "num_heads": 2, "num_classes": 10}


def test_resnetv2_init_matches_timm():
    """kaiming_normal(fan_out, relu) convs, GroupNorm 1/0, every bottleneck's norm3 scale zero (zero_init_last)."""
    torch.manual_seed(0)
    model = archgraph.build(ROOT / "specs" / "vit_hybrid.arch", **SMALL)
    backbone = model.patch_embed.backbone
    conv2 = backbone.stages[2].blocks[1].conv2.weight  # 256 x 256 x 3 x 3: fan_out 2304
    assert abs(conv2.std().item() - (2 / (256 * 9)) ** 0.5) < 1e-3
    norms = [block.norm3.weight for stage in backbone.stages for block in stage.blocks]
    assert len(norms) == 16 and all(w.eq(0).all() for w in norms)
    assert backbone.stem.norm.weight.eq(1).all() and backbone.stages[0].blocks[0].norm1.bias.eq(0).all()


def test_hybrid_trains_and_weight_standardisation_is_differentiable():
    model = archgraph.build(ROOT / "specs" / "vit_hybrid.arch", **SMALL)
    out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert model.patch_embed.backbone.stem.conv.weight.grad.abs().sum() > 0


def test_vit_c_batch_norm_updates_running_statistics_in_training():
    model = archgraph.build(ROOT / "specs" / "vit_early_conv.arch", "vit_c_1gf", **SMALL)
    bn = model.patch_embed.stem[0].bn
    model.train()(torch.randn(4, 3, 64, 64))
    assert int(bn.num_batches_tracked) == 1 and bn.running_mean.abs().sum() > 0
