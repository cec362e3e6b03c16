"""Separator: known embeddings give the known separation, on every code path."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import dcsep.separate
from dcsep.encoders.abs import Encoder
from dcsep.errors import ConfigError, DataError
from dcsep.model import DeepClustering
from dcsep.separate import Separator, as_mono, chunk_plan, placed_model

FS = 8000
CUTOFF_HZ = 1200.0


class BandEncoder(Encoder):
    """Test-only encoder with known output: bins below CUTOFF_HZ -> e1, the others -> e2."""

    def __init__(self, num_bins: int, fs: int = FS):
        super().__init__()
        self.embed_dim = 2
        freqs = torch.arange(num_bins) * fs / 2 / (num_bins - 1)
        self.register_buffer("low", freqs < CUTOFF_HZ)

    def forward(self, feats, lengths):
        b, t, f = feats.shape
        v = torch.zeros(b, t, f, 2, device=feats.device)
        v[..., 0] = self.low.float()
        v[..., 1] = (~self.low).float()
        return v


def band_model(tiny_model_config) -> DeepClustering:
    model = DeepClustering.from_config(tiny_model_config)
    model.encoder = BandEncoder(model.frontend.num_bins)
    return model


def two_tones(seconds: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(int(seconds * FS)) / FS
    tones = np.stack([0.5 * np.sin(2 * np.pi * 300 * t), 0.3 * np.sin(2 * np.pi * 2500 * t)]).astype(np.float32)
    return tones.sum(0), tones


def assert_separates(est: np.ndarray, tones: np.ndarray, min_corr: float = 0.9) -> None:
    assert est.shape == tones.shape and est.dtype == np.float32
    corr = np.corrcoef(np.concatenate([est, tones]))[:2, 2:]  # (est, tone)
    best = max(corr[0, 0] + corr[1, 1], corr[0, 1] + corr[1, 0]) / 2
    assert best > min_corr, corr


@pytest.mark.parametrize(
    "kwargs, clusterer",
    [
        ({}, None),  # whole utterance at once
        ({"chunk_frames": 40, "overlap_frames": 10}, None),  # chunked encoder
        ({"max_fit_bins": 500}, None),  # clusterer fitted on a subsample, all bins assigned
        ({"chunk_frames": 40, "overlap_frames": 10, "max_fit_bins": 500, "max_embed_bytes": 1}, None),  # 2 passes
        ({}, "spectral"),
        ({"max_fit_bins": 500}, "spectral"),
        ({}, "soft_kmeans"),
        ({"max_fit_bins": 500}, "soft_kmeans"),
        ({"chunk_frames": 40, "overlap_frames": 10, "max_fit_bins": 500, "max_embed_bytes": 1}, "soft_kmeans"),
    ],
)
def test_two_tones_are_separated(tiny_model_config, kwargs, clusterer):
    sep = Separator(band_model(tiny_model_config), device="cpu", **kwargs)
    mix, tones = two_tones()
    est = sep.separate(mix, clusterer=clusterer)
    assert_separates(est, tones)
    assert all(sep.timings[k] > 0 for k in ("frontend", "encoder", "clustering", "resynthesis"))
    assert sep.timings["audio"] == pytest.approx(1.0)


def test_batch_matches_single(tiny_model_config):
    sep = Separator(band_model(tiny_model_config), device="cpu")
    mix, tones = two_tones()
    wavs = [mix, mix[:3000], torch.from_numpy(mix[:5001]), np.zeros(800, dtype=np.float32)]
    outs = sep.separate_batch(wavs, batch_size=3)
    assert [o.shape for o in outs] == [(2, 8000), (2, 3000), (2, 5001), (2, 800)]
    assert_separates(outs[0], tones)
    assert_separates(outs[2], tones[:, :5001])
    assert not outs[3].any()
    single = sep.separate(mix[:3000])
    diff = min(np.abs(outs[1] - single).max(), np.abs(outs[1][::-1] - single).max())
    assert diff < 1e-4


def test_oracle_kmeans_needs_and_uses_refs(tiny_model_config):
    sep = Separator(band_model(tiny_model_config), device="cpu")
    mix, tones = two_tones()
    with pytest.raises(DataError, match="needs the reference sources"):
        sep.separate(mix, clusterer="oracle_kmeans")
    est = sep.separate(mix, clusterer="oracle_kmeans", refs=tones)
    assert_separates(est, tones)
    # with refs, the order of the outputs follows the references
    assert np.corrcoef(est[0], tones[0])[0, 1] > 0.9


@pytest.mark.parametrize("n", [1, 3, 200, 257, 8000])
def test_any_length_and_silence(tiny_model_config, n):
    sep = Separator(DeepClustering.from_config(tiny_model_config), device="cpu")
    rng = np.random.default_rng(0)
    out = sep.separate(rng.standard_normal(n).astype(np.float32))
    assert out.shape == (2, n) and np.all(np.isfinite(out))
    silent = sep.separate(np.zeros(n, dtype=np.float32), num_spk=3)
    assert silent.shape == (3, n) and not silent.any()


def test_outputs_sum_to_the_mixture(tiny_model_config):
    """Binary masks partition the bins: the sources add up to the mixture (perfect reconstruction STFT)."""
    sep = Separator(DeepClustering.from_config(tiny_model_config), device="cpu")
    x = np.random.default_rng(1).standard_normal(4000).astype(np.float32)
    np.testing.assert_allclose(sep.separate(x).sum(0), x, atol=1e-4)


@pytest.mark.parametrize("kwargs", [{}, {"max_fit_bins": 500}, {"max_fit_bins": 500, "max_embed_bytes": 1, "chunk_frames": 40, "overlap_frames": 10}])
def test_soft_masks_on_every_path(tiny_model_config, kwargs):
    """soft_kmeans shares each bin by its distances to the centres, whole or subsampled; the sources add up to the mixture."""
    sep = Separator(band_model(tiny_model_config), device="cpu", **kwargs)
    mix, _ = two_tones()
    low = sep.model.encoder.low.numpy()  # bins at e1, the others at e2: centres e1 and e2, |e1 - e2|^2 = 2
    masks = sep.masks(mix, clusterer="soft_kmeans", clusterer_conf={"alpha": 1.0, "n_init": 1})
    own, other = 1 / (1 + np.exp(-2.0)), np.exp(-2.0) / (1 + np.exp(-2.0))
    first = masks[:, 0, low].mean(1).argmax()  # the source of the low band
    np.testing.assert_allclose(masks[first][:, low], own, rtol=1e-5)
    np.testing.assert_allclose(masks[first][:, ~low], other, rtol=1e-5)
    np.testing.assert_allclose(masks.sum(0), 1.0, rtol=1e-6)
    est = sep.separate(mix, clusterer="soft_kmeans", clusterer_conf={"alpha": 1.0, "n_init": 1})
    np.testing.assert_allclose(est.sum(0), mix, atol=1e-4)
    hard = sep.masks(mix, clusterer="soft_kmeans", clusterer_conf={"alpha": 50.0, "n_init": 1})
    np.testing.assert_allclose(hard, sep.masks(mix), atol=1e-12)  # exp(-100): the binary masks of kmeans


def test_masks_and_embeddings(tiny_model_config):
    sep = Separator(band_model(tiny_model_config), device="cpu", chunk_frames=30, overlap_frames=6)
    mix, _ = two_tones()
    V = sep.embed(mix)
    t = 8000 // 64 + 1
    assert V.shape == (t, 129, 2)
    np.testing.assert_array_equal(V[..., 0], np.broadcast_to(sep.model.encoder.low.numpy(), (t, 129)))
    masks = sep.masks(mix)
    assert masks.shape == (2, t, 129)
    np.testing.assert_array_equal(masks.sum(0), 1.0)


def test_input_checks(tiny_model_config):
    sep = Separator(DeepClustering.from_config(tiny_model_config), device="cpu")
    stereo = np.random.default_rng(0).standard_normal((2, 4000)).astype(np.float32)
    with pytest.raises(DataError, match="2 channels"):
        sep.separate(stereo, channel=None)
    assert sep.separate(stereo, channel=1).shape == (2, 4000)
    assert sep.separate(stereo.T, channel=0).shape == (2, 4000)  # (L, channels) as soundfile gives
    assert sep.separate(stereo[:1]).shape == (2, 4000)  # (1, L) is mono
    with pytest.raises(DataError, match="channel 2"):
        sep.separate(stereo, channel=2)
    with pytest.raises(DataError, match="NaN"):
        sep.separate(np.array([0.0, np.nan, 1.0]))
    with pytest.raises(DataError, match="empty"):
        sep.separate(np.zeros(0))
    with pytest.raises(DataError, match="sample rate"):
        sep.separate(stereo[0], fs=0)
    np.testing.assert_allclose(as_mono(np.array([16384, -32768], dtype=np.int16)), [0.5, -1.0])


def test_multichannel_is_downmixed_by_default(tiny_model_config, caplog):
    """A multi-channel input is separated as the mean of its channels, and the log says so."""
    sep = Separator(band_model(tiny_model_config), device="cpu")
    mix, tones = two_tones()
    stereo = np.stack([tones[0] * 2, tones[1] * 2])  # each channel holds one tone: the mean is the mixture
    with caplog.at_level("INFO", logger="dcsep"):
        est = sep.separate(stereo.T)
    assert "2 channels, downmixed to mono" in caplog.text
    np.testing.assert_allclose(est, sep.separate(mix), atol=1e-6)
    assert_separates(est, tones)


@pytest.mark.parametrize("rate", [16000, 22050, 44100])
def test_any_sample_rate(tiny_model_config, rate, caplog):
    """An input at another rate is resampled to the model's, and the sources come back at the input's rate and length."""
    sep = Separator(band_model(tiny_model_config), device="cpu")
    n = int(0.75 * rate) + 3
    t = np.arange(n) / rate
    tones = np.stack([0.5 * np.sin(2 * np.pi * 300 * t), 0.3 * np.sin(2 * np.pi * 2500 * t)]).astype(np.float32)
    with caplog.at_level("INFO", logger="dcsep"):
        est = sep.separate(tones.sum(0), fs=rate)
    assert f"resampled from {rate} Hz" in caplog.text
    assert_separates(est, tones, min_corr=0.95)
    # both tones lie below the model's Nyquist frequency: the sources add up to the mixture, at its rate
    core = slice(rate // 10, -rate // 10)
    assert np.abs(est.sum(0)[core] - tones.sum(0)[core]).max() < 0.02
    assert sep.timings["audio"] == pytest.approx(n / rate)
    assert sep.timings["resampling"] > 0
    batch = sep.separate_batch([tones.sum(0), tones.sum(0)[: rate // 2]], fs=rate)
    assert [b.shape for b in batch] == [(2, n), (2, rate // 2)]
    assert_separates(batch[0], tones, min_corr=0.95)


def test_oracle_refs_at_the_input_rate(tiny_model_config):
    sep = Separator(band_model(tiny_model_config), device="cpu")
    rate = 16000
    t = np.arange(rate) / rate
    tones = np.stack([0.5 * np.sin(2 * np.pi * 300 * t), 0.3 * np.sin(2 * np.pi * 2500 * t)]).astype(np.float32)
    est = sep.separate(tones.sum(0), fs=rate, clusterer="oracle_kmeans", refs=tones)
    assert np.corrcoef(est[0], tones[0])[0, 1] > 0.95  # the order follows the references
    (batch,) = sep.separate_batch([tones.sum(0)], fs=rate, clusterer="oracle_kmeans", refs=[tones])
    assert np.corrcoef(batch[0], tones[0])[0, 1] > 0.95


def test_integer_pcm(tiny_model_config):
    """uint8 is offset binary, int16 and int32 are scaled by their range; other integer types are refused."""
    np.testing.assert_allclose(as_mono(np.array([0, 128, 255], dtype=np.uint8)), [-1.0, 0.0, 127 / 128])
    np.testing.assert_allclose(as_mono(np.array([2**30, -(2**31)], dtype=np.int32)), [0.5, -1.0])
    np.testing.assert_allclose(as_mono(torch.tensor([16384], dtype=torch.int16)), [0.5])
    sep = Separator(DeepClustering.from_config(tiny_model_config), device="cpu")
    x = np.random.default_rng(0).standard_normal(4000)
    pcm8 = np.clip(np.round(x * 20 + 128), 0, 255).astype(np.uint8)
    np.testing.assert_allclose(sep.separate(pcm8).sum(0), (pcm8 - 128.0) / 128, atol=1e-4)  # no DC offset
    for dtype in (np.int8, np.int64, np.uint16, np.uint32):
        with pytest.raises(DataError, match=f"dtype {np.dtype(dtype)} have no PCM scale"):
            sep.separate((x * 10).astype(dtype))


def test_float64_overflowing_float32_is_an_error(tiny_model_config):
    sep = Separator(DeepClustering.from_config(tiny_model_config), device="cpu")
    x = np.full(4000, 1e300)  # finite in float64, inf in float32
    with pytest.raises(DataError, match="NaN or Inf"):
        sep.separate(x)


@pytest.mark.parametrize("num_spk", [0, -1, 2.5, True, "2", 3.0, "Auto"])
def test_num_spk_must_be_a_whole_number(tiny_model_config, num_spk):
    sep = Separator(DeepClustering.from_config(tiny_model_config), device="cpu")
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    for call in (sep.separate, sep.masks, lambda w, n: sep.separate_batch([w], n)):
        with pytest.raises(ConfigError, match="num_spk: a whole number of sources >= 1 or auto"):
            call(x, num_spk)
    with pytest.raises(ConfigError, match="num_spk: a whole number of sources >= 1 or auto"):
        Separator(sep.model, device="cpu", num_spk=num_spk)


@pytest.mark.parametrize("batch_size", [0, -2, 1.5])
def test_batch_size_must_be_positive(tiny_model_config, batch_size):
    sep = Separator(DeepClustering.from_config(tiny_model_config), device="cpu")
    with pytest.raises(ConfigError, match="batch_size: a whole number >= 1"):
        sep.separate_batch([np.ones(800, dtype=np.float32)], batch_size=batch_size)


@pytest.mark.parametrize(
    "device, match",
    [("tpu", "not a device name"), ("meta", "runs on cpu or cuda"), ("cuda:99", "cuda"), ("nonsense:0", "not a device")],
)
def test_unusable_device_is_one_line(tmp_path, tiny_model_config, device, match):
    DeepClustering.from_config(tiny_model_config).save(tmp_path / "model.pt")
    with pytest.raises(ConfigError, match=match) as e:
        Separator.from_pretrained(tmp_path, device=device)
    assert "\n" not in str(e.value) and device in str(e.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch that cannot use CUDA")
def test_cuda_on_a_cpu_only_torch(tmp_path, tiny_model_config):
    DeepClustering.from_config(tiny_model_config).save(tmp_path / "model.pt")
    with pytest.raises(ConfigError, match="'cuda'.*use device cpu") as e:
        Separator.from_pretrained(tmp_path, device="cuda")
    assert "\n" not in str(e.value)


def test_caller_model_is_left_as_it_was(tiny_model_config):
    """Separator uses the caller's model only as it is; a move or a mode change happens on a copy."""
    model = DeepClustering.from_config(tiny_model_config).train()
    sep = Separator(model, device="cpu")
    assert model.training and sep.model is not model and not sep.model.training
    model.eval()
    assert Separator(model, device="cpu").model is model  # already where and as it must be: shared
    moved = placed_model(model, torch.device("meta"))  # a device other than the model's
    assert moved is not model and all(p.device.type == "meta" for p in moved.parameters())
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_num_spk_from_model_file(tmp_path, tiny_model_config):
    model = DeepClustering.from_config(tiny_model_config)
    model.save(tmp_path / "a" / "model.pt", extra={"num_spk": 3})
    model.save(tmp_path / "b.pt")
    assert Separator.from_pretrained(tmp_path / "a", device="cpu").num_spk == 3  # a model dir
    assert Separator.from_pretrained(tmp_path / "b.pt", device="cpu").num_spk == 2  # default
    assert Separator.from_pretrained(tmp_path / "b.pt", device="cpu", num_spk=4).num_spk == 4
    with pytest.raises(ConfigError, match="not found"):
        Separator.from_pretrained(tmp_path / "missing")


