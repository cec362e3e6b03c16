#!/usr/bin/env python3
"""Gather the embedding-dimension table (the paper's Table 2) of local/table2.sh.

Reads ``<exp root>/dc_table2_<model>/decode/<set>/<method>/summary.json``
(written by dcsep-score) and each model's ``train_summary.json``, prints the
table as markdown and writes it to ``--out``. Closed speakers: the test set
whose name starts with ``tt_closed``; open: ``tt`` or a subset ``tt_sub<N>``.
The IBM / IRM rows come from whichever exp dir decoded them. Missing results
show as "-".

    python local/table2.py --exp-root exp --out exp/table2/RESULTS.md
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

from dcsep.errors import DcsepError
from dcsep.results import PAPER_TABLE2, collect
from dcsep.utils import atomic_write_text, cpu_description

PREFIX = "dc_table2_"
MODELS = ["k5", "k10", "k20", "k40", "k60", "k40_logistic", "k40_logistic_long"]
REFERENCE = "k40"  # the paired differences are against this model
CEILINGS = {"ibm": "ideal binary mask (IBM)", "irm": "ideal ratio mask (IRM)"}


def speaker_set(test_set: str) -> str | None:
    if test_set.startswith("tt_closed"):
        return "closed"
    if re.fullmatch(r"tt(_sub\d+)?", test_set):
        return "open"
    return None


def fmt(x: float) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.2f}"


def per_mixture(decode_dir: Path, metric: str = "SI-SDRi") -> dict[str, float]:
    """utt -> metric from a decode dir's scores.tsv (dcsep-score); empty when there is none."""
    path = decode_dir / "scores.tsv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        return {row["utt"]: float(row[metric]) for row in csv.DictReader(f, delimiter="\t")}


def paired_difference(a: dict[str, float], b: dict[str, float]) -> tuple[float, float] | None:
    """Mean of a - b over the mixtures both scored, and its standard error; None below 2 mixtures."""
    common = sorted(a.keys() & b.keys())
    if len(common) < 2:
        return None
    d = [a[u] - b[u] for u in common]
    mean = sum(d) / len(d)
    var = sum((x - mean) ** 2 for x in d) / (len(d) - 1)
    return mean, math.sqrt(var / len(d))


def gather(exp_root: Path) -> tuple[dict, dict, dict, dict]:
    """scores[(model or ceiling, set, method)] = (SDRi, SI-SDRi), counts[set], training[model], test set names,
    and each model's per-mixture SI-SDRi with global k-means on the open set."""
    scores, counts, training, names, per_utt = {}, {}, {}, {}, {}
    for exp in sorted(exp_root.glob(PREFIX + "*")):
        model = exp.name[len(PREFIX):]
        summary = exp / "train_summary.json"
        if summary.is_file():
            training[model] = json.loads(summary.read_text(encoding="utf-8"))
        for e in collect(exp):
            kind = speaker_set(e.test_set)
            if kind is None:
                continue
            key = e.method if e.method in CEILINGS else model
            scores[(key, kind, e.method)] = (e.mean("SDRi"), e.mean("SI-SDRi"))
            if kind == "open" and e.method == "kmeans":
                per_utt[model] = per_mixture(e.path)
            counts.setdefault(kind, set()).add(e.count)
            names.setdefault(kind, set()).add(e.test_set)
    return scores, counts, training, names, per_utt


def table(exp_root: Path) -> str:
    scores, counts, training, names, per_utt = gather(exp_root)
    if not scores:
        raise DcsepError(f"{exp_root}: no scored decode dirs under {PREFIX}*/decode; run local/table2.sh first")
    lines = [
        "| model | K | output | valid loss | closed oracle | closed global | open oracle | open global"
        f" | open global SI-SDRi - {REFERENCE} | paper SDRi (closed o / g, open o / g) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for model in MODELS + sorted(set(training) - set(MODELS)):
        if model not in training and not any(k[0] == model for k in scores):
            continue
        k = re.match(r"k(\d+)", model)
        cells = []
        for kind in ("closed", "open"):
            for method in ("oracle_kmeans", "kmeans"):
                sdr, si = scores.get((model, kind, method), (math.nan, math.nan))
                cells.append(f"{fmt(sdr)} / {fmt(si)}")
        loss = training.get(model, {}).get("averaged_valid_loss", math.nan)
        diff = paired_difference(per_utt.get(model, {}), per_utt.get(REFERENCE, {}))
        cells.append("-" if diff is None or model == REFERENCE else f"{diff[0]:+.2f} ± {diff[1]:.2f}")
        paper = " / ".join(fmt(x) for x in PAPER_TABLE2[model]) if model in PAPER_TABLE2 else "-"
        lines.append(
            f"| {model} | {k.group(1) if k else '-'} | {'logistic' if 'logistic' in model else 'tanh'} | "
            f"{'-' if math.isnan(loss) else f'{loss:.4f}'} | " + " | ".join(cells) + f" | {paper} |"
        )
    for method, label in CEILINGS.items():
        cells = []
        for kind in ("closed", "open"):
            sdr, si = scores.get((method, kind, method), (math.nan, math.nan))
            cells += [f"{fmt(sdr)} / {fmt(si)}", ""]
        if any(c.strip("- /") for c in cells):
            lines.append(f"| {label} | - | - | - | " + " | ".join(cells) + " | - | - |")
    sets = "; ".join(
        f"{kind}: {', '.join(sorted(names[kind]))} ({', '.join(map(str, sorted(counts[kind])))} mixtures)"
        for kind in ("closed", "open") if kind in names
    )
    hours = sum(t.get("train_hours", 0.0) for t in training.values())
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return "\n".join([
        "# speechocean762: embedding dimension (Table 2)",
        "",
        "Cells: SDRi / SI-SDRi, dB; oracle k-means (chunk-wise, clusters matched to the references) and global"
        " k-means; IBM / IRM in the oracle columns.",
        f"Test sets: {sets}. Valid loss: the model's loss on cv (whole utterances). The difference to {REFERENCE}:"
        " mean over the open-set mixtures of the paired SI-SDRi difference (global k-means) ± its standard error.",
        f"Training: {hours:.2f} h in all; gathered {now} on {cpu_description()}.",
        "",
        *lines,
        "",
    ])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exp-root", type=Path, default=Path("exp"))
    ap.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = ap.parse_args(argv)
    try:
        text = table(args.exp_root)
    except (DcsepError, OSError, ValueError) as e:
        print(f"table2.py: error: {e}", file=sys.stderr)
        return 1
    print(text, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
