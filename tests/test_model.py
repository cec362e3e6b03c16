"""DeepClustering: YAML -> model -> save -> load, losses and clustering end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from dcsep.errors import ConfigError
from dcsep.model import MODEL_KEYS, DeepClustering

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
MODEL_CONFS = sorted(CONF_DIR.glob("*.yaml"))


def two_sources(length: int = 1600, seed: int = 0) -> torch.Tensor:
    """(1, 2, L): two harmonic tones far apart in frequency."""
    t = torch.arange(length) / 8000
    g = torch.Generator().manual_seed(seed)
    s1 = sum(torch.sin(2 * torch.pi * 150 * h * t) / h for h in range(1, 6))
    s2 = sum(torch.sin(2 * torch.pi * 1100 * h * t) / h for h in range(1, 3))
    return (0.1 * torch.stack([s1, s2]) + 1e-3 * torch.randn(2, length, generator=g))[None]


@pytest.mark.parametrize("path", MODEL_CONFS, ids=lambda p: p.name)
def test_example_configs_build(path):
    conf = yaml.safe_load(path.read_text())
    assert set(conf) <= set(MODEL_KEYS), "model configs hold model keys only"
    model = DeepClustering.from_yaml(path)
    assert model.fs == 8000 and model.frontend.num_bins == 129
    assert model.embed_dim == conf["encoder_conf"]["embed_dim"]


def test_paper_config_is_the_paper_model():
    model = DeepClustering.from_yaml(CONF_DIR / "paper_blstm_2x600_k40.yaml")
    lstm = model.encoder.blstm.lstm
    assert (lstm.num_layers, lstm.hidden_size, lstm.bidirectional) == (2, 600, True)
    assert model.embed_dim == 40 and model.encoder.activation == "tanh"
    assert (model.frontend.n_fft, model.frontend.hop_length) == (256, 64)
    assert type(model.loss_fn).registry_name == "lowrank_affinity" and model.loss_fn.threshold_db == 40
    dcpp = DeepClustering.from_yaml(CONF_DIR / "dcpp_blstm_4x300_k40.yaml").encoder
    assert (dcpp.blstm.lstm.num_layers, dcpp.blstm.lstm.hidden_size, dcpp.blstm.dropout.p) == (4, 300, 0.3)


def test_yaml_save_load_identical_output(tmp_path, tiny_model_config):
    conf_path = tmp_path / "model.yaml"
    conf_path.write_text(yaml.safe_dump(tiny_model_config))
    torch.manual_seed(0)
    model = DeepClustering.from_yaml(conf_path)
    model.frontend.set_stats(torch.linspace(-3, 1, 129), torch.linspace(0.5, 2, 129))
    model.eval()
    wav = two_sources().sum(1)
    with torch.no_grad():
        V, spec, frames = model(wav)
    path = tmp_path / "exp" / "model.pt"
    model.save(path, extra={"epoch": 3})
    assert not list(path.parent.glob(".*tmp"))  # no temporary file left behind
    loaded = DeepClustering.load(path)
    assert not loaded.training
    assert loaded.config == model.config
    torch.testing.assert_close(loaded.frontend.mean, model.frontend.mean)  # stats travel with the model
    torch.testing.assert_close(loaded.frontend.std, model.frontend.std)
    with torch.no_grad():
        V2, spec2, frames2 = loaded(wav)
    assert torch.equal(V, V2) and torch.equal(spec, spec2) and torch.equal(frames, frames2)
    pkg = torch.load(path, weights_only=True)
    assert pkg["extra"] == {"epoch": 3} and set(pkg["config"]) == set(MODEL_KEYS)


def test_forward_loss_trains(tiny_model_config):
    torch.manual_seed(0)
    model = DeepClustering.from_config(tiny_model_config)
    sources = two_sources(length=2400)
    mix = sources.sum(1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = model.forward_loss({"mix": mix, "sources": sources})[0]
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize("case", ["silent", "one_speaker", "identical", "clipping"])
def test_degenerate_input_stays_finite(tiny_model_config, case):
    torch.manual_seed(0)
    model = DeepClustering.from_config(tiny_model_config)
    sources = two_sources()
    if case == "silent":
        sources.zero_()
    elif case == "one_speaker":
        sources[:, 1] = 0
    elif case == "identical":
        sources[:, 1] = sources[:, 0]
    elif case == "clipping":
        sources = (sources * 50).clamp(-1, 1)
    mix = sources.sum(1)
    loss = model.forward_loss({"mix": mix, "sources": sources, "lengths": torch.tensor([mix.shape[-1]])})[0]
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    with torch.no_grad():
        V, spec, frames = model(mix)
        active = model.active_bins(spec, frames)
        refs = model.frontend.stft(sources[0]).abs()[None]
        for name in ("kmeans", "spectral", "oracle_kmeans", "oracle_spectral"):
            masks = model.build_clusterer(name, {"n_init": 1})(V, 2, active, frames, refs)
            assert torch.isfinite(masks).all()
            assert torch.equal(masks.sum(1), torch.ones_like(masks[:, 0]))


def test_separation_pipeline_shapes(tiny_model_config):
    """wav -> embeddings -> masks -> inverse STFT, with padding."""
    model = DeepClustering.from_config(tiny_model_config).eval()
    wav = torch.cat([two_sources(1600).sum(1), torch.nn.functional.pad(two_sources(1000, 1).sum(1), (0, 600))])
    lengths = torch.tensor([1600, 1000])
    with torch.no_grad():
        V, spec, frames = model(wav, lengths)
        masks = model.clusterer(V, 3, model.active_bins(spec, frames), frames)
    assert masks.shape == (2, 3, *spec.shape[1:])
    assert masks[1, :, frames[1] :].abs().sum() == 0
    est = model.frontend.istft((masks * spec[:, None]).flatten(0, 1), wav.shape[-1]).reshape(2, 3, -1)
    assert est.shape == (2, 3, 1600) and torch.isfinite(est).all()
    # binary masks that cover every bin add up to the mixture
    torch.testing.assert_close(est[0].sum(0), wav[0], atol=1e-4, rtol=0)


def test_build_clusterer_errors(tiny_model_config):
    model = DeepClustering.from_config(tiny_model_config)
    assert type(model.build_clusterer("spectral", {"affinity": "linear"})).registry_name == "spectral"
    with pytest.raises(ConfigError, match="unknown clusterer 'agglo'; choose one of: kmeans, oracle_kmeans, oracle_spectral, soft_kmeans, spectral"):
        model.build_clusterer("agglo")


def test_from_config_errors():
    with pytest.raises(ConfigError, match="model config must be a mapping"):
        DeepClustering.from_config(["blstm"])
    with pytest.raises(ConfigError, match="<model config>: unknown key 'optim'"):
        DeepClustering.from_config({"optim": "adam"})


def test_forward_loss_is_the_loss_of_the_outputs(tiny_model_config):
    """forward_loss = the loss of forward()'s embeddings against the IBM targets, with its statistics."""
    from dcsep.losses.abs import ibm_targets

    torch.manual_seed(0)
    model = DeepClustering.from_config(tiny_model_config)
    src = torch.randn(2, 2, 3000)
    lens = torch.tensor([3000, 2000])
    loss, stats = model.forward_loss({"mix": src.sum(1), "sources": src, "lengths": lens})
    V, spec, fl = model(src.sum(1), lens)
    Y = ibm_targets(model.frontend.stft(src.reshape(4, -1)).abs().reshape(2, 2, *spec.shape[1:]))
    assert torch.allclose(loss, model.loss_fn(V, Y, spec.abs(), fl))
    assert loss.dtype == torch.float32 and loss.requires_grad and not stats["loss"].requires_grad
    assert stats["frames"] == int(fl.sum()) and stats["samples"] == 5000
    # without lengths: every sample counts
    _, stats = model.forward_loss({"mix": src.sum(1), "sources": src})
    assert stats["samples"] == 6000


def test_forward_loss_autocasts_the_encoder_only(tiny_model_config, monkeypatch):
    """amp_dtype: the encoder runs under autocast, the frontend and the loss outside it, in float32."""
    torch.manual_seed(0)
    model = DeepClustering.from_config(tiny_model_config)
    seen = {}
    for name in ("frontend", "encoder", "loss_fn"):
        def hook(module, args, _name=name):
            seen[_name] = torch.is_autocast_enabled("cpu")
        getattr(model, name).register_forward_pre_hook(hook)
    src = torch.randn(2, 2, 1600)
    loss, _ = model.forward_loss({"mix": src.sum(1), "sources": src}, amp_dtype=torch.bfloat16)
    assert seen == {"frontend": False, "encoder": True, "loss_fn": False}
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    model.forward_loss({"mix": src.sum(1), "sources": src})
    assert seen["encoder"] is False
