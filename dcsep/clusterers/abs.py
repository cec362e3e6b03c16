"""Clusterer contract."""

from __future__ import annotations

import abc

import torch

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

    def assign(self, d2: torch.Tensor) -> torch.Tensor:
        """Masks from the squared distances of bins to the cluster centres.

        Used where the clusters were fitted on a subsample of the bins and
        every bin then joins them by its distances (long inputs, see
        :class:`dcsep.separate.Separator`).

        Args:
            d2: (..., C) squared distances to the C centres, up to a constant
                per bin; ``inf`` for a centre that must not be chosen.

        Returns:
            (..., C) masks: here the one-hot of the nearest centre; soft
            clusterers override it.
        """
        return torch.nn.functional.one_hot(d2.argmin(-1), d2.shape[-1]).to(d2.dtype)


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
