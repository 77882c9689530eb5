"""The report names each written-out attention matmul by its role, `q@k^T` (it forms the scores) or
`attn@v` (it reads them), decided from the operands, wherever a spec writes `a @ b`: plain attention,
CaiT's talking heads (the scores mixed across heads before and after the softmax) and Perceiver's
cross-attention (512 latent queries against 224 * 224 = 50,176 pixel keys). Torch-free."""

from __future__ import annotations

import archgraph
from archgraph.ops.matmul import roles
from archgraph.report import render
from tests.conftest import ROOT
from tests.test_attention_written_out import ATTENTION
from tests.test_language import compile_text

# Two single-head blocks: with one head d equals the width, so the second block's q has the shape of
# the first block's `attn @ v` output, which must not make it an `attn@v`.
ONE_HEAD = """
block attn(x: [B, N, D]) {
    q, k, v = split_heads(qkv: linear(x, 3 * D), 1, parts = 3)
    a = softmax(q @ transpose(k, -2, -1), dim = -1)
    return x + proj: linear(merge_heads(a @ v), D)
}
model m(n = 8, d = 8) {
    input x: [B, n, d]
    return blocks: repeat 2 attn(x)
}
"""


def _roles_in_order(graph) -> list[str]:
    found = roles(graph)
    return [found[n.id] for n in graph.nodes.values() if n.id in found]


def test_scores_then_values(tmp_path):
    graph = compile_text(tmp_path, ATTENTION)
    assert _roles_in_order(graph) == ["q@k^T", "attn@v"]


def test_a_product_with_a_learned_tensor_has_no_role(tmp_path):
    text = "model m(n = 16, d = 32) {\n    input x: [B, n, d]\n    return x @ w: parameter([d, 64])\n}\n"
    assert roles(compile_text(tmp_path, text)) == {}


def test_one_head_blocks_in_a_row_keep_their_roles(tmp_path):
    assert _roles_in_order(compile_text(tmp_path, ONE_HEAD)) == ["q@k^T", "attn@v"] * 2


def test_report_rows_by_op_itemise_the_two_matmuls_with_their_share():
    """CaiT-XXS24 (timm cait_xxs24_224): 24 talking-heads blocks, 4 heads of 48 on 196 patches. Each
    product is heads * N * N * head_dim multiply-adds (the attention cost of Vaswani et al., section 4)."""
    data = archgraph.analyze(ROOT / "specs" / "cait.arch", "cait_xxs24_224")
    ops = {row["op"]: row for row in data["by_op"]}
    assert "matmul" not in ops
    for role in ("q@k^T", "attn@v"):
        assert ops[role]["count"] == 24
        assert ops[role]["macs"] == 24 * 4 * 196 * 196 * 48
        assert ops[role]["attention_flops"] == ops[role]["flops"]
    text = render(data, "table", "op")
    assert "q@k^T" in text and "attn@v" in text


def test_perceiver_cross_attention_is_queries_times_keys():
    """Perceiver (Jaegle et al. 2021): 512 latents attend to 50,176 pixels with one head of 261 channels;
    scores and values each cost 512 * 50176 * 261 multiply-adds, linear in the pixels."""
    data = archgraph.analyze(ROOT / "specs" / "perceiver.arch", "perceiver_unshared", depth=6)
    rows = [r for r in data["nodes"] if r["path"] == "blocks.0.cross_attend.attention.self.matmul"]
    assert [r["role"] for r in rows] == ["q@k^T", "attn@v"]
    for r in rows:
        assert r["scores"] == {"queries": 512, "keys": 224 * 224}
        assert r["macs"] == 512 * 224 * 224 * 261
    kinds = [r["kind"] for r in data["rows"] if r["layer"] == "blocks.0.cross_attend.attention.self.matmul"]
    assert kinds == ["q@k^T", "attn@v"]
    assert "Nq·Nk 512x50176" in render(data, "table", "node")
