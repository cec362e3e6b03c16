"""Speaker counting from the embeddings: how many sources to cluster into.

Deep-clustering embeddings are unit vectors trained so that V V^T matches the
ideal affinity Y Y^T: the bins of one speaker point one way, different
speakers' directions are near orthogonal. The weighted K x K second-moment
matrix of the active bins,

    G = V^T W V / sum(w)    (never N x N; trace 1 for unit-norm rows),

then has about one eigenvalue per speaker, close to the share of the active
bins that speaker dominates; the rest is spread thinly over the other
directions. The effective number of directions of that spectrum, the
participation ratio

    D = 1 / sum_i lambda_i^2    (lambda_i: the eigenvalues, summing to 1),

is C for C speakers of equal share on orthogonal directions, and more as
the embeddings spread; :func:`estimate_num_spk` returns the number of
thresholds that D reaches, plus one.

On the released model (trained on two-speaker mixtures), on validation data
(200 inputs of each count), the quartiles of D are 1.80 / 2.12 / 2.41 for
one speaker, 2.88 / 3.05 / 3.25 for two and 2.95 / 3.10 / 3.26 for three:
the model embeds a third speaker much like two, so counting three is not
reliable with it. The default thresholds (2.7 for two, 3.8 for three) are
the pair with the best mean accuracy over 1, 2 and 3 speakers among those
that keep 1 and 2 speakers at 90% or more, chosen on validation data only
(speechocean762 ``cv``, ``cv_3spk`` and single utterances of its validation
speakers) with ``bench/bench_count.py --select``; see ``docs/decoding.md``,
"Counting speakers", for the test figures.

A model trained on three-speaker mixtures as well changes the shape of the
spectrum more than its spread: a linear counter (``linear``, multinomial
logistic regression on the logarithms of the leading shares, fitted with
:func:`fit_linear_counter` on a model's validation inputs) then tells two
speakers from three where one threshold on D cannot; a model packed with
one stores it in its ``count_conf``.
"""

from __future__ import annotations

import torch

#: default thresholds on the participation ratio D for 2 and for 3 speakers
THRESHOLDS = (2.7, 3.8)
#: shares below this are taken as this before the logarithm of a linear counter's features
SHARE_FLOOR = 1e-6


