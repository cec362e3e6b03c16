"""Tests of dcsep.data.corpus_config: the typed base of the corpus configurations."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dcsep.data.corpus_config import CorpusConfig
from dcsep.data.speechocean_corpus import SpeechoceanConfig
from dcsep.data.tts import TTSMixConfig
from dcsep.errors import ConfigError


@dataclass
class _Demo(CorpusConfig):
    NAME = "demo"
    SETS = ("tr", "tt")
    speakers: int = 4

    def check(self, bad) -> None:
        if self.speakers < 2:
            bad(f"speakers: at least 2, got {self.speakers}")


def test_fields_types_and_errors(tmp_path):
    cfg = _Demo.from_dict({"mixtures": {"2": {"tr": 3}}, "seed": 5})
    assert cfg.mixtures == {2: {"tr": 3}} and cfg.seed == 5 and cfg.fs == 8000 and cfg.mode == "min"
    with pytest.raises(ConfigError, match=r"<demo config>: unknown key\(s\) \['NAME'\]"):
        _Demo.from_dict({"NAME": "x"})  # class settings are not keys
    with pytest.raises(ConfigError, match=r"expected a mapping, got list"):
        _Demo.from_dict([1])
    with pytest.raises(ConfigError, match=r"mixtures.2: unknown set 'dev'; choose from \['tr', 'tt'\]"):
        _Demo.from_dict({"mixtures": {2: {"dev": 3}}})
    with pytest.raises(ConfigError, match=r"mixtures.2.tr: need a positive number of mixtures, got 0"):
        _Demo.from_dict({"mixtures": {2: {"tr": 0}}})
    with pytest.raises(ConfigError, match=r"number of speakers must be 2..4, got 5"):
        _Demo.from_dict({"mixtures": {5: {"tr": 1}}})
    with pytest.raises(ConfigError, match=r"mode: must be 'min' or 'max'"):
        _Demo.from_dict({"mode": "mid"})
    with pytest.raises(ConfigError, match=r"speakers: at least 2, got 1"):
        _Demo.from_dict({"speakers": 1})
    p = tmp_path / "d.yaml"
    p.write_text("fs: 22050\n")
    with pytest.raises(ConfigError, match=r"d.yaml: fs: 8000 or 16000, got 22050"):
        _Demo.from_yaml(p)


@pytest.mark.parametrize("cls", [SpeechoceanConfig, TTSMixConfig])
def test_corpus_configs_share_the_base(cls):
    assert issubclass(cls, CorpusConfig)
    cfg = cls()
    cfg.validate()
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['SETS'\]"):
        cls.from_dict({"SETS": ["x"]})
