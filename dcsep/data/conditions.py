"""Test conditions applied to a set's inputs on the fly: a level, pauses, a channel.

A validation or test set can be scored as it is and under conditions that
real recordings bring, named by suffixes of the set's name (as
``local/robust_ablation.py`` and ``bench/bench_count.py`` take them), in
this order:

* ``NAME+colour``: every input through a random channel (one filter for the
  whole mixture, as a microphone does: tilt, peaking bands, band limits with
  the telephone band among them; :class:`dcsep.data.augment.Augment`'s
  defaults), seeded by the utterance id, its power kept; the references
  through the same filter;
* ``NAME+padS``: S seconds of quiet noise before and after every input (white
  noise :data:`PAD_NOISE_DB` below the input's power, seeded by the
  utterance id), the references padded with zeros: a recording with long
  pauses, as real ones have;
* ``NAME@G``: every input scaled by G dB.

They combine: ``cv+colour+pad3@-30``.

Example:
    >>> parse_condition("cv+pad1.5@-30")
    ('cv', Condition(gain_db=-30.0, pad_s=1.5, channel=False))
    >>> mix, refs = with_pauses("u1", np.ones(4), np.ones((2, 4)), 2)
    >>> mix.shape, refs[0].tolist()
    ((8,), [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

#: level of the pause noise of a ``+padS`` condition, relative to the input's power (dB)
PAD_NOISE_DB = -60.0


@dataclass(frozen=True)
class Condition:
    """What is done to every input (and its references) of a set."""

    gain_db: float = 0.0
    pad_s: float = 0.0
    channel: bool = False

    def apply(self, utt: str, mix: np.ndarray, refs: np.ndarray | None, fs: int):
        """The condition applied to one input (L,) and its references (C, L) or None -> (mix, refs)."""
        if self.channel:
            mix, refs = with_channel(utt, mix, refs, fs)
        if self.pad_s > 0:
            mix, refs = with_pauses(utt, mix, refs, int(round(self.pad_s * fs)))
        return (mix * 10 ** (self.gain_db / 20)).astype(mix.dtype), refs


def parse_condition(name: str) -> tuple[str, Condition]:
    """``NAME[+colour][+padS][@G]`` -> (NAME, its condition); ValueError on a malformed suffix."""
    base, gain, pad, channel = name, 0.0, 0.0, False
    if "@" in base:
        base, g = base.split("@", 1)
        gain = float(g)
    if "+pad" in base:
        base, p = base.split("+pad", 1)
        pad = float(p)
        if pad < 0:
            raise ValueError(f"{name}: pauses of {pad} s")
    if base.endswith("+colour"):
        base, channel = base[: -len("+colour")], True
    if "+" in base:
        raise ValueError(f"{name}: unknown condition {base[base.index('+'):]!r} (+colour, +padS, @G)")
    return base, Condition(gain, pad, channel)


def _rng(utt: str, salt: int | None = None) -> np.random.Generator:
    seed = zlib.crc32(utt.encode("utf-8"))
    return np.random.default_rng(seed if salt is None else [seed, salt])


def with_pauses(utt: str, mix: np.ndarray, refs: np.ndarray | None, pad: int):
    """``pad`` samples of quiet noise (seeded by ``utt``) before and after ``mix`` (L,), zeros in
    ``refs`` (C, L) -> (mix, refs) of length L + 2 pad (refs None stays None)."""
    level = np.sqrt(np.mean(np.square(mix, dtype=np.float64)) * 10 ** (PAD_NOISE_DB / 10))
    noise = _rng(utt).standard_normal(2 * pad) * level
    out = np.concatenate([noise[:pad], mix, noise[pad:]]).astype(mix.dtype)
    return out, None if refs is None else np.pad(refs, ((0, 0), (pad, pad)))


def with_channel(utt: str, mix: np.ndarray, refs: np.ndarray | None, fs: int):
    """``mix`` (L,) and ``refs`` (C, L) through one random channel (seeded by ``utt``), scaled so the
    mixture keeps its power (the references by the same factor, so they still add up to it)."""
    from dcsep.data.augment import Augment

    filt = Augment(colour="mixture").draw_filter(_rng(utt, 1), fs)
    taps = filt.taps(fs)
    y = fftconvolve(mix.astype(np.float64), taps, mode="same")
    p_in, p_out = float(np.mean(np.square(mix, dtype=np.float64))), float(np.mean(y * y))
    scale = np.sqrt(p_in / p_out) if p_out > 0 else 1.0
    out_refs = None if refs is None else (
        np.stack([fftconvolve(r.astype(np.float64), taps, mode="same") for r in refs]) * scale).astype(refs.dtype)
    return (y * scale).astype(mix.dtype), out_refs
