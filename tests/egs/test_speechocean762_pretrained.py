"""The pretrained model committed under pretrained/: it loads safely, fits the size limit,
is found by name, and separates real speech of speakers it never heard.

The quality check mixes test-half speakers of speechocean762 from the committed open-set
mix list (the corpus: ``$DCSEP_SPEECHOCEAN762`` or ``shared/data/speechocean762`` beside
the repository; skipped without it).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcsep.data.audio import load_audio
from dcsep.data.mixing import mix_sources
from dcsep.data.mixlist import read_mix_list
from dcsep.data.speechocean_corpus import resolve_audio
from dcsep.metrics import si_sdr, si_sdr_pit
from dcsep.pretrained import DEFAULT_MAX_BYTES, available_models
from dcsep.separate import Separator

from .corpora import REPO, speechocean762_dir

NAME = "speechocean762_dc_blstm"
MODEL_DIR = REPO / "pretrained" / NAME
MIX_LIST = REPO / "egs" / "speechocean762" / "local" / "mix_lists" / "full" / "mix_2_spk_tt.txt"
# mean SI-SDRi over these mixtures, with the model's default clusterer, must exceed this (the
# model released 2026-12-03, fine-tuned with the attractor_mask loss, gave 5.6 dB on them with its
# soft_kmeans and 5.2 with kmeans; the 47-epoch model before it 4.5 with kmeans, the 42-epoch
# one 4.1, the 36-epoch one 4.4 though it is 0.7 dB worse on 300 mixtures, the 24-epoch one
# 3.6 dB, a model early in training about -1.6 dB)
MIN_MEAN_SI_SDRI = 3.0
NUM_MIXTURES = 8


def test_files_and_lookup():
    model = MODEL_DIR / "model.pt"
    assert model.is_file() and (MODEL_DIR / "README.md").is_file()
    assert model.stat().st_size <= DEFAULT_MAX_BYTES
    obj = torch.load(model, map_location="cpu", weights_only=True)  # nothing but tensors and plain data
    assert isinstance(obj, dict)
    assert available_models()[NAME].resolve() == model.resolve()
    card = (MODEL_DIR / "README.md").read_text()
    assert "SI-SDRi" in card and "egs/speechocean762" in card


def test_separates_any_input_shape():
    sep = Separator.from_pretrained(NAME, device="cpu")
    assert sep.fs == 8000
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(8000 * 3)).astype(np.float32)
    out = sep.separate(x)
    assert out.shape == (2, x.shape[0]) and np.isfinite(out).all()
    assert sep.separate(x, num_spk=3).shape == (3, x.shape[0])


@pytest.mark.skipif(speechocean762_dir() is None, reason="speechocean762 not found (set DCSEP_SPEECHOCEAN762)")
def test_separates_unseen_speakers():
    root = speechocean762_dir()
    sep = Separator.from_pretrained(NAME, device="cpu")
    lines = read_mix_list(MIX_LIST)
    picked = lines[:: len(lines) // NUM_MIXTURES][:NUM_MIXTURES]
    gains = []
    for line in picked:
        srcs = [load_audio(resolve_audio(root, p), fs=8000)[0] for p in line.rels]
        mix, refs = mix_sources(srcs, line.gains_db, fs=8000)
        est = sep.separate(mix.astype(np.float32))
        vals, _ = si_sdr_pit(refs, est)
        gains.append(float(np.mean(vals - si_sdr(refs, mix[None, :]))))
    assert np.mean(gains) > MIN_MEAN_SI_SDRI, gains
