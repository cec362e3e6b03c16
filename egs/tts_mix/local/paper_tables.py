#!/usr/bin/env python3
"""Collect the paper's four tables from the exp dirs of local/paper_tables.sh.

Reads ``<exp root>/dc_tables_<model>/decode/<set>/<method>/summary.json``
(written by dcsep-score), the models' ``train_summary.json`` and the stage
logs (for wall times), and writes the tables into ``--out`` between the
markers ``<!-- tables -->`` and ``<!-- /tables -->``; the text outside the
markers (introduction, discussion) is kept. A file without the markers gets
a short header and the markers. Missing results show as "-".

    python local/paper_tables.py --exp-root exp --data-dir data/tables --out ../../docs/results.md
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

from dcsep.errors import DcsepError
from dcsep.results import PAPER_TABLE2, Entry, collect
from dcsep.utils import atomic_write_text, cpu_description

BEGIN, END = "<!-- tables -->", "<!-- /tables -->"
PREFIX = "dc_tables_"
CLOSED2, OPEN2, CLOSED3, OPEN3 = "tt_closed_2spk", "tt_2spk", "tt_closed_3spk", "tt_3spk"

# The paper's figures (SDR improvement, dB), Hershey et al. 2016, Tables 1, 3, 4 (Table 2: dcsep.results).
PAPER_T1 = {"oracle_kmeans": (6.54, 6.45), "oracle_spectral": (6.35, 6.26), "kmeans": (5.87, 5.81)}
PAPER_T3 = {  # method: {set: (m+m, f+f, f+m, all)}, the "whole" training set rows
    "oracle_kmeans": {"closed": (3.79, 4.29, 9.04, 6.54), "open": (4.49, 3.21, 8.69, 6.45)},
    "kmeans": {"closed": (2.54, 2.85, 9.07, 5.87), "open": (3.51, 1.42, 8.57, 5.80)},
}
PAPER_T4 = {"oracle_kmeans": (3.50, 2.81), "kmeans": (2.74, 2.22)}

LABELS = {
    "oracle_kmeans": "DC oracle k-means",
    "oracle_spectral": "DC oracle spectral",
    "kmeans": "DC global k-means",
    "spectral": "DC global spectral",
    "ibm": "ideal binary mask (IBM)",
    "irm": "ideal ratio mask (IRM)",
}
MODEL_LABELS = {
    "k40": "K = 40",
    "k40_3spk": "K = 40, 3-speaker training",
    "k5": "K = 5",
    "k10": "K = 10",
    "k20": "K = 20",
    "k60": "K = 60",
    "k40_logistic": "K = 40 logistic",
}
SWEEP = ["k5", "k10", "k20", "k40", "k60", "k40_logistic"]
COMMAND = "cd egs/tts_mix && local/paper_tables.sh"


def fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


class Results:
    """Scores of every table model under ``exp_root``."""

    def __init__(self, exp_root: Path):
        self.exp_root = exp_root
        self.entries: dict[str, dict[tuple[str, str], Entry]] = {}
        for d in sorted(exp_root.glob(PREFIX + "*")):
            if d.is_dir():
                self.entries[d.name[len(PREFIX) :]] = {(e.test_set, e.method): e for e in collect(d)}

    def get(self, model: str, test_set: str, method: str) -> Entry | None:
        if method in ("ibm", "irm"):  # the ceilings do not depend on the model: the K = 40 model's dirs
            model = "k40"
        return self.entries.get(model, {}).get((test_set, method))

    def mean(self, model: str, test_set: str, method: str, metric: str, group=None) -> float | None:
        e = self.get(model, test_set, method)
        if e is None:
            return None
        v = e.mean(metric, group)
        return v if math.isfinite(v) else None

    def count(self, model: str, test_set: str, method: str, group=None) -> int:
        e = self.get(model, test_set, method)
        if e is None:
            return 0
        if group is None:
            return e.count
        return int(e.summary.get("breakdown", {}).get(group[0], {}).get(group[1], {}).get("count", 0))

    def pair(self, model: str, test_set: str, method: str, group=None) -> list[str]:
        """[SDRi, SI-SDRi] cells."""
        return [fmt(self.mean(model, test_set, method, m, group)) for m in ("SDRi", "SI-SDRi")]


def log_seconds(exp_dir: Path, pattern: str = "stage[45]_*.log") -> float:
    """Wall time of the stages of an exp dir (default: decoding and scoring) from the '# started' /
    '# finished' pairs of its logs."""
    total = 0.0
    for log in sorted((exp_dir / "logs").glob(pattern)):
        start = None
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            m = re.match(r"# (started|finished) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", line)
            if not m:
                continue
            t = datetime.strptime(m.group(2), "%Y-%m-%d %H:%M:%S")
            if m.group(1) == "started":
                start = t
            elif start is not None:
                total += (t - start).total_seconds()
                start = None
    return total


def train_summary(exp_dir: Path) -> dict:
    p = exp_dir / "train_summary.json"
    try:
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}
    except ValueError:
        return {}


def n_lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()) if path.is_file() else 0


def table_setup(res: Results, data_dir: Path) -> list[str]:
    lines = ["### Set-up", ""]
    sets = ["tr_2spk", "cv_2spk", CLOSED2, OPEN2, "tr_3spk", "cv_3spk", CLOSED3, OPEN3]
    counts = ", ".join(f"{s} {n_lines(data_dir / s / 'wav.scp')}" for s in sets if (data_dir / s / "wav.scp").is_file())
    lines += [
        f"Corpus: `egs/tts_mix/conf/tables/data.yaml`, data dirs `{data_dir}` (mixtures per set: {counts or 'not generated'}).",
        "",
        "| model | config | trained on | epochs | steps | best valid loss | training (min) | decoding + scoring (min) | date |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for model in sorted(res.entries, key=lambda m: list(MODEL_LABELS).index(m) if m in MODEL_LABELS else 99):
        d = res.exp_root / (PREFIX + model)
        s = train_summary(d)
        cfg = f"train_{model.removesuffix('_3spk')}.yaml"
        date = (
            datetime.fromtimestamp((d / "train_summary.json").stat().st_mtime, timezone.utc).strftime("%Y-%m-%d")
            if (d / "train_summary.json").is_file()
            else "-"
        )
        lines.append(
            f"| {MODEL_LABELS.get(model, model)} | `conf/tables/{cfg}` | {Path(s.get('train_dir', '-')).name} | "
            f"{s.get('epochs', '-')} | {s.get('steps', '-')} | {fmt(s.get('best_valid_loss'), 4)} | "
            f"{fmt(60 * s['train_hours'], 1) if 'train_hours' in s else '-'} | {fmt(log_seconds(d) / 60, 1)} | {date} |"
        )
    total = sum(log_seconds(res.exp_root / (PREFIX + m)) for m in res.entries)
    train = sum(60 * train_summary(res.exp_root / (PREFIX + m)).get("train_hours", 0.0) for m in res.entries)
    lines += [
        "",
        f"Wall time of all models: training {train:.1f} min, decoding and scoring {total / 60:.1f} min (training time",
        "from `train_summary.json`, summed over interrupted and resumed parts; decoding and scoring from the",
        "stage logs).",
        "",
    ]
    return lines


def table1(res: Results) -> list[str]:
    lines = [
        "### Table 1: clustering methods, closed and open speaker sets",
        "",
        "Model K = 40 (tanh, `conf/tables/train_k40.yaml`), 2-speaker test sets. Oracle: each 100-frame chunk clustered on its own, chunks aligned",
        "with the oracle permutation; global: the whole utterance clustered at once.",
        "",
        f"| method | closed SDRi | closed SI-SDRi | open SDRi | open SI-SDRi | paper SDRi closed / open |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in ("oracle_kmeans", "oracle_spectral", "kmeans", "spectral", "ibm", "irm"):
        p = PAPER_T1.get(m)
        paper = f"{p[0]:.2f} / {p[1]:.2f}" if p else "-"
        lines.append(f"| {LABELS[m]} | " + " | ".join(res.pair("k40", CLOSED2, m) + res.pair("k40", OPEN2, m)) + f" | {paper} |")
    n = [res.count("k40", s, "ibm") or res.count("k40", s, "kmeans") for s in (CLOSED2, OPEN2)]
    sdr_in = [fmt(res.mean("k40", s, "ibm", "SDR_mix")) for s in (CLOSED2, OPEN2)]
    lines += ["", f"Mixtures: closed {n[0]}, open {n[1]}; input SDR {sdr_in[0]} / {sdr_in[1]} dB (paper: 0.16 dB).", ""]
    return lines


def table2(res: Results) -> list[str]:
    lines = [
        "### Table 2: embedding dimension K and output activation",
        "",
        "The same network and schedule apart from K and the output activation. Open speaker set (tt_2spk).",
        "Valid loss: the best epoch's validation loss (whole cv_2spk utterances).",
        "",
        "| model | oracle SDRi | oracle SI-SDRi | global SDRi | global SI-SDRi | best valid loss | paper open oracle / global |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model in SWEEP:
        s = train_summary(res.exp_root / (PREFIX + model))
        p = PAPER_TABLE2[model]
        lines.append(
            f"| {MODEL_LABELS[model]} | "
            + " | ".join(res.pair(model, OPEN2, "oracle_kmeans") + res.pair(model, OPEN2, "kmeans"))
            + f" | {fmt(s.get('best_valid_loss'), 4)} | {p[2]:.2f} / {p[3]:.2f} |"
        )
    ibm = res.pair("k40", OPEN2, "ibm")
    lines += ["", f"Ideal binary mask on the same set: SDRi {ibm[0]}, SI-SDRi {ibm[1]}.", ""]
    return lines


def read_map(path: Path) -> dict[str, str]:
    """``key value...`` lines of a Kaldi-style file (missing file: empty)."""
    out = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            f = line.split(maxsplit=1)
            if len(f) == 2:
                out[f[0]] = f[1].strip()
    return out


def pair_groups(data_dir: Path, test_set: str) -> dict[str, dict[str, str]]:
    """utt -> group for each grouping of Table 3: the voice variants' genders (``utt2gender``, or from
    ``utt2spks`` and ``local/spk2gender``) and the speakers' pitch classes (``utt2category``)."""
    d = data_dir / test_set
    gender = read_map(d / "utt2gender")
    if not gender:
        spk2gender = read_map(data_dir / "local" / "spk2gender")
        for utt, spks in read_map(d / "utt2spks").items():
            g = [spk2gender.get(s) for s in spks.split()]
            if all(g):
                gender[utt] = "+".join(sorted(g))  # f+f, f+m, m+m as wsj0-mix lists write them
    return {"utt2gender": gender, "utt2category": read_map(d / "utt2category")}


