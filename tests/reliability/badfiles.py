"""Writers of broken inputs shared by the reliability tests.

Each writer creates one bad file and returns ``(path, pattern)``, with
``pattern`` a regular expression the user-facing error must match (besides
naming the file).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

FS = 8000


def tone(seconds: float = 0.5, fs: int = FS) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _missing(d: Path):
    return d / "missing.wav", "file not found"


def _empty(d: Path):
    p = d / "empty.wav"
    p.write_bytes(b"")
    return p, r"empty file \(0 bytes\)"


def _header_only(d: Path):
    p = d / "header_only.wav"
    sf.write(p, np.zeros(0, np.float32), FS, subtype="PCM_16")
    return p, r"empty audio \(0 samples\)"


def _truncated(d: Path):
    p = d / "truncated.wav"
    sf.write(p, tone(), FS, subtype="PCM_16")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p, "truncated WAV"


def _truncated_header(d: Path):
    p = d / "truncated_header.wav"
    sf.write(p, tone(), FS, subtype="PCM_16")
    p.write_bytes(p.read_bytes()[:20])
    return p, "cannot read audio"


def _not_audio(d: Path):
    p = d / "text.wav"
    p.write_text("this is not a wav file\n" * 10)
    return p, "cannot read audio"


def _directory(d: Path):
    p = d / "dir.wav"
    p.mkdir()
    return p, "not a regular file"


def _wrong_rate(d: Path):
    p = d / "rate16k.wav"
    sf.write(p, tone(fs=16000), 16000, subtype="PCM_16")
    return p, "sample rate 16000 Hz, expected 8000 Hz"


def _stereo(d: Path):
    p = d / "stereo.wav"
    x = tone()
    sf.write(p, np.stack([x, x], 1), FS, subtype="PCM_16")
    return p, "2 channels"


def _nan(d: Path):
    p = d / "nan.wav"
    x = tone()
    x[100] = np.nan
    sf.write(p, x, FS, subtype="FLOAT")
    return p, "NaN or Inf"


def _inf(d: Path):
    p = d / "inf.wav"
    x = tone()
    x[-1] = -np.inf
    sf.write(p, x, FS, subtype="FLOAT")
    return p, "NaN or Inf"


def _unreadable(d: Path):
    p = d / "noperm.wav"
    sf.write(p, tone(), FS, subtype="PCM_16")
    os.chmod(p, 0)
    return p, "(cannot read audio|[Pp]ermission denied)"


BAD_WAVS = {
    "missing": _missing,
    "empty_0_bytes": _empty,
    "header_only": _header_only,
    "truncated": _truncated,
    "truncated_header": _truncated_header,
    "not_audio": _not_audio,
    "directory": _directory,
    "wrong_sample_rate": _wrong_rate,
    "multi_channel": _stereo,
    "nan_samples": _nan,
    "inf_samples": _inf,
    "unreadable": _unreadable,
}

#: Kinds that need a non-root user (root reads files with mode 000).
NEEDS_NON_ROOT = {"unreadable"}


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def make_bad_wav(kind: str, d: Path):
    d.mkdir(parents=True, exist_ok=True)
    return BAD_WAVS[kind](d)
