"""The Transformer of Vaswani et al. 2017 (archgraph/std/seq2seq.arch, specs/transformer_*.arch) against
torch.nn.Transformer: its state_dict loaded with strict=True (keys such as
`encoder.layers.0.self_attn.in_proj_weight`, the final `encoder.norm` / `decoder.norm` included), equal
outputs with a causal mask and key padding masks at a reduced size, exact parameter counts at full size,
and analytic FLOPs equal to FlopCounterMode on the generated module.

Counts: /work/shared/reference/architectures.md section 1 ("Our recount": nn.Transformer's stacks base
44,140,544 and big 176,361,472; the paper's full model with tied embeddings, no final norms, for V=37000:
base 63,082,496 and big 214,245,376). The paper's Table 3 says 65M / 213M; README explains the gap.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import archgraph  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.torch.tiny import counted  # noqa: E402

STD = ROOT / "archgraph" / "std" / "seq2seq.arch"
SMALL = {"d_model": 32, "nhead": 4, "num_encoder_layers": 2, "num_decoder_layers": 2, "dim_feedforward": 64}


@pytest.mark.parametrize(("d_model", "nhead", "dim_ff", "expected"),
                         [(512, 8, 2048, 44_140_544), (1024, 16, 4096, 176_361_472)])  # fmt: skip
def test_stack_parameters_equal_nn_transformer(d_model, nhead, dim_ff, expected):
    ref = torch.nn.Transformer(d_model, nhead, 6, 6, dim_ff, batch_first=True, device="meta")
    sizes = {"d_model": d_model, "nhead": nhead, "dim_feedforward": dim_ff}
    ours = archgraph.build(STD, "transformer_stacks", device="meta", **sizes)
    assert archgraph.analyze(STD, "transformer_stacks", **sizes)["params"] == expected
    assert sum(p.numel() for p in ref.parameters()) == sum(p.numel() for p in ours.parameters()) == expected
    assert {k: v.shape for k, v in ref.state_dict().items()} == {k: v.shape for k, v in ours.state_dict().items()}


@pytest.mark.parametrize(("spec", "expected"), [("transformer_base", 63_082_496), ("transformer_big", 214_245_376)])
def test_full_model_parameters_equal_the_reference_recount(spec, expected):
    """Tied embeddings (one [37000, D] matrix), no final norms (post-LN, as the paper), sinusoidal PE: 0."""
    data = archgraph.analyze(ROOT / "specs" / "transformer.arch", spec)
    assert data["params"] == expected
    assert set(data["memory"]["buffers"]) == {"src_pos", "tgt_pos"}


def _inputs(batch: int = 3, src_len: int = 7, tgt_len: int = 5, d_model: int = 32):
    torch.manual_seed(1)
    src, tgt = torch.randn(batch, src_len, d_model), torch.randn(batch, tgt_len, d_model)
    src_mask = torch.zeros(batch, src_len, dtype=torch.bool)
    tgt_mask = torch.zeros(batch, tgt_len, dtype=torch.bool)
    src_mask[1, -3:] = True  # padded source positions: hidden from self- and cross-attention
    src_mask[2, -1:] = True
    tgt_mask[1, -2:] = True  # padded target positions (at the end, so every causal row keeps a key)
    return src, tgt, src_mask, tgt_mask


def test_stacks_load_nn_transformer_and_match_it_with_masks():
    torch.manual_seed(0)
    ref = torch.nn.Transformer(**SMALL, dropout=0.0, batch_first=True)
    with torch.no_grad():  # norms and biases away from their init, so each one matters
        for name, p in ref.named_parameters():
            if p.dim() == 1:
                p.normal_(mean=1.0 if "norm" in name else 0.0, std=0.1)
    ours = archgraph.build(STD, "transformer_stacks", src_len=7, tgt_len=5, **SMALL).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    src, tgt, src_mask, tgt_mask = _inputs()
    causal = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.bool)  # true: not attended
    # grad enabled: nn.Transformer's inference fast path (nested tensors, zeros at padded positions) stays off
    expected = ref(src, tgt, tgt_mask=causal, src_key_padding_mask=src_mask, tgt_key_padding_mask=tgt_mask,
                   memory_key_padding_mask=src_mask, tgt_is_causal=True)  # fmt: skip
    with torch.no_grad():
        torch.testing.assert_close(ours(src, tgt, src_mask, tgt_mask), expected.detach())


def test_flops_equal_flop_counter_mode_on_the_generated_module():
    graph = archgraph.load_graph(STD, "transformer_stacks", overrides={"src_len": 7, "tgt_len": 5, **SMALL})
    src, tgt, src_mask, tgt_mask = _inputs()
    _, flops = counted(archgraph.build(graph), src, tgt, src_mask, tgt_mask, math_sdpa=True)
    assert flops == 3 * archgraph.analyze(STD, "transformer_stacks", src_len=7, tgt_len=5, **SMALL)["flops"]


def test_full_model_flops_equal_flop_counter_mode():
    """Token ids in, tied logits out: embeddings (a gather) cost 0, the tied projection 2*T*D*V per sample."""
    spec = ROOT / "specs" / "transformer.arch"
    small = {"vocab": 50, "d_model": 32, "num_heads": 4, "dim_ff": 64, "num_layers": 2, "src_len": 7, "tgt_len": 5}
    model = archgraph.build(spec, **small)
    src, tgt = torch.randint(0, 50, (3, 7)), torch.randint(0, 50, (3, 5))
    _, _, src_mask, tgt_mask = _inputs()
    out, flops = counted(model, src, tgt, src_mask, tgt_mask, math_sdpa=True)
    assert out.shape == (3, 5, 50) and torch.isfinite(out).all()
    assert flops == 3 * archgraph.analyze(spec, **small)["flops"]


def _closed_form_flops(d: int, dim_ff: int, layers: int = 6, tokens: int = 128, vocab: int = 37000) -> int:
    """Matmul FLOPs per sequence of the paper's model, T source and T target tokens: per token and layer,
    attention 8·d² (q, k, v, out) + 4·T·d (scores, weighted sum), the FFN 4·d·dim_ff; the decoder has
    two attentions; the tied output projection 2·d·V; embeddings (a gather) 0."""
    attention, ffn = 8 * d * d + 4 * tokens * d, 4 * d * dim_ff
    return tokens * (layers * (attention + ffn) + layers * (2 * attention + ffn) + 2 * d * vocab)


@pytest.mark.parametrize(("spec", "flops", "d", "dim_ff"),
                         [("transformer_base", 16_727_932_928, 512, 2048),
                          ("transformer_big", 56_004_444_160, 1024, 4096)])  # fmt: skip
def test_full_size_flops_equal_flop_counter_mode_on_meta(spec, flops, d, dim_ff):
    """128 source and 128 target tokens, batch 1; on `meta` FlopCounterMode counts SDPA (pytorch#195460).
    `flops` is also the closed form of the paper's sizes (Table 3: d_model, d_ff, N = 6)."""
    assert _closed_form_flops(d, dim_ff) == flops
    model = archgraph.build(ROOT / "specs" / "transformer.arch", spec, device="meta")
    ids = torch.empty(1, 128, dtype=torch.int64, device="meta")
    masks = torch.empty(1, 128, dtype=torch.bool, device="meta")
    _, counted_flops = counted(model, ids, ids, masks, masks)
    assert archgraph.analyze(ROOT / "specs" / "transformer.arch", spec)["flops"] == counted_flops == flops
