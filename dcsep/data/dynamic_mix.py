"""Dynamic mixing: new random speaker combinations every epoch.

:class:`DynamicMixDataset` draws each training item from a Kaldi-style dir
of single-speaker utterances (``wav.scp`` + ``utt2spk``): ``num_spk``
utterances of distinct speakers (``num_spk`` a list such as ``[2, 3]``: each
item draws its count from it, and :func:`~dcsep.data.dataset.collate` pads
the smaller source sets with silent sources, which no bin is assigned to),
a random relative gain and a random crop of each, mixed with the wsj0-mix scaling of :func:`dcsep.data.mixing.mix_sources`
(active speech level of the whole utterance, gains (r/2, -r/2, 0, ...),
"min" length, common peak normalisation to 0.9), i.e. exactly as the fixed
sets are made, only with new combinations each time. Optionally the items are
augmented (``augment``: level, speed perturbation of the sources, channel
colouring; see :mod:`dcsep.data.augment`).

Every draw of item ``i`` in epoch ``e`` is a pure function of
``(seed, e, i)``: resuming a run, changing the number of DataLoader workers
or the order in which items are asked for gives the same items.

Each utterance's active level is read from ``utt2activlev`` when the dir has
one (:func:`dcsep.data.speechocean.prepare_speechocean762` writes it) and
measured once otherwise; lengths come from ``utt2num_samples`` or the file
headers. The audio is cached in memory as 16-bit integers (float32 for
files that are not 16-bit PCM) when it fits in ``max_cache_mb``; otherwise
only the crops are read from disk.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from dcsep.data import augment as aug
from dcsep.data.audio import _wav_missing_bytes, load_audio
from dcsep.data.dataset import read_segment
from dcsep.data.datadir import read_scp
from dcsep.data.mixing import active_level, mix_sources
from dcsep.errors import ConfigError, DataError


@dataclass
class SourceTable:
    """The single-speaker utterances of a dir, with what mixing needs.

    Attributes:
        utts: utterance ids (sorted).
        paths: (N,) audio specs.
        spk: (N,) speaker index of each utterance.
        speakers: speaker ids.
        lengths: (N,) samples.
        levels: (N,) active speech levels (power).
        audio: the cached audio of all utterances back to back (int16 or
            float32), or None when read from disk.
        offsets: (N,) start of each utterance in ``audio``.
    """

    utts: list[str]
    paths: list[str]
    spk: np.ndarray
    speakers: list[str]
    lengths: np.ndarray
    levels: np.ndarray
    audio: np.ndarray | None
    offsets: np.ndarray | None

    def segment(self, i: int, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` of utterance ``i`` as float64."""
        if self.audio is not None:
            a = self.audio[self.offsets[i] + start : self.offsets[i] + stop]
            return a.astype(np.float64) / 32768.0 if a.dtype == np.int16 else a.astype(np.float64)
        return read_segment(self.paths[i], start, stop, self.utts[i]).astype(np.float64)


_TABLES: "OrderedDict[tuple, SourceTable]" = OrderedDict()


def _note(msg: str) -> None:
    print(f"dynamic_mix: {msg}", file=sys.stderr, flush=True)


