"""Training-data augmentation for dynamic mixing: level, speed, channel colouring.

Three independent options, each off unless configured (the ``augment`` key of
``train_dataset_conf`` for ``train_dataset: dynamic_mix``)::

    augment:
      level_db: [-30.0, 6.0]   # mixture gain, uniform in dB (sources alike)
      speed: [0.9, 1.1]        # per-source speed factor (resampling: tempo and pitch)
      colour: source           # "source": a filter per source; "mixture": one for all
      colour_prob: 0.8         # chance that an item is coloured at all
      tilt_db: [-3.0, 3.0]     # spectral tilt, dB per octave around 1 kHz
      eq_bands: 2              # random peaking bands...
      eq_db: 6.0               # ...each of gain uniform in [-eq_db, eq_db]
      band_prob: 0.5           # chance of a band limit...
      telephone_prob: 0.3      # ...of which this share is the telephone band (300-3400 Hz)

Each draw is a function of the numpy generator it is given; the dataset seeds
it from ``(seed, epoch, index)``, so augmented items are reproducible too.

* **Level** multiplies the mixture and its sources by one gain: the model
  must separate a quiet recording as well as a loud one.
* **Speed** resamples a source by a factor ``s`` (Kaldi's speed perturbation):
  ``s`` > 1 is faster and higher, a new voice made from a training speaker.
  ``s`` is quantised to 1/100 (polyphase resampling by 100 / round(100 s)).
* **Colouring** filters the sources with a random zero-delay FIR (257 taps):
  a tilt, a few peaking bands and, sometimes, band limits (the telephone band
  among them), as different microphones and channels do. Each coloured
  source keeps its power, so the drawn relative gain between the speakers
  stands; the mixture is the sum of the coloured sources, scaled to the
  peak of the plain items (0.9).

Example:
    >>> aug = Augment.from_conf({"level_db": [-30, 6], "speed": [0.9, 1.1], "colour": "source"})
    >>> d = aug.draw(np.random.default_rng(0), num_spk=2)
    >>> len(d.speeds), len(d.filters), -30 <= d.level_db <= 6
    (2, 2, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from scipy.signal import fftconvolve, firwin2, resample_poly

from dcsep.data.mixing import PEAK
from dcsep.errors import ConfigError

#: speed factors are multiples of 1 / SPEED_STEPS
SPEED_STEPS = 100
#: taps of the colouring FIR (odd: zero delay with ``mode="same"``)
COLOUR_TAPS = 257
TELEPHONE_BAND = (300.0, 3400.0)
#: output samples dropped at each end of a resampled crop (the filter's edge)
_SPEED_MARGIN = 64


@dataclass(frozen=True)
class ColourFilter:
    """One random channel: the parameters of its magnitude response.

    Attributes:
        tilt_db: dB per octave around 1 kHz.
        bands: (centre Hz, gain dB, width octaves) of each peaking band.
        band: (low Hz, high Hz) band limits, or None.
    """

    tilt_db: float
    bands: tuple[tuple[float, float, float], ...]
    band: tuple[float, float] | None

    def response_db(self, freqs: np.ndarray) -> np.ndarray:
        """Magnitude response in dB at ``freqs`` (Hz), clipped to [-60, 12]."""
        f = np.maximum(np.asarray(freqs, dtype=np.float64), 1.0)
        db = self.tilt_db * np.log2(np.maximum(f, 100.0) / 1000.0)
        for fc, gain, width in self.bands:
            db = db + gain * np.exp(-0.5 * (np.log2(f / fc) / width) ** 2)
        if self.band is not None:
            lo, hi = self.band
            db = db - 10 * np.log10(1 + (lo / f) ** 8) - 10 * np.log10(1 + (f / hi) ** 8)  # 4th-order edges
        return np.clip(db, -60.0, 12.0)

    def taps(self, fs: int) -> np.ndarray:
        """(COLOUR_TAPS,) linear-phase FIR with this response."""
        grid = np.linspace(0.0, fs / 2, 129)
        return firwin2(COLOUR_TAPS, grid, 10 ** (self.response_db(grid) / 20), fs=fs)


@dataclass(frozen=True)
class AugmentDraw:
    """The augmentation of one item.

    Attributes:
        speeds: (C,) speed factor of each source (1.0: unchanged).
        filters: (C,) colouring of each source (None: not coloured); with
            ``colour: mixture`` the same filter for all.
        level_db: gain of the mixture and its sources in dB.
    """

    speeds: tuple[float, ...]
    filters: tuple[ColourFilter | None, ...]
    level_db: float


@dataclass(frozen=True)
class Augment:
    """Augmentation options (see the module docstring); the defaults change nothing."""

    level_db: tuple[float, float] | None = None
    speed: tuple[float, float] | None = None
    colour: str | None = None
    colour_prob: float = 1.0
    tilt_db: tuple[float, float] = (-3.0, 3.0)
    eq_bands: int = 2
    eq_db: float = 6.0
    band_prob: float = 0.5
    telephone_prob: float = 0.3

    @classmethod
    def from_conf(cls, conf: dict | None, where: str = "augment") -> "Augment":
        """Checked options from a config mapping (None or {}: no augmentation)."""
        if conf is None:
            return cls()
        if not isinstance(conf, dict):
            raise ConfigError(f"{where}: a mapping of augmentation options, got {conf!r}")
        known = [f.name for f in fields(cls)]
        for key in conf:
            if key not in known:
                raise ConfigError(f"{where}: unknown key {key!r}; valid keys: {', '.join(known)}")
        kw = dict(conf)
        for key in ("level_db", "speed", "tilt_db"):
            if kw.get(key) is not None:
                kw[key] = _range(kw[key], f"{where}.{key}")
        if kw.get("speed") is not None and not 0.5 <= kw["speed"][0] <= kw["speed"][1] <= 2.0:
            raise ConfigError(f"{where}.speed: factors within [0.5, 2.0], got {conf['speed']!r}")
        if kw.get("colour") not in (None, "source", "mixture"):
            raise ConfigError(f"{where}.colour: 'source', 'mixture' or null, got {conf['colour']!r}")
        for key in ("colour_prob", "band_prob", "telephone_prob"):
            if key in kw and not (_is_num(kw[key]) and 0 <= kw[key] <= 1):
                raise ConfigError(f"{where}.{key}: a probability in [0, 1], got {kw[key]!r}")
        if "eq_bands" in kw and (isinstance(kw["eq_bands"], bool) or not isinstance(kw["eq_bands"], int)
                                 or not 0 <= kw["eq_bands"] <= 8):
            raise ConfigError(f"{where}.eq_bands: an integer in [0, 8], got {kw['eq_bands']!r}")
        if "eq_db" in kw and not (_is_num(kw["eq_db"]) and 0 <= kw["eq_db"] <= 24):
            raise ConfigError(f"{where}.eq_db: a number in [0, 24], got {kw['eq_db']!r}")
        return cls(**kw)

    @property
    def active(self) -> bool:
        """Whether any option is on."""
        return self.level_db is not None or self.speed is not None or self.colour is not None

    def draw(self, rng: np.random.Generator, num_spk: int, fs: int = 8000) -> AugmentDraw:
        """The augmentation of one item of ``num_spk`` sources, from ``rng``."""
        speeds = [1.0] * num_spk
        if self.speed is not None:
            speeds = [round(float(rng.uniform(*self.speed)) * SPEED_STEPS) / SPEED_STEPS for _ in range(num_spk)]
        filters: list[ColourFilter | None] = [None] * num_spk
        if self.colour is not None and rng.uniform() < self.colour_prob:
            if self.colour == "mixture":
                filters = [self.draw_filter(rng, fs)] * num_spk
            else:
                filters = [self.draw_filter(rng, fs) for _ in range(num_spk)]
        level = float(rng.uniform(*self.level_db)) if self.level_db is not None else 0.0
        return AugmentDraw(tuple(speeds), tuple(filters), level)

    def draw_filter(self, rng: np.random.Generator, fs: int) -> ColourFilter:
        """One random channel (tilt, peaking bands, band limits) from ``rng``."""
        nyq = fs / 2
        tilt = float(rng.uniform(*self.tilt_db))
        bands = tuple(
            (float(np.exp(rng.uniform(np.log(150.0), np.log(0.9 * nyq)))), float(rng.uniform(-self.eq_db, self.eq_db)),
             float(rng.uniform(0.5, 2.0)))
            for _ in range(self.eq_bands)
        )
        band = None
        if rng.uniform() < self.band_prob:
            if rng.uniform() < self.telephone_prob and TELEPHONE_BAND[1] < nyq:
                band = TELEPHONE_BAND
            else:
                band = (float(rng.uniform(50.0, 400.0)), float(rng.uniform(0.6, 1.2) * nyq))
        return ColourFilter(tilt, bands, band)


def speed_ratio(speed: float) -> tuple[int, int]:
    """(up, down) of the resampling that plays a signal ``speed`` times faster."""
    return SPEED_STEPS, int(round(speed * SPEED_STEPS))


def speed_input_length(out_len: int, speed: float) -> int:
    """Input samples that :func:`speed_perturb` needs for ``out_len`` output samples (margins included)."""
    if speed == 1.0:
        return out_len
    up, down = speed_ratio(speed)
    return int(math.ceil((out_len + 2 * _SPEED_MARGIN) * down / up))


def speed_output_length(in_len: int, speed: float, out_len: int | None = None) -> int:
    """Length of :func:`speed_perturb`'s output for ``in_len`` input samples."""
    if speed == 1.0:
        full = in_len
    else:
        up, down = speed_ratio(speed)
        full = int(math.ceil(in_len * up / down))
    return full if out_len is None else min(full, out_len)


