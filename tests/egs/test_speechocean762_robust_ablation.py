"""egs/speechocean762/local/robust_ablation.py: paired SI-SDRi of several arms over the same mixtures."""

from __future__ import annotations

import runpy
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import harmonic_voice

from dcsep.model import DeepClustering

RECIPE = Path(__file__).resolve().parents[2] / "egs" / "speechocean762"
FS = 8000


@pytest.fixture(scope="module")
def ra():
    return types.SimpleNamespace(**runpy.run_path(str(RECIPE / "local" / "robust_ablation.py")))


def test_paired_difference(ra):
    a = {"u1": 5.0, "u2": 3.0, "u3": 4.0, "only_a": 100.0}
    b = {"u1": 4.0, "u2": 3.5, "u3": 2.0, "only_b": -100.0}
    d = np.array([1.0, -0.5, 2.0])
    assert ra.paired(a, b) == f"{d.mean():+.2f} +- {d.std(ddof=1) / np.sqrt(3):.2f}"
    assert ra.paired({"u1": 1.0}, {"u1": 0.0}) == "-"


def _mixture_dir(root: Path, n: int = 2) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    lines = {k: [] for k in ("wav", "spk1", "spk2")}
    for i in range(n):
        s1 = harmonic_voice(rng, 110 + 10 * i, 1.0, FS) * 0.3
        s2 = harmonic_voice(rng, 230 + 10 * i, 1.0, FS) * 0.3
        for name, x in (("wav", s1 + s2), ("spk1", s1), ("spk2", s2)):
            p = root / f"m{i}_{name}.wav"
            sf.write(p, x, FS, subtype="FLOAT")
            lines[name].append(f"m{i} {p}\n")
    for name, rows in lines.items():
        (root / f"{name}.scp").write_text("".join(rows))
    return root


def test_scores_summary_and_resume(ra, tmp_path, monkeypatch):
    data = _mixture_dir(tmp_path / "mix")
    torch.manual_seed(0)
    model = DeepClustering.from_config({
        "frontend_conf": {"norm": "utterance_mean"},
        "encoder": "blstm",
        "encoder_conf": {"num_layers": 1, "hidden_units": 8, "embed_dim": 4},
    })
    model.save(tmp_path / "m.pt")
    out = tmp_path / "out"
    args = ["--out", str(out), "--reference", "m", "--arm", f"m={tmp_path / 'm.pt'}", "--arm", "ibm=ibm",
            "--set", f"s={data}", "--set", f"s@-30={data}"]
    assert ra.main(args) == 0
    got = {(arm, s): ra.read_tsv(out / arm / f"{s}.tsv") for arm in ("m", "ibm") for s in ("s", "s@-30")}
    assert all(set(v) == {"m0", "m1"} for v in got.values())
    assert not list(out.rglob("*.part"))
    assert np.mean(list(got["ibm", "s"].values())) > 5  # the ideal binary mask separates these
    for u in ("m0", "m1"):  # an utterance norm: the level does not change the scores
        assert abs(got["m", "s@-30"][u] - got["m", "s"][u]) < 0.2
    text = (out / "summary.md").read_text()
    assert "| arm | s (2) | s@-30 (2) |" in text and "| ibm |" in text and "Command:" in text
    # a rerun scores nothing again; a half-done set goes on from its .part file
    (out / "m" / "s.tsv").rename(out / "m" / "s.tsv.part")
    separated = []
    monkeypatch.setattr(ra.Separator, "separate", lambda self, *a, **k: separated.append(a))
    assert ra.main(args) == 0
    assert separated == [] and ra.read_tsv(out / "m" / "s.tsv") == got["m", "s"]



