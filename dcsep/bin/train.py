"""dcsep-train: train a deep-clustering model.

One process::

    dcsep-train --config conf/train.yaml --train-dir data/tr --valid-dir data/cv --exp-dir exp/dc --ngpu 1

N local GPUs (spawns N processes), or the same through torchrun (also multi-node)::

    dcsep-train ... --ngpu 4
    torchrun --nproc_per_node 4 -m dcsep.bin.train ... --ngpu 1
"""

from __future__ import annotations

import argparse
import os
import sys

from dcsep.errors import DcsepError, one_line


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dcsep-train",
        description="Train a deep-clustering separation model into an exp dir (model.pt = averaged best-N model).",
    )
    p.add_argument("--config", required=True, help="training YAML (model keys + training keys, see docs/training.md)")
    p.add_argument("--train-dir", required=True, help="training data dir (wav.scp, spk1.scp .. spkC.scp)")
    p.add_argument("--valid-dir", required=True, help="validation data dir (wav.scp, spk1.scp .. spkC.scp)")
    p.add_argument("--exp-dir", required=True, help="output dir")
    p.add_argument("--stats", default=None, help="feature statistics from dcsep-stats (default: computed from --train-dir)")
    p.add_argument(
        "--ngpu", type=int, default=0,
        help="0: CPU; 1: one GPU; N > 1: N local GPUs, one process each (under torchrun: one GPU per process)",
    )
    p.add_argument("--resume", action="store_true", help="continue from EXP_DIR/checkpoints/checkpoint.pt if present")
    p.add_argument("--seed", type=int, default=None, help="overrides the config's seed")
    p.add_argument("--num-workers", type=int, default=None, help="overrides the config's num_workers")
    p.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    return p


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def run(args: argparse.Namespace) -> int:
    from dcsep.train import distributed
    from dcsep.train.config import load_train_config
    from dcsep.train.trainer import Trainer, TrainingInterrupted

    try:
        model_conf, cfg = load_train_config(args.config, {"seed": args.seed, "num_workers": args.num_workers})
        Trainer(
            model_conf,
            cfg,
            args.train_dir,
            args.valid_dir,
            args.exp_dir,
            stats=args.stats,
            ngpu=args.ngpu,
            resume=args.resume,
            progress=False if args.no_progress else None,
            config_path=args.config,
        ).run()
    except TrainingInterrupted as e:
        if _rank() == 0:
            print(f"dcsep-train: {e}", file=sys.stderr)
        return 130
    except DcsepError as e:
        rank = _rank()
        prefix = f"[rank {rank}] " if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
        print(f"dcsep-train: {prefix}error: {one_line(e)}", file=sys.stderr)
        return 1
    finally:
        distributed.cleanup()
    return 0


def _spawned_main(args: argparse.Namespace) -> None:
    rc = run(args)
    if rc:
        sys.exit(rc)


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    if args.ngpu < 0:
        print("dcsep-train: error: --ngpu must be >= 0", file=sys.stderr)
        return 1
    from dcsep.train import distributed

    if args.ngpu > 1 and not distributed.under_torchrun():
        import torch

        if torch.cuda.device_count() < args.ngpu:
            print(
                f"dcsep-train: error: --ngpu {args.ngpu} but {torch.cuda.device_count()} GPU(s) visible",
                file=sys.stderr,
            )
            return 1
        try:
            distributed.spawn(_spawned_main, args.ngpu, (args,))
        except Exception:  # the failing process printed its error
            return 1
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
