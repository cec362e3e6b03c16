"""Log-magnitude STFT frontend (the paper's features)."""

from __future__ import annotations

import torch
from typeguard import typechecked

from dcsep.frontends.abs import Frontend
from dcsep.registry import FRONTENDS


@FRONTENDS.register("stft")
class STFTFrontend(Frontend):
    """Log-magnitude STFT with mean/variance normalisation.

    Defaults are the paper's: 8 kHz, 256-sample (32 ms) window, 64-sample
    (8 ms) hop, square root of the Hann window, 129 bins.

    The normalisation statistics (per-bin mean and standard deviation of the
    log magnitude) are buffers: computed from training data with
    :meth:`accumulate_stats` / :meth:`set_stats`, then saved with the model.
    Until set, they are identity (mean 0, std 1).

    Args:
        fs: sample rate in Hz.
        n_fft: window and FFT length in samples.
        hop_length: frame shift in samples.
        window: ``"sqrt_hann"`` or ``"hann"``.
        log_floor: added to the magnitude before the log.
        center: pad the signal by ``n_fft // 2`` on both sides (torch.stft).

    Example:
        >>> fe = STFTFrontend()
        >>> feats, spec, n = fe(torch.randn(1, 8000))
        >>> tuple(feats.shape), int(n[0])
        ((1, 126, 129), 126)
    """

    @typechecked
    def __init__(
        self,
        fs: int = 8000,
        n_fft: int = 256,
        hop_length: int = 64,
        window: str = "sqrt_hann",
        log_floor: float = 1e-6,
        center: bool = True,
    ):
        super().__init__()
        if window not in ("sqrt_hann", "hann"):
            raise ValueError(f"window must be 'sqrt_hann' or 'hann', not {window!r}")
        if fs <= 0:
            raise ValueError(f"fs must be positive, got {fs}")
        if log_floor <= 0:
            raise ValueError(f"log_floor must be positive, got {log_floor}")
        if n_fft <= 0 or hop_length <= 0 or hop_length > n_fft:
            raise ValueError(f"need 0 < hop_length <= n_fft, got n_fft={n_fft}, hop_length={hop_length}")
        self.fs = fs
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.log_floor = log_floor
        self.center = center
        self.num_bins = n_fft // 2 + 1
        win = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        if window == "sqrt_hann":
            win = win.sqrt()
        self.register_buffer("window", win.float(), persistent=False)
        self.register_buffer("mean", torch.zeros(self.num_bins))
        self.register_buffer("std", torch.ones(self.num_bins))

    def stft(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            wav.float(),
            self.n_fft,
            self.hop_length,
            window=self.window,
            center=self.center,
            return_complex=True,
        )
        return spec.transpose(-1, -2)  # (B, F, T) -> (B, T, F)

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        return torch.istft(
            spec.transpose(-1, -2),
            self.n_fft,
            self.hop_length,
            window=self.window,
            center=self.center,
            length=length,
        )

    def num_frames(self, num_samples):
        if self.center:
            return num_samples // self.hop_length + 1
        return (num_samples - self.n_fft) // self.hop_length + 1

    def log_magnitude(self, spec: torch.Tensor) -> torch.Tensor:
        """spec: (B, T, F) complex -> log magnitude (B, T, F)."""
        return torch.log(spec.abs() + self.log_floor)

    def features(self, spec: torch.Tensor) -> torch.Tensor:
        return (self.log_magnitude(spec) - self.mean) / self.std

    def set_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the normalisation statistics, each of shape (F,)."""
        if mean.shape != (self.num_bins,) or std.shape != (self.num_bins,):
            raise ValueError(f"stats must have shape ({self.num_bins},), got {tuple(mean.shape)}, {tuple(std.shape)}")
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(1e-5))

    @torch.no_grad()
    def compute_stats(self, wavs) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-bin mean and std of the log magnitude over an iterable of 1-D waveforms.

        Accumulates in float64 so the result does not depend on the order of
        the data beyond rounding.
        """
        total = torch.zeros(self.num_bins, dtype=torch.float64)
        total_sq = torch.zeros(self.num_bins, dtype=torch.float64)
        count = 0
        for wav in wavs:
            wav = torch.as_tensor(wav, dtype=torch.float32).reshape(1, -1)
            logmag = self.log_magnitude(self.stft(wav))[0].double()  # (T, F)
            total += logmag.sum(0)
            total_sq += (logmag**2).sum(0)
            count += logmag.shape[0]
        if count == 0:
            raise ValueError("no frames to compute normalisation statistics from")
        mean = total / count
        std = (total_sq / count - mean**2).clamp_min(0).sqrt()
        return mean.float(), std.float()