def load_source_table(data_dir: str | Path, fs: int, max_cache_mb: float = 2048.0) -> SourceTable:
    """Read and check a dir of single-speaker utterances (cached per process for its files' state)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: data dir not found")
    files = [data_dir / n for n in ("wav.scp", "utt2spk", "utt2activlev", "utt2num_samples")]
    stamp = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.is_file())
    key = (str(data_dir.resolve()), fs, float(max_cache_mb), stamp)
    if key in _TABLES:
        _TABLES.move_to_end(key)
        return _TABLES[key]
    table = _build_table(data_dir, fs, max_cache_mb)
    _TABLES[key] = table
    while len(_TABLES) > 2:
        _TABLES.popitem(last=False)
    return table


def _build_table(data_dir: Path, fs: int, max_cache_mb: float) -> SourceTable:
    wav = read_scp(data_dir / "wav.scp")
    if not (data_dir / "utt2spk").is_file():
        raise DataError(f"{data_dir / 'utt2spk'}: file not found; dynamic mixing needs the speaker of each utterance")
    u2s = read_scp(data_dir / "utt2spk")
    no_spk = [u for u in wav if u not in u2s]
    if no_spk:
        raise DataError(f"{data_dir / 'utt2spk'}: no speaker for {len(no_spk)} utterance(s) of wav.scp, e.g. {no_spk[0]}")
    utts = sorted(wav)
    lev_tab = read_scp(data_dir / "utt2activlev") if (data_dir / "utt2activlev").is_file() else {}
    len_tab = read_scp(data_dir / "utt2num_samples") if (data_dir / "utt2num_samples").is_file() else {}

    lengths = np.zeros(len(utts), dtype=np.int64)
    pcm16 = True
    for i, u in enumerate(utts):
        spec = wav[u]
        path = Path(spec)
        if not path.is_file():
            what = "not a regular file" if path.exists() else "file not found"
            raise DataError(f"{data_dir / 'wav.scp'}: {u} ({spec}): {what}")
        try:
            missing = _wav_missing_bytes(spec)
            info = sf.info(spec)
        except Exception as e:
            raise DataError(f"{data_dir / 'wav.scp'}: {u} ({spec}): cannot read audio header: {e}") from None
        if missing:
            raise DataError(f"{data_dir / 'wav.scp'}: {u} ({spec}): truncated WAV file ({missing} bytes of audio data missing)")
        if info.samplerate != fs:
            raise DataError(f"{data_dir / 'wav.scp'}: {u} ({spec}): sample rate {info.samplerate} Hz, expected {fs} Hz")
        if info.channels != 1:
            raise DataError(f"{data_dir / 'wav.scp'}: {u} ({spec}): {info.channels} channels, expected mono")
        n = int(info.frames)
        if u in len_tab and int(len_tab[u]) != n:
            raise DataError(
                f"{data_dir / 'utt2num_samples'}: {u}: {len_tab[u]} samples, but {spec} has {n}; "
                "the dir is stale, prepare it again"
            )
        if n <= 0:
            raise DataError(f"{data_dir / 'wav.scp'}: {u} ({spec}): empty audio")
        lengths[i] = n
        pcm16 &= info.subtype == "PCM_16"
    total = int(lengths.sum())
    bytes_per = 2 if pcm16 else 4
    cache = total * bytes_per <= max_cache_mb * 2**20
    need_levels = [i for i, u in enumerate(utts) if u not in lev_tab]
    audio = offsets = None
    if cache:
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        audio = np.empty(total, dtype=np.int16 if pcm16 else np.float32)
    levels = np.zeros(len(utts), dtype=np.float64)
    if cache or need_levels:
        what = "caching" if cache else "measuring the active level of"
        _note(f"{what} {len(utts) if cache else len(need_levels)} utterances of {data_dir} "
              f"({total / fs / 3600:.2f} h)")
    t0 = last = time.monotonic()
    todo = range(len(utts)) if cache else need_levels
    for k, i in enumerate(todo, 1):
        u = utts[i]
        if cache and pcm16:
            x16, _ = sf.read(wav[u], dtype="int16")
            if x16.ndim != 1 or x16.shape[0] != lengths[i]:
                raise DataError(f"{data_dir / 'wav.scp'}: {u} ({wav[u]}): read {x16.shape} samples, expected {lengths[i]}")
            audio[offsets[i] : offsets[i] + lengths[i]] = x16
            x = x16.astype(np.float64) / 32768.0
        else:
            x32, _ = load_audio(wav[u], fs=fs, name=u)
            if cache:
                audio[offsets[i] : offsets[i] + lengths[i]] = x32
            x = x32.astype(np.float64)
        if u not in lev_tab:
            levels[i] = active_level(x, fs)
        now = time.monotonic()
        if now - last > 30:
            _note(f"{k}/{len(todo)} utterances, {now - t0:.0f} s")
            last = now
    for i, u in enumerate(utts):
        if u in lev_tab:
            try:
                levels[i] = float(lev_tab[u])
            except ValueError:
                raise DataError(f"{data_dir / 'utt2activlev'}: {u}: level {lev_tab[u]!r} is not a number") from None
    keep = levels > 0
    if not keep.all():
        bad = [utts[i] for i in np.flatnonzero(~keep)]
        _note(f"warning: {len(bad)} silent utterance(s) left out (active level 0), e.g. {bad[0]}")
    idx = np.flatnonzero(keep)
    if cache:
        # keep the cached audio as is; only the index arrays shrink
        offsets = offsets[idx]
    speakers = sorted({u2s[utts[i]] for i in idx})
    spk_index = {s: k for k, s in enumerate(speakers)}
    return SourceTable(
        utts=[utts[i] for i in idx],
        paths=[wav[utts[i]] for i in idx],
        spk=np.array([spk_index[u2s[utts[i]]] for i in idx], dtype=np.int64),
        speakers=speakers,
        lengths=lengths[idx],
        levels=levels[idx],
        audio=audio,
        offsets=offsets,
    )


class DynamicMixDataset(Dataset):
    """Training items mixed on the fly from single-speaker utterances.

    Item ``i`` of epoch ``e`` (a pure function of ``(seed, e, i)``):

    0. with a list ``num_spk``, the item's count uniformly from the list;
    1. a first utterance uniformly at random, then ``num_spk - 1`` more,
       uniformly among the utterances of speakers not yet chosen;
    2. a relative gain r uniform in ``gain_db_range``; gains (r/2, -r/2, 0, ...)
       as in the wsj0-mix lists;
    3. from each utterance longer than ``chunk_samples`` a crop at a random
       offset (each source its own offset);
    4. :func:`~dcsep.data.mixing.mix_sources` with each utterance's active
       level: scaled, cut to the shortest ("min"), summed, peak 0.9.

    With ``augment`` (:class:`~dcsep.data.augment.Augment` options), drawn
    from a generator of their own, so that the utterances, gains and crop
    positions stay those of the plain dataset with the same seed (crops
    are longer where a source is sped up): each source is speed-perturbed
    after its crop, then coloured after mixing (each keeps its power, the
    mixture is their sum, peak 0.9 again), then the level gain scales the
    whole item.

    Args:
        data_dir: dir with ``wav.scp`` and ``utt2spk`` (optional
            ``utt2activlev``, ``utt2num_samples``).
        num_spk: sources per mixture, or a list of counts to draw from per
            item (e.g. ``[2, 3]``, for a model that meets both).
        chunk_samples: crop length in samples (None: whole utterances).
        gain_db_range: (lo, hi) relative gain of source 1 over source 2 in dB.
        epoch_size: items per epoch (None: as many chunks as the source audio
            holds, ``total_samples // chunk_samples``; whole utterances: the
            number of utterances).
        seed: seed of the draws.
        fs: sample rate; every file must have it.
        mode: "min" (cut to the shortest source) or "max" (zero-pad to the longest).
        max_cache_mb: cache the audio in memory when it takes at most this much.
        augment: augmentation options (a mapping, see :mod:`dcsep.data.augment`);
            None: none.

    Items: ``{"mix": FloatTensor (L,), "sources": FloatTensor (C, L)}``, C the item's count.
    """

    def __init__(
        self,
        data_dir: str | Path,
        num_spk: int | Sequence[int] = 2,
        chunk_samples: int | None = None,
        gain_db_range: Sequence[float] = (0.0, 5.0),
        epoch_size: int | None = None,
        seed: int = 0,
        fs: int = 8000,
        mode: str = "min",
        max_cache_mb: float = 2048.0,
        augment: dict | None = None,
    ):
        counts = num_spk if isinstance(num_spk, (list, tuple)) else [num_spk]
        if not counts or any(isinstance(c, bool) or not isinstance(c, int) or c < 2 for c in counts):
            raise ConfigError(f"num_spk: an integer >= 2 or a list of them, got {num_spk!r}")
        if chunk_samples is not None and (isinstance(chunk_samples, bool) or not isinstance(chunk_samples, int)
                                          or chunk_samples < 1):
            raise ConfigError(f"chunk_samples: a positive integer or None, got {chunk_samples!r}")
        try:
            lo, hi = (float(g) for g in gain_db_range)
        except (TypeError, ValueError):
            raise ConfigError(f"gain_db_range: two numbers [lo, hi], got {gain_db_range!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
            raise ConfigError(f"gain_db_range: need finite lo <= hi, got {gain_db_range!r}")
        if epoch_size is not None and (isinstance(epoch_size, bool) or not isinstance(epoch_size, int) or epoch_size < 1):
            raise ConfigError(f"epoch_size: a positive integer or None, got {epoch_size!r}")
        if mode not in ("min", "max"):
            raise ConfigError(f"mode: 'min' or 'max', got {mode!r}")
        if not isinstance(max_cache_mb, (int, float)) or isinstance(max_cache_mb, bool) or max_cache_mb < 0:
            raise ConfigError(f"max_cache_mb: a number >= 0, got {max_cache_mb!r}")
        self.augment = aug.Augment.from_conf(augment, "train_dataset_conf.augment")
        self.data_dir = Path(data_dir)
        self.counts = tuple(sorted(set(counts)))
        self.num_spk = max(self.counts)  # the most sources an item has
        self.chunk_samples = chunk_samples
        self.gain_db_range = (lo, hi)
        self.seed = int(seed)
        self.fs = int(fs)
        self.mode = mode
        self.table = load_source_table(self.data_dir, self.fs, max_cache_mb)
        if len(self.table.speakers) < self.num_spk:
            raise DataError(
                f"{self.data_dir}: {len(self.table.speakers)} speaker(s), {self.num_spk}-speaker mixtures need "
                f"at least {self.num_spk}"
            )
        if epoch_size is None:
            total = int(self.table.lengths.sum())
            epoch_size = len(self.table.utts) if chunk_samples is None else max(1, total // chunk_samples)
        self.epoch_size = epoch_size
        # utterances grouped by speaker, for the fallback draw
        self._by_spk = [np.flatnonzero(self.table.spk == k) for k in range(len(self.table.speakers))]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Fix the draws of the coming epoch (items depend on (seed, epoch, index) only)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.epoch_size

    def item_num_spk(self, index: int) -> int:
        """The number of sources of item ``index`` this epoch."""
        if len(self.counts) == 1:  # no draw: the items of a fixed count stay those they always were
            return self.counts[0]
        rng = np.random.default_rng([self.seed, self.epoch, index, 0x5C])
        return int(self.counts[rng.integers(len(self.counts))])

    def draw(self, index: int) -> tuple[list[int], list[float], list[tuple[int, int]]]:
        """The recipe of item ``index`` this epoch: utterance indices, gains (dB), (start, stop) crops."""
        if not 0 <= index < self.epoch_size:
            raise IndexError(f"index {index} out of range for an epoch of {self.epoch_size} items")
        t = self.table
        rng = np.random.default_rng([self.seed, self.epoch, index, 0xD1C])
        n = len(t.utts)
        chosen = [int(rng.integers(n))]
        used = {int(t.spk[chosen[0]])}
        num_spk = self.item_num_spk(index)
        for _ in range(1, num_spk):
            for _try in range(64):
                j = int(rng.integers(n))
                if int(t.spk[j]) not in used:
                    break
            else:  # a few speakers hold almost all utterances: draw among the others explicitly
                rest = np.concatenate([self._by_spk[k] for k in range(len(t.speakers)) if k not in used])
                j = int(rest[rng.integers(rest.size)])
            chosen.append(j)
            used.add(int(t.spk[j]))
        r = float(rng.uniform(*self.gain_db_range))
        gains = [r / 2, -r / 2] + [0.0] * (num_spk - 2)
        speeds = self.draw_augment(index).speeds
        crops = []
        for j, s in zip(chosen, speeds):
            length = int(t.lengths[j])
            need = None if self.chunk_samples is None else aug.speed_input_length(self.chunk_samples, s)
            if need is not None and length > need:
                start = int(rng.integers(0, length - need + 1))
                crops.append((start, start + need))
            else:
                crops.append((0, length))
        return chosen, gains, crops

    def draw_augment(self, index: int) -> aug.AugmentDraw:
        """The augmentation of item ``index`` this epoch (speeds 1 and level 0 dB without ``augment``)."""
        rng = np.random.default_rng([self.seed, self.epoch, index, 0xA06])
        return self.augment.draw(rng, self.item_num_spk(index), self.fs)

    def _out_lengths(self, crops, speeds) -> list[int]:
        return [aug.speed_output_length(b - a, s, self.chunk_samples) for (a, b), s in zip(crops, speeds)]

    def num_samples(self, index: int) -> int:
        """Length of item ``index`` this epoch (without reading audio)."""
        _, _, crops = self.draw(index)
        sizes = self._out_lengths(crops, self.draw_augment(index).speeds)
        return min(sizes) if self.mode == "min" else max(sizes)

    def __getitem__(self, index: int) -> dict:
        chosen, gains, crops = self.draw(index)
        t = self.table
        segs = [t.segment(j, a, b) for j, (a, b) in zip(chosen, crops)]
        extra = self.draw_augment(index) if self.augment.active else None
        if extra is not None and self.augment.speed is not None:
            segs = [aug.speed_perturb(x, s, self.chunk_samples) for x, s in zip(segs, extra.speeds)]
        mix, srcs = mix_sources(
            segs, gains, mode=self.mode, fs=self.fs, levels=[float(t.levels[j]) for j in chosen]
        )  # mix: (L,), srcs: (C, L)
        if extra is not None:
            mix, srcs = aug.apply_to_mixture(srcs, extra, self.fs)
        return {
            "mix": torch.from_numpy(mix.astype(np.float32)),
            "sources": torch.from_numpy(srcs.astype(np.float32)),
        }

    def describe(self, index: int) -> dict:
        """Utterance ids, speakers, gains and crops of item ``index`` (for logs and checks)."""
        chosen, gains, crops = self.draw(index)
        t = self.table
        out = {
            "utts": [t.utts[j] for j in chosen],
            "speakers": [t.speakers[int(t.spk[j])] for j in chosen],
            "gains_db": gains,
            "crops": crops,
        }
        if self.augment.active:
            extra = self.draw_augment(index)
            out.update(speeds=list(extra.speeds), level_db=extra.level_db,
                       coloured=[f is not None for f in extra.filters])
        return out
