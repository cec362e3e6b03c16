"""Tests of dcsep.data.sentences (the text source of the built-in corpus)."""

from __future__ import annotations

import numpy as np
import pytest

from dcsep.data.sentences import SentenceMaker
from dcsep.errors import ConfigError


def test_sentences_are_deterministic_and_bounded():
    m = SentenceMaker()
    a = [m.sentence(np.random.default_rng(3), 4, 9) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(0)
    texts = [m.sentence(rng, 4, 9) for _ in range(200)]
    assert all(4 <= len(t.split()) <= 9 for t in texts)
    assert len(set(texts)) > 190
    with pytest.raises(ConfigError):
        m.sentence(rng, 5, 2)
