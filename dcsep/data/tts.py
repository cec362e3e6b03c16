"""The built-in open corpus: synthetic speakers from eSpeak NG, mixed like wsj0-2mix.

Everything is generated locally, so the corpus needs no download and no
licence: the recipe ``egs/tts_mix`` runs anywhere.

* Speakers: each is a fixed combination of an eSpeak NG voice variant (the
  ``!v`` files: m1..m7, f1..f5, klatt*, named voices, ...), an English
  accent, and pitch, pitch-range, speaking-rate and word-gap settings. The
  variants used for the open-set test speakers never appear in training.
  Each speaker's median f0 is measured and labelled ``low`` or ``high``
  (``spk2pitch``), next to the variant's gender (``spk2gender``).
* Text: English sentences from built-in word lists and templates, drawn with
  a seeded random generator.
* Audio: eSpeak NG through its C API (``ctypes``; library and data from the
  ``espeakng-loader`` package) at 22050 Hz, resampled to 8 kHz.
* Mixtures: 2- and 3-speaker sets scaled exactly as wsj0-mix
  (:mod:`dcsep.data.mixing`), in the wsj0-mix file layout, with Kaldi-style
  data dirs ``tr_2spk``, ``cv_2spk`` (training speakers, different
  utterances: closed set), ``tt_closed_2spk`` (training speakers, unseen
  utterances) and ``tt_2spk`` (unseen speakers: open set), ``tt_3spk`` ...

The sizes come from a small YAML file (see ``egs/tts_mix/conf/data_*.yaml``
and :class:`TTSMixConfig`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dcsep.data.mixing import (
    MixSpec,
    Progress,
    create_mixtures,
    resample,
    run_chunks,
    write_mixture_datadir,
)
from dcsep.errors import ConfigError, DataError

ESPEAK_FS = 22050

# eSpeak NG C API constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_RATE, _ESPEAK_VOLUME, _ESPEAK_PITCH, _ESPEAK_RANGE, _ESPEAK_WORDGAP = 1, 2, 3, 4, 7

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _VoiceSpec(ctypes.Structure):
    """``espeak_VOICE`` of speak_lib.h."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class ESpeak:
    """eSpeak NG through its C API, returning audio to Python (synchronous mode).

    One instance per process (eSpeak NG keeps global state); use
    :func:`espeak` to get it.

    Args:
        library: path of ``libespeak-ng``; default: the one of ``espeakng-loader``.
        data_path: the ``espeak-ng-data`` dir; default: the one of ``espeakng-loader``.
    """

    def __init__(self, library: str | None = None, data_path: str | None = None):
        if library is None or data_path is None:
            try:
                import espeakng_loader
            except ImportError:
                raise DataError(
                    "the built-in corpus needs eSpeak NG from the 'espeakng-loader' package: "
                    "pip install 'dcsep[tts]'"
                ) from None
            library = library or espeakng_loader.get_library_path()
            data_path = data_path or espeakng_loader.get_data_path()
        self.data_path = Path(data_path)
        try:
            self.lib = ctypes.CDLL(str(library))
        except OSError as e:
            raise DataError(f"cannot load the eSpeak NG library {library}: {e}") from None
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_VoiceSpec)]
        lib.espeak_SetVoiceByProperties.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        # eSpeak NG seeds its random generator (noise, some voices' jitter) from the
        # clock at initialisation; synthesize() seeds it per call instead, so the
        # audio is the same on every run, whatever was spoken before in the process
        if not hasattr(lib, "espeak_ng_SetRandSeed"):
            raise DataError(f"the eSpeak NG library {library} is too old (no espeak_ng_SetRandSeed); need 1.51 or later")
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"))  # the C rand() some synthesisers call
        self._libc.srand.argtypes = [ctypes.c_uint]
        self._libc.srand.restype = None
        fs = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), _ESPEAK_INITIALIZE_DONT_EXIT
        )
        if fs <= 0:
            raise DataError(f"eSpeak NG failed to initialise with data path {self.data_path}")
        self.fs = fs
        self._chunks: list[np.ndarray] = []

        def on_audio(wav, num_samples, events):  # called from espeak_Synth, same thread
            if num_samples > 0 and wav:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
            return 0

        self._callback = _SYNTH_CALLBACK(on_audio)  # keep a reference: C holds only the pointer
        lib.espeak_SetSynthCallback(self._callback)

    def variants(self) -> list[str]:
        """Names of the installed voice variants (files in ``voices/!v``)."""
        d = self.data_path / "voices" / "!v"
        return sorted(p.name for p in d.iterdir() if p.is_file()) if d.is_dir() else []

    def set_voice(self, language: str, variant: str | None = None, gender: int = 0) -> None:
        """Select ``language`` (e.g. ``en-us``) with a voice ``variant`` (e.g. ``m3``).

        eSpeak NG silently ignores unknown variants, so they are checked here.
        """
        if variant is not None and not (self.data_path / "voices" / "!v" / variant).is_file():
            raise DataError(f"eSpeak NG voice variant {variant!r} not found under {self.data_path}/voices/!v")
        name = f"{language}+{variant}" if variant else language
        if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
            # fall back to a property search (e.g. for a language written another way)
            spec = _VoiceSpec(languages=language.encode(), gender=gender)
            if self.lib.espeak_SetVoiceByProperties(ctypes.byref(spec)) != 0:
                raise DataError(f"eSpeak NG has no voice for language {language!r}")

    def synthesize(
        self,
        text: str,
        language: str = "en-us",
        variant: str | None = None,
        rate: int = 175,
        pitch: int = 50,
        pitch_range: int = 50,
        wordgap: int = 0,
        volume: int = 50,
        seed: int = 0,
    ) -> np.ndarray:
        """Speak ``text``; returns int16 samples at :attr:`fs` (22050 Hz).

        The same arguments give the same samples, in any process and after
        any other call: ``seed`` seeds eSpeak NG's random generators first.

        Args:
            rate: words per minute (80..450).
            pitch: base pitch, 0..100 (50 = the voice's own).
            pitch_range: pitch range, 0..100 (0 = monotone).
            wordgap: extra pause between words, units of 10 ms.
            volume: 0..200; 50 keeps clear of clipping.
            seed: seed of the random variation (0 .. 2**31 - 1).
        """
        self.set_voice(language, variant)
        for par, val in (
            (_ESPEAK_RATE, rate),
            (_ESPEAK_PITCH, pitch),
            (_ESPEAK_RANGE, pitch_range),
            (_ESPEAK_WORDGAP, wordgap),
            (_ESPEAK_VOLUME, volume),
        ):
            if self.lib.espeak_SetParameter(par, int(val), 0) != 0:
                raise DataError(f"eSpeak NG rejected parameter {par} = {val}")
        data = text.encode("utf-8") + b"\0"
        self.lib.espeak_ng_SetRandSeed(int(seed))
        self._libc.srand(int(seed))
        self._chunks = []
        err = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None)
        if err != 0:
            raise DataError(f"eSpeak NG failed (error {err}) on text {text!r}")
        out = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        self._chunks = []
        return out


