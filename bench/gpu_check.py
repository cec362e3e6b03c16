"""The GPU check: the CUDA paths of training and decoding that CPU tests cannot reach.

    tools/gpu_check.sh                   # the same as: python bench/gpu_check.py
    python bench/gpu_check.py --quick    # fewer steps and sizes (about a minute)
    python bench/gpu_check.py --out gpu_check.md --keep /tmp/gpu_check

On a machine without a CUDA GPU it says so and exits 0. On one, it prints a
table with one row per check and exits 1 if a check failed:

* the LSTM's compute dtype under ``amp_dtype: bfloat16`` and ``float16``
  (a plain ``nn.LSTM`` and dcsep's encoder, which runs it in float32 under
  bfloat16);
* 50 training steps of ``dcsep-train`` on CUDA in each AMP mode (off,
  bfloat16, float16), with a falling loss;
* with 2 GPUs, a 2-process torchrun run against the 1-GPU run at the same
  global batch (SGD; weights within float rounding);
* a run killed (``os._exit``) after a checkpoint and resumed, against an
  uninterrupted run, with cuDNN LSTM dropout (bit-identical weights?);
* ``dcsep-decode --device cuda`` against ``--device cpu`` on the same
  mixtures (SI-SDR within 0.05 dB per source);
* GPU frames/s of training steps for the 2x600 and 4x600 BLSTM at batch 16,
  64 and 256 (float32 and bfloat16);
* batched decoding throughput on the GPU (audio seconds per wall second).

Training data are generated (harmonic "voices" with syllabic envelopes, two
speakers per mixture, 8 kHz), so nothing needs downloading. The pretrained
model ``pretrained/speechocean762_dc_blstm`` is the one decoded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PRETRAINED = ROOT / "pretrained" / "speechocean762_dc_blstm"
#: the training runs: a 2 x 300 BLSTM, 10 steps of 8 chunks of 100 frames per epoch
TRAIN_CONF = {
    "encoder": "blstm",
    "encoder_conf": {"num_layers": 2, "hidden_units": 300, "embed_dim": 20},
    "clusterer_conf": {"n_init": 1},
    "batch_size": 8,
    "chunk_frames": 100,
    "max_epochs": 5,
    "num_workers": 0,
    "log_interval": 10,
    "keep_nbest": 1,
    "optim_conf": {"lr": 1.0e-3},
}
DECODE_TOLERANCE_DB = 0.05
#: where the checks run: "cuda"; "cpu" only for --smoke (the script's own plumbing, tiny sizes, on a CPU)
DEVICE = "cuda"


# ---- pure helpers (tested on CPU) ------------------------------------------------
def cuda_status() -> tuple[bool, str]:
    """Whether a CUDA GPU can be used, and a line saying what this machine has."""
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() > 0:
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        return True, f"{torch.cuda.device_count()} CUDA GPU(s): {names}; torch {torch.__version__}"
    build = f"torch {torch.__version__} (CUDA build {torch.version.cuda})" if torch.version.cuda else (
        f"torch {torch.__version__} is a CPU-only build")
    return False, f"no CUDA GPU visible ({build})"


def compare_states(a: dict, b: dict) -> tuple[bool, float]:
    """(bit-identical, largest absolute difference) of two state dicts with the same keys."""
    import torch

    if a.keys() != b.keys():
        return False, float("inf")
    same, worst = True, 0.0
    for k in a:
        if not torch.equal(a[k], b[k]):
            same = False
            if torch.is_floating_point(a[k]):
                worst = max(worst, float((a[k].double() - b[k].double()).abs().max()))
            else:
                worst = float("inf")
    return same, worst


def loss_falls(losses: list[float], ratio: float = 0.95) -> bool:
    """The last epoch's training loss is below ``ratio`` times the first's, and all are finite.

    Example:
        >>> loss_falls([1.0, 0.8, 0.7]), loss_falls([1.0, 0.97]), loss_falls([1.0, float("nan")])
        (True, False, False)
    """
    import math

    return len(losses) > 1 and all(math.isfinite(x) for x in losses) and losses[-1] < ratio * losses[0]


def table(rows: list[tuple[str, str, str]]) -> str:
    """Markdown table of (check, result, status) rows.

    Example:
        >>> print(table([("a", "1", "PASS")]))
        | check | result | status |
        |---|---|---|
        | a | 1 | PASS |
    """
    out = ["| check | result | status |", "|---|---|---|"]
    out += [f"| {c} | {r} | {s} |" for c, r, s in rows]
    return "\n".join(out)


# ---- data and runs ---------------------------------------------------------------
def make_data(root: Path) -> tuple[Path, Path]:
    """40 two-second training mixtures and 8 validation mixtures, generated."""
    from tests.conftest import make_tiny_corpus

    tr, cv = root / "tr", root / "cv"
    if not (tr / "wav.scp").is_file():
        make_tiny_corpus(tr, num_utts=40, seconds=2.0, seed=0)
        make_tiny_corpus(cv, num_utts=8, seconds=2.0, seed=1)
    return tr, cv


def train_in_subprocess(conf: dict, data: tuple[Path, Path], exp: Path, kill_at: int = 0, resume: bool = False,
                        nproc: int = 1) -> subprocess.CompletedProcess:
    """``dcsep-train`` (or torchrun with ``nproc`` processes) in a fresh process; ``kill_at``: ``os._exit`` there."""
    exp.parent.mkdir(parents=True, exist_ok=True)
    cfg = exp.parent / f"{exp.name}.yaml"
    import yaml

    cfg.write_text(yaml.safe_dump(conf))
    args = ["--config", str(cfg), "--train-dir", str(data[0]), "--valid-dir", str(data[1]), "--exp-dir", str(exp),
            "--ngpu", "1" if DEVICE == "cuda" else "0", "--no-progress"] + (["--resume"] if resume else [])
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
               "-m", "dcsep.bin.train", *args]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps({"args": args, "kill_at": kill_at})]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _worker(spec: str) -> int:
    """A training process: dcsep-train's main, hard-killed (``os._exit(137)``) after global step ``kill_at``."""
    spec = json.loads(spec)
    if spec["kill_at"]:
        from dcsep.train.trainer import Trainer

        real = Trainer._train_step

        def step(self, *a, **k):
            out = real(self, *a, **k)
            if self.state.global_step + 1 == spec["kill_at"]:  # the step just taken is this one
                os._exit(137)
            return out

        Trainer._train_step = step
    from dcsep.bin.train import main

    return main(spec["args"])


