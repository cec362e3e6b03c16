#!/usr/bin/env python3
"""Score several models on the same mixtures and report paired SI-SDRi differences.

The robust-training ablation (docs/results.md, "Robust training"): every arm
(a model file, or ``ibm``: the ideal binary mask with the first model's
STFT) separates every mixture of every set with ``Separator.separate`` (one
mixture at a time, the model's default clusterer, the set's own number of
speakers), and each mixture's SI-SDRi (mean over its sources, permutation
invariant) goes to ``<out>/<arm>/<set>.tsv``. A set named ``NAME@G`` is
the set ``NAME`` with every mixture scaled by G dB (SI-SDRi is scale
invariant, so a change is the model's sensitivity to the input level). A set
named ``NAME+padS`` (``cv+pad3``; it combines with ``@G``: ``cv+pad3@-30``)
is ``NAME`` with S seconds of quiet noise before and after each mixture,
``NAME+colour`` each mixture through a random channel (:mod:`dcsep.data.conditions`):
a recording with long pauses, or another microphone, to validate on.
``--arm-conf NAME='{chunk_frames: 400}'`` gives an arm its own ``Separator``
options (an arm is a model and how it is run).

``<out>/summary.md`` gets the mean SI-SDRi of each arm and set and, for each
arm, its paired difference against ``--reference`` over the same mixtures:
mean +- standard error (std / sqrt(n)); a set not yet done counts with the
mixtures scored so far (its ``.part`` file). Scores are written as they come
(``<set>.tsv.part`` until the set is done): a rerun only scores what is missing.

    python local/robust_ablation.py --out exp/robust_ablation --reference released \\
        --arm released=exp/dc_attractor/model.pt --arm control=exp/dc_robust_control/model.pt \\
        --set cv=data/full/cv_sub200 --set tt=data/full/tt_sub200
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from dcsep.config import parse_mapping
from dcsep.data.audio import load_audio
from dcsep.data.conditions import Condition, parse_condition
from dcsep.data.datadir import DataDir
from dcsep.errors import DcsepError
from dcsep.metrics import si_sdr, si_sdr_pit
from dcsep.oracle import oracle_separate
from dcsep.separate import Separator, load_model_package
from dcsep.utils import atomic_write_text, cpu_description


def parse_pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for it in items:
        name, sep, value = it.partition("=")
        if not sep or not name or not value:
            raise SystemExit(f"robust_ablation.py: --{what} NAME=VALUE, got {it!r}")
        out[name] = value
    return out


def load_set(data_dir: Path) -> list[tuple[str, str, list[str]]]:
    """(utt, mixture path, [source paths]) of a Kaldi-style mixture dir."""
    d = DataDir.load(data_dir, require_sources=True)
    return [(u, d.wav[u], [s[u] for s in d.spk]) for u in sorted(d.wav)]


def score_arm_set(arm: str, model: str, set_dir: Path, cond: Condition, out: Path, fe_model: str, fs: int,
                  sep_conf: dict | None = None) -> None:
    """Score one arm on one set into ``out`` (rows go to ``out``.part as they come; a rerun goes on from there)."""
    if out.is_file():
        return
    items = load_set(set_dir)
    part = out.with_name(out.name + ".part")
    done = read_tsv(part)
    sep = None if arm == "ibm" else Separator.from_pretrained(model, device="cpu", **(sep_conf or {}))
    fe = load_model_package(fe_model)[0].frontend if arm == "ibm" else None
    out.parent.mkdir(parents=True, exist_ok=True)
    if not part.is_file():
        part.write_text("utt\tSI-SDRi\n", encoding="utf-8")
    t0 = time.monotonic()
    with part.open("a", encoding="utf-8") as f:
        for k, (utt, mix_path, src_paths) in enumerate(items, 1):
            if utt in done:
                continue
            mix = load_audio(mix_path, fs=fs, name=utt)[0].astype(np.float64)
            refs = np.stack([load_audio(p, fs=fs, name=utt)[0] for p in src_paths]).astype(np.float64)
            mix, refs = cond.apply(utt, mix, refs, fs)
            x = mix.astype(np.float32)
            if sep is None:
                est = oracle_separate(x, refs.astype(np.float32), fe, "ibm")
            else:
                est = sep.separate(x, num_spk=len(src_paths))
            vals, _ = si_sdr_pit(refs, est.astype(np.float64))
            base = si_sdr(refs, np.broadcast_to(mix, refs.shape))
            done[utt] = float(np.mean(vals - base))
            f.write(f"{utt}\t{done[utt]:.4f}\n")
            f.flush()
            if k % 25 == 0:
                print(f"{arm} {out.stem}: {k}/{len(items)} ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
    atomic_write_text(out, "utt\tSI-SDRi\n" + "".join(f"{u}\t{done[u]:.4f}\n" for u, _, _ in items))
    part.unlink()


def read_tsv(path: Path) -> dict[str, float]:
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        return {r["utt"]: float(r["SI-SDRi"]) for r in csv.DictReader(f, delimiter="\t")}


def paired(a: dict[str, float], b: dict[str, float]) -> str:
    common = sorted(a.keys() & b.keys())
    if len(common) < 2:
        return "-"
    d = np.array([a[u] - b[u] for u in common])
    return f"{d.mean():+.2f} +- {d.std(ddof=1) / math.sqrt(len(d)):.2f}"


def summary(out: Path, arms: dict[str, str], sets: dict[str, str], reference: str, command: str) -> str:
    names = list(sets)
    scores = {(a, s): read_tsv(out / a / f"{s}.tsv") or read_tsv(out / a / f"{s}.tsv.part") for a in arms for s in names}
    counts = {s: max((len(scores[a, s]) for a in arms), default=0) for s in names}
    head = "| arm | " + " | ".join(f"{s} ({counts[s]})" for s in names) + " |"
    rule = "| --- |" + " ---: |" * len(names)
    lines = ["## Mean SI-SDRi (dB)", "", head, rule]
    for a in arms:
        cells = [f"{np.mean(list(scores[a, s].values())):.2f}" if scores[a, s] else "-" for s in names]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    lines += ["", f"## Paired SI-SDRi difference against `{reference}` (dB, mean +- standard error)", "", head, rule]
    for a in arms:
        if a in (reference, "ibm"):
            continue
        lines.append(f"| {a} | " + " | ".join(paired(scores[a, s], scores[reference, s]) for s in names) + " |")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines += ["", f"Arms: " + "; ".join(f"`{a}` = `{p}`" for a, p in arms.items()) + ".",
              "Sets: " + "; ".join(f"`{s}` = `{p}`" for s, p in sets.items()) + ".",
              f"Machine: {cpu_description()}, torch {torch.__version__}, {torch.get_num_threads()} thread(s); {when}.",
              f"Command: `{command}`", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--arm", action="append", default=[], help="NAME=MODEL (a model file or dir), or ibm=ibm")
    p.add_argument("--set", action="append", default=[], help="NAME=DATA_DIR, NAME@GAIN_DB=DATA_DIR, NAME+padS=DATA_DIR")
    p.add_argument("--arm-conf", action="append", default=[], help="NAME=YAML: Separator options of an arm, e.g. "
                   "c400='{chunk_frames: 400}'")
    p.add_argument("--reference", required=True, help="the arm the paired differences are taken against")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--summary-only", action="store_true", help="write summary.md from the TSVs there are")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    arms, sets = parse_pairs(args.arm, "arm"), parse_pairs(args.set, "set")
    arm_confs = {a: parse_mapping(c, f"--arm-conf {a}") for a, c in parse_pairs(args.arm_conf, "arm-conf").items()}
    if set(arm_confs) - set(arms):
        raise SystemExit(f"robust_ablation.py: --arm-conf for unknown arm(s) {', '.join(sorted(set(arm_confs) - set(arms)))}")
    if args.reference not in arms:
        raise SystemExit(f"robust_ablation.py: --reference {args.reference!r} is not among the arms")
    models = [m for a, m in arms.items() if a != "ibm"]
    if not models:
        raise SystemExit("robust_ablation.py: at least one model arm")
    command = "python local/robust_ablation.py " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        fs = load_model_package(models[0])[0].fs
        if not args.summary_only:
            for s, d in sets.items():
                cond = parse_condition(s)[1]
                for a, m in arms.items():
                    score_arm_set(a, m, Path(d), cond, args.out / a / f"{s}.tsv", models[0], fs, arm_confs.get(a))
                    print(f"done: {a} {s}", file=sys.stderr, flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        text = summary(args.out, arms, sets, args.reference, command)
        atomic_write_text(args.out / "summary.md", text)
        print(text)
    except DcsepError as e:
        print(f"robust_ablation.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
