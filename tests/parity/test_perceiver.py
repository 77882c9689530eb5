"""Perceiver (specs/perceiver.arch, archgraph/std/perceiver.arch) against the reference recount and
Hugging Face's PerceiverForImageClassificationFourier (random init, no download).

Counts: /work/shared/reference/architectures.md section 11 ("Our recount"): the paper's model with its
weight sharing 44,912,254 (Tables 6 and 7: 44.9M), with none 326,241,856 (Table 7: 326.2M); Perceiver IO config A, HF's Fourier classifier with 512
latents of 1024, 8 blocks of 6, 48,440,627 (Perceiver IO Table 7: 48.4M); per cross-attend 2,776,395
parameters and about 21.6 GMACs, per latent layer 6,301,696 and about 3.76 GMACs.

HF keys differ in one segment: HF's encoder loops a ModuleList of 6 layers 8 times
(`encoder.self_attends.0`), ours is `self_attends: repeat 8 shared latent_transformer(...)`, whose
one module holds its layers under the block's own repeat (`encoder.self_attends.layers.0`); a
shared repeat's iterations cannot be numbered children of the repeat itself. Every other key is HF's.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import archgraph  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.torch.tiny import counted  # noqa: E402

SPEC = ROOT / "specs" / "perceiver.arch"
# a reduced model: 16 x 16 pixels (HF keeps 64 bands and max resolution 224: 261 input channels)
SMALL = {"img_size": 16, "num_latents": 8, "embed_dim": 32, "num_blocks": 2, "depth": 2, "num_heads": 4,
         "num_classes": 10}  # fmt: skip


def _hf(**sizes):
    config = transformers.PerceiverConfig(
        num_latents=sizes.get("num_latents", 512), d_latents=sizes.get("embed_dim", 1024),
        num_blocks=sizes.get("num_blocks", 8), num_self_attends_per_block=sizes.get("depth", 6),
        num_self_attention_heads=sizes.get("num_heads", 8), num_cross_attention_heads=1,
        num_labels=sizes.get("num_classes", 1000), image_size=sizes.get("img_size", 224),
    )  # fmt: skip
    return transformers.PerceiverForImageClassificationFourier(config)


def _hf_keys(state: dict) -> dict:
    return {k.replace(".self_attends.", ".self_attends.layers."): v for k, v in state.items()}


@pytest.mark.parametrize(("model", "expected"), [("perceiver", 44_912_254), ("perceiver_unshared", 326_241_856),
                                                 ("perceiver_io_fourier", 48_440_627)])  # fmt: skip
def test_parameters_equal_the_reference_recount(model, expected):
    assert archgraph.analyze(SPEC, model)["params"] == expected
    ours = archgraph.build(SPEC, model, device="meta")
    assert sum(p.numel() for p in ours.parameters()) == expected


def test_perceiver_io_has_hf_parameters_and_shapes():
    with torch.device("meta"):
        ref = _hf()
    ours = archgraph.build(SPEC, "perceiver_io_fourier", device="meta")
    assert sum(p.numel() for p in ref.parameters()) == 48_440_627
    assert {k: v.shape for k, v in _hf_keys(ref.state_dict()).items()} == {
        k: v.shape for k, v in ours.state_dict().items()
    }


def test_perceiver_io_loads_hf_strictly_and_gives_its_logits():
    torch.manual_seed(0)
    ref = _hf(**SMALL).eval()
    with torch.no_grad():  # norms and biases away from their init, so each one matters
        for name, p in ref.named_parameters():
            if p.dim() == 1:
                p.normal_(mean=1.0 if "norm" in name else 0.0, std=0.1)
    ours = archgraph.build(SPEC, "perceiver_io_fourier", **SMALL).eval()
    ours.load_state_dict(_hf_keys(ref.state_dict()), strict=True)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(pixel_values=x).logits)


def test_fourier_features_equal_hf_at_224():
    """2 + 2 * 2 * 64 = 258 channels per pixel, [y, x, sin, cos] in HF's order, a buffer outside state_dict."""
    from transformers.models.perceiver.modeling_perceiver import PerceiverFourierPositionEncoding

    ref = PerceiverFourierPositionEncoding(num_bands=64, max_resolution=(224, 224))
    expected = ref([224, 224], batch_size=1, device="cpu", dtype=torch.float32)
    ours = archgraph.build(SPEC, "perceiver_unshared", device="meta").input_preprocessor.position_embeddings
    assert "pe" not in ours.state_dict() and tuple(ours.pe.shape) == (1, 224 * 224, 258)
    built = type(ours)(224, 224, 64, 224)
    torch.testing.assert_close(built(), expected)


def _small(model: str) -> dict:
    return {k: v for k, v in SMALL.items() if k != "num_blocks"} if model == "perceiver" else SMALL


@pytest.mark.parametrize("model", ["perceiver", "perceiver_unshared", "perceiver_io_fourier"])
def test_flops_equal_flop_counter_mode(model):
    """The written-out attention (`q @ k^T`, `attn @ v`) and every linear, at the reduced size."""
    torch.manual_seed(0)
    _, flops = counted(archgraph.build(SPEC, model, **_small(model)), torch.randn(3, 3, 16, 16))
    assert flops == 3 * archgraph.analyze(SPEC, model, overrides=_small(model))["flops"]  # `depth=` alone: rows


def test_shared_perceiver_is_the_unshared_one_with_tied_weights():
    """The paper's sharing: cross-attend 1 its own, cross-attends 2-8 one set, the 8 latent Transformers one
    set. The unshared model given those weights (copied block by block) computes the same logits."""
    torch.manual_seed(0)
    shared = archgraph.build(SPEC, "perceiver", **_small("perceiver")).eval()
    unshared = archgraph.build(SPEC, "perceiver_unshared", **{**SMALL, "num_blocks": 8}).eval()
    state = {}
    for key, value in shared.state_dict().items():
        for i in range(8):
            if key.startswith("latent_transformer."):
                state[f"blocks.{i}.{key}"] = value
            elif key.startswith("cross_attend_1." if i == 0 else "cross_attend."):
                state[f"blocks.{i}.cross_attend.{key.partition('.')[2]}"] = value
        if not key.startswith(("latent_transformer.", "cross_attend")):
            state[key] = value
    unshared.load_state_dict(state, strict=True)
    assert sum(p.numel() for p in unshared.parameters()) > sum(p.numel() for p in shared.parameters())
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(shared(x), unshared(x))  # `depth=` alone is the rows'


def test_paper_flops_decomposition():
    """Appendix B counts multiplies and adds apart (2 x MACs): 8 cross-attends of about 21.6 GMACs, 48
    latent layers of about 3.76 GMACs: 707.2 GFLOPs in the paper, 706.28 G here (matmuls and linears)."""
    data = archgraph.analyze(SPEC, "perceiver_unshared", depth=3)
    rows = {r["layer"]: r for r in data["rows"]}
    cross, layer = rows["blocks.0.cross_attend"], rows["blocks.0.latent_transformer"]
    assert cross["params"] == 2_776_395 and round(cross["macs"] / 1e9, 1) == 21.6
    assert layer["params"] == 6 * 6_301_696 and round(layer["macs"] / 6 / 1e9, 2) == 3.76
    # the cross-attention's scores and values: 2 * 512 * 50176 * 261 MACs, linear in the 50,176 pixels
    assert cross["attention_flops"] == 2 * 2 * 512 * 224 * 224 * 261
    assert data["flops"] == 706_279_096_320 and abs(data["flops"] / 707.2e9 - 1) < 0.002
