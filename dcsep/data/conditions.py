"""Test conditions applied to a set's inputs on the fly: a level, and pauses.

A validation or test set can be scored as it is and under conditions that
real recordings bring, named by a suffix of the set's name (as
``local/robust_ablation.py`` and ``bench/bench_count.py`` take them):

* ``NAME@G``: every input scaled by G dB (``cv@-30``);
* ``NAME+padS``: S seconds of quiet noise before and after every input (white
  noise :data:`PAD_NOISE_DB` below the input's power, seeded by the
  utterance id), the references padded with zeros: a recording with long
  pauses, as real ones have (``cv+pad3``; with a level: ``cv+pad3@-30``).

Example:
    >>> parse_condition("cv+pad1.5@-30")
    ('cv', -30.0, 1.5)
    >>> mix, refs = with_pauses("u1", np.ones(4), np.ones((2, 4)), 2)
    >>> mix.shape, refs[0].tolist()
    ((8,), [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
"""

from __future__ import annotations

import zlib

import numpy as np

#: level of the pause noise of a ``+padS`` condition, relative to the input's power (dB)
PAD_NOISE_DB = -60.0


def parse_condition(name: str) -> tuple[str, float, float]:
    """``NAME[+padS][@G]`` -> (NAME, gain dB, pause seconds); ValueError on a malformed suffix."""
    base, gain, pad = name, 0.0, 0.0
    if "@" in base:
        base, g = base.split("@", 1)
        gain = float(g)
    if "+pad" in base:
        base, p = base.split("+pad", 1)
        pad = float(p)
        if pad < 0:
            raise ValueError(f"{name}: pauses of {pad} s")
    return base, gain, pad


def with_pauses(utt: str, mix: np.ndarray, refs: np.ndarray | None, pad: int):
    """``pad`` samples of quiet noise (seeded by ``utt``) before and after ``mix`` (L,), zeros in
    ``refs`` (C, L) -> (mix, refs) of length L + 2 pad (refs None stays None)."""
    rng = np.random.default_rng(zlib.crc32(utt.encode("utf-8")))
    level = np.sqrt(np.mean(np.square(mix, dtype=np.float64)) * 10 ** (PAD_NOISE_DB / 10))
    noise = rng.standard_normal(2 * pad) * level
    out = np.concatenate([noise[:pad], mix, noise[pad:]]).astype(mix.dtype)
    return out, None if refs is None else np.pad(refs, ((0, 0), (pad, pad)))


def apply_condition(utt: str, mix: np.ndarray, refs: np.ndarray | None, gain_db: float, pad_s: float, fs: int):
    """The condition (gain, pauses) applied to one input and its references -> (mix, refs)."""
    if pad_s > 0:
        mix, refs = with_pauses(utt, mix, refs, int(round(pad_s * fs)))
    return (mix * 10 ** (gain_db / 20)).astype(mix.dtype), refs
