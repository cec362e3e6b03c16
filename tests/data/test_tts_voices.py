"""Tests of dcsep.data.tts_voices (the speakers of the built-in corpus)."""

from __future__ import annotations

import pytest

from dcsep.data.f0 import median_f0
from dcsep.data.tts_voices import CALIBRATION_TEXT, TEST_VARIANTS, TRAIN_VARIANTS, make_speakers, synthesize_utterance

pytest.importorskip("espeakng_loader")


def test_pitch_setting_moves_f0():
    spk = make_speakers(2, TRAIN_VARIANTS, "s", 0)[0]
    low = median_f0(synthesize_utterance(spk, CALIBRATION_TEXT, 8000, pitch=10), 8000)
    high = median_f0(synthesize_utterance(spk, CALIBRATION_TEXT, 8000, pitch=90), 8000)
    assert 60 < low < 120 < high


def test_speakers_are_fixed_and_test_voices_held_out():
    tr = make_speakers(48, TRAIN_VARIANTS, "s", 0)
    te = make_speakers(16, TEST_VARIANTS, "u", 0)
    assert tr == make_speakers(48, TRAIN_VARIANTS, "s", 0)
    assert len({s.spk_id for s in tr + te}) == 64
    assert len({(s.variant, s.language, s.pitch, s.pitch_range, s.rate) for s in tr + te}) == 64
    assert not {s.variant for s in tr} & {s.variant for s in te}
    assert [s.gender for s in tr].count("m") == 24
