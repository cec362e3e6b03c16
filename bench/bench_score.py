#!/usr/bin/env python
"""Scoring speed and agreement: dcsep's bss_eval vs mir_eval.separation.bss_eval_sources.

Synthetic utterances (two voiced-like references; estimates = each reference
filtered, with some of the other source leaking in, white noise, in random
order) are scored by

* ``mir_eval.separation.bss_eval_sources`` (the reference implementation),
* :func:`dcsep.metrics.bss_eval` (fast_bss_eval's statistics with the exact
  solver, the default of ``dcsep-score``),
* a whole ``dcsep-score`` row (:func:`dcsep.metrics.score_utterance`: the
  estimates, the mixture as the baseline for the improvements, and SI-SDR)
  with the default fast backend and with ``--backend mir_eval``.

Time is process CPU time per utterance with one thread (steady on a shared
machine). The agreement columns give the largest absolute difference in dB
from mir_eval over every source of every utterance.

    python bench/bench_score.py                  # 20 utterances of 4 s, 2 sources
    python bench/bench_score.py --write          # also update docs/benchmarks.md (section bench:score)
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads its BLAS
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SECTION = "score"
FS = 8000


def utterance(rng: np.random.Generator, n: int, c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(refs (C, n), ests (C, n), mix (n,)) float64, as 16-bit audio would hold them."""
    t = np.arange(n) / FS
    refs = []
    for j in range(c):
        f0 = 100.0 * (j + 1) * rng.uniform(0.9, 1.1)
        phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))) / FS
        sig = sum(np.sin(h * phase) / h for h in range(1, 12) if h * f0 * 1.1 < FS / 2)
        env = 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 6.3))
        refs.append(0.1 * sig * env + 0.01 * rng.standard_normal(n) * env)
    refs = np.stack(refs)
    ests = np.stack([np.convolve(r, rng.standard_normal(16) * 0.2, mode="same") + r for r in refs])
    ests = ests + rng.uniform(0.05, 0.4) * np.roll(refs, 1, axis=0) + 0.005 * rng.standard_normal(refs.shape)
    ests = ests[rng.permutation(c)]
    q = lambda x: np.round(x * 32767) / 32767  # noqa: E731 - 16-bit quantisation
    return q(refs), q(ests), q(refs.sum(0))


def timed(fn, *args, **kwargs):
    t0 = time.process_time()
    out = fn(*args, **kwargs)
    return out, time.process_time() - t0


def main(argv=None) -> int:
    from dcsep.utils import cpu_description, write_bench_section

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--utts", type=int, default=20, help="utterances (default 20)")
    p.add_argument("--seconds", type=float, default=4.0, help="length of each utterance (default 4)")
    p.add_argument("--sources", type=int, default=2, help="sources per utterance (default 2)")
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md (section bench:score)")
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    from importlib.metadata import version

    import mir_eval

    from dcsep.metrics import bss_eval, score_utterance

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    n = int(args.seconds * FS)
    cases = [utterance(rng, n, args.sources) for _ in range(args.utts)]
    bss_eval(*cases[0][:2])  # imports and first-call costs out of the figures
    times = {k: 0.0 for k in ("mir", "fast", "row_fast", "row_mir")}
    diff = {k: 0.0 for k in ("SDR", "SIR", "SAR", "SDRi", "SIRi", "SI-SDR")}
    perm_agree = 0
    load0 = os.getloadavg()[0]
    for refs, ests, mix in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            (m_sdr, m_sir, m_sar, m_perm), dt = timed(mir_eval.separation.bss_eval_sources, refs, ests)
            times["mir"] += dt
            row_mir, dt = timed(score_utterance, refs, ests, mix, backend="mir_eval")
            times["row_mir"] += dt
        (sdr, sir, sar, perm), dt = timed(bss_eval, refs, ests)
        times["fast"] += dt
        row, dt = timed(score_utterance, refs, ests, mix)
        times["row_fast"] += dt
        perm_agree += bool(np.array_equal(perm, m_perm))
        for k, a, b in (("SDR", sdr, m_sdr), ("SIR", sir, m_sir), ("SAR", sar, m_sar)):
            diff[k] = max(diff[k], float(np.max(np.abs(a - b))))
        for k in ("SDRi", "SIRi", "SI-SDR"):
            d = np.abs(np.array(row["per_source"][k]) - np.array(row_mir["per_source"][k]))
            diff[k] = max(diff[k], float(d.max()))
    per = {k: v / args.utts for k, v in times.items()}

    dmax = " | ".join(f"{diff[k]:.2g}" for k in ("SDR", "SIR", "SAR"))
    header = (
        "| implementation | computes | s / utterance | speed-up | max abs diff SDR / SIR / SAR (dB) |\n"
        "|---|---|---:|---:|---|"
    )
    rows = [
        f"| `mir_eval.separation.bss_eval_sources` | SDR, SIR, SAR, best permutation | {per['mir']:.3f} | 1x | (reference) |",
        f"| `dcsep.metrics.bss_eval` (fast, exact solver) | the same | {per['fast']:.3f} | "
        f"{per['mir'] / per['fast']:.0f}x | {dmax.replace(' | ', ' / ')} |",
        f"| `dcsep-score` row, `--backend mir_eval` | + mixture baseline (improvements), SI-SDR | {per['row_mir']:.3f} | "
        f"{per['mir'] / per['row_mir']:.1f}x | (reference) |",
        f"| `dcsep-score` row, default (fast) | the same | {per['row_fast']:.3f} | {per['mir'] / per['row_fast']:.0f}x | "
        f"SDRi {diff['SDRi']:.2g}, SIRi {diff['SIRi']:.2g}, SI-SDR {diff['SI-SDR']:.2g} |",
    ]
    summary = (
        f"{args.utts} utterances of {args.seconds:g} s, {args.sources} sources, {FS} Hz; the same best permutation as "
        f"mir_eval in {perm_agree} of {args.utts}; largest difference from mir_eval "
        f"{max(diff['SDR'], diff['SIR'], diff['SAR']):.2g} dB (tolerance 0.01 dB)."
    )
    print(header)
    print("\n".join(rows))
    print(summary)

    if args.write:
        import torch

        cmd = "python bench/bench_score.py " + " ".join(argv if argv is not None else sys.argv[1:])
        body = "\n".join(
            [
                "## Scoring speed and agreement with mir_eval (`bench/bench_score.py`)",
                "",
                f"Command: `{cmd.strip()}`  ",
                f"Machine: {cpu_description()}; torch {torch.__version__}, numpy {np.__version__}, mir_eval "
                f"{version('mir_eval')}, fast_bss_eval {version('fast_bss_eval')}; "
                f"one thread; load average {load0:.1f} before and {os.getloadavg()[0]:.1f} after the run; "
                f"{datetime.date.today().isoformat()}.  ",
                "Synthetic references (two voiced-like sources), estimates = filtered references with leakage and "
                "noise in random order, 16-bit quantised; bss_eval v3 with the 512-tap distortion filter. Time: "
                "process CPU time per utterance (one thread). A `dcsep-score` row also scores the mixture (for the "
                "improvements) and SI-SDR.",
                "",
                header,
                *rows,
                "",
                summary,
            ]
        )
        write_bench_section(args.output, SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
