#!/usr/bin/env python3
"""Where a model loses on long inputs: speaker swaps between the pieces of a long mixture.

The long mixtures of ``local/long_set.py`` (the first ``--per-pair`` mixtures of
each speaker pair of ``--src``, end to end) are separated whole, and each of
their pieces is also separated alone. Per long mixture, mean over its pieces
of the SI-SDRi (dB) of:

* ``single``: the piece separated alone (its own best permutation);
* ``long``: the piece cut out of the long output, with one permutation for the
  whole long output (what a user gets: a speaker stays on one output);
* ``long_free``: the same cut, each piece with its own best permutation.

``long_free - long`` is what the swaps cost (a piece whose best permutation
differs from the whole's is a swap); ``single - long_free`` is what the
clustering of the whole costs within a piece. Validation data only.

    python local/long_swaps.py --src data/full/cv --model exp/dc_attractor/model.pt --per-pair 3
"""

from __future__ import annotations

import argparse
import itertools
import runpy
import sys
from pathlib import Path

import numpy as np
import torch

from dcsep.data.datadir import DataDir
from dcsep.errors import DcsepError
from dcsep.metrics import si_sdr, si_sdr_pit
from dcsep.separate import Separator

long_groups = runpy.run_path(str(Path(__file__).with_name("long_set.py")))["long_groups"]


def piece_scores(est: np.ndarray, pieces, singles: list[np.ndarray] | None = None) -> dict[str, float]:
    """Scores of the long output ``est`` (2, L) cut at the pieces' bounds (see the module doc), and
    with ``singles`` (each piece's own separation, (2, L_i)) the ``single`` score too."""
    bounds = np.cumsum([0] + [x.size for _, x, _ in pieces])
    cuts = [(est[:, a:b], x, refs) for (a, b), (_, x, refs) in zip(zip(bounds[:-1], bounds[1:]), pieces)]
    base = np.array([si_sdr(refs, x).mean() for _, x, refs in cuts])  # the unprocessed mixture
    by_perm = {p: np.array([si_sdr(refs, e[list(p)]).mean() for e, _, refs in cuts])
               for p in itertools.permutations(range(2))}
    whole = max(by_perm, key=lambda p: by_perm[p].mean())
    free = np.maximum(*by_perm.values())
    out = {"long": float((by_perm[whole] - base).mean()), "long_free": float((free - base).mean()),
           "swaps": int((by_perm[whole] < free).sum())}
    if singles is not None:
        alone = np.array([si_sdr_pit(refs, e)[0].mean() for e, (_, _, refs) in zip(singles, pieces)])
        out = {"single": float((alone - base).mean()), **out}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", required=True, type=Path, help="2-speaker mixture dir with utt2spks")
    p.add_argument("--model", required=True, help="model name or file")
    p.add_argument("--per-pair", type=int, default=3)
    p.add_argument("--max", type=int, default=None, help="at most this many long mixtures")
    p.add_argument("--out", type=Path, default=None, help="per-mixture table (tsv)")
    args = p.parse_args(argv)
    try:
        torch.set_num_threads(1)
        sep = Separator.from_pretrained(args.model, device="cpu")
        d = DataDir.load(args.src, require_sources=True)
        rows = []
        for pair, pieces in long_groups(d, args.src, args.per_pair):
            singles = [np.asarray(sep.separate(x, num_spk=2)) for _, x, _ in pieces]
            est = np.asarray(sep.separate(np.concatenate([x for _, x, _ in pieces]), num_spk=2))
            rows.append({"mixture": f"long_{pair[0]}_{pair[1]}", **piece_scores(est, pieces, singles)})
            if len(rows) % 10 == 0:
                print(f"long_swaps.py: {len(rows)} long mixtures", file=sys.stderr, flush=True)
            if args.max and len(rows) >= args.max:
                break
        if not rows:
            raise DcsepError(f"{args.src}: no speaker pair with {args.per_pair} mixtures")
    except (DcsepError, OSError) as e:
        print(f"long_swaps.py: {e}", file=sys.stderr)
        return 1
    if args.out:
        keys = list(rows[0])
        args.out.write_text("\t".join(keys) + "\n" + "".join("\t".join(str(r[k]) for k in keys) + "\n" for r in rows))
    col = {k: np.array([r[k] for r in rows], dtype=float) for k in ("single", "long", "long_free", "swaps")}

    def paired(a, b):
        diff = col[a] - col[b]
        return f"{diff.mean():+.2f} ± {diff.std(ddof=1) / np.sqrt(diff.size) if diff.size > 1 else 0:.2f}"

    n_pieces = len(rows) * args.per_pair
    print(f"{len(rows)} long mixtures of {args.per_pair} pieces, model {args.model}")
    print("| single | long | long, per-piece permutation | swapped pieces | long - single | swaps cost (free - long) |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {col['single'].mean():.2f} | {col['long'].mean():.2f} | {col['long_free'].mean():.2f} "
          f"| {int(col['swaps'].sum())} of {n_pieces} | {paired('long', 'single')} | {paired('long_free', 'long')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
