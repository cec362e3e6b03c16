"""Encoders: shapes, unit-norm rows, gradients, padding, bad configs (every registered encoder)."""

from __future__ import annotations

import pytest
import torch

from dcsep.config import build_plugin
from dcsep.errors import ConfigError
from dcsep.registry import ENCODERS

# a small configuration of every built-in encoder (a new encoder needs an entry here)
TINY = {
    "blstm": {"num_layers": 2, "hidden_units": 6, "embed_dim": 4},
    "conv_blstm": {"conv_channels": [3, 2], "num_layers": 1, "hidden_units": 6, "embed_dim": 4},
}
F = 9


def build(name: str, **extra):
    conf = {**TINY.get(name, {}), **extra}
    return build_plugin(ENCODERS, name, conf, "<test>", "encoder", input_dim=F)


def test_every_builtin_has_a_tiny_config():
    assert set(ENCODERS.names()) <= set(TINY), "add the new encoder to TINY"


@pytest.mark.parametrize("name", ENCODERS.names())
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "linear"])
def test_forward_backward(name, activation):
    torch.manual_seed(0)
    enc = build(name, activation=activation)
    feats = torch.randn(3, 11, F, requires_grad=True)
    lengths = torch.tensor([11, 4, 1])
    V = enc(feats, lengths)
    assert V.shape == (3, 11, F, enc.embed_dim)
    assert torch.isfinite(V).all()
    torch.testing.assert_close(V.norm(dim=-1), torch.ones(3, 11, F))
    if activation == "sigmoid":
        assert (V >= 0).all()
    (V * torch.randn_like(V)).sum().backward()
    assert torch.isfinite(feats.grad).all()
    for pname, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name", ENCODERS.names())
def test_padding_does_not_change_valid_frames(name):
    torch.manual_seed(1)
    enc = build(name).eval()
    x = torch.randn(1, 7, F)
    alone = enc(x, torch.tensor([7]))
    padded = torch.cat([x, torch.randn(1, 5, F) * 10], 1)  # junk after the end
    batch = torch.cat([padded, torch.randn(1, 12, F)])
    out = enc(batch, torch.tensor([7, 12]))
    torch.testing.assert_close(out[:1, :7], alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ENCODERS.names())
@pytest.mark.parametrize(
    "conf, pattern",
    [
        ({"embed_dim": 0}, "embed_dim must be >= 1"),
        ({"activation": "relu"}, "activation must be one of"),
        ({"num_layers": 0}, "num_layers must be >= 1"),
        ({"hidden_units": 0}, "hidden_units must be >= 1"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"hidden_units": "600"}, "hidden_units"),
        ({"hidden_size": 600}, "unknown key 'hidden_size'"),
    ],
)
def test_bad_config(name, conf, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build(name, **conf)


@pytest.mark.parametrize(
    "conf, pattern",
    [({"kernel_size": 2}, "kernel_size must be odd"), ({"conv_channels": []}, "conv_channels"), ({"conv_channels": [3, 0]}, "conv_channels")],
)
def test_bad_conv_config(conf, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build("conv_blstm", **conf)


def test_blstm_stack_of_mixed_lengths_matches_a_packed_batch():
    # on CPU the stack runs each group of equal length on its own; it must give the
    # outputs and gradients of one packed batch (padded frames zero in both)
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from dcsep.encoders.blstm import BLSTMStack

    torch.manual_seed(2)
    stack = BLSTMStack(F, hidden_units=5, num_layers=2, dropout=0.0)
    x = torch.randn(5, 13, F, requires_grad=True)
    lengths = torch.tensor([13, 6, 13, 1, 6])
    out = stack(x, lengths)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref, _ = pad_packed_sequence(stack.lstm(packed)[0], batch_first=True, total_length=13)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)
    assert out[1, 6:].abs().max() == 0 and out[3, 1:].abs().max() == 0
    w = torch.randn_like(out)
    grads = torch.autograd.grad((out * w).sum(), [x, *stack.parameters()])
    grads_ref = torch.autograd.grad((ref * w).sum(), [x, *stack.parameters()])
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-4)


def test_lstm_dtype_decision():
    from dcsep.encoders.blstm import lstm_dtype

    assert lstm_dtype(True, torch.bfloat16) == torch.float32
    assert lstm_dtype(True, torch.float16) is None  # float16 autocast: cuDNN float16 with a gradient scaler
    assert lstm_dtype(False, torch.bfloat16) is None and lstm_dtype(False, torch.float16) is None


@pytest.mark.parametrize("lengths", [[30, 30], [30, 17]], ids=["full", "padded"])
def test_lstm_runs_in_float32_under_bfloat16_autocast(lengths):
    """Without the guard, bfloat16 autocast would hand the LSTM to a lower-precision kernel (CUDA: float16)."""
    from dcsep.encoders.blstm import BLSTMStack

    torch.manual_seed(0)
    stack = BLSTMStack(input_dim=12, hidden_units=8, num_layers=2, dropout=0.0).eval()
    seen = []
    stack.lstm.register_forward_hook(lambda m, args, out: seen.append((torch.is_autocast_enabled("cpu"), args[0].dtype, out[0].dtype)))
    x, lens = torch.randn(2, 30, 12), torch.tensor(lengths)
    ref = stack(x, lens)
    seen.clear()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = stack(x, lens)
        assert torch.is_autocast_enabled("cpu")  # the guard restores the caller's autocast state
    assert seen and all(s == (False, torch.float32, torch.float32) for s in seen)
    assert out.dtype == torch.float32 and torch.equal(out, ref)
