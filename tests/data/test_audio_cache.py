"""Tests of dcsep.data.audio_cache: the resample-and-level cache and the audio-dir manifest."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from dcsep.data.audio_cache import LevelCache, check_manifest, convert_chunk
from dcsep.data.mixing import active_level
from dcsep.errors import DataError


def test_level_cache_merges_and_reads_back_exactly(tmp_path):
    cache = LevelCache(tmp_path)
    assert not cache.present and cache.read() == {}
    lev = 0.1 + 1e-17 * 3
    cache.update({"b": (10, lev), "a": (20, 1 / 3)})
    cache.update({"c": (5, 2.5e-7)})
    assert cache.read() == {"a": (20, 1 / 3), "b": (10, lev), "c": (5, 2.5e-7)}
    assert cache.load(["a", "c", "z"], exists=lambda u: u != "c") == {"a": (20, 1 / 3)}
    assert (tmp_path / "utt2activlev").read_text().splitlines()[0] == f"a {1 / 3!r}"


def test_convert_chunk_resamples_once_and_measures_the_stored_samples(tmp_path):
    rng = np.random.default_rng(0)
    x = 0.3 * rng.standard_normal(16000)
    sf.write(tmp_path / "src.flac", x, 16000, subtype="PCM_16")
    dst = tmp_path / "out" / "u.wav"
    [(utt, n, lev)] = convert_chunk([("u", str(tmp_path / "src.flac"), str(dst))], 8000)
    y, fs = sf.read(dst)
    assert (utt, n, fs) == ("u", 8000, 8000) and y.size == n
    # measured on a 16-bit model of the samples written (what the recipes have always stored),
    # within 1e-5 of the file's own level (libsndfile's rounding differs in the last bit)
    assert lev == pytest.approx(active_level(y, 8000), rel=1e-5)
    mtime = dst.stat().st_mtime_ns
    assert convert_chunk([("u", str(tmp_path / "src.flac"), str(dst))], 8000) == [("u", n, active_level(y, 8000))]
    assert dst.stat().st_mtime_ns == mtime  # not rewritten


def test_manifest_refuses_other_settings(tmp_path):
    check_manifest(tmp_path, {"fs": 8000, "speakers": [1, 2]})
    check_manifest(tmp_path, {"fs": 8000, "speakers": (1, 2)})  # the same once written as JSON
    with pytest.raises(DataError, match=r"holds audio made with other settings \(differ: fs\)"):
        check_manifest(tmp_path, {"fs": 16000, "speakers": [1, 2]})
