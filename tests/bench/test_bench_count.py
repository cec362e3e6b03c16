"""bench/bench_count.py: choosing the count's thresholds or a linear counter from cached eigenvalue shares."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import TINY_MODEL

from dcsep.clusterers.count import count_from_shares
from dcsep.model import DeepClustering

ROOT = Path(__file__).resolve().parents[2]


def bench_count():
    spec = importlib.util.spec_from_file_location("bench_count", ROOT / "bench" / "bench_count.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shares_of(count: int, n: int, rng: np.random.Generator, k: int = 10) -> np.ndarray:
    """(n, k) descending shares summing to 1: ``count`` large ones, the rest small (the count's shape)."""
    big = rng.uniform(0.6, 1.0, (n, count)) / count
    small = rng.uniform(0.0, 0.12, (n, k - count)) / (k - count)
    s = np.concatenate([big, small], axis=1)
    return -np.sort(-s / s.sum(1, keepdims=True), axis=1)


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    """A model file, and for 1, 2 and 3 speakers a scp of 40 inputs and their cached shares."""
    root = tmp_path_factory.mktemp("bench_count")
    torch.manual_seed(0)
    model = root / "model.pt"
    DeepClustering.from_config({**TINY_MODEL, "encoder_conf": {"num_layers": 1, "hidden_units": 8, "embed_dim": 10}}).save(model)
    rng = np.random.default_rng(0)
    (root / "cache").mkdir()
    sets = []
    for c in (1, 2, 3):
        utts = [f"u{c}_{i:02d}" for i in range(40)]
        scp = root / f"set{c}.scp"
        scp.write_text("".join(f"{u} /no/audio/{u}.wav\n" for u in utts))  # never read: the shares are cached
        np.savez(root / "cache" / f"s{c}.npz", utts=np.array(utts), shares=shares_of(c, 40, rng), model=np.array(str(model)))
        sets += ["--set", f"s{c}:{c}:{scp}"]
    return root, model, sets


def run(cached, *args, capsys):
    root, model, sets = cached
    code = bench_count().main(["--model", str(model), "--cache", str(root / "cache"), *sets, *args])
    return code, capsys.readouterr().out


def test_select_a_linear_counter(cached, tmp_path, capsys):
    """--select --linear M --folds N: nested cross-validated figures, then the counter written as a count_conf."""
    conf = tmp_path / "count_conf.yaml"
    code, out = run(cached, "--select", "--linear", "3", "--folds", "4", "--write-conf", str(conf), capsys=capsys)
    assert code == 0
    assert "4-fold cross-validation, linear counter on 3 shares, offsets chosen on its own fit: 1 spk" in out
    assert "offsets chosen on cross-validated scores" in out and f"wrote {conf}" in out
    linear = yaml.safe_load(conf.read_text())["linear"]
    assert len(linear["coef"]) == 3 and all(len(r) == 3 for r in linear["coef"]) and len(linear["intercept"]) == 3
    rng = np.random.default_rng(1)  # new inputs of the same kind are counted
    new = torch.from_numpy(np.concatenate([shares_of(c, 20, rng) for c in (1, 2, 3)]))
    est = count_from_shares(new, 3, linear=linear).numpy()
    assert (est == np.repeat([1, 2, 3], 20)).mean() >= 0.9
    code, out = run(cached, "--select", "--linear", "3", "--folds", "4", "--cv-offsets", capsys=capsys)
    assert code == 0 and "best offsets" in out


def test_select_thresholds_writes_them(cached, tmp_path, capsys):
    conf = tmp_path / "thresholds.yaml"
    code, out = run(cached, "--select", "--write-conf", str(conf), capsys=capsys)
    assert code == 0 and "best thresholds" in out
    t = yaml.safe_load(conf.read_text())["thresholds"]
    assert len(t) == 2 and 1 < t[0] < t[1]


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--linear", "3"], "--linear and --write-conf go with --select"),
        (["--select", "--folds", "3"], "--folds goes with --linear"),
        (["--select", "--linear", "3", "--cv-offsets"], "--cv-offsets needs --folds"),
    ],
)
def test_bad_options(cached, args, pattern, capsys):
    with pytest.raises(SystemExit) as e:
        run(cached, *args, capsys=capsys)
    assert e.value.code == 2 and pattern in capsys.readouterr().err