@pytest.mark.parametrize("t, chunk, overlap", [(1, 10, 4), (10, 10, 4), (11, 10, 4), (25, 10, 4), (1000, 64, 9), (5, 3, 0)])
def test_chunk_plan_tiles(t, chunk, overlap):
    plan = chunk_plan(t, chunk, overlap)
    kept = [k for _, _, ks, ke in plan for k in range(ks, ke)]
    assert kept == list(range(t))
    for s, e, ks, ke in plan:
        assert 0 <= s <= ks < ke <= e <= t and e - s <= chunk
        # every kept frame has overlap // 2 frames of context where the input has them
        assert ks - s >= min(overlap // 2, ks) and e - ke >= min(overlap - overlap // 2, t - ke)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_matches_cpu(tiny_model_config):
    mix, tones = two_tones()
    model = band_model(tiny_model_config).eval()
    cpu = Separator(model, device="cpu")
    gpu = Separator(model, device="cuda")
    assert_separates(gpu.separate(mix), tones)
    # the CUDA separator worked on a copy: the CPU one (sharing the caller's model) still has CPU weights
    assert cpu.model is model and all(p.device.type == "cpu" for p in model.parameters())
    assert_separates(cpu.separate(mix), tones)


def test_docstring_examples():
    result = doctest.testmod(dcsep.separate, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.parametrize("kwargs", [{}, {"max_fit_bins": 500}], ids=["whole", "subsample"])
def test_num_spk_auto(tiny_model_config, kwargs, caplog):
    """num_spk="auto": the count comes from the embeddings; one speaker gives one source, the input itself.

    The test encoder's embeddings are exactly one-hot (one direction per band, the released model's spread
    much wider): counted with a threshold of 1.5 directions for two speakers."""
    count = {"thresholds": (1.5, 2.5)}
    sep = Separator(band_model(tiny_model_config), device="cpu", num_spk="auto", count_conf=count, **kwargs)
    mix, tones = two_tones()
    with caplog.at_level("INFO", logger="dcsep"):
        assert_separates(sep.separate(mix), tones)  # both bands active: two clusters of embeddings
    assert "2 speaker(s) found (num_spk='auto', at most 3)" in caplog.text
    low = tones[0]  # only the band below CUTOFF_HZ is active: every fitted embedding is e1
    np.testing.assert_array_equal(sep.separate(low), low[None])
    np.testing.assert_array_equal(sep.separate(low, num_spk=2).shape, (2, low.shape[0]))  # a call-time count wins
    assert sep.separate(np.zeros(800, dtype=np.float32)).shape == (1, 800)  # silence: one all-zero source
    assert Separator(sep.model, device="cpu", num_spk="auto", max_spk=1).separate(mix).shape == (1, mix.shape[0])
    with pytest.raises(ConfigError, match="count_conf: unknown option.s. alpha; valid: thresholds"):
        Separator(sep.model, device="cpu", count_conf={"alpha": 1})
    out, masks = sep.separate(mix, return_masks=True)
    assert out.shape[0] == masks.shape[0] == 2
    with pytest.raises(ConfigError, match="max_spk: a whole number of sources >= 1, got 'auto'"):
        Separator(sep.model, device="cpu", max_spk="auto")


def test_num_spk_auto_with_a_linear_counter(tiny_model_config, caplog):
    """count_conf "linear": the count from a linear counter on the log shares (here by hand: the second
    share of one-hot embeddings is near 0 for one active band, near 1/2 for two)."""
    linear = {"coef": [[0.0, -1.0], [0.0, 1.0]], "intercept": [-5.0, 5.0]}
    sep = Separator(band_model(tiny_model_config), device="cpu", num_spk="auto", count_conf={"linear": linear})
    mix, tones = two_tones()
    with caplog.at_level("INFO", logger="dcsep"):
        assert_separates(sep.separate(mix), tones)
    assert "2 speaker(s) found (num_spk='auto', at most 3)" in caplog.text
    np.testing.assert_array_equal(sep.separate(tones[0]), tones[0][None])
    with pytest.raises(ConfigError, match="count_conf: linear must be"):
        Separator(sep.model, device="cpu", count_conf={"linear": {"coef": [[1.0]], "intercept": [0.0]}})


def test_num_spk_auto_in_batches_and_with_refs(tiny_model_config):
    sep = Separator(band_model(tiny_model_config), device="cpu", count_conf={"thresholds": (1.5, 2.5)})
    mix, tones = two_tones()
    high = tones[1]
    outs = sep.separate_batch([mix, high, mix[:4000], np.zeros(500, dtype=np.float32)], num_spk="auto", batch_size=4)
    assert [o.shape for o in outs] == [(2, 8000), (1, 8000), (2, 4000), (1, 500)]
    assert_separates(outs[0], tones)
    np.testing.assert_array_equal(outs[1], high[None])
    assert_separates(outs[2], tones[:, :4000])
    # with the references, their number is the count
    refs3 = np.concatenate([tones, np.zeros((1, 8000), dtype=np.float32)])
    assert sep.separate(mix, num_spk="auto", clusterer="oracle_kmeans", refs=refs3).shape == (3, 8000)
    (b,) = sep.separate_batch([mix], num_spk="auto", clusterer="oracle_kmeans", refs=[tones])
    assert b.shape == (2, 8000)


def test_silence_threshold_comes_from_the_model_config(tiny_model_config):
    """Decoding needs no loss object: the threshold of the active bins is the model config's."""
    config = {**tiny_model_config, "loss_conf": {"threshold_db": 20.0}}
    model = band_model(config).eval()
    assert model.threshold_db == 20.0
    model.loss_fn = None  # a packed model needs no loss to separate
    t = np.arange(8000) / FS
    mix = (0.5 * np.sin(2 * np.pi * 300 * t) + 0.01 * np.sin(2 * np.pi * 2500 * t)).astype(np.float32)  # -34 dB
    spec = model.frontend.stft(torch.from_numpy(mix)[None])
    lengths = torch.tensor([spec.shape[1]])
    assert model.active_bins(spec, lengths).sum() < model.active_bins(spec, lengths, threshold_db=40.0).sum()
    masks = Separator(model, device="cpu").masks(mix)
    assert masks.shape[0] == 2 and np.all(np.isfinite(masks))


def bench_long():
    """bench/bench_long.py as a module: its recording builder is what the test separates."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "bench_long.py"
    spec = importlib.util.spec_from_file_location("bench_long", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"chunk_frames": 200, "overlap_frames": 40, "max_embed_bytes": 1}],  # defaults; 36 chunks and two passes
    ids=["defaults", "short-chunks-two-passes"],
)
def test_long_recording_keeps_its_speakers(kwargs):
    """57 s of consecutive mixtures of the same two speakers (20 mixtures, 7 encoder chunks of 8 s at the
    defaults): each output holds one speaker throughout, in every mixture, across the chunk boundaries.
    (Clustering each 8 s piece on its own instead puts 8 of the 20 mixtures in the other order.)"""
    bench = bench_long()
    root = bench.corpus_dir()
    if root is None:
        pytest.skip("speechocean762 not found (set DCSEP_SPEECHOCEAN762)")
    x, segments = bench.recording(root, *bench.SPEAKERS)  # a man and a woman, their 20 utterances paired
    assert 55 * FS < x.shape[0] < 60 * FS and len(segments) == 20
    sep = Separator.from_pretrained("speechocean762_dc_blstm", device="cpu", **kwargs)
    assert sep.fs == FS and x.shape[0] // sep.model.frontend.hop_length > 7 * sep.chunk_frames
    kept, swapped = bench.speaker_order(sep.separate(x), segments)  # (mixtures,) dB, the overall order first
    # the same order in every mixture, by a clear margin, and a real separation overall
    assert np.all(kept > swapped + 1.0), np.round(np.stack([kept, swapped]), 1)
    assert kept.mean() > 3.0


def test_num_spk_auto_on_speech():
    """On real speech (three mixtures of the long recording, the released model), the count is the
    estimator's on the utterance's embeddings and active bins, with the model's thresholds; capped at one, the input comes back
    unchanged. (The accuracy of the count is measured by ``bench/bench_count.py``.)"""
    from dcsep.clusterers.count import estimate_num_spk

    bench = bench_long()
    root = bench.corpus_dir()
    if root is None:
        pytest.skip("speechocean762 not found (set DCSEP_SPEECHOCEAN762)")
    x, segments = bench.recording(root, *bench.SPEAKERS, seconds=7.5)
    assert len(segments) == 3
    sep = Separator.from_pretrained("speechocean762_dc_blstm", device="cpu", num_spk="auto")
    fe = sep.model.frontend
    spec = fe.stft(torch.from_numpy(x)[None])
    active = sep.model.active_bins(spec, torch.tensor([spec.shape[1]]))[0]
    want = estimate_num_spk(torch.from_numpy(sep.embed(x)), active.float(), 3, **sep.count_conf)
    assert sep.separate(x).shape == (want, x.shape[0]) and want > 1
    sep.max_spk = 1
    np.testing.assert_array_equal(sep.separate(x), x[None])


def test_input_is_scaled_to_the_training_peak(tiny_model_config):
    """The model sees each input at its largest sample 0.9 (the training mixtures' peak); the sources come
    back at the input's own level, so a scaled input gives the same sources, scaled."""
    sep = Separator(band_model(tiny_model_config), device="cpu")
    assert sep.input_peak == 0.9
    mix, _ = two_tones()
    seen = []
    encoder = sep.model.encoder
    real_forward = encoder.forward

    def spy(feats, lengths=None):
        seen.append(feats.clone())
        return real_forward(feats, lengths)

    encoder.forward = spy
    out = sep.separate(mix)
    out_quiet = sep.separate(mix * 0.01)
    torch.testing.assert_close(seen[0], seen[1], atol=2e-3, rtol=0)  # the same features at either level
    np.testing.assert_allclose(out_quiet, out * 0.01, atol=1e-6)
    np.testing.assert_allclose(out.sum(0), mix, atol=1e-3)  # the sources add up to the input, at its level
    (b,) = sep.separate_batch([mix * 0.01])
    np.testing.assert_allclose(b, out_quiet, atol=1e-6)
    Separator(sep.model, device="cpu", input_peak=None).separate(mix * 0.01)  # as given: the features move by log(0.01)
    assert float((seen[-1] - seen[0]).mean()) < -1.0
    encoder.forward = real_forward
    with pytest.raises(ConfigError, match="input_peak must be positive"):
        Separator(sep.model, device="cpu", input_peak=0.0)
