"""The released model separates a few fixed speechocean762 mixtures as it did when the pin
(``fixtures/pins.json``, written by ``python -m tests.egs.pins --write``) was taken: a
refactor must leave separation results unchanged within float rounding.

The tiny tts_mix recipe's pin is checked in ``test_tts_mix_recipe.py``, which runs it.
"""

from __future__ import annotations

import numpy as np
import pytest

from . import pins
from .corpora import speechocean762_dir

SI_SDR_TOL_DB = 0.01  # float rounding, across machines
ENERGY_RTOL = 1e-3


@pytest.mark.skipif(speechocean762_dir() is None, reason="speechocean762 not found (set DCSEP_SPEECHOCEAN762)")
def test_released_model_separations_are_pinned():
    want = pins.load()["released_model"]
    got = pins.released_model(speechocean762_dir())
    assert set(got) == set(want)
    for clus, rows in want.items():
        assert [r["mixture"] for r in got[clus]] == [r["mixture"] for r in rows]
        for g, w in zip(got[clus], rows):
            np.testing.assert_allclose(g["si_sdr"], w["si_sdr"], atol=SI_SDR_TOL_DB, rtol=0, err_msg=f"{clus} {w['mixture']}")
            np.testing.assert_allclose(g["energy"], w["energy"], rtol=ENERGY_RTOL, err_msg=f"{clus} {w['mixture']}")
