"""Which items each step trains on: chunk lengths, per-epoch batches, their shards, noise seeds.

Everything here depends only on its arguments (the seed, the epoch, the
step), which is what makes a killed and resumed run bit-identical.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from dcsep.data.dataset import WorkerInit, collate
from dcsep.errors import ConfigError


def frames_to_samples(frontend, frames: int) -> int:
    """The shortest number of samples that gives ``frames`` frames (``frontend``: a :class:`Frontend`)."""
    hop = frontend.hop_length
    if not isinstance(hop, int) or hop < 1:
        raise ConfigError(f"frontend {type(frontend).__name__}: hop_length must be a positive int, got {hop!r}")
    n = max(1, frames * hop)
    while n - hop >= 1 and frontend.num_frames(n - hop) >= frames:
        n -= hop
    while frontend.num_frames(n) < frames:
        n += hop
    while n > 1 and frontend.num_frames(n - 1) >= frames:
        n -= 1
    return n


def check_batch_sizes(stages: list[dict], world: int, accum: int, where: str) -> None:
    """Every stage's global ``batch_size`` must split into ``world`` processes x ``accum`` micro-batches."""
    for st in stages:
        if st["batch_size"] % (world * accum):
            raise ConfigError(
                f"{where}: batch_size {st['batch_size']} (the global batch) must be divisible by "
                f"world_size x accum_grad = {world} x {accum}"
            )


def epoch_batches(num_items: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """A shuffled list of full global batches of item indices, fixed by ``(seed, epoch)``.

    Example:
        >>> b = epoch_batches(10, 4, seed=0, epoch=1)
        >>> len(b), len(b[0])
        (2, 4)
    """
    order = np.random.default_rng([seed, epoch, 1]).permutation(num_items)
    nb = num_items // batch_size
    return [order[i * batch_size : (i + 1) * batch_size].tolist() for i in range(nb)]


def shard_batches(batches: list[list[int]], rank: int, world: int, accum: int) -> list[list[list[int]]]:
    """Per step, this process's micro-batches: slice ``rank`` of ``world``, split in ``accum``.

    Example:
        >>> shard_batches([[0, 1, 2, 3]], rank=1, world=2, accum=2)
        [[[2], [3]]]
    """
    out = []
    for b in batches:
        per = len(b) // world
        mine = b[rank * per : (rank + 1) * per]
        m = per // accum
        out.append([mine[j * m : (j + 1) * m] for j in range(accum)])
    return out


def noise_seed(seed: int, step: int) -> int:
    """The seed of the weight noise of global step ``step`` (the same in every process)."""
    return int(np.random.SeedSequence([seed, step, 2]).generate_state(1, dtype=np.uint64)[0] >> 1)


def loader_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of a DataLoader's own generator for ``(seed, epoch, rank)``."""
    return int(np.random.SeedSequence([seed, epoch, rank, 4]).generate_state(1)[0])


def make_loader(dataset, batches: list[list[int]], seed: int, epoch: int, rank: int, num_workers: int,
                pin_memory: bool = False) -> DataLoader:
    """A DataLoader over ``batches`` with its own generator and workers seeded from ``(seed, epoch, rank)``."""
    g = torch.Generator()
    g.manual_seed(loader_seed(seed, epoch, rank))
    return DataLoader(dataset, batch_sampler=batches, collate_fn=collate, num_workers=num_workers,
                      worker_init_fn=WorkerInit(seed, epoch, rank), generator=g, pin_memory=pin_memory)
