"""The low-rank affinity loss equals the naive N x N one, values and gradients."""

from __future__ import annotations

import pytest
import torch

from dcsep.config import build_plugin
from dcsep.errors import ConfigError
from dcsep.losses.abs import ibm_targets
from dcsep.losses.affinity import lowrank_affinity_loss, naive_affinity_loss, row_scales
from dcsep.losses.weights import WEIGHT_KINDS, bin_weights
from dcsep.registry import LOSSES

F64 = torch.float64


def random_case(seed: int, b: int, t: int, f: int, k: int, c: int, dtype=F64, absent: bool = False):
    """Unit-norm V (B, T, F, K), one-hot Y (B, T, F, C), mixture magnitudes with a wide dynamic range, lengths."""
    g = torch.Generator().manual_seed(seed)
    V = torch.nn.functional.normalize(torch.randn(b, t, f, k, generator=g, dtype=dtype), dim=-1)
    src = torch.rand(b, c, t, f, generator=g, dtype=dtype) ** 6  # many bins below -40 dB
    if absent and c > 1:
        src[:, -1] = 0  # the last speaker dominates no bin
    Y = ibm_targets(src)
    mix = src.sum(1)
    lengths = torch.randint(1, max(t, 2), (b,), generator=g)  # shorter than t (unless t == 1)
    if b > 1:
        lengths[0] = t
    return V, Y, mix, lengths


CASES = [
    # (seed, B, T, F, K, C, absent speaker)
    (0, 1, 7, 5, 3, 1, False),
    (1, 2, 9, 6, 4, 2, False),
    (2, 3, 5, 8, 6, 3, True),
    (3, 2, 6, 7, 2, 4, True),
    (4, 1, 13, 9, 10, 2, True),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "B{1}T{2}F{3}K{4}C{5}".format(*c) + ("abs" if c[6] else ""))
@pytest.mark.parametrize("weight", WEIGHT_KINDS)
@pytest.mark.parametrize("partition_weight", [False, True], ids=["plain", "partition"])
@pytest.mark.parametrize("padded", [False, True], ids=["full", "padded"])
def test_lowrank_equals_naive(case, weight, partition_weight, padded):
    seed, b, t, f, k, c, absent = case
    V, Y, mix, lengths = random_case(seed, b, t, f, k, c, absent=absent)
    lengths = lengths if padded else None
    conf = {"weight": weight, "partition_weight": partition_weight}
    low = build_plugin(LOSSES, "lowrank_affinity", conf, "<test>", "loss")
    naive = build_plugin(LOSSES, "naive_affinity", conf, "<test>", "loss")
    Vl = V.clone().requires_grad_()
    Vn = V.clone().requires_grad_()
    ll = low(Vl, Y, mix, lengths)
    ln = naive(Vn, Y, mix, lengths)
    assert ll.dtype == F64
    assert ln > 0
    assert abs(ll.item() - ln.item()) / ln.item() < 1e-5
    ll.backward()
    ln.backward()
    gl, gn = Vl.grad, Vn.grad
    assert torch.isfinite(gl).all()
    assert (gl - gn).norm() <= 1e-5 * gn.norm()
    if padded:
        valid = torch.arange(t)[None, :] < lengths[:, None]
        assert (~valid).any()
        assert (gl[~valid] == 0).all()  # padding gets no gradient


def test_lowrank_equals_naive_largest_error():
    """Many random shapes at once: the worst relative error stays far below 1e-5 (float64)."""
    worst = 0.0
    for seed in range(200):
        g = torch.Generator().manual_seed(seed)
        b, t, f, k, c = (int(torch.randint(lo, hi, (1,), generator=g)) for lo, hi in [(1, 4), (1, 12), (1, 10), (1, 12), (1, 5)])
        V, Y, mix, lengths = random_case(seed, b, t, f, k, c, absent=seed % 2 == 1)
        w = bin_weights(mix, WEIGHT_KINDS[seed % 4], lengths if seed % 3 else None).reshape(b, t * f)
        s = row_scales(Y.reshape(b, t * f, c), w, partition_weight=seed % 2 == 0)
        lo = lowrank_affinity_loss(V.reshape(b, t * f, k), Y.reshape(b, t * f, c), s)
        na = naive_affinity_loss(V.reshape(b, t * f, k), Y.reshape(b, t * f, c), s)
        # a loss that is zero in exact arithmetic (e.g. a single active bin) may come out of the naive
        # N x N form as round-off (~1e-32); both forms must agree on which losses are zero
        nz = na > 1e-12
        assert torch.equal(nz, lo.abs() > 1e-12)
        assert (lo - na).abs().max().item() < 1e-12
        if nz.any():
            worst = max(worst, ((lo[nz] - na[nz]).abs() / na[nz]).max().item())
    assert worst < 1e-10, worst


@pytest.mark.parametrize("partition_weight", [False, True])
def test_lowrank_gradcheck(partition_weight):
    V, Y, mix, lengths = random_case(7, 2, 4, 3, 3, 3, absent=True)
    w = bin_weights(mix, "magnitude", lengths).reshape(2, 12)
    Yf = Y.reshape(2, 12, 3)
    s = row_scales(Yf, w, partition_weight)
    V = V.reshape(2, 12, 3).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: lowrank_affinity_loss(v, Yf, s), (V,))


def test_closed_form_gradient():
    """dC/dV = 4 V (V^T V) - 4 Y (Y^T V) for unit row scales (before normalisation)."""
    V, Y, _, _ = random_case(8, 1, 6, 4, 5, 2)
    V = V.reshape(1, 24, 5).requires_grad_()
    Y = Y.reshape(1, 24, 2)
    s = torch.ones(1, 24, dtype=F64)
    (lowrank_affinity_loss(V, Y, s) * 24**2).sum().backward()
    Vd = V.detach()
    expected = 4 * Vd @ (Vd.transpose(1, 2) @ Vd) - 4 * Y @ (Y.transpose(1, 2) @ Vd)
    torch.testing.assert_close(V.grad, expected)


