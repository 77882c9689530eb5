"""A generated model class taking the spec's per-stage lists (issue 13): `generated/pvt_v2.py`
builds its stages in a loop indexing `depths`, `embed_dims`, `num_heads`, `mlp_ratios` and
`sr_ratios`, as timm's PyramidVisionTransformerV2 does, so the B0-B5 models are one class `PvtV2`
and entry functions. References: timm 1.0 (`pvt_v2_*`, random weights), and `archgraph.build`
(the spec lowered again with the same lists)."""

from __future__ import annotations

import importlib

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import archgraph  # noqa: E402
from archgraph.codegen.fit import Fitter  # noqa: E402
from tests.conftest import ROOT, generated_model  # noqa: E402

SPEC = ROOT / "specs/pvt_v2.arch"
# lists none of the B0-B5 models has: a stage per list entry, widths divisible by the heads
SMALL = {"depths": (1, 2, 1, 1), "embed_dims": (16, 32, 48, 64), "num_heads": (1, 2, 3, 4),
         "mlp_ratios": (4, 2, 2, 4), "sr_ratios": (8, 4, 2, 1), "num_classes": 10}  # fmt: skip


def _module():
    return importlib.import_module("generated.pvt_v2")


def test_pvt_v2_models_differing_in_lists_share_one_class():
    module = _module()
    for name in ("pvt_v2_b0", "pvt_v2_b1", "pvt_v2_b2", "pvt_v2_b3", "pvt_v2_b4", "pvt_v2_b5"):
        assert getattr(module, name).__annotations__["return"] in ("PvtV2", module.PvtV2), name


def test_pvt_v2_class_with_other_lists_equals_timm():
    """`PvtV2(depths=..., embed_dims=..., ...)` at lists no spec model has: timm's state_dict loads
    strictly and the eval outputs are equal (64 x 64 input: stage grids 16, 8, 4, 2)."""
    torch.manual_seed(0)
    ours = _module().PvtV2(img_size=64, **SMALL).eval()
    theirs = timm.create_model("pvt_v2_b0", pretrained=False, **SMALL).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_pvt_v2_class_equals_the_spec_built_with_the_same_lists():
    ours = _module().PvtV2(img_size=64, **SMALL, device="meta")
    lists = {k: list(v) if isinstance(v, tuple) else v for k, v in SMALL.items()}
    built = archgraph.build(SPEC, "pvt_v2_b0", img_size=64, device="meta", **lists)
    shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in built.state_dict().items()}


@pytest.mark.parametrize("name", ["pvt_v2_b0", "pvt_v2_b1", "pvt_v2_b2", "pvt_v2_b5"])
def test_pvt_v2_entry_functions_build_timms_models(name):
    """Each entry function's parameters, key by key and shape by shape, are timm's model's."""
    ours = getattr(_module(), name)(device="meta")
    theirs = timm.create_model(name, pretrained=False, device="meta")
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }


def test_loop_arguments_are_list_terms_of_the_index():
    """What a stage loop's arguments fit to (codegen/loops.py): the spec's lists at `i` and `i - 1`
    (`L[-1]` at i = 0, as Python reads it), their prefix sums, `c // 2 ** i`, `i > 0`; and no other
    arithmetic, which one model's lists meet by chance."""
    lists = {"depths": (3, 4, 6, 3), "widths": (8, 16, 32, 64)}
    envs = [{"i": i, **lists} for i in range(4)]
    fitter = Fitter(envs, ["i", *lists], tuple(lists), ("i",))
    assert fitter.indexed((8, 16, 32, 64)) == "widths[i]"
    assert fitter.indexed((64, 8, 16, 32)) == "widths[i - 1]"
    assert fitter.indexed((0, 3, 7, 13)) == "sum(depths[:i])"
    assert fitter.indexed((56, 28, 14, 7)) == "56 // 2 ** i"
    assert fitter.indexed((False, True, True, True)) == "i > 0"
    assert fitter.indexed((4, 8, 16, 32)) is None  # widths[i] // 2 by chance, and a stem's 4 inputs
    assert fitter.indexed((3, 3, 3, 3)) is None


def test_segformer_class_with_other_lists_equals_hugging_face():
    """`generated/segformer.py`'s one class for B0-B5, at lists none of them has: Hugging Face's
    SegformerForSemanticSegmentation with the same config loads strictly, equal logits (64 x 64)."""
    transformers = pytest.importorskip("transformers")
    lists = {"depths": (1, 2, 1, 1), "hidden_sizes": (16, 32, 48, 64), "num_heads": (1, 2, 3, 4)}
    hf = {"depths": [1, 2, 1, 1], "hidden_sizes": [16, 32, 48, 64], "num_attention_heads": [1, 2, 3, 4]}
    config = transformers.SegformerConfig(num_labels=5, decoder_hidden_size=32, **hf)
    theirs = transformers.SegformerForSemanticSegmentation(config).eval()
    cls = importlib.import_module("generated.segformer").Segformer  # the class B0-B5 share
    for name in ("segformer_b0", "segformer_b1", "segformer_b3", "segformer_b5"):
        entry = generated_model(ROOT / "specs/segformer.arch", name)
        assert entry.__annotations__["return"] in (cls.__name__, cls), name
    ours = cls(img_size=64, num_classes=5, decoder_dim=32, **lists).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(pixel_values=x).logits, rtol=1e-5, atol=1e-5)


def test_a_list_whose_change_changes_the_structure_stays_fixed():
    """ViT_C's stem strides multiply to the patch size, which sizes the position embedding: the
    generator tried them changed, found other classes, and fixed them (codegen/loops.FROZEN);
    the stem widths, which change no class, are an argument equal to the spec built with them."""
    import inspect

    spec = ROOT / "specs/vit_early_conv.arch"
    cls = importlib.import_module("generated.vit_early_conv").VitC  # vit_c_1gf and vit_c_4gf build it
    params = inspect.signature(cls).parameters
    assert "stem_chs" in params and "stem_strides" not in params
    stem = (16, 32, 64, 128)
    ours = cls(stem_chs=stem, embed_dim=96, num_heads=2, depth=1, device="meta")
    built = archgraph.build(spec, "vit_c_1gf", stem_chs=list(stem), embed_dim=96, num_heads=2, depth=1, device="meta")
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in built.state_dict().items()
    }
