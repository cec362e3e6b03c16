"""A small 2-D convolutional front-end followed by the BLSTM encoder."""

from __future__ import annotations

import torch
from torch import nn
from typeguard import typechecked

from dcsep.encoders.abs import Encoder, embedding_head
from dcsep.encoders.blstm import BLSTMStack, check_embedding_args, check_rnn_args
from dcsep.registry import ENCODERS


@ENCODERS.register("conv_blstm")
class ConvBLSTMEncoder(Encoder):
    """2-D convolutions over (time, frequency), then BLSTM layers and the embedding head.

    The convolutions keep the time and frequency resolution ('same' padding).
    Padding frames are zeroed before every convolution, so in eval mode a
    padded sequence gives the same embeddings on its valid frames as the
    sequence alone (in training, batch normalisation statistics include
    the padding).

    Args:
        input_dim: F, number of frequency bins (set by the model).
        conv_channels: output channels of each conv layer (its length is the number of layers).
        kernel_size: odd kernel size, the same along time and frequency.
        num_layers, hidden_units, embed_dim, dropout, activation: as for ``blstm``.

    Example:
        >>> enc = ConvBLSTMEncoder(input_dim=129, conv_channels=[4], num_layers=1, hidden_units=8, embed_dim=4)
        >>> tuple(enc(torch.randn(2, 10, 129), torch.tensor([10, 7])).shape)
        (2, 10, 129, 4)
    """

    @typechecked
    def __init__(
        self,
        input_dim: int,
        conv_channels: list[int] = [16, 16],
        kernel_size: int = 3,
        num_layers: int = 2,
        hidden_units: int = 600,
        embed_dim: int = 40,
        dropout: float = 0.0,
        activation: str = "tanh",
    ):
        super().__init__()
        check_embedding_args(embed_dim, activation)
        check_rnn_args(num_layers, hidden_units, dropout)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        if not conv_channels or min(conv_channels) < 1:
            raise ValueError(f"conv_channels must be a non-empty list of positive ints, got {conv_channels}")
        self.num_bins = input_dim
        self.embed_dim = embed_dim
        self.activation = activation
        layers: list[nn.Module] = []
        in_ch = 1
        for ch in conv_channels:
            layers += [nn.Conv2d(in_ch, ch, kernel_size, padding=kernel_size // 2), nn.BatchNorm2d(ch), nn.ReLU()]
            in_ch = ch
        self.conv = nn.Sequential(*layers)
        self.blstm = BLSTMStack(in_ch * input_dim, hidden_units, num_layers, dropout)
        self.linear = nn.Linear(self.blstm.output_dim, input_dim * embed_dim)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        b, t, f = feats.shape
        valid = (torch.arange(t, device=feats.device)[None, :] < lengths[:, None].to(feats.device)).to(feats.dtype)
        valid = valid[:, None, :, None]  # (B, 1, T, 1)
        x = feats.unsqueeze(1) * valid  # (B, 1, T, F), padding zeroed
        for layer in self.conv:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                x = x * valid  # re-zero the padding, so the next layer sees what an unpadded input would
        x = x.permute(0, 2, 1, 3).reshape(b, t, -1)  # (B, T, C*F)
        h = self.blstm(x, lengths)
        return embedding_head(self.linear(h), self.num_bins, self.embed_dim, self.activation)
