"""The resample-and-level cache: single-speaker audio at the corpus rate, with lengths and levels.

A corpus prepares every source utterance once (resampled from its files, or
synthesised) into an audio dir, and measures its length and its active
speech level (:func:`dcsep.data.mixing.active_level`) on the samples as
stored, since the mixtures scale the stored samples. :class:`LevelCache`
keeps both in two Kaldi-style lists in that dir::

    utt2num_samples   <utt> <samples>
    utt2activlev      <utt> <level>      (repr of the float: read back exactly; written last)

so that a second run, or a run that adds utterances, measures only what is
new. :func:`convert_chunk` is the resampling step for corpora with audio
files.

Example:
    >>> import tempfile
    >>> cache = LevelCache(tempfile.mkdtemp())
    >>> cache.update({"u1": (8000, 0.01)})
    >>> cache.load(["u1", "u2"])
    {'u1': (8000, 0.01)}
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from dcsep.data.mixing import active_level, resample
from dcsep.errors import DataError

LENGTHS, LEVELS = "utt2num_samples", "utt2activlev"


class LevelCache:
    """Lengths and active levels of the utterances stored under ``directory``.

    Args:
        directory: the audio dir that holds the two lists.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    @property
    def present(self) -> bool:
        return (self.directory / LEVELS).is_file() and (self.directory / LENGTHS).is_file()

    def read(self) -> dict[str, tuple[int, float]]:
        """Everything in the cache: utt -> (num_samples, level); {} when it is absent."""
        from dcsep.data.datadir import read_scp

        if not self.present:
            return {}
        lev = read_scp(self.directory / LEVELS, allow_empty=True)
        length = read_scp(self.directory / LENGTHS, allow_empty=True)
        return {u: (int(length[u]), float(lev[u])) for u in lev if u in length}

    def load(self, utts: Iterable[str], exists: Callable[[str], bool] = lambda u: True) -> dict[str, tuple[int, float]]:
        """The cached (num_samples, level) of those ``utts`` that are cached and ``exists(utt)``."""
        known = self.read()
        return {u: known[u] for u in utts if u in known and exists(u)}

    def update(self, info: dict[str, tuple[int, float]]) -> None:
        """Add or replace entries, keeping the others; the level list is written last (it marks the pass complete)."""
        from dcsep.data.datadir import write_scp

        merged = self.read()
        merged.update(info)
        write_scp(self.directory / LENGTHS, {u: str(n) for u, (n, _) in merged.items()})
        write_scp(self.directory / LEVELS, {u: repr(lev) for u, (_, lev) in merged.items()})


def convert_chunk(jobs: Sequence[tuple[str, str, str]], fs: int) -> list[tuple[str, int, float]]:
    """Resample ``src`` to ``dst`` (16-bit wav at ``fs``) where ``dst`` is missing.

    A ``dst`` that exists at ``fs`` is measured, not rewritten. Peaks that
    resampling pushes to full scale are scaled to 0.999 (no clipping).

    Args:
        jobs: (utt, src, dst) triples.
        fs: the output rate.

    Returns:
        (utt, num_samples, active level of the stored samples) per job.
    """
    from dcsep.data.audio import load_audio, write_wav

    out = []
    for utt, src, dst in jobs:
        if Path(dst).is_file():
            try:
                x, rate = load_audio(dst, name=utt)
            except DataError:
                rate = None
            if rate == fs:
                out.append((utt, int(x.size), active_level(x, fs)))
                continue
        x, rate = load_audio(src, name=utt)
        y = resample(x.astype(np.float64), rate, fs)
        peak = np.abs(y).max(initial=0.0)
        if peak >= 1.0:  # resampling overshoot: keep the waveform, avoid clipping
            y *= 0.999 / peak
        write_wav(dst, y, fs)
        y16 = np.round(np.clip(y, -1.0, 1.0 - 1 / 32768) * 32768) / 32768  # what the file holds
        out.append((utt, int(y.size), active_level(y16, fs)))
    return out


def check_manifest(audio_dir: str | Path, key: dict) -> None:
    """Refuse to mix the files of two different settings in one audio dir.

    The first call writes ``audio_dir/manifest.json`` with ``key`` (what
    decides the stored audio: rate, speakers, ...); later calls compare.

    Raises:
        DataError: the dir holds audio made with other settings (naming the keys that differ).
    """
    import json

    from dcsep.utils import atomic_write_text

    manifest = Path(audio_dir) / "manifest.json"
    key = json.loads(json.dumps(key))  # as it reads back (tuples -> lists, int keys -> str)
    if manifest.is_file():
        old = json.loads(manifest.read_text(encoding="utf-8"))
        diff = sorted(k for k in set(old) | set(key) if old.get(k) != key.get(k))
        if diff:
            raise DataError(
                f"{audio_dir} holds audio made with other settings (differ: {', '.join(diff)}); "
                "remove it or choose another directory"
            )
    else:
        atomic_write_text(manifest, json.dumps(key, indent=1, sort_keys=True) + "\n")
