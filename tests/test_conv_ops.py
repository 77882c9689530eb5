"""The CNN ops (std_conv2d, batch_norm, group_norm, max_pool2d) and the hybrid specs, without torch.

Shapes, parameters and costs of each op; TF-"same" padding; nested group repeats (a ResNet's
stages of blocks); the report's rows for the backbone's stem and stages, against timm's
per-child measurements (../shared/reference/timm.md section 2).
"""

from __future__ import annotations

import pytest

from archgraph.api import analyze
from archgraph.codegen import generate
from archgraph.ops.conv import same_padding
from tests.conftest import ROOT
from tests.test_language import compile_text, error_of


def op_node(tmp_path, call: str, shape: str = "[B, 64, 15, 15]"):
    graph = compile_text(tmp_path, f"model m() {{ input x: {shape} return {call} }}")
    (node,) = [n for n in graph.nodes.values() if n.op != "input"]
    return node


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [(224, 7, 2, (2, 3)), (112, 3, 2, (0, 1)), (15, 3, 2, (1, 1)), (56, 1, 2, (0, 0)), (7, 3, 1, (1, 1)),
     (8, 4, 1, (1, 2))],
)  # fmt: skip
def test_same_padding_is_tensorflows(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


@pytest.mark.parametrize(
    ("call", "dims", "params", "macs"),
    [
        ('std_conv2d(x, 32, 3, stride = 2, padding = "same")', ("B", 32, 8, 8), 32 * 64 * 9, 32 * 64 * 9 * 64),
        ("std_conv2d(x, 32, 3, padding = 1, groups = 4, bias = true)", ("B", 32, 15, 15), 32 * 16 * 9 + 32,
         32 * 16 * 9 * 225),
        ('std_conv2d(x, 32, 4, padding = "same")', ("B", 32, 15, 15), 32 * 64 * 16, 32 * 64 * 16 * 225),
    ],
)  # fmt: skip
def test_std_conv2d_shape_params_and_macs(tmp_path, call, dims, params, macs):
    node = op_node(tmp_path, call)
    assert (node.out.dims, node.params, node.cost.macs, node.cost.other) == (dims, params, macs, 0)


def test_norms_and_pooling(tmp_path):
    gn = op_node(tmp_path, "group_norm(x, 32)")
    assert (gn.out.dims, gn.params, gn.cost.macs, gn.cost.other) == (("B", 64, 15, 15), 128, 0, 5 * 64 * 225)
    bn = op_node(tmp_path, "batch_norm(x, affine = false)")
    assert (bn.params, bn.cost.other) == (0, 2 * 64 * 225)
    pool = op_node(tmp_path, 'max_pool2d(x, 3, stride = 2, padding = "same")')
    assert (pool.out.dims, pool.params, pool.cost.other) == (("B", 64, 8, 8), 0, 9 * 64 * 64)
    assert op_node(tmp_path, "max_pool2d(x, 3, stride = 2, padding = 1)").out.dims == ("B", 64, 8, 8)
    assert op_node(tmp_path, "max_pool2d(x, 2)").out.dims == ("B", 64, 7, 7)  # stride defaults to the kernel


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('std_conv2d(x, 32, 3, padding = "valid")', '`padding` must be an integer or "same", found the string "valid"'),
        ("std_conv2d(x, 32, 3, padding = -1)", "`padding` must not be negative"),
        ("std_conv2d(x, 30, 3, groups = 4)", "`groups` = 4 must divide both 64 input and 30 output channels"),
        ("std_conv2d(x, 32, 17)", "kernel 17 does not fit a 15x15 input"),
        ("group_norm(x, 48)", "`num_groups` = 48 must divide the 64 channels"),
        ("max_pool2d(x, 3, padding = 2)", "`padding` = 2 must be at most half the kernel (3)"),
        ("batch_norm(x, eps = 0)", "`eps` must be positive"),
    ],
)
def test_op_errors(tmp_path, call, message):
    assert message in error_of(tmp_path, f"model m() {{ input x: [B, 64, 15, 15] return {call} }}")


