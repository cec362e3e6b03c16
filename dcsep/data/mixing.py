"""Mixture creation with the wsj0-2mix / wsj0-3mix scaling.

The original wsj0-mix scripts scale every source to a common active speech
level (ITU-T P.56 method B, as measured by the ``activlev`` routine of the
VOICEBOX toolbox), apply the per-source gains of the mix list (dB), add the
sources, and divide mixture and sources by one common factor so that the
largest absolute sample among them is 0.9. The "min" version cuts every
source to the shortest one, the "max" version zero-pads to the longest.

This module implements all of that in numpy:

* :func:`active_level` -- active speech level (power) per P.56 method B;
* :func:`mix_sources` -- the whole scaling chain, returning the mixture and
  the scaled sources exactly as they are written to disk.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> s1, s2 = rng.standard_normal(8000) * 0.1, rng.standard_normal(6000) * 0.3
    >>> mix, srcs = mix_sources([s1, s2], [2.0, -2.0], mode="min", fs=8000)
    >>> mix.shape, srcs.shape
    ((6000,), (2, 6000))
    >>> bool(np.isclose(max(np.abs(mix).max(), np.abs(srcs).max()), 0.9))
    True
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
from scipy import optimize, signal

from dcsep.errors import DataError

# ---- ITU-T P.56 method B -------------------------------------------------
P56_MARGIN_DB = 15.9  # M: active level lies this far above the activity threshold
P56_TIME_CONSTANT = 0.03  # s, envelope smoothing (two cascaded one-pole sections)
P56_HANGOVER = 0.2  # s
P56_PAD = 0.35  # s of zeros appended before measuring (lets the envelope decay)
P56_NUM_BINS = 20  # thresholds 3 dB apart (powers of two in power): 60 dB range
P56_BAND_HZ = (200.0, 5500.0)  # -0.25 dB edges of the input band-pass filter


@lru_cache(maxsize=None)
def _highpass_prototype() -> tuple[np.ndarray, np.ndarray]:
    """s-plane zeros and poles of the 5th-order Chebyshev-II high-pass prototype.

    50 dB stop-band, scaled so that the gain at 1 rad/s is exactly -0.25 dB.
    """

    def gain_db_at_1(wc: float) -> float:
        z, p, k = signal.cheby2(5, 50, wc, btype="highpass", analog=True, output="zpk")
        h = k * np.prod(1j - z) / np.prod(1j - p)
        return 20 * np.log10(abs(h)) + 0.25

    wc = optimize.brentq(gain_db_at_1, 0.05, 0.99, xtol=1e-14)
    z, p, _ = signal.cheby2(5, 50, wc, btype="highpass", analog=True, output="zpk")
    return z, p


@lru_cache(maxsize=None)
def _p56_filters(fs: int) -> list[np.ndarray]:
    """Second-order sections of the P.56 input filters at ``fs``.

    A high-pass with its -0.25 dB point at 200 Hz (unit gain at Nyquist), and,
    when ``fs`` is high enough (>= 2.2 x 5.5 kHz), a low-pass with its
    -0.25 dB point at 5.5 kHz (unit gain at DC). Both come from the same
    analog prototype by a pre-warped bilinear transform.
    """
    z, p = _highpass_prototype()
    lo, hi = P56_BAND_HZ
    out = []
    # high-pass: s = (z - 1) / ((z + 1) tan(pi lo / fs))  ->  z = (1 + sT) / (1 - sT)
    t = np.tan(np.pi * lo / fs)
    zd = (1 + z * t) / (1 - z * t)
    pd = (1 + p * t) / (1 - p * t)
    gain = 1.0 / abs(np.prod(-1 - zd) / np.prod(-1 - pd))  # |H(z = -1)| = 1
    out.append(signal.zpk2sos(zd, pd, gain))
    if fs >= 2.2 * hi:
        # low-pass: the prototype with s -> 1 / s, then the bilinear transform
        t = np.tan(np.pi * hi / fs)
        zd = (z + t) / (z - t)
        pd = (p + t) / (p - t)
        gain = 1.0 / abs(np.prod(1 - zd) / np.prod(1 - pd))  # |H(z = 1)| = 1
        out.append(signal.zpk2sos(zd, pd, gain))
    return out


def active_level(x: np.ndarray, fs: int, return_activity: bool = False):
    """Active speech level of ``x`` (power, same units as ``x**2``), ITU-T P.56 method B.

    Follows the ``activlev`` routine used by the wsj0-mix scripts: the signal
    (with 0.35 s of zeros appended) goes through a 200 Hz high-pass (and a
    5.5 kHz low-pass when ``fs`` >= 12.1 kHz); its rectified envelope is
    smoothed by two one-pole sections (30 ms); a sample is active for
    threshold c if the envelope exceeded c within the last 0.2 s (hangover).
    For thresholds 3 dB apart, A(c) = energy / active samples; the level is
    the A(c) at which A(c) - c = 15.9 dB, interpolated between thresholds.

    Args:
        x: (L,) signal.
        fs: sample rate in Hz.
        return_activity: also return the activity factor (0..1).

    Returns:
        The level (float; 0.0 for an all-zero signal), or (level, activity).
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise DataError("active_level: empty signal")
    if not np.all(np.isfinite(x)):
        raise DataError("active_level: signal contains NaN or Inf")
    pad = int(np.ceil(P56_PAD * fs))
    y = np.concatenate([x, np.zeros(pad)])
    for sos in _p56_filters(int(fs)):
        y = signal.sosfilt(sos, y)
    n = y.size
    ssq = float(np.dot(y, y))
    if ssq <= 0.0:
        return (0.0, 0.0) if return_activity else 0.0

    g = np.exp(-1.0 / (P56_TIME_CONSTANT * fs))
    env = signal.lfilter([(1 - g) ** 2], [1.0, -2 * g, g * g], np.abs(y))  # (L,) smoothed envelope
    mant, expo = np.frexp(env * env)  # env^2 = mant * 2^expo, mant in [0.5, 1)
    e = expo.astype(np.float64)
    e[mant == 0] = -np.inf
    # hangover: each sample takes the largest exponent of itself and the previous nh - 1 samples
    nh = int(np.ceil(P56_HANGOVER * fs)) + 1
    e = _causal_running_max(e, nh)
    emax = e.max() + 1
    if not np.isfinite(emax):
        return (0.0, 0.0) if return_activity else 0.0
    # bin j (1-based) holds 2^(emax-j-1) <= env^2 < 2^(emax-j); everything lower goes to the last bin
    bins = np.minimum(emax - e, P56_NUM_BINS).astype(np.int64)
    counts = np.cumsum(np.bincount(bins - 1, minlength=P56_NUM_BINS)[:P56_NUM_BINS])
    # counts[j-1]: samples active for threshold c_j = 2^(emax-j-1) (power)
    with np.errstate(divide="ignore"):
        a_db = 10 * np.log10(ssq / counts)  # active level for each threshold
    c_db = 10 * np.log10(2.0) * (emax - np.arange(1, P56_NUM_BINS + 1) - 1)
    m = a_db - c_db - P56_MARGIN_DB
    cross = np.flatnonzero((m[:-1] < 0) & (m[1:] >= 0))
    if cross.size:
        j = int(cross[0])
        frac = 1.0 / (1.0 - m[j + 1] / m[j])
    elif m[-1] <= 0:  # never reaches the margin: bottom of the lowest bin
        j, frac = P56_NUM_BINS - 2, 1.0
    else:  # always above it: bottom of the highest bin
        j, frac = 0, 0.0
    lev_db = a_db[j] + frac * (a_db[j + 1] - a_db[j])
    level = float(10 ** (lev_db / 10))
    if return_activity:
        return level, ssq / (n * level)
    return level


