"""Two CPU processes (gloo, launched by torchrun) train the same model as one process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import yaml

from dcsep.bin.train import main
from dcsep.train.checkpoint import load_checkpoint

from .helpers import config, make_data, model_state


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not available")
def test_two_processes_match_one(tmp_path):
    data = make_data(tmp_path)
    # SGD: the result must agree up to float rounding (Adam would magnify rounding of tiny gradients)
    conf = config(max_epochs=2, optim="sgd", optim_conf={"lr": 0.1, "momentum": 0.5}, batch_size=4)
    cfg_path = tmp_path / "train.yaml"
    cfg_path.write_text(yaml.safe_dump(conf))
    args = ["--config", str(cfg_path), "--train-dir", str(data[0]), "--valid-dir", str(data[1]), "--no-progress"]

    assert main(args + ["--exp-dir", str(tmp_path / "single")]) == 0

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "dcsep.bin.train", *args, "--exp-dir", str(tmp_path / "ddp"), "--ngpu", "0"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    single = model_state(tmp_path / "single" / "model.pt")
    ddp = model_state(tmp_path / "ddp" / "model.pt")
    assert single.keys() == ddp.keys()
    for k in single:
        assert torch.allclose(single[k], ddp[k], atol=1e-6, rtol=1e-5), k
    a = load_checkpoint(tmp_path / "single" / "checkpoints" / "checkpoint.pt")["state"]
    b = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "checkpoint.pt")["state"]
    assert a["global_step"] == b["global_step"] == 8
    for ha, hb in zip(a["history"], b["history"]):
        assert ha["train_loss"] == pytest.approx(hb["train_loss"], rel=1e-5)
        assert ha["valid_loss"] == pytest.approx(hb["valid_loss"], rel=1e-5)
    ckpt = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "checkpoint.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
    # only rank 0 writes: one log, and its lines come from rank 0
    assert "2 process(es)" in (tmp_path / "ddp" / "train.log").read_text()


def _spawned_sum(out_dir):
    from dcsep.train import distributed

    env = distributed.setup(0)
    try:
        total = env.all_reduce_sum([float(env.rank + 1)])
        (out_dir / f"rank{env.rank}").write_text(f"{env.world_size} {total[0]}")
    finally:
        distributed.cleanup()


def test_spawn_sets_up_a_process_group(tmp_path):
    from dcsep.train import distributed

    distributed.spawn(_spawned_sum, 2, (tmp_path,))
    assert (tmp_path / "rank0").read_text() == "2 3.0" == (tmp_path / "rank1").read_text()
