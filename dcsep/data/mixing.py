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

import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import soundfile as sf
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


# ---- writing mixture corpora ------------------------------------------------
@dataclass(frozen=True)
class MixSpec:
    """One mixture to create.

    Attributes:
        name: the mixture id (also the file name, without ``.wav``).
        sources: C source files.
        gains_db: C gains in dB.
        source_ids: C utterance ids of the sources (for level tables and ``utt2spk``-like files).
    """

    name: str
    sources: tuple[str, ...]
    gains_db: tuple[float, ...]
    source_ids: tuple[str, ...] = ()


@dataclass
class MixRecord:
    """A mixture written to disk: ``mix`` and ``sources`` are wav paths, ``num_samples`` its length."""

    name: str
    mix: str
    sources: list[str]
    num_samples: int


def mixture_paths(out_dir: str | Path, name: str, num_spk: int) -> tuple[Path, list[Path]]:
    """The wsj0-mix layout under ``out_dir``: ``mix/<name>.wav``, ``s1/<name>.wav``, ...

    Raises:
        DataError: ``name`` could put a file elsewhere (a path separator,
            control characters, empty).
    """
    if not name or "/" in name or "\\" in name or not name.isprintable():
        raise DataError(f"mixture name {name!r} cannot be a file name (empty, a path separator or control characters)")
    out_dir = Path(out_dir)
    return out_dir / "mix" / f"{name}.wav", [out_dir / f"s{c + 1}" / f"{name}.wav" for c in range(num_spk)]


def _load_wav(path: str, fs: int) -> np.ndarray:
    """Default source loader: any libsndfile format, resampled to ``fs`` when needed."""
    from dcsep.data.audio import load_audio

    wav, rate = load_audio(path)
    return resample(wav.astype(np.float64), rate, fs)


