"""Tests of dcsep.data.speechocean_lists: drawing and checking the speechocean762 mix lists."""

from __future__ import annotations

import pytest

from dcsep.data.mixlist import MixLine
from dcsep.data.speechocean_corpus import SpeechoceanConfig, scan_corpus
from dcsep.data.speechocean_lists import MixLists, check_lists, draw_lists, draw_plan
from dcsep.errors import DataError

from .speechocean_fake import MICRO, corpora  # noqa: F401  (fixture)


def test_lists_are_deterministic_and_seeded(corpora):
    c = scan_corpus(corpora["flac"], strict=False)
    cfg = SpeechoceanConfig.from_dict(dict(MICRO))
    a, b = draw_lists(c, cfg), draw_lists(c, cfg)
    assert a.mixes == b.mixes and a.train_sources == b.train_sources
    other = draw_lists(c, SpeechoceanConfig.from_dict({**MICRO, "seed": 7}))
    assert other.mixes != a.mixes
    for (num_spk, _), lines in a.mixes.items():
        for m in lines:
            g = m.gains_db
            assert len(g) == num_spk and g[1] == -g[0] and 0.0 <= g[0] - g[1] <= 5.0
            assert all(x == 0.0 for x in g[2:])


def test_cv_speakers_cover_the_gender_age_cells(corpora):
    c = scan_corpus(corpora["flac"], strict=False)
    plan = draw_plan(c, SpeechoceanConfig.from_dict({**MICRO, "cv_speakers": 4}))
    cells = {(c.spk2gender[s], c.age_group(s, 18)) for s in plan.cv}
    assert len(cells) == 4
    assert not set(plan.cv) & set(plan.train)


def test_check_lists_rejects_speaker_leaks(corpora):
    c = scan_corpus(corpora["flac"], strict=False)
    lists = draw_lists(c, SpeechoceanConfig.from_dict(dict(MICRO)))
    leak = MixLine(("WAVE/SPEAKER2001/020010001.WAV", "WAVE/SPEAKER1003/010030001.WAV"), ("1.0", "-1.0"))
    bad = MixLists(lists.train_sources, {**lists.mixes, (2, "tr"): [leak]})
    with pytest.raises(DataError, match=r"L/mix_2_spk_tr.txt:1: WAVE/SPEAKER2001/020010001.WAV is not in train_sources"):
        check_lists(c, bad, "L")
    same = MixLine(("WAVE/SPEAKER2001/020010001.WAV", "WAVE/SPEAKER2001/020010002.WAV"), ("1.0", "-1.0"))
    bad = MixLists(lists.train_sources, {**lists.mixes, (2, "tt"): [same]})
    with pytest.raises(DataError, match=r"mix_2_spk_tt.txt:1: two sources of speaker 2001"):
        check_lists(c, bad, "L")
    unknown = MixLine(("WAVE/SPEAKER2001/029990001.WAV", "WAVE/SPEAKER2002/020020001.WAV"), ("1.0", "-1.0"))
    bad = MixLists(lists.train_sources, {**lists.mixes, (2, "tt"): [unknown]})
    with pytest.raises(DataError, match=r"029990001.WAV is not an utterance of the corpus"):
        check_lists(c, bad, "L")
