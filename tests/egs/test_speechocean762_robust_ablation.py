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