_ENGINE: ESpeak | None = None


def espeak() -> ESpeak:
    """The process's :class:`ESpeak` (created on first use)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = ESpeak()
    return _ENGINE


# ---- speakers ----------------------------------------------------------------
# Voice variants with a human-like voice source (robotic, whispering and
# tone-shaped ones are left out). The test variants never appear in training.
TRAIN_VARIANTS = {
    "m": [
        "m1", "m2", "m3", "m4", "m6", "m7", "Andy", "Denis", "Gene", "Henrique", "Jacky", "Mario",
        "Michael", "antonio", "gustave", "marcelo", "sandro", "victor", "klatt", "klatt3",
    ],
    "f": ["f1", "f2", "f3", "f4", "Alicia", "Annie", "aunty", "belinda", "grandma", "shelby"],
}  # fmt: skip
TEST_VARIANTS = {
    "m": ["m5", "Lee", "Diogo", "michel", "miguel", "robert", "travis", "klatt2"],
    "f": ["f5", "anika", "linda", "Andrea", "steph3"],
}
LANGUAGES = ["en-us", "en-us", "en-us", "en", "en-gb-x-rp", "en-us-nyc", "en-029", "en-gb-scotland"]
PITCH_PARAM = {"m": (10, 60), "f": (40, 85)}  # eSpeak pitch 0..100 per voice gender


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: one fixed set of eSpeak NG settings."""

    spk_id: str
    language: str
    variant: str
    gender: str  # "m" or "f", the variant's
    pitch: int
    pitch_range: int
    rate: int
    wordgap: int


