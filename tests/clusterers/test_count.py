"""Speaker counting from the embeddings: eigenvalue shares of V^T W V and the count they give."""

from __future__ import annotations

import pytest
import torch

from dcsep.clusterers.count import (
    THRESHOLDS,
    check_linear,
    count_from_shares,
    eigen_shares,
    estimate_num_spk,
    fit_linear_counter,
    participation_ratio,
    share_features,
)


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


def labelled_shares(per_count: int = 30, seed: int = 0):
    """Eigenvalue shares of inputs of 1, 2 and 3 speakers of random shares and spreads, and their counts."""
    g = torch.Generator().manual_seed(seed)
    lam, counts = [], []
    for c in (1, 2, 3):
        for i in range(per_count):
            shares = torch.rand(c, generator=g) + 0.5
            noise = 0.3 + 0.5 * float(torch.rand(1, generator=g))
            lam.append(eigen_shares(speakers((shares / shares.sum()).tolist(), n=1500, noise=noise, seed=100 * c + i)))
            counts.append(c)
    return torch.stack(lam), counts


def test_linear_counter_fits_and_counts():
    """A counter fitted on labelled inputs counts new ones of the same kind; row c scores c + 1 speakers."""
    lam, counts = labelled_shares()
    lin = fit_linear_counter(lam, counts, num_features=4)
    assert len(lin["coef"]) == 3 and all(len(r) == 4 for r in lin["coef"]) and len(lin["intercept"]) == 3
    new, new_counts = labelled_shares(per_count=10, seed=1)
    est = count_from_shares(new, 3, linear=lin)
    assert (est == torch.tensor(new_counts)).float().mean() >= 0.9
    assert count_from_shares(new, 2, linear=lin).max() <= 2  # max_spk caps it
    assert count_from_shares(new, 5, linear=lin).max() <= 3  # it counts up to its rows
    V = speakers([0.4, 0.35, 0.25], n=1500, noise=0.5, seed=7)
    assert estimate_num_spk(V, max_spk=3, linear=lin) == int(count_from_shares(eigen_shares(V), 3, linear=lin))
    two = fit_linear_counter(lam[:60], counts[:60], num_features=2)  # 1 and 2 speakers: two rows
    assert len(two["coef"]) == 2 and set(count_from_shares(lam[:60], 3, linear=two).tolist()) <= {1, 2}


def test_share_features_are_floored_logs():
    lam = torch.tensor([0.7, 0.3, 0.0], dtype=torch.float64)
    torch.testing.assert_close(share_features(lam, 3), torch.log(torch.tensor([0.7, 0.3, 1e-6], dtype=torch.float64)))
    with pytest.raises(ValueError, match="needs 1 to 3"):
        share_features(lam, 4)


@pytest.mark.parametrize(
    "linear, pattern",
    [
        ({"coef": [[1.0]], "intercept": [0.0]}, "C >= 2"),
        ({"coef": [[1.0], [1.0, 2.0]], "intercept": [0.0, 0.0]}, "C >= 2"),
        ({"coef": [[1.0], [2.0]], "intercept": [0.0]}, "C >= 2"),
        ({"coef": [[1.0], ["a"]], "intercept": [0.0, 0.0]}, "C >= 2"),
        ({"coef": [[1.0], [2.0]], "intercept": [0.0, 0.0], "bias": 1}, "C >= 2"),
        ({"coef": [[1.0] * 9, [2.0] * 9], "intercept": [0.0, 0.0]}, "reads 9 shares but the embeddings have 8"),
    ],
)
def test_bad_linear_counters(linear, pattern):
    with pytest.raises(ValueError, match=pattern):
        estimate_num_spk(torch.ones(50, 8), linear=linear)
    assert check_linear({"coef": [[1, 2], [3, 4]], "intercept": [0, 1]}) == {"coef": [[1.0, 2.0], [3.0, 4.0]], "intercept": [0.0, 1.0]}
    with pytest.raises(ValueError, match=r"got \{'coef': \[\[0.5, .*\.\.\.$"):  # a long counter is cut short
        check_linear({"coef": [[0.5] * 40] * 2, "intercept": [0.0]})


def test_fit_needs_every_count():
    lam, counts = labelled_shares(per_count=5)
    with pytest.raises(ValueError, match="every count from 1"):
        fit_linear_counter(lam[5:], counts[5:], num_features=3)
    with pytest.raises(ValueError, match="15 inputs of shares but 14 counts"):
        fit_linear_counter(lam, counts[:-1], num_features=3)
