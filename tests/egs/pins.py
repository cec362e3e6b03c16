"""Fingerprints of what the released model and the tiny tts_mix recipe produce, pinned in
``fixtures/pins.json`` so that a refactor that changes results is caught.

Two fingerprints:

- ``released_model``: the released model separates a few fixed speechocean762 open-set
  mixtures with its default clusterer and with ``kmeans``; per mixture, the SI-SDR of each
  estimate against its best-matching reference and the estimates' energies.
- ``tts_tiny``: the tiny tts_mix recipe (stages 1-5): a digest of every data dir (utterance
  ids, and the energy of every source and mixture file), the validation loss of each epoch, and the
  mean SI-SDRi of each decoded set.

Write the reference again only when a change of results is intended, and say so in the
commit: ``python -m tests.egs.pins --write [--tts-recipe egs/tts_mix]`` (the tts part reads
a finished ``--size tiny`` run of that recipe dir, made with the arguments of
``tests/egs/test_tts_mix_recipe.py``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from .corpora import REPO, speechocean762_dir

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "pins.json"
MIX_LIST = REPO / "egs" / "speechocean762" / "local" / "mix_lists" / "full" / "mix_2_spk_tt.txt"
MODEL = "speechocean762_dc_blstm"
NUM_MIXTURES = 4
CLUSTERERS = (None, "kmeans")  # None: the model's default (soft_kmeans)


def released_model(root: Path) -> dict:
    """Fingerprint of the released model on ``NUM_MIXTURES`` open-set mixtures of corpus ``root``."""
    from dcsep.data.audio import load_audio
    from dcsep.data.mixing import mix_sources
    from dcsep.data.speechocean import _resolve_audio, read_mix_list
    from dcsep.metrics import si_sdr_pit
    from dcsep.separate import Separator

    sep = Separator.from_pretrained(MODEL, device="cpu")
    lines = read_mix_list(MIX_LIST)
    picked = lines[:: len(lines) // NUM_MIXTURES][:NUM_MIXTURES]
    out: dict = {}
    for clus in CLUSTERERS:
        rows = []
        for line in picked:
            srcs = [load_audio(_resolve_audio(root, p), fs=8000)[0] for p in line.rels]
            mix, refs = mix_sources(srcs, line.gains_db, fs=8000)
            est = sep.separate(mix.astype(np.float32), clusterer=clus)
            vals, _ = si_sdr_pit(refs, est)
            energy = sorted(float(np.sum(e.astype(np.float64) ** 2)) for e in est)
            rows.append({"mixture": line.name, "si_sdr": [float(v) for v in vals], "energy": energy})
        out[clus or "default"] = rows
    return out


def _energies(paths: list[Path]) -> list[float]:
    import soundfile as sf

    return [float(np.sum(sf.read(p, dtype="float64")[0] ** 2)) for p in paths]


def _scp_items(path: Path) -> list[tuple[str, Path]]:
    items = [line.split(maxsplit=1) for line in path.read_text().splitlines() if line.strip()]
    return [(k, Path(p)) for k, p in sorted(items)]


def tts_tiny(recipe: Path) -> dict:
    """Fingerprint of a finished ``--size tiny`` run of the tts_mix recipe in ``recipe``."""
    data = recipe / "data" / "tiny"
    sets = {}
    for d in sorted(p for p in data.iterdir() if (p / "wav.scp").is_file()):
        scps = [d / "wav.scp", *sorted(d.glob("spk*.scp"), key=lambda p: p.name)]
        ids = [k for k, _ in _scp_items(d / "wav.scp")]
        files = [q for scp in scps for _, q in _scp_items(scp)]
        sets[d.name] = {"ids": hashlib.sha256("\n".join(ids).encode()).hexdigest(), "energy": _energies(files)}
    exp = recipe / "exp" / "dc_tiny"
    with open(exp / "scalars.csv", newline="") as f:
        valid = [float(r["value"]) for r in csv.DictReader(f) if r["name"] == "valid/loss"]
    scores = {}
    for tsv in sorted((exp / "decode").glob("*/*/scores.tsv")):
        with open(tsv, newline="") as f:
            vals = [float(r["SI-SDRi"]) for r in csv.DictReader(f, delimiter="\t")]
        scores[f"{tsv.parent.parent.name}/{tsv.parent.name}"] = float(np.mean(vals))
    return {"data": sets, "valid_loss": valid, "mean_si_sdri": scores}


def load() -> dict:
    return json.loads(FIXTURE.read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="write fixtures/pins.json")
    p.add_argument("--tts-recipe", type=Path, help="a recipe dir with a finished --size tiny run")
    args = p.parse_args(argv)
    pins = load() if FIXTURE.is_file() else {}
    root = speechocean762_dir()
    if root is None:
        print("speechocean762 not found (set DCSEP_SPEECHOCEAN762)", file=sys.stderr)
        return 1
    pins["released_model"] = released_model(root)
    if args.tts_recipe:
        pins["tts_tiny"] = tts_tiny(args.tts_recipe)
    text = json.dumps(pins, indent=1, sort_keys=True) + "\n"
    if args.write:
        FIXTURE.parent.mkdir(exist_ok=True)
        tmp = FIXTURE.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(FIXTURE)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
