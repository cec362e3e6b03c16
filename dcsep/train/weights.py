"""The weights a run starts from (warm start: ``init_model``, ``init_reset``; feature statistics); weight noise."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from dcsep.errors import ConfigError
from dcsep.model import DeepClustering


def _under(name: str, prefixes: list[str]) -> bool:
    """Whether a state-dict entry is one of ``prefixes`` or lies under one (``encoder.linear`` -> ``encoder.linear.weight``)."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def warm_start(model: DeepClustering, init_model: str, init_reset: list[str], log: logging.Logger) -> None:
    """Load the weights (and feature statistics) of the model file ``init_model``, except those under ``init_reset``.

    Raises:
        ConfigError: a prefix of ``init_reset`` names no parameter, or the
            file's weights do not fit ``model``.
    """
    src = DeepClustering.load(init_model)
    reset = [k for k in model.state_dict() if _under(k, init_reset)]
    for prefix in init_reset:
        if not any(_under(k, [prefix]) for k in reset):
            raise ConfigError(f"init_reset: {prefix!r} names no parameter of the model (see model.state_dict())")
    state = {k: v for k, v in src.state_dict().items() if not _under(k, init_reset)}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = sorted(set(missing) - set(reset))
        if missing or unexpected:
            raise RuntimeError(f"missing keys {missing}, unexpected keys {unexpected}")
    except RuntimeError as e:
        raise ConfigError(f"{init_model}: init_model does not fit the configured model: {e}") from None
    log.info("initialised the weights (and feature statistics) from %s", init_model)
    if reset:
        log.info("init_reset: kept at their fresh initialisation: %s", ", ".join(reset))


def load_stats(path: str | Path, num_bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a ``dcsep-stats`` file: ``{"mean": (F,), "std": (F,)}``."""
    path = Path(path)
    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"{path}: stats file not found") from None
    except Exception as e:
        raise ConfigError(f"{path}: not a readable stats file: {e}") from None
    if not isinstance(st, dict) or "mean" not in st or "std" not in st:
        raise ConfigError(f"{path}: stats file must hold 'mean' and 'std'")
    mean, std = st["mean"], st["std"]
    for name, t in (("mean", mean), ("std", std)):
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != (num_bins,):
            raise ConfigError(f"{path}: {name} must be a tensor of shape ({num_bins},), the model's frequency bins")
        if not torch.isfinite(t).all():
            raise ConfigError(f"{path}: {name} holds non-finite values")
    return mean.float(), std.float()


def add_weight_noise(params: list[torch.Tensor], std: float, seed: int, device: torch.device) -> list[torch.Tensor]:
    """Add N(0, std^2) to every weight (a generator of its own, seeded by ``seed``); return the clean weights.

    Example:
        >>> w = torch.zeros(3)
        >>> clean = add_weight_noise([w], 0.1, seed=0, device=torch.device("cpu"))
        >>> bool(clean[0].eq(0).all()), bool(w.ne(0).all())
        (True, True)
    """
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    backup = []
    with torch.no_grad():
        for p in params:
            backup.append(p.detach().clone())
            p.add_(torch.randn(p.shape, generator=g, device=p.device, dtype=p.dtype), alpha=std)
    return backup