def make_speakers(num: int, variants: dict[str, list[str]], prefix: str, seed: int) -> list[Speaker]:
    """``num`` speakers, half on male and half on female variants, cycling through ``variants``.

    Deterministic in (num, variants, prefix, seed).
    """
    rng = np.random.default_rng([seed, 0x5B, len(prefix), ord(prefix[0])])
    out = []
    for i in range(num):
        gender = "mf"[i % 2]
        pool = variants[gender]
        variant = pool[(i // 2) % len(pool)]
        lo, hi = PITCH_PARAM[gender]
        out.append(
            Speaker(
                spk_id=f"{prefix}{i + 1:03d}",
                language=str(rng.choice(LANGUAGES)),
                variant=variant,
                gender=gender,
                pitch=int(rng.integers(lo, hi + 1)),
                pitch_range=int(rng.integers(20, 91)),
                rate=int(rng.integers(140, 201)),
                wordgap=int(rng.choice([0, 0, 1, 2])),
            )
        )
    return out


def median_f0(x: np.ndarray, fs: int, fmin: float = 55.0, fmax: float = 450.0) -> float:
    """Median f0 (Hz) over voiced frames, by normalised autocorrelation; NaN if nothing is voiced.

    Args:
        x: (L,) signal.
    """
    x = np.asarray(x, dtype=np.float64)
    frame, hop = int(0.04 * fs), int(0.01 * fs)
    if x.size < frame:
        return float("nan")
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]  # (N, frame)
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = np.sum(frames**2, axis=1)
    keep = energy > 1e-3 * energy.max() if energy.max() > 0 else np.zeros(len(frames), bool)
    if not keep.any():
        return float("nan")
    frames, energy = frames[keep], energy[keep]
    n = 2 * frame
    spec = np.fft.rfft(frames, n=n, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, n=n, axis=1)[:, :frame]  # (N, frame)
    lo, hi = int(fs / fmax), min(int(fs / fmin), frame - 1)
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    strength = ac[np.arange(len(lag)), lag] / np.maximum(ac[:, 0], 1e-12)
    voiced = strength > 0.5
    if not voiced.any():
        return float("nan")
    return float(np.median(fs / lag[voiced]))


# ---- text --------------------------------------------------------------------
_NAMES = (
    "Alice Bernard Carla Daniel Elena Frank Grace Henry Irene James Karen Louis Maria Nathan Olivia "
    "Peter Rachel Samuel Teresa Victor Walter Yvonne Martin Sophie Thomas Laura George Emily Oscar Diana"
).split()
_ORGS = (
    "the company|the bank|the council|the committee|the museum|the airline|the hospital|the school board|"
    "the publisher|the railway|the university|the factory|the newspaper|the orchestra|the union|the agency"
).split("|")
_ADJ = (
    "small large old new quiet busy bright dark early late local foreign careful simple strange famous "
    "modern ancient heavy light narrow wide warm cold green yellow silver wooden final annual private public"
).split()
_NOUN = (
    "house garden river bridge market letter window village station report budget contract painting engine "
    "journey island mountain harbor meeting record kitchen library office tower forest valley machine "
    "schedule picture proposal product museum concert ticket question answer project program package"
).split()
_NOUN_PL = (
    "prices workers farmers students visitors shares profits orders results plans rules tickets questions "
    "children teachers drivers neighbors engineers tourists sales wages rates costs boats trains letters"
).split()
_VT = (
    "opened closed found bought sold painted repaired visited described approved rejected delivered "
    "signed moved watched studied changed carried planned reviewed announced cleaned built"
).split()
_VI = (
    "arrived waited laughed agreed stayed returned rested listened worked slept paused hesitated "
    "recovered improved declined collapsed continued"
).split()
_ADV = "quickly slowly quietly carefully early again yesterday suddenly finally recently twice later".split()
_PREP_PHR = (
    "near the station|after the storm|before the meeting|across the river|in the morning|at the market|"
    "during the winter|under the bridge|behind the library|on the island|by the harbor|over the weekend|"
    "in the old town|at the end of the year|along the coast|without any warning"
).split("|")
_TIME = (
    "last week|this morning|in March|on Friday|late last year|earlier today|in the spring|on Monday night|"
    "two days ago|in the summer"
).split("|")
_NUMS = (
    "two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|thirty|forty|fifty|"
    "a hundred|two hundred|seventy five|one thousand"
).split("|")
_UNITS = "dollars percent miles points tons days hours pounds".split()
_VSAY = "said reported explained announced suggested believed noted".split()

_TEMPLATES = [
    "{NP} {VT} {NP2} {PP}.",
    "{Name} {VT} {NP2} {TIME}.",
    "{NP} {VI} {ADV} {PP}.",
    "{Org} {VSAY} that {NP2} {VI} {TIME}.",
    "{TIME_C}, {Org} {VT} {NP2}.",
    "{Name} {VSAY} that {Nouns} rose by {Num} {Unit} {TIME}.",
    "{Org} {VT} {Num} {Nouns} {PP}.",
    "Did {Name} see {NP2} {PP}?",
    "{Name} and {Name2} {VT} {NP2} {PP}.",
    "The {Adj} {Noun} {VI} {ADV}, and {Name} {VT} it {TIME}.",
    "Why did {Org} wait so long before the {Adj} {Noun} {VI}?",
    "{Nouns} fell {Num} {Unit} {TIME}, {Org} {VSAY}.",
    "{Name} {VT} the {Adj} {Noun} {ADV} and then {VI}.",
    "{PP_C}, {Name} {VT} {NP2}.",
]


class SentenceMaker:
    """English sentences from built-in word lists and templates.

    Example:
        >>> s = SentenceMaker().sentence(np.random.default_rng(0), 5, 12)
        >>> 5 <= len(s.split()) <= 12 and s[-1] in ".?"
        True
    """

    def _np(self, rng) -> str:
        """A subject: a name, an organisation or a noun phrase."""
        r = rng.random()
        if r < 0.25:
            return str(rng.choice(_NAMES))
        if r < 0.45:
            return str(rng.choice(_ORGS))
        return self._obj(rng)

    def _obj(self, rng) -> str:
        """An object: a noun phrase with a determiner and an adjective."""
        det = str(rng.choice(["the", "a", "this", "that", "every"]))
        if det == "a":
            adj = str(rng.choice(_ADJ))
            det = "an" if adj[0] in "aeiou" else "a"
            return f"{det} {adj} {rng.choice(_NOUN)}"
        return f"{det} {rng.choice(_ADJ)} {rng.choice(_NOUN)}"

    def _fill(self, template: str, rng) -> str:
        pp = str(rng.choice(_PREP_PHR))
        time_ = str(rng.choice(_TIME))
        values = {
            "NP": self._np(rng),
            "NP2": self._obj(rng),
            "Name": str(rng.choice(_NAMES)),
            "Name2": str(rng.choice(_NAMES)),
            "Org": str(rng.choice(_ORGS)),
            "VT": str(rng.choice(_VT)),
            "VI": str(rng.choice(_VI)),
            "VSAY": str(rng.choice(_VSAY)),
            "ADV": str(rng.choice(_ADV)),
            "PP": pp,
            "PP_C": pp[0].upper() + pp[1:],
            "TIME": time_,
            "TIME_C": time_[0].upper() + time_[1:],
            "Adj": str(rng.choice(_ADJ)),
            "Noun": str(rng.choice(_NOUN)),
            "Nouns": str(rng.choice(_NOUN_PL)),
            "Num": str(rng.choice(_NUMS)),
            "Unit": str(rng.choice(_UNITS)),
        }
        s = template.format(**values)
        return s[0].upper() + s[1:]

    def sentence(self, rng: np.random.Generator, min_words: int = 5, max_words: int = 14) -> str:
        """One sentence of ``min_words``..``max_words`` words (two joined when one is too short)."""
        if not 1 <= min_words <= max_words:
            raise ConfigError(f"words: need 1 <= min <= max, got [{min_words}, {max_words}]")
        best = ""
        for _ in range(50):
            s = self._fill(str(rng.choice(_TEMPLATES)), rng)
            if len(s.split()) < min_words and rng.random() < 0.8:
                s = s + " " + self._fill(str(rng.choice(_TEMPLATES)), rng)
            n = len(s.split())
            if min_words <= n <= max_words:
                return s
            if not best or abs(n - max_words) < abs(len(best.split()) - max_words):
                best = s
        words = best.split()
        if len(words) > max_words:
            best = " ".join(words[:max_words]).rstrip(",.?") + "."
        return best


# ---- corpus configuration ------------------------------------------------------
SPLITS = ("tr", "cv", "tt_closed", "tt")  # tt: open speaker set; the rest: training speakers


@dataclass
class TTSMixConfig:
    """Sizes and settings of a generated corpus (the recipe's ``conf/data_*.yaml``).

    Attributes:
        seed: everything (speakers, texts, mixtures) follows from it.
        fs: output sample rate.
        mode: "min" or "max" (wsj0-mix versions).
        train_speakers / test_speakers: number of speakers (training voices /
            held-out voices for the open-set test).
        train_utts: utterances per training speaker for each pool (tr, cv,
            tt_closed); mixtures of a split only use its pool.
        test_utts: utterances per open-set speaker.
        words: [min, max] words per sentence.
        mixtures: {num_spk: {split: count}}.
        max_gain_db: |g1| bound; 2-speaker gains are (g1, -g1), 3-speaker (g1, -g1, 0).
        pitch_threshold_hz: median f0 that separates "low" from "high" speakers.
    """

    seed: int = 0
    fs: int = 8000
    mode: str = "min"
    train_speakers: int = 48
    test_speakers: int = 16
    train_utts: dict[str, int] = field(default_factory=lambda: {"tr": 16, "cv": 4, "tt_closed": 4})
    test_utts: int = 8
    words: list[int] = field(default_factory=lambda: [5, 12])
    mixtures: dict[int, dict[str, int]] = field(
        default_factory=lambda: {2: {"tr": 1200, "cv": 150, "tt_closed": 150, "tt": 150}, 3: {"tt_closed": 100, "tt": 100}}
    )
    max_gain_db: float = 2.5
    pitch_threshold_hz: float = 150.0

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "<tts_mix config>") -> "TTSMixConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(known)}")
        cfg = cls(**d)
        cfg.mixtures = {int(k): dict(v) for k, v in cfg.mixtures.items()}
        cfg.validate(where)
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TTSMixConfig":
        from dcsep.config import load_yaml

        return cls.from_dict(load_yaml(path) or {}, where=str(path))

    def validate(self, where: str = "<tts_mix config>") -> None:
        def bad(msg: str):
            raise ConfigError(f"{where}: {msg}")

        if self.mode not in ("min", "max"):
            bad(f"mode: must be 'min' or 'max', got {self.mode!r}")
        if self.fs not in (8000, 16000):
            bad(f"fs: 8000 or 16000, got {self.fs}")
        if set(self.train_utts) != {"tr", "cv", "tt_closed"}:
            bad(f"train_utts: needs exactly the keys tr, cv, tt_closed, got {sorted(self.train_utts)}")
        if min(self.train_utts.values()) < 1 or self.test_utts < 1:
            bad("train_utts / test_utts: at least 1 utterance per pool")
        if len(self.words) != 2 or not 1 <= self.words[0] <= self.words[1]:
            bad(f"words: [min, max] with 1 <= min <= max, got {self.words}")
        for c, sets in self.mixtures.items():
            if not 1 < c <= 4:
                bad(f"mixtures: number of speakers must be 2..4, got {c}")
            for split, n in sets.items():
                if split not in SPLITS:
                    bad(f"mixtures.{c}: unknown split {split!r}; choose from {list(SPLITS)}")
                if n < 1:
                    bad(f"mixtures.{c}.{split}: need at least 1 mixture, got {n}")
                pool = self.test_speakers if split == "tt" else self.train_speakers
                if pool < c:
                    bad(f"mixtures.{c}.{split}: {c}-speaker mixtures need at least {c} speakers, have {pool}")
        if self.train_speakers < 2 or self.test_speakers < 2:
            bad("train_speakers / test_speakers: at least 2 each")


