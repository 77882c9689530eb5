"""One generated class for a block's instances with and without an optional sub-chain
(`archgraph/codegen/optional.py`): the absent layers are `None`, not in the state_dict, and
forward takes the other path. Reference: the block's arithmetic written out here with the
module's own weights (`fc(x) + proj(x)` with the projection, `fc(x) + x` without)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import archgraph  # noqa: E402

SPEC = """
block b(x: [B, C], down: bool = false) {
    shortcut = x
    if down { shortcut = proj: linear(x, 8) }
    return fc: linear(x, 8) + shortcut
}
model m() { input x: [B, 4] x = b1: b(x, true) return b2: b(x) }
"""


def test_optional_layer_is_absent_and_forward_takes_the_identity(tmp_path):
    path = tmp_path / "m.arch"
    path.write_text(SPEC)
    model = archgraph.build(path).eval()
    assert type(model.b1) is type(model.b2) and model.b2.proj is None
    assert sorted(model.state_dict()) == ["b1.fc.bias", "b1.fc.weight", "b1.proj.bias", "b1.proj.weight",
                                          "b2.fc.bias", "b2.fc.weight"]  # fmt: skip
    x = torch.randn(3, 4)
    with torch.no_grad():
        h = model.b1.fc(x) + model.b1.proj(x)
        expected = model.b2.fc(h) + h
        assert torch.equal(model(x), expected)
