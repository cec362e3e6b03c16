"""The optimizer, learning-rate scheduler and gradient scaler of a run, and one optimisation step."""

from __future__ import annotations

import math

import torch

from dcsep.train.config import OPTIMIZERS, SCHEDULERS, TrainConfig


def build_optimizer(cfg: TrainConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """``optim`` with ``optim_conf`` over ``params``.

    Example:
        >>> type(build_optimizer(TrainConfig(), [torch.nn.Parameter(torch.zeros(2))])).__name__
        'Adam'
    """
    return OPTIMIZERS[cfg.optim](params, **cfg.optim_conf)


def build_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer):
    """``scheduler`` with ``scheduler_conf`` (None for ``none``); ``plateau`` minimises the validation loss."""
    scls = SCHEDULERS[cfg.scheduler]
    if scls is None:
        return None
    sconf = dict(cfg.scheduler_conf)
    if cfg.scheduler == "plateau":
        sconf["mode"] = "min"
    return scls(optimizer, **sconf)


def scheduler_step(cfg: TrainConfig, scheduler, valid_loss: float) -> None:
    """One step at the end of an epoch (``plateau`` sees a non-finite validation loss as +inf)."""
    if scheduler is None:
        return
    if cfg.scheduler == "plateau":
        scheduler.step(valid_loss if math.isfinite(valid_loss) else float("inf"))
    else:
        scheduler.step()


def build_scaler(amp_dtype: torch.dtype | None):
    """A gradient scaler for float16 autocast on CUDA; None otherwise (bfloat16 has float32's range)."""
    return torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None


def optimizer_step(optimizer, scaler, params: list[torch.Tensor], grad_clip: float | None,
                   nonfinite_loss: bool) -> tuple[float, bool]:
    """Unscale, clip and take the step, or skip it (and drop the gradients) after a non-finite loss or gradient.

    Args:
        scaler: a float16 gradient scaler, or None (a non-finite gradient norm then skips the
            step; with a scaler, the scaler skips it itself and lowers its scale).
        nonfinite_loss: some process had a non-finite loss.

    Returns:
        The gradient norm (before clipping) and whether the step was taken.
    """
    if scaler is not None:
        scaler.unscale_(optimizer)
    if grad_clip is not None:
        gnorm = float(torch.nn.utils.clip_grad_norm_(params, grad_clip))
    else:
        grads = [p.grad for p in params if p.grad is not None]
        gnorm = float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0
    if nonfinite_loss or (scaler is None and not math.isfinite(gnorm)):
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.update()
        return gnorm, False
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return gnorm, True
