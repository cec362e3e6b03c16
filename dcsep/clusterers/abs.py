"""Clusterer contract."""

from __future__ import annotations

import abc

import torch

from dcsep.losses.weights import valid_mask


class Clusterer(abc.ABC):
    """Partitions the embeddings of each utterance into ``num_spk`` groups.

    Plain (stateless) classes: configured once from YAML, called many times.
    The number of clusters is a call argument, so a model trained on two
    speakers can separate three.
    """

    #: True for clusterers that need the reference sources (``refs``), e.g. oracle k-means.
    needs_refs: bool = False

    @abc.abstractmethod
    def __call__(
        self,
        V: torch.Tensor,
        num_spk: int,
        active: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
        refs: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Cluster and return binary masks.

        Args:
            V: (B, T, F, K) embeddings.
            num_spk: C, number of clusters.
            active: (B, T, F) bool, the bins to fit on (e.g. above the -40 dB
                threshold); the fitted clusters are then applied to all bins.
                None: all valid bins.
            lengths: (B,) frames; frames past it get all-zero masks.
            refs: (B, C, T, F) source magnitudes, for oracle clusterers only.

        Returns:
            masks: (B, C, T, F) float in {0, 1}; on valid frames each bin
            belongs to exactly one source.
        """


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
