"""Shared set-up of the trainer tests: a tiny corpus and tiny configs."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from conftest import TINY_MODEL, make_tiny_corpus
from dcsep.train.config import split_config
from dcsep.train.trainer import Trainer

BASE = {
    **TINY_MODEL,
    "batch_size": 4,
    "chunk_frames": 40,
    "max_epochs": 2,
    "num_workers": 0,
    "log_interval": 2,
    "keep_nbest": 2,
    "optim_conf": {"lr": 1.0e-2},
}


def make_data(root: Path) -> tuple[Path, Path]:
    """A training dir of 6 one-second mixtures (12 chunks of 40 frames: 3 steps of 4) and 3 for validation."""
    tr = make_tiny_corpus(root / "tr", num_utts=6, seed=0)
    cv = make_tiny_corpus(root / "cv", num_utts=3, seed=1)
    return tr, cv


def config(**overrides) -> dict:
    conf = copy.deepcopy(BASE)
    conf.update(overrides)
    return conf


def train(data: tuple[Path, Path], exp: Path, conf: dict, **kwargs) -> dict:
    model_conf, cfg = split_config(copy.deepcopy(conf), where="test.yaml")
    return Trainer(model_conf, cfg, data[0], data[1], exp, progress=False, **kwargs).run()


def model_state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs"


class KillAt:
    """A step hook that raises at the given global steps (a crash with no clean-up)."""

    class Killed(Exception):
        pass

    def __init__(self, step: int):
        self.step = step

    def __call__(self, trainer) -> None:
        if trainer.state.global_step == self.step:
            raise self.Killed(f"killed at step {self.step}")
