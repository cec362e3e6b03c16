#!/usr/bin/env python3
"""A model file from a training checkpoint (the weights at the step it was written, no averaging).

For a run stopped before its end (SIGTERM writes ``checkpoints/checkpoint.pt``
and the run resumes from it with ``--resume``): the model as it stands, to
decode or score before the run goes on.

    python local/checkpoint_model.py exp/dc_robust/checkpoints/checkpoint.pt exp/dc_robust/model_step.pt
"""

from __future__ import annotations

import argparse
import sys

from dcsep.errors import DcsepError
from dcsep.model import DeepClustering
from dcsep.train.checkpoint import load_checkpoint
from dcsep.train.config import split_config


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("out")
    args = p.parse_args(argv)
    try:
        ckpt = load_checkpoint(args.checkpoint, map_location="cpu")
        model_conf, _ = split_config(ckpt["config"], args.checkpoint)
        model = DeepClustering.from_config(model_conf, args.checkpoint)
        model.load_state_dict(ckpt["model"])
        model.save(args.out, extra={"checkpoint": str(args.checkpoint)})
    except DcsepError as e:
        print(f"checkpoint_model.py: {e}", file=sys.stderr)
        return 1
    state = ckpt.get("state", {})
    print(f"{args.out}: weights of {args.checkpoint} (epoch {state.get('epoch', '?')}, global step {state.get('global_step', '?')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
