"""A small f0 tracker: the median pitch of a recording, by normalised autocorrelation.

Example:
    >>> import numpy as np
    >>> t = np.arange(8000) / 8000
    >>> median_f0(np.sin(2 * np.pi * 125 * t), 8000)
    125.0
"""

from __future__ import annotations

import numpy as np


def median_f0(x: np.ndarray, fs: int, fmin: float = 55.0, fmax: float = 450.0) -> float:
    """Median f0 (Hz) over voiced frames, by normalised autocorrelation; NaN if nothing is voiced.

    Args:
        x: (L,) signal.
    """
    x = np.asarray(x, dtype=np.float64)
    frame, hop = int(0.04 * fs), int(0.01 * fs)
    if x.size < frame:
        return float("nan")
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]  # (N, frame)
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = np.sum(frames**2, axis=1)
    keep = energy > 1e-3 * energy.max() if energy.max() > 0 else np.zeros(len(frames), bool)
    if not keep.any():
        return float("nan")
    frames, energy = frames[keep], energy[keep]
    n = 2 * frame
    spec = np.fft.rfft(frames, n=n, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, n=n, axis=1)[:, :frame]  # (N, frame)
    lo, hi = int(fs / fmax), min(int(fs / fmin), frame - 1)
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    strength = ac[np.arange(len(lag)), lag] / np.maximum(ac[:, 0], 1e-12)
    voiced = strength > 0.5
    if not voiced.any():
        return float("nan")
    return float(np.median(fs / lag[voiced]))
