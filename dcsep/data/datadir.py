"""Kaldi-style data directories.

A data dir holds ``wav.scp`` (utt-id -> mixture), ``spk1.scp`` ..
``spkC.scp`` (utt-id -> source c) and optionally ``utt2spk``, ``utt2dur``,
``utt2category``, ... Every line is ``<utt-id> <value>``; values may hold
spaces (paths), ids may not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dcsep.errors import DataError


def read_scp(path: str | Path, allow_empty: bool = False) -> dict[str, str]:
    """Read a two-column Kaldi list in file order; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    out: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a UTF-8 text list ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    for lineno, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise DataError(f"{path}:{lineno}: expected '<utt-id> <value>', got {line!r}")
        key, value = parts
        if key in out:
            raise DataError(f"{path}:{lineno}: duplicate utterance id {key!r}")
        out[key] = value
    if not out and not allow_empty:
        raise DataError(f"{path}: empty list")
    return out


def write_scp(path: str | Path, entries: dict[str, str]) -> None:
    """Write a two-column list sorted by id, atomically."""
    from dcsep.utils import atomic_write_text

    for k, v in entries.items():
        if not k or any(ch.isspace() for ch in k) or "\n" in str(v) or "\r" in str(v):
            raise DataError(
                f"{path}: cannot write entry {k!r} -> {v!r}: ids may not be empty or hold spaces, "
                "values may not hold newlines"
            )
    atomic_write_text(path, "".join(f"{k} {v}\n" for k, v in sorted(entries.items())))


@dataclass
class DataDir:
    """A data dir: mixtures and (when present) the reference sources.

    Attributes:
        path: the directory.
        wav: utt-id -> mixture (path or ark entry), in file order.
        spk: [spk1, spk2, ...]: utt-id -> source, one dict per speaker; empty
            for a dir of mixtures only.
    """

    path: Path
    wav: dict[str, str]
    spk: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path, require_sources: bool = False) -> "DataDir":
        path = Path(path)
        if not path.is_dir():
            raise DataError(f"{path}: data dir not found")
        wav = read_scp(path / "wav.scp")
        spk = []
        c = 1
        while (path / f"spk{c}.scp").is_file():
            spk.append(read_scp(path / f"spk{c}.scp"))
            c += 1
        if require_sources and not spk:
            raise DataError(f"{path}: no spk1.scp; training and scoring need the reference sources")
        for i, s in enumerate(spk, 1):
            if s.keys() != wav.keys():
                missing = sorted(wav.keys() - s.keys())
                extra = sorted(s.keys() - wav.keys())
                what = f"missing {missing[:3]}" if missing else f"not in wav.scp: {extra[:3]}"
                raise DataError(f"{path / f'spk{i}.scp'}: utterance ids disagree with wav.scp ({what})")
        return cls(path, wav, spk)

    @property
    def num_spk(self) -> int:
        return len(self.spk)

    @property
    def utt_ids(self) -> list[str]:
        return list(self.wav)

    def sources(self, utt: str) -> list[str]:
        return [s[utt] for s in self.spk]

    def read_optional(self, name: str) -> dict[str, str]:
        """An optional two-column file (utt2spk, utt2category, ...), {} if absent."""
        p = self.path / name
        return read_scp(p, allow_empty=True) if p.is_file() else {}


def write_speaker_datadir(
    directory: str | Path, wav: dict[str, str], utt2spk: dict[str, str], extra: dict[str, dict[str, str]]
) -> Path:
    """Write a data dir of single-speaker utterances: ``wav.scp``, ``utt2spk``, ``spk2utt`` and ``extra``.

    Args:
        directory: the data dir (created).
        wav: utt -> audio file.
        utt2spk: utt -> speaker.
        extra: file name -> {key: value}, written in that order (``utt2dur``, ``spk2gender``, ...).

    Returns:
        ``directory`` as a Path.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    write_scp(d / "wav.scp", wav)
    write_scp(d / "utt2spk", utt2spk)
    spk2utt: dict[str, list[str]] = {}
    for u in sorted(utt2spk):
        spk2utt.setdefault(utt2spk[u], []).append(u)
    write_scp(d / "spk2utt", {k: " ".join(v) for k, v in spk2utt.items()})
    for name, table in extra.items():
        write_scp(d / name, table)
    return d


def category_label(labels: list[str] | tuple[str, ...], order: list[str] | tuple[str, ...], sep: str = "+") -> str:
    """The group of a mixture from its sources' labels: sorted by ``order``, joined by ``sep``.

    Example:
        >>> category_label(["m", "f"], ["f", "m"]), category_label(["high", "low"], ["low", "high"], "-")
        ('f+m', 'low-high')
    """
    return sep.join(sorted(labels, key=lambda v: (order.index(v) if v in order else len(order), v)))
