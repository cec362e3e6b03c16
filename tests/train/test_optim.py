"""The optimizer, scheduler and scaler builders and one optimisation step, on their own."""

from __future__ import annotations

import math

import torch

from dcsep.train.config import TrainConfig
from dcsep.train.optim import build_optimizer, build_scaler, build_scheduler, optimizer_step, scheduler_step


def _param(value=1.0, grad=1.0):
    p = torch.nn.Parameter(torch.tensor([value]))
    p.grad = torch.tensor([grad])
    return p


def test_builders():
    cfg = TrainConfig(optim="sgd", optim_conf={"lr": 0.5}, scheduler="plateau", scheduler_conf={"patience": 0})
    p = _param()
    opt = build_optimizer(cfg, [p])
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["lr"] == 0.5
    sch = build_scheduler(cfg, opt)
    assert sch.mode == "min"
    scheduler_step(cfg, sch, 1.0)
    scheduler_step(cfg, sch, float("nan"))  # a non-finite validation loss counts as no improvement
    assert opt.param_groups[0]["lr"] < 0.5
    assert build_scheduler(TrainConfig(scheduler="none"), opt) is None
    scheduler_step(TrainConfig(scheduler="none"), None, 1.0)
    assert build_scaler(None) is None and build_scaler(torch.bfloat16) is None


def test_optimizer_step_clips_and_steps():
    p = _param(1.0, 10.0)
    opt = torch.optim.SGD([p], lr=0.1)
    gnorm, stepped = optimizer_step(opt, None, [p], grad_clip=1.0, nonfinite_loss=False)
    assert stepped and gnorm == 10.0 and torch.allclose(p.detach(), torch.tensor([0.9]))


def test_optimizer_step_skips_nonfinite():
    p = _param(1.0, float("inf"))
    opt = torch.optim.SGD([p], lr=0.1)
    gnorm, stepped = optimizer_step(opt, None, [p], grad_clip=None, nonfinite_loss=False)
    assert not stepped and not math.isfinite(gnorm) and p.grad is None and float(p.detach()) == 1.0
    p.grad = torch.tensor([1.0])
    _, stepped = optimizer_step(opt, None, [p], grad_clip=5.0, nonfinite_loss=True)  # another process's NaN loss
    assert not stepped and float(p.detach()) == 1.0
