"""A run killed at any moment and resumed ends with bit-identical weights."""

from __future__ import annotations

import csv

import pytest
import torch

from dcsep.train.checkpoint import load_checkpoint

from .helpers import KillAt, assert_same_weights, config, make_data, model_state, train

# dropout and weight noise make the run depend on the RNG states too
CONF = config(
    encoder_conf={"num_layers": 1, "hidden_units": 16, "embed_dim": 8, "dropout": 0.2},
    weight_noise=0.01,
    max_epochs=3,
    save_interval_steps=2,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("resume"))


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """Uninterrupted runs, one per num_workers."""
    out = {}
    for nw in (0, 2):
        exp = tmp_path_factory.mktemp(f"ref{nw}")
        train(data, exp, dict(CONF, num_workers=nw))
        out[nw] = exp
    return out


def _losses(exp):
    with open(exp / "scalars.csv") as f:
        rows = list(csv.DictReader(f))
    return [(r["step"], r["epoch"], r["name"], r["value"]) for r in rows if "loss" in r["name"]]


# 4 steps per epoch (18 chunks, batch 4), checkpoints every 2 steps and at each epoch end. Killed after
#   step 1: before any checkpoint; 3: mid-epoch (last checkpoint at step 2); 4: end of epoch 1, before its
#   validation (step checkpoint only); 5: first step of epoch 2 (last checkpoint at the end of epoch 1);
#   then several kills in one run.
@pytest.mark.parametrize("kill_steps", [[1], [3], [4], [5], [2, 6, 11]])
def test_kill_and_resume_is_bit_identical(data, reference, tmp_path, kill_steps):
    exp = tmp_path / "exp"
    for step in kill_steps:
        with pytest.raises(KillAt.Killed):
            train(data, exp, CONF, resume=True, step_hook=KillAt(step))
    train(data, exp, CONF, resume=True)
    assert_same_weights(model_state(exp / "model.pt"), model_state(reference[0] / "model.pt"))
    assert_same_weights(model_state(exp / "valid.loss.best.pt"), model_state(reference[0] / "valid.loss.best.pt"))
    ours = load_checkpoint(exp / "checkpoints" / "checkpoint.pt")
    ref = load_checkpoint(reference[0] / "checkpoints" / "checkpoint.pt")
    assert_same_weights(ours["model"], ref["model"])
    assert ours["state"]["history"] == ref["state"]["history"]
    assert _losses(exp) == _losses(reference[0])  # scalars.csv: no duplicated or missing rows


def test_kill_and_resume_with_workers(data, reference, tmp_path):
    exp = tmp_path / "exp"
    conf = dict(CONF, num_workers=2)
    with pytest.raises(KillAt.Killed):
        train(data, exp, conf, step_hook=KillAt(5))
    train(data, exp, conf, resume=True)
    assert_same_weights(model_state(exp / "model.pt"), model_state(reference[2] / "model.pt"))
    # the data do not depend on the number of workers
    assert_same_weights(model_state(exp / "model.pt"), model_state(reference[0] / "model.pt"))


def test_stop_request_writes_checkpoint(data, reference, tmp_path):
    from dcsep.train.trainer import TrainingInterrupted

    exp = tmp_path / "exp"
    conf = dict(CONF, save_interval_steps=0)  # only the stop request writes a mid-epoch checkpoint

    def hook(trainer):
        if trainer.state.global_step == 4:
            trainer.request_stop()  # as SIGTERM does

    with pytest.raises(TrainingInterrupted, match="--resume"):
        train(data, exp, conf, step_hook=hook)
    ckpt = load_checkpoint(exp / "checkpoints" / "checkpoint.pt")
    assert ckpt["state"]["global_step"] == 5 and ckpt["state"]["epoch_step"] == 1
    train(data, exp, conf, resume=True)
    assert_same_weights(model_state(exp / "model.pt"), model_state(reference[0] / "model.pt"))


def test_resume_finished_run_is_idempotent(data, reference, tmp_path):
    exp = tmp_path / "exp"
    train(data, exp, CONF)
    before = model_state(exp / "model.pt")
    summary = train(data, exp, CONF, resume=True)
    assert summary["epochs"] == 3
    assert_same_weights(model_state(exp / "model.pt"), before)


def test_raise_max_epochs_and_resume(data, reference, tmp_path):
    exp = tmp_path / "exp"
    assert train(data, exp, dict(CONF, max_epochs=2))["epochs"] == 2
    assert train(data, exp, CONF, resume=True)["epochs"] == 3
    assert_same_weights(model_state(exp / "model.pt"), model_state(reference[0] / "model.pt"))


def test_resume_with_another_model_fails(data, reference, tmp_path):
    from dcsep.errors import ConfigError

    exp = tmp_path / "exp"
    with pytest.raises(KillAt.Killed):
        train(data, exp, CONF, step_hook=KillAt(2))
    other = dict(CONF, encoder_conf={"num_layers": 1, "hidden_units": 8, "embed_dim": 8})
    with pytest.raises(ConfigError, match="encoder_conf"):
        train(data, exp, other, resume=True)


def test_checkpoint_loads_weights_only(reference):
    ckpt = torch.load(reference[0] / "checkpoints" / "checkpoint.pt", weights_only=True)
    assert {"model", "optimizer", "scheduler", "rng", "state", "config"} <= ckpt.keys()
    assert isinstance(ckpt["rng"][0]["torch"], torch.Tensor)
