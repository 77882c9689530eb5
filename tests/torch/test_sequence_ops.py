"""Sequence models' language: typed inputs (i64 ids, bool masks), `embedding`, the fixed sinusoidal
encoding as a buffer, key-padding and causal masks in `sdpa`, named outputs.

The references are independent: the encoding's formula from Vaswani et al. 2017, section 3.5
(also the lecture), evaluated here with `math`; attention against torch.nn.MultiheadAttention
(its own masking code), with the weights copied across.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

import archgraph  # noqa: E402
from archgraph.cost import totals  # noqa: E402
from archgraph.report import report_data  # noqa: E402
from tests.test_language import compile_text  # noqa: E402
from tests.torch.tiny import counted  # noqa: E402

SPEC = """
model seq(vocab = 50, d_model = 16, heads = 2, seq = 7, causal = false) {
    input src: i64[B, seq]
    input src_mask: bool[B, seq]
    x = embed: embedding(src, vocab, d_model) * d_model ** 0.5
    x = x + pos: sine_position(seq, d_model)
    q, k, v = split_heads(in_proj: linear(x, 3 * d_model), heads, parts = 3)
    h = merge_heads(sdpa(q, k, v, key_padding_mask = src_mask, causal = causal))
    return hidden = out_proj: linear(h, d_model), embedded = x
}
"""


def _build(tmp_path, **overrides):
    graph = compile_text(tmp_path, SPEC, **overrides)
    torch.manual_seed(0)
    return graph, archgraph.build(graph).eval()


def _batch(seq: int = 7):
    src = torch.randint(0, 50, (3, seq))
    mask = torch.zeros(3, seq, dtype=torch.bool)
    mask[1, -2:] = True  # sample 1 has two padded positions at the end, sample 2 one
    mask[2, -1] = True
    return src, mask


def test_inputs_keep_their_dtype_and_outputs_their_names(tmp_path):
    graph = compile_text(tmp_path, SPEC)
    assert [str(graph.type_of(v)) for _, v in graph.inputs] == ["i64[B,7]", "bool[B,7]"]
    data = report_data(graph)
    assert data["outputs"] == {"hidden": "f32[B,7,16]", "embedded": "f32[B,7,16]"}
    assert data["memory"]["buffers"] == {"pos": 7 * 16}


def test_sine_position_is_the_papers_formula_and_a_buffer_only(tmp_path):
    _, model = _build(tmp_path)
    pe = model.pos()
    d = 16
    for pos in (0, 1, 5):
        for i in range(d // 2):  # PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...)
            angle = pos / 10000 ** (2 * i / d)
            assert pe[0, pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[0, pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert not any(key.startswith("pos") for key in model.state_dict())
    assert sum(p.numel() for p in model.parameters()) == 50 * 16 + 3 * 16 * 17 + 16 * 17


@pytest.mark.parametrize("causal", [False, True])
def test_masked_attention_equals_multihead_attention(tmp_path, causal):
    """Key padding (true = padded, as nn.MultiheadAttention) and the causal mask, alone and together."""
    _, model = _build(tmp_path, causal=causal)
    mha = torch.nn.MultiheadAttention(16, 2, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(model.in_proj.weight)
        mha.in_proj_bias.copy_(model.in_proj.bias)
        mha.out_proj.weight.copy_(model.out_proj.weight)
        mha.out_proj.bias.copy_(model.out_proj.bias)
    src, mask = _batch()
    out = model(src, mask)
    assert list(out) == ["hidden", "embedded"]
    x = out["embedded"]
    causal_mask = torch.ones(7, 7, dtype=torch.bool).triu(1) if causal else None  # true: not attended
    expected, _ = mha(x, x, x, key_padding_mask=mask, attn_mask=causal_mask, need_weights=False)
    torch.testing.assert_close(out["hidden"], expected)


def test_flops_of_masked_attention_equal_flop_counter_mode(tmp_path):
    graph, model = _build(tmp_path, causal=True)
    src, mask = _batch()
    _, flops = counted(model, src, mask, math_sdpa=True)  # the CPU fused kernel counts 0
    assert flops == 3 * totals(graph).flops


SHARED = """
block layer(x: [B, N, D]) {
    return norm: layer_norm(x + fc: linear(x, D), eps = 1e-5)
}

model iterated(dim = 16, n = 4) {
    input x: [B, 5, dim]
    return blocks: repeat n shared layer(x)
}
"""


def test_a_shared_repeat_is_one_module_applied_n_times(tmp_path):
    """Perceiver-style weight sharing: parameters counted once, FLOPs n times (FlopCounterMode agrees)."""
    graph = compile_text(tmp_path, SHARED)
    model = archgraph.build(graph).eval()
    assert totals(graph).params == sum(p.numel() for p in model.parameters()) == 16 * 17 + 2 * 16
    assert list(model.state_dict()) == ["blocks.fc.weight", "blocks.fc.bias", "blocks.norm.weight", "blocks.norm.bias"]
    x = torch.randn(2, 5, 16)
    y = x
    w, b = model.blocks.fc.weight, model.blocks.fc.bias
    for _ in range(4):  # the same weights each time, written out with torch's functions
        y = torch.nn.functional.layer_norm(y + y @ w.T + b, (16,), model.blocks.norm.weight, model.blocks.norm.bias)
    out, flops = counted(model, x)
    torch.testing.assert_close(out, y)
    assert flops == 2 * totals(graph).flops == 2 * 4 * 2 * 5 * 16 * 16


def test_a_shared_repeat_can_be_tapped(tmp_path):
    graph = compile_text(tmp_path, SHARED.replace("return blocks: repeat n shared layer(x)",
                                                  "y = blocks: repeat n shared layer(x)\n    return blocks[1], y"))  # fmt: skip
    model = archgraph.build(graph).eval()
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        first, last = model(x)
        torch.testing.assert_close(first, model.blocks(model.blocks(x)))
        torch.testing.assert_close(last, model.blocks(model.blocks(first)))


def test_a_block_holding_a_shared_repeat_keeps_it_shared_in_every_instance(tmp_path):
    """The second call of a block is a copy of the first (lowering.instances): its repeat stays shared."""
    text = SHARED.replace(
        "model iterated",
        "block tower(x: [B, N, D]) {\n    return blocks: repeat 3 shared layer(x)\n}\n\nmodel iterated",
    )
    text = text.replace("return blocks: repeat n shared layer(x)", "return b: tower(a: tower(x))")
    graph = compile_text(tmp_path, text)
    model = archgraph.build(graph)
    assert totals(graph).params == sum(p.numel() for p in model.parameters()) == 2 * (16 * 17 + 2 * 16)
    assert [s.shared for s in graph.root.walk() if s.kind == "repeat"] == [True, True]
