#!/usr/bin/env python3
"""Pick the training dataset kind of a training YAML (``--dynamic_mix`` of run.sh).

Prints the config to train with: the given one when its ``train_dataset``
already matches, else a copy with ``train_dataset`` (and its conf) switched,
written to ``--out-dir`` as ``<name>_dm.yaml`` (dynamic mixing) or
``<name>_fixed.yaml`` (chunks of the fixed ``tr`` mixtures). A dynamically
mixed config must mix ``--num-spk`` speakers (run.sh's ``--train_num_spk``,
which picks the validation set), or have it among its counts (``num_spk:
[2, 3]``); the fixed ``tr`` set has 2. ``--counts`` prints the speakers per
training mixture of a config instead (``2``, ``2 and 3``), for the results.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from dcsep.config import load_yaml
from dcsep.errors import DcsepError
from dcsep.utils import atomic_write_text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="local/train_config.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="training YAML")
    p.add_argument("--dynamic-mix", choices=["true", "false"])
    p.add_argument("--num-spk", type=int, default=2, help="speakers per training mixture")
    p.add_argument("--out-dir", help="where a switched copy goes")
    p.add_argument("--counts", action="store_true", help="print the config's speakers per training mixture and exit")
    args = p.parse_args(argv)
    if not args.counts and (args.dynamic_mix is None or args.out_dir is None):
        p.error("--dynamic-mix and --out-dir are required (unless --counts)")

    def fail(msg: str) -> int:
        print(f"{p.prog}: error: {msg}", file=sys.stderr)
        return 1

    try:
        conf = load_yaml(args.config) or {}
    except DcsepError as e:
        return fail(str(e))
    have = conf.get("train_dataset", "chunks")
    mixed = (conf.get("train_dataset_conf") or {}).get("num_spk", 2) if have == "dynamic_mix" else 2
    counts = mixed if isinstance(mixed, list) else [mixed]  # a list: each item draws its count
    if args.counts:
        print(" and ".join(map(str, counts)))
        return 0
    want = "dynamic_mix" if args.dynamic_mix == "true" else "chunks"
    if want == "chunks" and args.num_spk != 2:
        return fail(
            f"the fixed training set tr has 2-speaker mixtures; "
            f"{args.num_spk}-speaker training needs dynamic mixing (--dynamic_mix true)"
        )
    if have == "dynamic_mix" and args.num_spk not in counts:
        return fail(
            f"{args.config} mixes {mixed} speakers (train_dataset_conf.num_spk), "
            f"but {args.num_spk} were asked for (--train_num_spk)"
        )
    if have == want:
        print(args.config)
        return 0
    conf["train_dataset"] = want
    if want == "dynamic_mix":
        conf["train_dataset_conf"] = {"num_spk": args.num_spk, "gain_db_range": [0.0, 5.0]}
    else:
        conf["train_dataset_conf"] = {}
    src = Path(args.config)
    out = Path(args.out_dir) / f"{src.stem}_{'dm' if want == 'dynamic_mix' else 'fixed'}.yaml"
    text = f"# {src} with train_dataset: {want} (written by local/train_config.py)\n" + yaml.safe_dump(
        conf, sort_keys=False, default_flow_style=None
    )
    if not out.is_file() or out.read_text(encoding="utf-8") != text:
        atomic_write_text(out, text)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
