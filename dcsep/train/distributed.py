"""Process group set-up for data-parallel training.

One process per device. Launched either by ``torchrun`` (which sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``;
single- or multi-node), or by :func:`spawn` for N local GPUs
(``dcsep-train --ngpu N``). CPU processes use gloo, GPU processes nccl.

What a group of processes changes against one process with the same
global batch (see ``docs/training.md``):

* each process draws its own dropout masks: after DDP has broadcast rank
  0's weights, ranks >= 1 reseed their global RNGs (:func:`rank_seed`);
* on CUDA, BatchNorm layers become SyncBatchNorm (statistics over the global
  batch, :func:`use_sync_batchnorm`); gloo (CPU) processes keep per-process
  BatchNorm statistics, as SyncBatchNorm has no CPU kernels;
* every process computes the feature statistics itself (the same files,
  the same result), so no process waits in a collective for longer than
  the data checks take.
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

import numpy as np

from dcsep.errors import ConfigError
from dcsep.utils import seed_everything


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
    def wrap(self, model: nn.Module, seed: int) -> nn.Module:
        """``model.forward_loss`` as a module's forward (in DistributedDataParallel with several processes).

        With several processes: BatchNorm layers of ``model`` become
        SyncBatchNorm on CUDA (in place), DDP broadcasts rank 0's weights,
        and ranks >= 1 then reseed their global RNGs with :func:`rank_seed`.
        """
        if use_sync_batchnorm(self.device.type, self.world_size, model):
            nn.SyncBatchNorm.convert_sync_batchnorm(model)
        module = _LossForward(model)
        if not self.distributed:
            return module
        ddp = nn.parallel.DistributedDataParallel(
            module, device_ids=[self.device.index] if self.device.type == "cuda" else None
        )
        if self.rank > 0:
            seed_everything(rank_seed(seed, self.rank))
        return ddp


class _LossForward(nn.Module):
    """Calls ``model.forward_loss``: DistributedDataParallel synchronises the gradients of what its forward computes."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: dict, amp_dtype: torch.dtype | None = None):
        return self.model.forward_loss(batch, amp_dtype)


def rank_seed(seed: int, rank: int) -> int:
    """The seed of process ``rank``'s global RNGs once the weights are shared.

    Rank 0 goes on with the run's own stream (it draws what a single process
    draws); each other rank gets a seed of its own, fixed by ``(seed, rank)``.

    Example:
        >>> rank_seed(7, 0), rank_seed(7, 1) == rank_seed(7, 1) != rank_seed(7, 2)
        (7, True)
    """
    return seed if rank == 0 else int(np.random.SeedSequence([seed, rank, 5]).generate_state(1)[0])


def use_sync_batchnorm(device_type: str, world_size: int, model: nn.Module) -> bool:
    """Whether to convert the model's BatchNorm layers to SyncBatchNorm: on CUDA, with several processes, if it has any.

    Example:
        >>> bn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
        >>> use_sync_batchnorm("cuda", 4, bn), use_sync_batchnorm("cuda", 1, bn), use_sync_batchnorm("cpu", 4, bn)
        (True, False, False)
    """
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    return device_type == "cuda" and world_size > 1 and has_bn


def bind_device(ngpu: int, local_rank: int, device_count: int) -> torch.device:
    """The device of a process.

    ``LOCAL_RANK`` picks the GPU when that many are visible (``torchrun``,
    ``dcsep-train --ngpu N``); a process that sees exactly one GPU takes it
    whatever its ``LOCAL_RANK`` (a launcher giving each task its own GPU:
    Slurm ``--gpus-per-task=1``, ``CUDA_VISIBLE_DEVICES`` per process).

    Args:
        ngpu: 0 for the CPU.
        local_rank: ``LOCAL_RANK`` (0 without a launcher).
        device_count: ``torch.cuda.device_count()``.

    Raises:
        ConfigError: no GPU is visible, or several are and none is ``LOCAL_RANK``'s.

    Example:
        >>> bind_device(0, 3, 8), bind_device(1, 3, 8), bind_device(1, 3, 1)
        (device(type='cpu'), device(type='cuda', index=3), device(type='cuda', index=0))
    """
    if ngpu == 0:
        return torch.device("cpu")
    if device_count < 1:
        raise ConfigError(f"--ngpu {ngpu}: no GPU is visible to this process (use --ngpu 0 for CPU)")
    if local_rank < device_count:
        return torch.device("cuda", local_rank)
    if device_count == 1:
        return torch.device("cuda", 0)
    raise ConfigError(
        f"process with LOCAL_RANK {local_rank} sees {device_count} GPUs, none of them its own: give every process "
        f"all the node's GPUs (torchrun) or exactly one (e.g. Slurm --gpus-per-task=1)"
    )


def under_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(ngpu: int) -> DistEnv:
    """Initialise the process group from the environment (if launched as several processes).

    Args:
        ngpu: 0 for CPU; > 0 for one GPU per process (see :func:`bind_device`).
    """
    if ngpu > 0:
        if not torch.cuda.is_available():
            raise ConfigError(f"--ngpu {ngpu}: CUDA is not available on this machine (use --ngpu 0 for CPU)")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = bind_device(ngpu, local_rank, torch.cuda.device_count() if ngpu > 0 else 0)
    if device.type == "cuda":
        torch.cuda.set_device(device)
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