def eigen_shares(V: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Eigenvalues of the weighted K x K second moment of the embeddings, largest first, summing to 1.

    Args:
        V: (N, K) embeddings of one utterance, or (B, N, K) of B of them
            (flatten (T, F, K) to (T * F, K) first).
        weights: (N,) or (B, N) non-negative bin weights (e.g. the active
            bins); None: all 1. An item without any weight uses all of its bins.

    Returns:
        (K,) or (B, K) float64 shares, descending ([1, 0, ...] for all-zero
        embeddings).

    Example:
        >>> V = torch.zeros(100, 4)
        >>> V[:70, 0] = 1.0  # 70% of the bins point one way,
        >>> V[70:, 1] = 1.0  # 30% another
        >>> [round(x, 2) for x in eigen_shares(V).tolist()]
        [0.7, 0.3, 0.0, 0.0]
    """
    X = V.detach().double()
    batched = X.dim() == 3
    if not batched:
        X = X.reshape(1, -1, X.shape[-1])
    w = torch.ones(X.shape[:2], dtype=X.dtype, device=X.device) if weights is None else weights.detach().double().to(X.device)
    w = w.reshape(X.shape[0], -1)
    if w.shape[1] != X.shape[1]:
        raise ValueError(f"weights must have one value per bin ({X.shape[1]}), got shape {tuple(weights.shape)}")
    if (w < 0).any():
        raise ValueError("weights must be non-negative")
    w = torch.where(w.sum(1, keepdim=True) > 0, w, torch.ones_like(w))
    G = X.transpose(1, 2) @ (X * w[..., None])  # (B, K, K)
    lam = torch.linalg.eigvalsh(G).flip(-1).clamp_min(0)  # descending
    total = lam.sum(-1, keepdim=True)
    one = torch.zeros_like(lam)
    one[..., 0] = 1.0  # no energy at all (zero embeddings): a single direction
    lam = torch.where(total > 0, lam / total.clamp_min(torch.finfo(lam.dtype).tiny), one)
    return lam if batched else lam[0]


def participation_ratio(shares: torch.Tensor) -> torch.Tensor:
    """shares: (..., K) eigenvalue shares (summing to 1) -> (...) effective number of directions, 1 / sum shares^2."""
    return 1.0 / (shares * shares).sum(-1).clamp_min(torch.finfo(shares.dtype).tiny)


def share_features(shares: torch.Tensor, num: int) -> torch.Tensor:
    """shares: (..., K) eigenvalue shares -> (..., num) the logarithms of the ``num`` largest (floored at :data:`SHARE_FLOOR`)."""
    if not 1 <= num <= shares.shape[-1]:
        raise ValueError(f"a linear counter of {num} features needs 1 to {shares.shape[-1]} (the embedding dimension), got {num}")
    return torch.log(shares[..., :num].clamp_min(SHARE_FLOOR))


def linear_scores(shares: torch.Tensor, linear: dict) -> torch.Tensor:
    """shares: (..., K) -> (..., C) the scores of a linear counter, column c for c + 1 speakers."""
    coef = torch.as_tensor(linear["coef"], dtype=shares.dtype, device=shares.device)
    intercept = torch.as_tensor(linear["intercept"], dtype=shares.dtype, device=shares.device)
    return share_features(shares, coef.shape[1]) @ coef.T + intercept


def count_from_shares(
    shares: torch.Tensor, max_spk: int, thresholds: tuple[float, ...] = THRESHOLDS, linear: dict | None = None
) -> torch.Tensor:
    """shares: (..., K) from :func:`eigen_shares` -> (...) long counts in [1, max_spk].

    Without ``linear``: 1 plus the number of ``thresholds`` (for 2, 3, ...
    speakers, ascending) that the participation ratio reaches; counts past
    the last threshold need one more direction each (threshold + 1 per
    speaker).

    With ``linear`` (``{"coef": (C, m) nested lists, "intercept": (C,)}``,
    row c for c + 1 speakers; see :func:`fit_linear_counter`): the count
    whose score ``coef @ share_features(shares, m) + intercept`` is the
    largest among the first ``min(max_spk, C)``; ``thresholds`` are then
    unused, and a count above C is never returned.
    """
    if linear is not None:
        scores = linear_scores(shares, linear)
        return scores[..., : min(max_spk, scores.shape[-1])].argmax(-1) + 1
    d = participation_ratio(shares)
    t = list(thresholds)
    while len(t) < max_spk - 1:
        t.append(t[-1] + 1.0)
    t = torch.tensor(t[: max_spk - 1], dtype=d.dtype, device=d.device)
    return (d[..., None] >= t).sum(-1) + 1


def fit_linear_counter(shares, counts, num_features: int, c: float = 1.0) -> dict:
    """A linear counter fitted on labelled inputs: multinomial logistic regression on their share features.

    Args:
        shares: (n, K) eigenvalue shares of n inputs (:func:`eigen_shares`).
        counts: (n,) their true counts, every count from 1 to the largest present.
        num_features: how many leading shares it reads (``m``).
        c: inverse regularisation strength (scikit-learn's ``C``) on the
            standardised features.

    Returns:
        ``{"coef": (C, m) nested lists, "intercept": (C,) list}`` for
        :func:`count_from_shares` (the standardisation folded in), C the
        largest count.

    Example:
        >>> lam = torch.tensor([[0.9, 0.05, 0.05], [0.85, 0.1, 0.05], [0.5, 0.4, 0.1], [0.55, 0.35, 0.1]])
        >>> lin = fit_linear_counter(lam, [1, 1, 2, 2], num_features=2)
        >>> count_from_shares(lam, 3, linear=lin).tolist()
        [1, 1, 2, 2]
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(counts, dtype=int)
    top = int(y.max()) if y.size else 0
    if top < 2 or sorted(set(y.tolist())) != list(range(1, top + 1)):
        raise ValueError(f"counts must hold every count from 1 to the largest (at least 2), got {sorted(set(y.tolist()))}")
    Z = share_features(torch.as_tensor(np.asarray(shares), dtype=torch.float64), num_features).numpy()
    if Z.shape[0] != y.shape[0]:
        raise ValueError(f"{Z.shape[0]} inputs of shares but {y.shape[0]} counts")
    mu, sd = Z.mean(0), Z.std(0).clip(1e-9)
    fit = LogisticRegression(C=c, max_iter=10000).fit((Z - mu) / sd, y)
    coef = fit.coef_ if top > 2 else np.stack([-fit.coef_[0] / 2, fit.coef_[0] / 2])  # two classes: one row
    intercept = fit.intercept_ if top > 2 else np.array([-fit.intercept_[0] / 2, fit.intercept_[0] / 2])
    coef = coef / sd
    return {"coef": coef.tolist(), "intercept": (intercept - coef @ mu).tolist()}


def estimate_num_spk(
    V: torch.Tensor,
    weights: torch.Tensor | None = None,
    max_spk: int = 3,
    thresholds: tuple[float, ...] = THRESHOLDS,
    linear: dict | None = None,
) -> int:
    """The number of speakers in one utterance's embeddings, from 1 to ``max_spk``.

    From the participation ratio of the eigenvalue shares of
    :func:`eigen_shares`, or from a linear counter on them; see the module
    docstring.

    Args:
        V: (..., K) embeddings of one utterance, e.g. (T, F, K) or (N, K).
        weights: the bins to count on (same leading shape as V, e.g. the
            active bins of :meth:`dcsep.model.DeepClustering.active_bins`);
            None: all bins.
        max_spk: the largest count returned.
        thresholds: the participation ratios from which 2, 3, ... speakers
            are counted, ascending (default :data:`THRESHOLDS`, chosen on
            validation data).
        linear: a linear counter (:func:`fit_linear_counter`) used instead
            of ``thresholds``; it counts up to its number of rows.

    Returns:
        the count, an int in [1, max_spk].

    Example:
        >>> V = torch.zeros(100, 4)
        >>> V[:, 0] = 1.0
        >>> estimate_num_spk(V)
        1
        >>> V[50:] = torch.tensor([0.0, 1.0, 0.0, 0.0])  # half the bins point another way: D = 2
        >>> estimate_num_spk(V, thresholds=(1.8, 2.8))
        2
    """
    if not isinstance(max_spk, int) or isinstance(max_spk, bool) or max_spk < 1:
        raise ValueError(f"max_spk must be a positive int, got {max_spk!r}")
    if len(thresholds) < 1 or any(not b > a for a, b in zip(thresholds, thresholds[1:])) or thresholds[0] <= 1:
        raise ValueError(f"thresholds must be ascending and above 1, got {tuple(thresholds)}")
    if V.dim() < 2:
        raise ValueError(f"V must have shape (..., K), got {tuple(V.shape)}")
    X = V.reshape(-1, V.shape[-1])
    w = None if weights is None else weights.reshape(-1)
    if w is not None and w.shape[0] != X.shape[0]:
        raise ValueError(f"weights must have the leading shape of V {tuple(V.shape[:-1])}, got {tuple(weights.shape)}")
    if linear is not None:
        check_linear(linear, V.shape[-1])
    return int(count_from_shares(eigen_shares(X, w), max_spk, tuple(thresholds), linear))


def check_linear(linear, embed_dim: int | None = None) -> dict:
    """A linear counter ``{"coef": (C, m), "intercept": (C,)}`` of numbers, C >= 2, m <= embed_dim -> the same with lists of floats; else ValueError."""
    ok = isinstance(linear, dict) and set(linear) == {"coef", "intercept"}
    if ok:
        coef, intercept = linear["coef"], linear["intercept"]
        rows = coef if isinstance(coef, (list, tuple)) else []
        ok = (
            len(rows) >= 2
            and all(isinstance(r, (list, tuple)) and len(r) == len(rows[0]) > 0 for r in rows)
            and isinstance(intercept, (list, tuple)) and len(intercept) == len(rows)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for r in rows for x in [*r])
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in intercept)
        )
    if not ok:
        got = repr(linear)
        raise ValueError(
            "linear must be {coef: C rows of m numbers, intercept: C numbers} with C >= 2 "
            f"(row c for c + 1 speakers), got {got if len(got) <= 120 else got[:117] + '...'}"
        )
    if embed_dim is not None and len(coef[0]) > embed_dim:
        raise ValueError(f"linear reads {len(coef[0])} shares but the embeddings have {embed_dim} dimensions")
    return {"coef": [[float(x) for x in r] for r in coef], "intercept": [float(x) for x in intercept]}
