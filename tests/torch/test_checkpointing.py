"""Activation checkpointing per repeated block: `grad_checkpointing=True` in the constructor
gives the same loss and gradients, stores far fewer activations for backward, and changes
nothing in eval mode. Nested repeats (a CNN backbone's stages of blocks) get the flag too.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import archgraph  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.torch.tiny import IDS, joined, representatives, tiny  # noqa: E402


def loss_and_grads(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad()
    loss = joined(model(x)).square().mean()
    loss.backward()
    return loss.detach(), {key: p.grad.clone() for key, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize(("spec", "name"), representatives(), ids=IDS)
def test_checkpointed_training_gives_the_same_loss_and_gradients(spec, name):
    plain, x = tiny(spec, name)
    checkpointed, _ = tiny(spec, name, grad_checkpointing=True)
    checkpointed.load_state_dict(plain.state_dict())
    flags = [m.grad_checkpointing for m in checkpointed.modules() if hasattr(m, "grad_checkpointing")]
    assert flags and all(flags), "every class that runs repeats takes the flag"
    assert not any(m.grad_checkpointing for m in plain.modules() if hasattr(m, "grad_checkpointing"))
    plain.train(), checkpointed.train()
    loss, grads = loss_and_grads(plain, x)
    loss_ckpt, grads_ckpt = loss_and_grads(checkpointed, x)
    torch.testing.assert_close(loss_ckpt, loss)
    for key, grad in grads.items():
        torch.testing.assert_close(grads_ckpt[key], grad, msg=key)


def saved_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps for backward (the activations)."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x).sum().backward()
    return total


def test_checkpointing_stores_a_fraction_of_the_activations():
    spec = ROOT / "specs" / "vit.arch"
    small = {"img_size": 64, "embed_dim": 64, "depth": 6, "num_heads": 2, "num_classes": 10}
    x = torch.randn(2, 3, 64, 64)
    plain = archgraph.build(spec, **small).train()
    checkpointed = archgraph.build(spec, grad_checkpointing=True, **small).train()
    # the outer graph keeps each block's input; a block's own activations live only during its backward
    assert saved_bytes(checkpointed, x) < 0.25 * saved_bytes(plain, x)


def test_eval_mode_does_not_checkpoint():
    model, x = tiny(ROOT / "specs" / "vit.arch", "vit_b16", grad_checkpointing=True)
    model.eval()
    calls = []
    model.blocks[0].register_forward_pre_hook(lambda *_: calls.append(1))  # a recomputation stops early
    model(x).sum().backward()
    assert len(calls) == 1, "in eval mode each block runs once: no recomputation in backward"
    model.train()
    calls.clear()
    model(x).sum().backward()
    assert len(calls) == 2, "while training, backward recomputes the block"


@pytest.mark.parametrize(("spec", "name"), [("vit.arch", "vit_b16"), ("vit_hybrid.arch", "vit_r26_s32")])
def test_set_grad_checkpointing_turns_it_on_after_building(spec, name):
    """timm's `model.set_grad_checkpointing()` on a model built without the flag: every repeated block
    (a hybrid backbone's inner ones too) recomputes in backward, as with `grad_checkpointing=True`."""
    model, x = tiny(ROOT / "specs" / spec, name)
    model.train()
    blocks = [m for m in model.modules() if hasattr(m, "grad_checkpointing")]
    first = next(m for m in model.modules() if type(m).__name__ in ("EncoderBlock", "Bottleneck"))
    calls = []
    first.register_forward_pre_hook(lambda *_: calls.append(1))
    model(x).sum().backward()
    assert len(calls) == 1 and blocks
    model.set_grad_checkpointing()
    calls.clear()
    model(x).sum().backward()
    assert len(calls) == 2, "after set_grad_checkpointing(), backward recomputes the block"
