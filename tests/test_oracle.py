"""Oracle masks (IBM, IRM): partitions of the mixture, near-perfect on disjoint sources."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import dcsep.oracle
from dcsep.errors import ConfigError
from dcsep.frontends.stft import STFTFrontend
from dcsep.metrics import si_sdr
from dcsep.oracle import oracle_masks, oracle_separate


@pytest.mark.parametrize("kind", ["ibm", "irm"])
def test_masks_partition_the_bins(kind):
    mags = torch.rand(3, 10, 7)
    mags[:, 0, 0] = 0  # a bin where every source is silent
    m = oracle_masks(mags, kind)
    assert m.shape == mags.shape
    torch.testing.assert_close(m.sum(0), torch.ones(10, 7))
    if kind == "ibm":
        assert set(m.unique().tolist()) <= {0.0, 1.0}
        assert torch.equal(m.argmax(0)[1:], mags.argmax(0)[1:])
    else:
        torch.testing.assert_close(m[:, 0, 0], torch.full((3,), 1 / 3))


@pytest.mark.parametrize("kind", ["ibm", "irm"])
def test_oracle_separates_disjoint_tones(kind):
    fs = 8000
    t = np.arange(fs) / fs
    srcs = np.stack([np.sin(2 * np.pi * 300 * t), 0.5 * np.sin(2 * np.pi * 2500 * t)]).astype(np.float32)
    est, masks = oracle_separate(srcs.sum(0), srcs, STFTFrontend(), kind, return_masks=True)
    assert est.shape == srcs.shape and masks.shape == (2, fs // 64 + 1, 129)
    assert min(si_sdr(srcs, est)) > 30


def test_oracle_lengths_and_bad_kind():
    fe = STFTFrontend()
    mix = np.random.default_rng(0).standard_normal(100).astype(np.float32)
    est = oracle_separate(mix, np.stack([mix, mix * 0.1]), fe, "ibm")
    assert est.shape == (2, 100)  # shorter than one window is fine
    longer = oracle_separate(mix, np.random.default_rng(1).standard_normal((2, 150)), fe, "irm")
    assert longer.shape == (2, 100)
    with pytest.raises(ConfigError, match="ibm"):
        oracle_masks(torch.rand(2, 3, 4), "wiener")


def test_docstring_examples():
    assert doctest.testmod(dcsep.oracle).failed == 0
