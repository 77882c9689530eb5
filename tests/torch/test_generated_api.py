"""A generated model file as a PyTorch user reads it: the spec's numeric parameters as keyword
arguments, any batch and any image size the spec allows, and timm's classifier API.

References: `archgraph.build` (the spec lowered again with the same overrides) and timm 1.0
(`timm.create_model(..., pretrained=False)`, random weights loaded into both).
"""

from __future__ import annotations

import importlib

import pytest

torch = pytest.importorskip("torch")

import archgraph  # noqa: E402
from tests.conftest import ROOT, generated_model, spec_models  # noqa: E402


def _generated(name: str):
    """The generated module holding the model `name` (its spec file's)."""
    spec = next(path for path, model in spec_models() if model == name)
    return importlib.import_module(f"generated.{spec.stem}")


def _same_structure(a, b) -> None:
    shapes_a = {k: tuple(v.shape) for k, v in a.state_dict().items()}
    shapes_b = {k: tuple(v.shape) for k, v in b.state_dict().items()}
    assert shapes_a == shapes_b
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("vit_b16", {"num_classes": 10}), ("vit_b16", {"img_size": 384, "depth": 3}),
     ("vit_b32", {"patch_size": 16, "embed_dim": 384, "num_heads": 6}), ("mixer_b16", {"img_size": 160}),
     ("resmlp_12", {"num_classes": 5, "init_values": 0.5}), ("vit_r50_b16", {"img_size": 448, "depth": 2})],
)  # fmt: skip
def test_keyword_arguments_build_what_the_spec_builds_with_them(name, kwargs):
    """`VitB16(num_classes=10)` equals `archgraph.build("specs/vit.arch", num_classes=10)`."""
    spec = next(path for path, model in spec_models() if model == name)
    cls = generated_model(spec, name)
    _same_structure(cls(**kwargs, device="meta"), archgraph.build(spec, name, device="meta", **kwargs))


def test_one_file_runs_any_batch_and_the_image_sizes_its_arguments_allow():
    """One generated file, built at 64 px and run at batch 1 and 3, equals the spec built at 64 px."""
    ours = _generated("vit_ti16").vit_ti16(img_size=64, depth=2).eval()
    reference = archgraph.build(ROOT / "specs/vit.arch", "vit_ti16", img_size=64, depth=2).eval()
    reference.load_state_dict(ours.state_dict())
    for batch in (1, 3):
        x = torch.randn(batch, 3, 64, 64)
        with torch.no_grad():
            assert torch.equal(ours(x), reference(x))


def _beside_timm(name: str, timm_name: str):
    """Our model `name` and timm's `timm_name`, both at 64 px with 2 blocks, timm's holding our weights
    (random, no download), in eval mode; and an input batch of 2."""
    timm = pytest.importorskip("timm")
    ours = getattr(_generated(name), name)(img_size=64, depth=2).eval()
    theirs = timm.create_model(timm_name, pretrained=False, img_size=64, depth=2).eval()
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs, torch.randn(2, 3, 64, 64)


def test_timm_classifier_api_matches_timm():
    ours, theirs, x = _beside_timm("vit_ti16", "vit_tiny_patch16_224")
    with torch.no_grad():
        features = ours.forward_features(x)
        torch.testing.assert_close(features, theirs.forward_features(x), rtol=0, atol=0)
        pooled = ours.forward_head(features, pre_logits=True)
        torch.testing.assert_close(pooled, theirs.forward_head(features, pre_logits=True), rtol=0, atol=0)
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
    assert (ours.num_classes, ours.num_features) == (theirs.num_classes, theirs.num_features) == (1000, 192)
    assert ours.no_weight_decay() <= theirs.no_weight_decay()
    assert ours.no_weight_decay() == {"cls_token", "pos_embed"}
    assert ours.get_classifier() is ours.head and type(theirs.get_classifier()) is type(ours.head)
    ours.set_grad_checkpointing()
    assert all(m.grad_checkpointing for m in ours.modules() if hasattr(m, "grad_checkpointing"))
    ours.set_grad_checkpointing(False)
    assert not ours.grad_checkpointing
    ours.reset_classifier(7)
    theirs.reset_classifier(7)
    assert ours(x).shape == theirs(x).shape == (2, 7)
    ours.reset_classifier(0)
    assert ours(x).shape == (2, 192)
    ours.reset_classifier(5)  # a head again, after none (the parameters' dtype comes from the body)
    theirs.reset_classifier(5)
    assert ours(x).shape == theirs(x).shape == (2, 5)


