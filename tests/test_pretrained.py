"""Pretrained models: dcsep-pack (size, dtype, card, refusals) and loading them by path or name."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import TINY_MODEL, harmonic_voice
from dcsep.bin import decode as decode_cli
from dcsep.bin import pack as pack_cli
from dcsep.errors import ConfigError
from dcsep.model import DeepClustering
from dcsep.pretrained import available_models, find_model, pack
from dcsep.separate import Separator

RESULTS = """# speechocean762: dc_tiny

Deep clustering on a toy set. Command: `./run.sh --size tiny --corpus_dir /data/so762`. Machine: a CPU.

## 2 speakers, open speaker set (tt): 4 mixtures

| method | SI-SDRi | SDRi |
| --- | ---: | ---: |
| DC, global k-means | 5.00 | 6.00 |
"""


@pytest.fixture(scope="module")
def exp_dir(tmp_path_factory):
    """An exp dir with a small model (non-trivial feature statistics) and a RESULTS.md."""
    torch.manual_seed(0)
    conf = {**TINY_MODEL, "encoder_conf": {"num_layers": 1, "hidden_units": 32, "embed_dim": 10}}
    model = DeepClustering.from_config(conf)
    nb = model.frontend.num_bins
    model.frontend.set_stats(torch.linspace(-3.0, 1.0, nb) + 1e-4, torch.linspace(0.5, 2.0, nb) + 1e-4)
    exp = tmp_path_factory.mktemp("exp") / "dc_tiny"
    model.save(exp / "model.pt", extra={"num_spk": 2, "train": {"epochs": 2, "best_valid_loss": 0.123456, "train_dir": "data/tr"}})
    (exp / "RESULTS.md").write_text(RESULTS)
    return exp


@pytest.fixture(scope="module")
def mixture():
    rng = np.random.default_rng(3)
    return harmonic_voice(rng, 110.0, 1.5) + 0.8 * harmonic_voice(rng, 230.0, 1.5)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_pack_size_card_and_load(exp_dir, tmp_path, dtype):
    dest = pack(exp_dir, out_dir=tmp_path / "pretrained", name="toy", dtype=dtype, data="generated voices")
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "model.pt"]
    size = (dest / "model.pt").stat().st_size
    assert size < 16 * 10**6
    pkg = torch.load(dest / "model.pt", weights_only=True)
    state = pkg["state_dict"]
    want = torch.float16 if dtype == "float16" else torch.float32
    assert all(state[k].dtype == want for k in state if k.startswith("encoder."))
    # statistics untouched, float32
    orig = torch.load(exp_dir / "model.pt", weights_only=True)["state_dict"]
    for k in ("frontend.mean", "frontend.std"):
        assert state[k].dtype == torch.float32 and torch.equal(state[k], orig[k])
    assert pkg["extra"]["num_spk"] == 2 and pkg["extra"]["packed"]["dtype"] == dtype

    model = DeepClustering.load(dest / "model.pt")  # back to float32
    assert all(p.dtype == torch.float32 for p in model.parameters())
    card = (dest / "README.md").read_text()
    n_params = sum(p.numel() for p in model.parameters())
    for text in ("# Pretrained deep-clustering model: toy", f"{n_params:,}", f"{size} bytes", dtype,
                 "Data: generated voices", "./run.sh --size tiny --corpus_dir /data/so762",
                 "### 2 speakers, open speaker set (tt): 4 mixtures", "| DC, global k-means | 5.00 | 6.00 |",
                 "dcsep-decode --model pretrained/toy", "Separator.from_pretrained(\"toy\")",
                 "| best validation loss | 0.1235 |", "Packed from"):
        assert text in card, text
    if dtype == "float16":
        assert size < 0.6 * (exp_dir / "model.pt").stat().st_size


def test_card_python_lines_run_on_another_rate(exp_dir, tmp_path, mixture, monkeypatch):
    """The card's Python lines work as written on a 16 kHz stereo file: sources at the file's rate and length."""
    dest = pack(exp_dir, out_dir=tmp_path / "pretrained", name="toy")
    card = (dest / "README.md").read_text()
    assert "refused" not in card and "any sample rate" in card and "soxr" in card
    code = card.split("```python\n", 1)[1].split("```", 1)[0]
    from scipy.signal import resample_poly

    wav16 = resample_poly(mixture, 2, 1)
    sf.write(tmp_path / "mix16k.wav", np.stack([wav16, 0.5 * wav16], 1), 16000)
    code = code.replace("/path/to/mixture.wav", str(tmp_path / "mix16k.wav")).replace('"toy"', repr(str(dest)))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "model card", "exec"), {})
    for c in (1, 2):
        est, fs = sf.read(tmp_path / f"spk{c}.wav")
        assert fs == 16000 and len(est) == len(wav16)


def test_float16_separates_like_float32(exp_dir, tmp_path, mixture):
    dest = pack(exp_dir, out_dir=tmp_path, name="half", dtype="float16")
    full = Separator.from_pretrained(exp_dir, device="cpu")
    half = Separator.from_pretrained(dest, device="cpu")
    e32, e16 = full.embed(mixture), half.embed(mixture)
    assert np.abs(e32 - e16).max() < 1e-2
    m32 = full.separate(mixture, return_masks=True)[1]
    m16 = half.separate(mixture, return_masks=True)[1]
    agree = max((m32 == m16).mean(), (m32 == m16[::-1]).mean())  # the same partition, in either order
    assert agree > 0.99
    s32, s16 = full.separate(mixture), half.separate(mixture)
    if (m32 == m16[::-1]).mean() > (m32 == m16).mean():
        s16 = s16[::-1]
    err = np.sum((s32 - s16) ** 2) / np.sum(s32**2)
    assert err < 1e-2  # within 20 dB


def test_pack_refusals(exp_dir, tmp_path, capsys):
    out = tmp_path / "pretrained"
    with pytest.raises(ConfigError, match=r"over the limit of .*try --dtype float16.*nothing written"):
        pack(exp_dir, out_dir=out, max_bytes=20_000)
    assert not out.exists() or not any(out.iterdir())
    pack(exp_dir, out_dir=out, name="m")
    with pytest.raises(ConfigError, match="exists already"):
        pack(exp_dir, out_dir=out, name="m")
    pack(exp_dir, out_dir=out, name="m", dtype="float16", force=True)
    assert torch.load(out / "m" / "model.pt", weights_only=True)["extra"]["packed"]["dtype"] == "float16"
    assert sorted(p.name for p in out.iterdir()) == ["m"]  # no temporary dirs left
    with pytest.raises(ConfigError, match="no model.pt"):
        pack(tmp_path, out_dir=out)
    with pytest.raises(ConfigError, match="no such exp dir or model file"):
        pack(tmp_path / "missing", out_dir=out)
    with pytest.raises(ConfigError, match="letters, digits"):
        pack(exp_dir, out_dir=out, name="a/b")

    # the CLI: one-line errors, exit codes
    assert pack_cli.main([str(exp_dir), "--out-dir", str(out), "--max-mb", "0.02"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dcsep-pack: error: ") and err.count("\n") == 1
    assert pack_cli.main([str(exp_dir / "model.pt"), "--out-dir", str(out), "--dtype", "float16"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (out / "model" / "README.md").is_file()  # the file's stem names it


def test_pack_sets_the_default_clusterer(exp_dir, tmp_path, mixture, capsys):
    """--clusterer / --clusterer-conf store the clusterer that Separator and dcsep-decode use by default."""
    out = tmp_path / "pretrained"
    assert pack_cli.main([str(exp_dir), "--out-dir", str(out), "--name", "soft", "--clusterer", "soft_kmeans",
                          "--clusterer-conf", "{alpha: 2.5}"]) == 0
    cfg = torch.load(out / "soft" / "model.pt", weights_only=True)["config"]
    assert cfg["clusterer"] == "soft_kmeans" and cfg["clusterer_conf"] == {"alpha": 2.5}  # the kmeans options dropped
    assert "| default clusterer | soft_kmeans (alpha=2.5) |" in (out / "soft" / "README.md").read_text()
    sep = Separator.from_pretrained(out / "soft", device="cpu")
    assert sep.model.clusterer.soft and sep.model.clusterer.alpha == 2.5
    masks = sep.masks(mixture)
    assert ((masks > 0.01) & (masks < 0.99)).any()  # shared bins: soft masks by default
    # options alone change the trained clusterer's
    dest = pack(exp_dir, out_dir=out, name="kmeans10", clusterer_conf={"n_init": 10})
    cfg = torch.load(dest / "model.pt", weights_only=True)["config"]
    assert cfg["clusterer"] == "kmeans" and cfg["clusterer_conf"]["n_init"] == 10
    for args, pattern in [(["--clusterer", "nope"], "nope"), (["--clusterer", "soft_kmeans", "--clusterer-conf", "{alpha: 0}"],
                          "alpha must be > 0"), (["--clusterer-conf", "[1]"], "must be a mapping")]:
        assert pack_cli.main([str(exp_dir), "--out-dir", str(out), "--name", "bad", *args]) == 1
        err = capsys.readouterr().err
        assert err.startswith("dcsep-pack: error: ") and pattern in err, err
    assert not (out / "bad").exists()


def test_pack_stores_the_count_thresholds(exp_dir, tmp_path, capsys):
    """--count-conf stores the speaker count's thresholds with the model; Separator uses them unless given others."""
    out = tmp_path / "pretrained"
    assert pack_cli.main([str(exp_dir), "--out-dir", str(out), "--name", "counted", "--count-conf", "{thresholds: [2.2, 3.1]}"]) == 0
    assert torch.load(out / "counted" / "model.pt", weights_only=True)["extra"]["count_conf"] == {"thresholds": (2.2, 3.1)}
    assert "| speaker count (`auto`) | participation ratio thresholds 2.2, 3.1 (chosen on this model's validation data) |" in (
        out / "counted" / "README.md").read_text()
    assert Separator.from_pretrained(out / "counted", device="cpu").count_conf == {"thresholds": (2.2, 3.1)}
    assert Separator.from_pretrained(out / "counted", device="cpu", count_conf={"thresholds": [2.0]}).count_conf == {"thresholds": (2.0,)}
    assert Separator.from_pretrained(exp_dir, device="cpu").count_conf == {}  # none stored: the library's defaults
    assert "(the library's defaults)" in (pack(exp_dir, out_dir=out, name="plain") / "README.md").read_text()
    for conf, pattern in [("{thresholds: [3.0, 2.0]}", "ascending"), ("{thresholds: []}", "ascending"), ("{alpha: 1}", "unknown")]:
        assert pack_cli.main([str(exp_dir), "--out-dir", str(out), "--name", "bad", "--count-conf", conf]) == 1
        err = capsys.readouterr().err
        assert err.startswith("dcsep-pack: error: count_conf: ") and pattern in err, err
    assert not (out / "bad").exists()


