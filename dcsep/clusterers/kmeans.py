"""K-means clustering of the embeddings, in batched torch.

Two clusterers from the paper, and a soft variant of the first:

* ``kmeans`` ("DC global k-means"): all embeddings of an utterance are
  clustered together.
* ``soft_kmeans``: the centres of global k-means, and soft masks: each bin
  is shared between the sources by its distances to their centres.
* ``oracle_kmeans`` ("DC oracle k-means"): each chunk of ``chunk_frames``
  frames is clustered on its own and its clusters are matched to the
  reference sources with the best permutation; an upper bound that needs the
  references.

All three run on the GPU when the embeddings are there; random draws come
from a seeded CPU generator, so a fixed seed gives the same result on any
device. ``kmeans`` and ``soft_kmeans`` can also be fitted on some bins and
applied to others (:meth:`~dcsep.clusterers.abs.Clusterer.fit` ->
centres, :meth:`~dcsep.clusterers.abs.Clusterer.assign` -> masks);
``oracle_kmeans`` cannot, as it needs the references of every bin.
"""

from __future__ import annotations

import math

import torch
from scipy.optimize import linear_sum_assignment
from typeguard import typechecked

from dcsep.clusterers.abs import Clusterer, fit_weights, labels_to_masks, with_fallback
from dcsep.errors import ConfigError
from dcsep.losses.weights import valid_mask
from dcsep.registry import CLUSTERERS


def _sq_norms(X: torch.Tensor) -> torch.Tensor:
    """X: (B, N, D) -> squared norms (B, N, 1), computed once per k-means call."""
    return (X * X).sum(-1, keepdim=True)


