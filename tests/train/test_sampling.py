"""Chunk lengths, per-epoch batches and their shards, seeds: functions of their arguments only."""

from __future__ import annotations

import pytest

from dcsep.model import DeepClustering
from dcsep.train.sampling import epoch_batches, frames_to_samples, loader_seed, noise_seed, shard_batches


def test_frames_to_samples(tiny_model_config):
    fe = DeepClustering.from_config(tiny_model_config).frontend
    for frames in (1, 2, 100, 400):
        n = frames_to_samples(fe, frames)
        assert fe.num_frames(n) == frames and (n == 1 or fe.num_frames(n - 1) < frames)
    assert frames_to_samples(fe, 100) == 6336


def test_frames_to_samples_needs_a_hop(tiny_model_config):
    from dcsep.errors import ConfigError

    fe = DeepClustering.from_config(tiny_model_config).frontend
    fe.hop_length = 0
    with pytest.raises(ConfigError, match="STFTFrontend: hop_length must be a positive int, got 0"):
        frames_to_samples(fe, 10)


def test_batches_and_shards():
    b = epoch_batches(10, 4, seed=0, epoch=1)
    assert len(b) == 2 and len(set(b[0] + b[1])) == 8
    assert b == epoch_batches(10, 4, seed=0, epoch=1) != epoch_batches(10, 4, seed=0, epoch=2)
    shards = [shard_batches(b, r, 2, 2) for r in range(2)]
    assert shards[0][0] == [[b[0][0]], [b[0][1]]] and shards[1][0] == [[b[0][2]], [b[0][3]]]


def test_seeds_depend_on_their_arguments_only():
    assert noise_seed(0, 5) == noise_seed(0, 5) != noise_seed(0, 6)
    assert 0 <= noise_seed(3, 1) < 2**63
    assert loader_seed(0, 1, 0) == loader_seed(0, 1, 0) != loader_seed(0, 1, 1)
    assert loader_seed(0, 1, 0) != loader_seed(0, 2, 0)
