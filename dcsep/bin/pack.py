"""dcsep-pack: pack a trained model for sharing as ``<out-dir>/<name>/`` (model.pt + README.md).

    dcsep-pack egs/speechocean762/exp/dc_blstm --name speechocean762_blstm --dtype float16

The source is an exp dir (its ``model.pt``, the averaged model, and its
``RESULTS.md`` for the model card) or a model file. ``model.pt`` holds the
config, the weights (``--dtype float16`` halves the file; the feature
statistics stay float32 and the model loads as float32) and what training
stored; ``README.md`` is the model card: use, architecture, parameters and
size, training data and command, the results table, date and machine.
Nothing is written when the output would exceed ``--max-mb`` (16 MB).
"""

from __future__ import annotations

import argparse
import sys

from dcsep.errors import DcsepError

PROG = "dcsep-pack"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Pack a trained model (exp dir or model file) for sharing.")
    p.add_argument("source", help="exp dir (with model.pt, and RESULTS.md for the card) or model file")
    p.add_argument("--name", help="pretrained model name (default: the exp dir's name or the file's stem)")
    p.add_argument("--out-dir", default="pretrained", help="where <name>/ is written (default: pretrained)")
    p.add_argument(
        "--dtype", default="float32", choices=("float32", "float16", "bfloat16"),
        help="dtype of the stored weights (default float32); feature statistics stay float32",
    )
    p.add_argument("--results", help="RESULTS.md to copy into the card (default: <exp dir>/RESULTS.md)")
    p.add_argument("--data", help="one sentence on the training data, for the card")
    p.add_argument("--command", help="the recipe command that trained it (default: from the results' 'Command:')")
    p.add_argument("--description", help="a paragraph put first in the card")
    p.add_argument("--clusterer", help="default clusterer stored with the model (default: the training config's)")
    p.add_argument("--clusterer-conf", help="YAML mapping of its options, e.g. '{alpha: 3.0}'")
    p.add_argument(
        "--count-conf",
        help="YAML mapping of the speaker count's options stored with the model, e.g. '{thresholds: [2.7, 3.8]}', "
        "or a YAML file of it (bench/bench_count.py --select --write-conf)",
    )
    p.add_argument("--max-mb", type=float, default=16.0, help="refuse output larger than this many MB (default 16)")
    p.add_argument("--force", action="store_true", help="replace an existing <out-dir>/<name>")
    return p


def read_if_file(text: str | None) -> str | None:
    """The text of the file ``text`` names (a YAML count_conf written by bench_count.py), else ``text`` itself."""
    from pathlib import Path

    if text and not text.lstrip().startswith("{") and Path(text).is_file():
        return Path(text).read_text()
    return text


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    from dcsep.config import parse_mapping
    from dcsep.pretrained import CARD_FILE, MODEL_FILE, pack

    try:
        conf = parse_mapping(args.clusterer_conf, "--clusterer-conf")
        count_conf = parse_mapping(read_if_file(args.count_conf), "--count-conf")
        dest = pack(
            args.source, out_dir=args.out_dir, name=args.name, dtype=args.dtype, results=args.results,
            data=args.data, command=args.command, description=args.description,
            max_bytes=int(args.max_mb * 10**6), force=args.force, clusterer=args.clusterer, clusterer_conf=conf,
            count_conf=count_conf,
        )
    except DcsepError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    size = (dest / MODEL_FILE).stat().st_size
    print(f"{PROG}: wrote {dest}/{MODEL_FILE} ({size / 10**6:.2f} MB, {args.dtype}) and {dest}/{CARD_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
