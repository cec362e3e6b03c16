"""Frontend contract."""

from __future__ import annotations

import abc

import torch
from torch import nn


class Frontend(nn.Module, abc.ABC):
    """Waveform <-> time-frequency representation.

    Subclasses set ``self.num_bins`` (F, the feature dimension passed on to the
    encoder) and ``self.fs`` (sample rate in Hz).
    """

    num_bins: int
    fs: int

    @abc.abstractmethod
    def stft(self, wav: torch.Tensor) -> torch.Tensor:
        """wav: (B, L) real -> spec: (B, T, F) complex."""

    @abc.abstractmethod
    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """spec: (B, T, F) complex -> wav: (B, length) real."""

    @abc.abstractmethod
    def num_frames(self, num_samples: torch.Tensor | int) -> torch.Tensor | int:
        """Number of STFT frames for a signal of ``num_samples`` samples."""

    @abc.abstractmethod
    def features(self, spec: torch.Tensor) -> torch.Tensor:
        """spec: (B, T, F) complex -> normalised features: (B, T, F) real."""

    def forward(
        self, wav: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """wav: (B, L), lengths: (B,) samples -> feats (B, T, F), spec (B, T, F), frame lengths (B,)."""
        if lengths is None:
            lengths = torch.full((wav.shape[0],), wav.shape[-1], dtype=torch.long, device=wav.device)
        spec = self.stft(wav)
        return self.features(spec), spec, self.num_frames(lengths)
