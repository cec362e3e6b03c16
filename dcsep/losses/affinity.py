"""Deep-clustering affinity losses: low-rank (default) and naive N x N.

Both compute, per utterance,

    C(V) = | S V V^T S - S Y Y^T S |_F^2 / (sum_n s_n^2)^2

with the row scales s_n = sqrt(w_n) * d_n^(-1/4): w_n the bin weight
(silence threshold, magnitude, ...) and d_n the (weighted) size of bin n's
partition when ``partition_weight`` is on (the paper's W = D^-1/2 weighting;
otherwise d_n = 1). The division by the total pair weight makes the scale
independent of the utterance length.

Reference: Hershey et al., "Deep clustering: discriminative embeddings for
segmentation and separation", ICASSP 2016.
"""

from __future__ import annotations

import torch
from typeguard import typechecked

from dcsep.losses.abs import Loss
from dcsep.losses.weights import WEIGHT_KINDS, bin_weights
from dcsep.registry import LOSSES


def row_scales(Y: torch.Tensor, w: torch.Tensor, partition_weight: bool) -> torch.Tensor:
    """Y: (B, N, C), w: (B, N) -> s: (B, N) with s^2 = w * d^-1/2 (or w)."""
    if not partition_weight:
        return w.sqrt()
    sizes = torch.einsum("bnc,bn->bc", Y, w)  # (B, C) weighted partition sizes
    d = torch.einsum("bnc,bc->bn", Y, sizes)  # (B, N) size of each bin's partition
    return w.sqrt() * d.clamp_min(1e-12).pow(-0.25) * (d > 0)


def _unit_total_weight(s: torch.Tensor) -> torch.Tensor:
    """s: (B, N) -> s / sqrt(sum_n s_n^2), so that the total pair weight (sum s^2)^2 is 1.

    Scaling the rows before the products keeps every term of the loss O(1),
    whatever N, so nothing overflows in float32. All-zero rows stay zero.
    """
    total = s.square().sum(1, keepdim=True)  # (B, 1)
    return s / total.clamp_min(torch.finfo(s.dtype).tiny).sqrt()


def lowrank_affinity_loss(V: torch.Tensor, Y: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Per-utterance loss without forming N x N matrices: O(N K^2) time, O(N K) memory.

    |S V V^T S - S Y Y^T S|_F^2 = |V^T S^2 V|_F^2 - 2 |V^T S^2 Y|_F^2 + |Y^T S^2 Y|_F^2

    Args:
        V: (B, N, K) embeddings. Y: (B, N, C) targets. s: (B, N) row scales.

    Returns:
        (B,) losses normalised by (sum_n s_n^2)^2 (0 for an utterance whose
        scales are all 0).

    Example:
        >>> V = torch.nn.functional.normalize(torch.randn(2, 30, 4, dtype=torch.float64), dim=-1)
        >>> Y = torch.nn.functional.one_hot(torch.randint(0, 3, (2, 30)), 3).double()
        >>> s = torch.rand(2, 30, dtype=torch.float64)
        >>> torch.allclose(lowrank_affinity_loss(V, Y, s), naive_affinity_loss(V, Y, s))
        True
    """
    s = _unit_total_weight(s)[..., None]  # (B, N, 1)
    Vs = V * s  # (B, N, K)
    Ys = Y.to(V.dtype) * s  # (B, N, C)
    vv = Vs.transpose(1, 2) @ Vs  # (B, K, K)
    vy = Vs.transpose(1, 2) @ Ys  # (B, K, C)
    yy = Ys.transpose(1, 2) @ Ys  # (B, C, C)
    return vv.square().sum((1, 2)) - 2 * vy.square().sum((1, 2)) + yy.square().sum((1, 2))


def naive_affinity_loss(V: torch.Tensor, Y: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The same loss through the explicit N x N affinities: O(N^2 K) time, O(N^2) memory."""
    s = _unit_total_weight(s)[..., None]  # (B, N, 1)
    Vs = V * s
    Ys = Y.to(V.dtype) * s
    diff = Vs @ Vs.transpose(1, 2) - Ys @ Ys.transpose(1, 2)  # (B, N, N)
    return diff.square().sum((1, 2))


class AffinityLoss(Loss):
    """Shared set-up of the affinity losses (weights, partition weighting, padding)."""

    @typechecked
    def __init__(self, weight: str = "vad", threshold_db: float = 40.0, partition_weight: bool = False):
        super().__init__()
        if weight not in WEIGHT_KINDS:
            raise ValueError(f"weight must be one of {WEIGHT_KINDS}, got {weight!r}")
        if threshold_db <= 0:
            raise ValueError(f"threshold_db must be positive, got {threshold_db}")
        self.weight = weight
        self.threshold_db = threshold_db
        self.partition_weight = partition_weight

    @staticmethod
    def kernel(V: torch.Tensor, Y: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def compute_dtype(V: torch.Tensor, Y: torch.Tensor, mix_mag: torch.Tensor) -> torch.dtype:
        """Checks the shapes; returns the dtype the loss runs in: at least float32, even under
        autocast, since the sums run over N = T*F bins."""
        b, t, f, _ = V.shape
        if Y.shape[:3] != (b, t, f) or mix_mag.shape != (b, t, f):
            raise ValueError(
                f"shape mismatch: V {tuple(V.shape)}, Y {tuple(Y.shape)}, mix_mag {tuple(mix_mag.shape)}; "
                "expected V (B, T, F, K), Y (B, T, F, C), mix_mag (B, T, F)"
            )
        return torch.float64 if V.dtype == torch.float64 else torch.float32

    def forward(self, V, Y, mix_mag, lengths=None):
        b, t, f, k = V.shape
        dtype = self.compute_dtype(V, Y, mix_mag)
        with torch.autocast(device_type=V.device.type, enabled=False):
            V = V.to(dtype)
            w = bin_weights(mix_mag.to(dtype), self.weight, lengths, self.threshold_db)  # (B, T, F)
            Yf = Y.reshape(b, t * f, -1).to(dtype)  # (B, N, C)
            s = row_scales(Yf, w.reshape(b, t * f), self.partition_weight)  # (B, N)
            return self.kernel(V.reshape(b, t * f, k), Yf, s).mean()


@LOSSES.register("lowrank_affinity")
class LowRankAffinityLoss(AffinityLoss):
    """|V^T V|^2 - 2|V^T Y|^2 + |Y^T Y|^2 (weighted), never forming N x N.

    Args:
        weight: bin weights: ``"vad"`` (paper, -40 dB threshold), ``"none"``,
            ``"magnitude"``, ``"sqrt_magnitude"``.
        threshold_db: VAD threshold below the utterance's loudest bin.
        partition_weight: the paper's D^-1/2 weighting that balances large and small sources.

    Example:
        >>> V = torch.nn.functional.normalize(torch.randn(1, 5, 3, 4), dim=-1)
        >>> Y = torch.nn.functional.one_hot(torch.randint(0, 2, (1, 5, 3)), 2).float()
        >>> loss = LowRankAffinityLoss(weight="none")(V, Y, torch.ones(1, 5, 3))
        >>> bool(loss >= 0)
        True
    """

    kernel = staticmethod(lowrank_affinity_loss)


@LOSSES.register("naive_affinity")
class NaiveAffinityLoss(AffinityLoss):
    """The explicit |V V^T - Y Y^T|_F^2 (weighted); same arguments as ``lowrank_affinity``.

    For checking the low-rank form and for benchmarks: memory grows as N^2.
    """

    kernel = staticmethod(naive_affinity_loss)