def _causal_running_max(x: np.ndarray, width: int) -> np.ndarray:
    """y[i] = max(x[max(0, i - width + 1) .. i]) in O(L) (blocked prefix/suffix maxima)."""
    n = x.size
    if width <= 1 or n == 0:
        return x.copy()
    nb = -(-(n + width - 1) // width)
    padded = np.full(nb * width, -np.inf)
    padded[width - 1 : width - 1 + n] = x  # x[i] sits at padded[i + width - 1]
    blocks = padded.reshape(nb, width)
    prefix = np.maximum.accumulate(blocks, axis=1).reshape(-1)
    suffix = np.maximum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].reshape(-1)
    # window for output i covers padded[i .. i + width - 1]: suffix max from i, prefix max to the end
    i = np.arange(n)
    return np.maximum(suffix[i], prefix[i + width - 1])


# ---- mixing ----------------------------------------------------------------
PEAK = 0.9
MODES = ("min", "max")


def mix_sources(
    sources: Sequence[np.ndarray],
    gains_db: Sequence[float],
    mode: str = "min",
    fs: int = 8000,
    levels: Sequence[float | None] | None = None,
    peak: float = PEAK,
) -> tuple[np.ndarray, np.ndarray]:
    """Scale and add sources as the wsj0-mix scripts do.

    Each source is divided by the square root of its active speech level
    (measured on the whole source, before cutting or padding) and multiplied
    by 10^(g/20); then all are cut to the shortest ("min") or zero-padded to
    the longest ("max"), summed, and mixture and sources are multiplied by
    one factor so that the largest absolute sample among them is ``peak``.

    Args:
        sources: C signals, each (L_c,), at ``fs``.
        gains_db: C gains in dB (the mix-list values).
        mode: "min" or "max".
        fs: sample rate (for the level measurement).
        levels: optional precomputed active levels (power), one per source;
            None entries are measured.
        peak: target peak amplitude.

    Returns:
        (mix, scaled_sources): mix (L,), scaled_sources (C, L), float64.
    """
    if mode not in MODES:
        raise DataError(f"mix_sources: mode must be one of {MODES}, got {mode!r}")
    if len(sources) < 1 or len(sources) != len(gains_db):
        raise DataError(f"mix_sources: {len(sources)} sources but {len(gains_db)} gains")
    if levels is not None and len(levels) != len(sources):
        raise DataError(f"mix_sources: {len(sources)} sources but {len(levels)} levels")
    scaled = []
    for c, (src, g) in enumerate(zip(sources, gains_db)):
        src = np.asarray(src, dtype=np.float64).reshape(-1)
        lev = levels[c] if levels is not None and levels[c] is not None else active_level(src, fs)
        if not lev > 0:
            raise DataError(f"mix_sources: source {c + 1} is silent (active level 0); cannot scale it")
        scaled.append(src / np.sqrt(lev) * 10 ** (float(g) / 20))
    lengths = [s.size for s in scaled]
    length = min(lengths) if mode == "min" else max(lengths)
    out = np.zeros((len(scaled), length))
    for c, s in enumerate(scaled):
        n = min(length, s.size)
        out[c, :n] = s[:n]
    mix = out.sum(axis=0)
    top = max(np.abs(mix).max(initial=0.0), np.abs(out).max(initial=0.0))
    if top > 0:
        factor = peak / top
        mix *= factor
        out *= factor
    return mix, out
