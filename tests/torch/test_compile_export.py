"""Generated modules compile whole (torch.compile(fullgraph=True): no graph breaks), export
with a dynamic batch (torch.export), and export to ONNX that onnxruntime runs to the same
outputs (within 1e-4 relative, 1e-5 absolute, fp32).

One model per distinct structure (tests/torch/tiny.py), at a reduced size. Graph capture is
checked with the cheap backends (`eager` for inference, `aot_eager` for a training step);
the inductor backend, which compiles C++ kernels (about 25 s a model on 2 cores), runs on
ViT-B/16 here and on every structure under the `slow` marker.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tests.torch.tiny import IDS, representatives, tiny  # noqa: E402

ONNX_TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize(("spec", "name"), representatives(), ids=IDS)
def test_compiles_to_one_graph_and_matches_eager(spec, name):
    model, x = tiny(spec, name)
    model.eval()
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(torch.compile(model, fullgraph=True, backend="eager")(x), expected)
    explanation = torch._dynamo.explain(model)(x)
    assert explanation.graph_count == 1 and explanation.graph_break_count == 0, explanation.break_reasons


@pytest.mark.parametrize(("spec", "name"), representatives(), ids=IDS)
@pytest.mark.parametrize("checkpointing", [False, True], ids=["plain", "checkpointed"])
def test_training_step_compiles_to_one_graph_with_eager_gradients(spec, name, checkpointing):
    model, x = tiny(spec, name, grad_checkpointing=checkpointing)
    model.train()
    model(x).square().mean().backward()
    expected = {key: p.grad.clone() for key, p in model.named_parameters()}
    model.zero_grad()
    torch.compile(model, fullgraph=True, backend="aot_eager")(x).square().mean().backward()
    for key, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[key], msg=key)


def _inductor(spec, name) -> None:
    model, x = tiny(spec, name)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(model, fullgraph=True)(x), model(x), rtol=1e-4, atol=1e-5)


def test_vit_compiles_with_inductor():
    spec, name = representatives()[[n for _, n in representatives()].index("vit_b16")]
    _inductor(spec, name)


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "name"), representatives(), ids=IDS)
def test_every_structure_compiles_with_inductor(spec, name):
    _inductor(spec, name)


def dynamic_batch() -> tuple[dict]:
    """The first dimension of the one input is the batch, any size."""
    return ({0: torch.export.Dim("batch", min=1, max=1024)},)


@pytest.mark.parametrize(("spec", "name"), representatives(), ids=IDS)
def test_torch_export_with_dynamic_batch_matches_eager(spec, name):
    model, x = tiny(spec, name, batch=2)
    model.eval()
    program = torch.export.export(model, (x,), dynamic_shapes=dynamic_batch())
    other = torch.randn(5, *x.shape[1:])
    with torch.no_grad():
        torch.testing.assert_close(program.module()(other), model(other))


@pytest.mark.parametrize(("spec", "name"), representatives(), ids=IDS)
def test_onnx_export_runs_in_onnxruntime_with_equal_outputs(spec, name):
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