def model_state(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def history(exp: Path) -> list[dict]:
    from dcsep.train.checkpoint import load_checkpoint

    return load_checkpoint(exp / "checkpoints" / "checkpoint.pt")["state"]["history"]


def _failed(proc: subprocess.CompletedProcess) -> str:
    return "exit %d: %s" % (proc.returncode, (proc.stderr.strip().splitlines() or ["?"])[-1][:200])


# ---- the checks ------------------------------------------------------------------
def check_lstm_dtype() -> list[tuple[str, str, str]]:
    import torch

    from dcsep.encoders.blstm import BLSTMStack

    rows = []
    x = torch.randn(4, 50, 129, device=DEVICE)
    lens = torch.tensor([50, 50, 40, 30])
    plain = torch.nn.LSTM(129, 64, num_layers=2, bidirectional=True, batch_first=True).to(DEVICE)
    ours = BLSTMStack(129, 64, 2, 0.0).to(DEVICE)
    for name, dt, want in (("bfloat16", torch.bfloat16, torch.float32), ("float16", torch.float16, torch.float16)):
        got = {}
        for which, fn in (("plain nn.LSTM", lambda: plain(x)[0]), ("dcsep encoder", lambda: ours(x, lens))):
            try:
                with torch.autocast(DEVICE, dtype=dt):
                    got[which] = fn().dtype
            except RuntimeError as e:  # e.g. a CPU without lower-precision LSTM kernels
                got[which] = f"error ({str(e).splitlines()[0][:60]})"
        rows.append((f"LSTM compute dtype, amp_dtype {name}", "; ".join(f"{k}: {v}" for k, v in got.items()),
                     "PASS" if got["dcsep encoder"] == want else f"FAIL (want {want})"))
    return rows


def check_amp_training(data, work: Path, steps_per_mode: int) -> tuple[list, dict]:
    rows, exps = [], {}
    epochs = max(1, steps_per_mode // 10)
    for mode in ("off", "bfloat16", "float16"):
        conf = dict(TRAIN_CONF, max_epochs=epochs)
        if mode != "off":
            conf.update(amp=True, amp_dtype=mode)
        exp = work / f"amp_{mode}"
        t0 = time.perf_counter()
        proc = train_in_subprocess(conf, data, exp)
        dt = time.perf_counter() - t0
        if proc.returncode:
            rows.append((f"{10 * epochs} training steps, amp {mode}", _failed(proc), "FAIL"))
            continue
        losses = [h["train_loss"] for h in history(exp)]
        summary = json.loads((exp / "train_summary.json").read_text())
        rows.append((f"{summary['steps']} training steps, amp {mode}",
                     f"train loss by epoch {', '.join(f'{x:.3f}' for x in losses)}; "
                     f"{summary['nonfinite_batches']} non-finite; {dt:.0f} s with start-up",
                     "PASS" if loss_falls(losses) and summary["device"] == DEVICE else "FAIL"))
        exps[mode] = exp
    return rows, exps


def check_two_gpus(data, work: Path) -> list:
    import torch

    if torch.cuda.device_count() < 2:
        return [("2-GPU torchrun vs 1 GPU", f"{torch.cuda.device_count()} GPU visible", "SKIP")]
    conf = dict(TRAIN_CONF, max_epochs=2, optim="sgd", optim_conf={"lr": 0.1, "momentum": 0.5})
    one = train_in_subprocess(conf, data, work / "one_gpu")
    two = train_in_subprocess(conf, data, work / "two_gpus", nproc=2)
    if one.returncode or two.returncode:
        return [("2-GPU torchrun vs 1 GPU", _failed(one if one.returncode else two), "FAIL")]
    same, worst = compare_states(model_state(work / "one_gpu" / "model.pt"), model_state(work / "two_gpus" / "model.pt"))
    va = json.loads((work / "one_gpu" / "train_summary.json").read_text())["best_valid_loss"]
    vb = json.loads((work / "two_gpus" / "train_summary.json").read_text())["best_valid_loss"]
    ok = worst < 1e-3 and abs(va - vb) <= 1e-3 * abs(va)
    return [("2-GPU torchrun vs 1 GPU (global batch 8, SGD)",
             f"largest weight difference {worst:.2e}; valid loss {va:.5f} vs {vb:.5f}", "PASS" if ok else "FAIL")]


def check_resume(data, work: Path) -> list:
    # dropout between the LSTM layers: cuDNN's own dropout state; a checkpoint every 7 steps, killed at step 17
    conf = dict(TRAIN_CONF, max_epochs=3, save_interval_steps=7,
                encoder_conf=dict(TRAIN_CONF["encoder_conf"], dropout=0.3))
    ref = train_in_subprocess(conf, data, work / "resume_ref")
    killed = train_in_subprocess(conf, data, work / "resume_exp", kill_at=17)
    resumed = train_in_subprocess(conf, data, work / "resume_exp", resume=True)
    if ref.returncode or killed.returncode != 137 or resumed.returncode:
        bad = ref if ref.returncode else (resumed if resumed.returncode else killed)
        return [("resume after a kill vs uninterrupted (cuDNN dropout)", _failed(bad), "FAIL")]
    same, worst = compare_states(model_state(work / "resume_ref" / "model.pt"),
                                 model_state(work / "resume_exp" / "model.pt"))
    return [("resume after a kill (step 17, checkpoint at 14) vs uninterrupted, LSTM dropout 0.3",
             "bit-identical weights" if same else f"weights differ, by up to {worst:.2e}",
             "PASS" if same else "FAIL")]


def _scores(outdir: Path, ref_dir: Path) -> dict:
    from dcsep.data.audio import load_audio
    from dcsep.metrics import si_sdr_pit

    refs = {}
    for c in (1, 2):
        for line in (ref_dir / f"spk{c}.scp").read_text().splitlines():
            utt, path = line.split(maxsplit=1)
            refs.setdefault(utt, []).append(load_audio(path)[0])
    ests = {}
    for c in (1, 2):
        for line in (outdir / f"spk{c}.scp").read_text().splitlines():
            utt, path = line.split(maxsplit=1)
            ests.setdefault(utt, []).append(load_audio(path)[0])
    import numpy as np

    return {u: np.sort(si_sdr_pit(np.stack(refs[u]), np.stack(ests[u]))[0]) for u in refs}


def check_decode(data, work: Path) -> list:
    import numpy as np

    from dcsep.bin.decode import main as decode

    cv = data[1]
    for dev in ("cpu", DEVICE):
        rc = decode(["--model", str(PRETRAINED), "--scp", str(cv / "wav.scp"), "--outdir", str(work / f"dec_{dev}"),
                     "--device", dev, "--num-spk", "2"])
        if rc:
            return [(f"dcsep-decode --device {dev}", f"exit {rc}", "FAIL")]
    a, b = _scores(work / "dec_cpu", cv), _scores(work / f"dec_{DEVICE}", cv)
    worst = max(float(np.abs(a[u] - b[u]).max()) for u in a)
    mean = float(np.mean([a[u].mean() for u in a]))
    return [(f"dcsep-decode --device {DEVICE} vs cpu ({len(a)} mixtures)",
             f"largest SI-SDR difference {worst:.4f} dB (mean SI-SDR {mean:.2f} dB)",
             "PASS" if worst <= DECODE_TOLERANCE_DB else "FAIL")]


def check_throughput(batches: list[int], steps: int) -> list:
    import torch

    from bench_train import BLSTM_2X600, BLSTM_4X600, run_case

    rows = []
    for name, conf in (("2x600", BLSTM_2X600), ("4x600", BLSTM_4X600)):
        for amp in (False, True):
            figures = []
            for b in batches:
                try:
                    r = run_case(conf, b, 100, DEVICE, amp, warmup=2, steps=steps)
                    figures.append(f"batch {b}: {r['frames_per_s']:,.0f} ({r['mem_gib']:.1f} GiB)")
                except torch.cuda.OutOfMemoryError:
                    figures.append(f"batch {b}: out of memory")
                    torch.cuda.empty_cache()
            rows.append((f"training frames/s, BLSTM {name}, {'bfloat16' if amp else 'float32'}, 100-frame chunks",
                         "; ".join(figures), "INFO"))
    return rows


def check_batched_decode(data) -> list:
    import numpy as np
    import torch

    from dcsep.data.audio import load_audio
    from dcsep.separate import Separator

    wavs = [load_audio(line.split(maxsplit=1)[1])[0]
            for line in (data[0] / "wav.scp").read_text().splitlines()[: 32 if DEVICE == "cuda" else 4]]
    sep = Separator.from_pretrained(str(PRETRAINED), device=DEVICE, num_spk=2)
    sync = torch.cuda.synchronize if DEVICE == "cuda" else (lambda: None)
    audio = sum(len(w) for w in wavs) / sep.fs
    figures = []
    for bs in (1, 8, 32) if DEVICE == "cuda" else (1, 4):
        sep.separate_batch(wavs[:bs], batch_size=bs)  # warm-up
        sync()
        t0 = time.perf_counter()
        sep.separate_batch(wavs, batch_size=bs)
        sync()
        figures.append(f"batch {bs}: {audio / (time.perf_counter() - t0):.0f}x real time")
    return [(f"batched decoding on {DEVICE} ({len(wavs)} x {np.mean([len(w) for w in wavs]) / sep.fs:.0f} s)",
             "; ".join(figures), "INFO")]


def run_checks(work: Path, quick: bool) -> list:
    data = make_data(work / "data")
    checks = [
        ("lstm", check_lstm_dtype),
        ("amp", lambda: check_amp_training(data, work, 20 if quick else 50)[0]),
        ("ddp", lambda: check_two_gpus(data, work)),
        ("resume", lambda: check_resume(data, work)),
        ("decode", lambda: check_decode(data, work)),
        ("speed", lambda: check_throughput([1] if DEVICE == "cpu" else [16, 64] if quick else [16, 64, 256],
                                           1 if DEVICE == "cpu" else 3 if quick else 10)),
        ("batched decode", lambda: check_batched_decode(data)),
    ]
    rows = []
    for name, fn in checks:
        try:
            rows += fn()
        except Exception as e:  # one broken check must not hide the others' results
            traceback.print_exc()
            rows.append((name, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}", "FAIL"))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and batch sizes")
    p.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    p.add_argument("--keep", type=Path, default=None, help="work dir to keep (default: a temporary one)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # the plumbing, on a CPU, tiny sizes
    args = p.parse_args(argv)
    if args.worker is not None:
        return _worker(args.worker)
    ok, what = cuda_status()
    if args.smoke:
        global DEVICE, TRAIN_CONF
        DEVICE, ok, what = "cpu", True, "smoke run on the CPU (not a GPU check)"
        TRAIN_CONF = dict(TRAIN_CONF, encoder_conf={"num_layers": 2, "hidden_units": 8, "embed_dim": 4})
    if not ok:
        print(f"gpu_check: {what}: nothing to check on this machine (run it where a GPU is visible)")
        return 0
    print(f"gpu_check: {what}", flush=True)
    t0 = time.perf_counter()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        rows = run_checks(args.keep, args.quick)
    else:
        with tempfile.TemporaryDirectory(prefix="dcsep_gpu_check_") as d:
            rows = run_checks(Path(d), args.quick)
    text = f"GPU check, {what}, {time.strftime('%Y-%m-%d')}, {time.perf_counter() - t0:.0f} s\n\n{table(rows)}\n"
    print("\n" + text)
    if args.out is not None:
        args.out.write_text(text)
    return 1 if any(s.startswith("FAIL") for _, _, s in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
