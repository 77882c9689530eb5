"""Training knobs: dropout, attention dropout and stochastic depth as timm's VisionTransformer has them.

Reference: timm 1.0 `VisionTransformer(pos_drop_rate=, proj_drop_rate=, attn_drop_rate=,
drop_path_rate=)`, its stochastic depth decay rule `[x.item() for x in torch.linspace(0,
drop_path_rate, depth)]` and `DropPath` (timm/layers/drop.py). The knobs add no parameters (the
state_dict loads strictly both ways) and act only while training, so eval outputs equal those
with the knobs off, and timm's.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from timm.models.mlp_mixer import Affine, MlpMixer, ResBlock  # noqa: E402
from timm.models.vision_transformer import VisionTransformer  # noqa: E402

import archgraph  # noqa: E402
from archgraph.arguments import ArgumentError  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

VIT = ROOT / "specs" / "vit.arch"
# ViT-B/16's widths at 2 blocks and 64 px, so two training steps stay cheap on a CPU
SMALL = {"img_size": 64, "depth": 2}
KNOBS = {"pos_drop_rate": 0.1, "proj_drop_rate": 0.1, "attn_drop_rate": 0.1, "drop_path_rate": 0.1}


def _timm(**knobs):
    return VisionTransformer(img_size=64, patch_size=16, embed_dim=768, depth=2, num_heads=12, **knobs)


def test_the_drop_path_schedule_is_timms():
    ours = archgraph.build(VIT, "vit_b16", img_size=64, depth=4, drop_path_rate=0.3, device="meta")
    theirs = VisionTransformer(img_size=64, depth=4, drop_path_rate=0.3, device="meta")
    rates = [b.drop_path for b in ours.blocks]
    # timm's first block has rate 0, so an nn.Identity where the others have DropPath(rate)
    assert isinstance(theirs.blocks[0].drop_path1, torch.nn.Identity) and rates[0] == 0.0
    assert (
        rates[1:]
        == [b.drop_path1.drop_prob for b in theirs.blocks[1:]]
        == [b.drop_path2.drop_prob for b in theirs.blocks[1:]]
    )
    assert [b.attn.attn_drop for b in ours.blocks] == [0.0] * 4


def test_two_training_steps_then_eval_equals_the_knobs_off_and_timm():
    torch.manual_seed(0)
    ours = archgraph.build(VIT, "vit_b16", **SMALL, **KNOBS)
    x, y = torch.randn(4, 3, 64, 64), torch.tensor([1, 2, 3, 4])
    start = {k: v.clone() for k, v in ours.state_dict().items()}
    optimizer = torch.optim.SGD(ours.parameters(), lr=0.1)
    ours.train()
    first = ours(x)
    assert not torch.equal(first, ours(x))  # dropout is on while training: two passes differ
    for _ in range(2):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(ours(x), y).backward()
        optimizer.step()
    assert any(not torch.equal(start[k], v) for k, v in ours.state_dict().items())
    off = archgraph.build(VIT, "vit_b16", **SMALL)
    off.load_state_dict(ours.state_dict(), strict=True)
    theirs = _timm(**KNOBS)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    ours.eval(), off.eval(), theirs.eval()
    with torch.no_grad():
        out = ours(x)
        assert torch.equal(out, ours(x))  # eval: deterministic
        torch.testing.assert_close(out, off(x), rtol=0, atol=0)
        torch.testing.assert_close(out, theirs(x), rtol=0, atol=0)


def test_a_training_forward_with_the_knobs_on_equals_timms_at_the_same_seed():
    """With every knob on and the same seed, a training forward equals timm's: the random draws come
    in timm's order (pos_drop; per block SDPA's dropout_p, proj_drop, drop_path1, drop1, drop2,
    drop_path2), with DropPath's one Bernoulli per sample and the kept samples scaled."""
    knobs = {**KNOBS, "drop_path_rate": 0.5}
    ours = archgraph.build(VIT, "vit_b16", **SMALL, **knobs)
    theirs = _timm(**knobs)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.train(), theirs.train()
    x = torch.randn(8, 3, 64, 64)
    torch.manual_seed(1)
    a = ours(x)
    torch.manual_seed(1)
    b = theirs(x)
    torch.testing.assert_close(a, b)
    ours.eval()
    with torch.no_grad():
        assert not torch.allclose(a, ours(x))  # some branch was dropped: the test can fail