# ---- preparation -----------------------------------------------------------------
@dataclass(frozen=True)
class _Utt:
    utt_id: str
    spk: Speaker
    text: str
    rate: int
    pitch: int
    path: str


def _synth_chunk(utts: Sequence[_Utt], fs: int, known: dict[str, tuple[int, float]]) -> list[tuple[str, int, float]]:
    """Synthesise the utterances whose file does not exist yet.

    Returns (utt_id, num_samples, active level) per utterance; ``known``
    holds these for files made before (not recomputed).
    """
    from dcsep.data.audio import load_audio, write_wav
    from dcsep.data.mixing import active_level

    out = []
    for u in utts:
        if Path(u.path).is_file() and u.utt_id in known:
            out.append((u.utt_id, *known[u.utt_id]))
            continue
        if not Path(u.path).is_file():
            write_wav(u.path, synthesize_utterance(u.spk, u.text, fs, rate=u.rate, pitch=u.pitch), fs)
        x, _ = load_audio(u.path, fs=fs)  # the level of the samples as stored, as the mixing reads them
        out.append((u.utt_id, int(x.size), active_level(x.astype(np.float64), fs)))
    return out


def synthesize_utterance(spk: Speaker, text: str, fs: int, rate: int | None = None, pitch: int | None = None) -> np.ndarray:
    """Speak ``text`` with speaker ``spk``; float64 (L,) at ``fs``, peak <= 0.99."""
    engine = espeak()
    raw = engine.synthesize(
        text,
        language=spk.language,
        variant=spk.variant,
        rate=spk.rate if rate is None else rate,
        pitch=spk.pitch if pitch is None else pitch,
        pitch_range=spk.pitch_range,
        wordgap=spk.wordgap,
        seed=zlib.crc32(f"{spk.spk_id}|{text}".encode()) & 0x7FFFFFFF,  # the same on every run
    )
    if raw.size == 0:
        raise DataError(f"eSpeak NG produced no audio for speaker {spk.spk_id} and text {text!r}")
    x = resample(raw.astype(np.float64) / 32768.0, engine.fs, fs)
    peak = np.abs(x).max()
    if peak > 0.99:
        x *= 0.99 / peak
    return x


