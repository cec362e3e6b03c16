"""STFT frontend: perfect reconstruction, frame counts, normalisation statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcsep.config import build_plugin
from dcsep.errors import ConfigError
from dcsep.frontends.stft import STFTFrontend
from dcsep.registry import FRONTENDS


@pytest.mark.parametrize("window", ["sqrt_hann", "hann"])
@pytest.mark.parametrize("n_fft, hop", [(256, 64), (512, 128), (64, 32)])
@pytest.mark.parametrize("length", [8000, 3001])
def test_istft_reconstructs(window, n_fft, hop, length):
    fe = STFTFrontend(n_fft=n_fft, hop_length=hop, window=window)
    x = torch.randn(2, length, generator=torch.Generator().manual_seed(0))
    spec = fe.stft(x)
    assert spec.shape == (2, fe.num_frames(length), n_fft // 2 + 1)
    assert spec.is_complex()
    y = fe.istft(spec, length)
    assert y.shape == x.shape
    torch.testing.assert_close(y, x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("center", [True, False])
def test_num_frames_matches_stft(center):
    fe = STFTFrontend(center=center)
    for n in (256, 257, 320, 1000, 8000):
        assert fe.stft(torch.zeros(1, n)).shape[1] == fe.num_frames(n)
    lengths = torch.tensor([8000, 4000, 300])
    assert fe.num_frames(lengths).tolist() == [fe.num_frames(8000), fe.num_frames(4000), fe.num_frames(300)]


def test_paper_defaults():
    fe = STFTFrontend()
    assert (fe.fs, fe.n_fft, fe.hop_length, fe.num_bins) == (8000, 256, 64, 129)
    win = torch.hann_window(256, periodic=True, dtype=torch.float64).sqrt().float()
    torch.testing.assert_close(fe.window, win)


def test_compute_stats_matches_numpy():
    fe = STFTFrontend()
    rng = np.random.default_rng(0)
    wavs = [rng.standard_normal(n).astype(np.float32) * s for n, s in [(4000, 0.1), (2500, 1.0), (6000, 0.01)]]
    mean, std = fe.compute_stats(iter(wavs))
    logmag = np.concatenate([fe.log_magnitude(fe.stft(torch.from_numpy(w)[None]))[0].numpy() for w in wavs])
    np.testing.assert_allclose(mean.numpy(), logmag.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std.numpy(), logmag.std(0), rtol=1e-4, atol=1e-5)
    fe.set_stats(mean, std)
    feats = torch.cat([fe.features(fe.stft(torch.from_numpy(w)[None]))[0] for w in wavs])
    torch.testing.assert_close(feats.mean(0), torch.zeros(129), atol=1e-4, rtol=0)
    torch.testing.assert_close(feats.std(0, unbiased=False), torch.ones(129), atol=1e-3, rtol=0)


def test_stats_errors_and_floor():
    fe = STFTFrontend()
    with pytest.raises(ValueError, match="no frames"):
        fe.compute_stats([])
    with pytest.raises(ValueError, match=r"stats must have shape \(129,\)"):
        fe.set_stats(torch.zeros(128), torch.ones(128))
    fe.set_stats(torch.zeros(129), torch.zeros(129))  # a constant bin: std floored, features finite
    assert (fe.std > 0).all()
    assert torch.isfinite(fe(torch.zeros(1, 800))[0]).all()


def test_stats_are_saved_in_state_dict():
    fe = STFTFrontend()
    fe.set_stats(torch.arange(129.0), torch.full((129,), 2.0))
    state = fe.state_dict()
    assert set(state) == {"mean", "std"}  # the window is rebuilt from the config
    fe2 = STFTFrontend()
    fe2.load_state_dict(state)
    torch.testing.assert_close(fe2.mean, torch.arange(129.0))


@pytest.mark.parametrize("name", FRONTENDS.names())
def test_forward_backward(name):
    fe = FRONTENDS.get(name)()
    wav = torch.randn(2, 1600, requires_grad=True)
    lengths = torch.tensor([1600, 900])
    feats, spec, frames = fe(wav, lengths)
    assert feats.shape == spec.shape == (2, fe.num_frames(1600), fe.num_bins)
    assert frames.tolist() == [fe.num_frames(1600), fe.num_frames(900)]
    feats.sum().backward()
    assert torch.isfinite(wav.grad).all() and wav.grad.abs().sum() > 0
    silent = fe(torch.zeros(1, 800))[0]
    assert torch.isfinite(silent).all()
    loud = fe(torch.ones(1, 800).sign() * 1e4)[0]  # far beyond full scale
    assert torch.isfinite(loud).all()


@pytest.mark.parametrize(
    "conf, pattern",
    [
        ({"window": "hamming"}, "window must be"),
        ({"n_fft": 64, "hop_length": 128}, "hop_length"),
        ({"hop_length": 0}, "hop_length"),
        ({"fs": 8000.0}, "fs"),
        ({"fs": 0}, "fs must be positive"),
        ({"log_floor": 0.0}, "log_floor must be positive"),
        ({"n_mels": 40}, "unknown key 'n_mels'"),
    ],
)
def test_bad_config(conf, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_plugin(FRONTENDS, "stft", conf, "m.yaml", "frontend")