def test_pack_stores_a_linear_counter_from_a_file(exp_dir, tmp_path, capsys):
    """--count-conf also takes the YAML file bench_count.py --select --write-conf writes."""
    out = tmp_path / "pretrained"
    conf = tmp_path / "count_conf.yaml"
    conf.write_text("linear:\n  coef:\n  - [1.0, 0.5]\n  - [-1.0, 0.25]\n  intercept: [0.0, 0.1]\n")
    assert pack_cli.main([str(exp_dir), "--out-dir", str(out), "--name", "linear", "--count-conf", str(conf)]) == 0
    want = {"linear": {"coef": [[1.0, 0.5], [-1.0, 0.25]], "intercept": [0.0, 0.1]}}
    assert torch.load(out / "linear" / "model.pt", weights_only=True)["extra"]["count_conf"] == want
    assert Separator.from_pretrained(out / "linear", device="cpu").count_conf == want
    card = (out / "linear" / "README.md").read_text()
    assert "linear counter on the logarithms of the 2 largest eigenvalue shares, 1 to 2 speakers" in card
    conf.write_text("linear: {coef: [[1.0]], intercept: [0.0]}\n")
    assert pack_cli.main([str(exp_dir), "--out-dir", str(out), "--name", "bad", "--count-conf", str(conf)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dcsep-pack: error: count_conf: linear must be") and "C >= 2" in err, err
    assert not (out / "bad").exists()


def test_find_by_path_and_name(exp_dir, tmp_path, monkeypatch):
    shelf = tmp_path / "shelf"
    pack(exp_dir, out_dir=shelf, name="toy-v1", dtype="float16")
    monkeypatch.setenv("DCSEP_PRETRAINED_PATH", str(shelf))
    assert available_models()["toy-v1"] == shelf / "toy-v1" / "model.pt"
    assert find_model("toy-v1") == shelf / "toy-v1" / "model.pt"
    assert find_model(shelf / "toy-v1") == shelf / "toy-v1" / "model.pt"
    assert find_model(shelf / "toy-v1" / "model.pt") == shelf / "toy-v1" / "model.pt"
    sep = Separator.from_pretrained("toy-v1", device="cpu")
    assert sep.num_spk == 2 and sep.extra["packed"]["name"] == "toy-v1"
    assert Separator.from_pretrained(shelf / "toy-v1", device="cpu", num_spk=3).num_spk == 3
    with pytest.raises(ConfigError, match=r"no pretrained model called 'nope' \(available: .*toy-v1"):
        Separator.from_pretrained("nope")
    with pytest.raises(ConfigError, match="model file not found"):
        Separator.from_pretrained(tmp_path / "missing" / "model.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="without model.pt"):
        Separator.from_pretrained(tmp_path / "empty")


def test_decode_cli_with_packed_model(exp_dir, tmp_path, mixture, capsys):
    dest = pack(exp_dir, out_dir=tmp_path / "pretrained", name="toy", dtype="float16")
    wav = tmp_path / "my mixture.wav"
    sf.write(wav, mixture, 8000)
    scp = tmp_path / "mix.scp"
    scp.write_text(f"mix1 {wav}\n")
    out = tmp_path / "separated"
    assert decode_cli.main(["--model", str(dest), "--scp", str(scp), "--outdir", str(out)]) == 0
    for c in (1, 2):
        est, fs = sf.read(out / "wav" / f"mix1-spk{c}.wav")
        assert fs == 8000 and est.shape == mixture.shape
    assert (out / "spk2.scp").read_text().startswith("mix1 ")
