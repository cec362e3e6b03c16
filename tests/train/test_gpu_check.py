"""The GPU check's CPU-only path, and its helpers (the GPU paths themselves run only on a GPU)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import gpu_check  # noqa: E402


def test_cpu_only_machine_says_so_and_exits_0(tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PATH=f"{tmp_path}:{os.environ['PATH']}")
    (tmp_path / "nvidia-smi").write_text("#!/bin/sh\nexit 1\n")  # no driver either
    (tmp_path / "nvidia-smi").chmod(0o755)
    proc = subprocess.run([str(ROOT / "tools" / "gpu_check.sh"), "--quick"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "gpu_check: no CUDA GPU visible" in proc.stdout and "nothing to check" in proc.stdout
    assert "| check |" not in proc.stdout


def test_main_without_cuda_returns_0(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--quick"]) == 0
    assert "no CUDA GPU visible" in capsys.readouterr().out


def test_a_gpu_that_torch_cannot_use_is_an_error(tmp_path):
    """nvidia-smi sees a GPU, torch is a CPU build: say so (exit 1) rather than report 'no GPU'."""
    if torch.cuda.is_available():
        pytest.skip("torch can use a GPU here")
    (tmp_path / "nvidia-smi").write_text("#!/bin/sh\necho 'GPU 0: Fake'\n")
    (tmp_path / "nvidia-smi").chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    proc = subprocess.run([str(ROOT / "tools" / "gpu_check.sh")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "cannot use it" in proc.stderr and "CUDA build of torch" in proc.stderr


def test_compare_states():
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}
    assert gpu_check.compare_states(a, {k: v.clone() for k, v in a.items()}) == (True, 0.0)
    same, worst = gpu_check.compare_states(a, {"w": torch.tensor([1.0, 2.5]), "n": torch.tensor(3)})
    assert not same and worst == pytest.approx(0.5)
    assert gpu_check.compare_states(a, {"w": a["w"]}) == (False, float("inf"))


def test_loss_falls_and_table():
    assert gpu_check.loss_falls([0.5, 0.3]) and not gpu_check.loss_falls([0.5]) and not gpu_check.loss_falls([0.5, 0.49])  # not 5% lower
    assert gpu_check.table([("x", "y", "PASS")]).splitlines() == ["| check | result | status |", "|---|---|---|",
                                                                  "| x | y | PASS |"]
