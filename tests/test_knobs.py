"""The size knob is read from the spec's input shape, not assumed by name: a ViT whose image-size
parameter is called `res` gets the same closed form, token-dependence line and reduced test size
as the standard one (the oracle: the same model under the name `img_size`, whose closed form
tests/test_sweeps_and_graphs.py checks against the paper's formula and full lowering)."""

from __future__ import annotations

import json

import pytest

import archgraph
from archgraph.knobs import input_size, size_knob
from archgraph.small import small_overrides
from tests.conftest import run, with_spec_library

SMALL_VIT = "model small = vit(embed_dim = 192, num_heads = 3, depth = 2, patch_size = 16)\n"


def _spec(tmp_path, lib_edit=lambda text: text) -> str:
    """A small ViT over a copy of the spec library with `lib_edit` applied to lib/vit.arch."""
    vit = with_spec_library(tmp_path) / "lib" / "vit.arch"
    vit.write_text(lib_edit(vit.read_text()))
    spec = tmp_path / "small.arch"
    spec.write_text('import "lib/vit.arch"\n' + SMALL_VIT)
    return str(spec)


@pytest.fixture(scope="module")
def renamed(tmp_path_factory) -> tuple[str, str]:
    """(the small ViT, the same model with img_size renamed res everywhere in the library's vit.arch)."""
    plain = _spec(tmp_path_factory.mktemp("plain"))
    res = _spec(tmp_path_factory.mktemp("res"), lambda text: text.replace("img_size", "res"))
    return plain, res


def test_the_knob_is_the_parameter_on_the_input_axes(renamed):
    plain, res = renamed
    assert size_knob(archgraph.load_graph(plain)) == "img_size"
    graph = archgraph.load_graph(res)
    assert "img_size" not in graph.params
    assert size_knob(graph) == "res" and input_size(graph) == 224
    assert size_knob(archgraph.load_graph("specs/transformer.arch")) is None  # a sequence: i64[B, S]


def test_closed_form_and_token_line_follow_the_knob(renamed, capsys):
    plain, res = renamed
    form, other = archgraph.closed_form(plain), archgraph.closed_form(res)
    assert other.count == form.count and other.tokens == form.tokens and other.samples == form.samples
    assert other.json()["size_knob"] == "res" and form.json()["size_knob"] == "img_size"
    dep, dep_res = (archgraph.analyze(p)["token_dependent"] for p in renamed)
    assert dep_res == {**dep, "knob": "res"} and dep["layers"] == ["pos_embed"]
    assert dep["params"] == 197 * 192  # (224/16)² patches + the class token, width 192
    _, out, _ = run(capsys, "report", res, "--closed-form")
    assert "change with res): 37,824 in pos_embed" in out and "(res " in out


def test_a_sweep_over_the_knob_uses_the_closed_form(renamed, capsys):
    _, res = renamed
    code, js, err = run(capsys, "sweep", res, "--set", "res=224,384", "--format", "json")
    data = json.loads(js)
    assert code == 0, err
    assert data["models"][0]["closed_form"]["size_knob"] == "res"
    assert [r["count"] for r in data["rows"]] == [archgraph.analyze(res, res=i)["flops"] for i in (224, 384)]


def test_small_size_sets_the_knob(renamed):
    small, small_res = (small_overrides(archgraph.load_graph(p)) for p in renamed)
    assert small["img_size"] == 32 and small_res == {**{k: v for k, v in small.items() if k != "img_size"}, "res": 32}


def two_names(text: str) -> str:
    """lib/vit.arch with a non-square input: `[B, C, img_size, width]`, two parameters."""
    text = text.replace("input x: [B, in_chans, img_size, img_size]", "input x: [B, in_chans, img_size, width]")
    return text.replace("model vit(img_size = 224,", "model vit(img_size = 224, width = 224,")


def test_without_a_single_knob_there_is_no_closed_form(tmp_path, capsys):
    spec = _spec(tmp_path, two_names)
    graph = archgraph.load_graph(spec)
    assert size_knob(graph) is None
    code, out, err = run(capsys, "report", spec, "--closed-form")
    assert code == 0, err
    assert "closed form: none (`small` has no size knob to vary" in out
    assert "depend on the token count" not in out


def test_small_size_shrinks_each_input_axis_of_a_model_without_one_knob(tmp_path):
    """DETR's `[B, C, img_size, img_w]`: each axis parameter gets its own small size (2 and 3 steps of 32)."""
    spec = tmp_path / "two.arch"
    spec.write_text(
        "model m(h = 800, w = 1216) {\n input x: [B, 3, h, w]\n return conv: conv2d(x, 8, 32, stride = 32)\n}\n"
    )
    small = small_overrides(archgraph.load_graph(spec))
    assert small == {"h": 64, "w": 96}
    graph = archgraph.load_graph(spec, **small)
    assert graph.type_of(graph.outputs[0]).dims == ("B", 8, 2, 3)
