"""dcsep-mix: 1-, 2- and 3-speaker test sets from a folder of single-speaker recordings.

    dcsep-mix --input my_recordings/ --out-dir data/mine [--utt2spk utt2spk] [--num-spk 1 2 3]
              [--num-mixtures 150 150 100] [--seed 0] [--snr 0 5] [--fs 8000]
    dcsep-mix --input my_recordings/ --out-dir data/mine2 --from-list data/mine/mix_lists

Writes ``<out-dir>/tt_2spk``, ``tt_3spk`` (and ``tt_1spk``) as Kaldi-style data
dirs for ``dcsep-decode`` and ``dcsep-score``, the mix lists that decide them
(``mix_lists/``) and a README.md; see :mod:`dcsep.data.testset` and
docs/testsets.md.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from dcsep.errors import DcsepError


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dcsep-mix",
        description="Mix clean single-speaker recordings into 2- and 3-speaker test sets "
        "(wsj0-mix scaling, lists drawn from a seed).",
    )
    p.add_argument("--input", required=True, help="folder of audio files (searched recursively) or a wav.scp")
    p.add_argument("--out-dir", required=True, help="output root (one data dir per set, audio/, mix_lists/)")
    spk = p.add_mutually_exclusive_group()
    spk.add_argument("--utt2spk", help="'<utt-id> <speaker>' lines (for a folder the ids are the file stems)")
    spk.add_argument("--spk-from-folder", action="store_true", help="each file's speaker is its folder's name")
    p.add_argument("--num-spk", type=int, nargs="+", default=None, help="speakers per mixture, one set each; "
                   "1 = single utterances (default: 2 3)")  # fmt: skip
    p.add_argument("--num-mixtures", type=int, nargs="+", default=None,
                   help="items per set: one number for all, or one per --num-spk (default: 150 for 1 and 2, 100 for 3+)")  # fmt: skip
    p.add_argument("--seed", type=int, default=None, help="random seed of the draw (default: 0)")
    p.add_argument("--snr", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="relative level of the first two sources, dB (default: 0 5)")  # fmt: skip
    p.add_argument("--fs", type=int, default=8000, help="output sample rate (inputs are resampled; default 8000)")
    p.add_argument("--mode", choices=["min", "max"], default="min", help="cut to the shortest source or pad (default min)")
    p.add_argument("--name", default="tt", help="set-name prefix: NAME_2spk, ... (default: tt)")
    p.add_argument("--from-list", help="a mix_lists dir to rebuild exactly those sets (instead of drawing)")
    p.add_argument("--overwrite", action="store_true", help="replace an --out-dir built earlier with other settings")
    p.add_argument("--nj", type=int, default=1, help="parallel processes")
    return p


def main(argv=None) -> int:
    p = get_parser()
    args = p.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    if args.from_list and (args.num_spk or args.num_mixtures or args.seed is not None or args.snr):
        print("dcsep-mix: error: --from-list decides the sets; drop --num-spk, --num-mixtures, --seed and --snr",
              file=sys.stderr)  # fmt: skip
        return 2
    num_spk = args.num_spk or [2, 3]
    counts = args.num_mixtures or [150 if c <= 2 else 100 for c in num_spk]
    if len(counts) == 1:
        counts = counts * len(num_spk)
    try:
        from dcsep.data.testset import build_testset

        build_testset(
            args.input,
            args.out_dir,
            num_spk=num_spk,
            counts=counts,
            seed=0 if args.seed is None else args.seed,
            snr_db=tuple(args.snr or (0.0, 5.0)),
            fs=args.fs,
            mode=args.mode,
            name=args.name,
            utt2spk=args.utt2spk,
            spk_from_folder=args.spk_from_folder,
            from_list=args.from_list,
            overwrite=args.overwrite,
            nj=max(1, args.nj),
            command=shlex.join(["dcsep-mix", *argv]),
            log=lambda msg: print(msg, file=sys.stderr, flush=True),
        )
    except DcsepError as e:
        print(f"dcsep-mix: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
