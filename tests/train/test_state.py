"""Typed training state and step statistics, on their own."""

from __future__ import annotations

import dataclasses
import time

import torch

from dcsep.train.state import Meter, StepStats, TrainState


def test_checkpoint_round_trip_is_a_plain_mapping(tmp_path):
    st = TrainState(epoch=3, global_step=7, nbest=[[0.4, 2]], history=[{"epoch": 1}], stop_reason="x")
    torch.save({"state": st.to_dict()}, tmp_path / "c.pt")
    back = torch.load(tmp_path / "c.pt", weights_only=True)["state"]  # only plain containers
    assert TrainState.from_dict(back) == st
    assert set(back) == {f.name for f in dataclasses.fields(TrainState)}


def test_from_dict_ignores_unknown_keys_and_keeps_defaults():
    st = TrainState.from_dict({"epoch": 4, "someday": 1})
    assert st.epoch == 4 and st.global_step == 0 and st.nbest == []


def test_epoch_loss_and_next_epoch():
    st = TrainState(epoch=2, epoch_step=3, nonfinite_epoch=1, epoch_loss_sum=1.5, epoch_loss_count=3, global_step=9)
    assert st.epoch_loss == 0.5 and TrainState().epoch_loss == 0.0
    assert st.where(4) == "epoch 2, step 4/4 (global 10)"
    st.next_epoch()
    assert (st.epoch, st.epoch_step, st.nonfinite_epoch, st.epoch_loss_sum, st.epoch_loss_count) == (3, 0, 0, 0.0, 0)
    assert st.global_step == 9


def test_count_nonfinite_limits():
    st = TrainState()
    assert st.count_nonfinite(10, max_consecutive=2, max_fraction=1.0) == ""
    assert st.count_nonfinite(10, max_consecutive=2, max_fraction=1.0) == ""
    assert st.count_nonfinite(10, 2, 1.0).startswith("3 consecutive batches")
    st = TrainState()
    assert st.count_nonfinite(4, 10, 0.3) == ""
    st.nonfinite_consecutive = 0
    assert st.count_nonfinite(4, 10, 0.3).startswith("2 of the epoch's 4 batches")
    assert (st.nonfinite_total, st.nonfinite_epoch) == (2, 2)


def test_summary():
    st = TrainState(epoch=4, global_step=12, nbest=[[0.2, 3], [0.3, 1]], nonfinite_total=1, train_seconds=7200.0,
                    stop_reason="reached max_epochs (3)")
    s = st.summary(0.25)
    assert s["epochs"] == 3 and s["best_epoch"] == 3 and s["averaged_epochs"] == [1, 3] and s["train_hours"] == 2.0
    assert s["averaged_valid_loss"] == 0.25 and s["nonfinite_batches"] == 1


def test_step_stats_order_is_fixed():
    s = StepStats(loss=1.0, nonfinite=0.0, stop=1.0, frames=10.0, samples=640.0)
    assert s.to_list() == [1.0, 0.0, 1.0, 10.0, 640.0] and StepStats.from_list(s.to_list()) == s


def test_meter():
    m = Meter()
    m.add(1.0, 2.0, 100.0, 8000.0)
    m.add(3.0, 4.0, 100.0, 8000.0)
    m.t0 = time.monotonic() - 2.0
    out = m.summary(fs=8000)
    assert out["loss"] == 2.0 and out["grad_norm"] == 3.0
    assert 90 < out["frames_per_s"] <= 100 and 0.9 < out["realtime_factor"] <= 1.0
    m.reset()
    assert m.n == 0 and m.loss == 0.0