@pytest.mark.parametrize(("name", "timm_name", "smaller"), [("vit_ti16", "vit_tiny_patch16_224", "depth"),
                                                          ("mixer_s32", "mixer_s32_224", None),
                                                          ("resnet50", "resnet50", None)])  # fmt: skip
def test_no_classes_is_no_head_as_in_timm(name, timm_name, smaller):
    """`num_classes=0` builds `nn.Identity()` for the head (timm's `... if num_classes > 0 else
    nn.Identity()`): the same keys as timm's model built so (strict load), its pooled features as output."""
    timm = pytest.importorskip("timm")
    spec = next(path for path, model in spec_models() if model == name)
    ours = generated_model(spec, name)(num_classes=0, **({"depth": 2} if smaller else {})).eval()
    theirs = timm.create_model(timm_name, pretrained=False, num_classes=0, **({smaller: 2} if smaller else {})).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
        assert ours(x).shape == (2, ours.num_features) and ours.num_classes == 0
        ours.reset_classifier(3)
        assert ours(x).shape == (2, 3)


def test_a_distilled_deit_has_timms_api_for_its_two_heads():
    """DeiT's distillation head (two heads on two tokens, averaged) has timm's VisionTransformerDistilled
    API: features, pre-logits (the two tokens averaged), both heads reset at once, no head at 0."""
    ours, theirs, x = _beside_timm("deit_ti16_distilled", "deit_tiny_distilled_patch16_224")
    with torch.no_grad():
        features = ours.forward_features(x)
        torch.testing.assert_close(features, theirs.forward_features(x), rtol=0, atol=0)
        for pre_logits in (True, False):
            expected = theirs.forward_head(features, pre_logits=pre_logits)
            torch.testing.assert_close(ours.forward_head(features, pre_logits=pre_logits), expected, rtol=0, atol=0)
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
        assert (ours.num_classes, ours.num_features) == (theirs.num_classes, theirs.num_features) == (1000, 192)
        assert ours.no_weight_decay() <= theirs.no_weight_decay()  # timm's also lists reg_token, which DeiT lacks
        assert ours.no_weight_decay() == {"cls_token", "dist_token", "pos_embed"}
        ours.reset_classifier(7)
        theirs.reset_classifier(7)
        assert ours(x).shape == theirs(x).shape == (2, 7)
        assert ours.head_dist.out_features == 7 and ours.get_classifier() == (ours.head, ours.head_dist)
        headless = _generated("deit_ti16_distilled").deit_ti16_distilled(img_size=64, depth=2, num_classes=0).eval()
        assert headless(x).shape == (2, 192)


def test_the_classifier_api_keeps_the_input_s_own_name(tmp_path):
    """A model whose input is not called `x` (it was a NameError in `forward_features`)."""
    spec = tmp_path / "m.arch"
    spec.write_text(
        "model m(num_classes: int = 3) {\n  input feats: f32[B, 4, 8]\n"
        "  t = norm: layer_norm(feats)\n  return head: linear(mean(t, dim = 1), num_classes)\n}\n"
    )
    model = archgraph.build(spec).eval()
    feats = torch.randn(2, 4, 8)
    with torch.no_grad():
        features = model.forward_features(feats)
        assert torch.equal(features, model.norm(feats))
        assert torch.equal(model(feats), model.head(features.mean(dim=1)))


def test_a_convolutional_classifier_has_the_api_too():
    ours = _generated("resnet50").Resnet50(device="meta")
    assert (ours.num_classes, ours.num_features) == (1000, 2048)
    assert ours.forward_features(torch.empty(1, 3, 224, 224, device="meta")).shape == (1, 2048, 7, 7)
