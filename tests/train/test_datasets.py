"""The train_dataset kinds, on their own: their conf checks, their scans and the datasets they build."""

from __future__ import annotations

import pytest

from conftest import make_tiny_corpus
from dcsep.errors import ConfigError
from dcsep.train.datasets import TRAIN_DATA, Chunks, check_train_dataset, validation_set


def test_the_table_names_every_kind():
    assert set(TRAIN_DATA) == {"chunks", "dynamic_mix"}
    with pytest.raises(ConfigError, match="t.yaml: train_dataset: unknown kind 'mixed'; choose one of: chunks, dynamic_mix"):
        check_train_dataset("mixed", {}, "t.yaml")


def test_chunks_conf():
    check_train_dataset("chunks", {"max_chunks_per_utt": 2}, "t.yaml")
    with pytest.raises(ConfigError, match="max_chunks_per_utt must be a positive int or null"):
        check_train_dataset("chunks", {"max_chunks_per_utt": 0}, "t.yaml")
    with pytest.raises(ConfigError, match="unknown key 'epoch_size'"):
        check_train_dataset("chunks", {"epoch_size": 3}, "t.yaml")


def test_chunks_scan_build_and_stats(tmp_path):
    d = make_tiny_corpus(tmp_path / "d", num_utts=4)
    kind = Chunks(d, {"max_chunks_per_utt": 1}, fs=8000, seed=0)
    line = kind.scan(2000)
    assert line == "train: 4 mixtures, 0.00 h, 2 speakers"
    ds = kind.dataset(2000)
    assert len(ds) == 4 and kind.chunk_samples == 2000  # one chunk per utterance
    assert kind.dataset(2000) is ds and kind.dataset(1000) is not ds  # rebuilt for another length only
    wavs, what = kind.stats_waveforms(max_utts=3, first_chunk_samples=2000)
    wavs = list(wavs)
    assert len(wavs) == 3 and what == "3 training mixtures" and wavs[0].shape == (8000,)


def test_dynamic_mix_conf():
    pytest.importorskip("dcsep.data.dynamic_mix")
    check_train_dataset("dynamic_mix", {"epoch_size": 4}, "t.yaml")
    with pytest.raises(ConfigError, match="train_dataset_conf.fs is set by the trainer"):
        check_train_dataset("dynamic_mix", {"fs": 16000}, "t.yaml")


def test_validation_set(tmp_path, tiny_model_config):
    from dcsep.model import DeepClustering

    d = make_tiny_corpus(tmp_path / "cv", num_utts=3)
    fe = DeepClustering.from_config(tiny_model_config).frontend
    ds, line = validation_set(d, fe, None)
    assert len(ds) == 3 and line == "valid: 3 mixtures, 3 items (whole utterances)"
    ds, line = validation_set(d, fe, 30)
    assert len(ds) == 15 and line.endswith("(chunks of 30 frames)")
