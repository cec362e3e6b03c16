"""The training loop: learning, outputs, best-N averaging, early stopping, non-finite losses."""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml

from dcsep.model import DeepClustering
from dcsep.train import trainer as trainer_mod
from dcsep.train.checkpoint import load_checkpoint
from dcsep.train.config import split_config
from dcsep.train.trainer import TrainingError

from .helpers import assert_same_weights, config, make_data, model_state, train


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("trainer"))


@pytest.fixture(scope="module")
def run4(data, tmp_path_factory):
    """A 4-epoch run keeping the best 2 epochs."""
    exp = tmp_path_factory.mktemp("run4")
    summary = train(data, exp, config(max_epochs=4, keep_nbest=2))
    return exp, summary


def test_loss_goes_down(run4):
    exp, summary = run4
    hist = load_checkpoint(exp / "checkpoints" / "checkpoint.pt")["state"]["history"]
    assert len(hist) == 4
    assert hist[-1]["train_loss"] < 0.8 * hist[0]["train_loss"]
    assert hist[-1]["valid_loss"] < hist[0]["valid_loss"]
    assert summary["stop_reason"].startswith("reached max_epochs")


def test_exp_dir_outputs(run4, data):
    exp, summary = run4
    model = DeepClustering.load(exp / "model.pt")
    pkg = torch.load(exp / "model.pt", weights_only=True)
    assert pkg["extra"]["train"]["best_epoch"] == summary["best_epoch"]
    assert json.loads((exp / "train_summary.json").read_text()) == summary
    # the stats were computed from the training data and saved with the model
    assert not torch.equal(model.frontend.mean, torch.zeros_like(model.frontend.mean))
    # config.yaml is the resolved config, valid as a training config again
    conf = yaml.safe_load((exp / "config.yaml").read_text())
    _, cfg = split_config(conf)
    assert cfg.max_epochs == 4 and conf["encoder_conf"]["hidden_units"] == 16
    log = (exp / "train.log").read_text()
    assert "training summary:" in log and "frames/s" in log and "real time" in log
    header = (exp / "scalars.csv").read_text().splitlines()[0]
    assert header == "step,epoch,name,value"


def test_best_n_and_average(run4):
    exp, summary = run4
    ckpt = load_checkpoint(exp / "checkpoints" / "checkpoint.pt")
    hist = ckpt["state"]["history"]
    ranked = sorted(hist, key=lambda h: (h["valid_loss"], h["epoch"]))[:2]
    best = [h["epoch"] for h in ranked]
    assert [e for _, e in ckpt["state"]["nbest"]] == best
    assert sorted(p.name for p in (exp / "checkpoints").glob("epoch*.pt")) == sorted(f"epoch{e}.pt" for e in best)
    states = [model_state(exp / "checkpoints" / f"epoch{e}.pt") for e in best]
    assert_same_weights(model_state(exp / "valid.loss.best.pt"), states[0])
    avg = model_state(exp / "model.pt")
    for k, v in avg.items():
        if torch.is_floating_point(v):
            assert torch.allclose(v, (states[0][k] + states[1][k]) / 2, atol=1e-7)
    assert summary["averaged_epochs"] == sorted(best)
    assert summary["best_valid_loss"] == ranked[0]["valid_loss"]


def test_early_stopping(data, tmp_path):
    # lr 0: the validation loss never improves after epoch 1
    summary = train(data, tmp_path / "exp", config(max_epochs=10, patience=2, optim_conf={"lr": 0.0}))
    assert summary["epochs"] == 3 and summary["best_epoch"] == 1
    assert summary["stop_reason"].startswith("early stopping")


def test_exp_dir_in_use(data, run4):
    from dcsep.errors import ConfigError

    with pytest.raises(ConfigError, match="--resume"):
        train(data, run4[0], config())


class NaNLoss:
    """Patches DeepClustering.forward_loss (the one home of the loss) to return NaN on chosen calls."""

    def __init__(self, monkeypatch, bad_calls):
        self.bad = set(bad_calls)
        self.calls = 0
        orig = DeepClustering.forward_loss

        def forward_loss(model, batch, *args, **kwargs):
            loss, stats = orig(model, batch, *args, **kwargs)
            self.calls += 1
            if model.training and self.calls in self.bad:
                loss = loss * float("nan")
                stats = {**stats, "loss": loss.detach()}
            return loss, stats

        monkeypatch.setattr(DeepClustering, "forward_loss", forward_loss)


def test_nonfinite_batches_are_skipped(data, tmp_path, monkeypatch):
    NaNLoss(monkeypatch, {2, 6})
    summary = train(data, tmp_path / "exp", config(max_epochs=2, nonfinite_max_fraction=0.5))
    assert summary["nonfinite_batches"] == 2
    model = DeepClustering.load(tmp_path / "exp" / "model.pt")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    log = (tmp_path / "exp" / "train.log").read_text()
    assert log.count("non-finite loss or gradient at epoch") == 2


