"""The speakers of the built-in corpus: fixed eSpeak NG settings, and their voices.

Each speaker is a fixed combination of an eSpeak NG voice variant (the
``!v`` files: m1..m7, f1..f5, klatt*, named voices, ...), an English accent,
and pitch, pitch-range, speaking-rate and word-gap settings. The variants
used for the open-set test speakers never appear in training.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from dcsep.data.espeak import espeak
from dcsep.data.f0 import median_f0
from dcsep.data.mixing import resample
from dcsep.errors import DataError

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


def calibrate_chunk(speakers: Sequence[Speaker], fs: int) -> list[float]:
    return [median_f0(synthesize_utterance(s, CALIBRATION_TEXT, fs), fs) for s in speakers]
