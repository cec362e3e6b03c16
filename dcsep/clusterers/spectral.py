"""Spectral clustering of the embeddings through a K x K eigenproblem (the paper's SVD step).

The affinity of the embeddings is low-rank, A = V V^T with V: (N, K), so the
normalised spectral embedding never needs an N x N matrix:

1. degrees d = A w = V (V^T w), with w the fitting weights (1 on active
   bins): O(N K);
2. V~ = W^1/2 D^-1/2 V, and its K x K Gram matrix G = V~^T V~ = V^T (w/d) V;
3. the top-m eigenpairs (lambda_j, r_j) of G give the top-m left singular
   vectors of V~: u = d^-1/2 V r_j / sqrt(lambda_j);
4. rows of U normalised to unit length (the d^-1/2 factor cancels), then
   k-means on the rows of the fitted bins, and every bin takes its nearest
   centre: bins left out of the fit are projected with the same transform.

Negative affinities: with tanh (or linear) embeddings, v_i . v_j can be
negative, so d_i = sum_j w_j v_i . v_j can be zero or negative and D^-1/2 is
undefined. The default ``affinity: shifted`` uses A = (1 + V V^T) / 2, whose
entries lie in [0, 1] for unit-norm rows; it is again low-rank
(A = V' V'^T with V' = [V, 1] / sqrt(2), rank K + 1), d_i >= w_i, and on
ideal embeddings (rows identical within a source) it has the same
block structure and gives the same partition. ``affinity: linear`` is the
paper's formula as printed, A = V V^T; there, bins whose degree is below
``eps`` times the largest degree (possible only with negative affinities)
are left out of the fit and labelled by projection.

``spectral`` clusters each utterance as a whole ("global"); ``oracle_spectral``
clusters each chunk of ``chunk_frames`` frames and aligns the chunks to the
reference sources as ``oracle_kmeans`` does (the paper's "DC oracle spectral").

Reference: Hershey et al., "Deep clustering: discriminative embeddings for
segmentation and separation", ICASSP 2016 (section on spectral clustering),
and Ng, Jordan and Weiss, "On spectral clustering", NIPS 2001 (row normalisation).
"""

from __future__ import annotations

import math

import torch
from typeguard import typechecked

from dcsep.clusterers.abs import Clusterer, fit_weights, labels_to_masks, with_fallback
from dcsep.clusterers.kmeans import OracleKMeansClusterer, check_call, check_kmeans_args, kmeans
from dcsep.registry import CLUSTERERS

AFFINITIES = ("shifted", "linear")


