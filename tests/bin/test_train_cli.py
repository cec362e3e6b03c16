"""dcsep-train and dcsep-stats from the command line: success, and one-line errors before any training."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from conftest import TINY_MODEL, make_tiny_corpus
from dcsep.bin import stats as stats_cli
from dcsep.bin import train as train_cli

CONF = {**TINY_MODEL, "batch_size": 4, "chunk_frames": 40, "max_epochs": 1, "num_workers": 0}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return make_tiny_corpus(root / "tr", num_utts=4, seed=0), make_tiny_corpus(root / "cv", num_utts=2, seed=1)


def _yaml(path, conf):
    path.write_text(yaml.safe_dump(conf))
    return str(path)


def _args(cfg, tr, cv, exp, *extra):
    return ["--config", str(cfg), "--train-dir", str(tr), "--valid-dir", str(cv), "--exp-dir", str(exp),
            "--no-progress", *extra]


def test_train_cli(corpus, tmp_path, capsys):
    cfg = _yaml(tmp_path / "train.yaml", CONF)
    assert stats_cli.main(["--data-dir", str(corpus[0]), "--config", cfg, "--out", str(tmp_path / "st.pt"),
                           "--max-utts", "2"]) == 0
    st = torch.load(tmp_path / "st.pt", weights_only=True)
    assert st["mean"].shape == (129,) and st["std"].shape == (129,) and st["num_utts"] == 2
    exp = tmp_path / "exp"
    assert train_cli.main(_args(cfg, *corpus, exp, "--stats", str(tmp_path / "st.pt"), "--seed", "7")) == 0
    assert (exp / "model.pt").is_file() and (exp / "valid.loss.best.pt").is_file()
    assert yaml.safe_load((exp / "config.yaml").read_text())["seed"] == 7
    # a second run into the same exp dir needs --resume
    capsys.readouterr()
    assert train_cli.main(_args(cfg, *corpus, exp)) == 1
    assert "--resume" in capsys.readouterr().err
    assert train_cli.main(_args(cfg, *corpus, exp, "--resume")) == 0


def _copy(src, dst):
    dst.mkdir()
    for name in ("wav.scp", "spk1.scp", "spk2.scp"):
        (dst / name).write_text((src / name).read_text())
    return dst


def _replace(d, scp, path):
    lines = (d / scp).read_text().splitlines()
    utt = lines[1].split()[0]
    lines[1] = f"{utt} {path}"
    (d / scp).write_text("\n".join(lines) + "\n")
    return utt


def bad_missing_wav(tr, tmp):
    d = _copy(tr, tmp / "d")
    utt = _replace(d, "wav.scp", tmp / "gone.wav")
    return d, [str(d / "wav.scp"), utt, "gone.wav", "file not found"]


def bad_garbage_wav(tr, tmp):
    d = _copy(tr, tmp / "d")
    (tmp / "junk.wav").write_bytes(bytes(range(256)) * 20)
    utt = _replace(d, "spk1.scp", tmp / "junk.wav")
    return d, [str(d / "spk1.scp"), utt, "junk.wav", "cannot read audio"]


def bad_sample_rate(tr, tmp):
    d = _copy(tr, tmp / "d")
    sf.write(tmp / "16k.wav", np.zeros(16000, np.float32), 16000)
    utt = _replace(d, "wav.scp", tmp / "16k.wav")
    return d, [str(d / "wav.scp"), utt, "sample rate 16000 Hz, expected 8000 Hz"]


def bad_short_source(tr, tmp):
    d = _copy(tr, tmp / "d")
    sf.write(tmp / "short.wav", np.zeros(4000, np.float32), 8000)
    utt = _replace(d, "spk2.scp", tmp / "short.wav")
    return d, [str(d / "spk2.scp"), utt, "shorter than the mixture"]


def bad_empty_dir(tr, tmp):
    d = tmp / "d"
    d.mkdir()
    (d / "wav.scp").write_text("")
    return d, [str(d / "wav.scp"), "empty list"]


def bad_one_source(tr, tmp):
    """spk2.scp missing: one source list is no separation task (it used to train with '1 speakers')."""
    d = _copy(tr, tmp / "d")
    (d / "spk2.scp").unlink()
    return d, [str(d), "1 source list (spk1.scp)", "at least 2", "spk2.scp"]


@pytest.mark.parametrize(
    "make_bad", [bad_missing_wav, bad_garbage_wav, bad_sample_rate, bad_short_source, bad_empty_dir, bad_one_source]
)
@pytest.mark.parametrize("which", ["train", "valid"])
def test_bad_data_dir(corpus, tmp_path, capsys, make_bad, which):
    bad, needles = make_bad(corpus[0], tmp_path)
    tr, cv = (bad, corpus[1]) if which == "train" else (corpus[0], bad)
    cfg = _yaml(tmp_path / "train.yaml", CONF)
    assert train_cli.main(_args(cfg, tr, cv, tmp_path / "exp")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dcsep-train: error: ")
    for needle in needles:
        assert needle in err[-1], (needle, err[-1])
    assert not (tmp_path / "exp" / "checkpoints" / "checkpoint.pt").exists()
    assert not (tmp_path / "exp" / "model.pt").exists()


@pytest.mark.parametrize(
    "patch, needles",
    [
        ({"batch_sise": 4}, ["unknown key 'batch_sise'", "batch_size"]),
        ({"batch_size": "four"}, ["batch_size must be int", "'four'"]),
        ({"max_epochs": 1.5}, ["max_epochs must be int"]),
        ({"optim": "adagrad"}, ["optim: unknown optimizer 'adagrad'", "adam, adamw, rmsprop, sgd"]),
        ({"optim_conf": {"learning_rate": 0.1}}, ["optim_conf", "unknown key 'learning_rate'", "lr"]),
        ({"scheduler": "cosine"}, ["unknown scheduler 'cosine'", "plateau"]),
        ({"train_dataset": "shuffled"}, ["train_dataset", "chunks, dynamic_mix"]),
        ({"curriculum": [{"epochs": 2}]}, ["curriculum[0]", "chunk_frames"]),
        ({"encoder": "transformer"}, ["encoder", "unknown encoder 'transformer'", "blstm"]),
        ({"encoder_conf": {"hidden_units": "many"}}, ["encoder_conf", "hidden_units"]),
        ({"batch_size": 3, "accum_grad": 2}, ["batch_size 3", "divisible"]),
    ],
)
def test_bad_config(corpus, tmp_path, capsys, patch, needles):
    cfg = _yaml(tmp_path / "train.yaml", {**CONF, **patch})
    assert train_cli.main(_args(cfg, *corpus, tmp_path / "exp")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dcsep-train: error: ")
    assert cfg in err[0]
    for needle in needles:
        assert needle in err[0], (needle, err[0])
    assert not (tmp_path / "exp").exists()


def test_bad_yaml_syntax(corpus, tmp_path, capsys):
    cfg = tmp_path / "train.yaml"
    cfg.write_text("batch_size: [4\n")
    assert train_cli.main(_args(cfg, *corpus, tmp_path / "exp")) == 1
    err = capsys.readouterr().err
    assert str(cfg) in err and "invalid YAML" in err


def test_bad_stats_file(corpus, tmp_path, capsys):
    cfg = _yaml(tmp_path / "train.yaml", CONF)
    torch.save({"mean": torch.zeros(10), "std": torch.ones(10)}, tmp_path / "st.pt")
    assert train_cli.main(_args(cfg, *corpus, tmp_path / "exp", "--stats", str(tmp_path / "st.pt"))) == 1
    err = capsys.readouterr().err
    assert "st.pt" in err and "(129,)" in err


def test_stats_cli_bad_dir(tmp_path, capsys):
    cfg = _yaml(tmp_path / "c.yaml", CONF)
    assert stats_cli.main(["--data-dir", str(tmp_path / "nope"), "--config", cfg, "--out", str(tmp_path / "s.pt")]) == 1
    assert "dcsep-stats: error:" in capsys.readouterr().err
    assert not (tmp_path / "s.pt").exists()


@pytest.mark.parametrize("to_group", [False, True], ids=["process", "process-group"])
def test_sigterm_writes_checkpoint_and_exits(corpus, tmp_path, to_group):
    # to_group: a DataLoader worker, and the signal to the whole process group (as
    # Slurm's scancel, `kill -- -PGID` or Ctrl-C send it); the worker must not die first
    import os
    import signal
    import subprocess
    import sys
    import time

    from dcsep.train.checkpoint import load_checkpoint

    cfg = _yaml(tmp_path / "train.yaml", {**CONF, "max_epochs": 1000, "log_interval": 1, "batch_size": 2,
                                           "num_workers": 1 if to_group else 0})
    exp = tmp_path / "exp"
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "dcsep.bin.train", *_args(cfg, *corpus, exp)],
                            env=env, stderr=subprocess.PIPE, text=True, start_new_session=to_group)
    try:
        deadline = time.monotonic() + 600  # generous: CI machines can be slow and busy
        while time.monotonic() < deadline and proc.poll() is None and not (
            (exp / "train.log").is_file() and "step 2 " in (exp / "train.log").read_text()
        ):
            time.sleep(0.1)
        assert proc.poll() is None, "training ended before its second step"
        assert "step 2 " in (exp / "train.log").read_text(), "no second step within 10 minutes"
        if to_group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "continue with --resume" in err and "received SIGTERM" in err
    state = load_checkpoint(exp / "checkpoints" / "checkpoint.pt")["state"]
    assert state["global_step"] >= 2 and not state["finished"]


def _exp_file(tmp):
    """--exp-dir is a file."""
    (tmp / "afile").write_text("keep me")
    return tmp / "afile", tmp / "afile", "is a file"


def _exp_checkpoints_file(tmp):
    """--exp-dir/checkpoints is a file."""
    (tmp / "exp").mkdir()
    (tmp / "exp" / "checkpoints").write_text("keep me")
    return tmp / "exp", tmp / "exp" / "checkpoints", "is a file"


def _exp_under_file(tmp):
    """--exp-dir lies under a file."""
    (tmp / "afile").write_text("keep me")
    return tmp / "afile" / "exp", tmp / "afile", "is a file"


@pytest.mark.parametrize("make", [_exp_file, _exp_checkpoints_file, _exp_under_file],
                         ids=["file", "checkpoints-file", "under-a-file"])
def test_exp_dir_in_the_way(corpus, tmp_path, capsys, make):
    exp, in_the_way, needle = make(tmp_path)
    cfg = _yaml(tmp_path / "train.yaml", CONF)
    assert train_cli.main(_args(cfg, *corpus, exp)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dcsep-train: error: --exp-dir "), err
    assert f"{in_the_way} {needle}" in err[0] and "choose another --exp-dir" in err[0]
    assert in_the_way.read_text() == "keep me"


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only tmpfs (as root), else a dir without write permission (for other users)."""
    import os
    import subprocess

    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(d)], capture_output=True).returncode:
            pytest.skip("cannot mount a read-only tmpfs here")
        yield d
        subprocess.run(["umount", str(d)], check=True)
    else:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)


def test_exp_dir_on_a_read_only_fs(corpus, tmp_path, capsys, read_only_dir):
    cfg = _yaml(tmp_path / "train.yaml", CONF)
    exp = read_only_dir / "exp"
    assert train_cli.main(_args(cfg, *corpus, exp)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"dcsep-train: error: --exp-dir {exp}: cannot write there"), err
    assert "choose another --exp-dir" in err[0]
