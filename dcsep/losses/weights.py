"""Per-bin weights for the affinity losses."""

from __future__ import annotations

import torch

WEIGHT_KINDS = ("none", "vad", "magnitude", "sqrt_magnitude")


def valid_mask(shape: torch.Size, lengths: torch.Tensor | None, device) -> torch.Tensor:
    """(B, T, F) bool: True on frames inside each sequence's length."""
    b, t, f = shape
    if lengths is None:
        return torch.ones(b, t, f, dtype=torch.bool, device=device)
    return (torch.arange(t, device=device)[None, :] < lengths.to(device)[:, None])[..., None].expand(b, t, f)


def bin_weights(
    mix_mag: torch.Tensor,
    kind: str = "vad",
    lengths: torch.Tensor | None = None,
    threshold_db: float = 40.0,
) -> torch.Tensor:
    """Weights of the time-frequency bins, zero on padding.

    Args:
        mix_mag: (B, T, F) mixture magnitude.
        kind: ``"none"`` (1 on every valid bin), ``"vad"`` (1 on bins within
            ``threshold_db`` of the utterance's loudest bin, 0 elsewhere: the
            paper's silence threshold), ``"magnitude"`` or ``"sqrt_magnitude"``
            (the bin's magnitude or its square root, scaled to mean 1 over the
            valid bins).
        lengths: (B,) frames; bins past it get weight 0.
        threshold_db: the VAD threshold below the maximum, in dB.

    Returns:
        (B, T, F) non-negative weights, same dtype as ``mix_mag``.
    """
    if kind not in WEIGHT_KINDS:
        raise ValueError(f"weight kind must be one of {WEIGHT_KINDS}, got {kind!r}")
    valid = valid_mask(mix_mag.shape, lengths, mix_mag.device)
    mag = mix_mag.detach().abs() * valid
    if kind == "none":
        return valid.to(mix_mag.dtype)
    if kind == "vad":
        peak = mag.flatten(1).amax(dim=1).clamp_min(1e-20)  # (B,)
        floor = peak * 10 ** (-threshold_db / 20)
        active = (mag > floor[:, None, None]) & valid
        return active.to(mix_mag.dtype)
    w = mag if kind == "magnitude" else mag.sqrt()
    mean = w.flatten(1).sum(1) / valid.flatten(1).sum(1).clamp_min(1)
    return w / mean.clamp_min(1e-20)[:, None, None]
