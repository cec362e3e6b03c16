"""Audio reading, conversion, resampling and writing, with checks that name the input and the problem.

* :func:`load_audio` reads a file (any format libsndfile reads: wav, flac, ogg,
  mp3 with libsndfile >= 1.1) or a kaldiio ark entry;
* :func:`as_mono` turns numpy or torch input (float, or integer PCM) into a
  mono float32 waveform, picking or downmixing channels;
* :func:`resample` converts between sample rates with soxr (the "HQ" quality:
  at least 100 dB of stopband rejection; ``bench/bench_resample.py`` measures
  it against ``scipy.signal.resample_poly``);
* :func:`write_wav` writes atomically.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from dcsep.errors import DataError
from dcsep.utils import atomic_path

ARK_RE = re.compile(r"^(?P<path>.+\.ark):(?P<offset>\d+)$")
#: ``channel=DOWNMIX``: a multi-channel input becomes the mean of its channels.
DOWNMIX = "mean"
#: integer PCM types: (kind, bytes) -> (offset, scale); other integer types are refused.
PCM_TYPES = {("u", 1): (128.0, 2.0**7), ("i", 2): (0.0, 2.0**15), ("i", 4): (0.0, 2.0**31)}

log = logging.getLogger("dcsep.audio")


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


def pcm_to_float(wav: np.ndarray, name: str = "input") -> np.ndarray:
    """Integer PCM samples as float64 in [-1, 1); float input is returned as it is.

    uint8 is offset binary (128 is silence), int16 and int32 are two's
    complement; other integer types (int8, int64, uint16...) have no agreed
    PCM scale and are refused.

    Example:
        >>> pcm_to_float(np.array([0, 128, 255], dtype=np.uint8))
        array([-1.       ,  0.       ,  0.9921875])
        >>> pcm_to_float(np.array([16384, -32768], dtype=np.int16))
        array([ 0.5, -1. ])
    """
    if wav.dtype.kind not in "iu":
        return wav
    key = (wav.dtype.kind, wav.dtype.itemsize)
    if key not in PCM_TYPES:
        raise DataError(
            f"{name}: integer samples of dtype {wav.dtype} have no PCM scale; give int16, int32 or uint8 PCM, "
            "or float samples in [-1, 1]"
        )
    offset, scale = PCM_TYPES[key]
    return (wav.astype(np.float64) - offset) / scale


def _channels_to_mono(wav: np.ndarray, axis: int, channel: int | str | None, name: str) -> np.ndarray:
    """Pick ``channel`` of ``wav`` along ``axis``, or downmix (``DOWNMIX``); None: an error."""
    n_ch = wav.shape[axis]
    if channel is None:
        raise DataError(
            f"{name}: {n_ch} channels; dcsep separates mono audio (pick one with a channel index, "
            f"or downmix with channel={DOWNMIX!r})"
        )
    if isinstance(channel, str):
        if channel != DOWNMIX:
            raise DataError(f"{name}: channel must be an index or {DOWNMIX!r}, got {channel!r}")
        log.info("%s: %d channels, downmixed to mono (their mean)", name, n_ch)
        return wav.mean(axis=axis, dtype=np.float64)
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not 0 <= channel < n_ch:
        raise DataError(f"{name}: channel {channel!r} asked for, the input has {n_ch} (0..{n_ch - 1})")
    log.info("%s: %d channels, channel %d taken", name, n_ch, channel)
    return np.take(wav, int(channel), axis=axis)


def _checked(wav: np.ndarray, name: str) -> np.ndarray:
    """float32 contiguous; empty input and NaN/Inf (also from an overflowing conversion) are errors."""
    if wav.size == 0:
        raise DataError(f"{name}: empty audio (0 samples)")
    with np.errstate(over="ignore", invalid="ignore"):
        wav = np.ascontiguousarray(wav, dtype=np.float32)
    if not np.all(np.isfinite(wav)):
        raise DataError(f"{name}: contains NaN or Inf samples (or values beyond the float32 range)")
    return wav


def as_mono(wav, channel: int | str | None = None, name: str = "input") -> np.ndarray:
    """A mono float32 waveform (L,) from numpy or torch input.

    Integer arrays are read as PCM (:func:`pcm_to_float`). A 2-D input with a
    singleton axis is mono; otherwise the shorter axis is taken as channels
    (so both ``(channels, L)`` and soundfile's ``(L, channels)`` work), and
    ``channel`` picks one (an index) or downmixes them (``"mean"``); with
    ``channel=None`` a multi-channel input is an error. Values that are not
    finite once in float32 are an error.

    Example:
        >>> as_mono(np.array([[0.5, 0.1, 0.2], [0.3, -0.1, 0.2]]), channel="mean")  # 2 channels, 3 samples
        array([0.4, 0. , 0.2], dtype=float32)
    """
    if hasattr(wav, "detach"):  # a torch tensor
        wav = wav.detach().cpu().numpy()
    wav = np.asarray(wav)
    if wav.dtype.kind not in "iuf":
        raise DataError(f"{name}: expected a numeric waveform, got dtype {wav.dtype}")
    wav = pcm_to_float(wav, name)
    if wav.ndim == 2:
        if 1 in wav.shape:
            wav = wav.reshape(-1)
        else:
            wav = _channels_to_mono(wav, 0 if wav.shape[0] < wav.shape[1] else 1, channel, f"{name} of shape {wav.shape}")
    elif wav.ndim != 1:
        raise DataError(f"{name}: expected a 1-D waveform, got shape {tuple(wav.shape)}")
    return _checked(wav, name)


def check_rate(fs, name: str = "fs") -> int:
    """``fs`` as a positive int (an integral float is accepted); anything else is a DataError."""
    if isinstance(fs, bool) or not isinstance(fs, (int, float, np.integer, np.floating)) or not float(fs).is_integer() or fs <= 0:
        raise DataError(f"{name}: a sample rate must be a positive whole number of Hz, got {fs!r}")
    return int(fs)


def resample(wav: np.ndarray, fs_in: int, fs_out: int, length: int | None = None) -> np.ndarray:
    """Resample with soxr (HQ quality).

    Args:
        wav: (L,) or (C, L) float waveform(s).
        fs_in, fs_out: sample rates in Hz.
        length: output length; the result is cut or zero-padded to it
            (default: soxr's, ``ceil(L * fs_out / fs_in)``).

    Returns:
        (L',) or (C, L') float32.

    Example:
        >>> y = resample(np.sin(2 * np.pi * 440 * np.arange(16000) / 16000), 16000, 8000)
        >>> y.shape, y.dtype
        ((8000,), dtype('float32'))
    """
    import soxr

    fs_in, fs_out = check_rate(fs_in, "fs_in"), check_rate(fs_out, "fs_out")
    x = np.asarray(wav, dtype=np.float32)
    if x.ndim not in (1, 2):
        raise DataError(f"resample: expected (L,) or (C, L), got shape {x.shape}")
    if fs_in == fs_out:
        y = x.copy()
    else:  # soxr takes (L,) or (L, C)
        y = soxr.resample(np.ascontiguousarray(x.T), fs_in, fs_out, quality="HQ").T
    if length is not None:
        n = y.shape[-1]
        if n >= length:
            y = y[..., :length]
        else:
            y = np.concatenate([y, np.zeros((*y.shape[:-1], length - n), dtype=y.dtype)], -1)
    return np.ascontiguousarray(y, dtype=np.float32)


def _load_ark_audio(spec: str, label: str) -> tuple[int, np.ndarray]:
    """(rate, samples) of a kaldiio ark entry ``file.ark:offset``; DataErrors say what is wrong with it."""
    import kaldiio

    m = ARK_RE.match(spec)
    path, offset = Path(m.group("path")), int(m.group("offset"))
    if not path.is_file():
        raise DataError(f"{label}: ark file {'not a regular file' if path.exists() else 'not found'}")
    size = path.stat().st_size
    if offset >= size:
        raise DataError(f"{label}: offset {offset} is past the end of {path} ({size} bytes); is the scp from another ark?")
    obj = kaldiio.load_mat(spec)
    if not (isinstance(obj, tuple) and len(obj) == 2):
        shape = getattr(obj, "shape", None)
        raise DataError(
            f"{label}: the ark entry holds a matrix{f' of shape {tuple(shape)}' if shape else ''} (features?), "
            "not audio; a wav ark entry holds (sample rate, samples)"
        )
    rate, data = obj
    return rate, pcm_to_float(np.asarray(data), label)


def load_audio(
    spec: str | Path,
    fs: int | None = None,
    channel: int | str | None = None,
    name: str | None = None,
    allow_silent: bool = True,
) -> tuple[np.ndarray, int]:
    """Read a mono waveform as float32 in [-1, 1].

    Args:
        spec: a file path (any format libsndfile reads) or a kaldiio ark
            entry ``file.ark:offset``.
        fs: expected sample rate; a mismatch is an error (resample with
            :func:`resample` instead where any rate will do).
        channel: pick this channel of a multi-channel file, or ``"mean"``
            to downmix its channels; without it a multi-channel file is an
            error.
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
            rate, data = _load_ark_audio(spec, label)
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
        raise DataError(f"{label}: cannot read audio: {e or type(e).__name__}") from None
    data = np.asarray(data)
    if data.ndim == 2:
        mono_ok = data.shape[1] == 1 and not (isinstance(channel, (int, np.integer)) and channel > 0)
        data = data[:, 0] if mono_ok else _channels_to_mono(data, 1, channel, label)  # channel 1 of a mono file: an error
    if fs is not None and rate != fs:
        raise DataError(f"{label}: sample rate {rate} Hz, expected {fs} Hz")
    return _checked(data, label), int(rate)


def write_wav(path: str | Path, wav: np.ndarray, fs: int, subtype: str = "PCM_16") -> None:
    """Write a mono wav atomically (temporary file, then rename); clips to [-1, 1)."""
    wav = np.asarray(wav, dtype=np.float32)
    if subtype.startswith("PCM"):
        wav = np.clip(wav, -1.0, 1.0 - 1.0 / 32768)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), wav, fs, subtype=subtype, format="WAV")
