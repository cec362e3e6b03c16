"""A recipe's RESULTS.md: one table per test set from the decode dirs' ``summary.json``.

A recipe decodes into ``<exp>/decode/<test set>/<method>/`` (``dcsep-decode``)
and scores there (``dcsep-score``, which writes ``summary.json``). This module
collects every such dir under an exp dir and writes a markdown summary:

* per test set, a row per method (deep clustering with each clusterer, and
  the ideal binary / ratio mask ceilings) with the mean SI-SDRi, SDRi, SIRi,
  SAR and the input SDR;
* when the recipe has closed- and open-speaker test sets with the same number
  of speakers, a compact SDRi table side by side (as Table 1 of the paper);
* per test set, the SDRi of every method by ``utt2category`` /
  ``utt2gender`` group when the reference dir has them (as Table 3).

Usage::

    python -m dcsep.results exp/dc_small            # writes exp/dc_small/RESULTS.md and prints it
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from dcsep.errors import DataError, DcsepError

#: Hershey et al. (2016), Table 2: SDR improvement (dB) on wsj0-2mix by embedding model,
#: (closed oracle k-means, closed global k-means, open oracle k-means, open global k-means)
PAPER_TABLE2 = {
    "k5": (-0.77, -0.96, -0.74, -1.07),
    "k10": (5.15, 4.52, 5.29, 4.64),
    "k20": (6.25, 5.56, 6.38, 5.69),
    "k40": (6.54, 5.87, 6.45, 5.81),
    "k60": (6.00, 5.19, 6.08, 5.28),
    "k40_logistic": (6.59, 5.86, 6.61, 5.95),
}
METHOD_LABELS = {
    "kmeans": "DC, global k-means",
    "soft_kmeans": "DC, global soft k-means",
    "oracle_kmeans": "DC, oracle k-means",
    "spectral": "DC, spectral clustering",
    "oracle_spectral": "DC, oracle spectral",
    "ibm": "ideal binary mask (IBM)",
    "irm": "ideal ratio mask (IRM)",
}
METHOD_ORDER = ["kmeans", "soft_kmeans", "oracle_kmeans", "spectral", "oracle_spectral"]
ORACLE_METHODS = ["ibm", "irm"]
# SAR rather than SARi: the unprocessed mixture has no artifacts in bss_eval's decomposition (its
# SAR is very large), so an improvement in SAR would only measure that arbitrary reference.
COLUMNS = [("SI-SDRi", "SI-SDRi"), ("SDRi", "SDRi"), ("SIRi", "SIRi"), ("SAR", "SAR"), ("input SDR", "SDR_mix")]


@dataclass
class Entry:
    """One scored decode dir."""

    test_set: str
    method: str
    path: Path
    summary: dict

    @property
    def count(self) -> int:
        return int(self.summary.get("overall", {}).get("count", 0))

    def mean(self, metric: str, group: tuple[str, str] | None = None) -> float:
        stats = self.summary.get("overall", {})
        if group is not None:
            stats = self.summary.get("breakdown", {}).get(group[0], {}).get(group[1], {})
        v = stats.get(metric, {})
        v = v.get("mean") if isinstance(v, dict) else None
        return float("nan") if v is None else float(v)


def collect(exp_dir: str | Path) -> list[Entry]:
    """Every ``<exp>/decode/<set>/<method>/summary.json``; errors name the bad file."""
    exp_dir = Path(exp_dir)
    if not exp_dir.is_dir():
        raise DataError(f"{exp_dir}: exp dir not found")
    out = []
    for path in sorted(exp_dir.glob("decode/*/*/summary.json")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: cannot read ({e})") from None
        if not isinstance(summary, dict) or "overall" not in summary:
            raise DataError(f"{path}: not a dcsep-score summary (no 'overall')")
        out.append(Entry(path.parent.parent.name, path.parent.name, path.parent, summary))
    return out


def set_label(name: str, num_spk: int | None = None) -> str:
    """A readable name for a test set: ``tt_closed_2spk`` -> '2 speakers, closed speaker set (tt_closed_2spk)'."""
    m = re.search(r"(\d)spk", name)
    c = int(m.group(1)) if m else num_spk
    if name.startswith(("tt_closed", "cv", "dt")) or "closed" in name:
        kind = "closed speaker set"
    elif name.startswith(("tt", "test", "et")) or "open" in name:
        kind = "open speaker set"
    else:
        kind = None
    parts = [f"{c} speakers" if c else None, kind]
    text = ", ".join(p for p in parts if p)
    return f"{text} ({name})" if text else name


def _kind(name: str) -> str | None:
    label = set_label(name)
    return "closed" if "closed speaker" in label else "open" if "open speaker" in label else None


def _num_spk(entry: Entry) -> int | None:
    m = re.search(r"(\d)spk", entry.test_set)
    if m:
        return int(m.group(1))
    ref = entry.summary.get("ref")
    if ref and Path(ref).is_dir():
        return sum(1 for p in Path(ref).glob("spk*.scp")) or None
    return None


def _fmt(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.2f}"


def _method_rank(m: str) -> tuple[int, str]:
    if m in METHOD_ORDER:
        return (METHOD_ORDER.index(m), m)
    if m in ORACLE_METHODS:
        return (100 + ORACLE_METHODS.index(m), m)
    return (50, m)


def _label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def results_markdown(entries: Sequence[Entry], title: str, info: str = "") -> str:
    """The RESULTS.md text for ``entries``."""
    lines = [f"# {title}", ""]
    if info:
        lines += [info, ""]
    if not entries:
        return "\n".join(lines + ["No scored decode dirs found.", ""])
    sets = sorted({e.test_set for e in entries}, key=lambda s: (_num_spk_of(entries, s) or 0, _kind(s) != "closed", s))
    by = {(e.test_set, e.method): e for e in entries}
    lines += [
        "Means over the test set, in dB. SI-SDRi, SDRi, SIRi: improvement over the unprocessed mixture",
        "(scale-invariant SDR, bss_eval v3); SAR: signal-to-artifacts ratio of the estimates (the mixture",
        "itself has no artifacts, so no improvement is given); input SDR: SDR of the mixture. The ideal",
        "binary mask is the ceiling of any binary-mask method, deep clustering included.",
        "",
    ]
    for s in sets:
        methods = sorted((m for (t, m) in by if t == s), key=_method_rank)
        n = max(by[(s, m)].count for m in methods)
        lines += [f"## {set_label(s, _num_spk_of(entries, s))}: {n} mixtures", ""]
        lines += ["| method | " + " | ".join(c for c, _ in COLUMNS) + " |"]
        lines += ["| --- | " + " | ".join("---:" for _ in COLUMNS) + " |"]
        for m in methods:
            e = by[(s, m)]
            lines.append(f"| {_label(m)} | " + " | ".join(_fmt(e.mean(k)) for _, k in COLUMNS) + " |")
        lines.append("")
        share = _ibm_share(by, s, methods)
        if share:
            lines += [f"SI-SDRi as a share of the IBM's: {share}.", ""]

    # closed vs open, side by side (SDRi), per number of speakers
    for c in sorted({_num_spk_of(entries, s) for s in sets} - {None}):
        closed = [s for s in sets if _num_spk_of(entries, s) == c and _kind(s) == "closed"]
        opened = [s for s in sets if _num_spk_of(entries, s) == c and _kind(s) == "open"]
        if len(closed) == 1 and len(opened) == 1:
            cs, os_ = closed[0], opened[0]
            methods = sorted({m for (t, m) in by if t in (cs, os_)}, key=_method_rank)
            lines += [f"## SDRi by speaker set, {c} speakers (closed: {cs}, open: {os_})", ""]
            lines += ["| method | closed | open |", "| --- | ---: | ---: |"]
            for m in methods:
                vals = [_fmt(by[(t, m)].mean("SDRi")) if (t, m) in by else "-" for t in (cs, os_)]
                lines.append(f"| {_label(m)} | {vals[0]} | {vals[1]} |")
            lines.append("")

    # breakdowns
    for s in sets:
        methods = sorted((m for (t, m) in by if t == s), key=_method_rank)
        groups_by_file: dict[str, list[str]] = {}
        for m in methods:
            for fname, groups in by[(s, m)].summary.get("breakdown", {}).items():
                if groups:
                    keys = groups_by_file.setdefault(fname, [])
                    keys += [k for k in groups if k not in keys]
        for fname, keys in groups_by_file.items():
            counts = {k: max(int(by[(s, m)].summary["breakdown"].get(fname, {}).get(k, {}).get("count", 0)) for m in methods) for k in keys}
            lines += [f"## SDRi by {fname[4:]}, {s}", ""]
            lines += ["| method | " + " | ".join(f"{k} ({counts[k]})" for k in keys) + " |"]
            lines += ["| --- | " + " | ".join("---:" for _ in keys) + " |"]
            for m in methods:
                e = by[(s, m)]
                lines.append(f"| {_label(m)} | " + " | ".join(_fmt(e.mean("SDRi", (fname, k))) for k in keys) + " |")
            lines.append("")
    return "\n".join(lines)


def _ibm_share(by: dict, test_set: str, methods: Sequence[str]) -> str:
    """``"DC, global k-means 41%, ..."``: each method's SI-SDRi over the IBM's ('' without a positive IBM figure)."""
    if (test_set, "ibm") not in by:
        return ""
    ref = by[(test_set, "ibm")].mean("SI-SDRi")
    if not math.isfinite(ref) or ref <= 0:
        return ""
    parts = []
    for m in methods:
        v = by[(test_set, m)].mean("SI-SDRi")
        if m != "ibm" and math.isfinite(v):
            parts.append(f"{_label(m)} {100 * v / ref:.0f}%")
    return ", ".join(parts)


def _num_spk_of(entries: Sequence[Entry], test_set: str) -> int | None:
    for e in entries:
        if e.test_set == test_set:
            return _num_spk(e)
    return None


def write_results(
    exp_dir: str | Path,
    title: str | None = None,
    info: str = "",
    out: str | Path | None = None,
    test_sets: Sequence[str] | None = None,
) -> str:
    """Collect ``exp_dir``'s scored decode dirs and write ``RESULTS.md`` (or ``out``); returns the text.

    ``test_sets``: only these test sets (e.g. those of the latest run, when the
    exp dir also holds decodes of other sets or of subsets); default: all.
    """
    from dcsep.utils import atomic_write_text

    exp_dir = Path(exp_dir)
    entries = collect(exp_dir)
    if test_sets is not None:
        missing = sorted(set(test_sets) - {e.test_set for e in entries})
        if missing:
            raise DataError(f"{exp_dir}: no scored decode dir of test set(s) {', '.join(missing)}")
        entries = [e for e in entries if e.test_set in set(test_sets)]
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    title = title or f"Results: {exp_dir.name}"
    info = (info + "\n\n" if info else "") + f"exp dir `{exp_dir}`, {date}."
    text = results_markdown(entries, title, info)
    atomic_write_text(Path(out) if out else exp_dir / "RESULTS.md", text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dcsep.results", description="Write an exp dir's RESULTS.md table.")
    p.add_argument("exp_dir", help="exp dir holding decode/<set>/<method>/summary.json")
    p.add_argument("--title", help="heading (default: 'Results: <exp dir name>')")
    p.add_argument("--info", default="", help="a paragraph under the heading (model, data, command)")
    p.add_argument("--out", help="output file (default: <exp_dir>/RESULTS.md)")
    p.add_argument("--quiet", action="store_true", help="do not print the table")
    p.add_argument("--test-sets", help="only these test sets (space-separated names; default: every decoded set)")
    args = p.parse_args(argv)
    try:
        sets = args.test_sets.split() if args.test_sets is not None else None
        text = write_results(args.exp_dir, args.title, args.info, args.out, test_sets=sets)
    except DcsepError as e:
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
