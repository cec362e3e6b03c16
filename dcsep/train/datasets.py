"""The kinds of training data (the ``train_dataset`` key), in one table.

Each kind is a small class: it checks its ``train_dataset_conf``, checks the
training dir, builds the dataset for a chunk length (again when the
curriculum changes it), and names the waveforms the feature statistics are
computed from. A new kind is one class added to :data:`TRAIN_DATA`.

* ``chunks``: random fixed-length chunks of the mixtures of a data dir with
  ``wav.scp`` and ``spk1.scp`` .. ``spkC.scp``;
* ``dynamic_mix``: mixtures drawn afresh each epoch from single-speaker
  utterances (``wav.scp`` + ``utt2spk``), see :mod:`dcsep.data.dynamic_mix`.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable, ClassVar, Iterable

import numpy as np
from typeguard import TypeCheckError

from dcsep.config import check_keys
from dcsep.data.dataset import ChunkDataset, FixedChunkDataset, scan_datadir
from dcsep.errors import ConfigError, DataError, DcsepError

#: keys of DynamicMixDataset set by the trainer, not by ``train_dataset_conf``
DYNAMIC_MIX_DERIVED = ("data_dir", "chunk_samples", "seed", "fs")


def check_num_sources(utts: list, data_dir: str | Path) -> None:
    """A dir of mixtures for training or validation needs at least 2 source lists (spk1.scp, spk2.scp, ...)."""
    n = len(utts[0].sources) if utts else 0
    if n < 2:
        have = ", ".join(f"spk{c}.scp" for c in range(1, n + 1)) or "none"
        raise DataError(
            f"{data_dir}: {n} source list{'' if n == 1 else 's'} ({have}); training a separation model needs at "
            f"least 2 (spk1.scp, spk2.scp, ...: each speaker's signal in the mixtures of wav.scp)"
        )


class TrainData:
    """One kind of training data, for ``--train-dir`` and ``train_dataset_conf``.

    Args:
        train_dir: the training data dir.
        conf: the (checked) ``train_dataset_conf``.
        fs: the model's sample rate.
        seed: the run's seed.
        where: the config file, for messages.
    """

    name: ClassVar[str]

    def __init__(self, train_dir: str | Path, conf: dict, fs: int, seed: int, where: str = "<config>"):
        self.train_dir = Path(train_dir)
        self.conf = conf
        self.fs = fs
        self.seed = seed
        self.where = where
        self.chunk_samples: int | None = None  #: the chunk length of the dataset built last
        self._dataset = None

    @classmethod
    def check_conf(cls, conf: dict, where: str) -> None:
        """Raise :class:`ConfigError` for a bad ``train_dataset_conf``."""
        raise NotImplementedError

    def scan(self, first_chunk_samples: int, progress: Callable[[int, int], None] | None = None) -> str:
        """Check the training dir before any training; return a line for the log."""
        raise NotImplementedError

    def _build(self, chunk_samples: int):
        raise NotImplementedError

    def dataset(self, chunk_samples: int):
        """The training dataset for a chunk length (built again when the length changes)."""
        if self._dataset is None or self.chunk_samples != chunk_samples:
            self._dataset = self._build(chunk_samples)
            self.chunk_samples = chunk_samples
        return self._dataset

    def stats_waveforms(self, max_utts: int, first_chunk_samples: int) -> tuple[Iterable, str]:
        """The waveforms the feature statistics are computed from (the same in every process), and what they are."""
        raise NotImplementedError


class Chunks(TrainData):
    """Chunks of the mixtures of a data dir with source lists."""

    name = "chunks"
    CONF_KEYS = ("max_chunks_per_utt",)

    @classmethod
    def check_conf(cls, conf: dict, where: str) -> None:
        check_keys(conf, cls.CONF_KEYS, f"{where}: train_dataset_conf (train_dataset 'chunks')")
        m = conf.get("max_chunks_per_utt")
        if m is not None and (not isinstance(m, int) or isinstance(m, bool) or m < 1):
            raise ConfigError(f"{where}: train_dataset_conf.max_chunks_per_utt must be a positive int or null, got {m!r}")

    def scan(self, first_chunk_samples, progress=None):
        self.utts = scan_datadir(self.train_dir, self.fs, require_sources=True, progress=progress)
        check_num_sources(self.utts, self.train_dir)
        hours = sum(u.num_samples for u in self.utts) / self.fs / 3600
        return f"train: {len(self.utts)} mixtures, {hours:.2f} h, {len(self.utts[0].sources)} speakers"

    def _build(self, chunk_samples):
        return ChunkDataset(self.utts, chunk_samples, seed=self.seed,
                            max_chunks_per_utt=self.conf.get("max_chunks_per_utt"))

    def stats_waveforms(self, max_utts, first_chunk_samples):
        from dcsep.data.audio import load_audio

        n = min(max_utts, len(self.utts))
        pick = np.random.default_rng([self.seed, 3]).permutation(len(self.utts))[:n]
        pick.sort()
        wavs = (load_audio(self.utts[i].mix, fs=self.fs, name=self.utts[i].utt)[0] for i in pick)
        return wavs, f"{n} training mixtures"


def dynamic_mix_class(where: str = "<config>"):
    """The DynamicMixDataset class, imported on first use."""
    try:
        from dcsep.data.dynamic_mix import DynamicMixDataset
    except ImportError as e:
        raise ConfigError(
            f"{where}: train_dataset 'dynamic_mix' needs dcsep.data.dynamic_mix.DynamicMixDataset, "
            f"which cannot be imported ({e})"
        ) from None
    return DynamicMixDataset


class DynamicMix(TrainData):
    """Mixtures drawn each epoch from single-speaker utterances (the dataset checks its dir when built)."""

    name = "dynamic_mix"

    @classmethod
    def check_conf(cls, conf: dict, where: str) -> None:
        for key in conf:
            if key in DYNAMIC_MIX_DERIVED:
                raise ConfigError(
                    f"{where}: train_dataset_conf.{key} is set by the trainer "
                    f"(from --train-dir, chunk_frames, seed and the model's fs) and cannot be given"
                )
        params = inspect.signature(dynamic_mix_class(where).__init__).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            allowed = set(params) - {"self"} - set(DYNAMIC_MIX_DERIVED)
            check_keys(conf, allowed, f"{where}: train_dataset_conf (train_dataset 'dynamic_mix')")

    def scan(self, first_chunk_samples, progress=None):
        ds = self.dataset(first_chunk_samples)
        return f"train: dynamic mixing of {self.train_dir}, {len(ds)} items per epoch"

    def _build(self, chunk_samples):
        cls = dynamic_mix_class(self.where)
        params = inspect.signature(cls.__init__).parameters
        conf = {  # YAML has no tuples
            k: tuple(v) if isinstance(v, list) and k in params and isinstance(params[k].default, tuple) else v
            for k, v in self.conf.items()
        }
        try:
            return cls(data_dir=self.train_dir, chunk_samples=chunk_samples, seed=self.seed, fs=self.fs, **conf)
        except (TypeError, ValueError, TypeCheckError) as e:
            if isinstance(e, DcsepError):
                raise
            raise ConfigError(f"{self.where}: train_dataset_conf: {e}") from None

    def stats_waveforms(self, max_utts, first_chunk_samples):
        ds = self.dataset(first_chunk_samples)
        ds.set_epoch(0)
        n = min(max_utts, len(ds))
        return (ds[i]["mix"] for i in range(n)), f"{n} dynamically mixed training chunks"


#: the ``train_dataset`` kinds
TRAIN_DATA: dict[str, type[TrainData]] = {kind.name: kind for kind in (Chunks, DynamicMix)}


def check_train_dataset(kind: str, conf: dict, where: str) -> None:
    """Check ``train_dataset`` and its ``train_dataset_conf``; errors name ``where`` and the choices."""
    if kind not in TRAIN_DATA:
        raise ConfigError(f"{where}: train_dataset: unknown kind {kind!r}; choose one of: {', '.join(TRAIN_DATA)}")
    TRAIN_DATA[kind].check_conf(conf, where)


def validation_set(valid_dir: str | Path, frontend, valid_chunk_frames: int | None,
                   progress: Callable[[int, int], None] | None = None) -> tuple[FixedChunkDataset, str]:
    """The validation mixtures (whole, or in chunks of ``valid_chunk_frames``), and a line for the log."""
    from dcsep.train.sampling import frames_to_samples

    utts = scan_datadir(valid_dir, frontend.fs, require_sources=True, progress=progress)
    check_num_sources(utts, valid_dir)
    chunk = None if valid_chunk_frames is None else frames_to_samples(frontend, valid_chunk_frames)
    ds = FixedChunkDataset(utts, chunk)
    what = "whole utterances" if chunk is None else f"chunks of {valid_chunk_frames} frames"
    return ds, f"valid: {len(utts)} mixtures, {len(ds)} items ({what})"
