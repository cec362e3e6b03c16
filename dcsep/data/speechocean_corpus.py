"""speechocean762 (OpenSLR resource 101): the corpus on disk and the sizes of its prepared sets.

:func:`scan_corpus` checks and reads the official layout (``WAVE/``,
``train/`` and ``test/`` with Kaldi-style metadata), or a copy with other
audio formats, and says what is missing; :class:`SpeechoceanConfig` holds
the sizes and settings of the prepared sets (the recipe's
``conf/data_*.yaml``). See :mod:`dcsep.data.speechocean` for the corpus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from dcsep.data.corpus_config import CorpusConfig, check_ints
from dcsep.data.datadir import read_scp
from dcsep.errors import DataError

# ---- the corpus ------------------------------------------------------------------
SPLITS = ("train", "test")
META_FILES = ("wav.scp", "utt2spk", "spk2gender", "spk2age")
#: the full corpus: utterances listed in wav.scp and speakers, per split
EXPECTED = {"train": {"utts": 2500, "speakers": 125}, "test": {"utts": 2500, "speakers": 125}}
EXPECTED_AUDIO_FILES = 5245
AUDIO_EXTENSIONS = (".WAV", ".wav", ".flac", ".FLAC")
#: the mixture sets (data dir names for 2 speakers; ``<set>_<C>spk`` for C > 2)
MIX_SETS = ("tr", "cv", "tt_closed", "tt")
CHILD, ADULT = "child", "adult"


def _log(msg: str) -> None:
    import sys

    print(f"speechocean762: {msg}", file=sys.stderr, flush=True)


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


def resolve_audio(root: Path, rel: str) -> Path | None:
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
            p = resolve_audio(root, rel)
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


@dataclass
class SpeechoceanConfig(CorpusConfig):
    """Sizes and settings of the prepared sets (the recipe's ``conf/data_*.yaml``).

    Attributes:
        seed: every draw (held-out speakers and utterances, mixtures) follows from it.
        fs: output sample rate.
        mode: "min" or "max" (wsj0-mix versions).
        mixtures: {num_spk: {set: count}}; sets: tr, cv, tt_closed, tt.
        cv_speakers: train-half speakers held out of training for validation,
            spread evenly over the four (gender, age group) cells.
        closed_utts_per_spk: utterances of each training speaker kept out of
            ``train_sources`` for the closed-set test ``tt_closed``.
        train_speakers: use only this many training speakers (null: all the
            other train-half speakers); for small subsets.
        test_speakers: use only this many test-half speakers (null: all).
        max_utts_per_spk: use at most this many utterances per speaker (null: all).
        gain_db_range: [lo, hi] relative gain of the first source over the
            second, drawn uniformly; gains are (r/2, -r/2) for 2 speakers and
            (r/2, -r/2, 0) for 3, as in wsj0-mix.
        child_age: speakers younger than this are children.
    """

    NAME = "speechocean762"
    SETS = MIX_SETS

    mixtures: dict[int, dict[str, int]] = field(
        default_factory=lambda: {2: {"tr": 5000, "cv": 500, "tt_closed": 500, "tt": 1500}, 3: {"cv": 500, "tt": 1000}}
    )
    cv_speakers: int = 12
    closed_utts_per_spk: int = 4
    train_speakers: int | None = None
    test_speakers: int | None = None
    max_utts_per_spk: int | None = None
    gain_db_range: list[float] = field(default_factory=lambda: [0.0, 5.0])
    child_age: int = 18

    def coerce(self) -> None:
        self.gain_db_range = [float(x) for x in self.gain_db_range]

    def coerce_fields(self) -> str:
        return "mixtures / gain_db_range"

    def check(self, bad) -> None:
        check_ints(self, bad, ("seed", "fs", "cv_speakers", "closed_utts_per_spk", "child_age"),
                   ("train_speakers", "test_speakers", "max_utts_per_spk"))  # fmt: skip

    def check_mixtures(self, bad) -> None:
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
            if "tt_closed" in sets and self.closed_utts_per_spk < 1:
                bad(f"mixtures.{c}.tt_closed needs closed_utts_per_spk >= 1")