def group_means(entry: Entry | None, mapping: dict[str, str]) -> dict[str, tuple[int, float, float]]:
    """group -> (count, mean SDRi, mean SI-SDRi) from the decode dir's scores.tsv."""
    if entry is None or not (entry.path / "scores.tsv").is_file():
        return {}
    lines = (entry.path / "scores.tsv").read_text(encoding="utf-8").splitlines()
    cols = lines[0].split("\t")
    i, j = cols.index("SDRi"), cols.index("SI-SDRi")
    acc: dict[str, list[tuple[float, float]]] = {}
    for line in lines[1:]:
        f = line.split("\t")
        if len(f) == len(cols) and f[0] in mapping:
            acc.setdefault(mapping[f[0]], []).append((float(f[i]), float(f[j])))
    return {k: (len(v), sum(a for a, _ in v) / len(v), sum(b for _, b in v) / len(v)) for k, v in acc.items()}


def table3(res: Results, data_dir: Path) -> list[str]:
    lines = [
        "### Table 3: by speaker pair",
        "",
        "Model K = 40. Cells: SDRi / SI-SDRi (dB); the number of mixtures of each group in the header. Gender: of the",
        "eSpeak NG voice variants (f+f, f+m, m+m); pitch: each speaker's measured median f0 below or above 150 Hz",
        "(`utt2category`: low-low, low-high, high-high). The paper's columns are m+m, f+f, f+m, all.",
        "",
    ]
    for fname, keys, title in (
        ("utt2gender", ["m+m", "f+f", "f+m"], "gender of the voice variants"),
        ("utt2category", ["low-low", "high-high", "low-high"], "pitch class (median f0 < or >= 150 Hz)"),
    ):
        for kind, test_set in (("closed", CLOSED2), ("open", OPEN2)):
            mapping = pair_groups(data_dir, test_set)[fname]
            groups = {m: group_means(res.get("k40", test_set, m), mapping) for m in ("oracle_kmeans", "kmeans", "ibm", "irm")}
            counts = [max((g.get(k, (0,))[0] for g in groups.values()), default=0) for k in keys]
            if not any(counts):
                continue
            lines += [f"By {title}, {kind} speaker set ({test_set}):", ""]
            head = [f"{k} ({c})" for k, c in zip(keys, counts)] + [f"all ({res.count('k40', test_set, 'ibm')})"]
            lines += ["| method | " + " | ".join(head) + " |", "| --- | " + " | ".join("---:" for _ in head) + " |"]
            for m, g in groups.items():
                cells = [f"{fmt(g[k][1])} / {fmt(g[k][2])}" if k in g else "- / -" for k in keys]
                cells.append(" / ".join(res.pair("k40", test_set, m)))
                lines.append(f"| {LABELS[m]} | " + " | ".join(cells) + " |")
                if fname == "utt2gender" and m in PAPER_T3:
                    p = PAPER_T3[m][kind]
                    lines.append(f"| paper: {LABELS[m]} (SDRi) | " + " | ".join(f"{x:.2f}" for x in p) + " |")
            lines.append("")
    return lines