CALIBRATION_TEXT = "The small boat drifted slowly along the calm river before the evening rain began."


def _calibrate_chunk(speakers: Sequence[Speaker], fs: int) -> list[float]:
    return [median_f0(synthesize_utterance(s, CALIBRATION_TEXT, fs), fs) for s in speakers]


def _category(labels: Sequence[str], order: Sequence[str], sep: str) -> str:
    return sep.join(sorted(labels, key=lambda v: (order.index(v) if v in order else len(order), v)))


def _fmt_gain(g: float) -> str:
    s = f"{g:.5g}"
    return "0" if s in ("0", "-0") else s


def prepare_tts_mix(
    config: TTSMixConfig,
    audio_dir: str | Path,
    data_dir: str | Path,
    nj: int = 1,
) -> dict[str, Path]:
    """Generate the built-in corpus: speakers, utterances, mixtures and data dirs.

    Re-running with the same config reuses every file already written;
    running with a different config on the same ``audio_dir`` is an error.

    Args:
        config: sizes and settings.
        audio_dir: where the audio goes (``single/<spk>/<utt>.wav`` and
            ``<C>speakers/wav8k/<mode>/<split>/{mix,s1,..}/<name>.wav``).
        data_dir: where the Kaldi-style dirs go: ``<split>_<C>spk`` for the
            mixtures, ``single_<pool>`` for the single-speaker utterances,
            ``local/`` for speaker metadata.
        nj: parallel processes.

    Returns:
        Mixture data dir name (e.g. ``tr_2spk``) -> path.
    """
    config.validate()
    audio_dir, data_dir = Path(audio_dir).absolute(), Path(data_dir).absolute()
    audio_dir.mkdir(parents=True, exist_ok=True)
    _check_manifest(audio_dir, config)
    fs = config.fs

    # speakers and their pitch class
    train_spk = make_speakers(config.train_speakers, TRAIN_VARIANTS, "s", config.seed)
    test_spk = make_speakers(config.test_speakers, TEST_VARIANTS, "u", config.seed)
    speakers = train_spk + test_spk
    f0_cache = audio_dir / "spk2f0.json"
    f0 = json.loads(f0_cache.read_text()) if f0_cache.is_file() else {}
    todo = [s for s in speakers if s.spk_id not in f0]
    if todo:
        chunks = [todo[i : i + 8] for i in range(0, len(todo), 8)]
        res = run_chunks(_calibrate_chunk, chunks, nj, Progress(len(todo), "speaker f0"), fs, fresh_process=True)
        for s, v in zip(todo, (v for part in res for v in part)):
            f0[s.spk_id] = v
        from dcsep.utils import atomic_write_text

        atomic_write_text(f0_cache, json.dumps(f0, indent=1, sort_keys=True))
    pitch = {
        s.spk_id: ("high" if f0[s.spk_id] >= config.pitch_threshold_hz else "low")
        for s in speakers
        if np.isfinite(f0[s.spk_id])
    }
    missing = [s.spk_id for s in speakers if s.spk_id not in pitch]
    if missing:
        raise DataError(f"could not measure the pitch of speakers {missing[:5]} (no voiced frames)")

    # utterances: texts and per-utterance jitter follow from (seed, speaker, pool, index)
    maker = SentenceMaker()
    pools: dict[str, list[_Utt]] = {p: [] for p in ("tr", "cv", "tt_closed", "tt")}
    for spk_idx, spk in enumerate(speakers):
        plan = config.train_utts.items() if spk in train_spk else [("tt", config.test_utts)]
        for pool_idx, (pool, n) in enumerate(plan):
            for k in range(n):
                rng = np.random.default_rng([config.seed, spk_idx, pool_idx, k, 0x7E57])
                text = maker.sentence(rng, *config.words)
                rate = int(round(spk.rate * rng.uniform(0.94, 1.06)))
                ptc = int(np.clip(spk.pitch + rng.integers(-3, 4), 0, 100))
                utt_id = f"{spk.spk_id}_{pool}{k + 1:03d}" if pool != "tt" else f"{spk.spk_id}_{k + 1:03d}"
                path = audio_dir / "single" / spk.spk_id / f"{utt_id}.wav"
                pools[pool].append(_Utt(utt_id, spk, text, rate, ptc, str(path)))
    all_utts = [u for p in pools.values() for u in p]
    chunks = [all_utts[i : i + 16] for i in range(0, len(all_utts), 16)]
    # lengths and active levels of the utterances (levels are reused by every mixture)
    table = audio_dir / "single" / "utt2info.tsv"
    known: dict[str, tuple[int, float]] = {}
    if table.is_file():
        for line in table.read_text(encoding="utf-8").splitlines():
            f = line.split("\t")
            if len(f) == 3:
                known[f[0]] = (int(f[1]), float(f[2]))
    # one fresh process per chunk: the audio is the same on every run, with any nj
    res = run_chunks(_synth_chunk, chunks, nj, Progress(len(all_utts), "synthesis"), fs, known, fresh_process=True)
    info = {u: (n, lev) for part in res for (u, n, lev) in part}
    from dcsep.utils import atomic_write_text

    atomic_write_text(table, "".join(f"{u}\t{n}\t{lev!r}\n" for u, (n, lev) in sorted(info.items())))
    lengths = {u: n for u, (n, _) in info.items()}
    levels = {u: lev for u, (_, lev) in info.items()}

    # single-speaker data dirs (for dynamic mixing and inspection) and speaker metadata
    _write_speaker_tables(data_dir / "local", speakers, f0, pitch, set(s.spk_id for s in test_spk))
    for pool, utts in pools.items():
        _write_single_dir(data_dir / f"single_{pool}", utts, lengths, fs, pitch)

    # mixtures
    out: dict[str, Path] = {}
    for num_spk, sets in sorted(config.mixtures.items()):
        for split, count in sets.items():
            pool = pools[split]
            specs = _draw_mixtures(pool, num_spk, count, config, split)
            by_id = {u.utt_id: u for u in pool}
            set_dir = audio_dir / f"{num_spk}speakers" / f"wav{fs // 1000}k" / config.mode / split
            records = create_mixtures(
                specs, set_dir, fs=fs, mode=config.mode, nj=nj, levels=levels,
                label=f"{split} {num_spk}-speaker mixtures",
            )  # fmt: skip
            # utt2category: the speakers' pitch classes (as the gender pairs of the paper's Table 3);
            # the voice variants' genders mostly coincide with them and are in local/speakers.tsv
            extra = {"utt2category": {}, "utt2spks": {}}
            for spec in specs:
                spks = [by_id[u].spk for u in spec.source_ids]
                extra["utt2category"][spec.name] = _category([pitch[s.spk_id] for s in spks], ["low", "high"], "-")
                extra["utt2spks"][spec.name] = " ".join(s.spk_id for s in spks)
            name = f"{split}_{num_spk}spk"
            out[name] = write_mixture_datadir(data_dir / name, records, fs, extra)
    return out


