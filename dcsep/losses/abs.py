"""Loss contract."""

from __future__ import annotations

import abc

import torch
from torch import nn


class Loss(nn.Module, abc.ABC):
    """An objective on embeddings and targets, normalised per utterance.

    ``forward`` returns the mean over the batch of per-utterance losses, each
    divided by its total pair weight, so the scale does not depend on the
    utterance length.
    """

    @abc.abstractmethod
    def forward(
        self,
        V: torch.Tensor,
        Y: torch.Tensor,
        mix_mag: torch.Tensor,
        lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """V: (B, T, F, K) embeddings; Y: (B, T, F, C) one-hot targets (a
        speaker absent from an utterance has an all-zero column); mix_mag:
        (B, T, F) mixture magnitude, for bin weights; lengths: (B,) frames.
        Returns a scalar."""


def ibm_targets(source_mags: torch.Tensor, num_spk: int | None = None) -> torch.Tensor:
    """Ideal-binary-mask labels as one-hot targets.

    Args:
        source_mags: (B, C, T, F) magnitudes of the sources.
        num_spk: number of target columns (>= C); defaults to C.

    Returns:
        Y: (B, T, F, num_spk) float one-hot; bin n belongs to the loudest source.
    """
    c = source_mags.shape[1]
    labels = source_mags.argmax(dim=1)  # (B, T, F)
    return nn.functional.one_hot(labels, num_spk or c).to(source_mags.dtype)