def test_arm_conf_and_conditions(ra, tmp_path):
    """--arm-conf runs an arm's Separator with its own options; a +padS set pads mixtures and references alike."""
    data = _mixture_dir(tmp_path / "mix")
    torch.manual_seed(0)
    DeepClustering.from_config({"encoder": "blstm", "encoder_conf": {"num_layers": 1, "hidden_units": 8, "embed_dim": 4}}).save(
        tmp_path / "m.pt")
    out = tmp_path / "out"
    args = ["--out", str(out), "--reference", "m", "--arm", f"m={tmp_path / 'm.pt'}", "--arm", f"c20={tmp_path / 'm.pt'}",
            "--arm-conf", "c20={chunk_frames: 20, overlap_frames: 4}", "--set", f"s={data}", "--set", f"s+pad0.5={data}"]
    assert ra.main(args) == 0
    scores = {(a, s): ra.read_tsv(out / a / f"{s}.tsv") for a in ("m", "c20") for s in ("s", "s+pad0.5")}
    assert all(set(v) == {"m0", "m1"} for v in scores.values())
    assert scores["m", "s"] != scores["c20", "s"]  # 126 frames in chunks of 20: other embeddings
    with pytest.raises(SystemExit, match="unknown arm"):
        ra.main([*args, "--arm-conf", "nope={chunk_frames: 20}"])


def test_long_set(tmp_path):
    ls = types.SimpleNamespace(**runpy.run_path(str(RECIPE / "local" / "long_set.py")))
    src = _mixture_dir(tmp_path / "mix", n=3)
    (src / "utt2spks").write_text("m0 A B\nm1 B A\nm2 A C\n")
    dest = tmp_path / "long"
    assert ls.main(["--src", str(src), "--dest", str(dest), "--per-pair", "2"]) == 0
    wav = dict(line.split() for line in (dest / "wav.scp").read_text().splitlines())
    assert list(wav) == ["long_A_B"]  # the pair A-C has one mixture only
    x = sf.read(wav["long_A_B"])[0]
    s1 = sf.read(dict(line.split() for line in (dest / "spk1.scp").read_text().splitlines())["long_A_B"])[0]
    m0_1, m1_2 = sf.read(src / "m0_spk1.wav")[0], sf.read(src / "m1_spk2.wav")[0]
    assert x.shape == (2 * FS,)
    np.testing.assert_allclose(s1, np.concatenate([m0_1, m1_2]), atol=1e-4)  # speaker A throughout (m1's second source)
    assert (dest / "utt2spks").read_text() == "long_A_B A B\n"


def test_long_swaps_scores_a_swapped_piece():
    lw = types.SimpleNamespace(**runpy.run_path(str(RECIPE / "local" / "long_swaps.py")))
    rng = np.random.default_rng(0)
    pieces = []
    for _ in range(3):
        refs = rng.standard_normal((2, 800))
        pieces.append((FS, refs.sum(0), refs))
    est = np.concatenate([p[2] + 0.1 * rng.standard_normal((2, 800)) for p in pieces], axis=1)
    clean = lw.piece_scores(est, pieces)
    assert clean["swaps"] == 0 and clean["long"] == clean["long_free"] > 15
    est[:, 800:1600] = est[::-1, 800:1600]  # the second piece's speakers on the other outputs
    swapped = lw.piece_scores(est, pieces)
    assert swapped["swaps"] == 1
    assert swapped["long_free"] == pytest.approx(clean["long_free"])
    assert swapped["long"] < clean["long"] - 10  # one piece of three scored against the other speaker


def test_long_swaps_end_to_end(tmp_path, capsys):
    lw = types.SimpleNamespace(**runpy.run_path(str(RECIPE / "local" / "long_swaps.py")))
    src = _mixture_dir(tmp_path / "mix", n=3)
    (src / "utt2spks").write_text("m0 A B\nm1 B A\nm2 A C\n")
    model = tmp_path / "model.pt"
    torch.manual_seed(0)
    DeepClustering.from_config({"encoder": "blstm", "encoder_conf": {"num_layers": 1, "hidden_units": 8, "embed_dim": 4}}).save(model)
    out = tmp_path / "swaps.tsv"
    assert lw.main(["--src", str(src), "--model", str(model), "--per-pair", "2", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "1 long mixtures of 2 pieces" in table and "of 2 |" in table
    assert out.read_text().splitlines()[0] == "mixture\tsingle\tlong\tlong_free\tswaps"
    assert lw.main(["--src", str(src), "--model", str(model), "--per-pair", "3"]) == 1
    assert "no speaker pair with 3 mixtures" in capsys.readouterr().err
