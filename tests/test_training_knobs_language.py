"""The language side of the training knobs, without torch: `repeat N as i block(..., kw = f(i))`
evaluates the call's arguments per iteration, `linspace(start, end, n)` builds the rates, the
generated parent computes them with torch.linspace as timm's decay rule does, and a knob no model
parameter sets is left out of the generated file.
"""

from __future__ import annotations

import pytest

import archgraph
from archgraph.errors import SpecError
from tests.conftest import ROOT

STACK = """
block layer(x: [B, N, D], rate: float = 0.0) {
    h = fc: linear(x, D)
    return x + drop_path(dropout(h, rate), rate)
}

model stack(depth = 4, width = 16, drop_path_rate = 0.0) {
    input x: [B, 8, width]
    return blocks: repeat depth as i layer(x, rate = linspace(0, drop_path_rate, depth)[i])
}
"""


def _spec(tmp_path, text: str = STACK):
    path = tmp_path / "stack.arch"
    path.write_text(text)
    return path


def test_each_iteration_gets_its_own_argument(tmp_path):
    graph = archgraph.load_graph(_spec(tmp_path), drop_path_rate=0.3)
    rates = {n.path: n.attrs["p"] for n in graph.nodes.values() if n.op == "drop_path"}
    # linspace(0, 0.3, 4): 0, 0.1, 0.2, 0.3 (torch.linspace's values, to float rounding)
    assert rates == pytest.approx({f"blocks.{i}.drop_path": 0.1 * i for i in range(4)})
    keys = sorted(n.path for n in graph.nodes.values() if n.op == "linear")
    assert keys == ["blocks.0.fc", "blocks.1.fc", "blocks.2.fc", "blocks.3.fc"]  # the call is the iteration


def test_the_knobs_cost_nothing_in_the_report(tmp_path):
    on = archgraph.analyze(_spec(tmp_path), drop_path_rate=0.3)
    off = archgraph.analyze(_spec(tmp_path))
    # 4 linears of 16 x 16 (+ bias) on 8 tokens: 4 * 8 * 256 MACs, 4 * 272 parameters
    assert (on["params"], on["macs"]) == (off["params"], off["macs"]) == (4 * 272, 4 * 8 * 256)
    assert on["other_flops"] == off["other_flops"]


def test_the_generated_parent_computes_the_schedule_as_timm(tmp_path):
    source = archgraph.generate_source(_spec(tmp_path))
    assert "rate_schedule = [x.item() for x in torch.linspace(0.0, drop_path_rate, depth)]" in source
    assert "Layer(width, rate=rate_schedule[i], **dd) for i in range(depth)" in " ".join(source.split())
    assert "drop_path(F.dropout(h, self.rate, self.training), self.rate, self.training)" in source


STAGES = (
    STACK.split("model stack")[0]
    + """
model stages(depths: list = [2, 3], width = 16, drop_path_rate = 0.0) {
    input x: [B, 8, width]
    total = depths[0] + depths[1]
    first = 0
    stages: repeat 2 as k {
        if k > 0 { first = first + depths[k - 1] }
        x = blocks: repeat depths[k] as j layer(x, rate = linspace(0, drop_path_rate, total)[first + j])
    }
    return x
}
"""
)


def test_a_stage_takes_its_slice_of_one_schedule_over_all_blocks(tmp_path):
    """`linspace(0, rate, total)[first + j]` (PVT v2's stages): the generated stage takes the rate and
    its first block and slices one torch.linspace, as timm splits one schedule by stage (the total is
    a literal here: the depths are fixed in this file)."""
    graph = archgraph.load_graph(_spec(tmp_path, STAGES), drop_path_rate=0.4)
    rates = [n.attrs["p"] for n in graph.nodes.values() if n.op == "drop_path"]
    assert rates == pytest.approx([0.1 * k for k in range(5)])  # linspace(0, 0.4, 5), stage 0 then stage 1
    source = " ".join(archgraph.generate_source(_spec(tmp_path, STAGES)).split())
    assert "rate_schedule = [x.item() for x in torch.linspace(0, drop_path_rate, 5)[first:]]" in source
    assert "drop_path_rate: float = 0.0" in source and "rate=rate_schedule[i]" in source


def test_a_knob_no_parameter_sets_is_left_out(tmp_path):
    fixed = STACK.replace(
        "model stack(depth = 4, width = 16, drop_path_rate = 0.0)", "model stack(depth = 4, width = 16)"
    )
    fixed = fixed.replace("linspace(0, drop_path_rate, depth)[i]", "0.0")
    source = archgraph.generate_source(_spec(tmp_path, fixed))
    assert "dropout" not in source and "drop_path" not in source and "schedule" not in source


def test_the_std_models_expose_their_references_knobs():
    knobs = ("pos_drop_rate", "proj_drop_rate", "attn_drop_rate", "drop_path_rate", "drop_rate")
    for name in ("vit", "cait", "vit_hybrid"):  # timm's VisionTransformer and Cait take all five
        source = (ROOT / "generated" / f"{name}.py").read_text()
        assert all(f"{knob}: " in source for knob in knobs), name
    assert "dynamic_img_size: " in (ROOT / "generated" / "vit.py").read_text()
    # timm's PyramidVisionTransformerV2 has no pos_drop_rate; each stage slices one drop-path schedule
    pvt = (ROOT / "generated" / "pvt_v2.py").read_text()
    assert all(f"{knob}: " in pvt for knob in ("proj_drop_rate", "attn_drop_rate", "drop_path_rate", "drop_rate"))
    assert "torch.linspace(0, drop_path_rate, total)[first:]" in pvt
    segformer = (ROOT / "generated" / "segformer.py").read_text()  # Hugging Face's SegformerConfig names
    hf = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout_prob", "drop_path_rate")
    assert all(f"{knob}: float = 0.0" in segformer for knob in hf)


@pytest.mark.parametrize(
    ("call", "message"),
    [("linspace(0, 1)[i]", "`linspace` takes start, end and a count, found 2 arguments"),
     ("linspace(0, x, 4)[i]", "`linspace` takes numbers, found a tensor"),
     ("j", "`j` is not defined"),
     ("2 * i", "`p` is a probability in [0, 1), found 2.0")],
)  # fmt: skip
def test_bad_per_iteration_arguments_are_spec_errors(tmp_path, call, message):
    text = STACK.replace("linspace(0, drop_path_rate, depth)[i]", call)
    with pytest.raises(SpecError) as error:
        archgraph.load_graph(_spec(tmp_path, text))
    assert message in str(error.value)


def test_an_attention_dropout_outside_0_to_1_is_a_spec_error():
    with pytest.raises(SpecError) as error:
        archgraph.load_graph(ROOT / "specs" / "vit_hybrid.arch", "vit_r50_b16", attn_drop_rate=-0.1)
    assert "`dropout` is a probability in [0, 1), found -0.1" in str(error.value)
    assert "std/transformer.arch" in str(error.value)  # the line of the sdpa call, with a caret
