"""Warm starts, statistics files and weight noise, on their own."""

from __future__ import annotations

import logging

import pytest
import torch

from dcsep.errors import ConfigError
from dcsep.model import DeepClustering
from dcsep.train.weights import add_weight_noise, load_stats, warm_start

LOG = logging.getLogger("test")


def test_warm_start_with_reset(tmp_path, tiny_model_config):
    torch.manual_seed(0)
    src = DeepClustering.from_config(tiny_model_config)
    src.save(tmp_path / "m.pt")
    torch.manual_seed(1)
    dst = DeepClustering.from_config(tiny_model_config)
    fresh = dst.encoder.linear.weight.detach().clone()
    warm_start(dst, str(tmp_path / "m.pt"), ["encoder.linear"], LOG)
    assert torch.equal(dst.encoder.linear.weight, fresh)
    assert torch.equal(dst.encoder.blstm.lstm.weight_ih_l0, src.encoder.blstm.lstm.weight_ih_l0)
    with pytest.raises(ConfigError, match="init_reset: 'encoder.lin' names no parameter"):
        warm_start(dst, str(tmp_path / "m.pt"), ["encoder.lin"], LOG)


def test_load_stats_errors(tmp_path):
    torch.save({"mean": torch.zeros(3), "std": torch.ones(3)}, tmp_path / "ok.pt")
    mean, std = load_stats(tmp_path / "ok.pt", 3)
    assert mean.dtype == torch.float32 and torch.equal(std, torch.ones(3))
    with pytest.raises(ConfigError, match=r"must be a tensor of shape \(4,\)"):
        load_stats(tmp_path / "ok.pt", 4)
    with pytest.raises(ConfigError, match="stats file not found"):
        load_stats(tmp_path / "gone.pt", 3)
    torch.save({"mean": torch.tensor([0.0, float("nan"), 0.0]), "std": torch.ones(3)}, tmp_path / "nan.pt")
    with pytest.raises(ConfigError, match="mean holds non-finite values"):
        load_stats(tmp_path / "nan.pt", 3)


def test_weight_noise_is_seeded_and_reversible():
    a, b = torch.zeros(5), torch.zeros(5)
    clean = add_weight_noise([a], 0.1, seed=3, device=torch.device("cpu"))
    add_weight_noise([b], 0.1, seed=3, device=torch.device("cpu"))
    assert torch.equal(a, b) and a.abs().sum() > 0 and torch.equal(clean[0], torch.zeros(5))
    g = torch.get_rng_state()
    add_weight_noise([a], 0.1, seed=4, device=torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), g)  # the global generator is left alone
