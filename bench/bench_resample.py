#!/usr/bin/env python
"""Resampling for the input of any rate: soxr (what dcsep uses) vs scipy.signal.resample_poly.

For each rate pair, 60 s of white noise is resampled (time: process CPU time,
one thread, best of 3) and pure tones measure the quality: the error of a
passband tone (at 0.1 and 0.45 of the lower rate) against the exact tone at
the new rate, and what is left of a tone above the new Nyquist frequency
(0.6 of the new rate: it must be removed, not folded back), both in dB
relative to the tone's power, on the middle 80 % of the signal.

    python bench/bench_resample.py             # print the table
    python bench/bench_resample.py --write     # also update docs/benchmarks.md (section bench:resample)
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads its BLAS
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from math import gcd  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SECTION = "resample"
PAIRS = [(44100, 8000), (48000, 8000), (16000, 8000), (22050, 8000), (8000, 44100), (8000, 16000)]


def scipy_poly(x: np.ndarray, fs_in: int, fs_out: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = gcd(fs_in, fs_out)
    return resample_poly(x, fs_out // g, fs_in // g).astype(np.float32)


def dcsep_soxr(x: np.ndarray, fs_in: int, fs_out: int) -> np.ndarray:
    from dcsep.data.audio import resample

    return resample(x, fs_in, fs_out)


def tone_error_db(fn, freq: float, fs_in: int, fs_out: int, seconds: float = 4.0) -> float:
    """dB of (resampled tone - exact tone at fs_out; 0 above fs_out / 2) relative to the tone's power."""
    x = np.sin(2 * np.pi * freq * np.arange(int(seconds * fs_in)) / fs_in).astype(np.float32)
    y = fn(x, fs_in, fs_out).astype(np.float64)
    ref = np.sin(2 * np.pi * freq * np.arange(len(y)) / fs_out) if freq < fs_out / 2 else np.zeros(len(y))
    core = slice(len(y) // 10, -(len(y) // 10))
    return float(10 * np.log10(np.mean((y[core] - ref[core]) ** 2) / 0.5 + 1e-30))


def cpu_seconds(fn, *args, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn(*args)
        best = min(best, time.process_time() - t0)
    return best


def main(argv=None) -> int:
    from dcsep.utils import cpu_description, write_bench_section

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0, help="length of the timed noise input")
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md (section bench:resample)")
    p.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = p.parse_args(argv)
    import scipy
    import soxr

    rng = np.random.default_rng(0)
    header = "| rate | method | CPU s per minute of audio | speed-up | error, tone at 0.1 / 0.45 of the lower rate (dB) | alias left, tone at 0.6 of the new rate (dB) |\n|---|---|---:|---:|---|---:|"
    rows = []
    for fs_in, fs_out in PAIRS:
        x = rng.standard_normal(int(args.seconds * fs_in)).astype(np.float32)
        low = min(fs_in, fs_out)
        base = None
        for name, fn in [("scipy `resample_poly`", scipy_poly), ("soxr HQ (dcsep)", dcsep_soxr)]:
            t = cpu_seconds(fn, x, fs_in, fs_out) * 60 / args.seconds
            base = base or t
            errs = " / ".join(f"{tone_error_db(fn, r * low, fs_in, fs_out):.1f}" for r in (0.1, 0.45))
            alias = f"{tone_error_db(fn, 0.6 * fs_out, fs_in, fs_out):.1f}" if fs_out < fs_in else "-"
            rows.append(f"| {fs_in} -> {fs_out} Hz | {name} | {t:.3f} | {base / t:.1f}x | {errs} | {alias} |")
            print(rows[-1], flush=True)
    if args.write:
        cmd = "python bench/bench_resample.py " + " ".join(argv if argv is not None else sys.argv[1:])
        body = "\n".join(
            [
                "## Resampling of inputs at other rates (`bench/bench_resample.py`)",
                "",
                f"Command: `{cmd.strip()}`  ",
                f"Machine: {cpu_description()}; numpy {np.__version__}, scipy {scipy.__version__}, soxr "
                f"{soxr.__version__}; one thread; {datetime.date.today().isoformat()}.  ",
                f"Time: process CPU time to resample {args.seconds:g} s of white noise (best of 3), per minute of "
                "audio; speed-up against scipy in the same run. Quality: pure tones, the error against the exact "
                "tone at the new rate (passband) and what is left of a tone above the new Nyquist frequency, in dB "
                "relative to the tone's power (lower is better). `resample_poly` uses its default Kaiser window "
                "(beta 5): its transition band reaches down to 0.45 of the lower rate.",
                "",
                header,
                *rows,
            ]
        )
        write_bench_section(args.output, SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
