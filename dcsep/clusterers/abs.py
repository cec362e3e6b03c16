"""Clusterer contract."""

from __future__ import annotations

import abc

import torch

from dcsep.errors import ConfigError
from dcsep.losses.weights import valid_mask


class Clusterer(abc.ABC):
    """Partitions the embeddings of each utterance into ``num_spk`` groups.

    Plain (stateless) classes: configured once from YAML, called many times.
    The number of clusters is a call argument, so a model trained on two
    speakers can separate three. Most clusterers give binary masks (each bin
    belongs to one source); a soft one (``soft = True``, e.g. ``soft_kmeans``)
    shares a bin between the sources in proportions that sum to 1.
    """

    #: True for clusterers that need the reference sources (``refs``), e.g. oracle k-means.
    needs_refs: bool = False
    #: True for clusterers whose masks are fractions in [0, 1] rather than 0 or 1.
    soft: bool = False

    @abc.abstractmethod
    def __call__(
        self,
        V: torch.Tensor,
        num_spk: int,
        active: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
        refs: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Cluster and return masks.

        Args:
            V: (B, T, F, K) embeddings.
            num_spk: C, number of clusters.
            active: (B, T, F) bool, the bins to fit on (e.g. above the -40 dB
                threshold); the fitted clusters are then applied to all bins.
                None: all valid bins.
            lengths: (B,) frames; frames past it get all-zero masks.
            refs: (B, C, T, F) source magnitudes, for oracle clusterers only.

        Returns:
            masks: (B, C, T, F) float in {0, 1} (in [0, 1] for a soft
            clusterer); on valid frames each bin's masks sum to 1.
        """

    def fit(self, X: torch.Tensor, num_spk: int, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Fit ``num_spk`` clusters and return their centres in the embedding space.

        The first half of the fit -> centres / :meth:`assign` pair: fit on some
        bins (e.g. a subsample of a long input's active bins), then let every
        bin join the clusters by its distances to the centres, block by
        block. Here the clusterer labels the fitted bins (``__call__``, the
        argmax of its masks) and each centre is the mean embedding of its
        cluster's fitted bins; a subclass may override it.

        Args:
            X: (B, N, K) embeddings.
            num_spk: C, the number of clusters.
            weights: (B, N), the bins to fit on are those of weight > 0 (an
                item without any falls back to all of its bins); None: all.

        Returns:
            centres: (B, C, K) in the dtype of X; the row of a cluster that
            got no fitted bin is NaN (:meth:`assign` never gives it a bin).

        Example:
            >>> from dcsep.registry import CLUSTERERS
            >>> X = torch.tensor([[[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]])
            >>> clus = CLUSTERERS.get("kmeans")(n_init=1)
            >>> centres = clus.fit(X, 2)
            >>> sorted(round(c[0], 2) for c in centres[0].tolist())
            [0.05, 0.95]
            >>> clus.assign(torch.tensor([[0.8, 0.2], [0.3, 0.7]]), centres[0]).sum(0).tolist()
            [1.0, 1.0]
        """
        if self.needs_refs:
            raise ConfigError(
                f"clusterer {getattr(self, 'registry_name', type(self).__name__)!r} needs the reference sources "
                "and cannot be fitted on a subsample: call it on the whole utterance"
            )
        if X.dim() != 3:
            raise ValueError(f"X must have shape (B, N, K), got {tuple(X.shape)}")
        b, n, _ = X.shape
        w = None if weights is None else fit_mask(weights, (b, n), X.device)
        masks = self(X[:, None], num_spk, None if w is None else w[:, None])  # (B, C, 1, N)
        return cluster_means(X, masks[:, :, 0].argmax(1), num_spk, w)

    def assign(self, X: torch.Tensor, centres: torch.Tensor | None = None) -> torch.Tensor:
        """Masks of bins from their distances to fitted centres (the second half of :meth:`fit`).

        Args:
            X: (N, K) embeddings with ``centres`` (C, K), or (B, N, K) with
                ``centres`` (B, C, K); or, without ``centres``, (..., C)
                squared distances to the centres (see :meth:`distance_masks`).
            centres: from :meth:`fit`; a NaN row is a cluster without bins.

        Returns:
            (N, C), (B, N, C) or (..., C) masks: the one-hot of the nearest
            centre; shares of each bin for a soft clusterer.
        """
        if centres is None:
            return self.distance_masks(X)
        return self.distance_masks(centre_distances(X, centres))

    def distance_masks(self, d2: torch.Tensor) -> torch.Tensor:
        """Masks from the squared distances of bins to the cluster centres.

        Args:
            d2: (..., C) squared distances to the C centres, up to a constant
                per bin; ``inf`` for a centre that must not be chosen.

        Returns:
            (..., C) masks: here the one-hot of the nearest centre; soft
            clusterers override it.
        """
        return torch.nn.functional.one_hot(d2.argmin(-1), d2.shape[-1]).to(d2.dtype)


def fit_mask(weights: torch.Tensor, shape: tuple[int, int], device: torch.device | str) -> torch.Tensor:
    """weights: (B, N) -> (B, N) bool, the bins of positive weight (all bins of an item without any)."""
    if tuple(weights.shape) != tuple(shape):
        raise ValueError(f"weights must have shape {tuple(shape)}, got {tuple(weights.shape)}")
    w = weights.to(device) > 0
    return with_fallback(w, torch.ones_like(w))


def cluster_means(X: torch.Tensor, labels: torch.Tensor, num_spk: int, fitted: torch.Tensor | None = None) -> torch.Tensor:
    """X: (B, N, K), labels: (B, N) in [0, C) -> (B, C, K) mean of each cluster, NaN for an empty one.

    ``fitted``: (B, N) bool, only these bins count (None: all).
    """
    onehot = torch.nn.functional.one_hot(labels, num_spk).to(X.dtype)  # (B, N, C)
    if fitted is not None:
        onehot = onehot * fitted[..., None].to(X.dtype)
    mass = onehot.sum(1)  # (B, C)
    sums = torch.stack([o.T @ x for o, x in zip(onehot, X)])  # (B, C, K), one 2-D product per item
    centres = sums / mass.clamp_min(1)[..., None]
    return torch.where(mass[..., None] > 0, centres, torch.full_like(centres, float("nan")))


def centre_distances(X: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Squared distances to the centres, less the per-bin constant |x|^2.

    Args:
        X: (N, K) with centres (C, K), or (B, N, K) with centres (B, C, K).
        centres: NaN rows (clusters without bins) get distance ``inf``.

    Returns:
        (N, C) or (B, N, C): |c|^2 - 2 x.c (the masks of a clusterer depend
        only on differences between centres).
    """
    if X.dim() != centres.dim() or X.dim() not in (2, 3) or X.shape[-1] != centres.shape[-1]:
        raise ValueError(f"X (N, K) or (B, N, K) and centres (C, K) or (B, C, K) do not match: {tuple(X.shape)}, {tuple(centres.shape)}")
    ok = ~centres.isnan().any(-1)  # (..., C)
    c = torch.where(ok[..., None], centres, torch.zeros_like(centres)).to(X.dtype)
    c2 = torch.where(ok, (c * c).sum(-1), float("inf")).to(X.dtype)  # (..., C)
    if X.dim() == 2:
        return torch.addmm(c2, X, c.T, alpha=-2.0)
    return torch.baddbmm(c2[:, None, :], X, c.transpose(1, 2), alpha=-2.0)


def labels_to_masks(labels: torch.Tensor, num_spk: int, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """labels: (B, T, F) long -> masks: (B, C, T, F) float, zero past ``lengths``."""
    masks = torch.nn.functional.one_hot(labels, num_spk).permute(0, 3, 1, 2).float()
    if lengths is not None:
        t = labels.shape[1]
        valid = torch.arange(t, device=labels.device)[None, :] < lengths.to(labels.device)[:, None]
        masks = masks * valid[:, None, :, None]
    return masks


def fit_weights(
    shape: tuple[int, int, int],
    active: torch.Tensor | None,
    lengths: torch.Tensor | None,
    device: torch.device | str,
) -> torch.Tensor:
    """The bins a clusterer fits on, as (B, N) float weights in {0, 1} (N = T*F).

    Valid (non-padding) bins that are ``active``; an utterance with no active
    bin at all (silent input) falls back to all of its valid bins, so that
    its clusters are still defined.

    Args:
        shape: (B, T, F).
        active: (B, T, F) bool or None (all valid bins).
        lengths: (B,) frames or None.
    """
    b, t, f = shape
    valid = valid_mask((b, t, f), lengths, device).reshape(b, t * f)
    if active is None:
        return valid.float()
    if active.shape != (b, t, f):
        raise ValueError(f"active must have shape {(b, t, f)}, got {tuple(active.shape)}")
    w = valid & active.to(device).reshape(b, t * f).bool()
    return with_fallback(w, valid).float()


def with_fallback(w: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
    """w, fallback: (R, N) -> w, with each all-zero row of ``w`` replaced by that row of ``fallback``."""
    empty = ~(w > 0).any(1, keepdim=True)  # (R, 1)
    return torch.where(empty, fallback.to(w.dtype), w)
