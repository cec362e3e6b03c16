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


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--dpi", "0"], "--dpi must be between 10 and 600, got 0"),
        (["--dpi", "100000"], "--dpi must be between 10 and 600, got 100000"),
        (["--seconds", "nan"], "--seconds must be a number of seconds >= 0"),
        (["--seconds", "-1"], "--seconds must be a number of seconds >= 0"),
        (["--start", "-5"], "--start must be a number of seconds >= 0, got -5.0"),
        (["--start", "inf"], "--start must be a number of seconds >= 0"),
        (["--num-spk", "0"], "--num-spk must be >= 1, got 0"),
        (["--device", "tpu"], "--device 'tpu': not a device name"),
    ],
)
def test_bad_options_are_one_line(env, tmp_path, capsys, argv, message):
    """Issue 20 item 8: options that cannot give a figure are one-line errors, before any work."""
    out = tmp_path / "x.png"
    assert main(["--model", str(env["exp"]), "--ref", str(env["tt"]), "--utt", "utt000", "--out", str(out), *argv]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("dcsep-plot: error:") and message in line, line
    assert not out.exists()


def test_long_window_is_decimated(env, tmp_path, monkeypatch):
    """Issue 20 item 10: a window of more frames than the image has columns draws at most 2 per pixel,
    and the embeddings are encoded a segment at a time."""
    import dcsep.bin.plot as plot_mod

    drawn = []
    orig = plot_mod.mask_image

    def spy(labels, active):
        drawn.append(labels.shape)
        return orig(labels, active)

    monkeypatch.setattr(plot_mod, "mask_image", spy)
    monkeypatch.setattr(plot_mod, "FIG_WIDTH_IN", 1)  # 2 columns per pixel: 20 at 10 dpi
    monkeypatch.setattr(plot_mod, "SEGMENT_FRAMES", 20)  # 63 frames: 4 segments
    out = tmp_path / "x.png"
    assert main(["--model", str(env["exp"]), "--ref", str(env["tt"]), "--utt", "utt000", "--out", str(out),
                 "--dpi", "10", "--seconds", "0"]) == 0
    assert drawn == [(20, 129), (20, 129)]  # the ideal and the estimated masks
    cols = plot_mod.columns(75_001, 200)
    assert cols.shape == (200,) and cols[0] == 0 and cols[-1] == 75_000


def test_segmented_embeddings_equal_the_whole(env, monkeypatch):
    """With context covering the input, segment-by-segment embeddings are those of the whole input."""
    import soundfile as sf

    import dcsep.bin.plot as plot_mod
    from dcsep.separate import Separator

    sep = Separator.from_pretrained(str(env["exp"]), device="cpu")
    wav = sf.read((env["tt"] / "wav.scp").read_text().split()[1], dtype="float32")[0]
    whole = sep.embed(wav)
    frames = plot_mod.columns(whole.shape[0], 25)
    monkeypatch.setattr(plot_mod, "SEGMENT_FRAMES", 16)
    np.testing.assert_allclose(plot_mod.embeddings_at(sep, wav, frames, 64), whole[frames], atol=1e-5)


def test_ten_minute_plot_under_3_gb(tmp_path):
    """Issue 20 item 10: dcsep-plot --seconds 0 on a 10-minute input (K=40 embeddings: 1.5 GB in all) stays
    under 3 GB of peak RSS (it was 8.7 GB), and well under the embeddings' size on top of the start-up."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("long_input.py")
    proc = subprocess.run([sys.executable, str(script), "plot", str(tmp_path), "10"], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["rc"] == 0 and png_size(tmp_path / "long.png")[0] > 0
    assert res["peak_mb"] < 3000, res
    assert res["peak_mb"] - res["base_mb"] < res["emb_mb"] / 2, res
    print(f"10 minutes: peak {res['peak_mb']:.0f} MB, {res['peak_mb'] - res['base_mb']:.0f} MB over the start-up")
