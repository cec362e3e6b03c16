"""Audio input: any format soundfile reads, integer PCM, channels, resampling."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import soundfile as sf

import dcsep.data.audio
from dcsep.data.audio import as_mono, check_rate, load_audio, pcm_to_float, resample, write_wav
from dcsep.errors import DataError


def tone(freq: float, rate: int, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def level_db(x: np.ndarray, ref_power: float = 0.125) -> float:
    return 10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2) / ref_power + 1e-30)


FORMATS = [("wav", "WAV", "PCM_16", 1e-4), ("flac", "FLAC", "PCM_16", 1e-4), ("ogg", "OGG", "VORBIS", 0.05)]
if "MP3" in sf.available_formats():
    FORMATS.append(("mp3", "MP3", "MPEG_LAYER_III", 0.1))


@pytest.mark.parametrize("ext, fmt, subtype, tol", FORMATS, ids=[f[0] for f in FORMATS])
def test_formats_rates_and_channels(tmp_path, ext, fmt, subtype, tol):
    """Each format at 44.1 kHz in two channels: picked, downmixed, or refused without a channel."""
    rate = 44100
    left, right = tone(440, rate), tone(660, rate, amp=0.3)
    path = tmp_path / f"stereo.{ext}"
    sf.write(path, np.stack([left, right], 1), rate, format=fmt, subtype=subtype)
    wav, fs = load_audio(path, channel=1)
    assert fs == rate and wav.dtype == np.float32
    n = min(len(wav), len(right))  # lossy coders may pad the end
    core = slice(rate // 10, n - rate // 10)
    np.testing.assert_allclose(wav[:n][core], right[:n][core], atol=max(tol, 1e-4) * 5)
    mean, _ = load_audio(path, channel="mean")
    np.testing.assert_allclose(mean[:n][core], ((left + right) / 2)[:n][core], atol=max(tol, 1e-4) * 5)
    with pytest.raises(DataError, match="2 channels"):
        load_audio(path)
    with pytest.raises(DataError, match="channel 2 asked for"):
        load_audio(path, channel=2)
    with pytest.raises(DataError, match="expected 8000 Hz"):
        load_audio(path, fs=8000, channel=0)


def test_channel_choice_is_logged(tmp_path, caplog):
    path = tmp_path / "four.wav"
    sf.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, (800, 4)), 8000)
    with caplog.at_level("INFO", logger="dcsep"):
        load_audio(path, channel="mean")
        load_audio(path, channel=3)
    assert "4 channels, downmixed to mono (their mean)" in caplog.text and "channel 3 taken" in caplog.text
    with pytest.raises(DataError, match="an index or 'mean'"):
        load_audio(path, channel="left")


def test_integer_pcm_and_ark(tmp_path):
    np.testing.assert_allclose(pcm_to_float(np.array([0, 128, 255], dtype=np.uint8)), [-1, 0, 127 / 128])
    np.testing.assert_allclose(pcm_to_float(np.array([-(2**15), 2**14], dtype=">i2")), [-1, 0.5])  # big-endian too
    np.testing.assert_allclose(pcm_to_float(np.array([2**30], dtype=np.int32)), [0.5])
    for dtype in (np.int8, np.int64, np.uint16, np.uint64):
        with pytest.raises(DataError, match="no PCM scale"):
            pcm_to_float(np.zeros(3, dtype=dtype), "x")
    with pytest.raises(DataError, match="NaN or Inf"):
        as_mono(np.array([1e39, 0.0]))  # finite in float64, not in float32
    with pytest.raises(DataError, match="numeric"):
        as_mono(np.array(["a", "b"]))
    kaldiio = pytest.importorskip("kaldiio")
    ark = tmp_path / "a.ark"
    with kaldiio.WriteHelper(f"ark,scp:{ark},{tmp_path / 'a.scp'}") as w:
        w("u1", (8000, np.array([16384, -32768, 0], dtype=np.int16)))
    spec = (tmp_path / "a.scp").read_text().split()[1]
    wav, rate = load_audio(spec)
    assert rate == 8000
    np.testing.assert_allclose(wav, [0.5, -1.0, 0.0])


@pytest.mark.parametrize("fs_in, fs_out", [(44100, 8000), (16000, 8000), (48000, 8000), (8000, 44100), (22050, 16000)])
def test_resample_keeps_the_band_and_removes_aliases(fs_in, fs_out):
    """A tone below both Nyquist frequencies passes (to -60 dB), one above the new one is gone (below -90 dB)."""
    low = min(fs_in, fs_out)
    x = tone(0.3 * low, fs_in)
    y = resample(x, fs_in, fs_out)
    assert y.shape == (int(np.ceil(len(x) * fs_out / fs_in)),) and y.dtype == np.float32
    core = slice(fs_out // 10, -fs_out // 10)
    assert level_db(y[core] - tone(0.3 * low, fs_out)[: len(y)][core]) < -60
    if fs_out < fs_in:
        alias = resample(tone(0.6 * fs_out, fs_in), fs_in, fs_out)  # above fs_out / 2: would fold back
        assert level_db(alias[core]) < -90


def test_resample_shapes_and_lengths():
    x = np.random.default_rng(0).standard_normal((3, 4410)).astype(np.float32)
    y = resample(x, 44100, 8000)
    assert y.shape == (3, 800)
    np.testing.assert_allclose(y[1], resample(x[1], 44100, 8000), atol=1e-6)  # channels are independent
    assert resample(x, 44100, 8000, length=900).shape == (3, 900)
    assert not resample(x, 44100, 8000, length=900)[:, 800:].any()
    assert resample(x[0], 44100, 8000, length=10).shape == (10,)
    np.testing.assert_array_equal(resample(x, 8000, 8000), x)
    for bad in (0, -8000, 8000.5, "8000", None, True):
        with pytest.raises(DataError, match="sample rate"):
            check_rate(bad)
    assert check_rate(16000.0) == 16000


def test_write_wav_round_trip(tmp_path):
    x = tone(300, 8000)
    write_wav(tmp_path / "a.wav", x, 8000)
    y, rate = load_audio(tmp_path / "a.wav", fs=8000)
    np.testing.assert_allclose(y, x, atol=1 / 32768)


def test_docstring_examples():
    assert doctest.testmod(dcsep.data.audio, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE).failed == 0
