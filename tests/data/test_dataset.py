"""Chunk datasets, collate, and the up-front data-dir check."""

from __future__ import annotations

import re
import signal

import numpy as np
import pytest
import soundfile as sf
import torch

from dcsep.data.dataset import (
    ChunkDataset,
    FixedChunkDataset,
    Utterance,
    WorkerInit,
    collate,
    probe_audio,
    read_item,
    scan_datadir,
)
from dcsep.errors import DataError
from conftest import make_tiny_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_tiny_corpus(tmp_path_factory.mktemp("ds") / "data", num_utts=4, seconds=1.0)


def test_scan_datadir(corpus):
    utts = scan_datadir(corpus, 8000)
    assert [u.utt for u in utts] == [f"utt{i:03d}" for i in range(4)]
    assert all(u.num_samples == 8000 and len(u.sources) == 2 for u in utts)


def _copy_dir(src, dst):
    dst.mkdir()
    for name in ("wav.scp", "spk1.scp", "spk2.scp"):
        (dst / name).write_text((src / name).read_text())
    return dst


def _set_entry(d, scp, utt, path):
    lines = (d / scp).read_text().splitlines()
    lines = [f"{utt} {path}" if line.split()[0] == utt else line for line in lines]
    (d / scp).write_text("\n".join(lines) + "\n")


def _bad_missing(d, tmp):
    _set_entry(d, "spk2.scp", "utt002", tmp / "nowhere.wav")
    return "spk2.scp", "utt002", "file not found"


def _bad_garbage(d, tmp):
    p = tmp / "garbage.wav"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    _set_entry(d, "wav.scp", "utt001", p)
    return "wav.scp", "utt001", "cannot read audio header"


def _bad_rate(d, tmp):
    p = tmp / "16k.wav"
    sf.write(p, np.zeros(16000, np.float32), 16000)
    _set_entry(d, "wav.scp", "utt003", p)
    return "wav.scp", "utt003", "sample rate 16000 Hz, expected 8000 Hz"


def _bad_short_source(d, tmp):
    p = tmp / "short.wav"
    sf.write(p, np.zeros(7000, np.float32), 8000)
    _set_entry(d, "spk1.scp", "utt000", p)
    return "spk1.scp", "utt000", "shorter than the mixture"


def _bad_stereo(d, tmp):
    p = tmp / "stereo.wav"
    sf.write(p, np.zeros((8000, 2), np.float32), 8000)
    _set_entry(d, "spk1.scp", "utt001", p)
    return "spk1.scp", "utt001", "2 channels"


def _bad_truncated(d, tmp):
    p = tmp / "trunc.wav"
    sf.write(p, np.zeros(8000, np.float32), 8000, subtype="PCM_16")
    p.write_bytes(p.read_bytes()[:2000])
    _set_entry(d, "wav.scp", "utt002", p)
    return "wav.scp", "utt002", "truncated WAV"


@pytest.mark.parametrize(
    "make_bad", [_bad_missing, _bad_garbage, _bad_rate, _bad_short_source, _bad_stereo, _bad_truncated]
)
def test_scan_datadir_bad_file(corpus, tmp_path, make_bad):
    d = _copy_dir(corpus, tmp_path / "bad")
    scp, utt, pattern = make_bad(d, tmp_path)
    with pytest.raises(DataError) as err:
        scan_datadir(d, 8000)
    msg = str(err.value)
    assert str(d / scp) in msg and utt in msg and re.search(pattern, msg), msg


def test_scan_datadir_empty(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="wav.scp: file not found"):
        scan_datadir(tmp_path / "empty", 8000)
    (tmp_path / "empty" / "wav.scp").write_text("")
    with pytest.raises(DataError, match="wav.scp: empty list"):
        scan_datadir(tmp_path / "empty", 8000)


