"""dcsep-score: SDR/SIR/SAR (bss_eval v3), SI-SDR and their improvements.

Reads the references (``--ref``: wav.scp = mixtures, spk1.scp .. spkC.scp)
and the estimates (``--est``: spk1.scp .. spkC.scp as dcsep-decode writes
them), and writes into the estimate dir:

* ``scores.tsv``: one line per utterance (metrics averaged over its sources,
  improvements over the unprocessed mixture, the bss_eval permutation);
* ``summary.json``: mean, median and count of every metric, and the same per
  category of each ``utt2<name>`` file of the reference dir (``--breakdown``);
* ``RESULTS.md``: the summary as markdown tables.

Re-running skips the utterances already in ``scores.tsv`` whose estimate,
mixture and reference files are unchanged since they were scored (sizes and
modification times, recorded in ``scores.sig``); ``--overwrite`` rescores all.
One run at a time writes into an estimate dir (a lock). See docs/decoding.md.

Examples::

    dcsep-score --ref data/tt --est exp/dc/decode_tt --nj 4
    dcsep-score --ref data/tt --est exp/mixture_tt --mixture-baseline
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing as mp
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from dcsep.bin.outdir import DirLock, DoneLog, file_signature, make_dir, signature
from dcsep.errors import ConfigError, DataError, DcsepError

PROG = "dcsep-score"
# no SARi: the mixture has no artifacts in bss_eval's decomposition, so its SAR sits at the cap (see dcsep.metrics)
BASE_COLUMNS = ("SDR", "SIR", "SAR", "SI-SDR", "SDRi", "SIRi", "SI-SDRi", "SDR_mix", "SI-SDR_mix")
DEFAULT_BREAKDOWN = ("utt2category", "utt2gender", "utt2age", "utt2pair")
log = logging.getLogger("dcsep.score")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Score separated sources against the references.")
    p.add_argument("--ref", required=True, help="data dir: wav.scp (mixtures) and spk1.scp .. spkC.scp")
    p.add_argument("--est", required=True, help="decode dir with spk1.scp .. spkC.scp; outputs go here")
    p.add_argument("--nj", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument(
        "--mixture-baseline",
        action="store_true",
        help="score the unprocessed mixture as the estimate of every source (the 'no processing' row); "
        "--est is then only the output dir",
    )
    p.add_argument(
        "--breakdown",
        nargs="*",
        default=None,
        help="utt2<name> files of --ref to break the summary down by "
        f"(default: those present among {', '.join(DEFAULT_BREAKDOWN)})",
    )
    p.add_argument("--backend", choices=("fast", "mir_eval"), default="fast", help="bss_eval implementation")
    p.add_argument("--overwrite", action="store_true", help="rescore every utterance, ignoring scores.tsv")
    p.add_argument("--no-extra-metrics", action="store_true", help="skip PESQ/STOI even when installed")
    p.add_argument("--name", default=None, help="title of the RESULTS.md section (default: the --est dir name)")
    p.add_argument("--log-interval", type=int, default=50, help="progress line every N utterances")
    return p


# ---------------------------------------------------------------------------
# scores.tsv
# ---------------------------------------------------------------------------
def header(extra: tuple[str, ...]) -> list[str]:
    return ["utt", *BASE_COLUMNS, *extra, "perm"]


def format_row(res: dict, columns: list[str]) -> str:
    vals = [res["utt"]] + [f"{res[c]:.4f}" for c in columns[1:-1]] + [",".join(str(p + 1) for p in res["perm"])]
    return "\t".join(vals) + "\n"


def read_scores(path: Path, columns: list[str]) -> dict[str, str]:
    """utt -> line of an existing scores.tsv with the same header; malformed lines are dropped."""
    rows: dict[str, str] = {}
    if not path.is_file():
        return rows
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    if not lines or lines[0].split("\t") != columns:
        log.info(f"{path}: columns differ from this run's; rescoring every utterance")
        return rows
    for line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != len(columns):
            continue  # an empty or cut-off line
        try:
            [float(x) for x in fields[1:-1]]
            [int(x) for x in fields[-1].split(",")]
        except ValueError:
            continue
        rows[fields[0]] = line + "\n"  # a later line for the same utterance wins
    return rows


def parse_row(line: str, columns: list[str]) -> dict:
    fields = line.rstrip("\n").split("\t")
    out = {c: float(v) for c, v in zip(columns[1:-1], fields[1:-1])}
    out["utt"] = fields[0]
    return out


# ---------------------------------------------------------------------------
# scoring one utterance (in worker processes)
# ---------------------------------------------------------------------------
_STATE: dict = {}


def _init(state: dict, threads: int | None = None) -> None:
    if threads:
        from dcsep.utils import limit_threads

        limit_threads(threads, with_torch=False)
    _STATE.clear()
    _STATE.update(state)


def _score(utt: str) -> dict:
    from dcsep.data.audio import load_audio
    from dcsep.metrics import score_utterance

    s = _STATE
    try:
        mix, fs = load_audio(s["mix"][utt], name="mixture")
        refs = [load_audio(p, fs=fs, name=f"reference {c + 1}")[0] for c, p in enumerate(s["refs"][utt])]
        n = max(len(r) for r in refs)
        refs = np.stack([np.pad(r, (0, n - len(r))) for r in refs])
        if s["mixture_baseline"]:
            ests = np.repeat(mix[None], len(refs), 0)
        else:
            paths = s["ests"].get(utt)
            if paths is None:
                raise DataError(s["miscounted"].get(utt, "no estimate (not in the estimate dir's spk*.scp)"))
            ests = [load_audio(p, fs=fs, name=f"estimate {c + 1}")[0] for c, p in enumerate(paths)]
            m = max(len(e) for e in ests)
            ests = np.stack([np.pad(e, (0, m - len(e))) for e in ests])
        extra = tuple(x for x in s["extra"])
        res = score_utterance(refs, ests, mix, backend=s["backend"], fs=fs, extra_metrics=extra)
        res["utt"] = utt
        return res
    except DcsepError as e:
        return {"utt": utt, "error": " ".join(str(e).split())}
    except Exception as e:  # noqa: BLE001 - reported per utterance
        return {"utt": utt, "error": " ".join(f"{type(e).__name__}: {e}".split())}


# ---------------------------------------------------------------------------
# summary
# ---------------------------------------------------------------------------
def _stats(rows: list[dict], metrics: list[str]) -> dict:
    out = {"count": len(rows)}
    for m in metrics:
        vals = np.array([r[m] for r in rows], dtype=np.float64)
        vals = vals[np.isfinite(vals)]  # an optional metric (PESQ, STOI) may be NaN for some utterances
        out[m] = {"mean": float(vals.mean()) if len(vals) else math.nan, "median": float(np.median(vals)) if len(vals) else math.nan}
    return out


def summarize(rows: list[dict], metrics: list[str], breakdowns: dict[str, dict[str, str]]) -> dict:
    summary = {"overall": _stats(rows, metrics), "breakdown": {}}
    for name, mapping in breakdowns.items():
        groups: dict[str, list[dict]] = {}
        for r in rows:
            if r["utt"] in mapping:
                groups.setdefault(mapping[r["utt"]], []).append(r)
        summary["breakdown"][name] = {k: _stats(v, metrics) for k, v in sorted(groups.items())}
    return summary


def results_markdown(title: str, summary: dict, metrics: list[str], info: str) -> str:
    def f(x):
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"

    lines = [f"## {title}", "", info, "", "| metric | mean | median |", "| --- | ---: | ---: |"]
    ov = summary["overall"]
    lines += [f"| {m} | {f(ov[m]['mean'])} | {f(ov[m]['median'])} |" for m in metrics]
    main = [m for m in ("SDRi", "SI-SDRi", "SIRi", "SDR", "SI-SDR") if m in metrics] + [
        m for m in ("PESQ", "STOI") if m in metrics
    ]
    for name, groups in summary["breakdown"].items():
        if not groups:
            continue
        lines += ["", f"### By {name} (means)", ""]
        lines += [f"| {name[4:]} | count | " + " | ".join(main) + " |", "| --- | ---: | " + " | ".join("---:" for _ in main) + " |"]
        for key, st in groups.items():
            lines.append(f"| {key} | {st['count']} | " + " | ".join(f(st[m]["mean"]) for m in main) + " |")
    return "\n".join(lines) + "\n"


def _json_safe(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_json_safe(v) for v in x]
    return x


# ---------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------
def _setup_logging() -> None:
    if not log.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s (%(name)s) %(levelname)s: %(message)s"))
        log.addHandler(h)
        log.setLevel(logging.INFO)
        log.propagate = False
    log.handlers[0].stream = sys.stderr  # the current stderr (it may have been replaced, or the old one closed)


def score(args) -> int:
    from dcsep.data.audio import load_audio
    from dcsep.data.datadir import DataDir, read_scp
    from dcsep.metrics import available_extra_metrics

    if args.nj < 1 or args.log_interval < 1:
        raise ConfigError("--nj and --log-interval must be >= 1")
    ref = DataDir.load(args.ref, require_sources=True)
    est_dir = Path(args.est)
    num_spk = ref.num_spk
    ests: dict[str, list[str]] = {}
    miscounted: dict[str, str] = {}  # utt -> why it cannot be scored
    if est_dir.exists() and not est_dir.is_dir():
        raise DataError(f"--est {est_dir}: a file, not a directory (give the decode dir that holds spk1.scp ..)")
    if not args.mixture_baseline:
        if not est_dir.is_dir():
            raise DataError(f"--est {est_dir}: estimate dir not found")
        est_scps = []
        c = 1
        while (est_dir / f"spk{c}.scp").is_file():
            est_scps.append(read_scp(est_dir / f"spk{c}.scp", allow_empty=True))
            c += 1
        if not est_scps:
            raise DataError(f"{est_dir}: no spk1.scp (run dcsep-decode first, or pass --mixture-baseline)")
        counted = (est_dir / "utt2num_spk").is_file()  # dcsep-decode's: the sources of each utterance
        if len(est_scps) != num_spk and not counted:
            raise DataError(f"{est_dir}: {len(est_scps)} estimate lists (spk*.scp) but {ref.path} has {num_spk} references")
        for utt in ref.utt_ids:
            mine = [s[utt] for s in est_scps if utt in s]
            if counted and mine and len(mine) != num_spk:
                miscounted[utt] = f"{len(mine)} estimated sources (utt2num_spk), the references have {num_spk}"
            elif len(mine) == num_spk:
                ests[utt] = mine
    names = args.breakdown if args.breakdown is not None else [n for n in DEFAULT_BREAKDOWN if (ref.path / n).is_file()]
    breakdowns = {}
    for name in names:
        if not name.startswith("utt2"):
            raise ConfigError(f"--breakdown {name!r}: expected a file name like utt2gender")
        if not (ref.path / name).is_file():
            raise DataError(f"{ref.path / name}: breakdown file not found")
        breakdowns[name] = read_scp(ref.path / name, allow_empty=True)

    first = ref.utt_ids[0]
    _, fs = load_audio(ref.wav[first], name=f"{first} mixture")
    extra = () if args.no_extra_metrics else available_extra_metrics(fs)
    make_dir(est_dir, "--est")
    with DirLock(est_dir, PROG, "--est"):
        return _score_into(args, ref, est_dir, ests, breakdowns, extra, miscounted)


def _score_into(args, ref, est_dir: Path, ests: dict, breakdowns: dict, extra: tuple, miscounted: dict) -> int:
    import dcsep
    from dcsep.utils import atomic_path, atomic_write_text

    columns = header(extra)
    tsv = est_dir / "scores.tsv"
    sig_log = DoneLog(est_dir / "scores.sig")

    def sig(utt: str) -> str:  # what a row depends on
        files = [ref.wav[utt], *ref.sources(utt), *ests.get(utt, [])]
        return signature(args.backend, str(args.mixture_baseline), [file_signature(f) for f in files])

    sigs = {u: sig(u) for u in ref.utt_ids}
    done = {} if args.overwrite else read_scores(tsv, columns)
    stale = [u for u in done if u in ref.wav and sig_log.sig(u) != sigs[u]]
    done = {u: line for u, line in done.items() if u in ref.wav and u not in stale}
    todo = [u for u in ref.utt_ids if u not in done]
    log.info(f"{len(ref.utt_ids)} utterances in {ref.path}: {len(done)} already scored, {len(todo)} to score")
    if stale:
        log.info(f"{len(stale)} scored before from estimates, mixtures or references that have changed since; scoring them again")

    # rewrite what is kept cleanly (drops cut-off lines), then append as results come
    with atomic_path(tsv) as tmp:
        Path(tmp).write_text("\t".join(columns) + "\n" + "".join(done[u] for u in ref.utt_ids if u in done), encoding="utf-8")
    state = dict(
        mix=ref.wav,
        refs={u: ref.sources(u) for u in ref.utt_ids},
        ests=ests,
        miscounted=miscounted,
        mixture_baseline=args.mixture_baseline,
        backend=args.backend,
        extra=extra,
    )
    failed: dict[str, str] = {}
    t0 = time.perf_counter()
    nj = max(1, min(args.nj, len(todo)))
    with open(tsv, "a", encoding="utf-8") as out:

        def collect(res: dict, n: int) -> None:
            if "error" in res:
                failed[res["utt"]] = res["error"]
                print(f"{PROG}: error: {res['utt']}: {res['error']}", file=sys.stderr)
            else:
                line = format_row(res, columns)
                sig_log.add(res["utt"], sigs[res["utt"]])  # before the row: a row is never kept without its record
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
                done[res["utt"]] = line
            if n % args.log_interval == 0 or n == len(todo):
                log.info(f"{n}/{len(todo)} utterances scored, {time.perf_counter() - t0:.1f} s elapsed")

        if nj == 1:
            _init(state)
            for n, utt in enumerate(todo, 1):
                collect(_score(utt), n)
        elif todo:
            ctx = mp.get_context("spawn")
            threads = max(1, len(os.sched_getaffinity(0)) // nj)
            with ctx.Pool(nj, initializer=_init, initargs=(state, threads)) as pool:
                for n, res in enumerate(pool.imap_unordered(_score, todo), 1):
                    collect(res, n)
    sig_log.close()

    # final files, atomically, in reference order
    with atomic_path(tsv) as tmp:
        Path(tmp).write_text("\t".join(columns) + "\n" + "".join(done[u] for u in ref.utt_ids if u in done), encoding="utf-8")
    rows = [parse_row(done[u], columns) for u in ref.utt_ids if u in done]
    metrics = columns[1:-1]
    summary = summarize(rows, metrics, breakdowns)
    summary.update(
        ref=str(ref.path.resolve()),
        est=str(est_dir.resolve()),
        mixture_baseline=args.mixture_baseline,
        backend=args.backend,
        num_utterances=len(ref.utt_ids),
        failed={u: failed[u] for u in ref.utt_ids if u in failed},
    )
    atomic_write_text(est_dir / "summary.json", json.dumps(_json_safe(summary), indent=2) + "\n")
    title = args.name or (f"{est_dir.name} (mixture, no processing)" if args.mixture_baseline else est_dir.name)
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    info = (
        f"{len(rows)} of {len(ref.utt_ids)} utterances scored ({len(failed)} failed); references `{ref.path}`; "
        f"bss_eval v3 ({args.backend}), 512-tap filter, best permutation; improvements over the mixture. "
        f"dcsep {dcsep.__version__}, {date}."
    )
    atomic_write_text(est_dir / "RESULTS.md", results_markdown(title, summary, metrics, info))
    ov = summary["overall"]
    if rows:
        log.info(
            f"{len(rows)} utterances: SDRi {ov['SDRi']['mean']:.2f} dB, SI-SDRi {ov['SI-SDRi']['mean']:.2f} dB, "
            f"SDR {ov['SDR']['mean']:.2f} dB (means); written to {est_dir}/scores.tsv, summary.json, RESULTS.md"
        )
    if failed:
        log.info(f"{len(failed)} utterances failed (listed in summary.json)")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging()
    try:
        return score(args)
    except DcsepError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
