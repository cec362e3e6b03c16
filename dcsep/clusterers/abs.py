"""Clusterer contract."""

from __future__ import annotations

import abc

import torch


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
