"""A speechocean762-shaped corpus for the tests of tests/data/test_speechocean*.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import harmonic_voice

# 8 train-half speakers (2 per gender x age cell), 6 test-half speakers
TRAIN_SPK = [("1001", "f", 8), ("1002", "f", 9), ("1003", "f", 25), ("1004", "f", 30),
             ("1005", "m", 7), ("1006", "m", 11), ("1007", "m", 22), ("1008", "m", 35)]
TEST_SPK = [("2001", "f", 6), ("2002", "f", 27), ("2003", "m", 10), ("2004", "m", 40),
            ("2005", "f", 21), ("2006", "m", 8)]
UTTS_PER_SPK = 4  # listed in wav.scp
ORPHAN_SPK = {"1001", "1007", "2002"}  # one extra audio file without a wav.scp line

MICRO = {
    "cv_speakers": 2,
    "closed_utts_per_spk": 1,
    "mixtures": {2: {"tr": 8, "cv": 2, "tt_closed": 3, "tt": 4}, 3: {"tt": 2}},
}


def make_fake_corpus(root: Path, layout: str = "official", seed: int = 0) -> Path:
    """A speechocean762-shaped corpus: official (16 kHz .WAV) or copy (8 kHz .flac) layout."""
    rng = np.random.default_rng(seed)
    fs, ext = (16000, ".WAV") if layout == "official" else (8000, ".flac")
    for split, spks in (("train", TRAIN_SPK), ("test", TEST_SPK)):
        d = root / split
        d.mkdir(parents=True)
        wav, u2s, text = [], [], []
        for spk, g, age in spks:
            f0 = (220 if g == "f" else 120) * (1.3 if age < 18 else 1.0)
            n = UTTS_PER_SPK + (1 if spk in ORPHAN_SPK else 0)
            for k in range(n):
                utt = f"0{spk}{k + 1:04d}"
                rel = f"WAVE/SPEAKER{spk}/{utt}.WAV"
                path = root / f"WAVE/SPEAKER{spk}/{utt}{ext}"
                path.parent.mkdir(parents=True, exist_ok=True)
                x = harmonic_voice(rng, f0 * rng.uniform(0.95, 1.05), rng.uniform(0.8, 1.3), fs)
                sf.write(path, x, fs, subtype="PCM_16", format="WAV" if ext == ".WAV" else "FLAC")
                if k < UTTS_PER_SPK:
                    wav.append(f"{utt}\t{rel}\n")
                    u2s.append(f"{utt} {spk}\n")
                    text.append(f"{utt}\tWORD {k}\n")
        (d / "wav.scp").write_text("".join(wav))
        (d / "utt2spk").write_text("".join(u2s))
        (d / "text").write_text("".join(text))
        (d / "spk2gender").write_text("".join(f"{s}\t{g}\n" for s, g, _ in spks))
        (d / "spk2age").write_text("".join(f"{s}\t{a}\n" for s, _, a in spks))
    return root


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    base = tmp_path_factory.mktemp("so762")
    return {lay: make_fake_corpus(base / lay, lay) for lay in ("official", "flac")}
