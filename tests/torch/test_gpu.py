"""On CUDA (marker `gpu`; skipped without a CUDA device): the FLOP oracle and the generated
modules' outputs against the same module on CPU.

On CUDA, FlopCounterMode has formulas for the SDPA kernels (flash, memory-efficient,
cuDNN: 4·B·h·N²·d), so the analytic FLOPs are compared with the fused kernels as they
run, in fp32 and under bf16 autocast (flash attention), with no math-backend workaround.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


import archgraph  # noqa: E402
from tests.conftest import ROOT, image_models  # noqa: E402
from tests.torch.tiny import IDS, config, flop_count, representatives, tiny  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.usefixtures("no_tf32"),
]
MODELS = image_models()  # one f32 input; sequence models: tests/parity/test_transformer_parity.py
MODEL_IDS = [name for _, name in MODELS]


def count(model: torch.nn.Module, x: torch.Tensor, dtype: torch.dtype) -> int:
    precision = None if dtype == torch.float32 else torch.autocast("cuda", dtype=dtype)
    return flop_count(model, x, precision=precision)


@pytest.mark.parametrize(("spec", "name"), MODELS, ids=MODEL_IDS)
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_reduced_size_flops_equal_flop_counter_on_cuda(spec, name, batch, dtype):
    small = config(spec, name)
    model = archgraph.build(spec, name, device="cuda", **small).eval()
    x = torch.randn(archgraph.input_shape(spec, name, batch, **small), device="cuda")
    assert count(model, x, dtype) == archgraph.analyze(spec, name, batch=batch, overrides=small)["flops"]


@pytest.mark.parametrize("name", ["vit_b16", "vit_l16_384"])
def test_full_size_flops_equal_flop_counter_on_cuda(name):
    spec = next(spec for spec, model in MODELS if model == name)
    model = archgraph.build(spec, name, device="cuda").eval()
    x = torch.randn(archgraph.input_shape(spec, name, 1), device="cuda")
    assert count(model, x, torch.bfloat16) == archgraph.analyze(spec, name)["flops"]


@pytest.mark.parametrize(("spec", "name"), representatives(), ids=IDS)
def test_cuda_outputs_and_gradients_equal_cpu(spec, name):
    model, x = tiny(spec, name)
    model.train()
    model(x).square().mean().backward()
    expected = {key: p.grad.clone() for key, p in model.named_parameters() if p.requires_grad}
    assert expected  # a model with no trainable parameter would compare nothing
    model.zero_grad()
    model.cuda()
    model(x.cuda()).square().mean().backward()
    for key, p in ((k, p) for k, p in model.named_parameters() if p.requires_grad):
        torch.testing.assert_close(p.grad.cpu(), expected[key], rtol=1e-4, atol=1e-5, msg=key)


def test_vit_compiles_with_inductor_on_cuda():
    model, x = tiny(ROOT / "specs" / "vit.arch", "vit_b16")
    model = model.cuda().eval()
    x = x.cuda()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        expected = model(x)
        torch.testing.assert_close(torch.compile(model, fullgraph=True)(x), expected, rtol=2e-2, atol=2e-2)
