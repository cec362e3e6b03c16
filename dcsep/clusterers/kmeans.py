"""Global k-means (the paper's inference) in batched torch."""

from __future__ import annotations

import torch
from typeguard import typechecked

from dcsep.clusterers.abs import Clusterer, labels_to_masks
from dcsep.registry import CLUSTERERS


def _sq_dist(X: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """X: (B, N, K), C: (B, M, K) -> squared distances (B, N, M)."""
    return ((X * X).sum(-1, keepdim=True) - 2 * X @ C.transpose(1, 2) + (C * C).sum(-1)[:, None, :]).clamp_min(0)


def _sample(p: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """p: (B, N) non-negative -> (B,) one index per row, drawn proportionally to p."""
    total = p.sum(1, keepdim=True)
    p = torch.where(total > 0, p, torch.ones_like(p))  # a row with no mass: uniform
    u = torch.rand(p.shape[0], 1, generator=gen, dtype=p.dtype, device="cpu").to(p.device)
    cdf = p.cumsum(1) / p.sum(1, keepdim=True)
    return torch.searchsorted(cdf, u).squeeze(1).clamp_max(p.shape[1] - 1)


def kmeans_pp_init(X: torch.Tensor, w: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k-means++ seeding. X: (B, N, D), w: (B, N) point weights -> centres (B, k, D)."""
    b = X.shape[0]
    rows = torch.arange(b, device=X.device)
    centres = [X[rows, _sample(w, gen)]]
    d2 = _sq_dist(X, centres[0][:, None]).squeeze(-1)
    for _ in range(1, k):
        centres.append(X[rows, _sample(w * d2, gen)])
        d2 = torch.minimum(d2, _sq_dist(X, centres[-1][:, None]).squeeze(-1))
    return torch.stack(centres, 1)


def lloyd(X, w, centres, max_iter: int, tol: float):
    """Lloyd iterations with empty-cluster re-seeding.

    Returns (labels (B, N), centres (B, k, D), inertia (B,)) with inertia the
    weighted sum of squared distances to the assigned centre.
    """
    b, n, _ = X.shape
    k = centres.shape[1]
    rows = torch.arange(b, device=X.device)
    for _ in range(max_iter):
        d2 = _sq_dist(X, centres)
        labels = d2.argmin(-1)  # (B, N)
        onehot = torch.nn.functional.one_hot(labels, k).to(X.dtype) * w[..., None]  # (B, N, k)
        mass = onehot.sum(1)  # (B, k)
        new = (onehot.transpose(1, 2) @ X) / mass.clamp_min(1e-12)[..., None]
        empty = mass <= 0
        if empty.any():
            # re-seed each empty cluster at the weighted point farthest from its centre
            far = (d2.gather(-1, labels[..., None]).squeeze(-1) * (w > 0)).argmax(1)  # (B,)
            new = torch.where(empty[..., None], X[rows, far][:, None, :], new)
        shift = (new - centres).square().sum(-1).max()
        centres = new
        if shift <= tol:
            break
    d2 = _sq_dist(X, centres)
    labels = d2.argmin(-1)
    inertia = (d2.gather(-1, labels[..., None]).squeeze(-1) * w).sum(1)
    return labels, centres, inertia


def kmeans(
    X: torch.Tensor,
    k: int,
    weights: torch.Tensor | None = None,
    n_init: int = 3,
    max_iter: int = 100,
    tol: float = 1e-6,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched weighted k-means with k-means++ seeding.

    Args:
        X: (B, N, D) points. weights: (B, N) non-negative; points of weight 0
            do not move the centres but are still labelled (fit on active
            bins, apply to all).
        k: clusters. n_init: restarts, the lowest inertia wins per item.

    Returns:
        labels (B, N) long, centres (B, k, D).
    """
    if k < 1:
        raise ValueError(f"number of clusters must be >= 1, got {k}")
    X = X.float()
    w = torch.ones(X.shape[:2], device=X.device) if weights is None else weights.to(X.device, X.dtype)
    gen = torch.Generator().manual_seed(seed)
    best = None
    for _ in range(n_init):
        labels, centres, inertia = lloyd(X, w, kmeans_pp_init(X, w, k, gen), max_iter, tol)
        if best is None:
            best = [labels, centres, inertia]
        else:
            better = inertia < best[2]
            best[0] = torch.where(better[:, None], labels, best[0])
            best[1] = torch.where(better[:, None, None], centres, best[1])
            best[2] = torch.where(better, inertia, best[2])
    return best[0], best[1]


@CLUSTERERS.register("kmeans")
class KMeansClusterer(Clusterer):
    """Global k-means: all embeddings of an utterance are clustered together.

    Fitted on the active bins (``active``), then every bin takes its nearest centre.

    Args:
        n_init: k-means++ restarts. max_iter: Lloyd iterations cap.
        tol: stop when no centre moves more than this (squared distance).
        seed: seeds the k-means++ draws, so results are reproducible.
    """

    @typechecked
    def __init__(self, n_init: int = 3, max_iter: int = 100, tol: float = 1e-6, seed: int = 0):
        if n_init < 1 or max_iter < 1 or tol < 0:
            raise ValueError(f"need n_init >= 1, max_iter >= 1, tol >= 0; got {n_init}, {max_iter}, {tol}")
        self.n_init, self.max_iter, self.tol, self.seed = n_init, max_iter, tol, seed

    def __call__(self, V, num_spk, active=None, lengths=None, refs=None):
        b, t, f, k = V.shape
        from dcsep.losses.weights import valid_mask

        w = valid_mask((b, t, f), lengths, V.device)
        if active is not None:
            w = w & active.to(V.device)
        labels, _ = kmeans(V.reshape(b, t * f, k), num_spk, w.reshape(b, -1).float(), self.n_init, self.max_iter, self.tol, self.seed)
        return labels_to_masks(labels.reshape(b, t, f), num_spk, lengths)
