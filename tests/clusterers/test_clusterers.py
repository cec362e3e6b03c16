"""Clusterers: exact recovery on separable embeddings, robustness, determinism, memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from dcsep.clusterers.abs import fit_weights, labels_to_masks
from dcsep.clusterers.kmeans import _sample, kmeans, lloyd
from dcsep.clusterers.spectral import spectral_embedding
from dcsep.config import build_plugin
from dcsep.errors import ConfigError
from dcsep.registry import CLUSTERERS

NAMES = CLUSTERERS.names()
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def separable(b: int, t: int, f: int, k: int, c: int, seed: int = 0, noise: float = 0.1):
    """Unit-norm embeddings around c well-separated directions -> V (B, T, F, K), labels (B, T, F), refs (B, C, T, F)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.eye(k)[:c] if c <= k else torch.nn.functional.normalize(torch.randn(c, k, generator=g), dim=-1)
    labels = torch.randint(0, c, (b, t, f), generator=g)
    V = torch.nn.functional.normalize(centres[labels] + noise * torch.randn(b, t, f, k, generator=g), dim=-1)
    refs = torch.nn.functional.one_hot(labels, c).permute(0, 3, 1, 2).float() * torch.rand(b, 1, t, f, generator=g)
    return V, labels, refs


def same_partition(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True if the label maps a and b (same shape) are equal up to a renaming of the labels."""
    a, b = a.flatten(), b.flatten()
    pairs = torch.unique(torch.stack([a, b]), dim=1)
    return pairs.shape[1] == torch.unique(a).numel() == torch.unique(b).numel()


def assert_sum_to_one(masks: torch.Tensor, name: str) -> None:
    """Each bin's masks sum to 1 over the sources: exactly for binary masks, to rounding for soft ones."""
    ones = torch.ones(masks.shape[0], *masks.shape[2:])
    if CLUSTERERS.get(name).soft:
        torch.testing.assert_close(masks.sum(1).cpu(), ones)
    else:
        assert torch.equal(masks.sum(1).cpu(), ones)


def cluster(name: str, V, c, **kwargs):
    conf = {"n_init": 2}
    return CLUSTERERS.get(name)(**conf)(V, c, **kwargs)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("num_spk", [2, 3, 4])
@pytest.mark.parametrize("device", DEVICES)
def test_recovers_separable_partition(name, num_spk, device):
    V, labels, refs = separable(2, 30, 17, 8, num_spk, seed=num_spk)
    masks = cluster(name, V.to(device), num_spk, refs=refs.to(device))
    assert masks.shape == (2, num_spk, 30, 17) and masks.device.type == device
    masks = masks.cpu()
    assert_sum_to_one(masks, name)
    for i in range(2):
        assert same_partition(masks[i].argmax(0), labels[i]), name
    if CLUSTERERS.get(name).needs_refs:  # aligned with the references, not only the same partition
        assert torch.equal(masks.argmax(1), labels)


@pytest.mark.parametrize("name", NAMES)
def test_fit_on_active_apply_to_all(name):
    """Bins outside ``active`` do not shape the clusters but are labelled; padding gets zero masks."""
    V, labels, refs = separable(2, 20, 9, 6, 2, seed=3)
    active = torch.rand(2, 20, 9, generator=torch.Generator().manual_seed(0)) > 0.5
    V[~active] = torch.nn.functional.normalize(V[~active] + 0.2, dim=-1)  # inactive bins a bit off
    lengths = torch.tensor([20, 13])
    masks = cluster(name, V, 2, active=active, lengths=lengths, refs=refs)
    assert torch.equal(masks[1, :, 13:], torch.zeros(2, 7, 9))
    assert_sum_to_one(masks[:1], name)
    assert same_partition(masks[0].argmax(0), labels[0])
    assert same_partition(masks[1, :, :13].argmax(0), labels[1, :13])


@pytest.mark.parametrize("name", ["oracle_kmeans", "oracle_spectral"])
def test_oracle_aligns_chunks(name):
    """Speaker identities swap embeddings between chunks: global clustering is wrong, the oracle is exact."""
    V, labels, refs = separable(1, 40, 10, 4, 2, seed=5, noise=0.05)
    flip = (torch.arange(40) // 10) % 2 == 1  # chunks 2 and 4 of 10 frames
    V2 = V.clone()
    V2[:, flip] = V[:, flip][..., [1, 0, 2, 3]]  # there speaker 0 sits near e1 and speaker 1 near e0
    oracle = CLUSTERERS.get(name)(chunk_frames=10, n_init=1)(V2, 2, refs=refs)
    assert torch.equal(oracle.argmax(1), labels)
    oracle_whole = CLUSTERERS.get(name)(chunk_frames=1000, n_init=1)(V2, 2, refs=refs)
    assert not torch.equal(oracle_whole.argmax(1), labels)


@pytest.mark.parametrize("name", ["oracle_kmeans", "oracle_spectral"])
def test_oracle_needs_refs(name):
    V, _, refs = separable(1, 5, 4, 3, 2)
    with pytest.raises(ConfigError, match=f"'{name}' needs the reference sources"):
        CLUSTERERS.get(name)()(V, 2)
    with pytest.raises(ValueError, match=r"refs must have shape \(B, num_spk, T, F\) = \(1, 3, 5, 4\), got \(1, 2, 5, 4\)"):
        CLUSTERERS.get(name)()(V, 3, refs=refs)
    assert CLUSTERERS.get(name).needs_refs
    assert not CLUSTERERS.get("kmeans").needs_refs and not CLUSTERERS.get("spectral").needs_refs


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", ["identical", "silent", "zeros", "one_bin", "more_spk_than_bins"])
def test_degenerate_inputs_give_valid_masks(name, case):
    """Empty clusters, silence and collapsed embeddings: valid one-hot masks, no NaN."""
    b, t, f, k, c = 2, 6, 5, 4, 3
    V, _, refs = separable(b, t, f, k, c)
    active = None
    if case == "identical":
        V = torch.nn.functional.normalize(torch.ones(b, t, f, k), dim=-1)  # 3 clusters, 1 distinct point
    elif case == "silent":
        active = torch.zeros(b, t, f, dtype=torch.bool)
    elif case == "zeros":
        V = torch.zeros(b, t, f, k)
    elif case == "one_bin":
        active = torch.zeros(b, t, f, dtype=torch.bool)
        active[:, 0, 0] = True
    elif case == "more_spk_than_bins":
        V, refs = V[:, :1, :1], refs[:, :, :1, :1]
        t = f = 1
    masks = cluster(name, V, c, active=active, refs=refs)
    assert masks.shape == (b, c, t, f)
    assert torch.isfinite(masks).all()
    assert_sum_to_one(masks, name)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_for_a_seed(name):
    V, _, refs = separable(2, 12, 9, 5, 3, noise=0.6)  # overlapping clusters: the draws matter
    conf = {"seed": 7, "n_init": 1}
    a = CLUSTERERS.get(name)(**conf)(V, 3, refs=refs)
    b = CLUSTERERS.get(name)(**conf)(V, 3, refs=refs)
    assert torch.equal(a, b)


def test_soft_kmeans_masks_are_the_softmax_of_the_kmeans_distances():
    """soft_kmeans: kmeans's centres, each bin shared by softmax(-alpha d2); argmax = kmeans's labels."""
    V, _, _ = separable(2, 10, 7, 4, 3, seed=2, noise=0.5)  # overlapping clusters: masks far from 0 and 1
    active = torch.rand(2, 10, 7, generator=torch.Generator().manual_seed(1)) > 0.3
    lengths = torch.tensor([10, 6])
    conf = {"n_init": 2, "seed": 3}
    soft = CLUSTERERS.get("soft_kmeans")(alpha=2.5, **conf)(V, 3, active=active, lengths=lengths)
    hard = CLUSTERERS.get("kmeans")(**conf)(V, 3, active=active, lengths=lengths)
    X = V.reshape(2, 70, 4)
    w = fit_weights((2, 10, 7), active, lengths, "cpu")
    _, centres = kmeans(X, 3, w, n_init=2, seed=3)
    d2 = ((X[:, :, None] - centres[:, None]) ** 2).sum(-1)  # (B, N, C), the plain formula
    ref = torch.softmax(-2.5 * d2, -1).transpose(1, 2).reshape(2, 3, 10, 7)
    ref[1, :, 6:] = 0  # padding
    torch.testing.assert_close(soft, ref)
    assert 0.05 < soft[0].max(0).values.min() < 0.9  # really soft here
    assert torch.equal(soft.argmax(1)[0], hard.argmax(1)[0]) and torch.equal(soft.argmax(1)[1, :6], hard.argmax(1)[1, :6])
    sharp = CLUSTERERS.get("soft_kmeans")(alpha=1e4, **conf)(V, 3, active=active, lengths=lengths)
    torch.testing.assert_close(sharp, hard)


def test_assign_gives_masks_from_distances():
    d2 = torch.tensor([[0.5, 0.1, float("inf")], [2.0, 3.0, 1.0]])
    assert torch.equal(CLUSTERERS.get("kmeans")().assign(d2), torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    assert torch.equal(CLUSTERERS.get("spectral")().assign(d2), CLUSTERERS.get("kmeans")().assign(d2))
    soft = CLUSTERERS.get("soft_kmeans")(alpha=2.0).assign(d2)
    e = torch.exp(torch.tensor([-1.0, -0.2]))
    torch.testing.assert_close(soft[0], torch.cat([e / e.sum(), torch.zeros(1)]))  # an excluded centre gets 0
    torch.testing.assert_close(soft[1], torch.softmax(torch.tensor([-4.0, -6.0, -2.0]), 0))


def test_kmeans_seeds_and_restarts():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(3, 200, 4, generator=g)
    l1, c1 = kmeans(X, 5, seed=3, n_init=2)
    l2, c2 = kmeans(X, 5, seed=3, n_init=2)
    assert torch.equal(l1, l2) and torch.equal(c1, c2)
    # more restarts never give a worse (higher) inertia
    def inertia(labels, centres):
        return (X - centres.gather(1, labels[..., None].expand(-1, -1, 4))).square().sum((1, 2))

    one = inertia(*kmeans(X, 5, seed=3, n_init=1))
    many = inertia(*kmeans(X, 5, seed=3, n_init=6))
    assert (many <= one + 1e-5).all()


def test_kmeans_weights_zero_points_do_not_move_centres():
    X = torch.tensor([[[0.0], [0.2], [10.0], [10.2], [100.0]]])
    w = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])
    labels, centres = kmeans(X, 2, w, n_init=2)
    assert sorted(centres[0, :, 0].tolist()) == pytest.approx([0.1, 10.1])
    assert labels[0, 4] == labels[0, 2]  # the unweighted outlier is still labelled


def blobs(n: int, k: int, d: int, spread: float, seed: int) -> torch.Tensor:
    """(1, n, d) points around k random unit directions, overlapping for a large ``spread``."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(k, d, generator=g), dim=-1)
    return (centres[torch.randint(0, k, (n,), generator=g)] + spread * torch.randn(n, d, generator=g))[None]


@pytest.mark.parametrize("k", [2, 3])
def test_kmeans_finds_the_partition_of_scikit_learn(k):
    """Restarts on a subset, refined on all points: the partition of scikit-learn's KMeans (ARI >= 0.99)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    X = blobs(20000, k, 8, 0.3, seed=k)
    ref = KMeans(k, n_init=3, random_state=0).fit(X[0].numpy()).labels_
    for fit_points in (1000, None):
        labels, centres = kmeans(X, k, n_init=3, fit_points=fit_points)
        assert adjusted_rand_score(ref, labels[0].numpy()) >= 0.99, fit_points
        nearest = ((X[0, :, None] - centres[0][None]) ** 2).sum(-1).argmin(-1)
        assert torch.equal(labels[0], nearest)  # every point is labelled by its nearest centre


def test_kmeans_subset_then_refine_reaches_the_full_fit():
    X = blobs(6000, 3, 5, 0.25, seed=1)
    full_labels, full = kmeans(X, 3, n_init=2, tol=1e-10, fit_points=None)
    sub_labels, sub = kmeans(X, 3, n_init=2, tol=1e-10, fit_points=500)
    assert same_partition(full_labels, sub_labels)
    order = ((full[0, :, None] - sub[0, None]) ** 2).sum(-1).argmin(1)
    torch.testing.assert_close(sub[0, order], full[0], atol=1e-5, rtol=0)


def test_kmeans_fits_only_the_weighted_points():
    """Zero-weight points change nothing (same draws, same centres) and are still labelled."""
    X = blobs(3000, 2, 4, 0.3, seed=2)
    w = (torch.rand(1, 3000, generator=torch.Generator().manual_seed(0)) > 0.7).float()
    X[0, w[0] == 0] += 5.0  # unweighted points far off
    labels, centres = kmeans(X, 2, w, n_init=3, seed=4)
    _, centres_alone = kmeans(X[:, w[0] > 0], 2, n_init=3, seed=4)
    assert torch.equal(centres, centres_alone)
    assert labels.shape == (1, 3000) and torch.unique(labels).numel() == 2


def test_lloyd_runs_restarts_together():
    """R restarts in one call give what each gives alone."""
    X = blobs(800, 3, 4, 0.5, seed=3)
    w = torch.rand(1, 800, generator=torch.Generator().manual_seed(1))
    inits = torch.stack([X[:, [i, i + 1, i + 2]] for i in (0, 10, 20)], 1)  # (1, R = 3, k = 3, D)
    labels, centres, inertia = lloyd(X, w, inits, max_iter=100, tol=0.0)
    assert labels.shape == (1, 800, 3) and centres.shape == (1, 3, 3, 4) and inertia.shape == (1, 3)
    for r in range(3):
        lab, cen, ine = lloyd(X, w, inits[:, r], max_iter=100, tol=0.0)
        assert torch.equal(lab, labels[..., r])
        torch.testing.assert_close(cen, centres[:, r])
        torch.testing.assert_close(ine, inertia[:, r])


def test_lloyd_reseeds_empty_clusters_at_distinct_points():
    X = torch.tensor([[[0.0], [1.0], [2.0], [10.0], [11.0]]])
    w = torch.ones(1, 5)
    centres = torch.tensor([[[1.0], [50.0], [60.0]]])  # two clusters start empty
    labels, centres, _ = lloyd(X, w, centres, max_iter=50, tol=0.0)
    assert torch.unique(labels).numel() == 3
    assert torch.isfinite(centres).all()


def test_sample_skips_zero_weights():
    gen = torch.Generator().manual_seed(0)
    p = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    fallback = torch.tensor([[1.0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]])
    for _ in range(50):
        idx = _sample(p, gen, fallback)
        assert idx[0] == 2 and idx[1] in (1, 3) and idx[2] == 3


def test_fit_weights_fallback():
    active = torch.zeros(2, 3, 2, dtype=torch.bool)
    active[0, 0, 0] = True
    w = fit_weights((2, 3, 2), active, torch.tensor([3, 2]), "cpu")
    assert w[0].tolist() == [1, 0, 0, 0, 0, 0]  # fitted on its one active bin
    assert w[1].tolist() == [1, 1, 1, 1, 0, 0]  # silent: all valid bins
    masks = labels_to_masks(torch.zeros(2, 3, 2, dtype=torch.long), 2, torch.tensor([3, 2]))
    assert masks[1, 0, 2].sum() == 0 and masks[0, 0].sum() == 6


@pytest.mark.parametrize("affinity", ["shifted", "linear"])
def test_spectral_affinities_and_num_vectors(affinity):
    V, labels, _ = separable(1, 20, 10, 6, 3, seed=2)
    for m in (None, 2, 3, 6, 50):
        masks = CLUSTERERS.get("spectral")(affinity=affinity, num_vectors=m, n_init=2)(V, 3)
        if m is None or m >= 3:
            assert same_partition(masks[0].argmax(0), labels[0]), (affinity, m)
        assert torch.equal(masks.sum(1), torch.ones(1, 20, 10))


def test_spectral_embedding_equals_svd():
    """The K x K route gives the row-normalised top left singular vectors of D^-1/2 V."""
    g = torch.Generator().manual_seed(4)
    V = torch.nn.functional.normalize(torch.rand(1, 60, 5, generator=g, dtype=torch.float64), dim=-1)  # d > 0
    w = torch.ones(1, 60, dtype=torch.float64)
    U, _ = spectral_embedding(V, w, 3, affinity="linear")
    A = V[0] @ V[0].T  # N x N only in this small reference
    d = A.sum(1)
    Us, _, _ = torch.linalg.svd(V[0] / d.sqrt()[:, None], full_matrices=False)
    ref = torch.nn.functional.normalize(Us[:, :3], dim=-1)
    # equal up to the sign of each singular vector: compare |U^T ref| with the identity via projections
    torch.testing.assert_close((U[0] @ U[0].T).abs(), (ref @ ref.T).abs(), atol=1e-8, rtol=0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "conf, pattern",
    [
        ({"n_init": 0}, "n_init must be >= 1"),
        ({"max_iter": 0}, "max_iter must be >= 1"),
        ({"tol": -1.0}, "tol must be >= 0"),
        ({"seed": "zero"}, "seed"),
        ({"n_clusters": 2}, "unknown key 'n_clusters'"),
    ],
)
def test_bad_config(name, conf, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_plugin(CLUSTERERS, name, conf, "m.yaml", "clusterer")


@pytest.mark.parametrize(
    "name, conf, pattern",
    [
        ("spectral", {"affinity": "cosine"}, "affinity must be one of"),
        ("spectral", {"num_vectors": 0}, "num_vectors must be >= 1"),
        ("spectral", {"eps": 2.0}, r"eps must be in \(0, 1\)"),
        ("kmeans", {"fit_points": 0}, "fit_points must be >= 1"),
        ("soft_kmeans", {"fit_points": 1.5}, "fit_points"),
        ("soft_kmeans", {"alpha": 0.0}, "alpha must be > 0 and finite"),
        ("soft_kmeans", {"alpha": -1.0}, "alpha must be > 0 and finite"),
        ("soft_kmeans", {"alpha": float("inf")}, "alpha must be > 0 and finite"),
        ("soft_kmeans", {"alpha": "sharp"}, "alpha"),
        ("oracle_kmeans", {"chunk_frames": 0}, "chunk_frames must be >= 1"),
        ("oracle_kmeans", {"chunk_frames": 1.5}, "chunk_frames"),
        ("oracle_spectral", {"chunk_frames": 0}, "chunk_frames must be >= 1"),
        ("oracle_spectral", {"affinity": "rbf"}, "affinity must be one of"),
        ("oracle_spectral", {"num_vectors": -1}, "num_vectors must be >= 1"),
    ],
)
def test_bad_specific_config(name, conf, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_plugin(CLUSTERERS, name, conf, "m.yaml", "clusterer")


@pytest.mark.parametrize("name", NAMES)
def test_bad_call_arguments(name):
    V, _, refs = separable(1, 4, 3, 2, 2)
    with pytest.raises(ValueError, match="num_spk must be a positive int"):
        CLUSTERERS.get(name)()(V, 0, refs=refs)
    with pytest.raises(ValueError, match=r"embeddings must have shape \(B, T, F, K\)"):
        CLUSTERERS.get(name)()(V[0], 2, refs=refs)


SPECTRAL_MEMORY = textwrap.dedent(
    """
    import json, resource, torch
    from dcsep.registry import CLUSTERERS
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    b, t, f, k = 1, 1550, 129, 40  # N = 199,950 bins: an N x N float32 affinity would need 160 GB
    labels = torch.randint(0, 2, (b, t, f), generator=g)
    V = torch.eye(k)[labels * 5] + 0.05 * torch.randn(b, t, f, k, generator=g)
    V = torch.nn.functional.normalize(V, dim=-1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    masks = CLUSTERERS.get("spectral")(n_init=1, max_iter=20)(V, 2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    agree = (masks[:, 0] == (labels == 0)).float().mean().item()
    print(json.dumps({"before_kib": before, "peak_kib": peak, "agree": max(agree, 1 - agree)}))
    """
)


def test_spectral_never_forms_n_by_n():
    out = subprocess.run([sys.executable, "-c", SPECTRAL_MEMORY], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["peak_kib"] < 2 * 1024**2, res  # ru_maxrss is in KiB on Linux
    assert res["agree"] == 1.0


def old_subsample_masks(clus, X: torch.Tensor, num_spk: int, block: int) -> torch.Tensor:
    """The subsample path as Separator computed it by itself before fit/assign: (n, K) -> masks (n, C)."""
    sub_labels = clus(X[None, None], num_spk, None, None, None)[0, :, 0].argmax(0)
    onehot = torch.nn.functional.one_hot(sub_labels, num_spk).to(X.dtype)
    mass = onehot.sum(0)
    centres = (onehot.T @ X) / mass.clamp_min(1)[:, None]
    c2 = torch.where(mass > 0, (centres * centres).sum(1), float("inf")).to(X.dtype)
    parts = [clus.assign(torch.addmm(c2, X[b0 : b0 + block], centres.T, alpha=-2.0)) for b0 in range(0, X.shape[0], block)]
    return torch.cat(parts)


@pytest.mark.parametrize("name", [n for n in NAMES if not CLUSTERERS.get(n).needs_refs])
@pytest.mark.parametrize("case", ["separable", "overlapping", "identical"])
def test_fit_then_assign_matches_the_inline_computation_bit_for_bit(name, case):
    V, _, _ = separable(1, 40, 9, 6, 3, seed=4, noise=0.1 if case == "separable" else 0.7)
    X = V.reshape(-1, 6)
    if case == "identical":  # one distinct point: clusters without bins
        X = torch.nn.functional.normalize(torch.ones_like(X), dim=-1)
    clus = CLUSTERERS.get(name)(n_init=2, seed=1)
    centres = clus.fit(X[None], 3)  # (1, C, K)
    assert centres.shape == (1, 3, 6) and centres.dtype == X.dtype
    if case == "identical":
        assert centres.isnan().any(-1).sum() == 2  # two clusters got no bin
    ref = old_subsample_masks(clus, X, 3, block=64)
    blocks = torch.cat([clus.assign(X[b0 : b0 + 64], centres[0]) for b0 in range(0, X.shape[0], 64)])
    assert torch.equal(blocks, ref)
    assert torch.isfinite(blocks).all() and torch.allclose(blocks.sum(-1), torch.ones(X.shape[0]))


@pytest.mark.parametrize("name", ["kmeans", "soft_kmeans", "spectral"])
def test_fit_weights_and_batched_assign(name):
    """fit: only bins of positive weight make the centres; assign on (B, N, K) equals assign item by item."""
    V, labels, _ = separable(2, 20, 8, 5, 2, seed=6)
    X, labels = V.reshape(2, 160, 5), labels.reshape(2, 160)
    w = torch.ones(2, 160)
    w[0, 80:] = 0
    X[0, 80:] = torch.nn.functional.normalize(X[0, 80:] + 3.0, dim=-1)  # unfitted bins far off
    w[1] = 0  # no fitted bin: falls back to all
    clus = CLUSTERERS.get(name)(n_init=2)
    centres = clus.fit(X, 2, w)
    fitted_labels = labels[0, :80]
    got = clus.assign(X[0, :80], centres[0]).argmax(-1)
    assert same_partition(got, fitted_labels)
    for c in range(2):  # each centre is the mean of its cluster's fitted bins
        torch.testing.assert_close(centres[0, c], X[0, :80][got == c].mean(0))
    masks = clus.assign(X, centres)  # (B, N, C)
    assert masks.shape == (2, 160, 2)
    for i in range(2):
        torch.testing.assert_close(masks[i], clus.assign(X[i], centres[i]))
    assert same_partition(masks[1].argmax(-1), labels[1]) and same_partition(masks[0, :80].argmax(-1), fitted_labels)
    with pytest.raises(ValueError, match=r"weights must have shape \(2, 160\)"):
        clus.fit(X, 2, w[:, :10])
    with pytest.raises(ValueError, match=r"X must have shape \(B, N, K\)"):
        clus.fit(X[0], 2)
    with pytest.raises(ValueError, match="do not match"):
        clus.assign(X, centres[0])


@pytest.mark.parametrize("name", ["oracle_kmeans", "oracle_spectral"])
def test_oracle_clusterers_cannot_be_fitted(name):
    V, _, _ = separable(1, 5, 4, 3, 2)
    with pytest.raises(ConfigError, match=f"'{name}' needs the reference sources and cannot be fitted"):
        CLUSTERERS.get(name)().fit(V.reshape(1, 20, 3), 2)