def speed_perturb(x: np.ndarray, speed: float, out_len: int | None = None) -> np.ndarray:
    """x: (L,) -> (L',) played ``speed`` times faster (resampled; tempo and pitch change).

    The whole signal is ``ceil(L / speed)`` samples long (quantised ``speed``).
    With ``out_len``, at most ``out_len`` samples: from the middle of the
    resampled signal, away from its edges, when the input holds
    :func:`speed_input_length` samples, else from its start.
    """
    if speed == 1.0:
        return x if out_len is None else x[:out_len]
    up, down = speed_ratio(speed)
    y = resample_poly(x, up, down)
    if out_len is None:
        return y
    if x.shape[0] >= speed_input_length(out_len, speed):
        return y[_SPEED_MARGIN : _SPEED_MARGIN + out_len]
    return y[:out_len]


def colour(x: np.ndarray, filt: ColourFilter, fs: int) -> np.ndarray:
    """x: (L,) -> (L,) filtered by ``filt``, scaled back to the power of ``x``."""
    y = fftconvolve(x, filt.taps(fs), mode="same")
    p_in, p_out = float(np.mean(x * x)), float(np.mean(y * y))
    return y * math.sqrt(p_in / p_out) if p_out > 0 else y


def apply_to_mixture(srcs: np.ndarray, draw: AugmentDraw, fs: int, peak: float = PEAK) -> tuple[np.ndarray, np.ndarray]:
    """Colouring and level of a mixed item.

    Args:
        srcs: (C, L) scaled sources (the mixture is their sum).
        draw: the item's augmentation.
        fs: sample rate.
        peak: largest absolute sample of mixture and sources after colouring,
            before the level gain (as :func:`~dcsep.data.mixing.mix_sources` does).

    Returns:
        mix (L,), sources (C, L), with ``mix == sources.sum(0)``.
    """
    srcs = np.asarray(srcs, dtype=np.float64)
    if any(f is not None for f in draw.filters):
        srcs = np.stack([s if f is None else colour(s, f, fs) for s, f in zip(srcs, draw.filters)])
        top = max(float(np.abs(srcs).max()), float(np.abs(srcs.sum(0)).max())) if srcs.size else 0.0
        if top > 0:
            srcs = srcs * (peak / top)
    if draw.level_db != 0.0:
        srcs = srcs * 10 ** (draw.level_db / 20)
    return srcs.sum(0), srcs


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _range(v, where: str) -> tuple[float, float]:
    if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(_is_num(x) for x in v) or v[0] > v[1]:
        raise ConfigError(f"{where}: two finite numbers [lo, hi] with lo <= hi, got {v!r}")
    return float(v[0]), float(v[1])
