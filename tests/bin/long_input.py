"""Peak memory of dcsep-decode or dcsep-plot on a long two-tone mixture; prints one JSON line.

    python tests/bin/long_input.py decode DIR MINUTES [--model M]
    python tests/bin/long_input.py plot DIR MINUTES [--model M]

Without ``--model`` the model is a cheap encoder with known K=40 embeddings
(bins below 1200 Hz -> e1, the others -> e2), so that the run measures what
the tool itself keeps, not the encoder's cost. ``peak_mb`` is the process's
peak RSS (``ru_maxrss``), ``base_mb`` the RSS once the input is written and
the model loaded, before the tool runs. The tests in ``test_decode_cli.py``
and ``test_plot_cli.py`` run it in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import resource
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from dcsep.encoders.abs import Encoder
from dcsep.model import DeepClustering
from dcsep.registry import ENCODERS

FS = 8000


@ENCODERS.register("test_band")
class BandEncoder(Encoder):
    """Known embeddings: bins below 1200 Hz -> e1, the others -> e2 (K=40)."""

    def __init__(self, input_dim: int, embed_dim: int = 40):
        super().__init__()
        self.embed_dim = embed_dim
        self.register_buffer("low", torch.arange(input_dim) * 4000 / (input_dim - 1) < 1200)

    def forward(self, feats, lengths):
        v = feats.new_zeros(*feats.shape, self.embed_dim)  # (B, T, F, K)
        v[..., 0] = self.low.to(v.dtype)
        v[..., 1] = (~self.low).to(v.dtype)
        return v


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("tool", choices=("decode", "plot"))
    p.add_argument("dir", type=Path)
    p.add_argument("minutes", type=float)
    p.add_argument("--model", help="a model dir or file (default: the band encoder)")
    a = p.parse_args()
    d = a.dir
    d.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(a.minutes * 60 * FS)) / FS
    tones = np.stack([0.5 * np.sin(2 * np.pi * 300 * t), 0.3 * np.sin(2 * np.pi * 2500 * t)]).astype(np.float32)
    del t
    sf.write(d / "long.wav", tones.sum(0), FS, subtype="PCM_16")
    (d / "wav.scp").write_text(f"long {d / 'long.wav'}\n")
    model = a.model
    if model is None:
        DeepClustering.from_config({"encoder": "test_band", "clusterer_conf": {"n_init": 1}}).save(d / "model.pt")
        model = str(d)
    res: dict = {"tool": a.tool, "minutes": a.minutes, "model": model}
    if a.tool == "decode":
        from dcsep.bin.decode import main as tool

        argv = ["--model", model, "--scp", str(d / "wav.scp"), "--outdir", str(d / "out"), "--device", "cpu"]
    else:
        from dcsep.bin.plot import main as tool

        argv = ["--model", model, "--wav", str(d / "long.wav"), "--out", str(d / "long.png"), "--seconds", "0"]
    from dcsep.separate import Separator

    Separator.from_pretrained(model, device="cpu")  # the model loaded once: its memory counts in base_mb
    res["base_mb"] = rss_mb()
    res["rc"] = tool(argv)
    res["peak_mb"] = rss_mb()
    if a.tool == "decode" and res["rc"] == 0:
        est = np.stack([sf.read(d / "out" / "wav" / f"long-spk{c}.wav", dtype="float32")[0] for c in (1, 2)])
        corr = np.corrcoef(np.concatenate([est, tones]))[:2, 2:]
        res["corr"] = max(corr[0, 0] + corr[1, 1], corr[0, 1] + corr[1, 0]) / 2
        res["samples"] = int(est.shape[1])
    res["emb_mb"] = tones.shape[1] / 64 * 129 * 40 * 4 / 2**20  # the whole input's K=40 embeddings, float32
    print(json.dumps(res))


if __name__ == "__main__":
    main()
