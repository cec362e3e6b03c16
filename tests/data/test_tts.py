"""The built-in corpus (dcsep.data.tts): configuration and preparation."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import soundfile as sf

from dcsep.data import tts
from dcsep.data.datadir import DataDir, read_scp
from dcsep.data.tts import TTSMixConfig, prepare_tts_mix
from dcsep.errors import ConfigError, DataError

pytest.importorskip("espeakng_loader")

MICRO = {
    "train_speakers": 4,
    "test_speakers": 3,
    "train_utts": {"tr": 2, "cv": 1, "tt_closed": 1},
    "test_utts": 2,
    "words": [3, 5],
    "mixtures": {2: {"tr": 6, "cv": 2, "tt_closed": 2, "tt": 3}, 3: {"tt": 2}},
}


def test_docstring_examples():
    assert doctest.testmod(tts).failed == 0


def test_config_validation(tmp_path):
    assert TTSMixConfig.from_dict(MICRO).mixtures[2]["tt"] == 3
    with pytest.raises(ConfigError, match="unknown key"):
        TTSMixConfig.from_dict({"speakers": 3})
    with pytest.raises(ConfigError, match="unknown split 'dev'"):
        TTSMixConfig.from_dict({"mixtures": {2: {"dev": 3}}})
    with pytest.raises(ConfigError, match=r"max_gain_db: 0 <= max_gain_db < 10"):
        TTSMixConfig.from_dict({"max_gain_db": 12.0})
    with pytest.raises(ConfigError, match="at least 3 speakers"):
        TTSMixConfig.from_dict({"test_speakers": 2, "mixtures": {3: {"tt": 3}}})
    p = tmp_path / "c.yaml"
    p.write_text("seed: 1\nwords: [2, 4]\n")
    assert TTSMixConfig.from_yaml(p).words == [2, 4]


def test_prepare_micro_corpus(tmp_path):
    cfg = TTSMixConfig.from_dict(MICRO)
    audio, data = tmp_path / "audio dir", tmp_path / "data"
    dirs = prepare_tts_mix(cfg, audio, data, nj=1)
    assert sorted(dirs) == ["cv_2spk", "tr_2spk", "tt_2spk", "tt_3spk", "tt_closed_2spk"]
    tr = DataDir.load(dirs["tr_2spk"], require_sources=True)
    assert tr.num_spk == 2 and len(tr.utt_ids) == 6
    assert DataDir.load(dirs["tt_3spk"]).num_spk == 3
    mix, fs = sf.read(tr.wav[tr.utt_ids[0]])
    assert fs == 8000 and mix.ndim == 1
    assert str(audio / "2speakers" / "wav8k" / "min" / "tr" / "mix") in tr.wav[tr.utt_ids[0]]
    # open set: unseen speakers; closed sets: training speakers, other utterances
    spks = {n: {s for v in read_scp(dirs[n] / "utt2spks").values() for s in v.split()} for n in dirs}
    assert spks["tt_2spk"].isdisjoint(spks["tr_2spk"] | spks["cv_2spk"] | spks["tt_closed_2spk"])
    assert spks["cv_2spk"] <= {f"s{i:03d}" for i in range(1, 5)}
    srcs = {n: {p for s in DataDir.load(dirs[n]).spk for p in s.values()} for n in ("tr_2spk", "cv_2spk")}
    single_tr = set(read_scp(data / "single_tr" / "wav.scp"))
    single_cv = set(read_scp(data / "single_cv" / "wav.scp"))
    assert single_tr.isdisjoint(single_cv)
    for utt, cat in read_scp(dirs["tt_2spk"] / "utt2category").items():
        assert cat in ("low-low", "low-high", "high-high")
    assert not (dirs["tt_2spk"] / "utt2gender").exists()  # the pitch classes are the breakdown
    pitch = read_scp(data / "local" / "spk2pitch")
    assert set(pitch.values()) == {"low", "high"}
    assert (data / "single_tr" / "text").is_file() and srcs["tr_2spk"]

    # the written sources are the single utterances scaled as wsj0-mix (cached levels = measured ones)
    from dcsep.data.mixing import mix_sources

    single = read_scp(data / "single_tr" / "wav.scp")
    name = tr.utt_ids[0]
    p = name.split("_")  # s001_tr001_<g1>_s003_tr002_<g2>
    srcs = [sf.read(single[f"{p[0]}_{p[1]}"])[0], sf.read(single[f"{p[3]}_{p[4]}"])[0]]
    _, ref = mix_sources(srcs, [float(p[2]), float(p[5])], mode="min", fs=8000)
    np.testing.assert_allclose(sf.read(tr.sources(name)[0])[0], ref[0], atol=1.5 / 32768)

    # a re-run reuses every file; another config on the same audio dir is refused
    stamp = {p: p.stat().st_mtime_ns for p in (audio / "single").rglob("*.wav")}
    prepare_tts_mix(cfg, audio, data, nj=1)
    assert {p: p.stat().st_mtime_ns for p in (audio / "single").rglob("*.wav")} == stamp
    cfg2 = TTSMixConfig.from_dict({**MICRO, "seed": 5})
    with pytest.raises(DataError, match="other settings"):
        prepare_tts_mix(cfg2, audio, data, nj=1)


def test_corpus_is_the_same_on_every_run_and_with_any_nj(tmp_path):
    # eSpeak NG seeds its noise from the clock and keeps state between utterances;
    # per-utterance seeds and one fresh process per chunk make the audio reproducible
    import hashlib

    cfg = TTSMixConfig.from_dict(MICRO)

    def digest(root):
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".wav", ".json"))
        return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in files}

    runs = []
    for i, nj in enumerate((1, 2, 2)):
        prepare_tts_mix(cfg, tmp_path / f"audio{i}", tmp_path / f"data{i}", nj=nj)
        runs.append(digest(tmp_path / f"audio{i}"))
    assert len(runs[0]) > 20 and any(k.startswith("single/") for k in runs[0])
    assert runs[0] == runs[1] == runs[2]


def test_cli(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text("words: [3]\n")
    assert tts.main(["--config", str(p), "--audio-dir", str(tmp_path / "a"), "--data-dir", str(tmp_path / "d")]) == 1
    assert "words" in capsys.readouterr().err