def test_emitted_modules_follow_timm(tmp_path):
    text = """model m() {
        input x: [B, 3, 32, 32]
        x = a: std_conv2d(x, 64, 7, stride = 2, padding = "same", eps = 1e-8)
        x = b: group_norm(x, 32, zero_init = true)
        x = c: std_conv2d(x, 64, 3, padding = 1)
        x = d: batch_norm(x)
        return max_pool2d(x, 3, stride = 2, padding = "same")
    }"""
    code = generate(compile_text(tmp_path, text), "spec.arch")
    assert "self.a = StdConv2dSame(3, 64, kernel_size=7, stride=2, eps=1e-08, **dd)" in code
    assert "self.b = nn.GroupNorm(32, 64, eps=1e-05, **dd)" in code and "nn.init.zeros_(self.b.weight)" in code
    assert "self.c = StdConv2d(64, 64, kernel_size=3, padding=1, eps=1e-06, **dd)" in code
    assert "self.d = nn.BatchNorm2d(64, eps=1e-05, **dd)" in code
    assert 'nn.init.kaiming_normal_(self.a.weight, mode="fan_out", nonlinearity="relu")' in code
    # SAME padding read from the input's size (16x16 -> 8x8: one row and column of -inf after);
    # tests/parity/test_hybrid_parity.py checks the helper's outputs against timm's MaxPool2dSame
    assert "return max_pool2d_same(x, 3, 2)" in code and "def max_pool2d_same(" in code
    assert "class StdConv2dSame(nn.Conv2d):" in code and "class StdConv2d(nn.Conv2d):" in code


def test_nested_group_repeats_carry_names_out(tmp_path):
    """A stage of blocks inside a repeat of stages: the inner repeat's names are carried by the outer."""
    text = """model m(layers = [2, 3]) {
        input x: [B, 4, 8]
        stages: repeat 2 as s {
            blocks: repeat (layers[s]) as i { x = fc: linear(x, 8 * (s + 1)) }
        }
        return x
    }"""
    graph = compile_text(tmp_path, text)
    paths = [n.path for n in graph.nodes.values() if n.op == "linear"]
    assert paths == ["stages.0.blocks.0.fc", "stages.0.blocks.1.fc"] + [f"stages.1.blocks.{i}.fc" for i in range(3)]
    assert graph.type_of(graph.outputs[0]).dims == ("B", 4, 16)


@pytest.mark.parametrize(
    ("spec", "name", "embed", "blocks"),
    [
        # timm.md section 2, "per top-level child" (FlopCounterMode GFLOP, params); our head is in `head`
        ("vit_hybrid", "vit_r50_b16", (12_682_048, 8.174), (85_054_464, 34.895)),
        ("vit_hybrid", "vit_r26_s32", (14_732_992, 4.757), (21_293_568, 2.169)),
    ],
)
def test_report_shows_the_cnn_apart_from_the_transformer_per_stage(spec, name, embed, blocks):
    data = analyze(ROOT / "specs" / f"{spec}.arch", name, depth=4)
    rows = {row["layer"]: row for row in data["rows"]}
    for path, (params, gflops) in (("patch_embed", embed), ("blocks", blocks)):
        assert rows[path]["params"] == params and round(rows[path]["flops"] / 1e9, 3) == gflops
    backbone = "patch_embed.backbone"
    stages = [path for path in rows if path.startswith(f"{backbone}.stages.") and path.count(".") == 3]
    assert stages == [f"{backbone}.stages.{s}" for s in range(len(data["parameters"]["layers"]))]
    parts = [rows[f"{backbone}.stem"], *(rows[path] for path in stages), rows["patch_embed.proj"]]
    assert sum(row["flops"] for row in parts) == rows["patch_embed"]["flops"]
    assert sum(row["params"] for row in parts) == rows["patch_embed"]["params"]
