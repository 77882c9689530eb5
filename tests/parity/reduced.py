"""The reduced-size parity check the hierarchical models share (test_pvt.py, test_pvt_v1.py, test_segformer.py)."""

from __future__ import annotations

from collections.abc import Callable

import torch

import archgraph
from tests.conftest import reduced


def assert_reduced_outputs_equal(spec, name: str, reference: Callable[[dict], torch.nn.Module],
                                 keys: Callable[[dict], dict] = lambda state: state,
                                 output: Callable = lambda out: out) -> None:  # fmt: skip
    """The model at `tests.conftest.reduced` size (64x64, at most 2 blocks a stage) loads the state_dict
    of `reference(small)` (mapped by `keys`) with strict=True, and equals its output (`output` picks the
    tensor, such as HF's `.logits`) on one batch."""
    small = reduced(spec, name)
    assert small["img_size"] == 64 and max(small["depths"]) <= 2
    torch.manual_seed(0)
    ref = reference(small).eval()
    model = archgraph.build(spec, name, **small).eval()
    model.load_state_dict(keys(ref.state_dict()), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), output(ref(x)))
