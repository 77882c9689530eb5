"""The language end to end without torch: what parses, what checks, how it lowers.

Small specs are written inline; `compile_text` runs parse -> check -> lower.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

import archgraph
from archgraph import resolution
from archgraph.check import check
from archgraph.errors import SpecError
from archgraph.ir import verify
from archgraph.loader import load
from archgraph.lower import lower
from archgraph.parser import parse
from archgraph.scalars import describe

LIB = """
block mlp(x: [B, N, dim], hidden) {
    x = fc1: linear(x, hidden)
    return fc2: linear(gelu(x), dim)
}
"""


def compile_text(tmp_path, text: str, model: str | None = None, **overrides):
    path = tmp_path / "spec.arch"
    path.write_text(text)
    program = load(path)
    check(program)
    name = model or program.own[-1]
    graph = lower(program, name, overrides)
    verify(graph)
    return graph


def error_of(tmp_path, text: str, **overrides) -> str:
    with pytest.raises(SpecError) as info:
        compile_text(tmp_path, text, **overrides)
    return info.value.render()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only a comment\n",
        'import "lib.arch"',
        "block b(x) { return x }",
        'block b(x: tensor, n: int = 3, r: float = 0.5, f: bool = true, s: str = "a") { return x }',
        'block b(x: [B, N, C]) { require C % 2 == 0, "even" return x[:, 1:, :] }',
        'model m(a = 1) { """doc""" input x: [B, 3] return x }',
        "model v = m(a = 2)",
        'model v = m(a = 2) "one-line doc"',
        "block b(x) { q, k, v = split_heads(x, 2, parts = 3) return q }",
        "block b(x) { if a > 1 and not c { x = x } else if d { x = -x } else { x = x * 2 } return x }",
        "block b(x) { stages: repeat 4 as i { x = f(x, i) } return stages[3] }",
        "block b(x) { x = blocks: repeat depth f(x, 2 ** 3 // 2) return x }",
        "block b(x) { return (x + 1) / 2 }",
    ],
)
def test_accepted(text):
    parse(text, "t.arch")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("block b(x { return x }", "expected"),
        ("block b(x) { return x ", "found end of file"),
        ("model m() { x = 3 $ }", "unexpected character `$`"),
        ("block b(x) { x = = 3 }", "found `=`"),
        ("model v m(a = 1)", "expected"),
    ],
)
def test_rejected_with_a_syntax_error(text, expected):
    with pytest.raises(SpecError) as info:
        parse(text, "t.arch")
    assert info.value.diagnostics[0].kind == "syntax error"
    assert expected in info.value.render()


def test_all_name_errors_reported_at_once(tmp_path):
    text = LIB + "model m(d = 8) { input x: [B, 4, d] x = mlpp(x, 16) y = linaer(x, 3) return zz }"
    rendered = error_of(tmp_path, text)
    assert "unknown op or block `mlpp`; did you mean `mlp`?" in rendered
    assert "unknown op or block `linaer`; did you mean `linear`?" in rendered
    assert "`zz` is not defined" in rendered


def test_error_points_at_the_span_with_a_caret(tmp_path):
    rendered = error_of(tmp_path, "model m() {\n  input x: [B, 4, 8]\n  return lineer(x, 3)\n}\n")
    lines = rendered.splitlines()
    assert lines[0].endswith("spec.arch:3:10: name error: unknown op or block `lineer`; did you mean `linear`?")
    assert lines[1] == " 3 |   return lineer(x, 3)"
    assert lines[2] == "   |          ^~~~~~"


def test_require_failure_shows_message_and_values(tmp_path):
    text = 'model m(dim = 100, heads = 12) { require dim % heads == 0, "dim must divide" input x: [B, dim] return x }'
    rendered = error_of(tmp_path, text)
    assert "requirement failed: dim must divide" in rendered
    assert "with dim = 100, heads = 12" in rendered


def test_fractional_width_is_an_error_not_a_floor(tmp_path):
    rendered = error_of(tmp_path, LIB + "model m(r = 2.5) { input x: [B, 5, 3] return mlp(x, 3 * r) }")
    assert "argument `out_features` of `linear`: expected an integer, found 7.5, which is not whole" in rendered
    assert "in block `mlp`, called here" in rendered


def test_shape_mismatch_names_both_shapes(tmp_path):
    rendered = error_of(tmp_path, "model m() { input x: [B, 4, 8] y = linear(x, 6) return x + y }")
    assert "shape error: `add`: shapes f32[B,4,8] and f32[B,4,6] do not broadcast: 8 against 6" in rendered


def test_variant_and_overrides_resolve_in_order(tmp_path):
    text = LIB + "model m(d = 8, h = 16) { input x: [B, 4, d] return mlp(x, h) }\nmodel v = m(h = 32)"
    graph = compile_text(tmp_path, text, model="v", d=16)
    assert graph.params == {"d": 16, "h": 32}
    assert graph.type_of(graph.outputs[0]).dims == ("B", 4, 16)


def test_paths_follow_labels_and_repeats(tmp_path):
    text = LIB + "model m() { input x: [B, 4, 8] x = blocks: repeat 3 mlp(x, 16) return head: linear(x, 2) }"
    graph = compile_text(tmp_path, text)
    paths = [n.path for n in graph.nodes.values() if n.params]
    assert paths == [f"blocks.{i}.{layer}" for i in range(3) for layer in ("fc1", "fc2")] + ["head"]


def test_graph_nodes_carry_everything_and_export_to_networkx(tmp_path):
    text = LIB + "model m() { input x: [B, 4, 8] h = mlp(x, 16) return x + h }"
    graph = compile_text(tmp_path, text)
    g = graph.to_networkx()
    add = next(n for n in graph.nodes.values() if n.op == "add")
    # inputs in order, kept on the edges as ports
    ports = sorted((d["port"], u) for u, _, d in g.in_edges(add.id, data=True))
    assert [u for _, u in ports] == [v.node for v in add.inputs]
    fc1 = next(n for n in graph.nodes.values() if n.path == "mlp.fc1")
    assert g.nodes[fc1.id]["params"] == 8 * 16 + 16
    assert g.nodes[fc1.id]["flops"] == 2 * 4 * 8 * 16
    assert g.nodes[fc1.id]["shape"] == "f32[B,4,16]"
    assert g.nodes[fc1.id]["span"].endswith(":3:9")


def test_attention_is_itemised(tmp_path):
    text = (
        "model m() { input x: [B, 10, 8]\n qkv = qkv: linear(x, 24)\n q, k, v = split_heads(qkv, 2, parts = 3)\n"
        " return proj: linear(merge_heads(sdpa(q, k, v)), 8) }"
    )
    graph = compile_text(tmp_path, text)
    sdpa = next(n for n in graph.nodes.values() if n.op == "sdpa")
    assert [name for name, _, _ in sdpa.cost.terms] == ["q@k^T", "softmax", "attn@v"]
    # 2*B*h*N^2*d each for q@k^T and attn@v: h = 2, N = 10, d = 4
    assert sdpa.cost.terms[0][1] * 2 == 2 * 2 * 10 * 10 * 4
    assert sdpa.cost.quadratic and sdpa.cost.flops == 2 * (2 * 2 * 10 * 10 * 4)


def test_taps_read_iteration_outputs(tmp_path):
    text = LIB + "model m() { input x: [B, 4, 8] y = blocks: repeat 4 mlp(x, 16) return blocks[1], y }"
    graph = compile_text(tmp_path, text)
    blocks = graph.root.items[-1]
    assert blocks.taps == [1]
    assert graph.nodes[graph.outputs[0].node].path == "blocks.1.fc2"


def test_tap_beyond_depth_is_an_error(tmp_path):
    text = LIB + "model m() { input x: [B, 4, 8] y = blocks: repeat 4 mlp(x, 16) return blocks[4] }"
    assert "`blocks` has 4 iterations (0 to 3), found index 4" in error_of(tmp_path, text)


def test_group_repeat_carries_names_and_indexes(tmp_path):
    text = "model m() { input x: [B, 4, 8]\n stages: repeat 3 as i { x = proj: linear(x, 8 * (i + 1)) }\n return x }"
    graph = compile_text(tmp_path, text)
    widths = [n.out.dims[-1] for n in graph.nodes.values() if n.op == "linear"]
    assert widths == [8, 16, 24]
    assert [n.path for n in graph.nodes.values() if n.op == "linear"] == ["stages.0.proj", "stages.1.proj",
                                                                           "stages.2.proj"]  # fmt: skip


def test_repeat_limits(tmp_path):
    assert "a repeat count must lie in 0..4096, found 1,000,000,000" in error_of(
        tmp_path, LIB + "model m() { input x: [B, 4, 8] return blocks: repeat 1000000000 mlp(x, 16) }"
    )


def test_duplicate_labels_and_definitions(tmp_path):
    rendered = error_of(tmp_path, "block b(x) { return x }\nblock b(y) { return y }")
    assert "`b` is defined twice" in rendered
    rendered = error_of(tmp_path, "model m() { input x: [B, 8] x = fc: linear(x, 8) return fc: linear(x, 8) }")
    assert "label `fc` is used twice in `m`" in rendered


def test_recursion_is_bounded(tmp_path):
    rendered = error_of(tmp_path, "block b(x) { return b(x) }\nmodel m() { input x: [B, 8] return b(x) }")
    assert "blocks nest more than 64 deep" in rendered


TAPPED = """
block blk(x: [B, N, d]) {
    return fc: linear(x, d)
}
model m() {
    input x: [B, 4, 8]
    x = blocks: repeat 3 blk(x)
    stages: repeat 2 as i { x = x + blocks[0] + blocks[1] }
    return x
}
"""


def test_group_repeat_reading_two_taps_compiles(tmp_path):
    # regression: both taps were named `h`, and the generated `forward(self, x, h, h)` did not compile
    path = tmp_path / "spec.arch"
    path.write_text(TAPPED)
    graph = compile_text(tmp_path, TAPPED)
    iteration = graph.root.items[-1].items[0]
    assert iteration.input_names == ["x", "blocks_0", "blocks_1"]
    compile(archgraph.generate_source(path), "generated.py", "exec")


def test_outer_values_read_in_a_group_repeat_get_distinct_names(tmp_path):
    head = TAPPED.split("model")[0] + "model m() { input x: [B, 4, 8]\n y = blocks: repeat 2 blk(x)\n"
    # a tap that is also a spec variable takes the variable's name
    graph = compile_text(tmp_path, head + " stages: repeat 2 as i { x = x + blocks[1] }\n return x }")
    assert graph.root.items[-1].items[0].input_names == ["x", "y"]
    # a tap's name never repeats a spec variable's
    body = " blocks_0 = x * 2\n stages: repeat 2 as i { x = x + blocks_0 + blocks[0] }\n return x }"
    graph = compile_text(tmp_path, head + body)
    assert graph.root.items[-1].items[0].input_names == ["x", "blocks_0", "blocks_0_1"]


def test_tensor_input_by_keyword(tmp_path):
    # regression: `layer_norm(x = x)` passed check, then lowering crashed with an internal error
    graph = compile_text(tmp_path, "model m() { input x: [B, 4, 8] return n: layer_norm(x = x, eps = 1e-5) }")
    norm = next(n for n in graph.nodes.values() if n.op == "layer_norm")
    assert norm.out.dims == ("B", 4, 8) and norm.attrs["eps"] == 1e-5 and norm.params == 16
    assert "argument `x` of `layer_norm` must be a tensor, found the number 3" in error_of(
        tmp_path, "model m() { input x: [B, 4, 8] return layer_norm(x = 3) }"
    )


def test_repeat_evaluates_its_other_arguments_once(tmp_path):
    # regression: the extra arguments were evaluated once per iteration in the outer scope
    lib = "block blk(x: [B, N, d], c) { return x + c }\n"
    graph = compile_text(
        tmp_path, lib + "model m() { input x: [B, 4, 8] return blocks: repeat 3 blk(x, layer_norm(x)) }"
    )
    assert [n.path for n in graph.nodes.values() if n.op == "layer_norm"] == ["layer_norm"]
    graph = compile_text(
        tmp_path, lib + "model m() { input x: [B, 4, 8] return blocks: repeat 3 blk(x, n: layer_norm(x)) }"
    )
    assert [n.path for n in graph.nodes.values() if n.op == "layer_norm"] == ["n"]
    graph = compile_text(
        tmp_path, lib + "model m() { input x: [B, 4, 8] return blocks: repeat 3 blk(x, c = layer_norm(x)) }"
    )
    assert len([n for n in graph.nodes.values() if n.op == "layer_norm"]) == 1


def test_fractional_attribute_quotes_its_own_expression(tmp_path):
    # regression: a variadic op's attribute note quoted a tensor argument
    text = "model m(d = 3) { input x: [B, 4, 8] return concat(x[:, 1:], x, d / 2) }"
    rendered = error_of(tmp_path, text)
    assert "argument `dim` of `concat`: expected an integer, found 3/2 (1.5), which is not whole; " in rendered
    assert "a whole number is needed" in rendered and "channels" not in rendered
    assert "note: `d / 2` = 3/2 (1.5) with d = 3" in rendered
    rendered = error_of(tmp_path, "model m(h = 3) { input x: [B, 4, 8] return split_heads(x, num_heads = h / 2) }")
    assert "argument `num_heads` of `split_heads`: expected an integer, found 3/2 (1.5)" in rendered
    assert "note: `h / 2` = 3/2 (1.5) with h = 3" in rendered


def test_a_list_shows_its_numbers_as_the_spec_writes_them(tmp_path):
    assert describe([Fraction(3, 2), 2, 0.5, True, "a"]) == 'the list [3/2 (1.5), 2, 0.5, true, "a"]'
    rendered = error_of(tmp_path, "model m() { input x: [B, 4, 8] return linear(x, [3 / 2]) }")
    assert "expected an integer, found the list [3/2 (1.5)]" in rendered


def test_a_tensor_where_a_number_is_needed(tmp_path):
    rendered = error_of(tmp_path, "model m() { input x: [B, 4, 8] return x[:, x + 1] }")
    assert "a tensor cannot be computed here; a number, boolean, string or list is needed" in rendered
    assert "parameter" not in rendered


def test_token_dependence_lets_internal_errors_through(tmp_path, monkeypatch):
    graph = compile_text(tmp_path, "model m(img_size = 8, patch_size = 4) { input x: [B, 4, img_size] return x }")
    program = load(tmp_path / "spec.arch")

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(resolution, "counted", broken)
    with pytest.raises(RuntimeError):
        resolution.token_dependence(program, "m", {}, graph)
