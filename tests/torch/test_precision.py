"""bf16 and fp16: under torch.autocast the generated modules run, return the autocast dtype,
stay close to fp32 and train; built with `dtype=torch.bfloat16` they hold and compute bf16.

Tolerances are relative to the largest fp32 output: autocast bf16 2e-2, fp16 5e-3 (8 and 11
significant bits; measured at most 1e-2 and 1.5e-3), all-bf16 weights 5e-2 (measured 2e-2).
"""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from tests.torch.tiny import IDS, joined, representatives, tiny  # noqa: E402

AUTOCAST = {torch.bfloat16: 2e-2, torch.float16: 5e-3}


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out.float() - ref).abs().max() / ref.abs().max()).item()


@pytest.mark.parametrize(("spec", "name"), representatives(), ids=IDS)
@pytest.mark.parametrize("dtype", list(AUTOCAST), ids=["bf16", "fp16"])
def test_autocast_inference_is_close_to_fp32(spec, name, dtype):
    model, x = tiny(spec, name)
    model.eval()
    with torch.no_grad():
        ref = joined(model(x))
        with torch.autocast("cpu", dtype=dtype):
            out = joined(model(x))
    assert out.dtype == dtype
    assert relative_error(out, ref) < AUTOCAST[dtype]


@pytest.mark.parametrize(("spec", "name"), representatives(), ids=IDS)
def test_autocast_bf16_training_step_gives_fp32_gradients(spec, name):
    model, x = tiny(spec, name)
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = joined(model(x)).float().square().mean()
    loss.backward()
    for key, p in ((k, p) for k, p in model.named_parameters() if p.requires_grad):  # DINO: a frozen gain
        assert p.grad is not None and p.grad.dtype == torch.float32 and p.grad.isfinite().all(), key


@pytest.mark.parametrize(("spec", "name"), representatives(), ids=IDS)
def test_bf16_weights_compute_in_bf16_close_to_fp32(spec, name):
    model, x = tiny(spec, name)
    model.eval()
    half = copy.deepcopy(model).to(torch.bfloat16)
    with torch.no_grad():
        ref, out = joined(model(x)), joined(half(x.bfloat16()))
    assert out.dtype == torch.bfloat16
    assert relative_error(out, ref) < 5e-2


def test_built_in_bf16_holds_only_bf16():
    from tests.conftest import ROOT

    model, x = tiny(ROOT / "specs" / "vit.arch", "vit_b16", dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    with torch.no_grad():
        assert model(x).dtype == torch.bfloat16