def _sq_dist(X: torch.Tensor, C: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """X: (B, N, D), C: (B, M, D) -> squared distances (B, N, M); x2: :func:`_sq_norms` of X."""
    return (x2 - 2 * X @ C.transpose(1, 2) + (C * C).sum(-1)[:, None, :]).clamp_min(0)


def _sample(p: torch.Tensor, gen: torch.Generator, fallback: torch.Tensor | None = None) -> torch.Tensor:
    """p: (B, N) non-negative -> (B,) one index per row, drawn with probability proportional to p.

    A row of ``p`` without mass draws from ``fallback`` (same shape) instead,
    and uniformly if that has none either. Entries of zero probability are
    never drawn otherwise.
    """
    p = p.double()
    if fallback is not None:
        p = torch.where(p.sum(1, keepdim=True) > 0, p, fallback.double())
    p = torch.where(p.sum(1, keepdim=True) > 0, p, torch.ones_like(p))
    cdf = p.cumsum(1)
    cdf = cdf / cdf[:, -1:]  # (B, N), last entry exactly 1
    u = torch.rand(p.shape[0], 1, generator=gen, dtype=torch.float64).to(p.device)  # in [0, 1)
    # first index whose cdf exceeds u: skips entries of zero probability
    return torch.searchsorted(cdf, u, right=True).squeeze(1).clamp_max(p.shape[1] - 1)


def kmeans_pp_init(
    X: torch.Tensor, w: torch.Tensor, k: int, gen: torch.Generator, x2: torch.Tensor | None = None
) -> torch.Tensor:
    """k-means++ seeding. X: (B, N, D), w: (B, N) point weights -> centres (B, k, D).

    Each centre is drawn with probability proportional to w * (squared
    distance to the nearest centre so far); when every weighted point already
    coincides with a centre (fewer distinct points than ``k``), it is drawn
    from the weighted points again. ``x2``: :func:`_sq_norms` of X (computed when None).
    """
    b = X.shape[0]
    x2 = _sq_norms(X) if x2 is None else x2
    rows = torch.arange(b, device=X.device)
    centres = [X[rows, _sample(w, gen)]]  # each (B, D)
    d2 = _sq_dist(X, centres[0][:, None], x2).squeeze(-1)  # (B, N)
    for _ in range(1, k):
        centres.append(X[rows, _sample(w * d2, gen, fallback=w)])
        d2 = torch.minimum(d2, _sq_dist(X, centres[-1][:, None], x2).squeeze(-1))
    return torch.stack(centres, 1)


#: k-means fits its restarts on a seeded random subset of at most this many
#: weighted points, then refines the best restart on all of them
FIT_POINTS = 16384


def _nearest(X: torch.Tensor, C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """X: (B, N, D), C: (B, R, k, D) -> labels (B, N, R) and |c|^2 - 2 x.c of the nearest centre (B, N, R).

    R sets of k centres (restarts) in one pass over X; the per-point |x|^2 is
    left out (it does not change which centre is nearest).
    """
    b, r, k, d = C.shape
    Cf = C.reshape(b, r * k, d)
    d2 = torch.baddbmm((Cf * Cf).sum(-1)[:, None, :], X, Cf.transpose(1, 2), alpha=-2.0)  # (B, N, R*k)
    best, labels = d2.view(b, -1, r, k).min(-1)
    return labels, best


def lloyd(
    X: torch.Tensor, w: torch.Tensor, centres: torch.Tensor, max_iter: int, tol: float, x2: torch.Tensor | None = None
):
    """Weighted Lloyd iterations with empty-cluster re-seeding, for several restarts at once.

    Each iteration makes two passes over X for all restarts together: the
    nearest centres, then the new centres. A cluster left without weighted
    points is moved to a weighted point far from its current centre
    (distinct points for several empty clusters of one restart). Stops when
    no centre moves by more than ``tol`` (squared distance) or after
    ``max_iter`` iterations.

    Args:
        X: (B, N, D) points. w: (B, N) weights.
        centres: (B, k, D) initial centres, or (B, R, k, D) for R restarts.
        x2: :func:`_sq_norms` of X (computed when None).

    Returns:
        labels (B, N), centres (B, k, D), inertia (B,): the weighted sum of
        squared distances to the assigned centres; (B, N, R), (B, R, k, D)
        and (B, R) for R restarts.
    """
    single = centres.dim() == 3
    C = centres[:, None] if single else centres  # (B, R, k, D)
    b, n, d = X.shape
    r, k = C.shape[1:3]
    bidx = torch.arange(b, device=X.device)[:, None, None]
    x2 = _sq_norms(X) if x2 is None else x2
    ks = torch.arange(k, device=X.device)
    for _ in range(max_iter):
        labels, best = _nearest(X, C)  # (B, N, R)
        onehot = (labels[..., None] == ks).to(X.dtype) * w[..., None, None]  # (B, N, R, k)
        onehot = onehot.view(b, n, r * k)
        mass = onehot.sum(1).view(b, r, k)
        new = (onehot.transpose(1, 2) @ X).view(b, r, k, d) / mass.clamp_min(torch.finfo(X.dtype).tiny)[..., None]
        empty = mass <= 0  # (B, R, k)
        if empty.any():
            own = ((best + x2).clamp_min(0) * (w > 0)[..., None]).transpose(1, 2)  # (B, R, N) distance to own centre
            far = own.topk(min(k, n), dim=-1).indices  # (B, R, k') farthest weighted points first
            rank = (empty.long().cumsum(-1) - 1).clamp(0, far.shape[-1] - 1)  # r-th empty cluster -> r-th point
            new = torch.where(empty[..., None], X[bidx, far.gather(-1, rank)], new)
        shift = (new - C).square().sum(-1).max()
        C = new
        if shift <= tol:
            break
    labels, best = _nearest(X, C)
    inertia = ((best + x2).clamp_min(0) * w[..., None]).sum(1)  # (B, R)
    if single:
        return labels[..., 0], C[:, 0], inertia[:, 0]
    return labels, C, inertia


def _gather(X: torch.Tensor, w: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """X: (B, N, D), w: (B, N), idx: (B, M) -> X and w at idx, (B, M, D) and (B, M)."""
    rows = torch.arange(X.shape[0], device=X.device)[:, None]
    return X[rows, idx], w[rows, idx]


def _positive_first(w: torch.Tensor, m: int) -> torch.Tensor:
    """w: (B, N) -> (B, m) indices of the points of positive weight in their order, then of others."""
    if w.shape[0] == 1:
        return (w[0] > 0).nonzero().reshape(1, -1)[:, :m]
    return torch.argsort((w <= 0).to(torch.uint8), dim=1, stable=True)[:, :m]


def kmeans(
    X: torch.Tensor,
    k: int,
    weights: torch.Tensor | None = None,
    n_init: int = 3,
    max_iter: int = 100,
    tol: float = 1e-6,
    seed: int = 0,
    fit_points: int | None = FIT_POINTS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched weighted k-means with k-means++ seeding.

    Only the points of positive weight are fitted. When an item has more of
    them than ``fit_points``, the ``n_init`` restarts run on a seeded random
    subset of ``fit_points`` of them, and the best restart is then refined
    by Lloyd iterations on all of them (it starts near their optimum, so it
    takes a few). The restarts run together, sharing each pass over the
    points. Finally every point takes its nearest centre.

    Args:
        X: (B, N, D) points (float64 stays float64, other dtypes run in float32).
        k: number of clusters.
        weights: (B, N) non-negative; points of weight 0 do not move the
            centres but are still labelled (fit on active bins, apply to all).
            None: all 1.
        n_init: k-means++ restarts; the lowest inertia wins, per item.
        max_iter: Lloyd iterations cap. tol: convergence threshold on centre moves.
        seed: seeds the k-means++ and subset draws (a CPU generator, so the
            result is the same on any device).
        fit_points: size of the subset the restarts run on; None: all points.

    Returns:
        labels (B, N) long, centres (B, k, D).

    Example:
        >>> X = torch.tensor([[[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]]])
        >>> labels, centres = kmeans(X, 2)
        >>> bool(labels[0, 0] == labels[0, 1] and labels[0, 2] == labels[0, 3] and labels[0, 0] != labels[0, 2])
        True
    """
    if k < 1:
        raise ValueError(f"number of clusters must be >= 1, got {k}")
    if X.dim() != 3:
        raise ValueError(f"X must have shape (B, N, D), got {tuple(X.shape)}")
    if fit_points is not None and fit_points < 1:
        raise ValueError(f"fit_points must be >= 1 or None, got {fit_points}")
    X = X.detach()
    X = X if X.dtype == torch.float64 else X.float()
    w = torch.ones(X.shape[:2], device=X.device, dtype=X.dtype) if weights is None else weights.to(X.device, X.dtype)
    gen = torch.Generator().manual_seed(seed)
    b, n, _ = X.shape
    # the fitted points: those of positive weight, in their order (padded with weight 0 to the largest count)
    Xf, wf = X, w
    m = int((w > 0).sum(1).max())
    if 0 < m < n:
        Xf, wf = _gather(X, w, _positive_first(w, m))
    # the restarts: on a random subset of the fitted points when they are many
    Xs, ws = Xf, wf
    subset = fit_points is not None and Xf.shape[1] > fit_points
    if subset:
        keys = torch.rand(b, Xf.shape[1], generator=gen, dtype=torch.float64).to(X.device)
        keys = torch.where(wf > 0, keys, 2.0)  # weighted points first
        idx = keys.topk(fit_points, dim=1, largest=False).indices.sort(1).values
        Xs, ws = _gather(Xf, wf, idx)
    x2 = _sq_norms(Xs)
    inits = torch.stack([kmeans_pp_init(Xs, ws, k, gen, x2) for _ in range(n_init)], 1)  # (B, R, k, D)
    labels, centres, inertia = lloyd(Xs, ws, inits, max_iter, tol, x2)
    best = inertia.argmin(1)  # (B,) the first of equal inertias
    rows = torch.arange(b, device=X.device)
    centres = centres[rows, best]  # (B, k, D)
    if subset:  # refine on all fitted points
        labels, centres, _ = lloyd(Xf, wf, centres, max_iter, tol)
    elif Xf is X:
        return labels[rows, :, best], centres
    return _nearest(X, centres[:, None])[0][..., 0], centres


def check_kmeans_args(n_init: int, max_iter: int, tol: float) -> None:
    if n_init < 1:
        raise ValueError(f"n_init must be >= 1, got {n_init}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")


@CLUSTERERS.register("kmeans")
class KMeansClusterer(Clusterer):
    """Global k-means: all embeddings of an utterance are clustered together.

    Fitted on the active bins (``active``; all valid bins of an utterance
    without any), then every bin takes its nearest centre.

    Args:
        n_init: k-means++ restarts; the lowest inertia wins.
        max_iter: Lloyd iterations cap.
        tol: stop when no centre moves more than this (squared distance).
        seed: seeds the k-means++ draws, so results are reproducible.
        fit_points: the restarts run on a seeded random subset of at most
            this many of the fitted bins; the best is then refined on all of
            them (see :func:`kmeans`). null: the restarts see all bins.

    Example:
        >>> V = torch.zeros(1, 4, 3, 2)
        >>> V[..., 0] = 1.0
        >>> V[:, 2:, :, :] = torch.tensor([0.0, 1.0])  # frames 2-3 point elsewhere
        >>> masks = KMeansClusterer(n_init=1)(V, num_spk=2)
        >>> tuple(masks.shape), masks.sum(1).eq(1).all().item()
        ((1, 2, 4, 3), True)
    """

    @typechecked
    def __init__(
        self, n_init: int = 3, max_iter: int = 100, tol: float = 1e-6, seed: int = 0, fit_points: int | None = FIT_POINTS
    ):
        check_kmeans_args(n_init, max_iter, tol)
        if fit_points is not None and fit_points < 1:
            raise ValueError(f"fit_points must be >= 1 (or null for all bins), got {fit_points}")
        self.n_init, self.max_iter, self.tol, self.seed, self.fit_points = n_init, max_iter, tol, seed, fit_points

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_init={self.n_init}, max_iter={self.max_iter}, tol={self.tol}, seed={self.seed}, "
            f"fit_points={self.fit_points})"
        )

    def fit_labels(self, X: torch.Tensor, k: int, w: torch.Tensor) -> torch.Tensor:
        """X: (R, N, K) embeddings, w: (R, N) fitting weights -> labels (R, N) in [0, k)."""
        return kmeans(X, k, w, self.n_init, self.max_iter, self.tol, self.seed, self.fit_points)[0]

    @torch.no_grad()
    def __call__(self, V, num_spk, active=None, lengths=None, refs=None):
        check_call(V, num_spk)
        b, t, f, k = V.shape
        w = fit_weights((b, t, f), active, lengths, V.device)  # (B, N)
        labels = self.fit_labels(V.reshape(b, t * f, k), num_spk, w)
        return labels_to_masks(labels.reshape(b, t, f), num_spk, lengths)


@CLUSTERERS.register("oracle_kmeans")
class OracleKMeansClusterer(KMeansClusterer):
    """The paper's "DC oracle": k-means on each chunk, chunks aligned to the references.

    The utterance is cut into chunks of ``chunk_frames`` frames (the last one
    may be shorter); each chunk's embeddings are clustered on their own (on
    the chunk's active bins), and the chunk's clusters are assigned to the
    reference sources by the permutation that maximises the number of active
    bins on which the chunk's masks agree with the ideal binary mask of the
    references (an assignment problem, solved exactly). It needs the
    reference sources, so it measures the embeddings rather than a
    deployable system.

    Args:
        chunk_frames: chunk length in frames (100 in the paper, about one word).
        n_init, max_iter, tol, seed: as for ``kmeans``.

    Example:
        >>> V = torch.zeros(1, 6, 2, 2)
        >>> V[..., 0] = 1.0
        >>> V[:, :, 1] = torch.tensor([0.0, 1.0])  # bin 1 apart from bin 0
        >>> refs = torch.zeros(1, 2, 6, 2)
        >>> refs[:, 1, :, 0] = 1.0  # source 2 owns bin 0, source 1 owns bin 1
        >>> refs[:, 0, :, 1] = 1.0
        >>> masks = OracleKMeansClusterer(chunk_frames=4, n_init=1)(V, 2, refs=refs)
        >>> torch.equal(masks, refs)
        True
    """

    needs_refs = True

    @typechecked
    def __init__(self, chunk_frames: int = 100, n_init: int = 3, max_iter: int = 100, tol: float = 1e-6, seed: int = 0):
        super().__init__(n_init=n_init, max_iter=max_iter, tol=tol, seed=seed)
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        self.chunk_frames = chunk_frames

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", chunk_frames={self.chunk_frames})"

    @torch.no_grad()
    def __call__(self, V, num_spk, active=None, lengths=None, refs=None):
        check_call(V, num_spk)
        b, t, f, k = V.shape
        if refs is None:
            raise ConfigError(
                f"clusterer {self.registry_name!r} needs the reference sources (refs, (B, C, T, F) magnitudes): "
                "give the references (e.g. dcsep-decode --ref DATADIR) or choose 'kmeans' or 'spectral'"
            )
        if refs.shape != (b, num_spk, t, f):
            raise ValueError(
                f"{self.registry_name}: refs must have shape (B, num_spk, T, F) = {(b, num_spk, t, f)}, got {tuple(refs.shape)}"
            )
        device = V.device
        w = fit_weights((b, t, f), active, lengths, device).reshape(b, t, f)  # (B, T, F)
        valid = valid_mask((b, t, f), lengths, device).float()
        ibm = refs.to(device).abs().argmax(1)  # (B, T, F) ideal binary mask labels
        L = min(self.chunk_frames, t)
        nc = math.ceil(t / L)
        pad = nc * L - t

        def chunks(x: torch.Tensor) -> torch.Tensor:
            """(B, T, F, D) -> (B * nc, L * F, D): zero-pad T to nc * L, then cut."""
            x = torch.nn.functional.pad(x, (0, 0, 0, 0, 0, pad))
            return x.reshape(b * nc, L * f, x.shape[-1])

        Vc = chunks(V.detach().float())  # (R, L*F, K) with R = B * nc chunks
        wc = with_fallback(chunks(w[..., None])[..., 0], chunks(valid[..., None])[..., 0])  # (R, L*F)
        ibm_c = chunks(ibm[..., None])[..., 0]  # (R, L*F)
        labels = self.fit_labels(Vc, num_spk, wc)  # (R, L*F)
        # agreement[r, i, j]: fitted bins of chunk r in cluster i whose ideal label is j
        oh_lab = torch.nn.functional.one_hot(labels, num_spk).to(wc.dtype) * wc[..., None]  # (R, L*F, C)
        oh_ibm = torch.nn.functional.one_hot(ibm_c, num_spk).to(wc.dtype)  # (R, L*F, C)
        agreement = (oh_lab.transpose(1, 2) @ oh_ibm).cpu().double().numpy()  # (R, C, C)
        perm = torch.empty(b * nc, num_spk, dtype=torch.long)
        for r in range(b * nc):
            rows, cols = linear_sum_assignment(agreement[r], maximize=True)
            perm[r, torch.as_tensor(rows)] = torch.as_tensor(cols)
        labels = perm.to(device).gather(1, labels)  # cluster i of chunk r -> source perm[r, i]
        labels = labels.reshape(b, nc * L, f)[:, :t]  # (B, T, F)
        return labels_to_masks(labels, num_spk, lengths)


@CLUSTERERS.register("soft_kmeans")
class SoftKMeansClusterer(KMeansClusterer):
    """Global k-means with soft masks.

    The centres mu_c are those of ``kmeans`` (fitted on the active bins);
    then bin n with embedding v_n gets the share

        m_c(n) = exp(-alpha |v_n - mu_c|^2) / sum_j exp(-alpha |v_n - mu_j|^2)

    of source c, instead of all of it going to the nearest centre. A bin the
    network places between two speakers is split between them rather than
    given wholly to one, which on real speech costs less than a wrong hard
    decision. As ``alpha`` grows the masks tend to those of ``kmeans``.
    Refitting the centres with soft responsibilities (soft k-means proper)
    pulls them together and loses the gain, so the centres stay hard.

    Args:
        alpha: sharpness, in 1 / squared distance (unit-norm embeddings lie
            at squared distances 0 to 4). The default, 3, is the best of
            1.5 ... 5 on the speechocean762 validation set (docs/results.md).
        n_init, max_iter, tol, seed, fit_points: as for ``kmeans``.

    Example:
        >>> V = torch.zeros(1, 4, 3, 2)
        >>> V[..., 0] = 1.0
        >>> V[:, 2:, :, :] = torch.tensor([0.0, 1.0])  # frames 2-3 point elsewhere
        >>> masks = SoftKMeansClusterer(alpha=3.0, n_init=1)(V, num_spk=2)
        >>> [round(x, 4) for x in sorted(masks[0, :, 0, 0].tolist())]  # exp(-6) / (1 + exp(-6))
        [0.0025, 0.9975]
    """

    soft = True

    @typechecked
    def __init__(
        self,
        alpha: float = 3.0,
        n_init: int = 3,
        max_iter: int = 100,
        tol: float = 1e-6,
        seed: int = 0,
        fit_points: int | None = FIT_POINTS,
    ):
        super().__init__(n_init=n_init, max_iter=max_iter, tol=tol, seed=seed, fit_points=fit_points)
        if not (math.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be > 0 and finite, got {alpha}")
        self.alpha = float(alpha)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", alpha={self.alpha})"

    def distance_masks(self, d2: torch.Tensor) -> torch.Tensor:
        """d2: (..., C) squared distances (up to a constant per bin) -> (..., C) softmax(-alpha d2)."""
        return torch.softmax(-self.alpha * d2, -1)

    @torch.no_grad()
    def __call__(self, V, num_spk, active=None, lengths=None, refs=None):
        check_call(V, num_spk)
        b, t, f, k = V.shape
        w = fit_weights((b, t, f), active, lengths, V.device)  # (B, N)
        X = V.detach().reshape(b, t * f, k)
        X = X if X.dtype == torch.float64 else X.float()
        centres = kmeans(X, num_spk, w, self.n_init, self.max_iter, self.tol, self.seed, self.fit_points)[1]  # (B, C, K)
        masks = self.assign(X, centres)  # (B, N, C)
        masks = masks.transpose(1, 2).reshape(b, num_spk, t, f)
        return masks * valid_mask((b, t, f), lengths, V.device)[:, None].to(masks.dtype)


def check_call(V: torch.Tensor, num_spk: int) -> None:
    """Common argument checks of the clusterers' ``__call__``."""
    if V.dim() != 4:
        raise ValueError(f"embeddings must have shape (B, T, F, K), got {tuple(V.shape)}")
    if not isinstance(num_spk, int) or isinstance(num_spk, bool) or num_spk < 1:
        raise ValueError(f"num_spk must be a positive int, got {num_spk!r}")
