"""Tests of dcsep.data.espeak (the eSpeak NG binding)."""

from __future__ import annotations

import numpy as np
import pytest

from dcsep.data.espeak import ESPEAK_FS, espeak
from dcsep.data.tts_voices import TEST_VARIANTS, TRAIN_VARIANTS
from dcsep.errors import DataError

pytest.importorskip("espeakng_loader")


def test_espeak_synthesizes_and_checks_variants():
    engine = espeak()
    assert engine.fs == ESPEAK_FS
    assert set(TRAIN_VARIANTS["m"] + TRAIN_VARIANTS["f"] + TEST_VARIANTS["m"] + TEST_VARIANTS["f"]) <= set(engine.variants())
    x = engine.synthesize("Hello there.", variant="m3")
    assert x.dtype == np.int16 and 0.3 * engine.fs < x.size < 3 * engine.fs
    slow = engine.synthesize("Hello there.", variant="m3", rate=100)
    assert slow.size > x.size * 1.3
    with pytest.raises(DataError, match="variant 'nobody'"):
        engine.synthesize("Hello.", variant="nobody")
