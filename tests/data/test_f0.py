"""Tests of dcsep.data.f0 (the median f0 tracker)."""

from __future__ import annotations

import numpy as np
import pytest

from dcsep.data.f0 import median_f0


@pytest.mark.parametrize("f0", [90.0, 140.0, 230.0])
def test_median_f0_of_a_harmonic_tone(f0):
    fs = 8000
    t = np.arange(fs) / fs
    x = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 8))
    assert median_f0(x, fs) == pytest.approx(f0, rel=0.03)
    assert np.isnan(median_f0(np.zeros(fs), fs))