def _draw_mixtures(pool: Sequence[_Utt], num_spk: int, count: int, config: TTSMixConfig, split: str) -> list[MixSpec]:
    by_spk: dict[str, list[_Utt]] = {}
    for u in pool:
        by_spk.setdefault(u.spk.spk_id, []).append(u)
    spk_ids = sorted(by_spk)
    rng = np.random.default_rng([config.seed, num_spk, SPLITS.index(split), 0x313])
    specs: list[MixSpec] = []
    seen: set[tuple[str, ...]] = set()
    tries = 0
    while len(specs) < count:
        tries += 1
        if tries > 100 * count + 1000:
            raise ConfigError(
                f"mixtures.{num_spk}.{split}: cannot draw {count} distinct mixtures from "
                f"{len(pool)} utterances of {len(spk_ids)} speakers; lower the count or add utterances"
            )
        chosen = rng.choice(len(spk_ids), size=num_spk, replace=False)
        utts = [by_spk[spk_ids[i]][rng.integers(len(by_spk[spk_ids[i]]))] for i in chosen]
        key = tuple(sorted(u.utt_id for u in utts))
        if key in seen:
            continue
        seen.add(key)
        g1 = float(np.round(rng.uniform(-config.max_gain_db, config.max_gain_db), 4))
        gains = [g1, -g1] + [0.0] * (num_spk - 2)
        name = "_".join(f"{u.utt_id}_{_fmt_gain(g)}" for u, g in zip(utts, gains))
        specs.append(MixSpec(name, tuple(u.path for u in utts), tuple(gains), tuple(u.utt_id for u in utts)))
    return specs


