"""The generated code of attention written out with `@`: equal to F.scaled_dot_product_attention
(the `sdpa` op) on the same weights, and its analytic FLOPs equal to FlopCounterMode's count."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import archgraph  # noqa: E402
from tests.torch.tiny import counted  # noqa: E402

SPEC = """
model written(n = 16, m = 16, d = 32, h = 4) {
    input x: [B, n, d]
    q = split_heads(wq: linear(x, d), h)
    k, v = split_heads(wkv: linear(x[:, 0:m], 2 * d), h, parts = 2)
    a = softmax(q * (d // h) ** -0.5 @ transpose(k, -2, -1))
    return proj: linear(merge_heads(a @ v), d)
}
model fused(n = 16, m = 16, d = 32, h = 4) {
    input x: [B, n, d]
    q = split_heads(wq: linear(x, d), h)
    k, v = split_heads(wkv: linear(x[:, 0:m], 2 * d), h, parts = 2)
    return proj: linear(merge_heads(sdpa(q, k, v)), d)
}
"""


@pytest.mark.parametrize("m", [16, 5])  # self-attention, and 16 queries against 5 keys
def test_written_out_attention_equals_sdpa_and_flop_counter(tmp_path, m):
    path = tmp_path / "attn.arch"
    path.write_text(SPEC)
    torch.manual_seed(0)
    written = archgraph.build(path, "written", m=m).eval()
    fused = archgraph.build(path, "fused", m=m).eval()
    fused.load_state_dict(written.state_dict(), strict=True)
    x = torch.randn(3, 16, 32)
    out, flops = counted(written, x)
    with torch.no_grad():
        torch.testing.assert_close(out, fused(x))
    assert flops == archgraph.analyze(path, "written", batch=3, overrides={"m": m})["flops"]
    assert counted(fused, x, math_sdpa=True)[1] == flops  # the same multiply-adds, counted either way


MASKED = """
model masked(n = 6, d = 16, h = 2) {
    input x: [B, n, d]
    input mask: [B, 1, n, n]
    q, k, v = split_heads(qkv: linear(x, 3 * d), h, parts = 3)
    a = softmax(q * (d // h) ** -0.5 @ transpose(k, -2, -1) + mask)   # an additive mask (or a bias) on the scores
    return merge_heads(a @ v)
}
"""


def test_scores_take_an_additive_mask(tmp_path):
    path = tmp_path / "masked.arch"
    path.write_text(MASKED)
    torch.manual_seed(0)
    model = archgraph.build(path, "masked").eval()
    x = torch.randn(2, 6, 16)
    mask = torch.zeros(2, 1, 6, 6).masked_fill(torch.ones(6, 6, dtype=torch.bool).triu(1), float("-inf"))
    q, k, v = model.qkv(x).reshape(2, 6, 3, 2, 8).permute(2, 0, 3, 1, 4)
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(2, 6, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x, mask), want.detach())
