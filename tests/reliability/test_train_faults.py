"""SIGKILL dcsep-train anywhere, resume with --resume: the result is bit-identical.

Each attempt runs in a forked child of ``faultdriver.py`` (dcsep and torch
imported once) and kills itself with SIGKILL at a chosen point: mid-way
through writing a checkpoint, right after a rename, after an optimizer step
whose checkpoint is not written yet, during validation, in the middle of a
scalars.csv row, while writing the final model. The points are drawn from a
seeded generator. After every kill each ``*.pt`` on disk must load with
``weights_only=True``; the last attempt must finish with weights, optimizer
state and logged losses equal (``torch.equal``) to an uninterrupted run's.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import make_tiny_corpus

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "faultdriver.py"

TRAIN_YAML = """\
frontend_conf: {fs: 8000, n_fft: 256, hop_length: 64}
encoder: blstm
encoder_conf: {num_layers: 1, hidden_units: 8, embed_dim: 4, dropout: 0.1}
clusterer_conf: {n_init: 1}
batch_size: 2
chunk_frames: 20
max_epochs: 3
patience: null
num_workers: 0
save_interval_steps: 1
keep_nbest: 2
log_interval: 1
weight_noise: 0.01
seed: 3
"""
TIMING_SCALARS = {"train/frames_per_s", "train/realtime_factor"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    tr = make_tiny_corpus(root / "tr", num_utts=4, seconds=0.5, seed=1)  # 12 chunks: 6 steps an epoch
    cv = make_tiny_corpus(root / "cv", num_utts=2, seconds=0.5, seed=2)
    conf = root / "train.yaml"
    conf.write_text(TRAIN_YAML)
    return {"tr": tr, "cv": cv, "conf": conf}


def train_argv(corpus, exp: Path, *extra) -> list[str]:
    return ["--config", str(corpus["conf"]), "--train-dir", str(corpus["tr"]), "--valid-dir", str(corpus["cv"]),
            "--exp-dir", str(exp), "--no-progress", *extra]


def run_driver(tmp_path: Path, groups: list[dict]) -> list[list[dict]]:
    plan = {
        # torch._dynamo: imported by the first torch optimizer, seconds each time otherwise
        "preload": ["torch._dynamo", "dcsep.bin.train", "dcsep.train.trainer", "dcsep.bin.decode", "dcsep.bin.score",
                    "dcsep.separate", "dcsep.metrics", "fast_bss_eval", "mir_eval"],
        "groups": groups,
        "log": str(tmp_path / "driver.log"),
        "report": str(tmp_path / "report.json"),
    }
    plan["preload"] = [m for m in plan["preload"] if _importable(m)]
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(HERE.parent), *sys.path])}
    out = subprocess.run([sys.executable, str(DRIVER), str(tmp_path / "plan.json")], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads((tmp_path / "report.json").read_text())["runs"]


def _importable(mod: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(mod) is not None
    except ModuleNotFoundError:
        return False


def kill_plan(seed: int) -> list[list]:
    """At least 5 seeded kill points that all fire, ending with kills in the final model write."""
    rng = random.Random(seed)
    middle = [
        ["after_step", "", rng.randint(1, 3)],
        ["save", "checkpoint.pt", rng.randint(1, 3)],  # inside the checkpoint write
        ["replace", "checkpoint.pt", rng.randint(1, 3)],
        ["save", "epoch*.pt", 1],  # inside an epoch model write
        ["validate", "", 1],
        ["scalars", "", rng.randint(1, 6)],  # half a row in scalars.csv
        ["before_step", "", rng.randint(1, 2)],
    ]
    rng.shuffle(middle)
    return [*middle, ["save", "model.pt", 1], ["replace", "model.pt", 1]]


def read_scalars(path: Path) -> list[tuple]:
    with open(path, newline="") as f:
        return [(r["step"], r["epoch"], r["name"], r["value"]) for r in csv.DictReader(f) if r["name"] not in TIMING_SCALARS]


def assert_same_tensors(a, b, where=""):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_same_tensors(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tensors(x, y, f"{where}[{i}]")


def load(p: Path):
    return torch.load(p, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("seed", [int(s) for s in os.environ.get("DCSEP_FAULT_SEEDS", "0").split(",")])
def test_sigkill_and_resume_gives_identical_weights(tmp_path, corpus, seed):
    ref, exp = tmp_path / "ref", tmp_path / "exp"
    kills = kill_plan(seed)
    runs = run_driver(
        tmp_path,
        [
            {"entry": "dcsep.bin.train:main", "argv": train_argv(corpus, ref), "kills": [None], "check": str(ref)},
            {"entry": "dcsep.bin.train:main", "argv": train_argv(corpus, exp), "resume_args": ["--resume"],
             "kills": [*kills, None], "check": str(exp)},
        ],
    )
    (reference,), attempts = runs
    assert reference["exit_code"] == 0, reference["output_tail"]
    for i, a in enumerate(attempts[:-1]):
        assert a["killed"], f"kill point {a['kill']} did not fire (attempt {i}): {a['output_tail']}"
        assert not a["files"]["bad"], f"after kill {a['kill']}: unreadable files {a['files']['bad']}"
    last = attempts[-1]
    assert last["exit_code"] == 0, last["output_tail"]
    assert not last["files"]["bad"]
    assert len([a for a in attempts if a["killed"]]) >= 5
    # the kills inside writes left temporary files; resuming removed them
    assert not [p.name for p in exp.rglob("*.tmp")]

    for name in ["model.pt", "valid.loss.best.pt"]:
        a, b = load(ref / name), load(exp / name)
        assert_same_tensors(a["state_dict"], b["state_dict"], name)
        assert a["config"] == b["config"]
    ca, cb = load(ref / "checkpoints" / "checkpoint.pt"), load(exp / "checkpoints" / "checkpoint.pt")
    for key in ["model", "optimizer", "scheduler", "rng"]:
        assert_same_tensors(ca[key], cb[key], key)
    sa, sb = dict(ca["state"]), dict(cb["state"])
    for s in (sa, sb):
        s.pop("train_seconds")
    assert sa == sb
    assert sorted(p.name for p in (ref / "checkpoints").glob("*.pt")) == sorted(
        p.name for p in (exp / "checkpoints").glob("*.pt")
    )
    # the log of losses has each row once, with the same values
    assert read_scalars(exp / "scalars.csv") == read_scalars(ref / "scalars.csv")
    sum_a = json.loads((ref / "train_summary.json").read_text())
    sum_b = json.loads((exp / "train_summary.json").read_text())
    for s in (sum_a, sum_b):
        s.pop("train_hours")
        s.pop("train_dir", None), s.pop("valid_dir", None)
    assert sum_a == sum_b
