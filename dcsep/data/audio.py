"""Audio reading and writing with checks that name the file and the problem."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import soundfile as sf

from dcsep.errors import DataError
from dcsep.utils import atomic_path

ARK_RE = re.compile(r"^(?P<path>.+\.ark):(?P<offset>\d+)$")


def _wav_missing_bytes(path: str) -> int:
    """Bytes the RIFF/WAVE header promises in its ``data`` chunk but the file lacks.

    libsndfile quietly shortens a truncated WAV to what is there, so a cut-off
    copy would pass for a shorter utterance. 0 for other formats, for complete
    files and for streamed headers whose size field is a placeholder.
    """
    size = Path(path).stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return 0
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            cid, clen = chunk[:4], int.from_bytes(chunk[4:8], "little")
            if cid == b"data":
                if clen in (0, 0xFFFFFFFF):  # size unknown when the header was written
                    return 0
                return max(0, pos + 8 + clen - size)
            pos += 8 + clen + (clen & 1)
    return 0


def load_audio(
    spec: str | Path,
    fs: int | None = None,
    channel: int | None = None,
    name: str | None = None,
    allow_silent: bool = True,
) -> tuple[np.ndarray, int]:
    """Read a mono waveform as float32 in [-1, 1].

    Args:
        spec: a file path (any format libsndfile reads) or a kaldiio ark
            entry ``file.ark:offset``.
        fs: expected sample rate; a mismatch is an error.
        channel: pick this channel of a multi-channel file; without it a
            multi-channel file is an error.
        name: how to name the input in errors (e.g. the utterance id).

    Returns:
        (wav, sample_rate); wav: (L,) float32.
    """
    label = f"{name} ({spec})" if name else str(spec)
    spec = str(spec)
    if spec.rstrip().endswith("|"):
        raise DataError(f"{label}: piped commands in scp files are not supported; convert to files first")
    try:
        if ARK_RE.match(spec):
            import kaldiio

            rate, data = kaldiio.load_mat(spec)
            data = np.asarray(data)
            if data.dtype.kind == "i":
                data = data.astype(np.float32) / 32768.0
        else:
            if not Path(spec).is_file():
                what = "not a regular file" if Path(spec).exists() else "file not found"
                raise DataError(f"{label}: {what}")
            if Path(spec).stat().st_size == 0:
                raise DataError(f"{label}: empty file (0 bytes)")
            missing = _wav_missing_bytes(spec)
            if missing:
                raise DataError(f"{label}: truncated WAV file ({missing} bytes of audio data missing)")
            data, rate = sf.read(spec, dtype="float32", always_2d=True)
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{label}: cannot read audio: {e}") from None
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        if data.shape[1] == 1:
            data = data[:, 0]
        elif channel is not None:
            if not 0 <= channel < data.shape[1]:
                raise DataError(f"{label}: channel {channel} asked for, file has {data.shape[1]}")
            data = data[:, channel]
        else:
            raise DataError(f"{label}: {data.shape[1]} channels; dcsep separates mono audio (choose a channel)")
    if data.size == 0:
        raise DataError(f"{label}: empty audio (0 samples)")
    if fs is not None and rate != fs:
        raise DataError(f"{label}: sample rate {rate} Hz, expected {fs} Hz")
    if not np.all(np.isfinite(data)):
        raise DataError(f"{label}: contains NaN or Inf samples")
    return np.ascontiguousarray(data), int(rate)


def write_wav(path: str | Path, wav: np.ndarray, fs: int, subtype: str = "PCM_16") -> None:
    """Write a mono wav atomically (temporary file, then rename); clips to [-1, 1)."""
    wav = np.asarray(wav, dtype=np.float32)
    if subtype.startswith("PCM"):
        wav = np.clip(wav, -1.0, 1.0 - 1.0 / 32768)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), wav, fs, subtype=subtype, format="WAV")
