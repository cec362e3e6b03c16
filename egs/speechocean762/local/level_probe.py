#!/usr/bin/env python3
"""How much the input level moves a model's separations: SI-SDR change of each source at other gains.

The mixtures are those of ``tests/egs/test_speechocean762_pretrained.py`` (8 evenly spaced lines of the
committed open-set mix list, mixed from the corpus). For each, the SI-SDR of each separated source
(permutation invariant) at the mixture's level, then its change when the input is scaled by each gain.

    python local/level_probe.py --model exp/dc_attractor/model.pt --corpus-dir ../../../shared/data/speechocean762
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from dcsep.data.audio import load_audio
from dcsep.data.mixing import mix_sources
from dcsep.data.speechocean import _resolve_audio, read_mix_list
from dcsep.metrics import si_sdr_pit
from dcsep.separate import Separator

MIX_LIST = Path(__file__).resolve().parent / "mix_lists" / "full" / "mix_2_spk_tt.txt"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--corpus-dir", required=True, type=Path)
    p.add_argument("--num", type=int, default=8, help="mixtures (at most 8)")
    p.add_argument("--gains-db", type=float, nargs="+", default=[-30.0, -10.0, 6.0])
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    sep = Separator.from_pretrained(args.model, device="cpu")
    lines = read_mix_list(MIX_LIST)
    picked = lines[:: len(lines) // 8][:8][: args.num]
    worst = {g: 0.0 for g in args.gains_db}
    print("mixture\tSI-SDR (dB)\t" + "\t".join(f"change at {g:+g} dB" for g in args.gains_db))
    for k, line in enumerate(picked):
        srcs = [load_audio(_resolve_audio(args.corpus_dir, r), fs=8000)[0] for r in line.rels]
        mix, refs = mix_sources(srcs, line.gains_db, fs=8000)
        base = si_sdr_pit(refs, sep.separate(mix.astype(np.float32)))[0]
        cells = []
        for g in args.gains_db:
            d = si_sdr_pit(refs, sep.separate((mix * 10 ** (g / 20)).astype(np.float32)))[0] - base
            cells.append(" ".join(f"{v:+.3f}" for v in d))
            worst[g] = max(worst[g], float(np.abs(d).max()), key=abs)
        print(f"{k}\t" + " ".join(f"{v:.2f}" for v in base) + "\t" + "\t".join(cells), flush=True)
    print("largest |change| by gain: " + ", ".join(f"{g:+g} dB: {worst[g]:.3f}" for g in args.gains_db))
    return 0


if __name__ == "__main__":
    sys.exit(main())
