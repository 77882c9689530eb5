"""PVT v2 B0-B5 and B2-Li (issue 15) against timm's `pvt_v2_*`: strict state_dict load and equal
logits at a reduced size (64x64, at most 2 blocks a stage), exact parameter counts at full size
against timm on the meta device and against ../shared/reference/architectures.md section 12, and
analytic FLOPs equal to FlopCounterMode on the generated module."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import archgraph  # noqa: E402
from tests.conftest import ROOT, reduced  # noqa: E402
from tests.parity.reduced import assert_reduced_outputs_equal  # noqa: E402
from tests.torch.tiny import counted  # noqa: E402

SPEC = ROOT / "specs/pvt_v2.arch"

# architectures.md section 12, "[C] params (with head)" (timm pvt_v2_*, 1000 classes, 224x224).
PARAMS = {
    "pvt_v2_b0": 3_666_760,
    "pvt_v2_b1": 14_009_000,
    "pvt_v2_b2": 25_362_856,
    "pvt_v2_b2_li": 22_553_512,
    "pvt_v2_b3": 45_238_696,
    "pvt_v2_b4": 62_556_072,
    "pvt_v2_b5": 81_956_008,
}
# Same table, "[C] GMACs" (timm with fvcore), to the two decimals printed there.
GMACS = {"pvt_v2_b0": 0.57, "pvt_v2_b1": 2.12, "pvt_v2_b2": 4.05, "pvt_v2_b2_li": 3.91, "pvt_v2_b3": 6.92,
         "pvt_v2_b4": 10.14, "pvt_v2_b5": 11.76}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_full_size_parameters_equal_timm_and_the_reference(name):
    with torch.device("meta"):
        ref = timm.create_model(name, pretrained=False)
    assert archgraph.analyze(SPEC, name)["params"] == sum(p.numel() for p in ref.parameters()) == PARAMS[name]


@pytest.mark.parametrize("name", sorted(GMACS))
def test_fvcore_macs_round_to_the_reference(name):
    assert round(archgraph.analyze(SPEC, name, convention="fvcore")["convention"]["count"] / 1e9, 2) == GMACS[name]


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_reduced_size_loads_timm_strictly_and_equals_its_logits(name):
    def reference(small):
        return timm.create_model(name, pretrained=False, depths=small["depths"], num_classes=small["num_classes"])

    assert_reduced_outputs_equal(SPEC, name, reference)


@pytest.mark.parametrize("name", ["pvt_v2_b0", "pvt_v2_b2_li"])
def test_reduced_size_flops_equal_flop_counter(name):
    small = reduced(SPEC, name, img_size=96)  # 24, 12, 6, 3: the 7x7 pool of B2-Li upsamples the last stage
    model = archgraph.build(SPEC, name, **small).eval()
    _, measured = counted(model, torch.randn(1, 3, 96, 96), math_sdpa=True)
    assert measured == archgraph.analyze(SPEC, name, overrides=small)["flops"]
