"""Training and validation datasets over a data dir of mixtures, and their collate function.

Item contract (shared by every training dataset kind)::

    {"mix": FloatTensor (L,), "sources": FloatTensor (C, L)}

with L <= the chunk length; :func:`collate` zero-pads a list of items to
``mix (B, L), sources (B, C, L), lengths (B,)``. A dataset's ``set_epoch(e)``
fixes its draws for epoch ``e`` from ``(seed, e)`` alone, so that a resumed
run sees exactly the data of an uninterrupted one.
"""

from __future__ import annotations

import random
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from dcsep.data.audio import ARK_RE, _wav_missing_bytes, load_audio
from dcsep.data.datadir import DataDir
from dcsep.errors import DataError


@dataclass(frozen=True)
class Utterance:
    """One mixture of a data dir with its sources and its length in samples."""

    utt: str
    mix: str
    sources: tuple[str, ...]
    num_samples: int


def probe_audio(spec: str, fs: int | None, label: str) -> int:
    """Check that ``spec`` is a readable mono file at ``fs`` Hz and return its length in samples.

    Reads only the header of plain files (``soundfile.info``); a Kaldi ark
    entry is loaded whole.

    Raises:
        DataError: naming ``label`` and the problem.
    """
    spec = str(spec)
    if ARK_RE.match(spec) or spec.rstrip().endswith("|"):
        wav, _ = load_audio(spec, fs=fs, name=label)
        return int(wav.shape[0])
    path = Path(spec)
    if not path.is_file():
        raise DataError(f"{label}: {'not a regular file' if path.exists() else 'file not found'}")
    try:
        if path.stat().st_size == 0:
            raise DataError(f"{label}: empty file (0 bytes)")
        missing = _wav_missing_bytes(spec)
        info = sf.info(spec)
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{label}: cannot read audio header: {e}") from None
    if missing:
        raise DataError(f"{label}: truncated WAV file ({missing} bytes of audio data missing)")
    if info.channels != 1:
        raise DataError(f"{label}: {info.channels} channels; dcsep trains on mono audio")
    if fs is not None and info.samplerate != fs:
        raise DataError(f"{label}: sample rate {info.samplerate} Hz, expected {fs} Hz (the model's fs)")
    if info.frames <= 0:
        raise DataError(f"{label}: empty audio (0 samples)")
    return int(info.frames)


