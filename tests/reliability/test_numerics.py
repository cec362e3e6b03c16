"""Loss and clusterers stay finite on degenerate and extreme inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import harmonic_voice
from dcsep.model import DeepClustering
from dcsep.registry import CLUSTERERS

FS = 8000
L = 2000  # samples: 32 frames


def _voices(seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(np.stack([harmonic_voice(rng, 120, L / FS), harmonic_voice(rng, 230, L / FS)]))


def _case(name: str):
    """(sources (C, L), mix (L,)) for one degenerate or extreme input."""
    s = _voices()
    if name == "normal":
        pass
    elif name == "all_silent":
        s = torch.zeros_like(s)
    elif name == "one_speaker_silent":
        s[1] = 0
    elif name == "identical_sources":
        s[1] = s[0]
    elif name == "silent_half":  # bins and frames far below the -40 dB threshold
        s[:, : L // 2] = 0
    elif name == "tiny_level":
        s = s * 1e-7
    elif name == "clipped_full_scale":
        s = (s * 100).clamp(-1, 1)
    elif name == "beyond_full_scale":
        s = s * 1e4
    elif name == "dc_offset":
        s = s + 1.0
    elif name == "single_sample_spikes":
        s = torch.zeros_like(s)
        s[0, 100] = 1.0
        s[1, 1500] = -1.0
    else:
        raise KeyError(name)
    return s, s.sum(0)


CASES = [
    "normal",
    "all_silent",
    "one_speaker_silent",
    "identical_sources",
    "silent_half",
    "tiny_level",
    "clipped_full_scale",
    "beyond_full_scale",
    "dc_offset",
    "single_sample_spikes",
]


def _model(loss="lowrank_affinity", **loss_conf):
    torch.manual_seed(0)
    return DeepClustering.from_config(
        {
            "encoder_conf": {"num_layers": 1, "hidden_units": 8, "embed_dim": 4},
            "loss": loss,
            "loss_conf": loss_conf,
            "clusterer_conf": {"n_init": 2},
        }
    )


LOSS_CONFS = [
    ("lowrank_affinity", {}),
    ("lowrank_affinity", {"weight": "none"}),
    ("lowrank_affinity", {"weight": "magnitude", "partition_weight": True}),
    ("lowrank_affinity", {"weight": "sqrt_magnitude"}),
    ("lowrank_affinity", {"weight": "vad", "partition_weight": True}),
    ("naive_affinity", {"weight": "vad"}),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("loss, conf", LOSS_CONFS, ids=lambda x: x if isinstance(x, str) else "-".join(f"{k}={v}" for k, v in x.items()) or "default")
def test_compute_loss_and_gradients_finite(case, loss, conf):
    model = _model(loss, **conf)
    src, mix = _case(case)
    # batch of two: the degenerate item padded next to a normal one
    normal_src, normal_mix = _case("normal")
    wav = torch.stack([mix, normal_mix[: L]])
    sources = torch.stack([src, normal_src])
    lengths = torch.tensor([L, L - 500])
    if loss == "naive_affinity":  # (TF x TF) affinities: half the length, a quarter of the cost
        wav, sources, lengths = wav[..., : L // 2], sources[..., : L // 2], torch.tensor([L // 2, L // 2 - 250])
    value = model.forward_loss({"mix": wav, "sources": sources, "lengths": lengths})[0]
    assert torch.isfinite(value), value
    value.backward()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("case", ["all_silent", "one_speaker_silent", "identical_sources"])
def test_degenerate_target_loss_is_finite_alone(case):
    model = _model()
    src, mix = _case(case)
    value = model.forward_loss({"mix": mix[None], "sources": src[None]})[0]
    assert torch.isfinite(value)
    if case == "all_silent":  # no active bin: nothing to learn, loss 0
        assert value == 0


def _embeddings(kind: str, b=2, t=12, f=9, k=4) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if kind == "random":
        V = torch.randn(b, t, f, k, generator=g)
    elif kind == "identical":  # every bin the same point: fewer distinct points than clusters
        V = torch.ones(b, t, f, k)
    elif kind == "two_points":
        V = torch.zeros(b, t, f, k)
        V[..., 0] = 1
        V[:, :, : f // 2, 0] = 0
        V[:, :, : f // 2, 1] = 1
    elif kind == "huge":
        V = torch.randn(b, t, f, k, generator=g) * 1e6
    elif kind == "tiny":
        V = torch.randn(b, t, f, k, generator=g) * 1e-12
    else:
        raise KeyError(kind)
    return torch.nn.functional.normalize(V, dim=-1) if kind in ("random", "two_points") else V


def _check_masks(masks, b, c, t, f, lengths, soft=False):
    assert masks.shape == (b, c, t, f)
    assert torch.isfinite(masks).all()
    for i in range(b):
        n = int(lengths[i])
        if soft:  # each valid bin shared between the sources, in [0, 1], summing to 1
            assert torch.all((masks[i] >= 0) & (masks[i] <= 1))
            torch.testing.assert_close(masks[i, :, :n].sum(0), torch.ones(n, f))
        else:
            assert torch.all(masks[i, :, :n].sum(0) == 1)  # each valid bin in exactly one source
        assert torch.all(masks[i, :, n:] == 0)


@pytest.mark.parametrize("name", sorted(set(CLUSTERERS.names())))
@pytest.mark.parametrize("kind", ["random", "identical", "two_points", "huge", "tiny"])
@pytest.mark.parametrize("active", ["all", "none", "one_bin", "one_frame"])
@pytest.mark.parametrize("num_spk", [2, 3])
def test_clusterers_handle_degenerate_embeddings(name, kind, active, num_spk):
    cls = CLUSTERERS.get(name)
    clus = cls()
    b, t, f = 2, 12, 9
    V = _embeddings(kind, b, t, f)
    lengths = torch.tensor([t, t - 5])
    act = torch.zeros(b, t, f, dtype=torch.bool)
    if active == "all":
        act[:] = True
    elif active == "one_bin":
        act[:, 0, 3] = True
    elif active == "one_frame":
        act[:, 1] = True
    refs = None
    if getattr(clus, "needs_refs", False):
        refs = torch.zeros(b, num_spk, t, f)
        refs[:, 0] = 1.0  # speaker 1 dominates everywhere, the others absent
    masks = clus(V, num_spk, active=act, lengths=lengths, refs=refs)
    _check_masks(masks, b, num_spk, t, f, lengths, soft=cls.soft)


@pytest.mark.parametrize("backend", ["fast", "mir_eval"])
@pytest.mark.parametrize(
    "case, pattern",
    [
        ("silent_reference", r"reference source 2 is silent \(all zeros\)"),
        ("identical_references", r"reference sources 1 and 2 are identical \(up to a gain\)"),
        ("scaled_references", r"reference sources 1 and 2 are identical \(up to a gain\)"),
        ("silent_mixture", r"the mixture is silent"),
    ],
)
def test_scoring_undefined_cases_say_why(backend, case, pattern):
    """bss_eval is undefined for these; scoring says so in one DataError line instead of a LinAlgError or NaN."""
    from dcsep.errors import DataError
    from dcsep.metrics import score_utterance

    s = _voices().double().numpy()
    mix = s.sum(0)
    if case == "silent_reference":
        s[1] = 0
    elif case == "identical_references":
        s[1] = s[0]
    elif case == "scaled_references":
        s[1] = -0.5 * s[0]
    else:
        mix = np.zeros_like(mix)
    with pytest.raises(DataError, match=pattern) as info:
        score_utterance(s, s[::-1].copy(), mix, backend=backend, name="utt1")
    assert str(info.value).startswith("utt1: ") and "\n" not in str(info.value)


@pytest.mark.parametrize("case", ["estimate_silent", "estimate_clipped", "one_estimate_identical_to_mixture"])
def test_scoring_degenerate_estimates_is_finite(case):
    from dcsep.metrics import score_utterance

    s = _voices().double().numpy()
    mix = s.sum(0)
    est = s.copy()
    if case == "estimate_silent":
        est[0] = 0
    elif case == "estimate_clipped":
        est = np.clip(est * 100, -1, 1)
    else:
        est[0] = mix
    res = score_utterance(s, est, mix, name="utt1")
    assert all(np.isfinite(v) for k, v in res.items() if isinstance(v, float)), res
