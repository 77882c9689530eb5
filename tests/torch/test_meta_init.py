"""Models too big to initialise twice: build on `meta` (nothing allocated), `to_empty()`
(the one allocation), then `init_weights()` (in place) gives the same model as a normal build.

Every parameter and buffer is compared exactly with a normally built model whose
`init_weights()` ran from the same seed, so `init_weights()` alone sets every tensor:
nothing is left as the garbage `to_empty()` leaves behind.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import archgraph  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.torch.tiny import IDS, config, representatives  # noqa: E402


def tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {**dict(model.named_parameters()), **dict(model.named_buffers())}


@pytest.mark.parametrize(("spec", "name"), representatives(), ids=IDS)
def test_meta_to_empty_init_weights_equals_a_normal_build(spec, name):
    small = config(spec, name)
    normal = archgraph.build(spec, name, **small)
    torch.manual_seed(1)
    normal.init_weights()

    model = archgraph.build(spec, name, device="meta", **small)
    assert all(t.is_meta for t in tensors(model).values()), "construction on meta allocated a tensor"
    model.to_empty(device="cpu")
    storage = {key: t.data_ptr() for key, t in tensors(model).items()}
    torch.manual_seed(1)
    model.init_weights()
    assert {key: t.data_ptr() for key, t in tensors(model).items()} == storage, "init_weights reallocated a tensor"
    expected = tensors(normal)
    for key, t in tensors(model).items():
        torch.testing.assert_close(t, expected[key], rtol=0, atol=0, msg=key)


def test_full_size_vit_from_meta_has_timm_init_statistics():
    """ViT-B/16 at full size, never initialised on CPU before `init_weights()`."""
    model = archgraph.build(ROOT / "specs" / "vit.arch", device="meta")
    model.to_empty(device="cpu")
    torch.manual_seed(0)
    model.init_weights()
    qkv = torch.stack([block.attn.qkv.weight for block in model.blocks])
    assert abs(qkv.std().item() - 0.02) < 2e-4 and abs(qkv.mean().item()) < 1e-4
    assert all(block.attn.qkv.bias.eq(0).all() for block in model.blocks)
    assert model.cls_token.std().item() < 1e-5
    assert all(block.norm1.weight.eq(1).all() for block in model.blocks)
