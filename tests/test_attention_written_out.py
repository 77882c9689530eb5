"""Attention written out: `a @ b` (the `matmul` op), its N² accounting decided from the shapes,
and queries that are parameters (`expand_batch`). Torch-free; the generated modules are checked
against F.scaled_dot_product_attention and FlopCounterMode in tests/torch/test_attention_modules.py."""

from __future__ import annotations

from archgraph import syntax as s
from archgraph.cost import totals
from archgraph.parser import parse
from tests.test_language import compile_text, error_of

ATTENTION = """
model attn(n = 16, m = 16, d = 32, h = 4) {
    input x: [B, n, d]
    q = split_heads(wq: linear(x, d), h)                         # [B, h, n, d/h]
    k, v = split_heads(wkv: linear(x[:, 0:m], 2 * d), h, parts = 2)  # [B, h, m, d/h]
    a = softmax(q * (d // h) ** -0.5 @ transpose(k, -2, -1))     # [B, h, n, m]
    return proj: linear(merge_heads(a @ v), d)
}
"""


def _nodes(graph, op):
    return [node for node in graph.nodes.values() if node.op == op]


def test_at_binds_as_tightly_as_times_and_left_to_right():
    (model,) = parse("model m() { return a * b @ c @ d }").items
    expr = model.body[0].values[0]
    assert isinstance(expr, s.BinOp) and expr.op == "@"  # ((a * b) @ c) @ d
    assert expr.left.op == "@" and expr.left.left.op == "*"


def test_self_attention_scores_are_quadratic_terms(tmp_path):
    graph = compile_text(tmp_path, ATTENTION)
    qk, av = _nodes(graph, "matmul")
    assert str(qk.out) == "f32[B,4,16,16]" and str(av.out) == "f32[B,4,16,8]"
    # h * n * m * d/h multiply-adds each: 4 * 16 * 16 * 8
    assert qk.cost.macs == av.cost.macs == 4 * 16 * 16 * 8
    assert qk.cost.quadratic and av.cost.quadratic
    assert totals(graph).attention_flops == 2 * (qk.cost.macs + av.cost.macs)


def test_cross_attention_costs_queries_times_keys(tmp_path):
    """Perceiver-style: 4 queries against 16 keys cost 4 * 16 per head and channel, not 16 * 16."""
    graph = compile_text(tmp_path, ATTENTION, n=4, m=4)
    short = sum(node.cost.macs for node in _nodes(graph, "matmul"))
    text = ATTENTION.replace("input x: [B, n, d]", "input x: [B, 16, d]").replace(
        "linear(x, d), h)", "linear(x[:, 0:n], d), h)"
    )
    graph = compile_text(tmp_path, text, n=4, m=16)
    cross = sum(node.cost.macs for node in _nodes(graph, "matmul"))
    assert cross == 2 * 4 * 4 * 16 * 8 and cross == 4 * short


def test_a_product_with_a_learned_tensor_is_a_linear_map_not_an_n2_term(tmp_path):
    text = """
model m(n = 16, d = 32) {
    input x: [B, n, d]
    return x @ w: parameter([d, 64])
}
"""
    (node,) = _nodes(compile_text(tmp_path, text), "matmul")
    assert str(node.out) == "f32[B,16,64]" and node.cost.macs == 16 * 32 * 64 and not node.cost.quadratic


def test_leading_axes_broadcast(tmp_path):
    text = """
model m(n = 8, d = 16) {
    input x: [B, 2, n, d]
    return x @ transpose(p: parameter([1, 1, n, d]), -2, -1)
}
"""
    (node,) = _nodes(compile_text(tmp_path, text), "matmul")
    assert str(node.out) == "f32[B,2,8,8]"


def test_inner_dims_that_differ_are_a_shape_error(tmp_path):
    text = "model m() {\n    input x: [B, 8, 16]\n    return x @ x\n}\n"
    message = error_of(tmp_path, text)
    assert "shape error" in message and "inner dimensions differ" in message and "16 against 8" in message


def test_queries_that_are_parameters_are_expanded_over_the_batch(tmp_path):
    text = """
block cross(q: [B, T, D], x: [B, N, D]) {
    o = merge_heads(sdpa(split_heads(wq: linear(q, D), 2), split_heads(wk: linear(x, D), 2),
                         split_heads(wv: linear(x, D), 2)))
    return q + o
}
model m(n = 16, d = 32, latents = 4) {
    input x: [B, n, d]
    q = expand_batch(latents: parameter([1, latents, d]), x)
    return layers: repeat 3 cross(q, x)
}
"""
    graph = compile_text(tmp_path, text)
    (expand,) = _nodes(graph, "expand_batch")
    assert str(expand.out) == "f32[B,4,32]"
    (sdpa, *_) = _nodes(graph, "sdpa")
    assert sdpa.cost.macs == 2 * 2 * 4 * 16 * 16  # q@k^T + attn@v: heads * latents * n * head_dim, twice


def test_fvcore_counts_a_matmul_by_its_left_operand(tmp_path):
    """fvcore/nn/jit_handles.py matmul_flop_jit: prod(left shape) * m; a broadcast left operand counts once."""
    from archgraph.conventions import CONVENTIONS

    text = """
model m(n = 8, d = 16) {
    input x: [B, 2, d, n]
    return transpose(p: parameter([1, 1, n, d]), -2, -1) @ transpose(x, -2, -1) @ x
}
"""
    graph = compile_text(tmp_path, text)
    first, second = _nodes(graph, "matmul")
    fvcore = CONVENTIONS["fvcore"]
    assert fvcore.count(graph, first) == (1 * 1 * 16 * 8) * 16  # left [1, 1, 16, 8], right [B, 2, 8, 16]
    assert fvcore.count(graph, second) == second.cost.macs == 2 * 16 * 16 * 8
