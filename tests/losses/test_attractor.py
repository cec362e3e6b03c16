"""The attractor mask loss: the formula term by term, its mix with the affinity loss, gradients."""

from __future__ import annotations

import pytest
import torch

from dcsep.config import build_plugin
from dcsep.errors import ConfigError
from dcsep.losses.attractor import attractor_mask_loss
from dcsep.losses.weights import bin_weights
from dcsep.registry import LOSSES

from .test_affinity import CASES, random_case

F64 = torch.float64


def explicit_mask_loss(V, Y, mix, lengths, alpha, threshold_db=40.0):
    """The loss with plain loops over utterances, sources and bins: attractors, softmax, energy-weighted error."""
    b, t, f, k = V.shape
    w = bin_weights(mix, "vad", lengths, threshold_db)
    out = []
    for i in range(b):
        n = t if lengths is None else int(lengths[i])
        v, y, wi, e = V[i, :n].reshape(-1, k), Y[i, :n].reshape(-1, Y.shape[-1]), w[i, :n].reshape(-1), mix[i, :n].reshape(-1) ** 2
        present = [c for c in range(y.shape[1]) if (wi * y[:, c]).sum() > 0]
        if not present or e.sum() == 0:
            out.append(torch.zeros((), dtype=V.dtype))
            continue
        att = {c: (wi[:, None] * y[:, c : c + 1] * v).sum(0) / (wi * y[:, c]).sum() for c in present}
        total = torch.zeros((), dtype=V.dtype)
        for j in range(v.shape[0]):
            z = torch.stack([torch.exp(-alpha * (v[j] - att[c]).square().sum()) for c in present])
            m = torch.zeros(y.shape[1], dtype=V.dtype)
            m[present] = z / z.sum()
            total = total + e[j] * (m - y[j]).square().sum()
        out.append(total / e.sum())
    return torch.stack(out).mean()


@pytest.mark.parametrize("case", CASES, ids=lambda c: "B{1}T{2}F{3}K{4}C{5}".format(*c) + ("abs" if c[6] else ""))
@pytest.mark.parametrize("padded", [False, True], ids=["full", "padded"])
def test_mask_loss_matches_the_formula(case, padded):
    seed, b, t, f, k, c, absent = case
    V, Y, mix, lengths = random_case(seed, b, t, f, k, c, absent=absent)
    lengths = lengths if padded else None
    loss = LOSSES.get("attractor_mask")(alpha=2.0, dc_weight=0.0)(V, Y, mix, lengths)
    torch.testing.assert_close(loss, explicit_mask_loss(V, Y, mix, lengths, 2.0))


@pytest.mark.parametrize("dc_weight", [0.0, 0.3, 1.0])
def test_mix_with_the_affinity_loss(dc_weight):
    V, Y, mix, lengths = random_case(5, 2, 8, 6, 4, 2)
    dc = LOSSES.get("lowrank_affinity")()(V, Y, mix, lengths)
    mask = LOSSES.get("attractor_mask")(dc_weight=0.0)(V, Y, mix, lengths)
    both = LOSSES.get("attractor_mask")(dc_weight=dc_weight)(V, Y, mix, lengths)
    torch.testing.assert_close(both, dc_weight * dc + (1 - dc_weight) * mask)


def test_sharp_masks_of_perfect_embeddings_give_zero_loss():
    _, Y, mix, lengths = random_case(6, 2, 8, 6, 4, 3)
    V = torch.nn.functional.pad(Y, (0, 1))  # one-hot rows: each source's bins sit on its attractor
    loss = LOSSES.get("attractor_mask")(alpha=50.0)(V, Y, mix, lengths)  # others at squared distance 2
    assert loss < 1e-30


def test_gradient():
    V, Y, mix, lengths = random_case(7, 2, 4, 3, 3, 2)
    w = bin_weights(mix, "vad", lengths).reshape(2, 12)
    e = (mix**2).reshape(2, 12)
    Vf = V.reshape(2, 12, 3).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: attractor_mask_loss(v, Y.reshape(2, 12, 2), w, e, 1.5), (Vf,))


def test_loud_bins_count_most():
    """Energy weighting: the same wrong bin costs more when it is loud."""
    Y = torch.nn.functional.one_hot(torch.tensor([[0, 0, 1, 1]]), 2).to(F64)
    V = Y.clone()
    V[0, 0] = torch.tensor([0.6, 0.8], dtype=F64)  # bin 0 drifts towards source 2
    w = torch.ones(1, 4, dtype=F64)
    quiet = attractor_mask_loss(V, Y, w, torch.tensor([[0.1, 1.0, 1.0, 1.0]], dtype=F64), 3.0)
    loud = attractor_mask_loss(V, Y, w, torch.tensor([[10.0, 1.0, 1.0, 1.0]], dtype=F64), 3.0)
    assert loud > 5 * quiet


@pytest.mark.parametrize(
    "conf, pattern",
    [
        ({"alpha": 0.0}, "alpha must be > 0"),
        ({"dc_weight": 1.5}, r"dc_weight must be in \[0, 1\]"),
        ({"dc_weight": -0.1}, r"dc_weight must be in \[0, 1\]"),
        ({"alpha": "sharp"}, "alpha"),
    ],
)
def test_bad_specific_config(conf, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_plugin(LOSSES, "attractor_mask", conf, "m.yaml", "loss")
