"""Augmentation: option checks, draws, speed perturbation, channel colouring, level."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import harmonic_voice
from scipy.signal import welch

from dcsep.data import augment as aug
from dcsep.data.augment import Augment, AugmentDraw, ColourFilter
from dcsep.errors import ConfigError

FS = 8000


def test_defaults_change_nothing():
    a = Augment.from_conf(None)
    assert not a.active and a == Augment.from_conf({})
    d = a.draw(np.random.default_rng(0), 3)
    assert d == AugmentDraw((1.0, 1.0, 1.0), (None, None, None), 0.0)
    srcs = np.random.default_rng(1).standard_normal((3, 500))
    mix, out = aug.apply_to_mixture(srcs, d, FS)
    np.testing.assert_array_equal(out, srcs)
    np.testing.assert_allclose(mix, srcs.sum(0))


@pytest.mark.parametrize(
    "conf, pattern",
    [
        ([1, 2], "a mapping"),
        ({"gain": [0, 1]}, "unknown key 'gain'; valid keys: level_db, speed"),
        ({"level_db": [6, -30]}, r"level_db: two finite numbers \[lo, hi\]"),
        ({"level_db": 3}, "level_db: two finite numbers"),
        ({"speed": [0.3, 1.1]}, r"speed: factors within \[0.5, 2.0\]"),
        ({"colour": "room"}, "colour: 'source', 'mixture' or null"),
        ({"colour_prob": 1.5}, r"colour_prob: a probability in \[0, 1\]"),
        ({"band_prob": True}, "band_prob: a probability"),
        ({"eq_bands": 2.0}, "eq_bands: an integer"),
        ({"eq_db": -1}, "eq_db: a number"),
        ({"tilt_db": [float("nan"), 1]}, "tilt_db: two finite numbers"),
    ],
)
def test_bad_options(conf, pattern):
    with pytest.raises(ConfigError, match=pattern):
        Augment.from_conf(conf, "x.yaml: augment")


def test_draws_are_reproducible_and_in_range():
    a = Augment.from_conf({"level_db": [-30, 6], "speed": [0.9, 1.1], "colour": "source"})
    draws = [a.draw(np.random.default_rng([7, i]), 2) for i in range(200)]
    assert draws[:5] == [a.draw(np.random.default_rng([7, i]), 2) for i in range(5)]
    speeds = np.array([d.speeds for d in draws])
    assert speeds.min() >= 0.9 and speeds.max() <= 1.1
    np.testing.assert_allclose(speeds * 100, np.round(speeds * 100))  # quantised
    assert speeds.std() > 0.03
    levels = np.array([d.level_db for d in draws])
    assert levels.min() >= -30 and levels.max() <= 6 and levels.max() - levels.min() > 25
    assert all(f[0] is not None and f[1] is not None and f[0] != f[1] for f in (d.filters for d in draws))
    bands = [d.filters[0].band for d in draws]
    assert 0.2 < np.mean([b is not None for b in bands]) < 0.8
    assert any(b == aug.TELEPHONE_BAND for b in bands)


def test_mixture_colour_is_one_filter_and_prob_zero_is_none():
    a = Augment.from_conf({"colour": "mixture"})
    d = a.draw(np.random.default_rng(0), 3)
    assert d.filters[0] is not None and d.filters[0] == d.filters[1] == d.filters[2]
    none = Augment.from_conf({"colour": "source", "colour_prob": 0.0}).draw(np.random.default_rng(0), 2)
    assert none.filters == (None, None)


def _band_power_db(x: np.ndarray, lo: float, hi: float) -> float:
    f, p = welch(x, FS, nperseg=512)
    return 10 * np.log10(p[(f >= lo) & (f <= hi)].mean())


def test_telephone_band_filter():
    filt = ColourFilter(0.0, (), aug.TELEPHONE_BAND)
    resp = filt.response_db(np.array([50.0, 150.0, 1000.0, 2000.0, 3900.0]))
    assert resp[0] < -40 and resp[1] < -20 and abs(resp[2]) < 0.5 and abs(resp[3]) < 0.5 and resp[4] < -5
    taps = filt.taps(FS)
    assert taps.shape == (aug.COLOUR_TAPS,)
    np.testing.assert_allclose(taps, taps[::-1], atol=1e-12)  # linear phase, zero delay with "same"
    x = np.random.default_rng(0).standard_normal(4 * FS)
    y = aug.colour(x, filt, FS)
    assert y.shape == x.shape
    np.testing.assert_allclose(np.mean(y**2), np.mean(x**2), rtol=1e-9)  # power kept
    # relative to the passband, the low band loses > 20 dB
    drop_low = _band_power_db(y, 20, 120) - _band_power_db(y, 800, 2000)
    assert drop_low < -20
    assert abs(_band_power_db(x, 20, 120) - _band_power_db(x, 800, 2000)) < 2


def test_tilt_and_eq_shape_the_spectrum():
    x = np.random.default_rng(1).standard_normal(4 * FS)
    up = aug.colour(x, ColourFilter(3.0, (), None), FS)  # +3 dB / octave
    # 500 Hz -> 2 kHz is two octaves: +6 dB between the two bands
    gap = (_band_power_db(up, 1800, 2200) - _band_power_db(up, 450, 550)) - (
        _band_power_db(x, 1800, 2200) - _band_power_db(x, 450, 550)
    )
    assert 4.5 < gap < 7.5
    bump = aug.colour(x, ColourFilter(0.0, ((1000.0, 9.0, 0.5),), None), FS)
    rel = (_band_power_db(bump, 950, 1050) - _band_power_db(bump, 3000, 3500)) - (
        _band_power_db(x, 950, 1050) - _band_power_db(x, 3000, 3500)
    )
    assert 7.5 < rel < 10


@pytest.mark.parametrize("speed", [0.9, 0.95, 1.07, 1.1])
def test_speed_perturb_moves_the_pitch(speed):
    rng = np.random.default_rng(0)
    x = harmonic_voice(rng, 150, 1.5, FS)
    y = aug.speed_perturb(x, speed)
    assert y.shape[0] == aug.speed_output_length(x.shape[0], speed) == int(np.ceil(x.shape[0] / speed))
    # the spectral centroid of the harmonics moves by the factor
    def centroid(s):
        f, p = welch(s, FS, nperseg=1024)
        keep = f < 3000
        return (f[keep] * p[keep]).sum() / p[keep].sum()

    assert centroid(y) / centroid(x) == pytest.approx(speed, rel=0.03)


@pytest.mark.parametrize("speed", [1.0, 0.9, 1.1])
def test_speed_perturb_crop_lengths(speed):
    x = np.random.default_rng(0).standard_normal(20000)
    need = aug.speed_input_length(4000, speed)
    assert need == (4000 if speed == 1.0 else int(np.ceil((4000 + 128) * round(speed * 100) / 100)))
    y = aug.speed_perturb(x[:need], speed, 4000)
    assert y.shape[0] == 4000 == aug.speed_output_length(need, speed, 4000)
    short = aug.speed_perturb(x[:1000], speed, 4000)  # a short source: all of it
    assert short.shape[0] == aug.speed_output_length(1000, speed, 4000) == int(np.ceil(1000 / speed))
    if speed != 1.0:  # the middle of the resampled crop: no fade-in from the filter's edge
        assert np.std(y[:64]) > 0.5 * np.std(y)


def test_apply_to_mixture_level_and_colour():
    srcs = np.random.default_rng(2).standard_normal((2, 8000)) * np.array([[0.1], [0.3]])
    filt = ColourFilter(-3.0, ((500.0, -6.0, 1.0),), aug.TELEPHONE_BAND)
    d = AugmentDraw((1.0, 1.0), (filt, None), -20.0)
    mix, out = aug.apply_to_mixture(srcs, d, FS)
    np.testing.assert_allclose(mix, out.sum(0), atol=1e-12)
    peak = max(np.abs(out).max(), np.abs(mix).max())
    assert peak == pytest.approx(0.9 * 10 ** (-20 / 20))
    # the power ratio of the sources is kept by the colouring
    ratio_in = np.mean(srcs[0] ** 2) / np.mean(srcs[1] ** 2)
    assert np.mean(out[0] ** 2) / np.mean(out[1] ** 2) == pytest.approx(ratio_in, rel=1e-6)
    # source 2 is only rescaled
    np.testing.assert_allclose(out[1] / srcs[1], np.full(8000, out[1, 0] / srcs[1, 0]), rtol=1e-9)
    # level only: no renormalisation, just the gain
    mix2, out2 = aug.apply_to_mixture(srcs, AugmentDraw((1.0, 1.0), (None, None), 6.0), FS)
    np.testing.assert_allclose(out2, srcs * 10 ** (6 / 20))