def test_nonfinite_consecutive_stop(data, tmp_path, monkeypatch):
    NaNLoss(monkeypatch, range(1, 100))
    conf = config(nonfinite_max_consecutive=2, nonfinite_max_fraction=1.0)
    with pytest.raises(TrainingError, match="3 consecutive batches with a non-finite loss"):
        train(data, tmp_path / "exp", conf)


def test_nonfinite_fraction_stop(data, tmp_path, monkeypatch):
    NaNLoss(monkeypatch, {1, 3})
    conf = config(nonfinite_max_fraction=0.3)  # 4 steps per epoch: the second bad batch is too many
    with pytest.raises(TrainingError, match="2 of the epoch's 4 batches"):
        train(data, tmp_path / "exp", conf)


def test_curriculum_and_accum(data, tmp_path):
    seen = {}

    def hook(tr):
        seen.setdefault(tr.state.epoch, tr.train_data.chunk_samples)

    conf = config(curriculum=[{"epochs": 1, "chunk_frames": 20}, {"epochs": 1, "chunk_frames": 60, "batch_size": 2}],
                  max_epochs=3, accum_grad=2)
    summary = train(data, tmp_path / "exp", conf, step_hook=hook)
    assert seen == {1: 19 * 64, 2: 59 * 64, 3: 59 * 64}
    assert summary["epochs"] == 3


def test_accum_grad_same_result(data, tmp_path):
    # SGD: Adam would blow the float rounding of near-zero gradients up to lr-sized steps
    conf = config(max_epochs=1, keep_nbest=1, optim="sgd", optim_conf={"lr": 0.1})
    a = train(data, tmp_path / "a", conf)
    b = train(data, tmp_path / "b", dict(conf, accum_grad=2))
    sa, sb = model_state(tmp_path / "a" / "model.pt"), model_state(tmp_path / "b" / "model.pt")
    for k in sa:
        assert torch.allclose(sa[k], sb[k], atol=1e-6), k
    assert math.isclose(a["best_valid_loss"], b["best_valid_loss"], rel_tol=1e-4)


def test_stats_file_is_used(data, tmp_path):
    from dcsep.bin.stats import compute

    compute(str(data[0]), _write_yaml(tmp_path / "c.yaml", config()), str(tmp_path / "stats.pt"))
    st = torch.load(tmp_path / "stats.pt", weights_only=True)
    train(data, tmp_path / "exp", config(max_epochs=1), stats=tmp_path / "stats.pt")
    model = DeepClustering.load(tmp_path / "exp" / "model.pt")
    assert torch.equal(model.frontend.mean, st["mean"])


def _write_yaml(path, conf):
    path.write_text(yaml.safe_dump(conf))
    return str(path)


def _single_speaker_dir(corpus, out):
    """wav.scp + utt2spk of the tiny corpus's sources: 4 speakers (two per f0 range)."""
    out.mkdir()
    wav, u2s = [], []
    for c in (1, 2):
        for line in (corpus / f"spk{c}.scp").read_text().splitlines():
            utt, path = line.split(maxsplit=1)
            sid = f"s{c}{int(utt[-1]) % 2}"
            wav.append(f"{sid}-{utt} {path}")
            u2s.append(f"{sid}-{utt} {sid}")
    (out / "wav.scp").write_text("\n".join(sorted(wav)) + "\n")
    (out / "utt2spk").write_text("\n".join(sorted(u2s)) + "\n")
    return out


def test_dynamic_mix_training_resumes_bit_identically(data, tmp_path):
    pytest.importorskip("dcsep.data.dynamic_mix")
    from .helpers import KillAt

    src = _single_speaker_dir(data[0], tmp_path / "single")
    conf = config(train_dataset="dynamic_mix", train_dataset_conf={"epoch_size": 12, "gain_db_range": [0, 5]},
                  max_epochs=2, save_interval_steps=2)
    ref = train((src, data[1]), tmp_path / "ref", conf)
    assert ref["steps"] == 6 and ref["epochs"] == 2
    with pytest.raises(KillAt.Killed):
        train((src, data[1]), tmp_path / "exp", conf, step_hook=KillAt(5))
    train((src, data[1]), tmp_path / "exp", conf, resume=True)
    assert_same_weights(model_state(tmp_path / "exp" / "model.pt"), model_state(tmp_path / "ref" / "model.pt"))