def test_perfect_embeddings_give_zero_loss():
    _, Y, mix, lengths = random_case(9, 2, 8, 6, 4, 3)
    V = torch.nn.functional.pad(Y, (0, 1))  # one-hot rows: V V^T = Y Y^T
    for name in ("lowrank_affinity", "naive_affinity"):
        loss = LOSSES.get(name)(weight="none")(V, Y, mix, lengths)
        assert loss.abs() < 1e-12


def test_loss_does_not_depend_on_padding_content():
    V, Y, mix, lengths = random_case(10, 2, 10, 5, 4, 2)
    loss = LOSSES.get("lowrank_affinity")()
    ref = loss(V, Y, mix, lengths)
    V2, mix2 = V.clone(), mix.clone()
    V2[1, lengths[1] :] = 1.0 / 2  # any value past the length
    mix2[1, lengths[1] :] = 1e6  # a loud padding must not move the VAD threshold either
    torch.testing.assert_close(loss(V2, Y, mix2, lengths), ref)


@pytest.mark.parametrize("name", LOSSES.names())
@pytest.mark.parametrize(
    "what",
    ["normal", "silent", "one_speaker", "identical", "clipping", "zero_length"],
)
def test_loss_forward_backward_finite(name, what):
    V, Y, mix, lengths = random_case(11, 2, 6, 5, 4, 2, dtype=torch.float32)
    src = torch.rand(2, 2, 6, 5)
    if what == "silent":
        src.zero_()
    elif what == "one_speaker":
        src[:, 1] = 0
    elif what == "identical":
        src[:, 1] = src[:, 0]
    elif what == "clipping":
        src = src * 1e4
    elif what == "zero_length":
        lengths[1] = 0
    Y, mix = ibm_targets(src), src.sum(1)
    for conf in ({}, {"partition_weight": True, "weight": "magnitude"}):
        loss_fn = LOSSES.get(name)(**conf)
        Vg = V.clone().requires_grad_()
        loss = loss_fn(Vg, Y, mix, lengths)
        loss.backward()
        assert loss.shape == ()
        assert torch.isfinite(loss) and loss >= -1e-6
        assert torch.isfinite(Vg.grad).all()
        if what == "silent":
            assert loss == 0


def test_loss_under_autocast_is_float32():
    V, Y, mix, lengths = random_case(12, 2, 40, 129, 20, 2, dtype=torch.float32)
    loss_fn = LOSSES.get("lowrank_affinity")()
    ref = loss_fn(V, Y, mix, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = loss_fn(V.bfloat16(), Y, mix, lengths)
    assert out.dtype == torch.float32
    assert torch.isfinite(out)
    assert abs(out.item() - ref.item()) < 0.02 * ref.item()


def test_lowrank_scale_independent_of_length():
    """The loss is normalised per utterance: repeating an utterance does not change it."""
    V, Y, mix, _ = random_case(13, 1, 8, 6, 4, 2)
    loss_fn = LOSSES.get("lowrank_affinity")(weight="none")
    one = loss_fn(V, Y, mix)
    two = loss_fn(V.repeat(1, 2, 1, 1), Y.repeat(1, 2, 1, 1), mix.repeat(1, 2, 1))
    torch.testing.assert_close(one, two)


@pytest.mark.parametrize("name", LOSSES.names())
@pytest.mark.parametrize(
    "conf, pattern",
    [
        ({"weight": "loud"}, "weight must be one of"),
        ({"threshold_db": -3.0}, "threshold_db must be positive"),
        ({"threshold_db": "40"}, "threshold_db"),
        ({"partition_weight": "yes"}, "partition_weight"),
        ({"lr": 1.0}, "unknown key 'lr'"),
    ],
)
def test_bad_config(name, conf, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_plugin(LOSSES, name, conf, "m.yaml", "loss")


def test_shape_mismatch_is_clear():
    V, Y, mix, _ = random_case(14, 1, 4, 3, 2, 2)
    with pytest.raises(ValueError, match="shape mismatch"):
        LOSSES.get("lowrank_affinity")()(V, Y[:, :3], mix)


@pytest.mark.parametrize("kind", WEIGHT_KINDS)
def test_bin_weights(kind):
    mag = torch.tensor([[[1.0, 0.1], [0.001, 0.0]], [[2.0, 2.0], [5.0, 0.5]]])  # (2, 2, 2)
    lengths = torch.tensor([2, 1])
    w = bin_weights(mag, kind, lengths, threshold_db=40.0)
    assert w.shape == mag.shape and (w >= 0).all()
    assert (w[1, 1] == 0).all()  # padding
    if kind == "vad":
        torch.testing.assert_close(w[0], torch.tensor([[1.0, 1.0], [0.0, 0.0]]))  # -60 dB and silence out
        torch.testing.assert_close(w[1, 0], torch.tensor([1.0, 1.0]))  # the padded 5.0 is not the peak
    if kind in ("magnitude", "sqrt_magnitude"):
        torch.testing.assert_close(w[0].sum() / 4, torch.tensor(1.0))


def test_ibm_targets():
    src = torch.tensor([[[[1.0, 0.0]], [[0.5, 2.0]], [[0.1, 0.1]]]])  # (1, 3, 1, 2)
    Y = ibm_targets(src, num_spk=4)
    assert Y.shape == (1, 1, 2, 4)
    assert Y[0, 0].tolist() == [[1, 0, 0, 0], [0, 1, 0, 0]]