def test_the_report_counts_no_flops_and_no_parameters_for_the_knobs():
    off = archgraph.analyze(VIT, "vit_b16")
    on = archgraph.analyze(VIT, "vit_b16", overrides=KNOBS)
    assert [on[k] for k in ("params", "flops", "other_flops")] == [off[k] for k in ("params", "flops", "other_flops")]
    knobs = [n for n in on["nodes"] if n["op"] in ("dropout", "drop_path")]
    # timm's names: pos_drop; per block attn.proj_drop, mlp.drop1, mlp.drop2, drop_path1, drop_path2
    assert {n["path"] for n in knobs if n["path"].startswith(("pos", "blocks.0."))} == {
        "pos_drop", "blocks.0.attn.proj_drop", "blocks.0.mlp.drop1", "blocks.0.mlp.drop2", "blocks.0.drop_path1",
        "blocks.0.drop_path2"}  # fmt: skip
    assert len(knobs) == 1 + 12 * 5 + 1 and knobs[-1]["path"] == "head_drop"  # timm's drop_rate, before the head
    assert all(n["params"] == n["flops"] == n["other_flops"] == n["convention_count"] == 0 for n in knobs)


def test_dynamic_img_size_equals_timms_at_224_and_384():
    """ViT-B/16 (full width, 2 of its 12 blocks to stay cheap on a CPU) built with dynamic_img_size=True
    at 224 px, timm's `vit_base_patch16_224(dynamic_img_size=True)` weights loaded strictly, gives
    timm's outputs at 224 and at 384 px (the 14 x 14 position grid resampled to 24 x 24 in forward)."""
    theirs = timm.create_model("vit_base_patch16_224", pretrained=False, dynamic_img_size=True, depth=2).eval()
    ours = archgraph.build(VIT, "vit_b16", depth=2, dynamic_img_size=True).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    fixed = archgraph.build(VIT, "vit_b16", depth=2).eval()
    fixed.load_state_dict(theirs.state_dict(), strict=True)
    for size in (224, 384):
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
    with torch.no_grad(), pytest.raises(RuntimeError, match="577"):  # without the flag: 197 positions, 577 tokens
        fixed(torch.randn(1, 3, 384, 384))


def test_dynamic_img_size_takes_a_non_square_image_as_timm():
    theirs = timm.create_model("vit_base_patch16_224", pretrained=False, dynamic_img_size=True, depth=1).eval()
    ours = archgraph.build(VIT, "vit_b16", depth=1, dynamic_img_size=True).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(1, 3, 160, 256)
    with torch.no_grad():
        torch.testing.assert_close(ours.forward_features(x), theirs.forward_features(x), rtol=0, atol=0)


def test_dynamic_img_size_is_refused_by_a_model_without_a_position_embedding():
    with pytest.raises(ArgumentError, match="dynamic_img_size"):
        archgraph.build(ROOT / "specs" / "resnet50.arch", "resnet50", dynamic_img_size=True, device="meta")


def _mixer(resmlp: bool, **knobs):
    """timm's mixer_b16_224 / resmlp_12_224 arguments (timm/models/mlp_mixer.py) at 2 blocks and 64 px."""
    if resmlp:
        layers = {"embed_dim": 384, "mlp_ratio": 4, "block_layer": ResBlock, "norm_layer": Affine}
        return MlpMixer(patch_size=16, num_blocks=2, img_size=64, **layers, **knobs)
    return MlpMixer(patch_size=16, num_blocks=2, embed_dim=768, img_size=64, **knobs)


@pytest.mark.parametrize(("spec", "name"), [("mixer.arch", "mixer_b16"), ("resmlp.arch", "resmlp_12")])
def test_mixer_and_resmlp_knobs_equal_timms_in_training_and_eval(spec, name):
    """timm's MlpMixer: proj_drop_rate in every MLP, drop_path_rate the same in every block (no decay
    rule); at the same seed a training forward equals timm's, and eval equals the knobs off."""
    knobs = {"proj_drop_rate": 0.2, "drop_path_rate": 0.5}
    theirs = _mixer(name.startswith("resmlp"), **knobs)
    torch.nn.init.normal_(theirs.head.weight, std=0.02)  # timm starts the head at zero: every output 0
    ours = archgraph.build(ROOT / "specs" / spec, name, img_size=64, depth=2, **knobs)
    off = archgraph.build(ROOT / "specs" / spec, name, img_size=64, depth=2)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    off.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(4, 3, 64, 64)
    ours.train(), theirs.train()
    torch.manual_seed(2)
    a = ours(x)
    torch.manual_seed(2)
    torch.testing.assert_close(a, theirs(x))
    ours.eval(), theirs.eval(), off.eval()
    with torch.no_grad():
        assert not torch.allclose(a, ours(x))
        torch.testing.assert_close(ours(x), off(x), rtol=0, atol=0)
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
