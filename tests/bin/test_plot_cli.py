"""dcsep-plot: a PNG with spectrogram, ideal and estimated masks and embedding PCA; one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import TINY_MODEL, make_tiny_corpus
from dcsep.bin.plot import main, mask_image, pca_rgb
from dcsep.model import DeepClustering

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("plot_cli")
    tt = make_tiny_corpus(root / "tt", num_utts=2, seconds=0.5, seed=6)
    torch.manual_seed(0)
    DeepClustering.from_config(TINY_MODEL).save(root / "exp" / "model.pt")
    return {"root": root, "tt": tt, "exp": root / "exp"}


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_plot_with_reference_has_four_panels(env, tmp_path, capsys):
    out = tmp_path / "figs" / "utt000.png"
    assert main(["--model", str(env["exp"]), "--ref", str(env["tt"]), "--utt", "utt000", "--out", str(out), "--dpi", "50"]) == 0
    assert f"wrote {out}" in capsys.readouterr().err
    w4, h4 = png_size(out)
    # without references there is no ideal-mask panel: a shorter figure
    wav = (env["tt"] / "wav.scp").read_text().split()[1]
    out3 = tmp_path / "mix.png"
    assert main(["--model", str(env["exp"]), "--wav", wav, "--out", str(out3), "--dpi", "50", "--num-spk", "3",
                 "--clusterer", "spectral", "--seconds", "0"]) == 0
    w3, h3 = png_size(out3)
    assert w3 == w4 and h3 < h4
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--ref", "{tt}"], "--ref and --utt go together"),
        ([], "give --wav FILE, or --ref DATADIR --utt ID"),
        (["--ref", "{tt}", "--utt", "nope"], "no utterance 'nope'"),
        (["--ref", "{tt}", "--utt", "utt000", "--start", "9"], "past the end"),
        (["--wav", "{root}/missing.wav"], "file not found"),
    ],
)
def test_errors_are_one_line(env, tmp_path, capsys, argv, message):
    argv = [a.format(tt=env["tt"], root=env["root"]) for a in argv]
    out = tmp_path / "x.png"
    assert main(["--model", str(env["exp"]), "--out", str(out), *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dcsep-plot: error:") and message in err[0], err
    assert not out.exists()


def test_image_helpers():
    labels = np.array([[0, 1], [1, 0], [0, 0]])  # (T=3, F=2)
    active = np.array([[True, True], [True, False], [False, False]])
    img = mask_image(labels, active)
    assert img.shape == (2, 3, 3)  # (F, T, RGB)
    assert not np.allclose(img[0, 0], img[1, 0])  # two sources, two colours
    assert np.all(img[:, 2] < img[:, 0].max())  # silent bins dimmed
    V = torch.nn.functional.normalize(torch.randn(5, 4, 6), dim=-1).numpy()
    rgb = pca_rgb(V, np.ones((5, 4), bool))
    assert rgb.shape == (4, 5, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert not pca_rgb(V, np.zeros((5, 4), bool)).any()  # everything silent: black
