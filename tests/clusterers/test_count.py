"""Speaker counting from the embeddings: eigenvalue shares of V^T W V and the count they give."""

from __future__ import annotations

import pytest
import torch

from dcsep.clusterers.count import THRESHOLDS, count_from_shares, eigen_shares, estimate_num_spk, participation_ratio


def speakers(shares: list[float], n: int = 4000, k: int = 20, noise: float = 0.15, seed: int = 0):
    """Unit-norm embeddings (n, k): a fraction ``shares[c]`` of the bins near direction c."""
    g = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(len(shares), k, generator=g), dim=-1)
    dirs = torch.linalg.qr(dirs.T)[0].T  # orthonormal speaker directions
    labels = torch.multinomial(torch.tensor(shares), n, replacement=True, generator=g)
    return torch.nn.functional.normalize(dirs[labels] + noise * torch.randn(n, k, generator=g) / k**0.5, dim=-1)


THR = (1.5, 2.5)  # for these clean embeddings: D is about the number of speakers


@pytest.mark.parametrize("shares", [[1.0], [0.55, 0.45], [0.36, 0.33, 0.31]])
def test_counts_separable_speakers(shares):
    V = speakers(shares)
    assert estimate_num_spk(V, max_spk=3, thresholds=THR) == len(shares)
    assert estimate_num_spk(V, max_spk=5, thresholds=THR) == len(shares)  # 4 from D >= 3.5
    lam = eigen_shares(V)
    assert lam.shape == (20,) and torch.all(lam[:-1] >= lam[1:])
    torch.testing.assert_close(lam.sum(), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(lam[: len(shares)], torch.tensor(sorted(shares, reverse=True), dtype=torch.float64), atol=0.05, rtol=0)


def test_weights_select_the_bins_counted():
    """Bins of weight 0 (e.g. silence pointing elsewhere) do not count."""
    V = speakers([1.0], n=3000)
    V[2000:] = speakers([1.0], n=1000, seed=5)  # another direction on a third of the bins
    w = torch.ones(3000)
    assert estimate_num_spk(V, max_spk=3, thresholds=THR) == 2
    w[2000:] = 0
    assert estimate_num_spk(V, w, max_spk=3, thresholds=THR) == 1
    assert estimate_num_spk(V, torch.zeros(3000), max_spk=3, thresholds=THR) == 2  # no weight at all: every bin


def test_shapes_max_spk_and_batches():
    V = speakers([0.36, 0.33, 0.31], n=1200).reshape(40, 30, 20)  # (T, F, K)
    assert estimate_num_spk(V, torch.ones(40, 30), max_spk=3, thresholds=THR) == 3
    assert estimate_num_spk(V, max_spk=2, thresholds=THR) == 2
    assert estimate_num_spk(V, max_spk=1, thresholds=THR) == 1
    batch = torch.stack([speakers([1.0]), speakers([0.5, 0.5])])  # (B, N, K)
    lam = eigen_shares(batch)
    assert lam.shape == (2, 20)
    d = participation_ratio(lam)
    assert 1.0 <= d[0] < 1.2 and 1.9 < d[1] < 2.2
    assert count_from_shares(lam, 3, THR).tolist() == [1, 2]
    assert count_from_shares(lam, 3, (2.5, 3.5)).tolist() == [1, 1]


def test_collapsed_embeddings_count_one():
    assert estimate_num_spk(torch.zeros(50, 8)) == 1  # no energy at all
    assert estimate_num_spk(torch.nn.functional.normalize(torch.ones(50, 8), dim=-1)) == 1


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"max_spk": 0}, "max_spk must be a positive int"),
        ({"max_spk": 2.0}, "max_spk must be a positive int"),
        ({"thresholds": (2.0, 1.5)}, "thresholds must be ascending and above 1"),
        ({"thresholds": (0.5,)}, "thresholds must be ascending and above 1"),
        ({"thresholds": ()}, "thresholds must be ascending and above 1"),
        ({"weights": torch.ones(7)}, "weights must have the leading shape of V"),
        ({"weights": -torch.ones(50)}, "weights must be non-negative"),
    ],
)
def test_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        estimate_num_spk(torch.ones(50, 8), **kwargs)
    assert 1 < THRESHOLDS[0] < THRESHOLDS[1]
