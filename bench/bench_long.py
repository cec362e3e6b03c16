#!/usr/bin/env python
"""Long recordings: separation time, peak memory and speaker consistency of a 10-minute input.

The input is one recording made of consecutive two-speaker mixtures of the
same two speakers (speechocean762 test speakers 0003, a man, and 0024, a
woman; their 20 utterances each paired at 0 dB, cycling through new pairings
until the length is reached). The released model separates it with
:class:`dcsep.separate.Separator`'s defaults, in a fresh process per input
length, so that each peak RSS (``ru_maxrss``) is that of one separation.

Reported per run: process CPU time (one thread) and its real-time factor,
the RSS before ``separate()`` (Python, torch, the model and the input) and
the peak during it, the size the whole utterance's embeddings would take
(T x F x K float32), and in how many of the mixtures the outputs hold the
speakers in the order that holds overall (SI-SDR of that order above the
swapped one). The peer of the longest input is the same input in one
encoder pass over the whole of it, its embeddings kept (no chunks, no second
pass), in the same run: its time and memory, and the mixtures whose speaker
order differs between the two (a swap that chunking made).

    python bench/bench_long.py                      # 60 s and 600 s, and 600 s in one encoder pass
    python bench/bench_long.py --write              # also update docs/benchmarks.md (section bench:long)

Needs the speechocean762 corpus (``$DCSEP_SPEECHOCEAN762``, else
``shared/data/speechocean762`` beside the repository).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads its BLAS
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SECTION = "long"
FS = 8000
MODEL = "speechocean762_dc_blstm"
SPEAKERS = ("0003", "0024")


def corpus_dir() -> Path | None:
    env = os.environ.get("DCSEP_SPEECHOCEAN762")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data" / "speechocean762", ROOT.parents[1] / "shared" / "data" / "speechocean762"]:
        if (cand / "test" / "wav.scp").is_file():
            return cand
    return None


def recording(root: Path, spk_a: str, spk_b: str, seconds: float | None = None):
    """Consecutive 0 dB mixtures of two speakers of the speechocean762 test set, as one input.

    Utterance i of speaker a is mixed with utterance (i + r) mod n of
    speaker b in round r = 0, 1, ... (round 0 pairs them in order), until
    ``seconds`` of audio (None: one round).

    Returns:
        (x (L,) float32, [(start, refs (2, L_i) float32) per mixture]).
    """
    from dcsep.data.audio import load_audio
    from dcsep.data.datadir import read_scp
    from dcsep.data.mixing import mix_sources
    from dcsep.data.speechocean import _resolve_audio

    utt2spk = read_scp(root / "test" / "utt2spk")
    wav = read_scp(root / "test" / "wav.scp")
    utts = [sorted(u for u, s in utt2spk.items() if s == spk) for spk in (spk_a, spk_b)]
    audio = {u: load_audio(_resolve_audio(root, wav[u]), fs=FS)[0] for group in utts for u in group}
    n = min(len(g) for g in utts)
    parts, segments, start, r = [], [], 0, 0
    while (seconds is None and r == 0) or (seconds is not None and start < seconds * FS):
        for i in range(n):
            mix, refs = mix_sources([audio[utts[0][i]], audio[utts[1][(i + r) % n]]], [0.0, 0.0], fs=FS)
            parts.append(mix.astype(np.float32))
            segments.append((start, refs.astype(np.float32)))
            start += mix.shape[0]
            if seconds is not None and start >= seconds * FS:
                break
        r += 1
    return np.concatenate(parts), segments


def speaker_order(est: np.ndarray, segments) -> tuple[np.ndarray, np.ndarray]:
    """Mean SI-SDR (dB) per mixture of the outputs in the order that holds overall, and swapped."""
    first, second = order_scores(est, segments)
    return (first, second) if first.mean() >= second.mean() else (second, first)


def order_scores(est: np.ndarray, segments) -> tuple[np.ndarray, np.ndarray]:
    """Mean SI-SDR (dB) per mixture with speaker a in output 1 and b in output 2, and the other way round."""
    from dcsep.metrics import si_sdr

    first, second = [], []
    for start, refs in segments:
        pair = si_sdr(refs[:, None], est[None, :, start : start + refs.shape[1]])  # (ref, est)
        first.append((pair[0, 0] + pair[1, 1]) / 2)
        second.append((pair[0, 1] + pair[1, 0]) / 2)
    return np.array(first), np.array(second)


def rss_mib(peak: bool) -> float:
    """Peak (ru_maxrss) or current RSS of this process in MiB."""
    if peak:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(seconds: float, whole: bool) -> dict:
    """One separation of a ``seconds`` recording in this process (``whole``: one encoder pass); its figures."""
    import torch

    from dcsep.separate import Separator

    torch.set_num_threads(1)
    x, segments = recording(corpus_dir(), *SPEAKERS, seconds)
    one_pass = {"chunk_frames": 10**7, "overlap_frames": 0, "max_embed_bytes": 2**62} if whole else {}
    sep = Separator.from_pretrained(MODEL, device="cpu", **one_pass)
    sep.clock = time.process_time
    before = rss_mib(peak=False)
    t0 = time.process_time()
    est = sep.separate(x)
    cpu = time.process_time() - t0
    first, second = order_scores(est, segments)
    kept, swapped = (first, second) if first.mean() >= second.mean() else (second, first)
    frames = sep.model.frontend.num_frames(x.shape[0])
    return {
        "seconds": x.shape[0] / FS,
        "mixtures": len(segments),
        "cpu_s": cpu,
        "rss_before_mib": before,
        "rss_peak_mib": rss_mib(peak=True),
        "embed_mib": frames * sep.model.frontend.num_bins * sep.model.embed_dim * 4 / 2**20,
        "same_order": int(np.sum(kept > swapped)),
        "si_sdr": float(kept.mean()),
        "a_first": (first > second).tolist(),
        "timings": {k: v for k, v in sep.timings.items() if k != "audio"},
    }


def main(argv=None) -> int:
    from dcsep.utils import cpu_description, write_bench_section

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, nargs="+", default=[60.0, 600.0], help="input lengths (s)")
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md (section bench:long)")
    p.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--no-peer", action="store_true", help="skip the one-pass run of the longest input")
    p.add_argument("--child", type=float, help=argparse.SUPPRESS)
    p.add_argument("--whole", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child, args.whole)))
        return 0
    if corpus_dir() is None:
        print("bench_long.py: error: speechocean762 not found; set DCSEP_SPEECHOCEAN762", file=sys.stderr)
        return 1
    load0 = os.getloadavg()[0]
    header = (
        "| input | encoder | mixtures | CPU s | RTF | RSS before (MiB) | peak RSS (MiB) | embeddings would take (MiB) "
        "| mixtures in the same order | SI-SDR (dB) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    runs = [(s, False) for s in args.seconds] + ([] if args.no_peer else [(max(args.seconds), True)])
    rows, results = [], {}
    for s, whole in runs:
        cmd = [sys.executable, __file__, "--child", str(s)] + (["--whole"] if whole else [])
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        results[(s, whole)] = r
        how = "one pass over the whole input" if whole else "chunks of 1000 frames (defaults)"
        rows.append(
            f"| {r['seconds'] / 60:.1f} min | {how} | {r['mixtures']} | {r['cpu_s']:.1f} | {r['cpu_s'] / r['seconds']:.3f} "
            f"| {r['rss_before_mib']:.0f} | {r['rss_peak_mib']:.0f} | {r['embed_mib']:.0f} "
            f"| {r['same_order']}/{r['mixtures']} | {r['si_sdr']:.2f} |"
        )
        print(rows[-1], " stages:", {k: round(v, 1) for k, v in r["timings"].items()}, flush=True)
    summary = ""
    if not args.no_peer:
        longest = max(args.seconds)
        a, b = results[(longest, False)], results[(longest, True)]
        same = sum(x == y for x, y in zip(a["a_first"], b["a_first"]))
        differ = min(same, len(a["a_first"]) - same)  # the outputs' order itself is arbitrary
        summary = (
            f"{longest / 60:.0f} min in chunks against one pass: {a['cpu_s'] / b['cpu_s']:.2f}x the CPU time, "
            f"{a['rss_peak_mib'] / b['rss_peak_mib']:.2f}x the peak RSS; the speaker order differs in {differ} of "
            f"{len(a['a_first'])} mixtures (swaps made by chunking)."
        )
        print(summary)
    if args.write:
        import torch

        cmd = "python bench/bench_long.py " + " ".join(argv if argv is not None else sys.argv[1:])
        body = "\n".join(
            [
                "## Long recordings (`bench/bench_long.py`)",
                "",
                f"Command: `{cmd.strip()}`  ",
                f"Machine: {cpu_description()}; torch {torch.__version__}, one thread; load average {load0:.1f} "
                f"before and {os.getloadavg()[0]:.1f} after the run; {datetime.date.today().isoformat()}.  ",
                f"The released model (`{MODEL}`) with `Separator`'s defaults (encoder chunks of 1000 frames, 100 "
                "shared; clustering fitted on at most 200k active bins, then every bin assigned; the embeddings kept "
                "up to 512 MiB, else a second encoder pass) on one recording of consecutive 0 dB mixtures of "
                f"speechocean762 test speakers {SPEAKERS[0]} (m) and {SPEAKERS[1]} (f). One fresh process per input: "
                "CPU = process CPU time of `separate()`, RSS before = the process with torch, the model and the "
                "input loaded, peak RSS = `ru_maxrss`. Same order: mixtures whose outputs hold the speakers in the "
                "order that holds overall; a mixture the model itself embeds the other way is in the other order in "
                "one pass too, so the line below the table counts the swaps that chunking made. SI-SDR: mean over "
                "the mixtures, in that order.",
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