def test_scan_datadir_needs_sources(corpus, tmp_path):
    d = tmp_path / "mixonly"
    d.mkdir()
    (d / "wav.scp").write_text((corpus / "wav.scp").read_text())
    with pytest.raises(DataError, match="no spk1.scp"):
        scan_datadir(d, 8000)
    assert len(scan_datadir(d, 8000, require_sources=False)) == 4


def test_probe_audio_ok(corpus):
    assert probe_audio(str(corpus / "wav" / "utt000_wav.wav"), 8000, "x") == 8000


def _utts(lengths):
    return [Utterance(f"u{i}", f"/m{i}", ("/a", "/b"), n) for i, n in enumerate(lengths)]


def test_chunk_dataset_draws():
    utts = _utts([1000, 350, 99, 100])
    ds = ChunkDataset(utts, 100, seed=3)
    ds.set_epoch(1)
    a = list(ds.items)
    ds.set_epoch(2)
    b = list(ds.items)
    ds.set_epoch(1)
    assert ds.items == a  # depends only on (seed, epoch)
    assert a != b
    per_utt = {}
    for i, start, length in a:
        per_utt.setdefault(i, []).append((start, length))
        assert 0 <= start and start + length <= utts[i].num_samples
    assert len(per_utt[0]) == 10 and len(per_utt[1]) == 3
    assert per_utt[2] == [(0, 99)]  # shorter than a chunk: one whole item
    assert per_utt[3] == [(0, 100)]
    starts = sorted(s for s, _ in per_utt[1])
    assert all(y - x == 100 for x, y in zip(starts, starts[1:]))  # non-overlapping, consecutive
    other = ChunkDataset(utts, 100, seed=4)
    other.set_epoch(1)
    assert other.items != a


def test_chunk_dataset_max_chunks():
    ds = ChunkDataset(_utts([1000, 150]), 100, seed=0, max_chunks_per_utt=3)
    ds.set_epoch(5)
    counts = np.bincount([i for i, _, _ in ds.items])
    assert counts.tolist() == [3, 1]


def test_fixed_chunk_dataset():
    utts = _utts([250, 80])
    whole = FixedChunkDataset(utts)
    assert whole.items == [(0, 0, 250), (1, 0, 80)]
    chunks = FixedChunkDataset(utts, 100)
    assert chunks.items == [(0, 0, 100), (0, 100, 100), (0, 200, 50), (1, 0, 80)]


def test_read_item_and_collate(corpus):
    u = scan_datadir(corpus, 8000)[0]
    item = read_item(u, 1000, 500)
    mix, _ = sf.read(u.mix, dtype="float32")
    assert torch.equal(item["mix"], torch.from_numpy(mix[1000:1500]))
    assert item["sources"].shape == (2, 500)
    ds = ChunkDataset(scan_datadir(corpus, 8000), 3000, seed=0)
    ds.set_epoch(1)
    short = read_item(u, 0, 200)
    batch = collate([ds[0], short])
    assert batch["mix"].shape == (2, 3000) and batch["sources"].shape == (2, 2, 3000)
    assert batch["lengths"].tolist() == [3000, 200]
    assert torch.equal(batch["mix"][1, :200], short["mix"]) and not batch["mix"][1, 200:].any()
    assert not batch["sources"][1, :, 200:].any()


def test_read_item_bad_range(corpus):
    u = scan_datadir(corpus, 8000)[0]
    with pytest.raises(DataError, match="expected 500 samples"):
        read_item(u, 7800, 500)


def test_worker_init_seeds():
    WorkerInit(1, 2, 0)(0)
    a = (np.random.rand(), torch.rand(1).item())
    WorkerInit(1, 2, 0)(0)
    assert (np.random.rand(), torch.rand(1).item()) == a
    WorkerInit(1, 2, 0)(1)
    assert np.random.rand() != a[0]


def test_worker_init_keeps_signal_handlers_outside_a_worker():
    def handler(signum, frame):
        pass

    old = signal.signal(signal.SIGTERM, handler)
    try:
        WorkerInit(1, 2, 0)(0)
        assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, old)
