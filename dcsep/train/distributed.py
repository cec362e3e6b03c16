"""Process group set-up for data-parallel training.

One process per device. Launched either by ``torchrun`` (which sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``;
single- or multi-node), or by :func:`spawn` for N local GPUs
(``dcsep-train --ngpu N``). CPU processes use gloo, GPU processes nccl.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from dcsep.errors import ConfigError


@dataclass
class DistEnv:
    """Where this process stands: rank, world size and device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    # ---- collectives (no-ops in a single process) -------------------------
    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Sum a few floats over all processes (float64)."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def all_gather_object(self, obj) -> list:
        if not self.distributed:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast_(self, tensor: torch.Tensor) -> None:
        if self.distributed:
            dist.broadcast(tensor, 0)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    # ---- the model ----------------------------------------------------------
    def wrap(self, model: nn.Module) -> nn.Module:
        """``model.forward_loss`` as a module's forward (in DistributedDataParallel with several processes)."""
        module = _LossForward(model)
        if not self.distributed:
            return module
        return nn.parallel.DistributedDataParallel(
            module, device_ids=[self.device.index] if self.device.type == "cuda" else None
        )


class _LossForward(nn.Module):
    """Calls ``model.forward_loss``: DistributedDataParallel synchronises the gradients of what its forward computes."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: dict, amp_dtype: torch.dtype | None = None):
        return self.model.forward_loss(batch, amp_dtype)


def under_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(ngpu: int) -> DistEnv:
    """Initialise the process group from the environment (if launched as several processes).

    Args:
        ngpu: 0 for CPU; > 0 to use the GPU ``LOCAL_RANK`` (one per process).
    """
    if ngpu > 0:
        if not torch.cuda.is_available():
            raise ConfigError(f"--ngpu {ngpu}: CUDA is not available on this machine (use --ngpu 0 for CPU)")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if ngpu > 0:
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"process with LOCAL_RANK {local_rank} has no GPU: {torch.cuda.device_count()} visible"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if device.type == "cuda" else "gloo",
            rank=rank,
            world_size=world,
            device_id=device if device.type == "cuda" else None,
        )
    return DistEnv(rank=rank, world_size=world, local_rank=local_rank, device=device)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawned(local_rank: int, world: int, port: int, fn: Callable, args: tuple) -> None:
    os.environ.update(
        RANK=str(local_rank),
        LOCAL_RANK=str(local_rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    fn(*args)


def spawn(fn: Callable, nprocs: int, args: tuple = ()) -> None:
    """Run ``fn(*args)`` in ``nprocs`` local processes with the torchrun environment set."""
    mp.spawn(_spawned, args=(nprocs, free_port(), fn, args), nprocs=nprocs, join=True)
