"""Encoder contract."""

from __future__ import annotations

import abc

import torch
from torch import nn


class Encoder(nn.Module, abc.ABC):
    """Maps features to one unit-norm embedding per time-frequency bin.

    Subclasses take ``input_dim`` (F, given by the model from the frontend)
    as their first keyword argument and set ``self.embed_dim`` (K).
    """

    embed_dim: int

    @abc.abstractmethod
    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """feats: (B, T, F), lengths: (B,) frames -> V: (B, T, F, K), rows of unit norm.

        Frames past a sequence's length may hold any finite value; losses and
        clusterers mask them out.
        """


def embedding_head(x: torch.Tensor, num_bins: int, embed_dim: int, activation: str) -> torch.Tensor:
    """x: (B, T, F*K) -> V: (B, T, F, K) after the activation and unit-norm rows."""
    b, t, _ = x.shape
    if activation == "tanh":
        x = torch.tanh(x)
    elif activation == "sigmoid":
        x = torch.sigmoid(x)
    v = x.reshape(b, t, num_bins, embed_dim)
    return torch.nn.functional.normalize(v, dim=-1, eps=1e-8)
