"""Log-magnitude STFT frontend (the paper's features)."""

from __future__ import annotations

import torch
from typeguard import typechecked

from dcsep.frontends.abs import Frontend
from dcsep.registry import FRONTENDS

#: feature normalisations of :class:`STFTFrontend`
NORMS = ("global", "utterance_mean", "utterance_meanvar")


@FRONTENDS.register("stft")
class STFTFrontend(Frontend):
    """Log-magnitude STFT with mean/variance normalisation.

    Defaults are the paper's: 8 kHz, 256-sample (32 ms) window, 64-sample
    (8 ms) hop, square root of the Hann window, 129 bins.

    ``norm`` chooses how the log magnitude ``x`` (B, T, F) is normalised:

    * ``"global"`` (the paper's): ``(x - mean) / std`` with per-bin training
      statistics;
    * ``"utterance_mean"``: ``(x - mu_u) / std``, where ``mu_u`` is the
      per-bin mean over the utterance's own frames. A gain or a fixed
      channel (microphone, EQ) adds a constant to ``x`` per bin, which this
      removes, so the features do not depend on the input level;
    * ``"utterance_meanvar"``: ``(x - mu_u) / sigma_u``, the utterance's own
      per-bin mean and standard deviation; no training statistics.

    The training statistics (per-bin mean and standard deviation of the log
    magnitude; for the utterance norms, of the log magnitude less its
    utterance mean) are buffers: computed from training data with
    :meth:`compute_stats` / :meth:`set_stats`, then saved with the model.
    Until set, they are identity (mean 0, std 1).

    The utterance statistics are taken over the first ``lengths[b]`` frames
    of each utterance of a padded batch, so padding does not change them.
    With ``active_db`` they are taken over the utterance's active frames only:
    those whose energy is within ``active_db`` dB of its loudest frame. A
    recording with long pauses (or digital silence) then gets the mean of its
    speech, not one pulled down by the pauses; the choice of frames depends
    on the levels relative to the loudest frame, so it is level invariant too.
    A caller that feeds a long utterance in pieces computes them once with
    :meth:`utterance_stats` and passes them to :meth:`features` as
    ``utt_stats``.

    Args:
        fs: sample rate in Hz.
        n_fft: window and FFT length in samples.
        hop_length: frame shift in samples.
        window: ``"sqrt_hann"`` or ``"hann"``.
        log_floor: added to the magnitude before the log.
        center: pad the signal by ``n_fft // 2`` on both sides (torch.stft).
        norm: ``"global"``, ``"utterance_mean"`` or ``"utterance_meanvar"``.
        active_db: for the utterance norms, take the statistics over the
            frames within this many dB of the loudest (None: all frames).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> fe = STFTFrontend()
        >>> feats, spec, n = fe(torch.randn(1, 8000))
        >>> tuple(feats.shape), int(n[0])
        ((1, 126, 129), 126)
        >>> fe = STFTFrontend(norm="utterance_mean")
        >>> x = torch.randn(1, 8000)
        >>> bool(torch.allclose(fe(x)[0], fe(10 * x)[0], atol=1e-4))
        True
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
        norm: str = "global",
        active_db: float | None = None,
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
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(map(repr, NORMS))}, not {norm!r}")
        if active_db is not None and (norm == "global" or active_db <= 0):
            raise ValueError(f"active_db must be positive and needs an utterance norm, got {active_db} with norm={norm!r}")
        self.fs = fs
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.log_floor = log_floor
        self.center = center
        self.norm = norm
        self.active_db = active_db
        self.needs_stats = norm != "utterance_meanvar"
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

    def utterance_stats(
        self, spec: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-utterance, per-bin mean and std of the log magnitude over the valid
        (with ``active_db``: the active) frames.

        Args:
            spec: (B, T, F) complex.
            lengths: (B,) valid frames (None: all T).

        Returns:
            mean (B, 1, F), std (B, 1, F) (floored at 1e-5).
        """
        return _masked_mean_std(self.log_magnitude(spec), self.stats_frames(spec, lengths))

    def stats_frames(self, spec: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The frames the utterance statistics are taken over: (B, T, 1) bool.

        The first ``lengths[b]`` frames (None: all); with ``active_db``, of
        those, the frames whose energy is within ``active_db`` dB of the
        loudest one.
        """
        b, t = spec.shape[:2]
        frames = torch.arange(t, device=spec.device)[None, :]
        valid = frames < (torch.full((b,), t, device=spec.device) if lengths is None else lengths.to(spec.device))[:, None]
        if self.active_db is not None:
            energy_db = 10 * torch.log10((spec.abs() ** 2).sum(-1) + 1e-20)  # (B, T)
            loudest = torch.where(valid, energy_db, -torch.inf).amax(1, keepdim=True)
            valid = valid & (energy_db >= loudest - self.active_db)
        return valid[..., None]

    def features(
        self,
        spec: torch.Tensor,
        lengths: torch.Tensor | None = None,
        utt_stats: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """spec: (B, T, F) complex -> features (B, T, F).

        Args:
            spec: (B, T, F) complex.
            lengths: (B,) valid frames of each utterance (None: all T); only
                the utterance norms use it.
            utt_stats: (mean, std), each (B, 1, F), from :meth:`utterance_stats`
                of the whole utterance, for a caller that passes ``spec`` in
                pieces; None computes them from ``spec`` and ``lengths``.
        """
        x = self.log_magnitude(spec)
        if self.norm == "global":
            return (x - self.mean) / self.std
        mu, sigma = utt_stats if utt_stats is not None else _masked_mean_std(x, self.stats_frames(spec, lengths))
        return (x - mu) / (self.std if self.norm == "utterance_mean" else sigma)

    def set_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the normalisation statistics, each of shape (F,)."""
        if mean.shape != (self.num_bins,) or std.shape != (self.num_bins,):
            raise ValueError(f"stats must have shape ({self.num_bins},), got {tuple(mean.shape)}, {tuple(std.shape)}")
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(1e-5))

    def get_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (mean, std) buffers themselves, each (F,)."""
        return self.mean, self.std

    @torch.no_grad()
    def compute_stats(self, wavs) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-bin mean and std of the log magnitude over an iterable of 1-D waveforms.

        For the utterance norms, of the log magnitude less each waveform's own
        per-bin mean (so the mean is 0 and the std is the within-utterance
        spread), over the frames its statistics are taken over. Accumulates in float64 so the result does not depend on the
        order of the data beyond rounding.
        """
        total = torch.zeros(self.num_bins, dtype=torch.float64)
        total_sq = torch.zeros(self.num_bins, dtype=torch.float64)
        count = 0
        for wav in wavs:
            wav = torch.as_tensor(wav, dtype=torch.float32).reshape(1, -1)
            spec = self.stft(wav)
            logmag = self.log_magnitude(spec)[0].double()  # (T, F)
            if self.norm != "global":
                logmag = logmag[self.stats_frames(spec)[0, :, 0]]
                logmag = logmag - logmag.mean(0)
            total += logmag.sum(0)
            total_sq += (logmag**2).sum(0)
            count += logmag.shape[0]
        if count == 0:
            raise ValueError("no frames to compute normalisation statistics from")
        mean = total / count
        std = (total_sq / count - mean**2).clamp_min(0).sqrt()
        return mean.float(), std.float()


def _masked_mean_std(x: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x: (B, T, F), frames: (B, T, 1) bool -> mean, std over the chosen frames, each (B, 1, F)."""
    count = frames.sum(1, keepdim=True).clamp_min(1).to(x.dtype)  # (B, 1, 1)
    mu = torch.where(frames, x, 0.0).sum(1, keepdim=True) / count
    var = torch.where(frames, (x - mu) ** 2, 0.0).sum(1, keepdim=True) / count
    return mu, var.sqrt().clamp_min(1e-5)
