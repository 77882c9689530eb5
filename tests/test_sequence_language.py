"""The language of sequence models, without torch: typed inputs, optional tensor inputs, named
outputs, numbered labels, shared repeats (their graphs, costs and generated code)."""

from __future__ import annotations

import pytest

from archgraph.codegen import generate
from archgraph.cost import totals
from archgraph.report import report_data
from tests.test_language import compile_text, error_of

ATTN = """
model attn(d = 16, heads = 2, n = 6) {
    input x: [B, n, d]
    input mask: bool[B, n]
    q, k, v = split_heads(qkv: linear(x, 3 * d), heads, parts = 3)
    return merge_heads(CALL)
}
"""


@pytest.mark.parametrize(("call", "inputs", "causal"), [
    ("sdpa(q, k, v)", 3, False),
    ("sdpa(q, k, v, true)", 3, True),                       # a positional bool after q, k, v is `causal`
    ("sdpa(q, k, v, mask)", 4, False),                      # a positional tensor is the mask
    ("sdpa(q, k, v, mask, true)", 4, True),
    ("sdpa(q, k, v, true, key_padding_mask = mask)", 4, True),
    ("sdpa(q, k, v, key_padding_mask = mask, causal = true)", 4, True),
])  # fmt: skip
def test_an_optional_tensor_input_binds_by_position_or_name(tmp_path, call, inputs, causal):
    graph = compile_text(tmp_path, ATTN.replace("CALL", call))
    (node,) = [n for n in graph.nodes.values() if n.op == "sdpa"]
    assert len(node.inputs) == inputs and node.attrs["causal"] is causal
    assert node.cost.scores == (6, 6)


def test_inputs_carry_their_dtype_to_the_report(tmp_path):
    graph = compile_text(tmp_path, ATTN.replace("CALL", "sdpa(q, k, v, mask)"))
    assert report_data(graph)["input_shapes"] == {"x": "f32[B,6,16]", "mask": "bool[B,6]"}


def test_named_outputs_name_the_dict_the_forward_returns(tmp_path):
    text = "model m() { input x: [B, 4, 8]\n return logits = cls: linear(x, 3), boxes = box: linear(x, 4) }"
    graph = compile_text(tmp_path, text)
    assert graph.output_names == ("logits", "boxes")
    code = generate(graph, "spec.arch").replace('"', "'")  # the layout pass may requote
    assert "-> dict[str, torch.Tensor]:" in code and "return {'logits': self.cls(x), 'boxes': self.box(x)}" in code


def test_numbered_labels_are_keys_of_a_module_dict(tmp_path):
    text = "model m() { input x: [B, 4, 8]\n return layers.1: linear(layers.0: linear(x, 8), 8) }"
    graph = compile_text(tmp_path, text)
    assert [n.path for n in graph.nodes.values() if n.op == "linear"] == ["layers.0", "layers.1"]
    code = generate(graph, "spec.arch")
    assert "self.layers = nn.ModuleDict()" in code.replace(
        "'", '"'
    ) and "self.layers['1'](self.layers['0'](x))" in code.replace('"', "'")


def test_a_numbered_label_and_its_container_name_clash(tmp_path):
    text = "model m() { input x: [B, 4, 8]\n h = layers.0: linear(x, 8)\n return layers: linear(h, 8) }"
    assert "label `layers` and label `layers.0` both claim the attribute `layers`" in error_of(tmp_path, text)


SHARED = """
block mix(x: [B, N, D]) { return fc: linear(x, D) }
model m(n = 5) { input x: [B, 4, 8]\n return blocks: repeat n shared mix(x) }
"""


def test_a_shared_repeat_counts_its_weights_once_and_its_work_n_times(tmp_path):
    graph = compile_text(tmp_path, SHARED)
    assert totals(graph).params == 8 * 9
    assert totals(graph).macs == 5 * 4 * 8 * 8
    assert {n.path for n in graph.nodes.values() if n.op == "linear"} == {"blocks.fc"}
    code = generate(graph, "spec.arch")
    assert "self.blocks = Mix(" in code and "for _ in range(" in code and "x = self.blocks(x)" in code


def test_an_unshared_repeat_is_unchanged(tmp_path):
    graph = compile_text(tmp_path, SHARED.replace(" shared", ""))
    assert totals(graph).params == 5 * 8 * 9
    assert "blocks.4.fc" in {n.path for n in graph.nodes.values()}


def test_an_attribute_given_by_position_and_by_name_is_an_error(tmp_path):
    """`true` after q, k, v is `causal` (no mask given), so `causal = false` gives it twice."""
    text = ATTN.replace("CALL", "sdpa(q, k, v, true, causal = false)")
    assert "argument `causal` of op `sdpa` is given twice" in error_of(tmp_path, text)


def test_an_automatic_name_never_takes_a_numbered_labels_container(tmp_path):
    text = "model m() { input x: [B, 4, 8]\n h = linear(x, 8)\n return linear.0: linear(h, 8) }"
    graph = compile_text(tmp_path, text)
    assert [n.path for n in graph.nodes.values() if n.op == "linear"] == ["linear_1", "linear.0"]