def _write_speaker_tables(local: Path, speakers, f0, pitch, test_ids) -> None:
    from dcsep.data.datadir import write_scp
    from dcsep.utils import atomic_write_text

    local.mkdir(parents=True, exist_ok=True)
    cols = ["spk_id", "set", "language", "variant", "gender", "pitch", "pitch_range", "rate", "wordgap", "f0_hz", "pitch_class"]
    lines = ["\t".join(cols)]
    for s in speakers:
        d = asdict(s)
        d.update({"set": "test" if s.spk_id in test_ids else "train", "f0_hz": f"{f0[s.spk_id]:.1f}", "pitch_class": pitch[s.spk_id]})
        lines.append("\t".join(str(d[c]) for c in cols))
    atomic_write_text(local / "speakers.tsv", "\n".join(lines) + "\n")
    write_scp(local / "spk2gender", {s.spk_id: s.gender for s in speakers})
    write_scp(local / "spk2pitch", {s.spk_id: pitch[s.spk_id] for s in speakers})


def _write_single_dir(d: Path, utts: Sequence[_Utt], lengths: dict[str, int], fs: int, pitch) -> None:
    from dcsep.data.datadir import write_scp

    d.mkdir(parents=True, exist_ok=True)
    write_scp(d / "wav.scp", {u.utt_id: u.path for u in utts})
    write_scp(d / "utt2spk", {u.utt_id: u.spk.spk_id for u in utts})
    spk2utt: dict[str, list[str]] = {}
    for u in sorted(utts, key=lambda u: u.utt_id):
        spk2utt.setdefault(u.spk.spk_id, []).append(u.utt_id)
    write_scp(d / "spk2utt", {k: " ".join(v) for k, v in spk2utt.items()})
    write_scp(d / "spk2gender", {u.spk.spk_id: u.spk.gender for u in utts})
    write_scp(d / "spk2pitch", {u.spk.spk_id: pitch[u.spk.spk_id] for u in utts})
    write_scp(d / "text", {u.utt_id: u.text for u in utts})
    write_scp(d / "utt2dur", {u.utt_id: f"{lengths[u.utt_id] / fs:.4f}" for u in utts})


