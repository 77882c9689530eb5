"""Parity with timm on CUDA (marker `gpu`; skipped without a CUDA device): the same reduced
models as tests/parity/test_timm_parity.py, timm's weights loaded strictly, equal outputs.

TF32 is off, so both run full fp32 kernels; the tolerance (1e-4 relative, 1e-5 absolute)
allows for the two picking different cuDNN/cuBLAS algorithms for the same shapes.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from tests.parity.test_timm_parity import TIMM_IDS, TIMM_MODELS, _pair  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.usefixtures("no_tf32"),
]


def cuda_pair(spec, name) -> tuple[torch.nn.Module, torch.nn.Module, torch.Tensor]:
    """Ours and timm's reduced model on CUDA with timm's weights (loaded strictly), and an input batch of 2."""
    torch.manual_seed(0)
    ours, ref, small = _pair(spec, name)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, small["img_size"], small["img_size"], device="cuda")
    return ours.cuda(), ref.cuda(), x


@pytest.mark.parametrize(("spec", "name"), TIMM_MODELS, ids=TIMM_IDS)
def test_reduced_size_outputs_equal_timm_on_cuda(spec, name):
    ours, ref, x = cuda_pair(spec, name)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("spec", "name"), TIMM_MODELS[:1], ids=TIMM_IDS[:1])
def test_bf16_autocast_outputs_equal_timm_on_cuda(spec, name):
    ours, ref, x = cuda_pair(spec, name)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-2, atol=1e-2)
