#!/usr/bin/env python
"""Time and peak memory of the low-rank vs the naive affinity loss (forward + backward).

Each case runs in its own subprocess, so that its peak memory can be read on
the CPU from the process's maximum resident set size (``ru_maxrss`` after the
run minus ``ru_maxrss`` once the inputs exist); on CUDA it is
``torch.cuda.max_memory_allocated`` minus the memory held by the inputs.
The naive loss builds N x N matrices (N = T x F bins); a case whose estimated
need exceeds ``--mem-limit-gb`` is not run and shows as "OOM (needs X GB)".

Usage:
    python bench/bench_loss.py            # T = 100, 400, 1000; K = 20, 40, 60; batch 1 and 16
    python bench/bench_loss.py --quick    # T = 100, 400; K = 40; batch 1
    python bench/bench_loss.py --write    # also update docs/benchmarks.md (section bench:loss)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "loss"
NAIVE_MATRICES = 4  # N x N float32 matrices alive at the naive loss's peak (measured: 3.7 at T = 100)


def naive_bytes(b: int, n: int, itemsize: int = 4) -> int:
    """Estimated peak of the naive loss: a few (B, N, N) matrices."""
    return NAIVE_MATRICES * b * n * n * itemsize


def rss_kib_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def worker(args: dict) -> dict:
    """Run one case in this process: returns {'ms': median time, 'peak_mb': peak memory of one run}."""
    import torch

    from dcsep.losses.abs import ibm_targets
    from dcsep.registry import LOSSES

    torch.set_num_threads(args["threads"])
    device = torch.device(args["device"])
    b, t, f, k, c = args["batch"], args["frames"], args["bins"], args["embed_dim"], 2
    g = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        V = torch.randn(b, t, f, k, generator=g, device=device)
        V.div_(V.norm(dim=-1, keepdim=True))
        src = torch.rand(b, c, t, f, generator=g, device=device)
        Y = ibm_targets(src)
        mix = src.sum(1)
        del src
    V.requires_grad_()
    loss_fn = LOSSES.get(args["loss"])(weight="vad")

    def step():
        V.grad = None
        loss = loss_fn(V, Y, mix)
        loss.backward()
        return loss

    if device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        base = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rss_kib_now())
        step()
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024
    wall, cpu = [], []
    budget = time.perf_counter() + args["seconds"]
    while len(wall) < args["min_reps"] or (time.perf_counter() < budget and len(wall) < 50):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    wall.sort()
    cpu.sort()
    return {
        "wall_ms": 1000 * wall[len(wall) // 2],
        "cpu_ms": 1000 * cpu[len(cpu) // 2],
        "peak_mb": peak / 2**20,
        "reps": len(wall),
    }


def run_case(case: dict, timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(case)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout > {timeout:.0f} s"}
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        if "out of memory" in out.stderr.lower() or out.returncode in (-9, 137):
            return {"error": "OOM (killed)"}
        return {"error": f"failed: {last[:80]}"}
    res = json.loads(out.stdout.strip().splitlines()[-1])
    # CPU: process time (steady on a shared machine; with one thread it is the compute time); CUDA: wall time
    res["ms"] = res["wall_ms"] if case["device"] == "cuda" or case.get("wall") else res["cpu_ms"]
    return res


def fmt_mem(mb: float) -> str:
    return f"{mb / 1024:.2f} GB" if mb >= 1024 else f"{mb:.1f} MB"


def cell(res: dict) -> tuple[str, str]:
    if "error" in res:
        return res["error"], "-"
    return f"{res['ms']:.1f}", fmt_mem(res["peak_mb"])


def main(argv=None) -> int:
    from dcsep.utils import cpu_description, write_bench_section

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="T = 100, 400; K = 40; batch 1")
    p.add_argument("--frames", type=int, nargs="+", help="frame counts T (default 100 400 1000)")
    p.add_argument("--embed-dims", type=int, nargs="+", help="embedding dimensions K (default 20 40 60)")
    p.add_argument("--batch-sizes", type=int, nargs="+", help="batch sizes (default 1 16)")
    p.add_argument("--bins", type=int, default=129, help="frequency bins F (default 129)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: CPU, and CUDA when there is one")
    p.add_argument("--mem-limit-gb", type=float, default=8.0, help="skip the naive loss when it would need more (default 8)")
    p.add_argument("--seconds", type=float, default=1.0, help="timing budget per case after the first run (default 1)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: steady figures on a shared machine)")
    p.add_argument("--wall", action="store_true", help="CPU: report wall-clock instead of process CPU time")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds before a case is given up")
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md (section bench:loss)")
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md", help=argparse.SUPPRESS)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    frames = args.frames or ([100, 400] if args.quick else [100, 400, 1000])
    dims = args.embed_dims or ([40] if args.quick else [20, 40, 60])
    batches = args.batch_sizes or ([1] if args.quick else [1, 16])
    import torch

    devices = ["cpu"] if args.device == "cpu" else ["cuda"] if args.device == "cuda" else ["cpu"]
    if args.device == "auto" and torch.cuda.is_available():
        devices.append("cuda")
    if "cuda" in devices and not torch.cuda.is_available():
        print("bench_loss: error: --device cuda but no CUDA device", file=sys.stderr)
        return 1

    header = (
        "| device | batch | T | K | N = T x F | low-rank ms | low-rank peak | naive ms | naive peak | speed-up |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    rows = []
    print(header, flush=True)
    for device in devices:
        for b in batches:
            for t in frames:
                for k in dims:
                    n = t * args.bins
                    case = dict(device=device, batch=b, frames=t, bins=args.bins, embed_dim=k, threads=args.threads,
                                seconds=args.seconds, min_reps=3, wall=args.wall)
                    low = run_case({**case, "loss": "lowrank_affinity"}, args.timeout)
                    need = naive_bytes(b, n) / 1e9
                    if need > args.mem_limit_gb:
                        naive = {"error": f"OOM (needs {need:.0f} GB)" if need >= 10 else f"OOM (needs {need:.1f} GB)"}
                    else:
                        naive = run_case({**case, "loss": "naive_affinity", "min_reps": 1}, args.timeout)
                    speed = f"{naive['ms'] / low['ms']:.0f}x" if "ms" in low and "ms" in naive else "-"
                    row = f"| {device} | {b} | {t} | {k} | {n} | {' | '.join(cell(low))} | {' | '.join(cell(naive))} | {speed} |"
                    rows.append(row)
                    print(row, flush=True)

    if args.write:
        cmd = "python bench/bench_loss.py" + (" " + " ".join(a for a in (argv if argv is not None else sys.argv[1:])))
        gpu = f"; GPU: {torch.cuda.get_device_name(0)}" if "cuda" in devices else ""
        timing = (
            "wall-clock"
            if args.wall
            else "process CPU time on the CPU (steadier than wall-clock on a shared machine; "
            "with one thread it is the compute time), wall-clock on CUDA"
        )
        body = "\n".join(
            [
                "## Affinity loss: low-rank vs naive (forward + backward)",
                "",
                f"Command: `{cmd.strip()}`  ",
                f"Machine: {cpu_description()}{gpu}; torch {torch.__version__}, {args.threads} CPU threads; "
                f"{datetime.date.today().isoformat()}.  ",
                f"F = {args.bins} bins, 2 speakers, VAD weights, float32. Time (ms): median over repeated runs, {timing}. "
                "Peak: extra memory of one forward + backward beyond the inputs (CPU: maximum resident set size; "
                "CUDA: max_memory_allocated). The naive loss needs about "
                f"{NAIVE_MATRICES} x B x N^2 x 4 bytes; cases above --mem-limit-gb ({args.mem_limit_gb:g} GB) are not run.",
                "",
                header,
                *rows,
            ]
        )
        write_bench_section(args.output, SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
