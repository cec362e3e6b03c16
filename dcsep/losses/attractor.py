"""A mask loss through attractors, mixed with the deep-clustering affinity loss.

At test time ``soft_kmeans`` shares bin n between the sources by

    m_c(n) = softmax_c(-alpha |v_n - mu_c|^2)

with mu_c the k-means centres. The affinity loss trains the embeddings to
cluster, but it never sees these masks, and it weighs a quiet active bin as
much as a loud one. This loss trains the masks themselves: the centres are
replaced by the attractors of the training targets (as in the deep attractor
network), a_c = mean of v_n over the active bins of source c, and

    L_mask = sum_n |x_n|^2 sum_c (m_c(n) - y_c(n))^2 / sum_n |x_n|^2,

the energy of the difference between the soft-masked and the ideal-binary-
masked mixture STFTs, relative to the mixture's energy: the loud bins that
decide the SDR count most. The total is

    L = dc_weight * L_DC + (1 - dc_weight) * L_mask

with L_DC the low-rank affinity loss (``lowrank_affinity``, same bin weights),
which keeps the embeddings fit for clustering.

Reference: Chen, Luo and Mesgarani, "Deep attractor network for single-
microphone speaker separation", ICASSP 2017 (attractors from the targets in
training, cluster centres at test time); Wang, Le Roux and Hershey, "Alternative
objective functions for deep clustering", ICASSP 2018 (deep clustering trained
together with a mask loss).
"""

from __future__ import annotations

import torch
from typeguard import typechecked

from dcsep.losses.affinity import AffinityLoss, lowrank_affinity_loss, row_scales
from dcsep.losses.weights import bin_weights, valid_mask
from dcsep.registry import LOSSES


def attractor_mask_loss(V: torch.Tensor, Y: torch.Tensor, w: torch.Tensor, energy: torch.Tensor, alpha: float) -> torch.Tensor:
    """Per-utterance mask loss through the targets' attractors.

    Args:
        V: (B, N, K) embeddings. Y: (B, N, C) one-hot targets (an absent
            source has an all-zero column). w: (B, N) weights of the bins that
            form the attractors (the active bins). energy: (B, N) |x_n|^2, zero
            on padding. alpha: the masks' sharpness.

    Returns:
        (B,) losses in [0, 2]; 0 for an utterance without energy or without
        any weighted bin.

    Example:
        >>> Y = torch.nn.functional.one_hot(torch.tensor([[0, 0, 1, 1]]), 2).float()
        >>> V = Y.clone()  # bins of a source share an embedding: masks exp(0) vs exp(-2 alpha)
        >>> loss = attractor_mask_loss(V, Y, torch.ones(1, 4), torch.ones(1, 4), alpha=3.0)
        >>> m = 1 / (1 + torch.exp(torch.tensor(-6.0)))
        >>> torch.allclose(loss, 2 * (1 - m) ** 2)
        True
    """
    wy = Y * w[..., None]  # (B, N, C)
    mass = wy.sum(1)  # (B, C)
    attractors = (wy.transpose(1, 2) @ V) / mass.clamp_min(torch.finfo(V.dtype).tiny)[..., None]  # (B, C, K)
    # -alpha |v - a|^2 up to the per-bin -alpha |v|^2, which the softmax over sources ignores:
    # two matrix products, no (B, N, C, K) difference tensor
    logits = alpha * (2 * V @ attractors.transpose(1, 2) - attractors.square().sum(-1)[:, None, :])  # (B, N, C)
    logits = logits.masked_fill(mass[:, None, :] <= 0, float("-inf"))  # an absent source gets no share
    present = (mass > 0).any(1)  # (B,)
    logits = torch.where(present[:, None, None], logits, torch.zeros_like(logits))  # no NaN without any attractor
    masks = torch.softmax(logits, -1)  # (B, N, C)
    err = (masks - Y).square().sum(-1)  # (B, N)
    total = energy.sum(1)  # (B,)
    loss = (energy * err).sum(1) / total.clamp_min(torch.finfo(V.dtype).tiny)
    return torch.where(present & (total > 0), loss, torch.zeros_like(loss))


@LOSSES.register("attractor_mask")
class AttractorMaskLoss(AffinityLoss):
    """dc_weight * affinity loss + (1 - dc_weight) * the attractors' soft-mask loss.

    Args:
        alpha: sharpness of the masks; use the ``alpha`` of ``soft_kmeans``
            at test time.
        dc_weight: share of the affinity loss, in [0, 1].
        weight, threshold_db, partition_weight: as for ``lowrank_affinity``;
            the bins of nonzero ``weight`` also form the attractors.

    Example:
        >>> V = torch.nn.functional.normalize(torch.randn(1, 5, 3, 4), dim=-1)
        >>> Y = torch.nn.functional.one_hot(torch.randint(0, 2, (1, 5, 3)), 2).float()
        >>> loss = AttractorMaskLoss()(V, Y, torch.rand(1, 5, 3) + 0.1)
        >>> bool(loss >= 0)
        True
    """

    kernel = staticmethod(lowrank_affinity_loss)

    @typechecked
    def __init__(
        self,
        alpha: float = 3.0,
        dc_weight: float = 0.5,
        weight: str = "vad",
        threshold_db: float = 40.0,
        partition_weight: bool = False,
    ):
        super().__init__(weight=weight, threshold_db=threshold_db, partition_weight=partition_weight)
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if not 0 <= dc_weight <= 1:
            raise ValueError(f"dc_weight must be in [0, 1], got {dc_weight}")
        self.alpha, self.dc_weight = float(alpha), float(dc_weight)

    def forward(self, V, Y, mix_mag, lengths=None):
        b, t, f, k = V.shape
        dtype = self.compute_dtype(V, Y, mix_mag)
        with torch.autocast(device_type=V.device.type, enabled=False):
            V = V.to(dtype).reshape(b, t * f, k)
            mag = mix_mag.to(dtype)
            w = bin_weights(mag, self.weight, lengths, self.threshold_db).reshape(b, t * f)  # (B, N)
            Yf = Y.reshape(b, t * f, -1).to(dtype)  # (B, N, C)
            energy = (mag.detach().square() * valid_mask((b, t, f), lengths, V.device)).reshape(b, t * f)
            loss = (1 - self.dc_weight) * attractor_mask_loss(V, Yf, w, energy, self.alpha)
            if self.dc_weight > 0:
                loss = loss + self.dc_weight * self.kernel(V, Yf, row_scales(Yf, w, self.partition_weight))
            return loss.mean()
