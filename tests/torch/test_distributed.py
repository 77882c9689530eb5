"""Data-parallel training across processes: 2 CPU ranks on the gloo backend (torchrun).

DDP's gradients equal one process's on the whole batch, step by step; FSDP2 (`fully_shard`
per repeated block, then the root) trains to the same losses and weights. The ranks run
tests/torch/distributed_worker.py; the same recipe runs on GPUs with NCCL (README).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

import archgraph  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.torch import distributed_worker  # noqa: E402

SPEC = ROOT / "specs" / "vit.arch"
SMALL = {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2, "num_classes": 10}
STEPS, BATCH = 3, 4


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    """Initial weights, the batches, and one process's results on the whole batch."""
    tmp = tmp_path_factory.mktemp("distributed")
    torch.manual_seed(0)
    model = archgraph.build(SPEC, **SMALL)
    torch.save(model.state_dict(), tmp / "state.pt")
    data = {"x": torch.randn(STEPS, BATCH, 3, 32, 32), "y": torch.randint(0, 10, (STEPS, BATCH))}
    torch.save(data, tmp / "data.pt")
    return {"tmp": tmp, "reference": single_process(model, data)}


def single_process(model: torch.nn.Module, data: dict) -> dict:
    optimizer = torch.optim.SGD(model.parameters(), lr=distributed_worker.LR)
    losses, grads = [], []
    for x, y in zip(data["x"], data["y"], strict=True):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        losses.append(loss.detach())
        grads.append({key: p.grad.clone() for key, p in model.named_parameters()})
        optimizer.step()
    return {"losses": torch.stack(losses), "grads": grads, "weights": dict(model.named_parameters())}


def run_ranks(mode: str, tmp) -> dict:
    out = tmp / f"{mode}.pt"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(ROOT / "tests" / "torch" / "distributed_worker.py"), "--mode", mode, "--spec", str(SPEC),
               "--state", str(tmp / "state.pt"), "--data", str(tmp / "data.pt"), "--out", str(out),
               "--overrides", json.dumps(SMALL)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return torch.load(out)


def test_ddp_gradients_equal_single_process_gradients(setup):
    result = run_ranks("ddp", setup["tmp"])
    reference = setup["reference"]
    assert result["local_numel"] == sum(w.numel() for w in reference["weights"].values()), "DDP replicates"
    for step, (grads, expected) in enumerate(zip(result["grads"], reference["grads"], strict=True)):
        assert grads.keys() == expected.keys()
        for key, grad in grads.items():
            torch.testing.assert_close(grad, expected[key], msg=f"step {step}: {key}")
    torch.testing.assert_close(result["losses"], reference["losses"])


def test_fsdp2_fully_shard_per_block_trains_to_the_same_losses_and_weights(setup):
    result = run_ranks("fsdp", setup["tmp"])
    reference = setup["reference"]
    total = sum(w.numel() for w in reference["weights"].values())
    assert result["local_numel"] <= total // 2 + 1000, "each rank holds about half of the weights"
    torch.testing.assert_close(result["losses"], reference["losses"], rtol=1e-5, atol=1e-6)
    for key, weight in result["weights"].items():
        torch.testing.assert_close(weight, reference["weights"][key].detach(), rtol=1e-5, atol=1e-6, msg=key)


def test_fsdp2_on_meta_shards_then_initialises_each_shard_as_timm(setup):
    """Built on `meta`, sharded, `to_empty()`, `init_weights()`: no rank ever holds the whole model."""
    result = run_ranks("fsdp_meta", setup["tmp"])
    initial = result["initial"]
    total = sum(w.numel() for w in initial.values())
    assert result["local_numel"] <= total // 2 + 1000
    qkv = torch.cat([initial[f"blocks.{i}.attn.qkv.weight"].flatten() for i in range(SMALL["depth"])])
    assert abs(qkv.std().item() - 0.02) < 2e-3
    assert initial["blocks.0.attn.qkv.bias"].eq(0).all() and initial["blocks.0.norm1.weight"].eq(1).all()
    assert initial["cls_token"].std().item() < 1e-5
    assert result["losses"].isfinite().all()
