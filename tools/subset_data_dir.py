#!/usr/bin/env python3
"""A fixed subset of a Kaldi-style data dir: N of its utterances, evenly spaced over the sorted ids.

    python tools/subset_data_dir.py --src data/tt --dest data/tt_sub500 --num 500

The choice depends only on the ids (no randomness): utterances
``round(linspace(0, M - 1, N))`` of the M ids in sorted (byte) order, so that
the subset spreads over the whole set (mixture ids usually start with a
speaker id, so the *first* N would cover a few speakers only). Per-utterance
lists (``*.scp``, ``utt2*``, ``segments``, ``text``) keep the chosen
utterances, ``spk2utt`` the chosen utterances of each speaker, other files
(e.g. ``spk2gender``) are copied. The dest dir is written beside its final
place and renamed, so it appears whole or not at all.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from dcsep.utils import atomic_dir

PER_UTT = ("segments", "text", "feats.scp", "reco2dur")


def chosen_ids(ids: list[str], num: int) -> list[str]:
    """``num`` ids of ``ids`` evenly spaced in sorted order (all of them when there are fewer).

    Example:
        >>> chosen_ids([f"u{i}" for i in range(10)], 4)
        ['u0', 'u3', 'u6', 'u9']
    """
    ids = sorted(ids)
    if num >= len(ids):
        return ids
    if num == 1:
        return ids[:1]
    step = (len(ids) - 1) / (num - 1)
    return [ids[int(i * step + 0.5)] for i in range(num)]


def _lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def subset(src: Path, dest: Path, num: int) -> tuple[int, int]:
    """Write the subset; returns (utterances kept, utterances in src)."""
    wav = src / "wav.scp"
    if not wav.is_file():
        raise SystemExit(f"subset_data_dir.py: error: {wav}: file not found")
    ids = [ln.split(maxsplit=1)[0] for ln in _lines(wav)]
    if len(set(ids)) != len(ids):
        raise SystemExit(f"subset_data_dir.py: error: {wav}: duplicate utterance ids")
    keep = set(chosen_ids(ids, num))
    with atomic_dir(dest) as tmp:
        for f in sorted(src.iterdir()):
            if not f.is_file() or f.name.startswith("."):
                continue
            out = tmp / f.name
            if f.suffix == ".scp" or f.name.startswith("utt2") or f.name in PER_UTT:
                text = "".join(ln + "\n" for ln in _lines(f) if ln.split(maxsplit=1)[0] in keep)
            elif f.name == "spk2utt":
                rows = []
                for ln in _lines(f):
                    spk, *utts = ln.split()
                    utts = [u for u in utts if u in keep]
                    if utts:
                        rows.append(" ".join([spk, *utts]) + "\n")
                text = "".join(rows)
            else:
                shutil.copyfile(f, out)
                continue
            out.write_text(text, encoding="utf-8")
    return len(keep), len(ids)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="subset_data_dir.py", description=__doc__.splitlines()[0])
    p.add_argument("--src", required=True, type=Path, help="data dir with wav.scp")
    p.add_argument("--dest", required=True, type=Path, help="subset data dir to write (replaced if present)")
    p.add_argument("--num", required=True, type=int, help="number of utterances to keep")
    args = p.parse_args(argv)
    if args.num < 1:
        print(f"subset_data_dir.py: error: --num must be >= 1, got {args.num}", file=sys.stderr)
        return 1
    kept, total = subset(args.src, args.dest, args.num)
    print(f"{args.dest}: {kept} of the {total} utterances of {args.src}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
