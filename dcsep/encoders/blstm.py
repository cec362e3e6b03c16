"""Bidirectional LSTM encoder (the paper's network)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from typeguard import typechecked

from dcsep.encoders.abs import Encoder, embedding_head
from dcsep.registry import ENCODERS

ACTIVATIONS = ("tanh", "sigmoid", "linear")


def check_embedding_args(embed_dim: int, activation: str) -> None:
    if embed_dim < 1:
        raise ValueError(f"embed_dim must be >= 1, got {embed_dim}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")


def check_rnn_args(num_layers: int, hidden_units: int, dropout: float) -> None:
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    if hidden_units < 1:
        raise ValueError(f"hidden_units must be >= 1, got {hidden_units}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


def lstm_dtype(autocast_enabled: bool, autocast_dtype: torch.dtype | None) -> torch.dtype | None:
    """The dtype the LSTM must be run in by hand under an autocast state; None: leave it to autocast.

    On CUDA, autocast's wrapper for cuDNN RNNs
    (``aten/src/ATen/cudnn/AutocastRNN.cpp``, registered for ``_cudnn_rnn``)
    casts the input, the hidden state and the flat weights to float16
    whatever the autocast dtype, so under bfloat16 autocast the BLSTM would
    run forward and backward in float16, with no gradient scaler to keep
    small gradients from underflowing. On a CPU, bfloat16 autocast hands the
    LSTM to oneDNN in bfloat16, which fails on CPUs without such kernels.
    Under bfloat16 autocast the LSTM therefore runs in float32 (the layers
    around it stay in bfloat16); under float16 autocast it is left to
    autocast (float16, with the trainer's gradient scaler).

    Example:
        >>> lstm_dtype(True, torch.bfloat16), lstm_dtype(True, torch.float16), lstm_dtype(False, torch.bfloat16)
        (torch.float32, None, None)
    """
    return torch.float32 if autocast_enabled and autocast_dtype == torch.bfloat16 else None


class BLSTMStack(nn.Module):
    """Padding-aware stack of BLSTM layers: (B, T, D) -> (B, T, 2H).

    Under bfloat16 autocast the LSTM runs in float32 (see :func:`lstm_dtype`).
    """

    def __init__(self, input_dim: int, hidden_units: int, num_layers: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(
            input_dim,
            hidden_units,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.output_dim = 2 * hidden_units

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        dev = x.device.type
        dtype = lstm_dtype(torch.is_autocast_enabled(dev), torch.get_autocast_dtype(dev))
        if dtype is None:
            return self._forward(x, lengths)
        with torch.autocast(device_type=dev, enabled=False):
            return self._forward(x.to(dtype), lengths)

    def _forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        lengths = lengths.clamp(1, t).cpu()
        if x.is_cuda:  # cuDNN runs a packed batch of mixed lengths in one fast kernel
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
            return self.dropout(out)
        # On CPU a packed batch of mixed lengths takes the slow per-step path (7x slower
        # than the fused kernel): run each group of equal length unpadded instead (exact;
        # padded frames stay zero, as pad_packed_sequence leaves them).
        if bool((lengths == t).all()):
            return self.dropout(self.lstm(x)[0])
        out = x.new_zeros(x.shape[0], t, self.output_dim)
        for n in torch.unique(lengths).tolist():
            idx = (lengths == n).nonzero().squeeze(1).to(x.device)
            out[idx, :n] = self.lstm(x[idx, :n])[0]
        return self.dropout(out)


@ENCODERS.register("blstm")
class BLSTMEncoder(Encoder):
    """BLSTM layers, then a linear layer to F x K, activation, unit-norm rows.

    The paper's model is ``num_layers=2, hidden_units=600, embed_dim=40``;
    DC++ uses ``num_layers=4, hidden_units=300, dropout=0.3``.

    Args:
        input_dim: F, number of frequency bins (set by the model).
        num_layers: BLSTM layers.
        hidden_units: cells per direction in each layer.
        embed_dim: K, embedding dimension.
        dropout: dropout after every BLSTM layer.
        activation: ``"tanh"`` (paper), ``"sigmoid"`` (the paper's logistic) or ``"linear"``.

    Example:
        >>> enc = BLSTMEncoder(input_dim=129, num_layers=1, hidden_units=8, embed_dim=4)
        >>> tuple(enc(torch.randn(2, 10, 129), torch.tensor([10, 7])).shape)
        (2, 10, 129, 4)
    """

    @typechecked
    def __init__(
        self,
        input_dim: int,
        num_layers: int = 2,
        hidden_units: int = 600,
        embed_dim: int = 40,
        dropout: float = 0.0,
        activation: str = "tanh",
    ):
        super().__init__()
        check_embedding_args(embed_dim, activation)
        check_rnn_args(num_layers, hidden_units, dropout)
        self.num_bins = input_dim
        self.embed_dim = embed_dim
        self.activation = activation
        self.blstm = BLSTMStack(input_dim, hidden_units, num_layers, dropout)
        self.linear = nn.Linear(self.blstm.output_dim, input_dim * embed_dim)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.blstm(feats, lengths)  # (B, T, 2H)
        return embedding_head(self.linear(h), self.num_bins, self.embed_dim, self.activation)