def table4(res: Results) -> list[str]:
    lines = [
        "### Table 4: 3-speaker mixtures",
        "",
        "The K = 40 model trained on 2-speaker mixtures, decoded with 3 clusters, and the same network trained on",
        "3-speaker mixtures (`--train_num_spk 3`). The paper's figures are for its 2-speaker model.",
        "",
        "| training | method | closed SDRi | closed SI-SDRi | open SDRi | open SI-SDRi | paper SDRi closed / open |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model, name in (("k40", "2 speakers"), ("k40_3spk", "3 speakers")):
        for m in ("oracle_kmeans", "kmeans"):
            p = PAPER_T4[m] if model == "k40" else None
            paper = f"{p[0]:.2f} / {p[1]:.2f}" if p else "-"
            cells = res.pair(model, CLOSED3, m) + res.pair(model, OPEN3, m)
            lines.append(f"| {name} | {LABELS[m]} | " + " | ".join(cells) + f" | {paper} |")
    for m in ("ibm", "irm"):
        lines.append(f"| - | {LABELS[m]} | " + " | ".join(res.pair("k40", CLOSED3, m) + res.pair("k40", OPEN3, m)) + " | - |")
    n = [res.count("k40", s, "ibm") for s in (CLOSED3, OPEN3)]
    sdr_in = [fmt(res.mean("k40", s, "ibm", "SDR_mix")) for s in (CLOSED3, OPEN3)]
    lines += ["", f"Mixtures: closed {n[0]}, open {n[1]}; input SDR {sdr_in[0]} / {sdr_in[1]} dB (paper: printed as 2.95 dB; three equal-level sources give about -3 dB).", ""]
    return lines


def tables_markdown(res: Results, data_dir: Path, command: str = COMMAND) -> str:
    import torch

    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {cpu_description()} (CPU only; shared with other jobs, run at nice 15); torch {torch.__version__}; "
        f"tables gathered {date}.  ",
        "GPU: not yet measured (no GPU was available for these runs).",
        "",
        "All figures are means over the test set in dB: SDRi (bss_eval v3 SDR improvement over the mixture, the",
        "paper's metric) and SI-SDRi (scale-invariant SDR improvement). \"-\": not run.",
        "",
    ]
    for part in (table_setup(res, data_dir), table1(res), table2(res), table3(res, data_dir), table4(res)):
        lines += part
    return "\n".join(lines).rstrip("\n") + "\n"