def scan_datadir(
    path: str | Path,
    fs: int | None,
    require_sources: bool = True,
    num_threads: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> list[Utterance]:
    """Load a data dir and check every audio file before any training.

    Every mixture and source must exist, be readable, be mono at ``fs`` Hz,
    and every source must be at least as long as its mixture (longer sources
    are cut to the mixture at reading time).

    Args:
        path: the data dir (``wav.scp``, ``spk1.scp`` .. ``spkC.scp``).
        fs: the model's sample rate.
        require_sources: a dir without ``spk1.scp`` is an error.
        num_threads: header reads run in this many threads.
        progress: called as ``progress(done, total)`` now and then.

    Returns:
        The utterances in ``wav.scp`` order.

    Raises:
        DataError: naming the first bad file (in ``wav.scp`` order) and the problem.
    """
    dd = DataDir.load(path, require_sources=require_sources)
    utts = dd.utt_ids
    scp_names = ["wav.scp"] + [f"spk{c}.scp" for c in range(1, dd.num_spk + 1)]

    def check(utt: str) -> Utterance:
        specs = [dd.wav[utt]] + dd.sources(utt)
        lens = []
        for name, spec in zip(scp_names, specs):
            lens.append(probe_audio(spec, fs, f"{dd.path / name}: {utt} ({spec})"))
        for c, n in enumerate(lens[1:], 1):
            if n < lens[0]:
                raise DataError(
                    f"{dd.path / scp_names[c]}: {utt} ({specs[c]}): source has {n} samples, "
                    f"shorter than the mixture ({lens[0]} samples)"
                )
        return Utterance(utt, specs[0], tuple(specs[1:]), lens[0])

    out: list[Utterance] = []
    total = len(utts)
    with ThreadPoolExecutor(max_workers=max(1, num_threads)) as pool:
        for i, u in enumerate(pool.map(check, utts), 1):  # map keeps order: the first bad file is reported
            out.append(u)
            if progress is not None and (i % 1000 == 0 or i == total):
                progress(i, total)
    return out


def read_segment(spec: str, start: int, stop: int, label: str) -> np.ndarray:
    """Samples ``[start, stop)`` of a mono file as float32 (L,); reads only that part of plain files."""
    try:
        if ARK_RE.match(spec):
            wav, _ = load_audio(spec, name=label)
            data = wav[start:stop]
        else:
            data = sf.read(spec, start=start, stop=stop, dtype="float32", always_2d=True)[0][:, 0]
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{label} ({spec}): cannot read audio: {e}") from None
    if data.shape[0] != stop - start:
        raise DataError(f"{label} ({spec}): expected {stop - start} samples from {start}, read {data.shape[0]}")
    if not np.isfinite(data).all():  # float files only; the header scan cannot see this
        raise DataError(f"{label} ({spec}): contains NaN or Inf samples (from sample {start})")
    return np.ascontiguousarray(data)


def read_item(u: Utterance, start: int, length: int) -> dict:
    """The item ``{"mix": (L,), "sources": (C, L)}`` of ``u`` starting at sample ``start``."""
    mix = read_segment(u.mix, start, start + length, u.utt)
    srcs = [read_segment(s, start, start + length, f"{u.utt} source {c}") for c, s in enumerate(u.sources, 1)]
    return {"mix": torch.from_numpy(mix), "sources": torch.from_numpy(np.stack(srcs))}


class ChunkDataset(Dataset):
    """Random fixed-length chunks of the mixtures of a data dir.

    For epoch ``e`` every utterance of N samples gives ``floor(N / chunk)``
    non-overlapping chunks laid from a random offset (at most
    ``max_chunks_per_utt``, drawn at random); an utterance shorter than a
    chunk gives one whole (shorter) item. The draws depend only on
    ``(seed, e)``. The item order is by utterance; shuffling is the sampler's job.

    Args:
        utts: the utterances (from :func:`scan_datadir`).
        chunk_samples: chunk length in samples.
        seed: seed of the draws.
        max_chunks_per_utt: at most this many chunks per utterance and epoch (None: all).
    """

    def __init__(self, utts: Sequence[Utterance], chunk_samples: int, seed: int = 0, max_chunks_per_utt: int | None = None):
        if chunk_samples < 1:
            raise ValueError(f"chunk_samples must be >= 1, got {chunk_samples}")
        if not utts:
            raise DataError("no utterances to draw training chunks from")
        self.utts = list(utts)
        self.chunk_samples = chunk_samples
        self.seed = seed
        self.max_chunks_per_utt = max_chunks_per_utt
        self.items: list[tuple[int, int, int]] = []  # (utterance index, start, length)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        rng = np.random.default_rng([self.seed, epoch, 0])
        L = self.chunk_samples
        items = []
        for i, u in enumerate(self.utts):
            n = u.num_samples // L
            if n == 0:
                items.append((i, 0, u.num_samples))
                continue
            offset = int(rng.integers(0, u.num_samples - n * L + 1))
            idx = np.arange(n)
            if self.max_chunks_per_utt is not None and n > self.max_chunks_per_utt:
                idx = np.sort(rng.choice(n, self.max_chunks_per_utt, replace=False))
            items.extend((i, offset + int(j) * L, L) for j in idx)
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        i, start, length = self.items[index]
        return read_item(self.utts[i], start, length)

    def num_samples(self, index: int) -> int:
        return self.items[index][2]


class FixedChunkDataset(Dataset):
    """Deterministic items for validation: whole utterances or consecutive fixed chunks.

    Args:
        utts: the utterances.
        chunk_samples: None for whole utterances, else consecutive chunks of
            this length from sample 0 (the last one may be shorter).
    """

    def __init__(self, utts: Sequence[Utterance], chunk_samples: int | None = None):
        if not utts:
            raise DataError("no validation utterances")
        self.utts = list(utts)
        self.items: list[tuple[int, int, int]] = []
        for i, u in enumerate(self.utts):
            if chunk_samples is None:
                self.items.append((i, 0, u.num_samples))
            else:
                for start in range(0, u.num_samples, chunk_samples):
                    self.items.append((i, start, min(chunk_samples, u.num_samples - start)))

    def set_epoch(self, epoch: int) -> None:
        pass

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        i, start, length = self.items[index]
        return read_item(self.utts[i], start, length)

    def num_samples(self, index: int) -> int:
        return self.items[index][2]


def collate(items: list[dict]) -> dict:
    """Zero-pad items to the longest: mix (B, L), sources (B, C, L), lengths (B,) samples."""
    if not items:
        raise ValueError("empty batch")
    lengths = torch.tensor([it["mix"].shape[-1] for it in items], dtype=torch.long)
    L = int(lengths.max())
    C = max(it["sources"].shape[0] for it in items)
    mix = torch.zeros(len(items), L)
    sources = torch.zeros(len(items), C, L)
    for b, it in enumerate(items):
        n = it["mix"].shape[-1]
        mix[b, :n] = it["mix"]
        sources[b, : it["sources"].shape[0], :n] = it["sources"][:, :n]
    return {"mix": mix, "sources": sources, "lengths": lengths}


class WorkerInit:
    """DataLoader ``worker_init_fn`` seeding python, numpy and torch from (seed, epoch, worker).

    Workers ignore SIGTERM and SIGINT: a stop sent to the whole process group (Slurm's
    scancel, ``kill -- -PGID``, Ctrl-C) reaches the trainer, which writes its checkpoint
    and then shuts the workers down; a worker killed first would make it fail instead.
    """

    def __init__(self, seed: int, epoch: int, rank: int = 0):
        self.seed = seed
        self.epoch = epoch
        self.rank = rank

    def __call__(self, worker_id: int) -> None:
        if torch.utils.data.get_worker_info() is not None:  # not when called in the main process
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        s = np.random.SeedSequence([self.seed, self.epoch, self.rank, worker_id]).generate_state(2)
        random.seed(int(s[0]))
        np.random.seed(int(s[1]))
        torch.manual_seed(int(s[0]) << 32 | int(s[1]))
