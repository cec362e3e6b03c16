"""dcsep-stats: feature normalisation statistics from the mixtures of a data dir.

    dcsep-stats --data-dir data/tr --config conf/train.yaml --out exp/stats.pt [--max-utts 1000]

Writes a torch file ``{"mean": (F,), "std": (F,), "num_utts": int}`` (loadable
with ``weights_only=True``) for ``dcsep-train --stats``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from dcsep.errors import ConfigError, DataError, DcsepError

#: a bin whose std is at most this (in the log-magnitude's units) is constant
STD_FLOOR = 1e-6


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dcsep-stats", description="Per-bin mean and std of the log-magnitude features of a data dir's mixtures."
    )
    p.add_argument("--data-dir", required=True, help="data dir with wav.scp")
    p.add_argument("--config", required=True, help="model or training YAML (its frontend is used)")
    p.add_argument("--out", required=True, help="output torch file")
    p.add_argument("--max-utts", type=int, default=None, help="use at most N utterances, spread evenly over wav.scp")
    return p


def compute(data_dir: str, config: str, out: str, max_utts: int | None = None, progress: bool | None = None) -> int:
    """Compute and write the statistics; return the number of utterances used."""
    from dcsep.config import load_yaml
    from dcsep.data.audio import load_audio
    from dcsep.data.datadir import DataDir
    from dcsep.model import DeepClustering
    from dcsep.train.config import split_config
    from dcsep.train.reporting import ProgressBar
    from dcsep.bin.outdir import check_dir_path
    from dcsep.utils import atomic_torch_save

    if Path(out).is_dir():
        raise ConfigError(f"--out {out}: a directory; give a file name such as {Path(out) / 'stats.pt'}")
    check_dir_path(out, "--out", parents_only=True)  # before any work

    # the whole training config is checked, so that its mistakes show before the statistics are computed
    model_conf, _ = split_config(load_yaml(config), where=config, check_model=False)
    model = DeepClustering.from_config(model_conf, where=config)
    fe = model.frontend
    dd = DataDir.load(data_dir)
    utts = dd.utt_ids
    if max_utts is not None:
        if max_utts < 1:
            raise ConfigError(f"--max-utts must be >= 1, got {max_utts}")
        if max_utts < len(utts):
            idx = np.unique(np.linspace(0, len(utts) - 1, max_utts).round().astype(int))
            utts = [utts[i] for i in idx]
    bar = ProgressBar(progress)
    silent = []

    def wavs():
        for i, utt in enumerate(utts, 1):
            wav = load_audio(dd.wav[utt], fs=fe.fs, name=f"{dd.path / 'wav.scp'}: {utt}")[0]
            if not np.any(wav):
                silent.append(utt)
            yield wav
            bar.update(i, len(utts), "utterances")

    mean, std = fe.compute_stats(wavs())
    bar.clear()
    check_stats(std, silent, len(utts), dd.path / "wav.scp")
    atomic_torch_save({"mean": mean, "std": std, "num_utts": len(utts)}, out)
    return len(utts)


def check_stats(std, silent: list[str], num_utts: int, where) -> None:
    """Refuse statistics of data with no active frames; warn about silent utterances and constant bins."""
    std = np.asarray(std, dtype=np.float64)
    if len(silent) == num_utts or not np.any(std > STD_FLOOR):
        what = f"all {num_utts} utterances are silent (all zeros)" if len(silent) == num_utts else "every bin is constant"
        raise DataError(f"{where}: {what}: no active frames to compute feature statistics from; check the data dir")
    if silent:
        print(f"dcsep-stats: warning: {len(silent)} of {num_utts} utterances of {where} are silent (all zeros), "
              f"e.g. {silent[0]}; they count in the statistics", file=sys.stderr)
    flat = int((std <= STD_FLOOR).sum())
    if flat:
        print(f"dcsep-stats: warning: {flat} of {len(std)} frequency bins have std 0 (constant features, e.g. "
              "silent or band-limited data); training divides them by a floored std", file=sys.stderr)


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    try:
        n = compute(args.data_dir, args.config, args.out, args.max_utts)
    except DcsepError as e:
        print(f"dcsep-stats: error: {e}", file=sys.stderr)
        return 1
    print(f"dcsep-stats: statistics of {n} utterances written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
