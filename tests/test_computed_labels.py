"""A repeat without a label (no scope of its own) and labels numbered by an expression (`block.(i)`):
docs/language.md sections 4 and 6. The reference for each is the same model written out by hand with
literal numbered labels (`block.0: repeat ...`), which must give the same keys and the same outputs."""

from __future__ import annotations

import pytest

import archgraph
from archgraph.errors import SpecError

LAYER = """
block layer(x: [B, N, dim]) {
    return x + fc: linear(gelu(x), dim)
}
"""

LOOP = (
    LAYER
    + """
model net(dim = 8, depths: list = [1, 2, 3]) {
    input x: [B, 4, dim]
    width = dim
    repeat (len(depths)) as i {
        width = width * 2
        x = embed.(i): linear(x, width)
        x = block.(i): repeat depths[i] layer(x)
    }
    return norm: layer_norm(x)
}
"""
)

WRITTEN_OUT = (
    LAYER
    + """
model net(dim = 8) {
    input x: [B, 4, dim]
    x = embed.0: linear(x, 2 * dim)
    x = block.0: repeat 1 layer(x)
    x = embed.1: linear(x, 4 * dim)
    x = block.1: repeat 2 layer(x)
    x = embed.2: linear(x, 8 * dim)
    x = block.2: repeat 3 layer(x)
    return norm: layer_norm(x)
}
"""
)


def _spec(tmp_path, text: str, name: str = "spec.arch"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _error(tmp_path, text: str) -> str:
    with pytest.raises(SpecError) as caught:
        archgraph.analyze(_spec(tmp_path, text))
    return str(caught.value)


def test_a_loop_numbers_its_layers_as_if_written_out(tmp_path):
    loop = archgraph.analyze(_spec(tmp_path, LOOP))
    written = archgraph.analyze(_spec(tmp_path, WRITTEN_OUT, "out.arch"))
    paths = [node["path"] for node in loop["nodes"]]
    assert paths == [node["path"] for node in written["nodes"]]
    assert "embed.2" in paths and "block.1.1.fc" in paths and "block.2.2.fc" in paths
    assert (
        loop["params"]
        == written["params"]
        == (8 * 16 + 16)
        + 1 * (16 * 16 + 16)
        + (16 * 32 + 32)
        + 2 * (32 * 32 + 32)
        + (32 * 64 + 64)
        + 3 * (64 * 64 + 64)
        + 2 * 64
    )
    assert loop["flops"] == written["flops"]


@pytest.mark.torch  # builds and runs both modules: not in the torch-free subset
def test_the_loop_builds_the_written_out_modules_keys_and_outputs(tmp_path):
    torch = pytest.importorskip("torch")
    loop = archgraph.build(_spec(tmp_path, LOOP)).eval()
    written = archgraph.build(_spec(tmp_path, WRITTEN_OUT, "out.arch")).eval()
    assert list(loop.state_dict()) == list(written.state_dict())
    written.load_state_dict(loop.state_dict(), strict=True)
    x = torch.randn(2, 4, 8)
    with torch.no_grad():
        torch.testing.assert_close(loop(x), written(x))


def test_names_first_assigned_in_the_body_stay_in_their_iteration(tmp_path):
    text = "model m(dim = 8) {\n input x: [B, 4, dim]\n repeat 2 as i { y = l.(i): linear(x, dim) }\n return y\n}\n"
    assert "`y` is not defined" in _error(tmp_path, text)


def test_a_label_without_the_index_names_one_layer_twice(tmp_path):
    text = "model m(dim = 8) {\n input x: [B, 4, dim]\n repeat 2 as i { x = fc: linear(x, dim) }\n return x\n}\n"
    message = _error(tmp_path, text)
    assert "two layers are labelled `fc` in one block" in message and "e.g. `name.(i)`" in message


def test_two_iterations_given_one_number_are_a_name_error(tmp_path):
    text = (
        "model m(dim = 8) {\n input x: [B, 4, dim]\n repeat 4 as i { x = fc.(i // 2): linear(x, dim) }\n return x\n}\n"
    )
    assert "two layers are labelled `fc.0` in one block" in _error(tmp_path, text)


@pytest.mark.parametrize(
    ("number", "message"),
    [("i - 1", "must be 0 or more, found -1"), ("i / 2", "which is not whole"), ("x", "must be an integer")],
)
def test_the_number_must_be_a_whole_number_from_zero(tmp_path, number, message):
    text = f"model m(dim = 8) {{\n input x: [B, 4, dim]\n repeat 2 as i {{ x = fc.({number}): linear(x, dim) }}\n return x\n}}\n"
    assert message in _error(tmp_path, text)


def test_computed_labels_outside_a_loop_and_inside_a_labelled_repeat(tmp_path):
    text = (
        LAYER
        + """
block pair(x: [B, N, dim], k: int) {
    x = fc.(2 * k): linear(x, dim)
    return fc.(2 * k + 1): linear(x, dim)
}

model m(dim = 8) {
    input x: [B, 4, dim]
    stages: repeat 2 as s {
        repeat 2 as j { x = part.(j): pair(x, j + s) }
    }
    return x
}
"""
    )
    paths = [node["path"] for node in archgraph.analyze(_spec(tmp_path, text))["nodes"] if node["op"] == "linear"]
    assert paths == ["stages.0.part.0.fc.0", "stages.0.part.0.fc.1", "stages.0.part.1.fc.2", "stages.0.part.1.fc.3",
                     "stages.1.part.0.fc.2", "stages.1.part.0.fc.3", "stages.1.part.1.fc.4", "stages.1.part.1.fc.5"]  # fmt: skip


def test_a_repeat_without_a_label_of_count_zero_passes_through(tmp_path):
    text = "model m(dim = 8) {\n input x: [B, 4, dim]\n repeat 0 as i { x = fc.(i): linear(x, dim) }\n return x\n}\n"
    assert archgraph.analyze(_spec(tmp_path, text))["params"] == 0
