"""Tests of dcsep.data.speechocean_corpus: reading speechocean762 and its config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dcsep.data.speechocean_corpus import SpeechoceanConfig, scan_corpus
from dcsep.errors import ConfigError, DataError

from .speechocean_fake import ORPHAN_SPK, TEST_SPK, TRAIN_SPK, UTTS_PER_SPK, corpora  # noqa: F401  (fixture)


@pytest.mark.parametrize("layout", ["official", "flac"])
def test_scan_finds_listed_and_orphan_utterances(corpora, layout):
    c = scan_corpus(corpora[layout], strict=False)
    assert len(c.utts) == (len(TRAIN_SPK) + len(TEST_SPK)) * UTTS_PER_SPK + len(ORPHAN_SPK)
    orphans = [u for u in c.utts.values() if not u.listed]
    assert sorted(u.spk for u in orphans) == sorted(ORPHAN_SPK)
    for u in orphans:
        assert u.split == ("train" if u.spk.startswith("1") else "test")
        assert u.rel == f"WAVE/SPEAKER{u.spk}/{u.utt}.WAV" and Path(u.path).is_file()
    ext = ".WAV" if layout == "official" else ".flac"
    assert all(u.path.endswith(ext) for u in c.utts.values())
    assert c.age_group("1001", 18) == "child" and c.age_group("1003", 18) == "adult"


def test_scan_accepts_the_parent_of_the_corpus(corpora, tmp_path):
    c = scan_corpus(corpora["flac"].parent, strict=False)
    assert c.root == corpora["flac"].absolute()


def test_scan_strict_counts_and_input_errors(corpora, tmp_path):
    with pytest.raises(DataError, match=r"train: 32 utterances of 8 speakers found, the full corpus has 2500 of 125; "
                                        r"pass allow_partial"):
        scan_corpus(corpora["flac"], strict=True)
    with pytest.raises(DataError, match="corpus dir not found"):
        scan_corpus(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"not a speechocean762 corpus: missing train/, test/, WAVE/"):
        scan_corpus(tmp_path / "empty")
    broken = shutil.copytree(corpora["flac"], tmp_path / "broken")
    (broken / "test" / "spk2age").unlink()
    with pytest.raises(DataError, match=r"test/spk2age: file not found"):
        scan_corpus(broken, strict=False)


def test_scan_reports_listed_utterances_without_audio(corpora, tmp_path):
    broken = shutil.copytree(corpora["official"], tmp_path / "c")
    (broken / "WAVE/SPEAKER1002/010020003.WAV").unlink()
    with pytest.raises(DataError, match=r"train/wav.scp: 1 of 32 listed utterances have no audio file .* "
                                        r"e\.g\. WAVE/SPEAKER1002/010020003\.WAV"):
        scan_corpus(broken, strict=True)
    c = scan_corpus(broken, strict=False)  # partial: skipped with a warning
    assert "010020003" not in c.utts


def test_scan_rejects_bad_metadata(corpora, tmp_path):
    broken = shutil.copytree(corpora["flac"], tmp_path / "c")
    (broken / "train" / "spk2gender").write_text("1001 x\n")
    with pytest.raises(DataError, match=r"spk2gender: speaker 1001: gender 'x', expected f or m"):
        scan_corpus(broken, strict=False)


def test_config_validation(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['sead'\]"):
        SpeechoceanConfig.from_dict({"sead": 1})
    with pytest.raises(ConfigError, match=r"mixtures.2: unknown set 'dev'"):
        SpeechoceanConfig.from_dict({"mixtures": {2: {"dev": 3}}})
    with pytest.raises(ConfigError, match=r"gain_db_range: \[lo, hi\]"):
        SpeechoceanConfig.from_dict({"gain_db_range": [5, 0]})
    p = tmp_path / "c.yaml"
    p.write_text("fs: 11025\n")
    with pytest.raises(ConfigError, match=r"c.yaml: fs: 8000 or 16000"):
        SpeechoceanConfig.from_yaml(p)