HEADER = """# Results: the paper's tables on the built-in corpus

These are small-corpus CPU runs of `egs/tts_mix` (eSpeak NG speech synthesised offline), not WSJ0:
the tables follow the layout of Hershey et al. (2016), Tables 1-4, with the paper's figures beside ours
for orientation only. Reproduce with `cd egs/tts_mix && local/paper_tables.sh`; the tables below are
written by `egs/tts_mix/local/paper_tables.py`.

"""


def write(out: Path, tables: str) -> None:
    text = out.read_text(encoding="utf-8") if out.is_file() else HEADER + f"{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text or text.index(BEGIN) > text.index(END):
        raise DcsepError(f"{out}: no '{BEGIN}' ... '{END}' markers; add them where the tables go")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    atomic_write_text(out, f"{head}{BEGIN}\n{tables}{END}{tail}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="paper_tables.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--exp-root", type=Path, default=Path("exp"), help="dir holding the dc_tables_* exp dirs")
    p.add_argument("--data-dir", type=Path, default=Path("data/tables"), help="the corpus's data dirs")
    p.add_argument("--out", type=Path, default=Path("../../docs/results.md"), help="markdown file to update")
    p.add_argument("--command", default=COMMAND, help="the command shown above the tables")
    p.add_argument("--print", action="store_true", help="also print the tables")
    args = p.parse_args(argv)
    try:
        res = Results(args.exp_root)
        text = tables_markdown(res, args.data_dir, args.command)
        write(args.out, text)
    except DcsepError as e:
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 1
    if args.print:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