def _check_manifest(audio_dir: Path, config: TTSMixConfig) -> None:
    """Refuse to mix files of two different configurations in one dir.

    Only what decides the single-speaker audio must match (speakers, texts,
    fs); mixture counts may change between runs.
    """
    from dcsep.utils import atomic_write_text

    key = {
        "seed": config.seed,
        "fs": config.fs,
        "train_speakers": config.train_speakers,
        "test_speakers": config.test_speakers,
        "words": list(config.words),
        "train_variants": TRAIN_VARIANTS,
        "test_variants": TEST_VARIANTS,
    }
    manifest = audio_dir / "manifest.json"
    if manifest.is_file():
        old = json.loads(manifest.read_text())
        diff = sorted(k for k in set(old) | set(key) if old.get(k) != key.get(k))
        if diff:
            raise DataError(
                f"{audio_dir} holds a corpus generated with other settings (differ: {', '.join(diff)}); "
                "remove it or choose another directory"
            )
    else:
        atomic_write_text(manifest, json.dumps(key, indent=1, sort_keys=True) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dcsep.data.tts --config conf/data_small.yaml --audio-dir DIR --data-dir DIR``."""
    import argparse
    import sys

    from dcsep.errors import DcsepError

    p = argparse.ArgumentParser(prog="python -m dcsep.data.tts", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="corpus YAML (see TTSMixConfig); default: built-in small size")
    p.add_argument("--audio-dir", required=True, help="where the generated audio goes")
    p.add_argument("--data-dir", required=True, help="where the Kaldi-style data dirs go")
    p.add_argument("--nj", type=int, default=1, help="parallel processes")
    p.add_argument("--seed", type=int, help="override the config's seed")
    args = p.parse_args(argv)
    try:
        cfg = TTSMixConfig.from_yaml(args.config) if args.config else TTSMixConfig()
        if args.seed is not None:
            cfg.seed = args.seed
        dirs = prepare_tts_mix(cfg, args.audio_dir, args.data_dir, nj=max(1, args.nj))
    except DcsepError as e:
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 1
    for name, path in dirs.items():
        n = sum(1 for _ in open(path / "wav.scp", encoding="utf-8"))
        print(f"{name}: {n} mixtures in {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
