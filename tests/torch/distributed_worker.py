"""A few training steps of a generated model under torch.distributed, one process per rank.

Started by tests/torch/test_distributed.py through torchrun (gloo backend, CPU):

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/torch/distributed_worker.py \\
        --mode ddp|fsdp|fsdp_meta --spec specs/vit.arch --state STATE.pt --data DATA.pt --out OUT.pt \
        --overrides '{"depth": 2}'

Each rank loads the same initial weights (STATE.pt) and takes its equal share of each step's
batch (DATA.pt). `ddp` wraps the model in DistributedDataParallel; `fsdp` shards every
repeated block with FSDP2's `fully_shard`, then the root. `fsdp_meta` is the recipe for a
model too big for one process (the README's): build on `meta` with activation checkpointing,
shard, `to_empty()`, `init_weights()` (each rank initialises only its shards); it ignores STATE.pt. Rank 0 writes each step's global
loss (the mean over ranks), the gradients (ddp), the initial and final full weights and how
many parameter elements it held itself to OUT.pt.
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.nn.parallel import DistributedDataParallel

import archgraph

LR = 0.1


def wrap(model: nn.Module, mode: str) -> nn.Module:
    if mode == "ddp":
        return DistributedDataParallel(model)
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential | nn.ModuleList):  # the repeats: one FSDP unit per block
            for block in module:
                fully_shard(block, mesh=mesh)
    return fully_shard(model, mesh=mesh)


def full(t: torch.Tensor) -> torch.Tensor:
    """A plain tensor (a DTensor shard gathered from every rank)."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def train(model: nn.Module, data: dict, mode: str) -> dict:
    rank, world = dist.get_rank(), dist.get_world_size()
    initial = {key.removeprefix("module."): full(p.detach()).clone() for key, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    losses, grads = [], []
    for x, y in zip(data["x"], data["y"], strict=True):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x.chunk(world)[rank]), y.chunk(world)[rank])
        loss.backward()
        total = loss.detach().clone()
        dist.all_reduce(total)
        losses.append(total / world)
        if mode == "ddp":
            grads.append({key.removeprefix("module."): p.grad.clone() for key, p in model.named_parameters()})
        optimizer.step()
    weights = {key.removeprefix("module."): full(p.detach()) for key, p in model.named_parameters()}
    local = sum(p.to_local().numel() if hasattr(p, "to_local") else p.numel() for p in model.parameters())
    return {"losses": torch.stack(losses), "grads": grads, "initial": initial, "weights": weights, "local_numel": local}


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--mode", "--spec", "--state", "--data", "--out", "--overrides"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    dist.init_process_group("gloo")
    torch.manual_seed(0)
    overrides = json.loads(args.overrides)
    if args.mode == "fsdp_meta":
        model = wrap(archgraph.build(args.spec, device="meta", grad_checkpointing=True, **overrides), "fsdp")
        model.to_empty(device="cpu")
        model.init_weights()
    else:
        model = archgraph.build(args.spec, **overrides)
        model.load_state_dict(torch.load(args.state))
        model = wrap(model, args.mode)
    result = train(model, torch.load(args.data), args.mode)
    if dist.get_rank() == 0:
        torch.save(result, args.out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
