"""Test conditions: set-name suffixes, pauses, a channel, levels."""

from __future__ import annotations

import numpy as np
import pytest

from dcsep.data.conditions import PAD_NOISE_DB, Condition, parse_condition, with_channel, with_pauses


def test_parse_condition():
    assert parse_condition("cv") == ("cv", Condition())
    assert parse_condition("cv@-30") == ("cv", Condition(gain_db=-30.0))
    assert parse_condition("cv+pad3") == ("cv", Condition(pad_s=3.0))
    assert parse_condition("cv_sub50+pad1.5@6") == ("cv_sub50", Condition(6.0, 1.5))
    assert parse_condition("cv+colour+pad2@-10") == ("cv", Condition(-10.0, 2.0, True))
    for bad in ("cv@x", "cv+padx", "cv+pad-1", "cv+noise"):
        with pytest.raises(ValueError):
            parse_condition(bad)


def test_pauses_are_quiet_seeded_noise_and_zeros_in_the_references():
    rng = np.random.default_rng(0)
    mix = rng.standard_normal(1000)
    refs = np.stack([mix * 0.5, mix * 0.5])
    m, r = with_pauses("u1", mix, refs, 400)
    assert m.shape == (1800,) and r.shape == (2, 1800)
    assert np.array_equal(m[400:1400], mix) and not r[:, :400].any() and not r[:, 1400:].any()
    pause = np.concatenate([m[:400], m[1400:]])
    assert abs(10 * np.log10(np.mean(pause**2) / np.mean(mix**2)) - PAD_NOISE_DB) < 1.0
    assert np.array_equal(with_pauses("u1", mix, refs, 400)[0], m)  # seeded by the id
    assert not np.array_equal(with_pauses("u2", mix, refs, 400)[0], m)
    assert with_pauses("u1", mix.astype(np.float32), None, 3)[1] is None
    assert with_pauses("u1", mix.astype(np.float32), None, 3)[0].dtype == np.float32


def test_channel_filters_mixture_and_references_alike():
    rng = np.random.default_rng(1)
    refs = rng.standard_normal((2, 8000)).astype(np.float32)
    mix = refs.sum(0)
    m, r = with_channel("u1", mix, refs, 8000)
    assert m.shape == mix.shape and r.shape == refs.shape and m.dtype == np.float32
    np.testing.assert_allclose(r.sum(0), m, atol=1e-4)  # still the sum of its sources
    np.testing.assert_allclose(np.mean(m.astype(np.float64) ** 2), np.mean(mix.astype(np.float64) ** 2), rtol=1e-3)
    assert np.abs(m - mix).mean() > 0.05  # coloured
    assert np.array_equal(with_channel("u1", mix, refs, 8000)[0], m)
    assert not np.array_equal(with_channel("u2", mix, refs, 8000)[0], m)
    assert with_channel("u1", mix, None, 8000)[1] is None


def test_condition_apply():
    mix = np.ones(80, dtype=np.float32)
    refs = np.ones((2, 80))
    m, r = Condition(-20.0, 0.01).apply("u", mix, refs, 8000)  # 80 samples of pause each side
    assert m.shape == (240,) and r.shape == (2, 240) and m.dtype == np.float32
    np.testing.assert_allclose(m[80:160], 0.1, rtol=1e-6)
    m, r = Condition().apply("u", mix, refs, 8000)
    assert np.array_equal(m, mix) and r is refs
