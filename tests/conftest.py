"""Shared fixtures: a tiny generated corpus in Kaldi layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

torch.set_num_threads(1)


def harmonic_voice(rng: np.random.Generator, f0: float, seconds: float, fs: int = 8000) -> np.ndarray:
    """A crude voiced signal: harmonics of a slowly gliding f0 under a syllabic envelope."""
    n = int(seconds * fs)
    t = np.arange(n) / fs
    f0_track = f0 * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    phase = 2 * np.pi * np.cumsum(f0_track) / fs
    sig = sum(np.sin(h * phase) / h for h in range(1, 12) if h * f0 * 1.1 < fs / 2)
    env = 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 6.3))
    return (sig * env * 0.1).astype(np.float32)


def make_source_dir(root: Path, num_spk: int = 5, utts: int = 3, seed: int = 0, levels: bool = False,
                    subtype: str = "PCM_16") -> Path:
    """A dir of single-speaker utterances (0.6-1.2 s, 8 kHz) with wav.scp, utt2spk [, utt2activlev]."""
    from dcsep.data.mixing import active_level

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    wav, u2s, lev = [], [], []
    for s in range(num_spk):
        for k in range(utts):
            utt = f"spk{s}_u{k}"
            x = harmonic_voice(rng, 100 + 40 * s, rng.uniform(0.6, 1.2), 8000) * rng.uniform(0.3, 3.0)
            p = root / "wav" / f"{utt}.wav"
            p.parent.mkdir(exist_ok=True)
            sf.write(p, x, 8000, subtype=subtype)
            wav.append(f"{utt} {p}\n")
            u2s.append(f"{utt} spk{s}\n")
            if levels:
                lev.append(f"{utt} {active_level(sf.read(p)[0], 8000)!r}\n")
    (root / "wav.scp").write_text("".join(wav))
    (root / "utt2spk").write_text("".join(u2s))
    if levels:
        (root / "utt2activlev").write_text("".join(lev))
    return root


def make_tiny_corpus(
    root: Path, num_utts: int = 8, num_spk: int = 2, seconds: float = 1.0, fs: int = 8000, seed: int = 0
) -> Path:
    """Write ``root`` as a data dir (wav.scp, spk1..C.scp, utt2spk) of generated mixtures.

    Speaker c has f0 around 100 * (c + 1) Hz, so the sources are separable.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "wav").mkdir(parents=True, exist_ok=True)
    scps = {name: [] for name in ["wav"] + [f"spk{c + 1}" for c in range(num_spk)]}
    for i in range(num_utts):
        utt = f"utt{i:03d}"
        srcs = [harmonic_voice(rng, 100.0 * (c + 1) * rng.uniform(0.9, 1.1), seconds, fs) for c in range(num_spk)]
        mix = np.sum(srcs, axis=0)
        for name, sig in [("wav", mix)] + [(f"spk{c + 1}", s) for c, s in enumerate(srcs)]:
            p = root / "wav" / f"{utt}_{name}.wav"
            sf.write(p, sig, fs, subtype="FLOAT")
            scps[name].append(f"{utt} {p}\n")
    for name, lines in scps.items():
        (root / f"{name}.scp").write_text("".join(lines))
    (root / "utt2spk").write_text("".join(f"utt{i:03d} utt{i:03d}\n" for i in range(num_utts)))
    return root


@pytest.fixture
def tiny_datadir(tmp_path) -> Path:
    """A data dir of 8 two-speaker one-second mixtures at 8 kHz."""
    return make_tiny_corpus(tmp_path / "data")


TINY_MODEL = {
    "encoder": "blstm",
    "encoder_conf": {"num_layers": 1, "hidden_units": 16, "embed_dim": 8},
    "clusterer_conf": {"n_init": 1},
}


@pytest.fixture
def tiny_model_config() -> dict:
    """A model config small enough for unit tests."""
    import copy

    return copy.deepcopy(TINY_MODEL)