def spectral_embedding(
    V: torch.Tensor, w: torch.Tensor, num_vectors: int, affinity: str = "shifted", eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-normalised top singular vectors of D^-1/2 V, in O(N K^2) time and O(N K) memory.

    Args:
        V: (B, N, K) embeddings.
        w: (B, N) fitting weights (1 on the bins to fit on, 0 elsewhere).
        num_vectors: m, the number of singular vectors kept (at most K, or
            K + 1 for ``shifted``).
        affinity: ``"shifted"`` ((1 + V V^T) / 2) or ``"linear"`` (V V^T).
        eps: relative floor for degrees (``linear``) and eigenvalues.

    Returns:
        U: (B, N, m) rows of unit norm, for every bin (fitted or not);
        w: (B, N) the weights actually used for the fit (``linear`` drops bins
        of non-positive degree).

    Example:
        >>> V = torch.nn.functional.normalize(torch.randn(2, 50, 8), dim=-1)
        >>> U, w = spectral_embedding(V, torch.ones(2, 50), num_vectors=3)
        >>> tuple(U.shape), bool(torch.allclose(U.norm(dim=-1), torch.ones(2, 50)))
        ((2, 50, 3), True)
    """
    if affinity not in AFFINITIES:
        raise ValueError(f"affinity must be one of {AFFINITIES}, got {affinity!r}")
    X = V.detach().double()  # (B, N, K): float64 for the degrees and the Gram matrix
    w = w.to(X.device, torch.float64)
    if affinity == "shifted":
        ones = torch.ones(*X.shape[:2], 1, dtype=X.dtype, device=X.device)
        X = torch.cat([X, ones], -1) / math.sqrt(2.0)  # (B, N, K+1): X X^T = (1 + V V^T) / 2
    # degrees w.r.t. the fitted bins, without the N x N affinity: d = X (X^T w)
    d = X @ (X.transpose(1, 2) @ w[..., None])  # (B, N, 1)
    d = d.squeeze(-1)
    floor = eps * (d * (w > 0)).amax(1, keepdim=True).clamp_min(torch.finfo(X.dtype).tiny)  # (B, 1)
    if affinity == "linear":
        # bins of (near) non-positive degree: not fitted, only projected (unless that leaves none)
        w = with_fallback(w * (d > floor), w)
    scale = w / d.clamp_min(floor)  # (B, N): w_i / d_i, zero off the fit
    G = X.transpose(1, 2) @ (X * scale[..., None])  # (B, K', K') = V~^T V~
    evals, evecs = torch.linalg.eigh(G)  # ascending
    m = min(num_vectors, X.shape[-1])
    lam = evals[..., -m:].flip(-1)  # (B, m) largest first
    R = evecs[..., -m:].flip(-1)  # (B, K', m)
    lam = lam.clamp_min((eps * lam[..., :1]).clamp_min(1e-30))
    U = X @ (R / lam.sqrt()[:, None, :])  # (B, N, m): d^1/2 times the left singular vectors
    U = torch.nn.functional.normalize(U, dim=-1)  # unit rows; the d^-1/2 row factor cancels
    return U.to(V.dtype if V.dtype == torch.float64 else torch.float32), w.to(U.dtype)


@CLUSTERERS.register("spectral")
class SpectralClusterer(Clusterer):
    """Spectral clustering: k-means on the row-normalised top singular vectors of D^-1/2 V.

    Never forms an N x N matrix (see the module docstring for the method and
    the handling of negative affinities). Fitted on the active bins; the
    other bins are projected with the same transform and take the nearest
    centre.

    Args:
        num_vectors: m, singular vectors kept; default: the number of speakers.
        affinity: ``"shifted"`` (default, (1 + V V^T) / 2, safe for tanh
            embeddings) or ``"linear"`` (the paper's V V^T).
        eps: relative floor for degrees and eigenvalues.
        n_init, max_iter, tol, seed: of the k-means step, as for ``kmeans``.

    Example:
        >>> V = torch.zeros(1, 4, 3, 2)
        >>> V[..., 0] = 1.0
        >>> V[:, 2:, :, :] = torch.tensor([0.0, 1.0])
        >>> masks = SpectralClusterer(n_init=1)(V, num_spk=2)
        >>> bool(masks[0, :, 0, 0].ne(masks[0, :, 3, 0]).all())
        True
    """

    @typechecked
    def __init__(
        self,
        num_vectors: int | None = None,
        affinity: str = "shifted",
        eps: float = 1e-6,
        n_init: int = 3,
        max_iter: int = 100,
        tol: float = 1e-6,
        seed: int = 0,
    ):
        if num_vectors is not None and num_vectors < 1:
            raise ValueError(f"num_vectors must be >= 1 (or null for the number of speakers), got {num_vectors}")
        if affinity not in AFFINITIES:
            raise ValueError(f"affinity must be one of {AFFINITIES}, got {affinity!r}")
        if not 0 < eps < 1:
            raise ValueError(f"eps must be in (0, 1), got {eps}")
        check_kmeans_args(n_init, max_iter, tol)
        self.num_vectors, self.affinity, self.eps = num_vectors, affinity, eps
        self.n_init, self.max_iter, self.tol, self.seed = n_init, max_iter, tol, seed

    def __repr__(self) -> str:
        return (
            f"SpectralClusterer(num_vectors={self.num_vectors}, affinity={self.affinity!r}, eps={self.eps}, "
            f"n_init={self.n_init}, max_iter={self.max_iter}, tol={self.tol}, seed={self.seed})"
        )

    def fit_labels(self, X: torch.Tensor, k: int, w: torch.Tensor) -> torch.Tensor:
        """X: (R, N, K) embeddings, w: (R, N) fitting weights -> labels (R, N) in [0, k)."""
        U, w = spectral_embedding(X, w, self.num_vectors or k, self.affinity, self.eps)  # (R, N, m)
        return kmeans(U, k, w, self.n_init, self.max_iter, self.tol, self.seed)[0]

    @torch.no_grad()
    def __call__(self, V, num_spk, active=None, lengths=None, refs=None):
        check_call(V, num_spk)
        b, t, f, k = V.shape
        w = fit_weights((b, t, f), active, lengths, V.device)  # (B, N)
        labels = self.fit_labels(V.reshape(b, t * f, k), num_spk, w)  # (B, N)
        return labels_to_masks(labels.reshape(b, t, f), num_spk, lengths)


@CLUSTERERS.register("oracle_spectral")
class OracleSpectralClusterer(OracleKMeansClusterer):
    """The paper's "DC oracle spectral": ``spectral`` on each chunk, chunks aligned to the references.

    As ``oracle_kmeans`` (chunks of ``chunk_frames`` frames, each chunk's
    clusters matched to the reference sources by the best permutation), with
    the spectral step of ``spectral`` before the k-means of each chunk.

    Args:
        chunk_frames: chunk length in frames (100 in the paper).
        num_vectors, affinity, eps, n_init, max_iter, tol, seed: as for ``spectral``.
    """

    needs_refs = True
    fit_labels = SpectralClusterer.fit_labels

    @typechecked
    def __init__(
        self,
        chunk_frames: int = 100,
        num_vectors: int | None = None,
        affinity: str = "shifted",
        eps: float = 1e-6,
        n_init: int = 3,
        max_iter: int = 100,
        tol: float = 1e-6,
        seed: int = 0,
    ):
        spectral = SpectralClusterer(num_vectors, affinity, eps, n_init, max_iter, tol, seed)  # checks the values
        super().__init__(chunk_frames=chunk_frames, n_init=n_init, max_iter=max_iter, tol=tol, seed=seed)
        self.num_vectors, self.affinity, self.eps = spectral.num_vectors, spectral.affinity, spectral.eps

    def __repr__(self) -> str:
        return (
            f"OracleSpectralClusterer(chunk_frames={self.chunk_frames}, num_vectors={self.num_vectors}, "
            f"affinity={self.affinity!r}, eps={self.eps}, n_init={self.n_init}, max_iter={self.max_iter}, "
            f"tol={self.tol}, seed={self.seed})"
        )
