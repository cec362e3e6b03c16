"""Broken audio through the Python API: one clear DataError naming the file."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dcsep.data.audio import load_audio, write_wav
from dcsep.errors import DataError

from .badfiles import BAD_WAVS, FS, NEEDS_NON_ROOT, is_root, make_bad_wav, tone


def _load_audio_without_root_powers(path) -> str:
    """The DataError message of ``load_audio(path)`` in a forked child that has entered a new
    user namespace, where root's permission override does not reach files of the real root."""
    import ctypes

    clone_newuser = 0x10000000
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: single-threaded, dcsep already imported
        try:
            if ctypes.CDLL(None, use_errno=True).unshare(clone_newuser) != 0:
                msg = "SKIP"
            else:
                try:
                    load_audio(path, fs=FS, name="utt1")
                    msg = "no error"
                except DataError as e:
                    msg = str(e)
            os.write(w, msg.encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        msg = f.read().decode()
    os.waitpid(pid, 0)
    if msg == "SKIP":
        pytest.skip("root reads files of mode 000, and no user namespace can be made here")
    return msg


@pytest.mark.parametrize("kind", sorted(BAD_WAVS))
def test_load_audio_rejects_bad_wav(tmp_path, kind):
    if kind in NEEDS_NON_ROOT and is_root():
        # the file must be reachable by "others": pytest's base temp dir is private
        with tempfile.TemporaryDirectory(prefix="dcsep-noperm-") as d:
            os.chmod(d, 0o755)
            path, pattern = make_bad_wav(kind, Path(d))
            msg = _load_audio_without_root_powers(path)
    else:
        path, pattern = make_bad_wav(kind, tmp_path)
        with pytest.raises(DataError) as info:
            load_audio(path, fs=FS, name="utt1")
        msg = str(info.value)
    assert "\n" not in msg
    assert str(path) in msg and "utt1" in msg
    assert re.search(pattern, msg), msg


def test_truncated_wav_is_not_read_as_shorter_audio(tmp_path):
    """libsndfile shortens a cut-off WAV silently; dcsep must not."""
    path, _ = make_bad_wav("truncated", tmp_path)
    assert sf.info(str(path)).frames > 0  # libsndfile alone would accept it
    with pytest.raises(DataError, match="truncated"):
        load_audio(path)


def test_streamed_wav_header_without_size_is_accepted(tmp_path):
    """A WAV written to a pipe has a placeholder data size; that is not truncation."""
    p = tmp_path / "stream.wav"
    sf.write(p, tone(), FS, subtype="PCM_16")
    data = bytearray(p.read_bytes())
    i = data.index(b"data")
    data[i + 4 : i + 8] = (0xFFFFFFFF).to_bytes(4, "little")
    p.write_bytes(bytes(data))
    wav, rate = load_audio(p, fs=FS)
    assert rate == FS and len(wav) == len(tone())


def test_wav_with_trailing_chunk_is_accepted(tmp_path):
    p = tmp_path / "tail.wav"
    sf.write(p, tone(), FS, subtype="PCM_16")
    p.write_bytes(p.read_bytes() + b"LIST\x04\x00\x00\x00abcd")
    wav, _ = load_audio(p, fs=FS)
    assert len(wav) == len(tone())


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_all_silent_wav_loads(tmp_path, subtype):
    p = tmp_path / "silent.wav"
    sf.write(p, np.zeros(FS, np.float32), FS, subtype=subtype)
    wav, _ = load_audio(p, fs=FS)
    assert wav.shape == (FS,) and not wav.any()


def test_write_wav_clips_loud_input_and_reads_back(tmp_path):
    x = np.array([0.0, 1.0, -1.0, 3.0, -7.5, 0.5], np.float32)
    write_wav(tmp_path / "o.wav", x, FS)
    y, _ = load_audio(tmp_path / "o.wav", fs=FS)
    assert np.all(np.isfinite(y)) and np.abs(y).max() <= 1.0


def test_piped_scp_entry_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(DataError, match="piped commands"):
        load_audio(f"touch {marker} |")
    assert not marker.exists()


def test_bad_ark_entries_say_what_is_wrong(tmp_path):
    """Issue 20 item 11: an offset past the end of the ark and a feature-matrix entry name the problem
    (they gave 'cannot read audio:' with no reason and 'too many values to unpack')."""
    kaldiio = pytest.importorskip("kaldiio")
    ark = tmp_path / "a.ark"
    with kaldiio.WriteHelper(f"ark,scp:{ark},{tmp_path / 'a.scp'}") as w:
        w["wav"] = (8000, (np.sin(np.arange(800) / 5) * 1000).astype(np.int16))
        w["feats"] = np.ones((10, 5), np.float32)
    entries = dict(ln.split() for ln in (tmp_path / "a.scp").read_text().splitlines())
    assert load_audio(entries["wav"])[1] == 8000
    size = ark.stat().st_size
    cases = {
        f"{ark}:{size + 100}": f"offset {size + 100} is past the end of {ark} ({size} bytes)",
        entries["feats"]: "the ark entry holds a matrix of shape (10, 5) (features?), not audio",
        f"{tmp_path / 'none.ark'}:5": "ark file not found",
    }
    for spec, message in cases.items():
        with pytest.raises(DataError) as e:
            load_audio(spec, name="utt1")
        assert str(e.value).startswith(f"utt1 ({spec}): {message}"), e.value
