"""Device binding, SyncBatchNorm decision and per-rank seeds, as pure functions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dcsep.errors import ConfigError
from dcsep.train.distributed import DistEnv, bind_device, rank_seed, use_sync_batchnorm


@pytest.mark.parametrize(
    "ngpu, local_rank, count, want",
    [
        (0, 0, 0, "cpu"), (0, 3, 8, "cpu"),  # CPU whatever is visible
        (1, 0, 1, "cuda:0"), (1, 0, 4, "cuda:0"), (1, 3, 4, "cuda:3"),  # torchrun / --ngpu N: LOCAL_RANK's GPU
        (1, 1, 1, "cuda:0"), (1, 3, 1, "cuda:0"),  # one GPU per task (Slurm --gpus-per-task=1)
        (4, 2, 4, "cuda:2"),
    ],
)
def test_bind_device(ngpu, local_rank, count, want):
    assert bind_device(ngpu, local_rank, count) == torch.device(want)


@pytest.mark.parametrize("local_rank, count, needle", [(0, 0, "no GPU is visible"), (3, 2, "LOCAL_RANK 3 sees 2 GPUs")])
def test_bind_device_errors(local_rank, count, needle):
    with pytest.raises(ConfigError, match=needle):
        bind_device(1, local_rank, count)


def _conv_bn():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())


@pytest.mark.parametrize(
    "device, world, bn, want",
    [("cuda", 2, True, True), ("cuda", 1, True, False), ("cpu", 2, True, False), ("cuda", 4, False, False)],
)
def test_use_sync_batchnorm(device, world, bn, want):
    model = _conv_bn() if bn else nn.Sequential(nn.Linear(2, 2))
    assert use_sync_batchnorm(device, world, model) is want


def test_sync_batchnorm_conversion_keeps_the_state_dict(tiny_model_config):
    """What the trainer converts on CUDA saves and loads as the plain model (the conversion itself runs anywhere)."""
    from dcsep.model import DeepClustering

    conf = {**tiny_model_config, "encoder": "conv_blstm",
            "encoder_conf": {"conv_channels": [2], "num_layers": 1, "hidden_units": 4, "embed_dim": 3}}
    model = DeepClustering.from_config(conf)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = list(model.parameters())
    nn.SyncBatchNorm.convert_sync_batchnorm(model)  # in place below the root
    assert any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    assert list(model.parameters()) == params  # the optimizer's parameters stay the same objects
    state = model.state_dict()
    assert state.keys() == before.keys() and all(torch.equal(state[k], before[k]) for k in state)
    DeepClustering.from_config(conf).load_state_dict(state)


def test_wrap_single_process_converts_nothing_and_leaves_the_rng(tiny_model_config):
    from dcsep.model import DeepClustering

    model = DeepClustering.from_config(tiny_model_config)
    g = torch.get_rng_state()
    wrapped = DistEnv().wrap(model, seed=0)
    assert torch.equal(torch.get_rng_state(), g) and wrapped.model is model
    src = torch.randn(1, 2, 800)
    loss, stats = wrapped({"mix": src.sum(1), "sources": src})
    assert torch.equal(loss, model.forward_loss({"mix": src.sum(1), "sources": src})[0]) and stats["samples"] == 800


def test_rank_seed():
    assert rank_seed(5, 0) == 5
    seeds = {rank_seed(5, r) for r in range(1, 8)}
    assert len(seeds) == 7 and 5 not in seeds and rank_seed(5, 1) != rank_seed(6, 1)
