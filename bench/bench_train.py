"""Training throughput: frames/s and audio hours per wall hour for whole training steps.

A step is what ``dcsep-train`` does per batch: ``DeepClustering.forward_loss``
(the encoder under autocast with ``--amp`` on CUDA; the float32 low-rank
affinity loss with its IBM targets and silence weights), backward, gradient
clipping and an Adam update. Data are
synthetic random two-speaker chunks in memory, so the figures exclude data
loading. A few warm-up steps, then timed steps.

    python bench/bench_train.py                      # the paper's 2x600 and a 4x600 BLSTM, CPU
    python bench/bench_train.py --device cuda --amp --batch-sizes 16 32 64 --steps 20
    python bench/bench_train.py --config conf/my_model.yaml --batch-sizes 8
    python bench/bench_train.py --write              # also update docs/benchmarks.md (section bench:train)
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "train"

BLSTM_2X600 = {"encoder": "blstm", "encoder_conf": {"num_layers": 2, "hidden_units": 600, "embed_dim": 40}}
BLSTM_4X600 = {"encoder": "blstm", "encoder_conf": {"num_layers": 4, "hidden_units": 600, "embed_dim": 40}}
BUILTIN = {"blstm-2x600 (paper)": BLSTM_2X600, "blstm-4x600": BLSTM_4X600}


def synthetic_batch(batch: int, num_samples: int, num_spk: int, fs: int, gen):
    """Random voiced-like sources: noise under a random syllabic envelope, (B, C, L), and their mixture (B, L)."""
    import torch

    t = torch.arange(num_samples) / fs
    rate = torch.rand(batch, num_spk, 1, generator=gen) * 3 + 2
    phase = torch.rand(batch, num_spk, 1, generator=gen) * 6.28
    env = 0.55 + 0.45 * torch.sin(2 * torch.pi * rate * t + phase)
    src = 0.1 * torch.randn(batch, num_spk, num_samples, generator=gen) * env
    return src.sum(1), src


def run_case(model_conf: dict, batch: int, chunk_frames: int, device: str, amp: bool, warmup: int, steps: int,
             amp_dtype: str = "bfloat16") -> dict:
    import torch

    from dcsep.model import DeepClustering
    from dcsep.train.sampling import frames_to_samples

    torch.manual_seed(0)
    model = DeepClustering.from_config(model_conf).to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = frames_to_samples(model.frontend, chunk_frames)
    gen = torch.Generator().manual_seed(0)
    mix, src = synthetic_batch(batch, n, 2, model.fs, gen)
    mix, src = mix.to(device), src.to(device)
    lens = torch.full((batch,), n, dtype=torch.long, device=device)
    dev = torch.device(device)
    use_amp = amp and dev.type == "cuda"
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    batch_ = {"mix": mix, "sources": src, "lengths": lens}
    dtype = getattr(torch, amp_dtype) if use_amp else None
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None

    def step():
        opt.zero_grad(set_to_none=True)
        loss, _ = model.forward_loss(batch_, dtype)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            scaler.step(opt)
            scaler.update()
            return loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    float(loss.detach())  # waits for the device
    dt = (time.perf_counter() - t0) / steps
    from dcsep.train.reporting import rss_bytes

    mem = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else rss_bytes()
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "step_ms": dt * 1000,
        "frames_per_s": batch * chunk_frames / dt,
        "rt": batch * n / model.fs / dt,  # audio seconds per wall second = audio hours per wall hour
        "mem_gib": mem / 2**30,
        "mem_kind": "CUDA max allocated" if dev.type == "cuda" else "process RSS",
    }


def main(argv=None) -> int:
    from dcsep.utils import cpu_description, write_bench_section

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", action="append", default=None,
                   help="model or training YAML (repeatable); default: built-in 2x600 and 4x600 BLSTMs, K=40")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 16])
    p.add_argument("--chunk-frames", type=int, default=100)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast (CUDA only)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md (section bench:train)")
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench_train: error: --device cuda but CUDA is not available", file=sys.stderr)
        return 1
    if args.config:
        from dcsep.config import load_yaml
        from dcsep.model import MODEL_KEYS

        models = {Path(c).stem: {k: v for k, v in load_yaml(c).items() if k in MODEL_KEYS} for c in args.config}
    else:
        models = BUILTIN

    load0 = os.getloadavg()[0]
    rows = []
    header = (
        "| model | params | device | batch | chunk (frames) | step (ms) | frames/s | audio h / wall h | memory (GiB) |\n"
        "|---|---:|---|---:|---:|---:|---:|---:|---:|"
    )
    print(header)
    mem_kind = ""
    for name, conf in models.items():
        for b in args.batch_sizes:
            r = run_case(conf, b, args.chunk_frames, args.device, args.amp, args.warmup, args.steps)
            mem_kind = r["mem_kind"]
            dev = args.device + (" bf16" if args.amp and args.device.startswith("cuda") else "")
            row = (
                f"| {name} | {r['params'] / 1e6:.2f}M | {dev} | {b} | {args.chunk_frames} | {r['step_ms']:.0f} | "
                f"{r['frames_per_s']:.0f} | {r['rt']:.1f} | {r['mem_gib']:.2f} |"
            )
            print(row, flush=True)
            rows.append(row)

    if args.write:
        gpu = f", GPU {torch.cuda.get_device_name()}" if args.device.startswith("cuda") else ""
        cmd = "python bench/bench_train.py " + " ".join(argv if argv is not None else sys.argv[1:])
        body = (
            "## Training throughput (`bench/bench_train.py`)\n\n"
            f"Command: `{cmd.strip()}`  \n"
            f"Machine: {cpu_description()}{gpu}; torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
            f"load average {load0:.1f} before and {os.getloadavg()[0]:.1f} after the run; "
            f"{datetime.date.today().isoformat()}.  \n"
            f"One step = forward, float32 loss, backward, clipping, Adam update on synthetic 2-speaker chunks "
            f"(no data loading); {args.warmup} warm-up and {args.steps} timed steps. "
            f"Audio h / wall h = seconds of mixture processed per wall-clock second. Memory: {mem_kind}.\n\n"
            + header + "\n" + "\n".join(rows) + "\n"
        )
        if not args.device.startswith("cuda"):
            body += (
                "\nGPU: not yet measured (no GPU was available); on one, "
                "`python bench/bench_train.py --device cuda --amp --batch-sizes 16 64 256 --steps 20`.\n"
            )
        write_bench_section(args.output, SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
