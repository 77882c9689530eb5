"""SETR (issue 5): parameter counts from the official code, logits at the input size, and a timm
ViT-L/16 checkpoint loaded into SETR-PUP at 512 with its position embedding resampled."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import archgraph  # noqa: E402
from tests.conftest import ROOT, reduced  # noqa: E402

SPEC = ROOT / "specs/setr.arch"  # the naive, PUP and MLA decoders' models
KINDS = ["mla", "naive", "pup"]

# ../shared/reference/architectures.md section 6: exact recount of the official code (fudan-zvg/SETR),
# inference graph (no auxiliary heads), T-Large, ADE20K 512x512, 150 classes.
INFERENCE = {"naive": 304_450_966, "pup": 308_319_894, "mla": 310_030_486}
# The paper's table (same section): auxiliary heads on, plus the unused 1x1 `conv_seg` (512 -> K) that
# mmseg 0.x's BaseDecodeHead builds in every head: main + 3 aux heads for Naive, main + 4 for PUP and MLA.
PAPER = {
    ("naive", "ade20k"): (305_669_296, 4),
    ("pup", "ade20k"): (318_307_292, 5),
    ("mla", "ade20k"): (310_568_836, 5),
    ("naive", "base"): (87_690_672, 4),
    ("pup", "base"): (97_641_180, 5),
    ("mla", "base"): (92_590_212, 5),
}


@pytest.mark.parametrize("kind", sorted(INFERENCE))
def test_inference_parameter_counts_equal_the_official_code(kind):
    assert archgraph.analyze(SPEC, f"setr_{kind}_ade20k")["params"] == INFERENCE[kind]


@pytest.mark.parametrize(("kind", "variant"), sorted(PAPER))
def test_paper_counts_are_aux_heads_plus_unused_conv_seg(kind, variant):
    paper, heads = PAPER[(kind, variant)]
    with_aux = archgraph.analyze(SPEC, f"setr_{kind}_{variant}", aux=True)["params"]
    conv_seg = 512 * 150 + 150  # Conv2d(512, K, 1) with bias
    assert with_aux + heads * conv_seg == paper


@pytest.mark.parametrize("kind", KINDS)
def test_logits_at_input_size_forward_and_backward(kind):
    name = f"setr_{kind}_ade20k"
    small = reduced(SPEC, name)
    model = archgraph.build(SPEC, name, **small)
    x = torch.randn(2, 3, small["img_size"], small["img_size"])
    out = model(x)
    assert out.shape == (2, small["num_classes"], small["img_size"], small["img_size"])
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_aux_heads_are_extra_outputs():
    name = "setr_pup_ade20k"
    small = reduced(SPEC, name, aux=True)
    outs = archgraph.build(SPEC, name, **small)(torch.randn(1, 3, small["img_size"], small["img_size"]))
    assert len(outs) == 5 and all(o.shape == outs[0].shape for o in outs)


class _StopError(Exception):
    pass


# ViT-L/16's 24 blocks, 16 px patches, 384 -> 512 px and its keys, at width 64 (the widths change no key,
# no resampling and no tap; the full-size counts are the official code's, above): 300 M parameters built
# twice and two ViT-L forwards at 1,025 tokens took most of this file's time
NARROW = {"embed_dim": 64, "num_heads": 2}


def test_timm_vit_large_384_checkpoint_loads_into_setr_pup_512():
    """Every encoder tensor loads, pos_embed is resampled 24x24 -> 32x32 as timm does, the decoder is new,
    and the tapped block outputs equal timm's VisionTransformer built at 512 with the same weights."""
    torch.manual_seed(0)
    source = timm.create_model("vit_large_patch16_384", pretrained=False, **NARROW).state_dict()
    model = archgraph.build(SPEC, "setr_pup_ade20k", **NARROW).eval()
    report = archgraph.load_pretrained(model, source, strict=False)  # a new decoder, timm's head unused
    assert report.resampled == [("pos_embed", (1, 577, 64), (1, 1025, 64))]
    assert sorted(report.unexpected) == ["head.bias", "head.weight", "norm.bias", "norm.weight"]
    assert not report.mismatched
    assert {k.split(".")[0] for k in report.missing} == {"decode_head"}
    assert len(report.loaded) == len(source) - 5  # all but pos_embed (resampled), norm and head

    ref = timm.create_model("vit_large_patch16_384", pretrained=False, img_size=512, **NARROW).eval()
    from timm.models.vision_transformer import checkpoint_filter_fn

    ref.load_state_dict(checkpoint_filter_fn(source, ref), strict=True)
    torch.testing.assert_close(model.pos_embed, ref.pos_embed)

    taps, wanted = {}, [9, 14, 19, 23]
    for i in wanted:
        model.blocks[i].register_forward_hook(lambda m, a, out, i=i: taps.__setitem__(i, out))

    def stop(module, args, out):
        raise _StopError

    model.blocks[23].register_forward_hook(stop)  # the encoder is what is compared; skip the decoder
    x = torch.randn(1, 3, 512, 512)
    with torch.no_grad(), pytest.raises(_StopError):
        model(x)
    with torch.no_grad():
        expected = ref.forward_intermediates(x, indices=wanted, norm=False, output_fmt="NLC", intermediates_only=True)
    for i, want in zip(wanted, expected, strict=True):
        torch.testing.assert_close(taps[i][:, 1:], want)  # timm's intermediates leave out the class token
