"""Metrics equal mir_eval's bss_eval_sources; permutations, improvements, SI-SDR and edge cases."""

from __future__ import annotations

import doctest
import itertools
import sys
import types
import warnings

import mir_eval
import numpy as np
import pytest

import dcsep.metrics
from dcsep.errors import DataError
from dcsep.metrics import CLIP_DB, best_permutation, bss_eval, match_length, score_utterance, si_sdr, si_sdr_pit


def mir(refs, ests, compute_permutation=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return mir_eval.separation.bss_eval_sources(refs, ests, compute_permutation=compute_permutation)


def random_case(c: int, n: int = 3000, seed: int = 0):
    """References, estimates (a shuffled, filtered, leaky, noisy copy) and their mixture."""
    rng = np.random.default_rng(seed)
    refs = rng.standard_normal((c, n))
    perm = rng.permutation(c)
    filtered = np.stack([np.convolve(r, rng.standard_normal(8) * 0.3, mode="same") for r in refs])
    ests = refs[perm] + filtered[perm] + 0.4 * refs[np.roll(perm, 1)] + 0.3 * rng.standard_normal((c, n))
    return refs, ests, refs.sum(0)


@pytest.mark.parametrize("seed", [0, 1])
def test_bss_eval_equals_mir_eval(seed):
    refs, ests, _ = random_case(2, seed=seed)
    sdr, sir, sar, perm = bss_eval(refs, ests)
    m_sdr, m_sir, m_sar, m_perm = mir(refs, ests)
    np.testing.assert_array_equal(perm, m_perm)
    for ours, theirs in [(sdr, m_sdr), (sir, m_sir), (sar, m_sar)]:
        np.testing.assert_allclose(ours, theirs, atol=0.01)
    # the mir_eval backend is mir_eval itself
    np.testing.assert_allclose(bss_eval(refs, ests, backend="mir_eval")[0], m_sdr, atol=1e-9)


@pytest.mark.parametrize("c", [3, 5])
def test_permutation_of_many_sources(c):
    """(mir_eval is too slow for a unit test beyond two sources; its values per pair are checked above.)"""
    refs, _, _ = random_case(c, seed=c)
    rng = np.random.default_rng(c)
    perm = rng.permutation(c)
    ests = refs[perm] + 0.2 * rng.standard_normal(refs.shape)
    _, sir, _, found = bss_eval(refs, ests)
    np.testing.assert_array_equal(perm[found], np.arange(c))  # estimate found[j] holds reference j
    assert sir.min() > 10


def test_permutation_is_solved():
    refs, ests, mix = random_case(2, seed=5)
    a = score_utterance(refs, ests, mix)
    b = score_utterance(refs, ests[::-1], mix)
    for k in ("SDR", "SIR", "SAR", "SI-SDR", "SDRi", "SI-SDRi"):
        assert a[k] == pytest.approx(b[k], abs=1e-9)
    assert a["perm"] == [1 - p for p in b["perm"]]


def test_improvements_are_over_the_mixture():
    refs, ests, mix = random_case(2, seed=7)
    res = score_utterance(refs, ests, mix)
    sdr, sir, sar, _ = mir(refs, ests)
    sdr0, sir0, sar0, _ = mir(refs, np.stack([mix, mix]), compute_permutation=False)
    assert res["SDR"] == pytest.approx(sdr.mean(), abs=0.01)
    assert res["SDRi"] == pytest.approx((sdr - sdr0).mean(), abs=0.01)
    assert res["SIRi"] == pytest.approx((sir - sir0).mean(), abs=0.01)
    assert res["SAR"] == pytest.approx(sar.mean(), abs=0.01)
    # no SAR improvement: the mixture's SAR is at the cap (no artifacts), so SARi would only measure the cap
    assert np.minimum(sar0, CLIP_DB).min() > 50 and "SARi" not in res
    assert res["SDR_mix"] == pytest.approx(sdr0.mean(), abs=0.01)
    si_mix = np.mean([si_sdr(r, mix) for r in refs])
    assert res["SI-SDRi"] == pytest.approx(res["SI-SDR"] - si_mix, abs=1e-9)
    # the mixture scored as the estimate improves on itself by nothing
    base = score_utterance(refs, np.stack([mix, mix]), mix)
    assert base["SDRi"] == pytest.approx(0, abs=1e-6) and base["SI-SDRi"] == pytest.approx(0, abs=1e-9)


def test_si_sdr_hand_formula():
    rng = np.random.default_rng(0)
    s = rng.standard_normal(1000) + 0.5
    e = 0.7 * s + 0.2 * rng.standard_normal(1000) + 3.0
    s0, e0 = s - s.mean(), e - e.mean()
    target = (e0 @ s0) / (s0 @ s0) * s0
    expected = 10 * np.log10((target @ target) / ((e0 - target) @ (e0 - target)))
    assert si_sdr(s, e) == pytest.approx(expected, abs=1e-9)
    assert si_sdr(s, 5 * e) == pytest.approx(expected, abs=1e-9)  # scale-invariant
    assert si_sdr(s, e, zero_mean=False) != pytest.approx(expected, abs=0.1)
    vals, perm = si_sdr_pit(np.stack([s, -s + rng.standard_normal(1000)]), np.stack([rng.standard_normal(1000), e]))
    assert list(perm) == [1, 0] and vals[0] == pytest.approx(expected, abs=1e-9)


def test_length_mismatch_trims_or_pads():
    refs, ests, mix = random_case(2, seed=3)
    longer = np.concatenate([ests, np.ones((2, 100))], 1)
    assert score_utterance(refs, longer, mix)["SDR"] == pytest.approx(score_utterance(refs, ests, mix)["SDR"], abs=1e-9)
    shorter = ests[:, :-100]
    padded = np.pad(shorter, ((0, 0), (0, 100)))
    assert score_utterance(refs, shorter, mix)["SDR"] == pytest.approx(score_utterance(refs, padded, mix)["SDR"], abs=1e-9)
    np.testing.assert_array_equal(match_length(np.arange(5), 3), [0, 1, 2])
    np.testing.assert_array_equal(match_length(np.arange(2), 4), [0, 1, 0, 0])


def test_silent_reference_is_a_clear_error():
    refs, ests, mix = random_case(2)
    refs[1] = 0
    with pytest.raises(DataError, match="reference source 2 is silent"):
        score_utterance(refs, ests, mix, name="utt1")


def test_silent_estimate_scores_low_and_finite():
    refs, ests, mix = random_case(2)
    ests[0] = 0
    res = score_utterance(refs, ests, mix)
    values = [v for k, v in res.items() if k not in ("perm", "per_source")]
    assert np.all(np.isfinite(values))
    assert min(res["per_source"]["SI-SDR"]) < -20


def test_perfect_estimate_is_clipped_not_infinite():
    refs, _, mix = random_case(2)
    res = score_utterance(refs, refs.copy(), mix)
    assert res["SDR"] == pytest.approx(CLIP_DB) and res["SI-SDR"] == pytest.approx(CLIP_DB)


@pytest.mark.parametrize("c", [2, 3, 5, 6])
def test_best_permutation(c):
    score = np.random.default_rng(c).standard_normal((c, c))
    brute = max(itertools.permutations(range(c)), key=lambda p: score[np.arange(c), p].sum())
    np.testing.assert_array_equal(best_permutation(score), brute)


def test_docstring_examples():
    assert doctest.testmod(dcsep.metrics).failed == 0


def test_stoi_when_installed():
    pytest.importorskip("pystoi")
    refs, ests, mix = random_case(2, n=16000, seed=2)
    res = score_utterance(refs, ests, mix, fs=8000, extra_metrics=("STOI",))
    noisy = score_utterance(refs, ests + 3 * np.random.default_rng(0).standard_normal(ests.shape), mix, fs=8000,
                            extra_metrics=("STOI",))
    assert 0 < noisy["STOI"] < res["STOI"] <= 1


def test_a_failing_optional_metric_is_nan_not_an_error(monkeypatch):
    """PESQ raises on some inputs (too short, no speech): that value is NaN, the utterance still scores."""
    fake = types.ModuleType("pesq")

    def pesq(fs, ref, deg, mode):
        raise RuntimeError("No utterances detected")

    fake.pesq = pesq
    monkeypatch.setitem(sys.modules, "pesq", fake)
    refs, ests, mix = random_case(2, seed=4)
    res = score_utterance(refs, ests, mix, fs=8000, extra_metrics=("PESQ",))
    assert np.isnan(res["PESQ"]) and np.isfinite(res["SDR"])
