#!/usr/bin/env python
"""Separation speed: real-time factor per stage (encoder, clustering, resynthesis) and clusterer.

A randomly initialised paper-size model (2 x 600 BLSTM, K = 40, 8 kHz, 32 ms
window, 8 ms hop) separates synthetic two-speaker mixtures of each
``--seconds`` length with each clusterer, through :class:`dcsep.separate.Separator`
with its default settings (encoder chunks of 1000 frames, clustering fitted on
at most 200k active bins, then every bin assigned). Untrained weights cost the
same time as trained ones; k-means iterations may differ a little.

RTF = seconds of processing / seconds of audio, per stage, from the
Separator's timers; below 1 is faster than real time. On the CPU the timers
read process CPU time with one thread by default (steady on a shared
machine: it is the compute time, whatever else runs); ``--wall`` reads
wall-clock instead (use it with ``--threads N`` on an idle machine). With CUDA, a
row gives the batched throughput of ``separate_batch`` (``--gpu-batch``
mixtures of ``--gpu-seconds`` seconds at once); without CUDA the row says so.

    python bench/bench_decode.py                 # 10 s and 60 s inputs; kmeans, soft_kmeans, spectral, oracle_kmeans
    python bench/bench_decode.py --seconds 10    # quicker
    python bench/bench_decode.py --write         # also update docs/benchmarks.md (section bench:decode)
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SECTION = "decode"
FS = 8000
PAPER_MODEL = {"encoder": "blstm", "encoder_conf": {"num_layers": 2, "hidden_units": 600, "embed_dim": 40}}
CLUSTERERS = ("kmeans", "soft_kmeans", "spectral", "oracle_kmeans")


def voice(rng: np.random.Generator, f0: float, n: int) -> np.ndarray:
    """A voiced-like source: harmonics of a gliding f0 under a syllabic envelope."""
    t = np.arange(n) / FS
    f0_track = f0 * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    phase = 2 * np.pi * np.cumsum(f0_track) / FS
    sig = sum(np.sin(h * phase) / h for h in range(1, 12) if h * f0 * 1.1 < FS / 2)
    env = 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 6.3))
    return (0.1 * sig * env).astype(np.float32)


def mixture(seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    srcs = np.stack([voice(rng, 110.0, n), voice(rng, 220.0, n)])
    return srcs.sum(0), srcs


def write_section(output: Path, section: str, title: str, command: str, notes: list[str], header: str, rows: list[str]) -> None:
    """Write a table section ``bench:<section>`` of docs/benchmarks.md: title, command, notes, table."""
    from dcsep.utils import write_bench_section

    body = "\n".join([f"## {title}", "", f"Command: `{command.strip()}`  ", *notes, "", header, *rows])
    write_bench_section(output, section, body)


def rtf_cells(timings: dict) -> list[str]:
    audio = timings["audio"]
    stages = [timings[k] / audio for k in ("frontend", "encoder", "clustering", "resynthesis")]
    total = sum(stages)
    return [f"{x:.4f}" for x in stages] + [f"{total:.3f}", f"{1 / total:.1f}x"]


def main(argv=None) -> int:
    from dcsep.utils import cpu_description

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0], help="input lengths (default 10 60)")
    p.add_argument("--clusterers", nargs="+", default=list(CLUSTERERS), help="default: kmeans soft_kmeans spectral oracle_kmeans")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--wall", action="store_true", help="CPU rows: wall-clock instead of process CPU time")
    p.add_argument("--gpu-batch", type=int, default=16, help="mixtures per batch in the GPU row (default 16)")
    p.add_argument("--gpu-seconds", type=float, default=6.0, help="length of each mixture in the GPU row (default 6)")
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md (section bench:decode)")
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    import torch

    from dcsep.model import DeepClustering
    from dcsep.separate import Separator

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = DeepClustering.from_config(PAPER_MODEL)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    sep = Separator(model, device="cpu")
    if not args.wall:
        sep.clock = time.process_time
    warm, warm_refs = mixture(1.0, 99)
    for name in args.clusterers:  # first-call costs (allocations, kernels) out of the figures
        sep.separate(warm, clusterer=name, refs=warm_refs)

    header = (
        "| device | input | clusterer | STFT RTF | encoder RTF | clustering RTF | resynthesis RTF | total RTF | speed |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|"
    )
    print(header, flush=True)
    rows = []
    load0 = os.getloadavg()[0]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for seconds in args.seconds:
        mix, srcs = mixture(seconds, int(seconds))
        for name in args.clusterers:
            sep.reset_timings()
            sep.separate(mix, clusterer=name, refs=srcs if name.startswith("oracle") else None)
            row = f"| cpu | {seconds:g} s | {name} | " + " | ".join(rtf_cells(sep.timings)) + " |"
            rows.append(row)
            print(row, flush=True)
    cpu_share = (time.process_time() - cpu0) / (time.perf_counter() - wall0)

    gpu = ""
    batch_label = f"{args.gpu_batch} x {args.gpu_seconds:g} s, batched"
    if torch.cuda.is_available():
        gpu = f"; GPU: {torch.cuda.get_device_name(0)}"
        gsep = Separator(model, device="cuda")
        mixes = [mixture(args.gpu_seconds, 1000 + i)[0] for i in range(args.gpu_batch)]
        gsep.separate_batch(mixes[:2], batch_size=2)  # warm-up
        gsep.reset_timings()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        gsep.separate_batch(mixes, batch_size=args.gpu_batch)
        torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        cells = rtf_cells(gsep.timings)
        cells[-2:] = [f"{wall / gsep.timings['audio']:.4f}", f"{gsep.timings['audio'] / wall:.0f}x"]
        row = f"| cuda | {batch_label} | kmeans | " + " | ".join(cells) + " |"
    else:
        row = f"| cuda | {batch_label} | kmeans | not measured (no GPU) | - | - | - | - | - |"
    rows.append(row)
    print(row, flush=True)

    if args.write:
        cmd = "python bench/bench_decode.py " + " ".join(argv if argv is not None else sys.argv[1:])
        notes = [
            f"Machine: {cpu_description()}{gpu}; torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
            f"load average {load0:.1f} before and {os.getloadavg()[0]:.1f} after the run (this process got "
            f"{cpu_share:.2f} CPU cores on average); "
            f"{datetime.date.today().isoformat()}.  ",
            f"Randomly initialised 2 x 600 BLSTM, K = 40 ({params:.2f}M parameters), 8 kHz, 256-sample window, "
            "64-sample hop, 129 bins; synthetic two-speaker mixtures; `Separator` defaults (encoder chunks of "
            "1000 frames with 100 overlapping, clustering fitted on at most 200k active bins, every bin then "
            "assigned). RTF = seconds per second of audio, per stage, "
            f"{'wall-clock' if args.wall else 'process CPU time (one thread: the compute time, whatever else ran)'} "
            "on the CPU; speed = times faster than real time. `oracle_kmeans` clusters 100-frame chunks and aligns them to the references. "
            "The GPU row times `separate_batch` on the whole batch (wall-clock, including the transfer).",
        ]
        write_section(args.output, SECTION, "Separation speed (`bench/bench_decode.py`)", cmd, notes, header, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