def test_dynamic_mix_bad_conf(data, tmp_path):
    pytest.importorskip("dcsep.data.dynamic_mix")
    from dcsep.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown key 'epochs_size'"):
        split_config(config(train_dataset="dynamic_mix", train_dataset_conf={"epochs_size": 3}), "t.yaml")
    with pytest.raises(ConfigError, match="chunk_samples is set by the trainer"):
        split_config(config(train_dataset="dynamic_mix", train_dataset_conf={"chunk_samples": 3}), "t.yaml")


def test_init_model_and_valid_chunks(data, run4, tmp_path):
    exp0 = run4[0]
    seen = {}

    def hook(tr):
        seen["valid_items"] = len(tr.valid_set)

    conf = config(max_epochs=1, init_model=str(exp0 / "model.pt"), valid_chunk_frames=30, optim_conf={"lr": 0.0})
    summary = train(data, tmp_path / "exp", conf, step_hook=hook)
    assert seen["valid_items"] == 3 * 5  # 3 one-second utterances in chunks of 29 * 64 samples
    init = model_state(exp0 / "model.pt")
    assert_same_weights(model_state(tmp_path / "exp" / "model.pt"), init)  # lr 0: the weights stay
    assert summary["best_valid_loss"] > 0


def test_init_reset_starts_the_output_layer_afresh(data, run4, tmp_path):
    """init_reset: the named layer may change shape (another K) and keeps its fresh initialisation."""
    from dcsep.errors import ConfigError

    init = model_state(run4[0] / "model.pt")
    base = config()["encoder_conf"]
    conf = config(
        max_epochs=1, init_model=str(run4[0] / "model.pt"), init_reset=["encoder.linear"], optim_conf={"lr": 0.0},
        encoder_conf={**base, "embed_dim": base["embed_dim"] + 3},
    )
    train(data, tmp_path / "k", conf)
    got = model_state(tmp_path / "k" / "model.pt")
    for k in init:
        if k.startswith("encoder.linear."):
            assert got[k].shape[0] == init[k].shape[0] // base["embed_dim"] * (base["embed_dim"] + 3)
        else:
            assert torch.equal(got[k], init[k]), f"{k} differs"  # lr 0: the loaded weights stay
    # the same K: the reset layer differs from the loaded one, the rest is loaded
    train(data, tmp_path / "same", config(max_epochs=1, init_model=str(run4[0] / "model.pt"),
                                           init_reset=["encoder.linear"], optim_conf={"lr": 0.0}))
    same = model_state(tmp_path / "same" / "model.pt")
    assert not torch.equal(same["encoder.linear.weight"], init["encoder.linear.weight"])
    assert torch.equal(same["encoder.blstm.lstm.weight_ih_l0"], init["encoder.blstm.lstm.weight_ih_l0"])
    # another K without init_reset, or a prefix naming nothing: clear errors before any training
    with pytest.raises(ConfigError, match="init_model does not fit the configured model"):
        train(data, tmp_path / "bad1", {**conf, "init_reset": []})
    with pytest.raises(ConfigError, match="init_reset: 'encoder.lin' names no parameter"):
        train(data, tmp_path / "bad2", {**conf, "init_reset": ["encoder.lin"]})
    with pytest.raises(ConfigError, match="init_reset must be"):
        train(data, tmp_path / "bad3", {**conf, "init_reset": "encoder.linear"})


@pytest.mark.parametrize("stop_requested", [True, False], ids=["stop-requested", "no-stop"])
def test_lost_loader_worker(data, tmp_path, monkeypatch, stop_requested):
    """A worker killed by the group signal that asked for the stop: checkpoint and stop; otherwise the error stands."""
    from dcsep.train.trainer import TrainingInterrupted

    real, calls = trainer_mod.Trainer._loader, []

    def loader(self, dataset, batches, epoch):
        inner = real(self, dataset, batches, epoch)
        calls.append(epoch)
        if len(calls) > 1:  # only the first training epoch's loader loses its worker
            return inner

        def batches_then_lost():
            for i, b in enumerate(inner):
                if i == 2:
                    self.stop_requested = stop_requested
                    raise RuntimeError("DataLoader worker (pid 1) is killed by signal: Terminated.")
                yield b

        return batches_then_lost()

    monkeypatch.setattr(trainer_mod.Trainer, "_loader", loader)
    exp = tmp_path / "exp"
    if stop_requested:
        with pytest.raises(TrainingInterrupted, match="step 2/"):
            train(data, exp, config(max_epochs=2, batch_size=1))
        st = load_checkpoint(exp / "checkpoints" / "checkpoint.pt")["state"]
        assert st["epoch_step"] == 2 and st["global_step"] == 2
    else:
        with pytest.raises(RuntimeError, match="killed by signal"):
            train(data, exp, config(max_epochs=2, batch_size=1))
