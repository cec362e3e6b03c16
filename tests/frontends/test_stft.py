"""STFT frontend: perfect reconstruction, frame counts, normalisation statistics, per-utterance norms."""

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
def test_contract_attributes(name):
    """What the trainer and the Separator read from any frontend."""
    fe = FRONTENDS.get(name)()
    assert isinstance(fe.n_fft, int) and fe.n_fft > 0
    assert isinstance(fe.hop_length, int) and 0 < fe.hop_length <= fe.n_fft
    assert isinstance(fe.needs_stats, bool)
    stats = fe.get_stats()
    assert isinstance(stats, tuple)
    if fe.needs_stats:
        assert len(stats) > 0 and all(s.shape == (fe.num_bins,) for s in stats)


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
        ({"norm": "cmvn"}, "norm must be one of"),
    ],
)
def test_bad_config(conf, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_plugin(FRONTENDS, "stft", conf, "m.yaml", "frontend")


def _speechlike(n: int, seed: int = 0) -> torch.Tensor:
    """(1, n) noise with a spectral shape and a slow envelope, well above the log floor."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, n, generator=g)
    x = torch.nn.functional.conv1d(x[None], torch.tensor([[[0.5, 1.0, 0.3]]]), padding=1)[0]
    env = 0.2 + torch.sin(torch.arange(n) / 700.0).abs()
    return 0.1 * x * env


def test_norm_names_and_needs_stats():
    from dcsep.frontends.stft import NORMS

    assert NORMS == ("global", "utterance_mean", "utterance_meanvar")
    assert [STFTFrontend(norm=n).needs_stats for n in NORMS] == [True, True, False]


def test_get_stats_returns_the_buffers():
    fe = STFTFrontend()
    mean, std = fe.get_stats()
    mean.fill_(2.0)  # as a broadcast does: in place
    std.fill_(4.0)
    torch.testing.assert_close(fe.mean, torch.full((129,), 2.0))
    x = _speechlike(4000)
    spec = fe.stft(x)
    torch.testing.assert_close(fe.features(spec), (fe.log_magnitude(spec) - 2.0) / 4.0)


def test_global_norm_ignores_lengths():
    """The paper's features do not change with the new arguments (the released model's)."""
    fe = STFTFrontend()
    fe.set_stats(torch.linspace(-3, 1, 129), torch.linspace(0.5, 2, 129))
    spec = fe.stft(torch.cat([_speechlike(4000), _speechlike(4000, 1)]))
    ref = (fe.log_magnitude(spec) - fe.mean) / fe.std
    assert torch.equal(fe.features(spec), ref)
    assert torch.equal(fe.features(spec, torch.tensor([20, 63])), ref)


def test_utterance_mean_matches_definition():
    fe = STFTFrontend(norm="utterance_mean")
    fe.set_stats(torch.linspace(-3, 1, 129), torch.linspace(0.5, 2, 129))
    spec = fe.stft(_speechlike(6000))
    x = fe.log_magnitude(spec)
    torch.testing.assert_close(fe.features(spec), (x - x.mean(1, keepdim=True)) / fe.std)
    # the global mean is not used
    assert torch.equal(fe.features(spec), STFTFrontend(norm="utterance_mean").features(spec) / fe.std)


def test_utterance_meanvar_is_standardised():
    fe = STFTFrontend(norm="utterance_meanvar")
    fe.set_stats(torch.full((129,), 5.0), torch.full((129,), 9.0))  # not used
    feats = fe(_speechlike(8000))[0][0]  # (T, F)
    torch.testing.assert_close(feats.mean(0), torch.zeros(129), atol=1e-4, rtol=0)
    torch.testing.assert_close(feats.std(0, unbiased=False), torch.ones(129), atol=1e-3, rtol=0)


@pytest.mark.parametrize("norm", ["utterance_mean", "utterance_meanvar"])
@pytest.mark.parametrize("gain_db", [-30.0, -10.0, 6.0])
def test_utterance_norms_are_level_invariant(norm, gain_db):
    fe = STFTFrontend(norm=norm)
    x = _speechlike(8000)
    ref = fe(x)[0]
    scaled = fe(x * 10 ** (gain_db / 20))[0]
    err = (scaled - ref).abs().flatten()
    # exact but for the few bins near the log floor (1e-6), whose log the gain moves less
    assert float(err.quantile(0.99)) < 2e-3 and float(err.max()) < 0.2
    # the global norm is not: the features shift by the log gain
    shift = (STFTFrontend()(x * 10 ** (gain_db / 20))[0] - STFTFrontend()(x)[0]).mean()
    assert abs(float(shift) - gain_db / 20 * np.log(10)) < 0.05


@pytest.mark.parametrize("norm", ["utterance_mean", "utterance_meanvar"])
def test_utterance_norms_removes_a_fixed_channel(norm):
    """A fixed filter (a microphone's response) adds a constant per bin to the log magnitude."""
    fe = STFTFrontend(norm=norm)
    x = _speechlike(16000)
    h = torch.tensor([1.0, -0.6, 0.2])  # a short FIR: tilt
    y = torch.nn.functional.conv1d(x[None], h.flip(0)[None, None], padding=2)[0, :, : x.shape[1]]
    fx, fy = fe(x)[0], fe(y)[0]
    glob = STFTFrontend()
    gap_global = (glob(x)[0] - glob(y)[0]).mean(1).abs().mean()
    gap = (fx - fy).mean(1).abs().mean()  # per-bin offset, averaged over bins
    assert gap < 0.05 * gap_global


@pytest.mark.parametrize("norm", ["utterance_mean", "utterance_meanvar"])
def test_utterance_norms_ignore_padding(norm):
    """A zero-padded batch of spectra with lengths (as the Separator batches) gives each its own features."""
    fe = STFTFrontend(norm=norm)
    a, b = _speechlike(8000), _speechlike(3000, 1)
    specs = [fe.stft(a)[0], fe.stft(b)[0]]
    lengths = torch.tensor([s.shape[0] for s in specs])
    batch = torch.nn.utils.rnn.pad_sequence(specs, batch_first=True)  # (2, T, F)
    feats = fe.features(batch, lengths)
    for i, s in enumerate(specs):
        torch.testing.assert_close(feats[i, : s.shape[0]], fe.features(s[None])[0], atol=1e-5, rtol=0)
    # without lengths the padding frames enter the statistics of the short one
    assert not torch.allclose(fe.features(batch)[1, : specs[1].shape[0]], fe.features(specs[1][None])[0], atol=1e-2)
    # a batch of zero-padded waveforms (training): only the frames at the end of the short one differ
    wav_feats, _, frames = fe(torch.cat([a, torch.nn.functional.pad(b, (0, 5000))]), torch.tensor([8000, 3000]))
    assert frames.tolist() == lengths.tolist()
    gap = (wav_feats[1, : lengths[1]] - fe.features(specs[1][None])[0]).abs().mean()
    gap_unmasked = (fe.features(fe.stft(torch.cat([a, torch.nn.functional.pad(b, (0, 5000))])))[1, : lengths[1]]
                    - fe.features(specs[1][None])[0]).abs().mean()
    assert gap < 0.1 * gap_unmasked


@pytest.mark.parametrize("norm", ["global", "utterance_mean", "utterance_meanvar"])
def test_precomputed_utterance_stats_for_pieces(norm):
    """Features of a piece with the whole utterance's statistics are that piece of the whole features."""
    fe = STFTFrontend(norm=norm)
    spec = fe.stft(_speechlike(16000))
    whole = fe.features(spec)
    stats = fe.utterance_stats(spec)
    assert stats[0].shape == stats[1].shape == (1, 1, 129)
    for s, e in [(0, 100), (90, 180), (150, spec.shape[1])]:
        torch.testing.assert_close(fe.features(spec[:, s:e], utt_stats=stats), whole[:, s:e])


def test_utterance_stats_with_lengths_matches_numpy():
    fe = STFTFrontend()
    spec = fe.stft(torch.cat([_speechlike(8000), _speechlike(8000, 3)]))
    lengths = torch.tensor([126, 40])
    mu, sd = fe.utterance_stats(spec, lengths)
    x = fe.log_magnitude(spec).double().numpy()
    for b, n in enumerate(lengths.tolist()):
        np.testing.assert_allclose(mu[b, 0].numpy(), x[b, :n].mean(0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(sd[b, 0].numpy(), x[b, :n].std(0), rtol=1e-4, atol=1e-5)


def test_compute_stats_for_utterance_norms_are_of_the_centred_log_magnitude():
    fe = STFTFrontend(norm="utterance_mean")
    wavs = [_speechlike(4000)[0] * 0.01, _speechlike(6000, 1)[0] * 3.0]  # very different levels
    mean, std = fe.compute_stats(wavs)
    torch.testing.assert_close(mean, torch.zeros(129), atol=1e-5, rtol=0)
    glob_std = STFTFrontend().compute_stats(wavs)[1]
    assert (std < glob_std).all()  # the level difference between the two is not in the spread


@pytest.mark.parametrize("norm, active_db, input_peak, invariant", [
    ("utterance_mean", None, None, True), ("utterance_mean", 40.0, None, True), ("utterance_meanvar", None, None, True),
    ("global", None, None, False), ("global", None, 0.9, True),
])
def test_separation_does_not_depend_on_the_input_level(norm, active_db, input_peak, invariant):
    """With a per-utterance norm the masks, hence the SI-SDR of the separated sources, do not change
    with the input level (-30, -10, +6 dB), through the whole Separator path, long-input chunking included;
    with the global norm they do, unless the Separator scales each input to the training level (input_peak,
    its default)."""
    from dcsep.metrics import si_sdr
    from dcsep.model import DeepClustering
    from dcsep.separate import Separator

    torch.manual_seed(0)
    model = DeepClustering.from_config({
        "frontend_conf": {"norm": norm, **({} if active_db is None else {"active_db": active_db})},
        "encoder": "blstm",
        "encoder_conf": {"num_layers": 1, "hidden_units": 16, "embed_dim": 8},
        "clusterer": "soft_kmeans",
    })
    model.frontend.set_stats(torch.full((129,), -2.0), torch.full((129,), 1.5))
    a, b = _speechlike(12000, 0)[0], _speechlike(12000, 1)[0]
    mix = (a + torch.roll(b, 3000)).numpy()
    refs = np.stack([a.numpy(), torch.roll(b, 3000).numpy()])
    for chunk_frames in (1000, 60):  # whole utterance; chunks of 60 frames (188 frames in all)
        sep = Separator(model, device="cpu", chunk_frames=chunk_frames, overlap_frames=10, input_peak=input_peak)
        base = si_sdr(refs, sep.separate(mix))
        changes = []
        for gain_db in (-30.0, -10.0, 6.0):
            est = sep.separate((mix * 10 ** (gain_db / 20)).astype(np.float32))
            changes.append(np.abs(si_sdr(refs, est) - base).max())
        if invariant:
            assert max(changes) < 0.2, changes
        else:
            assert max(changes) > 0.2, changes


@pytest.mark.parametrize("norm", ["utterance_mean", "utterance_meanvar"])
def test_active_frames_ignore_pauses(norm):
    """With active_db, an utterance with a long pause (here digital silence) keeps the statistics of its speech."""
    x = _speechlike(8000)
    paused = torch.cat([torch.zeros(1, 8000), x, torch.zeros(1, 16000)], 1)
    fe, fe_all = STFTFrontend(norm=norm, active_db=40.0), STFTFrontend(norm=norm)
    spec, spec_p = fe.stft(x), fe.stft(paused)
    frames = fe.stats_frames(spec_p)[0, :, 0]
    assert 0.2 < float(frames.float().mean()) < 0.35  # about the speech's quarter of the frames
    mu, _ = fe.utterance_stats(spec)
    mu_p, _ = fe.utterance_stats(spec_p)
    mu_all, _ = fe_all.utterance_stats(spec_p)
    gap, gap_all = (mu_p - mu).abs().mean(), (mu_all - mu).abs().mean()
    assert gap < 0.3 and gap_all > 10 * gap
    # the speech frames get nearly the features they have without the pause
    mid = slice(130, 230)  # well inside the speech (frames 125..250 of the paused input)
    f_p = fe.features(spec_p)[0, mid]
    f = fe.features(spec)[0, mid.start - 125 : mid.stop - 125]
    assert (f_p - f).abs().mean() < 0.3 < (fe_all.features(spec_p)[0, mid] - f).abs().mean()


def test_active_frames_are_level_invariant_and_padding_free():
    fe = STFTFrontend(norm="utterance_mean", active_db=40.0)
    x = torch.cat([torch.zeros(1, 4000), _speechlike(8000)], 1)
    ref = fe(x)[0]
    speech = fe.stats_frames(fe.stft(x))[0, :, 0]  # digital silence stays at the log floor at any gain
    for gain_db in (-30.0, -10.0, 6.0):
        scaled = x * 10 ** (gain_db / 20)
        assert torch.equal(fe.stats_frames(fe.stft(scaled))[0, :, 0], speech)
        err = (fe(scaled)[0] - ref)[0, speech].abs().flatten()
        assert float(err.quantile(0.99)) < 2e-3
    # padded batch with lengths: each its own frames, the padding never counted as a frame
    b = _speechlike(3000, 1)
    batch, lengths = torch.cat([x, torch.nn.functional.pad(b, (0, 9000))]), torch.tensor([12000, 3000])
    frames = fe.stats_frames(fe.stft(batch), fe.num_frames(lengths))[1, :, 0]
    assert not frames[fe.num_frames(3000):].any()
    torch.testing.assert_close(fe(batch, lengths)[0][1, :40], fe(b)[0][0, :40], atol=0.05, rtol=0)


def test_active_db_needs_an_utterance_norm():
    with pytest.raises(ValueError, match="active_db"):
        STFTFrontend(active_db=40.0)
    with pytest.raises(ValueError, match="active_db"):
        STFTFrontend(norm="utterance_mean", active_db=0.0)


def test_compute_stats_over_active_frames():
    """The training statistics of an active-frame norm leave the pauses out, as the features do."""
    x = _speechlike(8000)
    paused = torch.cat([torch.zeros(1, 8000), x], 1)[0]
    fe = STFTFrontend(norm="utterance_mean", active_db=40.0)
    _, std_p = fe.compute_stats([paused.numpy()])
    _, std = fe.compute_stats([x[0].numpy()])
    _, std_all = STFTFrontend(norm="utterance_mean").compute_stats([paused.numpy()])
    assert (std_p - std).abs().mean() < 0.2 * (std_all - std).abs().mean()
