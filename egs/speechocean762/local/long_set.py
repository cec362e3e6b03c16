#!/usr/bin/env python3
"""Long mixtures of the same two speakers, from a 2-speaker mixture dir, to validate on long inputs.

The recipe's mixtures are 3-4 s long, as long as the training crops (400 frames);
real recordings are often longer (the Picovoice clips: 7.6 s). For each pair of
speakers of ``--src`` (``utt2spks``), up to ``--per-pair`` of its mixtures are put
end to end, each source with its own speaker, into one long mixture of ``--dest``
(``wav.scp``, ``spk1.scp``, ``spk2.scp``, ``utt2spks``; audio under ``DEST/wav``).
Pairs with fewer mixtures are skipped; the order is that of the sorted ids, so
the set is the same every run.

    python local/long_set.py --src data/full/cv --dest data/full/cv_long --per-pair 3
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from dcsep.data.audio import load_audio, write_wav
from dcsep.data.datadir import DataDir
from dcsep.errors import DcsepError
from dcsep.utils import atomic_write_text


def long_groups(d: DataDir, src: Path, per_pair: int):
    """For each speaker pair of ``src`` with at least ``per_pair`` mixtures, in sorted order:
    ``(pair, [(fs, mixture, (2, L) sources in the pair's order)] * per_pair)``, the first
    mixtures of the pair by sorted id."""
    spks = {}
    for line in (src / "utt2spks").read_text(encoding="utf-8").splitlines():
        utt, *names = line.split()
        spks[utt] = names
    pairs = defaultdict(list)
    for utt in sorted(d.wav):
        pairs[tuple(sorted(spks[utt]))].append(utt)
    for pair, utts in sorted(pairs.items()):
        if len(utts) < per_pair:
            continue
        pieces = []
        for utt in utts[:per_pair]:
            x, fs = load_audio(d.wav[utt], name=utt)
            s = [load_audio(d.spk[c][utt], name=utt)[0] for c in range(2)]
            order = (0, 1) if spks[utt][0] == pair[0] else (1, 0)
            pieces.append((fs, x, np.stack([s[order[0]], s[order[1]]])))
        yield pair, pieces


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", required=True, type=Path)
    p.add_argument("--dest", required=True, type=Path)
    p.add_argument("--per-pair", type=int, default=3)
    args = p.parse_args(argv)
    try:
        d = DataDir.load(args.src, require_sources=True)
        if len(d.spk) != 2:
            raise DcsepError(f"{args.src}: 2-speaker mixtures needed, got {len(d.spk)} sources")
        wav_dir = args.dest / "wav"
        wav_dir.mkdir(parents=True, exist_ok=True)
        rows = {k: [] for k in ("wav", "spk1", "spk2", "utt2spks")}
        for pair, pieces in long_groups(d, args.src, args.per_pair):
            name = f"long_{pair[0]}_{pair[1]}"
            fs = pieces[0][0]
            signals = {"wav": np.concatenate([x for _, x, _ in pieces]),
                       "spk1": np.concatenate([s[0] for _, _, s in pieces]),
                       "spk2": np.concatenate([s[1] for _, _, s in pieces])}
            for k, sig in signals.items():
                path = (wav_dir / f"{name}_{k}.wav").resolve()
                write_wav(path, sig, fs)
                rows[k].append(f"{name} {path}\n")
            rows["utt2spks"].append(f"{name} {pair[0]} {pair[1]}\n")
        for k, lines in rows.items():
            atomic_write_text(args.dest / (k if k == "utt2spks" else f"{k}.scp"), "".join(lines))
        print(f"long_set.py: {len(rows['wav'])} mixtures of {args.per_pair} each -> {args.dest}", file=sys.stderr)
    except (DcsepError, OSError) as e:
        print(f"long_set.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
