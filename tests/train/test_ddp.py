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


class _RecordMasks:
    """A step hook: from the second step on, saves this rank's dropout masks (where the BLSTM output was zeroed)."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.handle = None

    def __call__(self, trainer):
        if self.handle is None:
            rank = trainer.env.rank

            def save(module, args, out):
                if module.training:
                    step = trainer.state.global_step + 1
                    torch.save(out.detach() == 0, self.out_dir / f"mask_rank{rank}_step{step}.pt")

            self.handle = trainer.model.encoder.blstm.dropout.register_forward_hook(save)


def _ddp_run(data, exp, conf, kill_at, resume, out_dir):
    """One process of a 2-process gloo run (started by distributed.spawn)."""
    import copy

    from dcsep.train import distributed
    from dcsep.train.config import split_config
    from dcsep.train.datasets import Chunks
    from dcsep.train.trainer import Trainer

    from .helpers import KillAt

    real = Chunks.stats_waveforms

    def stats_waveforms(self, *a, **k):  # which ranks compute the feature statistics
        rank = int(__import__("os").environ["RANK"])
        (out_dir / f"stats_rank{rank}").write_text("computed")
        return real(self, *a, **k)

    if out_dir is not None:
        Chunks.stats_waveforms = stats_waveforms
    hooks = [_RecordMasks(out_dir)] if out_dir is not None else []
    if kill_at:
        hooks.append(KillAt(kill_at))
    model_conf, cfg = split_config(copy.deepcopy(conf), where="test.yaml")
    try:
        Trainer(model_conf, cfg, data[0], data[1], exp, resume=resume, progress=False,
                step_hook=lambda tr: [h(tr) for h in hooks]).run()
    finally:
        distributed.cleanup()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not available")
def test_ranks_draw_their_own_dropout_and_resume_bit_identically(tmp_path):
    """2 gloo processes with dropout: the masks differ across ranks, every rank computes the statistics, and a
    run killed after a checkpoint and resumed ends with the weights of an uninterrupted one."""
    import torch.multiprocessing as mp

    from dcsep.train import distributed

    data = make_data(tmp_path)
    conf = config(encoder_conf={"num_layers": 1, "hidden_units": 16, "embed_dim": 8, "dropout": 0.3},
                  max_epochs=2, save_interval_steps=2, batch_size=4)
    masks = tmp_path / "masks"
    masks.mkdir()
    distributed.spawn(_ddp_run, 2, (data, tmp_path / "ref", conf, 0, False, masks))
    assert (masks / "stats_rank0").is_file() and (masks / "stats_rank1").is_file()
    m0, m1 = torch.load(masks / "mask_rank0_step2.pt"), torch.load(masks / "mask_rank1_step2.pt")
    assert m0.shape == m1.shape and 0.2 < m0.float().mean() < 0.4
    assert not torch.equal(m0, m1)  # the same masks on every rank would repeat across the global batch
    # 4 steps per epoch: step 5 is the first of epoch 2; the last checkpoint is that of step 4
    with pytest.raises(mp.ProcessRaisedException, match="killed at step 5"):
        distributed.spawn(_ddp_run, 2, (data, tmp_path / "exp", conf, 5, False, None))
    distributed.spawn(_ddp_run, 2, (data, tmp_path / "exp", conf, 0, True, None))
    ref, got = model_state(tmp_path / "ref" / "model.pt"), model_state(tmp_path / "exp" / "model.pt")
    assert ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref)
    assert load_checkpoint(tmp_path / "exp" / "checkpoints" / "checkpoint.pt")["state"]["global_step"] == 8
