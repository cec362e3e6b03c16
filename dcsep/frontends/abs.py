"""Frontend contract."""

from __future__ import annotations

import abc
from typing import Iterable

import torch
from torch import nn


class Frontend(nn.Module, abc.ABC):
    """Waveform <-> time-frequency representation.

    Subclasses set these attributes in ``__init__``:

    * ``num_bins`` (F): the feature dimension passed on to the encoder;
    * ``fs``: sample rate in Hz;
    * ``n_fft``: analysis window length in samples; inputs shorter than it
      are zero-padded to it before :meth:`stft`;
    * ``hop_length``: frame shift in samples (frames <-> samples in the
      trainer's chunking);
    * ``needs_stats``: whether :meth:`features` uses statistics computed from
      training data (:meth:`compute_stats` / :meth:`set_stats`); a trainer
      computes them only then.

    The statistics hooks (:meth:`compute_stats`, :meth:`set_stats`,
    :meth:`get_stats`) have defaults for frontends without statistics:
    nothing to compute, set or share.
    """

    num_bins: int
    fs: int
    n_fft: int
    hop_length: int
    needs_stats: bool = False

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
    def features(self, spec: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """spec: (B, T, F) complex, lengths: (B,) valid frames (None: all T) -> features (B, T, F) real.

        Features of a padded batch must not depend on the padding: statistics
        of an utterance are taken over its first ``lengths[b]`` frames only.
        """

    def compute_stats(self, wavs: Iterable) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Training-data statistics from an iterable of 1-D waveforms (None: the frontend has none)."""
        return None

    def set_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the training-data statistics, each of shape (F,)."""
        raise NotImplementedError(f"{type(self).__name__} has no feature statistics")

    def get_stats(self) -> tuple[torch.Tensor, ...]:
        """The statistics buffers themselves (updating them in place, e.g. by a broadcast, sets them); () if none."""
        return ()

    def forward(
        self, wav: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """wav: (B, L), lengths: (B,) samples -> feats (B, T, F), spec (B, T, F), frame lengths (B,)."""
        if lengths is None:
            lengths = torch.full((wav.shape[0],), wav.shape[-1], dtype=torch.long, device=wav.device)
        spec = self.stft(wav)
        frame_lengths = self.num_frames(lengths)
        return self.features(spec, frame_lengths), spec, frame_lengths