def resample(x: np.ndarray, fs_in: int, fs_out: int) -> np.ndarray:
    """Polyphase resampling (Kaiser window, as MATLAB's ``resample``); no-op when rates agree."""
    if fs_in == fs_out:
        return x
    g = np.gcd(int(fs_in), int(fs_out))
    return signal.resample_poly(x, fs_out // g, fs_in // g)


def _make_one(spec: MixSpec, out_dir: str, fs: int, mode: str, loader, levels: dict | None) -> MixRecord:
    num_spk = len(spec.sources)
    mix_path, src_paths = mixture_paths(out_dir, spec.name, num_spk)
    if mix_path.is_file() and all(p.is_file() for p in src_paths):
        info = sf.info(str(mix_path))
        if info.samplerate == fs:
            return MixRecord(spec.name, str(mix_path), [str(p) for p in src_paths], int(info.frames))
    sigs = [loader(path, fs) for path in spec.sources]
    lev = None
    if levels is not None and spec.source_ids:
        lev = [levels.get(u) for u in spec.source_ids]
    mix, scaled = mix_sources(sigs, spec.gains_db, mode=mode, fs=fs, levels=lev)
    from dcsep.data.audio import write_wav

    for path, sig in zip(src_paths, scaled):
        write_wav(path, sig, fs)
    write_wav(mix_path, mix, fs)  # written last: its presence marks the mixture complete
    return MixRecord(spec.name, str(mix_path), [str(p) for p in src_paths], int(mix.size))


def _make_chunk(specs, out_dir, fs, mode, loader, levels):
    return [_make_one(s, out_dir, fs, mode, loader, levels) for s in specs]


def create_mixtures(
    specs: Sequence[MixSpec],
    out_dir: str | Path,
    fs: int = 8000,
    mode: str = "min",
    nj: int = 1,
    loader: Callable[[str, int], np.ndarray] | None = None,
    levels: dict[str, float] | None = None,
    label: str = "mixtures",
) -> list[MixRecord]:
    """Create (or reuse) the mixtures of ``specs`` under ``out_dir`` in the wsj0-mix layout.

    Mixtures whose files all exist (at ``fs``) are not recomputed, so an
    interrupted run continues where it stopped; every file is written
    atomically. Work is spread over ``nj`` processes.

    Args:
        specs: the mixtures.
        out_dir: e.g. ``.../wav8k/min/tr``; gets ``mix/``, ``s1/``, ``s2/`` ...
        fs: output sample rate.
        mode: "min" or "max".
        nj: number of worker processes.
        loader: ``loader(path, fs) -> (L,) float`` reads a source at ``fs``
            (must be picklable for nj > 1); default: any libsndfile format.
        levels: optional table utterance id -> active level (power).
        label: name used in progress messages.

    Returns:
        One record per spec, in the order of ``specs``.
    """
    if mode not in MODES:
        raise DataError(f"mode must be one of {MODES}, got {mode!r}")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        dup = sorted(n for n, k in Counter(names).items() if k > 1)[:3]
        raise DataError(f"{label}: duplicate mixture names {dup}")
    loader = loader or _load_wav
    out_dir = str(out_dir)
    chunk = max(1, min(64, len(specs) // (4 * max(nj, 1)) or 1))
    chunks = [list(specs[i : i + chunk]) for i in range(0, len(specs), chunk)]
    progress = Progress(len(specs), label)
    results = run_chunks(_make_chunk, chunks, nj, progress, out_dir, fs, mode, loader, levels)
    records = [r for part in results for r in part]
    return records


def write_mixture_datadir(
    data_dir: str | Path,
    records: Sequence[MixRecord],
    fs: int,
    extra: dict[str, dict[str, str]] | None = None,
) -> Path:
    """Write a Kaldi-style data dir for mixture records.

    Files: ``wav.scp``, ``spk1.scp`` .. ``spkC.scp``, ``utt2spk`` (each
    mixture is its own "speaker"), ``spk2utt``, ``utt2dur``, ``utt2num_samples``
    and any ``extra`` files (name -> {utt: value}), e.g. ``utt2category``.
    """
    from dcsep.data.datadir import write_scp

    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if not records:
        raise DataError(f"{data_dir}: no mixtures to write")
    num_spk = len(records[0].sources)
    write_scp(data_dir / "wav.scp", {r.name: r.mix for r in records})
    for c in range(num_spk):
        write_scp(data_dir / f"spk{c + 1}.scp", {r.name: r.sources[c] for r in records})
    write_scp(data_dir / "utt2spk", {r.name: r.name for r in records})
    write_scp(data_dir / "spk2utt", {r.name: r.name for r in records})
    write_scp(data_dir / "utt2dur", {r.name: f"{r.num_samples / fs:.4f}" for r in records})
    write_scp(data_dir / "utt2num_samples", {r.name: str(r.num_samples) for r in records})
    for fname, table in (extra or {}).items():
        write_scp(data_dir / fname, {r.name: table[r.name] for r in records if r.name in table})
    return data_dir


def run_chunks(
    fn, chunks: Sequence[list], nj: int, progress: "Progress | None" = None, *args, fresh_process: bool = False
) -> list:
    """``[fn(chunk, *args) for chunk in chunks]`` over ``nj`` processes, results in order.

    ``fn`` and ``args`` must be picklable when nj > 1 or ``fresh_process``.
    The first failure cancels the chunks not yet started and is raised.

    ``fresh_process``: every chunk runs in a new process (forked from a clean
    server process), whatever ``nj``, so that its result cannot depend on what
    ran before it in the same process: eSpeak NG keeps state from one utterance
    to the next, and which worker gets which chunk varies from run to run.
    """
    if fresh_process:
        import multiprocessing as mp

        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload([fn.__module__])
        pool = ProcessPoolExecutor(max_workers=max(1, min(nj, len(chunks))), mp_context=ctx, max_tasks_per_child=1)
        return _collect(pool, fn, chunks, progress, args)
    if nj <= 1 or len(chunks) <= 1:
        out = []
        for c in chunks:
            out.append(fn(c, *args))
            if progress:
                progress.update(len(c))
        return out
    return _collect(ProcessPoolExecutor(max_workers=min(nj, len(chunks))), fn, chunks, progress, args)


def _collect(pool: ProcessPoolExecutor, fn, chunks: Sequence[list], progress: "Progress | None", args) -> list:
    results: dict[int, object] = {}
    try:
        futures = {pool.submit(fn, c, *args): i for i, c in enumerate(chunks)}
        for fut in as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            if progress:
                progress.update(len(chunks[i]))
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [results[i] for i in range(len(chunks))]


class Progress:
    """Progress messages on stderr for long loops: every 10 % (long loops) or 30 s, and at the end."""

    def __init__(self, total: int, label: str, stream=None):
        self.total, self.label, self.done = total, label, 0
        self.stream = stream if stream is not None else sys.stderr
        self.start = self.last = time.monotonic()
        self.last_frac = 0.0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        frac = self.done / max(self.total, 1)
        step = 0.1 if self.total >= 50 else 1.0
        if self.done >= self.total or frac - self.last_frac >= step or now - self.last >= 30:
            self.last, self.last_frac = now, frac
            print(
                f"{self.label}: {self.done}/{self.total} ({100 * frac:.0f}%), {now - self.start:.1f} s",
                file=self.stream,
                flush=True,
            )
