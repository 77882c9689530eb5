"""Generated modules compile whole (torch.compile(fullgraph=True): no graph breaks), export
with a dynamic batch (torch.export), and export to ONNX that onnxruntime runs to the same
outputs (within 1e-4 relative, 1e-5 absolute, fp32; measured differences are about 1e-7).

Models at a reduced size. Inference graph capture (`eager` backend: dynamo only) and
torch.export run on one model per distinct structure (tests/torch/tiny.py). The costlier
checks run in CI on a few models (`CI`) and on every structure under the `slow` marker:
a training step through AOTAutograd (`aot_eager`), the inductor backend (it compiles C++
kernels: about 25 s a model on 2 cores with a cold cache) and ONNX.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tests.conftest import ROOT  # noqa: E402
from tests.torch.tiny import IDS, representatives, tiny  # noqa: E402

ONNX_TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}
CI = [
    (ROOT / "specs" / spec, name)
    for spec, name in (("vit.arch", "vit_b16"), ("mixer.arch", "mixer_b16"), ("vit_hybrid.arch", "vit_r50_b16"))
]
CI_IDS = [name for _, name in CI]


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize(("spec", "name"), representatives(), ids=IDS)
def test_compiles_to_one_graph_and_matches_eager(spec, name):
    """fullgraph=True raises at the first graph break, so a result means one graph."""
    model, x = tiny(spec, name)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(model, fullgraph=True, backend="eager")(x), model(x))


def training_step_compiles(spec, name, checkpointing: bool = False) -> None:
    """A training step compiled whole (dynamo + AOTAutograd) gives eager's gradients."""
    model, x = tiny(spec, name, grad_checkpointing=checkpointing)
    model.train()
    model(x).square().mean().backward()
    expected = {key: p.grad.clone() for key, p in model.named_parameters() if p.requires_grad}
    assert expected  # a model with no trainable parameter would compare nothing
    model.zero_grad()
    torch.compile(model, fullgraph=True, backend="aot_eager")(x).square().mean().backward()
    for key, p in ((k, p) for k, p in model.named_parameters() if p.requires_grad):
        torch.testing.assert_close(p.grad, expected[key], msg=key)


def compiles_with_inductor(spec, name) -> None:
    import torch._inductor.config

    model, x = tiny(spec, name)
    model.eval()
    # compile afresh: a graph cached on disk by another process (a parallel worker, an older torch) is not the test
    with torch.no_grad(), torch._inductor.config.patch(fx_graph_cache=False):
        torch.testing.assert_close(torch.compile(model, fullgraph=True)(x), model(x), rtol=1e-4, atol=1e-5)


def dynamic_batch() -> tuple[dict]:
    """The first dimension of the one input is the batch, any size."""
    return ({0: torch.export.Dim("batch", min=1, max=1024)},)


def onnx_matches(spec, name) -> None:
    """Exported with a dynamic batch, run by onnxruntime at another batch size: eager's outputs."""
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    model, x = tiny(spec, name, batch=2)
    model.eval()
    exported = torch.onnx.export(model, (x,), dynamic_shapes=dynamic_batch(), dynamo=True, verbose=False)
    session = ort.InferenceSession(exported.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    other = torch.randn(3, *x.shape[1:])
    (got,) = session.run(None, {session.get_inputs()[0].name: other.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), model(other), **ONNX_TOLERANCE)


@pytest.mark.parametrize(("spec", "name"), representatives(), ids=IDS)
def test_torch_export_with_dynamic_batch_matches_eager(spec, name):
    model, x = tiny(spec, name, batch=2)
    model.eval()
    program = torch.export.export(model, (x,), dynamic_shapes=dynamic_batch())
    other = torch.randn(5, *x.shape[1:])
    with torch.no_grad():
        torch.testing.assert_close(program.module()(other), model(other))


@pytest.mark.parametrize(("spec", "name"), CI, ids=CI_IDS)
def test_training_step_compiles_to_one_graph(spec, name):
    training_step_compiles(spec, name)


def test_checkpointed_training_step_compiles_to_one_graph():
    training_step_compiles(ROOT / "specs" / "vit.arch", "vit_b16", checkpointing=True)


def test_vit_compiles_with_inductor():
    """In a fresh interpreter: a test run earlier in the same worker may have imported the standard
    library's distutils, and inductor's import of setuptools then fails (seen under pytest-xdist)."""
    import subprocess
    import sys

    code = "from tests.torch.test_compile_export import ROOT, compiles_with_inductor\n"
    code += "compiles_with_inductor(ROOT / 'specs' / 'vit.arch', 'vit_b16')\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize(("spec", "name"), CI, ids=CI_IDS)
def test_onnx_export_runs_in_onnxruntime_with_equal_outputs(spec, name):
    onnx_matches(spec, name)


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "name"), representatives(), ids=IDS)
@pytest.mark.parametrize("check", ["train", "train_checkpointed", "inductor", "onnx"])
def test_every_structure(spec, name, check):
    if check == "inductor":
        compiles_with_inductor(spec, name)
    elif check == "onnx":
        onnx_matches(spec, name)
    else:
        training_step_compiles(spec, name, checkpointing=check == "train_checkpointed")
