"""DETR R50, DETR-DC5 and DETR-R101 (issue 14) against Hugging Face transformers' DetrForObjectDetection
(`DetrConfig(use_pretrained_backbone=False, num_labels=91)`, random init; transformers 5.x builds the
backbone through timm, with no download: the network is cut off while HF builds): strict load of HF's
own state_dict keys and equal `logits` / `pred_boxes` at a reduced input, exact parameter counts at
full size (../shared/reference/architectures.md section 5), analytic FLOPs equal to FlopCounterMode on
the generated module, and the fvcore convention equal to fvcore's FlopCountAnalysis on HF's model."""

from __future__ import annotations

import socket

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import archgraph  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.torch.tiny import counted  # noqa: E402

SPEC = ROOT / "specs/detr.arch"
# HF's settings for each model: ResNet-101 backbone; DC5 = `dilation`, timm's output_stride=16.
HF = {"detr_r50": {}, "detr_dc5": {"dilation": True}, "detr_r101": {"backbone": "resnet101"}}
# architectures.md section 5, "Our counts [C]": all parameters, and those with requires_grad, as DETR's
# main.py prints them (its Backbone freezes conv1 and layer1: R50 minus 9,408 + 212,992). DC5 as R50.
PARAMS = {
    "detr_r50": (41_524_768, 41_302_368),
    "detr_dc5": (41_524_768, 41_302_368),
    "detr_r101": (60_464_672, 60_242_272),
}
SMALL = {"img_size": 64, "img_w": 96}  # a 2x3 map after a stride of 32 (4x6 for DC5)


@pytest.fixture
def offline(monkeypatch):
    """Any network connection fails the test: the HF model must build without a download."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access while building the reference: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def hf_model(name: str, **options):
    config = transformers.DetrConfig(use_pretrained_backbone=False, num_labels=91, **HF[name])
    return transformers.DetrForObjectDetection._from_config(config, **options)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameters_equal_hf_and_the_reference(name, offline):
    total, trainable = PARAMS[name]
    data = archgraph.analyze(SPEC, name)
    assert (data["params"], data["trainable_params"]) == (total, trainable)
    model = archgraph.build(SPEC, name, device="meta")
    assert sum(p.numel() for p in model.parameters()) == total
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == trainable
    with torch.device("meta"):
        ref = hf_model(name)
    assert sum(p.numel() for p in ref.parameters()) == total


def test_dc5_has_four_times_the_tokens():
    """architectures.md section 5: 25 x 38 = 950 tokens at 800x1216, DC5 50 x 76 = 3800."""
    tokens = {name: archgraph.analyze(SPEC, name)["memory"]["buffers"]["model.position_embedding"] // 256
              for name in ("detr_r50", "detr_dc5")}  # fmt: skip
    assert tokens == {"detr_r50": 950, "detr_dc5": 3800}


@pytest.mark.parametrize("name", sorted(HF))
def test_reduced_input_loads_hf_strictly_and_equals_its_outputs(name, offline):
    torch.manual_seed(0)
    ref = hf_model(name).eval()
    with torch.no_grad():  # frozen statistics that are not the identity, so FrozenBatchNorm2d is tested
        for key, buffer in ref.named_buffers():
            if key.endswith(("running_mean", ".bias")):
                buffer.normal_(0, 0.1)
            elif key.endswith(("running_var", ".weight")):
                buffer.uniform_(0.5, 1.5)
    model = archgraph.build(SPEC, name, **SMALL).eval()
    model.load_state_dict(ref.state_dict(), strict=True)  # HF's keys as they are: model.backbone.model.conv1...
    x = torch.randn(2, 3, SMALL["img_size"], SMALL["img_w"])
    with torch.no_grad():
        ours, theirs = model(x), ref(pixel_values=x)  # HF's pixel_mask defaults to all ones
    torch.testing.assert_close(ours["logits"], theirs.logits)
    torch.testing.assert_close(ours["pred_boxes"], theirs.pred_boxes)


@pytest.mark.parametrize("name", ["detr_r50", "detr_dc5"])
def test_reduced_input_flops_equal_flop_counter(name):
    model = archgraph.build(SPEC, name, **SMALL).eval()
    _, measured = counted(model, torch.randn(1, 3, SMALL["img_size"], SMALL["img_w"]), math_sdpa=True)
    assert measured == archgraph.analyze(SPEC, name, overrides=SMALL)["flops"]


def _fvcore(ref, h: int, w: int) -> int:
    fvcore_nn = pytest.importorskip("fvcore.nn")
    analysis = fvcore_nn.FlopCountAnalysis(ref, torch.randn(1, 3, h, w))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    with torch.no_grad():
        return analysis.total()


def test_fvcore_convention_equals_fvcore_on_hf(offline):
    """fvcore on HF (eager attention, which fvcore sees) counts one more op than the spec has: the nearest
    resize of the pixel mask to the h x w map (one per element). The spec takes no mask (all ones)."""
    ref = hf_model("detr_r50", attn_implementation="eager").eval()
    ours = archgraph.analyze(SPEC, "detr_r50", convention="fvcore", overrides=SMALL)["convention"]["count"]
    assert _fvcore(ref, SMALL["img_size"], SMALL["img_w"]) == ours + 2 * 3


@pytest.mark.slow
def test_fvcore_at_a_coco_size(offline):
    """At 800x1216 (25 x 38 tokens) fvcore on HF gives 91.95 G multiply-adds, the spec's convention as much
    (plus the mask's 950): the paper's 86 G is an average over COCO images (README, "DETR")."""
    ref = hf_model("detr_r50", attn_implementation="eager").eval()
    count = archgraph.analyze(SPEC, "detr_r50", convention="fvcore")["convention"]["count"]
    assert _fvcore(ref, 800, 1216) == count + 950
    assert count == 91_949_388_800
