"""SegFormer B0-B5 (issue 15) against Hugging Face transformers' SegformerForSemanticSegmentation
(random init): strict state_dict load with HF's keys and equal logits at a reduced size, exact
parameter counts at full size (HF on the meta device and ../shared/reference/architectures.md
section 13), the paper's ADE20K GFLOPs under the mmcv convention, and analytic FLOPs equal to
FlopCounterMode on the generated module."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import archgraph  # noqa: E402
from tests.conftest import ROOT, reduced  # noqa: E402
from tests.parity.reduced import assert_reduced_outputs_equal  # noqa: E402
from tests.torch.tiny import counted  # noqa: E402

SPEC = ROOT / "specs/segformer.arch"
WIDE = [64, 128, 320, 512]
# architectures.md section 13, MiT hyperparameters (NVlabs code: MLP ratio 4; decoder width 256 / 768).
CONFIGS = {
    "segformer_b0": ([32, 64, 160, 256], [2, 2, 2, 2], 256),
    "segformer_b1": (WIDE, [2, 2, 2, 2], 256),
    "segformer_b2": (WIDE, [3, 4, 6, 3], 768),
    "segformer_b3": (WIDE, [3, 4, 18, 3], 768),
    "segformer_b4": (WIDE, [3, 8, 27, 3], 768),
    "segformer_b5": (WIDE, [3, 6, 40, 3], 768),
}
# Section 13, "[C] encoder", "[C] decoder (K=150)" and "[C] total K=150 / K=19" (HF, random init).
PARAMS = {
    "segformer_b0": (3_319_392, 433_302, 3_752_694, 3_719_027),
    "segformer_b1": (13_151_424, 564_374, 13_715_798, 13_682_131),
    "segformer_b2": (24_196_288, 3_265_686, 27_461_974, 27_361_235),
    "segformer_b3": (44_072_128, 3_265_686, 47_337_814, 47_237_075),
    "segformer_b4": (60_842_688, 3_265_686, 64_108_374, 64_007_635),
    "segformer_b5": (81_443_008, 3_265_686, 84_708_694, 84_607_955),
}
# Section 13, paper Table 1(a): GFLOPs on ADE20K at 512x512 (B5 at 640x640, its ADE20K config).
PAPER_GFLOPS = {"segformer_b0": 8.4, "segformer_b1": 15.9, "segformer_b2": 62.4, "segformer_b3": 79.0,
                "segformer_b4": 95.7, "segformer_b5_640": 183.3}  # fmt: skip


def hf_model(name: str, num_labels: int, **changes):
    widths, depths, decoder = CONFIGS[name]
    settings = {"hidden_sizes": widths, "depths": depths, "decoder_hidden_size": decoder, **changes}
    config = transformers.SegformerConfig(num_labels=num_labels, **settings)
    return transformers.SegformerForSemanticSegmentation(config)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameters_equal_hf_and_the_reference(name):
    encoder, decoder, k150, k19 = PARAMS[name]
    data = archgraph.analyze(SPEC, name, depth=1)
    rows = {row["layer"]: row["params"] for row in data["rows"]}
    assert (rows["segformer"], rows["decode_head"], data["params"]) == (encoder, decoder, k150)
    assert archgraph.analyze(SPEC, name, overrides={"num_classes": 19})["params"] == k19
    with torch.device("meta"):
        ref = hf_model(name, 150)
    assert sum(p.numel() for p in ref.parameters()) == k150


@pytest.mark.parametrize("name", sorted(PAPER_GFLOPS))
def test_mmcv_convention_reproduces_the_papers_ade20k_gflops(name):
    count = archgraph.analyze(SPEC, name, convention="mmcv")["convention"]["count"]
    assert round(count / 1e9, 1) == PAPER_GFLOPS[name]


def test_the_paper_counts_differ_from_plain_macs():
    """Multiply-adds alone give B2 62.3 and B4 95.6 (archgraph's own count, no outside source): not the
    paper's figures, which need mmcv's conv-bias and ReLU terms."""
    macs = {n: round(archgraph.analyze(SPEC, n)["macs"] / 1e9, 1) for n in ("segformer_b2", "segformer_b4")}
    assert macs == {"segformer_b2": 62.3, "segformer_b4": 95.6}
    assert all(macs[n] != PAPER_GFLOPS[n] for n in macs)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_reduced_size_loads_hf_strictly_and_equals_its_logits(name):
    def reference(small):
        ref = hf_model(name, small["num_classes"], depths=small["depths"])
        with torch.no_grad():  # running statistics that are not the identity, so BatchNorm is tested
            bn = ref.decode_head.batch_norm
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
        return ref

    assert_reduced_outputs_equal(SPEC, name, reference, output=lambda out: out.logits)


@pytest.mark.parametrize("name", ["segformer_b0", "segformer_b2"])
def test_reduced_size_flops_equal_flop_counter(name):
    small = reduced(SPEC, name)
    model = archgraph.build(SPEC, name, **small).eval()
    _, measured = counted(model, torch.randn(1, 3, 64, 64), math_sdpa=True)
    assert measured == archgraph.analyze(SPEC, name, overrides=small)["flops"]


KNOBS = {"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "classifier_dropout_prob": 0.2}


def test_training_knobs_equal_hfs():
    """The committed generated/segformer.py takes Hugging Face's SegformerConfig knobs: with the same seed
    a training forward equals HF's (every dropout where HF has it, in HF's order; SDPA's on the attention
    weights), and HF's stochastic-depth rates, one linspace over all the blocks sliced per stage. HF's
    classifier dropout draws its mask over a channels-last map (the same values, another element
    order): made contiguous for the comparison. Drop path draws its mask otherwise than HF (timm's
    bernoulli_, HF's floor(rand + keep)), so its forward is compared off (HF's default is 0.1), its
    rates on."""
    from generated.segformer import segformer_b0

    small = reduced(SPEC, "segformer_b0")
    torch.manual_seed(0)
    ref = hf_model("segformer_b0", small["num_classes"], depths=small["depths"], drop_path_rate=0.0, **KNOBS)
    ref.decode_head.dropout.register_forward_pre_hook(lambda module, args: (args[0].contiguous(),))
    ours = segformer_b0(**small, **KNOBS)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, small["img_size"], small["img_size"])
    ours.train(), ref.train()
    torch.manual_seed(3)
    trained = ours(x)
    torch.manual_seed(3)
    torch.testing.assert_close(trained, ref(x).logits)
    ours.eval(), ref.eval()
    with torch.no_grad():
        assert not torch.allclose(trained, ours(x))  # something was dropped while training: the test can fail
        torch.testing.assert_close(ours(x), ref(x).logits)
    rate = 0.3
    theirs = hf_model("segformer_b0", small["num_classes"], depths=[2, 3, 1, 2], drop_path_rate=rate)
    mine = segformer_b0(**{**small, "depths": (2, 3, 1, 2)}, drop_path_rate=rate)
    hf_rates = [getattr(layer.drop_path, "drop_prob", 0.0) for stage in theirs.segformer.stages
                for layer in stage.blocks]  # fmt: skip
    assert [b.drop_path for s in mine.segformer.stages for b in s.blocks] == pytest.approx(hf_rates, rel=1e-6)
    assert hf_rates[-1] == pytest.approx(rate)
