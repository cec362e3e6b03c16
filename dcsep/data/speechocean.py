"""speechocean762 (OpenSLR resource 101) as a real-speech separation corpus.

speechocean762 is read English from 250 speakers (125 female, 125 male; 122
children aged 6-15 and 128 adults aged 19-43; all native Mandarin speakers),
5,245 utterances of 1.6-20 s (about 6 h), Apache-2.0. Its official train and
test halves have disjoint speakers (125 each); ``train/`` and ``test/`` hold
Kaldi-style metadata (``wav.scp`` naming ``WAVE/SPEAKERxxxx/<utt>.WAV``,
``utt2spk``, ``spk2gender``, ``spk2age``, ``text``). 245 audio files under
``WAVE/`` have no ``wav.scp`` line; their speaker is their folder's.

From it this module builds wsj0-2mix-style sets (2- and 3-speaker mixtures,
relative gains of 0-5 dB, active-level scaling and peak normalisation of
:mod:`dcsep.data.mixing`, "min" length):

* ``train_sources``: single-speaker utterances of the training speakers, for
  dynamic mixing (:class:`dcsep.data.dynamic_mix.DynamicMixDataset`);
* ``tr``: fixed 2-speaker training mixtures of the same utterances;
* ``cv`` and ``cv_3spk``: 2- and 3-speaker validation mixtures of train-half
  speakers held out of training (``cv_3spk`` validates a 3-speaker model);
* ``tt_closed``: mixtures of training speakers' utterances that are kept out
  of training (closed speaker set);
* ``tt`` and ``tt_3spk``: 2- and 3-speaker mixtures of the 125 test-half
  speakers (open speaker set: never seen in training).

Which utterances go where is fixed by *mix lists*: ``train_sources.txt`` (one
corpus-relative path a line) and ``mix_<C>_spk_<set>.txt`` in the wsj0-mix line
format ``path1 g1 path2 g2 [path3 g3]`` (paths relative to the corpus root, as
in the official ``wav.scp``; gains in dB). Lists are drawn from a seed when
none are given, and reused when given, so a committed set of lists rebuilds
the same corpus anywhere. Each mixture dir also gets ``utt2gender`` (``f+f``,
``f+m``, ``m+m``), ``utt2age`` (``child+child``, ``child+adult``,
``adult+adult``; child: age below ``child_age``, 18 by default; the corpus has
no speaker aged 16-18, so any threshold from 16 to 19 gives the same groups),
``utt2category`` (both, e.g. ``f+m/child+adult``) and ``utt2spks``.

Input: the official layout (16 kHz ``.WAV``) or a copy with other audio
formats (``<utt>.flac``, ``<utt>.wav``): a ``wav.scp`` path whose file is
missing is looked up with the other extensions. All audio is resampled to
``fs`` once (``out_dir/audio/WAVE/...``). Without a corpus dir,
:func:`download_speechocean762` fetches the official archive.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import soundfile as sf

from dcsep.data.datadir import read_scp, write_scp
from dcsep.data.mixing import (
    MixSpec,
    Progress,
    active_level,
    create_mixtures,
    resample,
    run_chunks,
    write_mixture_datadir,
)
from dcsep.errors import ConfigError, DataError
from dcsep.utils import atomic_write_text

# ---- the corpus ------------------------------------------------------------------
SPLITS = ("train", "test")
META_FILES = ("wav.scp", "utt2spk", "spk2gender", "spk2age")
#: the full corpus: utterances listed in wav.scp and speakers, per split
EXPECTED = {"train": {"utts": 2500, "speakers": 125}, "test": {"utts": 2500, "speakers": 125}}
EXPECTED_AUDIO_FILES = 5245
AUDIO_EXTENSIONS = (".WAV", ".wav", ".flac", ".FLAC")

# ---- download ----------------------------------------------------------------------
OPENSLR_URL = "https://www.openslr.org/resources/101"
#: archive sets tried in order: the single archive the corpus authors' own recipe
#: fetches, then the four archives named in the corpus's info.txt
ARCHIVE_SETS: tuple[tuple[str, ...], ...] = (
    ("speechocean762.tar.gz",),
    ("WAVE.tgz", "train.tgz", "test.tgz", "resource.tgz"),
)
#: sizes in bytes where known (from the corpus authors' download script)
ARCHIVE_SIZES = {"speechocean762.tar.gz": 520810923}
#: md5 sums where known (none published; pass ``checksums`` to check your own)
ARCHIVE_MD5: dict[str, str] = {}

# ---- mixture sets ----------------------------------------------------------------------
MIX_SETS = ("tr", "cv", "tt_closed", "tt")
CHILD, ADULT = "child", "adult"


def _log(msg: str) -> None:
    print(f"speechocean762: {msg}", file=sys.stderr, flush=True)


# ======================================================================================
# download
# ======================================================================================
class _NotThere(Exception):
    """The server has no such archive (HTTP 404 / missing local file)."""


def _fetch(url: str, dest: Path, expected_size: int | None, md5: str | None) -> None:
    """Download ``url`` to ``dest`` via ``dest.part``, resuming a partial file; check size and md5."""
    if dest.is_file() and (expected_size is None or dest.stat().st_size == expected_size):
        if md5 is None or _md5(dest) == md5:
            _log(f"{dest.name}: already downloaded")
            return
        _log(f"{dest.name}: md5 differs from the expected {md5}; downloading again")
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "dcsep"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have and expected_size == have:  # the part file is already complete
            resp = None
        elif e.code == 404:
            raise _NotThere(url) from None
        else:
            raise DataError(f"{url}: download failed: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, FileNotFoundError) or "No such file" in str(e.reason):
            raise _NotThere(url) from None
        raise DataError(f"{url}: download failed: {e.reason}") from None
    except OSError as e:
        raise DataError(f"{url}: download failed: {e}") from None
    if resp is not None:
        with resp:
            resumed = have > 0 and getattr(resp, "status", None) == 206
            if have and not resumed:
                _log(f"{dest.name}: the server does not resume downloads; starting again")
                have = 0
            length = resp.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else expected_size
            if have:
                _log(f"{dest.name}: resuming at {have / 1e6:.1f} MB")
            t0 = last = time.monotonic()
            done = have
            last_frac = -1.0
            with open(part, "ab" if resumed else "wb") as f:
                while True:
                    block = resp.read(1 << 20)
                    if not block:
                        break
                    f.write(block)
                    done += len(block)
                    now = time.monotonic()
                    frac = done / total if total else 0.0
                    if now - last >= 10 or frac - last_frac >= 0.05:
                        rate = (done - have) / max(now - t0, 1e-6) / 1e6
                        size = f"/{total / 1e6:.1f}" if total else ""
                        pct = f" ({100 * frac:.0f}%)" if total else ""
                        _log(f"{dest.name}: {done / 1e6:.1f}{size} MB{pct}, {rate:.1f} MB/s")
                        last, last_frac = now, frac
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        part.unlink()
        raise DataError(f"{url}: downloaded {size} bytes, expected {expected_size}; removed the file, run again")
    if md5 is not None:
        got = _md5(part)
        if got != md5:
            part.unlink()
            raise DataError(f"{url}: md5 {got}, expected {md5}; removed the file, run again")
    part.replace(dest)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_corpus_root(path: str | Path, max_depth: int = 3) -> Path | None:
    """The dir at or below ``path`` (breadth first, ``max_depth`` levels) holding ``train/wav.scp``."""
    level = [Path(path)]
    for _ in range(max_depth + 1):
        nxt = []
        for d in level:
            if (d / "train" / "wav.scp").is_file():
                return d
            if d.is_dir():
                nxt.extend(sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")))
        level = nxt
    return None


def download_speechocean762(
    download_dir: str | Path,
    url: str = OPENSLR_URL,
    archive_sets: Sequence[Sequence[str]] = ARCHIVE_SETS,
    sizes: dict[str, int] | None = None,
    checksums: dict[str, str] | None = None,
    remove_archives: bool = False,
) -> Path:
    """Download and extract the official archives; return the corpus root.

    The archives go to ``download_dir`` (an interrupted download resumes
    from its ``.part`` file), are extracted to ``download_dir/extracted``,
    and a ``.complete`` marker there makes a second call a no-op.

    Args:
        download_dir: where archives and extracted files go.
        url: base URL (``https://``, ``http://`` or ``file://``); the archive
            names are appended.
        archive_sets: alternatives tried in order; a set is skipped when its
            first archive is not on the server.
        sizes: expected sizes in bytes (default: :data:`ARCHIVE_SIZES`, only for the default URL).
        checksums: expected md5 sums (default: :data:`ARCHIVE_MD5`).
        remove_archives: delete the archives after extraction.

    Returns:
        The extracted corpus root (the dir holding ``WAVE/``, ``train/``, ``test/``).
    """
    download_dir = Path(download_dir).absolute()
    extracted = download_dir / "extracted"
    if (extracted / ".complete").is_file():
        root = find_corpus_root(extracted)
        if root is not None:
            _log(f"already downloaded and extracted: {root}")
            return root
    download_dir.mkdir(parents=True, exist_ok=True)
    if sizes is None:
        sizes = ARCHIVE_SIZES if url.rstrip("/") == OPENSLR_URL else {}
    checksums = ARCHIVE_MD5 if checksums is None else checksums
    base = url.rstrip("/")
    tried = []
    for names in archive_sets:
        try:
            paths = []
            for k, name in enumerate(names):
                _log(f"downloading {base}/{name}")
                try:
                    _fetch(f"{base}/{name}", download_dir / name, sizes.get(name), checksums.get(name))
                except _NotThere:
                    if k == 0:
                        raise
                    raise DataError(f"{base}/{name}: not found on the server, but {names[0]} was") from None
                paths.append(download_dir / name)
        except _NotThere:
            tried.append(f"{base}/{names[0]}")
            continue
        for p in paths:
            _log(f"extracting {p.name}")
            try:
                with tarfile.open(p) as tar:
                    tar.extractall(extracted, filter="data")
            except (tarfile.TarError, OSError) as e:
                raise DataError(f"{p}: cannot extract: {e}; remove it and run again") from None
        root = find_corpus_root(extracted)
        if root is None:
            raise DataError(f"{extracted}: the archives hold no train/wav.scp; is {base} speechocean762?")
        atomic_write_text(extracted / ".complete", " ".join(names) + "\n")
        if remove_archives:
            for p in paths:
                p.unlink()
        return root
    raise DataError(f"speechocean762 archives not found: tried {', '.join(tried)}")


# ======================================================================================
# reading the corpus
# ======================================================================================
@dataclass(frozen=True)
class SourceUtt:
    """One single-speaker utterance of the corpus.

    Attributes:
        utt: utterance id (the file stem, e.g. ``000010011``).
        spk: speaker id (e.g. ``0001``).
        split: ``train`` or ``test`` (the official half).
        rel: corpus-relative path in the official naming (``WAVE/SPEAKER0001/000010011.WAV``).
        path: the audio file found for it (absolute).
        listed: False for the audio files without a ``wav.scp`` line.
    """

    utt: str
    spk: str
    split: str
    rel: str
    path: str
    listed: bool = True


@dataclass
class Corpus:
    """The scanned corpus: utterances and speaker metadata."""

    root: Path
    utts: dict[str, SourceUtt]  # utt id -> utterance
    spk2gender: dict[str, str]
    spk2age: dict[str, int]
    spk2split: dict[str, str]
    text: dict[str, str] = field(default_factory=dict)

    def by_rel(self) -> dict[str, SourceUtt]:
        return {u.rel: u for u in self.utts.values()}

    def age_group(self, spk: str, child_age: int) -> str:
        return CHILD if self.spk2age[spk] < child_age else ADULT


def _official_rel(spk: str, utt: str) -> str:
    return f"WAVE/SPEAKER{spk}/{utt}.WAV"


def _resolve_audio(root: Path, rel: str) -> Path | None:
    """The file for a wav.scp path: as given, else the same stem with another audio extension."""
    p = root / rel
    if p.is_file():
        return p
    stem = p.with_suffix("")
    for ext in AUDIO_EXTENSIONS:
        q = stem.with_name(stem.name + ext)
        if q.is_file():
            return q
    return None


def scan_corpus(corpus_dir: str | Path, strict: bool = True) -> Corpus:
    """Check and read the corpus: metadata of both halves, audio files, orphans.

    Args:
        corpus_dir: the corpus root (``WAVE/``, ``train/``, ``test/``), or a
            dir holding it (e.g. the ``speechocean762`` dir of the archive).
        strict: the counts must be those of the full corpus (2 x 2500 listed
            utterances, 2 x 125 speakers, 5245 audio files); False accepts a
            part of it (and skips listed utterances without audio).

    Raises:
        DataError: naming the file or dir and the problem.
    """
    given = Path(corpus_dir)
    if not given.is_dir():
        raise DataError(f"{given}: corpus dir not found")
    root = given if (given / "train").is_dir() else (find_corpus_root(given, max_depth=2) or given)
    missing = [f"{s}/" for s in SPLITS if not (root / s).is_dir()] + ([] if (root / "WAVE").is_dir() else ["WAVE/"])
    if missing:
        raise DataError(
            f"{given}: not a speechocean762 corpus: missing {', '.join(missing)} "
            "(expected WAVE/, train/ and test/ of OpenSLR resource 101)"
        )
    for s in SPLITS:
        for name in META_FILES:
            if not (root / s / name).is_file():
                raise DataError(f"{root / s / name}: file not found (speechocean762 metadata)")

    utts: dict[str, SourceUtt] = {}
    spk2gender: dict[str, str] = {}
    spk2age: dict[str, int] = {}
    spk2split: dict[str, str] = {}
    text: dict[str, str] = {}
    problems: list[str] = []
    for split in SPLITS:
        d = root / split
        wav = read_scp(d / "wav.scp")
        u2s = read_scp(d / "utt2spk")
        s2g = read_scp(d / "spk2gender")
        s2a = read_scp(d / "spk2age")
        if (d / "text").is_file():
            text.update(read_scp(d / "text", allow_empty=True))
        for spk, g in s2g.items():
            g = g.strip().lower()
            if g not in ("f", "m"):
                raise DataError(f"{d / 'spk2gender'}: speaker {spk}: gender {g!r}, expected f or m")
            if spk in spk2split:
                raise DataError(f"{d / 'spk2gender'}: speaker {spk} is in both train/ and test/")
            spk2gender[spk] = g
            spk2split[spk] = split
        for spk, a in s2a.items():
            try:
                spk2age[spk] = int(a.strip())
            except ValueError:
                raise DataError(f"{d / 'spk2age'}: speaker {spk}: age {a!r} is not a whole number") from None
        no_age = sorted(s for s in s2g if s not in s2a)
        if no_age:
            raise DataError(f"{d / 'spk2age'}: no age for {len(no_age)} speaker(s) of spk2gender, e.g. {no_age[0]}")
        no_spk = sorted(u for u in wav if u not in u2s)
        if no_spk:
            raise DataError(f"{d / 'utt2spk'}: no speaker for {len(no_spk)} utterance(s) of wav.scp, e.g. {no_spk[0]}")
        unknown = sorted({u2s[u] for u in wav if u2s[u] not in s2g})
        if unknown:
            raise DataError(f"{d / 'spk2gender'}: {len(unknown)} speaker(s) of utt2spk missing, e.g. {unknown[0]}")
        absent = []
        for utt, rel in wav.items():
            rel = rel.strip()
            p = _resolve_audio(root, rel)
            if p is None:
                absent.append(rel)
                continue
            if utt in utts:
                raise DataError(f"{d / 'wav.scp'}: utterance {utt} is also in {utts[utt].split}/wav.scp")
            utts[utt] = SourceUtt(utt, u2s[utt], split, rel, str(p.absolute()), True)
        if absent:
            msg = (
                f"{d / 'wav.scp'}: {len(absent)} of {len(wav)} listed utterances have no audio file under "
                f"{root} (looked for {', '.join(AUDIO_EXTENSIONS)}), e.g. {absent[0]}"
            )
            if strict:
                raise DataError(msg + "; is the WAVE/ dir complete?")
            problems.append(msg + "; skipped")
        if strict:
            exp = EXPECTED[split]
            nspk = len(s2g)
            if len(wav) != exp["utts"] or nspk != exp["speakers"]:
                raise DataError(
                    f"{d}: {len(wav)} utterances of {nspk} speakers found, the full corpus has "
                    f"{exp['utts']} of {exp['speakers']}; pass allow_partial (--allow-partial true) "
                    "to prepare a partial corpus"
                )

    # audio files without a wav.scp line: speaker from the folder name
    listed_paths = {Path(u.path).resolve() for u in utts.values()}
    num_audio = 0
    orphans_unknown = []
    for spk_dir in sorted(p for p in (root / "WAVE").iterdir() if p.is_dir()):
        if not spk_dir.name.startswith("SPEAKER"):
            continue
        spk = spk_dir.name[len("SPEAKER") :]
        for f in sorted(spk_dir.iterdir()):
            if f.suffix not in AUDIO_EXTENSIONS or f.name.startswith("."):
                continue
            num_audio += 1
            if f.resolve() in listed_paths:
                continue
            utt = f.stem
            if utt in utts:
                continue  # the same utterance in two formats: the listed one wins
            if spk not in spk2split:
                orphans_unknown.append(f"WAVE/{spk_dir.name}/{f.name}")
                continue
            utts[utt] = SourceUtt(utt, spk, spk2split[spk], _official_rel(spk, utt), str(f.absolute()), False)
    if orphans_unknown:
        problems.append(
            f"{root / 'WAVE'}: {len(orphans_unknown)} audio file(s) of speakers in neither spk2gender, "
            f"e.g. {orphans_unknown[0]}; skipped"
        )
    if strict and num_audio != EXPECTED_AUDIO_FILES:
        raise DataError(
            f"{root / 'WAVE'}: {num_audio} audio files found, the full corpus has {EXPECTED_AUDIO_FILES}; "
            "pass allow_partial (--allow-partial true) to prepare a partial corpus"
        )
    for p in problems:
        _log(f"warning: {p}")
    if not utts:
        raise DataError(f"{root}: no utterances with audio")
    used = {u.spk for u in utts.values()}
    return Corpus(
        root=root.absolute(),
        utts=dict(sorted(utts.items())),
        spk2gender={s: g for s, g in spk2gender.items() if s in used},
        spk2age={s: a for s, a in spk2age.items() if s in used},
        spk2split={s: sp for s, sp in spk2split.items() if s in used},
        text=text,
    )


# ======================================================================================
# configuration
# ======================================================================================
@dataclass
class SpeechoceanConfig:
    """Sizes and settings of the prepared sets (the recipe's ``conf/data_*.yaml``).

    Attributes:
        seed: every draw (held-out speakers and utterances, mixtures) follows from it.
        fs: output sample rate.
        mode: "min" or "max" (wsj0-mix versions).
        cv_speakers: train-half speakers held out of training for validation,
            spread evenly over the four (gender, age group) cells.
        closed_utts_per_spk: utterances of each training speaker kept out of
            ``train_sources`` for the closed-set test ``tt_closed``.
        train_speakers: use only this many training speakers (null: all the
            other train-half speakers); for small subsets.
        test_speakers: use only this many test-half speakers (null: all).
        max_utts_per_spk: use at most this many utterances per speaker (null: all).
        mixtures: {num_spk: {set: count}}; sets: tr, cv, tt_closed, tt.
        gain_db_range: [lo, hi] relative gain of the first source over the
            second, drawn uniformly; gains are (r/2, -r/2) for 2 speakers and
            (r/2, -r/2, 0) for 3, as in wsj0-mix.
        child_age: speakers younger than this are children.
    """

    seed: int = 0
    fs: int = 8000
    mode: str = "min"
    cv_speakers: int = 12
    closed_utts_per_spk: int = 4
    train_speakers: int | None = None
    test_speakers: int | None = None
    max_utts_per_spk: int | None = None
    mixtures: dict[int, dict[str, int]] = field(
        default_factory=lambda: {2: {"tr": 5000, "cv": 500, "tt_closed": 500, "tt": 1500}, 3: {"cv": 500, "tt": 1000}}
    )
    gain_db_range: list[float] = field(default_factory=lambda: [0.0, 5.0])
    child_age: int = 18

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "<speechocean762 config>") -> "SpeechoceanConfig":
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(d).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(known)}")
        cfg = cls(**d)
        try:
            cfg.mixtures = {int(k): {str(s): v for s, v in dict(v).items()} for k, v in cfg.mixtures.items()}
            cfg.gain_db_range = [float(x) for x in cfg.gain_db_range]
        except (TypeError, ValueError, AttributeError) as e:
            raise ConfigError(f"{where}: mixtures / gain_db_range: {e}") from None
        cfg.validate(where)
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SpeechoceanConfig":
        from dcsep.config import load_yaml

        return cls.from_dict(load_yaml(path) or {}, where=str(path))

    def validate(self, where: str = "<speechocean762 config>") -> None:
        def bad(msg: str):
            raise ConfigError(f"{where}: {msg}")

        for key in ("seed", "fs", "cv_speakers", "closed_utts_per_spk", "child_age"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool):
                bad(f"{key}: expected an integer, got {v!r}")
        for key in ("train_speakers", "test_speakers", "max_utts_per_spk"):
            v = getattr(self, key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                bad(f"{key}: expected a positive integer or null, got {v!r}")
        if self.mode not in ("min", "max"):
            bad(f"mode: must be 'min' or 'max', got {self.mode!r}")
        if self.fs not in (8000, 16000):
            bad(f"fs: 8000 or 16000, got {self.fs}")
        if self.cv_speakers < 2:
            bad(f"cv_speakers: at least 2 (validation mixtures need two speakers), got {self.cv_speakers}")
        if self.closed_utts_per_spk < 0:
            bad(f"closed_utts_per_spk: must be >= 0, got {self.closed_utts_per_spk}")
        if len(self.gain_db_range) != 2 or self.gain_db_range[0] > self.gain_db_range[1]:
            bad(f"gain_db_range: [lo, hi] with lo <= hi, got {self.gain_db_range}")
        if self.max_utts_per_spk is not None and self.max_utts_per_spk <= self.closed_utts_per_spk:
            bad(f"max_utts_per_spk ({self.max_utts_per_spk}) must exceed closed_utts_per_spk "
                f"({self.closed_utts_per_spk}) so that training speakers keep training utterances")
        for c, sets in self.mixtures.items():
            if not 2 <= c <= 4:
                bad(f"mixtures: number of speakers must be 2..4, got {c}")
            for s, n in sets.items():
                if s not in MIX_SETS:
                    bad(f"mixtures.{c}: unknown set {s!r}; choose from {list(MIX_SETS)}")
                if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                    bad(f"mixtures.{c}.{s}: need a positive number of mixtures, got {n!r}")
            if "tt_closed" in sets and self.closed_utts_per_spk < 1:
                bad(f"mixtures.{c}.tt_closed needs closed_utts_per_spk >= 1")


def set_name(split: str, num_spk: int) -> str:
    """Data dir name of a mixture set: ``tr``, ``cv``, ``tt_closed``, ``tt`` (2 speakers), ``tt_3spk``, ..."""
    return split if num_spk == 2 else f"{split}_{num_spk}spk"


def list_name(split: str, num_spk: int) -> str:
    """File name of a mix list, wsj0-mix style: ``mix_2_spk_tr.txt``."""
    return f"mix_{num_spk}_spk_{split}.txt"


# ======================================================================================
# mix lists
# ======================================================================================
@dataclass(frozen=True)
class MixLine:
    """One line of a mix list: corpus-relative source paths and their gains (dB, as written)."""

    rels: tuple[str, ...]
    gains: tuple[str, ...]

    @property
    def gains_db(self) -> tuple[float, ...]:
        return tuple(float(g) for g in self.gains)

    def name(self) -> str:
        """Mixture id, wsj0-mix style: ``<utt1>_<g1>_<utt2>_<g2>[...]``."""
        return "_".join(f"{Path(r).stem}_{g}" for r, g in zip(self.rels, self.gains))

    def text(self) -> str:
        return " ".join(f"{r} {g}" for r, g in zip(self.rels, self.gains))


def _fmt_gain(g: float) -> str:
    s = f"{g:.4f}"
    return "0.0000" if s == "-0.0000" else s


def read_mix_list(path: str | Path) -> list[MixLine]:
    """Read a wsj0-mix style list; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: mix list not found")
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) % 2 or len(parts) < 4:
                raise DataError(f"{path}:{lineno}: expected 'path1 gain1 path2 gain2 [...]', got {line.strip()!r}")
            rels, gains = tuple(parts[0::2]), tuple(parts[1::2])
            for g in gains:
                try:
                    v = float(g)
                except ValueError:
                    raise DataError(f"{path}:{lineno}: gain {g!r} is not a number") from None
                if not np.isfinite(v):
                    raise DataError(f"{path}:{lineno}: gain {g!r} is not finite")
            out.append(MixLine(rels, gains))
    if not out:
        raise DataError(f"{path}: empty mix list")
    return out


def write_mix_list(path: str | Path, lines: Sequence[MixLine]) -> None:
    atomic_write_text(path, "".join(m.text() + "\n" for m in lines))


@dataclass
class MixLists:
    """Everything that decides the sets: training sources and the mixture lists."""

    train_sources: list[str]  # corpus-relative paths
    mixes: dict[tuple[int, str], list[MixLine]]  # (num_spk, set) -> lines

    def write(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(directory / "train_sources.txt", "".join(r + "\n" for r in self.train_sources))
        for (c, s), lines in sorted(self.mixes.items()):
            write_mix_list(directory / list_name(s, c), lines)

    @classmethod
    def read(cls, directory: str | Path, config: SpeechoceanConfig) -> "MixLists":
        """Read ``train_sources.txt`` and the lists of every set in ``config.mixtures``."""
        directory = Path(directory)
        p = directory / "train_sources.txt"
        if not p.is_file():
            raise DataError(f"{p}: file not found (a mix-list dir needs train_sources.txt)")
        srcs = [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not srcs:
            raise DataError(f"{p}: empty list")
        dup = [r for r, k in Counter(srcs).items() if k > 1]
        if dup:
            raise DataError(f"{p}: {dup[0]} is listed twice")
        mixes = {}
        for c, sets in sorted(config.mixtures.items()):
            for s in sets:
                mixes[(c, s)] = read_mix_list(directory / list_name(s, c))
        return cls(srcs, mixes)

    @staticmethod
    def present(directory: str | Path | None, config: SpeechoceanConfig) -> bool:
        if directory is None:
            return False
        d = Path(directory)
        names = ["train_sources.txt"] + [list_name(s, c) for c, sets in config.mixtures.items() for s in sets]
        return all((d / n).is_file() for n in names)


@dataclass
class SpeakerPlan:
    """The speaker and utterance roles a draw decided (or a list implied)."""

    train: list[str]  # training speakers
    cv: list[str]  # held-out train-half speakers (validation)
    test: list[str]  # test-half speakers
    pools: dict[str, list[str]]  # set -> utterance ids it draws from (tr = train_sources)


def _cells(corpus: Corpus, spks: Sequence[str], child_age: int) -> dict[tuple[str, str], list[str]]:
    cells: dict[tuple[str, str], list[str]] = {}
    for s in sorted(spks):
        cells.setdefault((corpus.spk2gender[s], corpus.age_group(s, child_age)), []).append(s)
    return cells


def _stratified(rng: np.random.Generator, cells: dict, n: int) -> list[str]:
    """n speakers spread evenly over the cells (round robin over a random order of each cell)."""
    order = {k: list(rng.permutation(v)) for k, v in sorted(cells.items())}
    keys = sorted(order)
    out: list[str] = []
    while len(out) < n and any(order.values()):
        for k in keys:
            if order[k] and len(out) < n:
                out.append(str(order[k].pop()))
    return sorted(out)


def draw_plan(corpus: Corpus, config: SpeechoceanConfig) -> SpeakerPlan:
    """Choose held-out speakers and closed-set utterances from the seed."""
    rng = np.random.default_rng([config.seed, 0x5EC0])
    train_half = sorted(s for s, sp in corpus.spk2split.items() if sp == "train")
    test_half = sorted(s for s, sp in corpus.spk2split.items() if sp == "test")
    need = config.cv_speakers + 2
    if len(train_half) < need:
        raise DataError(
            f"{corpus.root}: {len(train_half)} train-half speakers, need at least {need} "
            f"({config.cv_speakers} held out for validation + 2 for training)"
        )
    cv = _stratified(rng, _cells(corpus, train_half, config.child_age), config.cv_speakers)
    train = [s for s in train_half if s not in set(cv)]
    if config.train_speakers is not None and config.train_speakers < len(train):
        train = _stratified(rng, _cells(corpus, train, config.child_age), config.train_speakers)
    test = test_half
    if config.test_speakers is not None and config.test_speakers < len(test):
        test = _stratified(rng, _cells(corpus, test, config.child_age), config.test_speakers)
    if len(test) < 2:
        raise DataError(f"{corpus.root}: {len(test)} test-half speakers, need at least 2")

    by_spk: dict[str, list[str]] = {}
    for u in corpus.utts.values():
        by_spk.setdefault(u.spk, []).append(u.utt)
    for s in by_spk:
        by_spk[s].sort()
        if config.max_utts_per_spk is not None and len(by_spk[s]) > config.max_utts_per_spk:
            pick = rng.choice(len(by_spk[s]), config.max_utts_per_spk, replace=False)
            by_spk[s] = sorted(by_spk[s][i] for i in pick)
    tr, closed = [], []
    for s in train:
        utts = by_spk.get(s, [])
        k = min(config.closed_utts_per_spk, max(len(utts) - 1, 0))
        held = set(rng.choice(len(utts), k, replace=False).tolist()) if k else set()
        closed += [u for i, u in enumerate(utts) if i in held]
        tr += [u for i, u in enumerate(utts) if i not in held]
    pools = {
        "tr": sorted(tr),
        "cv": sorted(u for s in cv for u in by_spk.get(s, [])),
        "tt_closed": sorted(closed),
        "tt": sorted(u for s in test for u in by_spk.get(s, [])),
    }
    return SpeakerPlan(train=train, cv=cv, test=test, pools=pools)


def draw_mixtures(
    corpus: Corpus, pool: Sequence[str], num_spk: int, count: int, config: SpeechoceanConfig, split: str
) -> list[MixLine]:
    """``count`` distinct mixtures of ``num_spk`` different speakers from the utterances of ``pool``.

    Speakers are drawn uniformly, then one utterance of each; the relative gain
    r of the first source is uniform in ``gain_db_range`` and the gains are
    (r/2, -r/2, 0, ...). The draw depends on (seed, num_spk, split) only.
    """
    by_spk: dict[str, list[str]] = {}
    for u in sorted(pool):
        by_spk.setdefault(corpus.utts[u].spk, []).append(u)
    spks = sorted(by_spk)
    if len(spks) < num_spk:
        raise DataError(
            f"{set_name(split, num_spk)}: {num_spk}-speaker mixtures need {num_spk} speakers, "
            f"the {split} pool has {len(spks)}"
        )
    rng = np.random.default_rng([config.seed, num_spk, MIX_SETS.index(split), 0x762])
    lo, hi = config.gain_db_range
    out: list[MixLine] = []
    seen: set[tuple[str, ...]] = set()
    tries = 0
    while len(out) < count:
        tries += 1
        if tries > 100 * count + 1000:
            raise DataError(
                f"{set_name(split, num_spk)}: cannot draw {count} distinct {num_spk}-speaker mixtures from "
                f"{len(pool)} utterances of {len(spks)} speakers; lower the count"
            )
        chosen = rng.choice(len(spks), size=num_spk, replace=False)
        utts = [by_spk[spks[i]][int(rng.integers(len(by_spk[spks[i]])))] for i in chosen]
        key = tuple(sorted(utts))
        if key in seen:
            continue
        seen.add(key)
        r = float(rng.uniform(lo, hi))
        gains = [r / 2, -r / 2] + [0.0] * (num_spk - 2)
        out.append(MixLine(tuple(corpus.utts[u].rel for u in utts), tuple(_fmt_gain(g) for g in gains)))
    return out


def draw_lists(corpus: Corpus, config: SpeechoceanConfig) -> MixLists:
    """Draw the training sources and every mix list of ``config`` from its seed."""
    plan = draw_plan(corpus, config)
    mixes = {}
    for c, sets in sorted(config.mixtures.items()):
        for s, n in sets.items():
            mixes[(c, s)] = draw_mixtures(corpus, plan.pools[s], c, n, config, s)
    return MixLists([corpus.utts[u].rel for u in plan.pools["tr"]], mixes)


def check_lists(corpus: Corpus, lists: MixLists, where: str) -> dict[str, set[str]]:
    """Check lists against the corpus and the speaker rules; return set -> speakers.

    Rules: every path is a corpus utterance; each mixture has distinct
    speakers; ``tr`` uses training sources only; ``cv`` speakers are
    train-half speakers without training sources; ``tt_closed`` uses
    training speakers' utterances that are not training sources; ``tt`` uses
    test-half speakers only.
    """
    by_rel = corpus.by_rel()
    # also accept the path with another extension (e.g. a list written against a FLAC copy)
    by_stem = {Path(r).with_suffix("").as_posix(): u for r, u in by_rel.items()}

    def lookup(rel: str, src: str) -> SourceUtt:
        u = by_rel.get(rel) or by_stem.get(Path(rel).with_suffix("").as_posix())
        if u is None:
            raise DataError(f"{src}: {rel} is not an utterance of the corpus at {corpus.root}")
        return u

    train_utts = {lookup(r, f"{where}/train_sources.txt").utt for r in lists.train_sources}
    train_spk = {corpus.utts[u].spk for u in train_utts}
    bad = sorted(s for s in train_spk if corpus.spk2split[s] != "train")
    if bad:
        raise DataError(f"{where}/train_sources.txt: speaker {bad[0]} is a test-half speaker")
    spk_sets: dict[str, set[str]] = {"train_sources": train_spk}
    for (c, s), lines in sorted(lists.mixes.items()):
        src = f"{where}/{list_name(s, c)}"
        spks_here: set[str] = set()
        for lineno, m in enumerate(lines, 1):
            us = [lookup(r, f"{src}:{lineno}") for r in m.rels]
            sp = [u.spk for u in us]
            if len(set(sp)) != len(sp):
                raise DataError(f"{src}:{lineno}: two sources of speaker {Counter(sp).most_common(1)[0][0]}")
            if len(us) != c:
                raise DataError(f"{src}:{lineno}: {len(us)} sources in a {c}-speaker list")
            for u in us:
                if s == "tr" and u.utt not in train_utts:
                    raise DataError(f"{src}:{lineno}: {u.rel} is not in train_sources.txt")
                if s == "cv" and (u.spk in train_spk or corpus.spk2split[u.spk] != "train"):
                    raise DataError(
                        f"{src}:{lineno}: {u.rel}: validation speakers must be train-half speakers held out of "
                        "training"
                    )
                if s == "tt_closed" and (u.spk not in train_spk or u.utt in train_utts):
                    raise DataError(
                        f"{src}:{lineno}: {u.rel}: the closed-set test uses training speakers' utterances "
                        "that are not training sources"
                    )
                if s == "tt" and corpus.spk2split[u.spk] != "test":
                    raise DataError(f"{src}:{lineno}: {u.rel}: the open-set test uses test-half speakers only")
            spks_here.update(sp)
        spk_sets[set_name(s, c)] = spks_here
    return spk_sets


# ======================================================================================
# preparation
# ======================================================================================
def _convert_chunk(jobs: Sequence[tuple[str, str, str]], fs: int) -> list[tuple[str, int, float]]:
    """Resample (src -> dst) where dst is missing; return (utt, num_samples, active level)."""
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


def _combo(labels: Sequence[str], order: Sequence[str]) -> str:
    return "+".join(sorted(labels, key=lambda v: (order.index(v) if v in order else len(order), v)))


def prepare_speechocean762(
    corpus_dir: str | Path | None,
    out_dir: str | Path,
    config: SpeechoceanConfig | None = None,
    mix_lists: str | Path | None = None,
    allow_partial: bool = False,
    nj: int = 1,
    download_dir: str | Path | None = None,
    url: str = OPENSLR_URL,
) -> dict[str, Path]:
    """Prepare speechocean762 for separation: resampled audio, source dir, mixture sets.

    Args:
        corpus_dir: the corpus (official layout or a copy with ``.flac``
            files). None downloads it into ``download_dir`` first.
        out_dir: output root: ``audio/`` (resampled utterances and mixtures),
            ``mix_lists/`` (the lists used), ``local/`` (speaker tables) and
            one data dir per set (``train_sources``, ``tr``, ``cv``, ``tt_closed``,
            ``tt``, ``tt_3spk``, ...).
        config: sizes and settings (default: :class:`SpeechoceanConfig`).
        mix_lists: a dir of lists (``train_sources.txt``, ``mix_<C>_spk_<set>.txt``)
            to rebuild exactly those sets; without it, or when a list is
            missing there, all lists are drawn from ``config.seed``.
        allow_partial: accept a corpus with fewer files than the full one.
        nj: parallel processes.
        download_dir: where to download when ``corpus_dir`` is None
            (default: ``out_dir/downloads``).
        url: download base URL (e.g. a mirror or a ``file://`` dir).

    Returns:
        Data dir name -> path (``train_sources`` and the mixture sets).
    """
    config = config or SpeechoceanConfig()
    config.validate()
    out_dir = Path(out_dir).absolute()
    if corpus_dir is None:
        corpus_dir = download_speechocean762(download_dir or out_dir / "downloads", url=url)
    t0 = time.monotonic()
    corpus = scan_corpus(corpus_dir, strict=not allow_partial)
    n_orph = sum(not u.listed for u in corpus.utts.values())
    _log(
        f"corpus {corpus.root}: {len(corpus.utts)} utterances ({n_orph} without a wav.scp line) of "
        f"{len(corpus.spk2split)} speakers"
    )
    fs = config.fs
    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    _check_manifest(audio_dir, fs)

    # lists: given or drawn
    if mix_lists is not None and MixLists.present(mix_lists, config):
        _log(f"using the mix lists in {mix_lists}")
        lists = MixLists.read(mix_lists, config)
        where = str(mix_lists)
    else:
        if mix_lists is not None:
            _log(f"no complete set of mix lists in {mix_lists}: drawing them from seed {config.seed}")
        lists = draw_lists(corpus, config)
        where = str(out_dir / "mix_lists")
    spk_sets = check_lists(corpus, lists, where)
    lists.write(out_dir / "mix_lists")

    # resample every utterance the sets use
    by_rel = corpus.by_rel()
    by_stem = {Path(r).with_suffix("").as_posix(): u for r, u in by_rel.items()}

    def utt_of(rel: str) -> SourceUtt:
        return by_rel.get(rel) or by_stem[Path(rel).with_suffix("").as_posix()]

    needed: dict[str, SourceUtt] = {}
    for r in lists.train_sources:
        u = utt_of(r)
        needed[u.utt] = u
    for lines in lists.mixes.values():
        for m in lines:
            for r in m.rels:
                u = utt_of(r)
                needed[u.utt] = u
    dst = {u: str(audio_dir / Path(v.rel).with_suffix(".wav")) for u, v in needed.items()}
    lev_file = audio_dir / "utt2activlev"
    levels: dict[str, float] = {}
    lengths: dict[str, int] = {}
    if lev_file.is_file() and (audio_dir / "utt2num_samples").is_file():
        old_lev = read_scp(lev_file, allow_empty=True)
        old_len = read_scp(audio_dir / "utt2num_samples", allow_empty=True)
        for u in needed:
            if u in old_lev and u in old_len and Path(dst[u]).is_file():
                levels[u], lengths[u] = float(old_lev[u]), int(old_len[u])
    jobs = [(u, needed[u].path, dst[u]) for u in sorted(needed) if u not in levels]
    if jobs:
        _log(f"resampling {len(jobs)} utterances to {fs} Hz into {audio_dir} (nj={nj})")
        chunks = [jobs[i : i + 32] for i in range(0, len(jobs), 32)]
        res = run_chunks(_convert_chunk, chunks, nj, Progress(len(jobs), "speechocean762: resampling"), fs)
        for utt, n, lev in (x for part in res for x in part):
            lengths[utt], levels[utt] = n, lev
        keep_lev = read_scp(lev_file, allow_empty=True) if lev_file.is_file() else {}
        keep_len = read_scp(audio_dir / "utt2num_samples", allow_empty=True) if lev_file.is_file() else {}
        keep_lev.update({u: repr(v) for u, v in levels.items()})
        keep_len.update({u: str(v) for u, v in lengths.items()})
        write_scp(audio_dir / "utt2num_samples", keep_len)
        write_scp(lev_file, keep_lev)  # written last: marks the pass complete
    silent = sorted(u for u in needed if not levels[u] > 0)
    if silent:
        raise DataError(f"{needed[silent[0]].path}: silent utterance (active level 0); cannot scale it")

    # speaker tables
    local = out_dir / "local"
    train_spk = spk_sets["train_sources"]
    cv_spk = {x for (c, s), _ in lists.mixes.items() if s == "cv" for x in spk_sets[set_name(s, c)]}
    test_spk = {x for (c, s), _ in lists.mixes.items() if s == "tt" for x in spk_sets[set_name(s, c)]}
    role = {}
    for s in corpus.spk2split:
        role[s] = "train" if s in train_spk else "cv" if s in cv_spk else "test" if s in test_spk else "unused"
    nutt = Counter(u.spk for u in corpus.utts.values())
    rows = ["spk\thalf\trole\tgender\tage\tage_group\tnum_utts"]
    for s in sorted(corpus.spk2split):
        rows.append(
            f"{s}\t{corpus.spk2split[s]}\t{role[s]}\t{corpus.spk2gender[s]}\t{corpus.spk2age[s]}\t"
            f"{corpus.age_group(s, config.child_age)}\t{nutt[s]}"
        )
    atomic_write_text(local / "speakers.tsv", "\n".join(rows) + "\n")
    write_scp(local / "spk2gender", corpus.spk2gender)
    write_scp(local / "spk2age", {s: str(a) for s, a in corpus.spk2age.items()})
    write_scp(local / "spk2agegroup", {s: corpus.age_group(s, config.child_age) for s in corpus.spk2age})

    # the training sources (single-speaker dir for dynamic mixing)
    out: dict[str, Path] = {}
    src_utts = [utt_of(r) for r in lists.train_sources]
    out["train_sources"] = _write_source_dir(
        out_dir / "train_sources", src_utts, dst, lengths, levels, corpus, config
    )

    # mixtures
    for (c, s), lines in sorted(lists.mixes.items(), key=lambda kv: (kv[0][0], MIX_SETS.index(kv[0][1]))):
        name = set_name(s, c)
        specs, extra = [], {"utt2gender": {}, "utt2age": {}, "utt2category": {}, "utt2spks": {}}
        for m in lines:
            us = [utt_of(r) for r in m.rels]
            mname = m.name()
            specs.append(MixSpec(mname, tuple(dst[u.utt] for u in us), m.gains_db, tuple(u.utt for u in us)))
            spk = [u.spk for u in us]
            age = _combo([corpus.age_group(x, config.child_age) for x in spk], [CHILD, ADULT])
            extra["utt2gender"][mname] = _combo([corpus.spk2gender[x] for x in spk], ["f", "m"])
            extra["utt2age"][mname] = age
            extra["utt2category"][mname] = f"{extra['utt2gender'][mname]}/{age}"
            extra["utt2spks"][mname] = " ".join(spk)
        set_dir = audio_dir / f"wav{fs // 1000}k" / config.mode / name
        records = create_mixtures(
            specs, set_dir, fs=fs, mode=config.mode, nj=nj, levels=levels, label=f"speechocean762: {name}"
        )
        out[name] = write_mixture_datadir(out_dir / name, records, fs, extra)
    _write_summary(out_dir, out, fs, time.monotonic() - t0)
    return out


def _write_source_dir(d: Path, utts: Sequence[SourceUtt], dst, lengths, levels, corpus: Corpus, config) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    ids = [u.utt for u in utts]
    spks = sorted({u.spk for u in utts})
    write_scp(d / "wav.scp", {u: dst[u] for u in ids})
    write_scp(d / "utt2spk", {u.utt: u.spk for u in utts})
    spk2utt: dict[str, list[str]] = {}
    for u in sorted(utts, key=lambda u: u.utt):
        spk2utt.setdefault(u.spk, []).append(u.utt)
    write_scp(d / "spk2utt", {k: " ".join(v) for k, v in spk2utt.items()})
    write_scp(d / "spk2gender", {s: corpus.spk2gender[s] for s in spks})
    write_scp(d / "spk2age", {s: str(corpus.spk2age[s]) for s in spks})
    texts = {u: corpus.text[u] for u in ids if corpus.text.get(u)}
    if texts:
        write_scp(d / "text", texts)
    write_scp(d / "utt2num_samples", {u: str(lengths[u]) for u in ids})
    write_scp(d / "utt2dur", {u: f"{lengths[u] / config.fs:.4f}" for u in ids})
    write_scp(d / "utt2activlev", {u: repr(levels[u]) for u in ids})
    return d


def _write_summary(out_dir: Path, dirs: dict[str, Path], fs: int, seconds: float) -> None:
    """``summary.tsv``: utterances or mixtures, speakers and hours of every data dir."""
    rows = ["set\titems\tspeakers\thours"]
    for name, d in dirs.items():
        n = read_scp(d / "utt2num_samples")
        hours = sum(int(v) for v in n.values()) / fs / 3600
        if (d / "utt2spks").is_file():
            spk = {x for v in read_scp(d / "utt2spks").values() for x in v.split()}
        else:
            spk = set(read_scp(d / "utt2spk").values())
        rows.append(f"{name}\t{len(n)}\t{len(spk)}\t{hours:.2f}")
    atomic_write_text(out_dir / "summary.tsv", "\n".join(rows) + "\n")
    _log(f"prepared in {seconds:.0f} s:\n" + "\n".join(rows))


def _check_manifest(audio_dir: Path, fs: int) -> None:
    manifest = audio_dir / "manifest.json"
    key = {"corpus": "speechocean762", "fs": fs}
    if manifest.is_file():
        old = json.loads(manifest.read_text(encoding="utf-8"))
        if old != key:
            raise DataError(
                f"{audio_dir} holds audio prepared with other settings ({old}, now {key}); "
                "remove it or choose another output dir"
            )
    else:
        atomic_write_text(manifest, json.dumps(key, sort_keys=True) + "\n")


# ======================================================================================
# command line
# ======================================================================================
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dcsep.data.speechocean --corpus-dir DIR --out-dir data [--config ...] [--mix-lists DIR]``."""
    import argparse

    from dcsep.errors import DcsepError

    p = argparse.ArgumentParser(
        prog="python -m dcsep.data.speechocean",
        description="Prepare speechocean762 (OpenSLR 101) as 2- and 3-speaker mixture sets.",
    )
    p.add_argument("--corpus-dir", help="the corpus root (WAVE/, train/, test/); without it the corpus is downloaded")
    p.add_argument("--out-dir", required=True, help="output root (audio/, data dirs, mix_lists/)")
    p.add_argument("--config", help="sizes YAML (see SpeechoceanConfig); default: the full sizes")
    p.add_argument("--mix-lists", help="dir of mix lists to rebuild from (drawn from the seed when absent)")
    p.add_argument("--allow-partial", action="store_true", help="accept a corpus with fewer files than the full one")
    p.add_argument("--nj", type=int, default=1, help="parallel processes")
    p.add_argument("--download-dir", help="where to download the corpus (default: OUT_DIR/downloads)")
    p.add_argument("--url", default=OPENSLR_URL, help=f"download base URL (default: {OPENSLR_URL})")
    p.add_argument("--download-only", action="store_true", help="download and extract, print the corpus root, stop")
    args = p.parse_args(argv)
    try:
        if args.download_only:
            root = download_speechocean762(args.download_dir or Path(args.out_dir) / "downloads", url=args.url)
            print(root)
            return 0
        cfg = SpeechoceanConfig.from_yaml(args.config) if args.config else SpeechoceanConfig()
        prepare_speechocean762(
            args.corpus_dir,
            args.out_dir,
            cfg,
            mix_lists=args.mix_lists,
            allow_partial=args.allow_partial,
            nj=max(1, args.nj),
            download_dir=args.download_dir,
            url=args.url,
        )
    except DcsepError as e:
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
