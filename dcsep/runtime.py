"""Where and how inference runs: the device, checked; the model placed on it without changing the
caller's; the checks of the options of a separation (number of sources, speaker count); the plan
of overlapping encoder chunks of a long input."""

from __future__ import annotations

import copy

import numpy as np
import torch

from dcsep.errors import ConfigError


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The torch device to run on, checked: a :class:`ConfigError` in one line for a
    device this torch cannot use (``cuda`` on a CPU-only build, ``cuda:3`` on a
    one-GPU machine, an unknown name such as ``tpu``).

    None means cuda when available, else cpu.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device is None:
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"device {str(device)!r}: not a device name; use cpu, cuda or cuda:N") from None
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type != "cuda":
        raise ConfigError(f"device {str(device)!r}: dcsep runs on cpu or cuda, not {dev.type}")
    if not torch.cuda.is_available():
        why = "this torch was built without CUDA" if torch.version.cuda is None else "no GPU is visible"
        raise ConfigError(f"device {str(device)!r}: {why} (torch {torch.__version__}); use device cpu")
    index = torch.cuda.current_device() if dev.index is None else dev.index
    if index >= torch.cuda.device_count():
        raise ConfigError(f"device {str(device)!r}: only {torch.cuda.device_count()} GPU(s) visible (cuda:0..)")
    return torch.device("cuda", index)


def placed_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` on ``device`` in eval mode, without changing the caller's model.

    The model itself when all its weights are already on ``device`` and it is
    in eval mode (then it is shared: later changes to its weights show in the
    separations); otherwise a copy, moved and set to eval mode.
    """
    tensors = list(model.parameters()) + list(model.buffers())
    here = all(t.device == device for t in tensors)
    if here and not any(m.training for m in model.modules()):
        return model
    return copy.deepcopy(model).to(device).eval()


def check_num_spk(num_spk, what: str = "num_spk", auto: bool = True) -> int | str:
    """A whole number of sources >= 1, or (with ``auto``) ``"auto"``; anything else is a ConfigError."""
    if auto and isinstance(num_spk, str) and num_spk == "auto":
        return num_spk
    if isinstance(num_spk, (bool, np.bool_)) or not isinstance(num_spk, (int, np.integer)) or num_spk < 1:
        raise ConfigError(f"{what}: a whole number of sources >= 1{' or auto' if auto else ''}, got {num_spk!r}")
    return int(num_spk)


def check_count_conf(conf: dict | None) -> dict:
    """Options of :func:`dcsep.clusterers.count.estimate_num_spk` (beyond V, weights, max_spk); unknown ones: a ConfigError."""
    import inspect

    from dcsep.clusterers.count import estimate_num_spk

    conf = dict(conf or {})
    valid = [n for n in inspect.signature(estimate_num_spk).parameters if n not in ("V", "weights", "max_spk")]
    unknown = sorted(set(conf) - set(valid))
    if unknown:
        raise ConfigError(f"count_conf: unknown option(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    if "thresholds" in conf:
        t = conf["thresholds"]
        ok = isinstance(t, (list, tuple)) and len(t) > 0 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in t
        )
        if not ok or any(b <= a for a, b in zip(t, t[1:])):
            raise ConfigError(f"count_conf: thresholds must be ascending numbers (for 2, 3, ... speakers), got {t!r}")
        conf["thresholds"] = tuple(float(x) for x in t)
    if conf.get("linear") is not None:
        from dcsep.clusterers.count import check_linear

        try:
            conf["linear"] = check_linear(conf["linear"])
        except ValueError as e:
            raise ConfigError(f"count_conf: {e}") from None
    return conf


def chunk_plan(num_frames: int, chunk_frames: int, overlap_frames: int) -> list[tuple[int, int, int, int]]:
    """Overlapping encoder chunks covering ``num_frames`` frames.

    Returns:
        ``(start, end, keep_start, keep_end)`` per chunk: the encoder sees
        frames ``[start, end)`` and its output is kept for ``[keep_start,
        keep_end)``. The kept ranges tile ``[0, num_frames)`` without gaps or
        overlaps.

    Example:
        >>> chunk_plan(25, 10, 4)
        [(0, 10, 0, 8), (6, 16, 8, 14), (12, 22, 14, 20), (18, 25, 20, 25)]
    """
    if num_frames <= chunk_frames:
        return [(0, num_frames, 0, num_frames)]
    half = overlap_frames // 2
    step = chunk_frames - overlap_frames
    plan = []
    start = 0
    while True:
        end = min(start + chunk_frames, num_frames)
        keep_start = 0 if start == 0 else start + half
        keep_end = num_frames if end == num_frames else end - (overlap_frames - half)
        plan.append((start, end, keep_start, keep_end))
        if end == num_frames:
            return plan
        start += step
