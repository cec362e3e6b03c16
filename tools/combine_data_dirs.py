#!/usr/bin/env python3
"""One data dir of single-speaker utterances from several: a training pool for dynamic mixing.

    python tools/combine_data_dirs.py --dest data/pool \\
        so=data/full/train_sources tts=../tts_mix/data/small/single_tr

Each source is ``NAME=DIR``: its utterance and speaker ids get the prefix
``NAME-``, so that two corpora never share an id or a speaker (an
utterance of one can then be mixed with one of the other). ``wav.scp`` and
``utt2spk`` are needed in every dir; ``utt2activlev``, ``utt2num_samples``,
``utt2dur`` and ``text`` keep the entries of the dirs that have them
(dynamic mixing measures the level and length of an utterance without
one), and ``spk2utt`` is rebuilt. Audio entries are copied as they are (as
Kaldi's ``combine_data.sh`` does): relative paths stay relative to where the
sources were read from. The dest dir is written beside its final place and
renamed, so it appears whole or not at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dcsep.data.datadir import read_scp, write_speaker_datadir
from dcsep.errors import DcsepError
from dcsep.utils import atomic_dir

OPTIONAL = ("utt2activlev", "utt2num_samples", "utt2dur", "text")


def combine(sources: dict[str, Path], dest: Path) -> tuple[int, int]:
    """Write the combined dir; returns (utterances, speakers)."""
    wav, u2s = {}, {}
    extra: dict[str, dict[str, str]] = {n: {} for n in OPTIONAL if any((d / n).is_file() for d in sources.values())}
    for name, d in sources.items():
        if not name or any(ch.isspace() or ch == "-" for ch in name):
            raise DcsepError(f"source name {name!r}: a word without spaces or '-'")
        for req in ("wav.scp", "utt2spk"):
            if not (d / req).is_file():
                raise DcsepError(f"{d / req}: file not found")
        dw, ds = read_scp(d / "wav.scp"), read_scp(d / "utt2spk")
        missing = sorted(set(dw) - set(ds))
        if missing:
            raise DcsepError(f"{d / 'utt2spk'}: no speaker for {len(missing)} utterance(s), e.g. {missing[0]}")
        for u, path in dw.items():
            wav[f"{name}-{u}"] = path
            u2s[f"{name}-{u}"] = f"{name}-{ds[u]}"
        for n in extra:
            if (d / n).is_file():
                extra[n].update({f"{name}-{u}": v for u, v in read_scp(d / n, allow_empty=True).items() if u in dw})
    with atomic_dir(dest) as tmp:
        write_speaker_datadir(tmp, wav, u2s, extra)
    return len(wav), len(set(u2s.values()))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="combine_data_dirs.py", description=__doc__.splitlines()[0])
    p.add_argument("--dest", required=True, type=Path, help="combined data dir to write (replaced if present)")
    p.add_argument("sources", nargs="+", metavar="NAME=DIR", help="a source dir and the prefix of its ids")
    args = p.parse_args(argv)
    sources = {}
    for s in args.sources:
        name, sep, d = s.partition("=")
        if not sep or not d:
            print(f"combine_data_dirs.py: error: a source is NAME=DIR, got {s!r}", file=sys.stderr)
            return 1
        if name in sources:
            print(f"combine_data_dirs.py: error: source name {name!r} given twice", file=sys.stderr)
            return 1
        sources[name] = Path(d)
    try:
        n_utt, n_spk = combine(sources, args.dest)
    except (DcsepError, OSError) as e:
        print(f"combine_data_dirs.py: error: {e}", file=sys.stderr)
        return 1
    print(f"{args.dest}: {n_utt} utterances of {n_spk} speakers from {len(sources)} dirs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
