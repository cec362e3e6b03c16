#!/usr/bin/env python
"""Clustering speed: dcsep's k-means against scikit-learn's ``KMeans`` on the same embeddings, side by side.

The released model (``pretrained/speechocean762_dc_blstm``) embeds one 10 s
two-speaker mixture (with ``--data``: two speakers' utterances of a
speechocean762 data dir, concatenated and mixed at 0 dB; without: the
synthetic voices of ``bench_decode.py``). Its N = T x F embeddings (K = 40)
are clustered into ``--k`` groups with ``--n-init`` restarts on one thread:

* ``all bins``: scikit-learn ``KMeans.fit`` on all N bins, against
  ``dcsep.clusterers.kmeans.kmeans`` and the ``kmeans`` and ``soft_kmeans``
  clusterers (which also form the masks);
* ``active bins``: fitted on the bins above the model's silence threshold,
  every bin then labelled (what ``Separator`` does): ``KMeans.fit`` on the
  active bins + ``predict`` on all, against the clusterers with ``active``.

Time: process CPU time, the median of ``--repeats`` runs (one thread: the
compute time, steady on a shared machine). Ratio = scikit-learn's time /
dcsep's (above 1: dcsep is faster). ARI: adjusted Rand index of dcsep's
labels (the argmax of its masks) against scikit-learn's. With CUDA, a row
times the ``kmeans`` clusterer on a batch of ``--gpu-batch`` copies.

    python bench/bench_cluster.py --data egs/speechocean762/data/full/cv
    python bench/bench_cluster.py --data egs/speechocean762/data/full/cv --write   # docs/benchmarks.md

``--quality DATADIR --out FILE.tsv`` instead separates every mixture of a
data dir (``wav.scp``, ``spk1.scp`` ...) with the released model, with its
default clusterer and with ``kmeans``, and writes the SI-SDR of each
(``--compare OLD.tsv`` prints the change against an earlier run, e.g. one
made with ``PYTHONPATH`` pointing at an earlier checkout's tree).
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_decode import write_section  # noqa: E402

SECTION = "cluster"
MODEL = "speechocean762_dc_blstm"
QUALITY_CLUSTERERS = ("default", "kmeans")


def two_speaker_mixture(data: Path | None, seconds: float, fs: int) -> tuple[np.ndarray, str]:
    """A (L,) float32 mixture of two speakers at 0 dB, and what it is made of."""
    n = int(seconds * fs)
    if data is None:
        from bench_decode import mixture

        return mixture(seconds, int(seconds))[0], f"synthetic two-voice mixture of {seconds:g} s"
    from dcsep.data.audio import load_audio
    from dcsep.data.datadir import read_scp

    spks = {u: line.split() for u, line in read_scp(data / "utt2spks").items()}
    per: dict[str, list[str]] = {}
    for c in (1, 2):
        for u, path in sorted(read_scp(data / f"spk{c}.scp").items()):
            per.setdefault(spks[u][c - 1], []).append(path)
    names = sorted(per)[:2]
    srcs = []
    for spk in names:
        parts, total = [], 0
        for path in dict.fromkeys(per[spk]):
            parts.append(load_audio(path, fs=fs)[0])
            total += parts[-1].shape[0]
            if total >= n:
                break
        s = np.concatenate(parts)[:n].astype(np.float64)
        srcs.append(s / (s.std() + 1e-12))
    mix = 0.05 * (srcs[0] + srcs[1])
    return mix.astype(np.float32), f"{seconds:g} s of speakers {names[0]} and {names[1]} of {data}, mixed at 0 dB"


def timed(fn, repeats: int):
    """(median process CPU seconds, last result) of ``repeats`` calls."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return statistics.median(times), out


def speed(args) -> int:
    import torch
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from dcsep.clusterers.kmeans import FIT_POINTS, kmeans
    from dcsep.registry import CLUSTERERS
    from dcsep.separate import Separator
    from dcsep.utils import cpu_description

    torch.set_num_threads(1)
    sep = Separator.from_pretrained(MODEL, device="cpu")
    mix, what = two_speaker_mixture(args.data, args.seconds, sep.fs)
    with torch.inference_mode():
        feats, spec, lengths = sep.model.frontend(sep._padded(mix))
        V = sep.model.encoder(feats, lengths).float().contiguous()  # (1, T, F, K)
        active = sep.model.active_bins(spec, lengths)  # (1, T, F)
    _, t, f, dim = V.shape
    X = V.reshape(1, t * f, dim)
    Xn, act = X[0].numpy(), active.reshape(-1).numpy()
    k, r = args.k, args.n_init
    clus = {name: CLUSTERERS.get(name)(n_init=r) for name in ("kmeans", "soft_kmeans")}

    def sk_all():
        return KMeans(k, n_init=r, random_state=0).fit(Xn).labels_

    def sk_active():
        return KMeans(k, n_init=r, random_state=0).fit(Xn[act]).predict(Xn)

    cases = [
        ("all bins", sk_all, [
            ("`kmeans()` function", lambda: kmeans(X, k, n_init=r)[0][0]),
            ("`kmeans` clusterer", lambda: clus["kmeans"](V, k)[0].argmax(0).reshape(-1)),
            ("`soft_kmeans` clusterer", lambda: clus["soft_kmeans"](V, k)[0].argmax(0).reshape(-1)),
        ]),
        ("active bins", sk_active, [
            ("`kmeans` clusterer", lambda: clus["kmeans"](V, k, active)[0].argmax(0).reshape(-1)),
            ("`soft_kmeans` clusterer", lambda: clus["soft_kmeans"](V, k, active)[0].argmax(0).reshape(-1)),
        ]),
    ]
    for fn in [sk_all] + [c[1] for c in cases[0][2]]:  # warm-up
        fn()
    load0 = os.getloadavg()[0]
    header = "| bins fitted | scikit-learn KMeans (s) | dcsep | dcsep (s) | speed ratio (sklearn / dcsep) | ARI vs sklearn |"
    header += "\n|---|---:|---|---:|---:|---:|"
    print(header, flush=True)
    rows = []
    for label, sk_fn, ours in cases:
        t_sk, ref = timed(sk_fn, args.repeats)
        n_fit = int(act.sum()) if label == "active bins" else t * f
        for name, fn in ours:
            t_us, labels = timed(fn, args.repeats)
            ari = adjusted_rand_score(ref, labels.numpy())
            rows.append(f"| {label} ({n_fit}) | {t_sk:.3f} | {name} | {t_us:.3f} | {t_sk / t_us:.2f}x | {ari:.4f} |")
            print(rows[-1], flush=True)
    gpu = ""
    if torch.cuda.is_available():
        gpu = f"; GPU: {torch.cuda.get_device_name(0)}"
        Vg = V.cuda().expand(args.gpu_batch, -1, -1, -1).contiguous()
        clus["kmeans"](Vg, k)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        clus["kmeans"](Vg, k)
        torch.cuda.synchronize()
        rows.append(f"| cuda, batch of {args.gpu_batch} x all bins | - | `kmeans` clusterer | {time.perf_counter() - t0:.3f} (wall) | - | - |")
        print(rows[-1], flush=True)

    if args.write:
        import sklearn

        cmd = "python bench/bench_cluster.py " + " ".join(args.argv)
        notes = [
            f"Machine: {cpu_description()}{gpu}; torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
            f"one thread; load average {load0:.1f} before and {os.getloadavg()[0]:.1f} after the run; "
            f"{datetime.date.today().isoformat()}.  ",
            f"Embeddings of the released model ({MODEL}) for {what}: T = {t} frames x F = {f} bins = {t * f} "
            f"bins, K = {dim}; k = {k} clusters, n_init = {r} restarts (scikit-learn: `KMeans(n_clusters={k}, "
            f"n_init={r})`, its defaults otherwise). Time: median of {args.repeats} runs, process CPU time. "
            "Ratio above 1: dcsep is faster. ARI: adjusted Rand index of dcsep's labels (argmax of the "
            "masks) against scikit-learn's. dcsep's k-means runs its restarts together on a seeded subset of "
            f"{FIT_POINTS} of the fitted bins, refines the best on all of them, then labels every bin.",
        ]
        write_section(args.output, SECTION, "Clustering speed against scikit-learn (`bench/bench_cluster.py`)", cmd, notes, header, rows)
    return 0


def quality(args) -> int:
    """SI-SDR of the released model's separations of a data dir, per mixture and clusterer, to a TSV."""
    import torch

    from dcsep.data.audio import load_audio
    from dcsep.data.datadir import read_scp
    from dcsep.metrics import si_sdr_pit
    from dcsep.separate import Separator

    torch.set_num_threads(1)
    sep = Separator.from_pretrained(MODEL, device="cpu")
    wavs = read_scp(args.quality / "wav.scp")
    refs = sorted(args.quality.glob("spk*.scp"))
    ref_maps = [read_scp(p) for p in refs]
    utts = sorted(wavs)[: args.max_utts]
    lines = ["utt\t" + "\t".join(QUALITY_CLUSTERERS)]
    for u in utts:
        mix = load_audio(wavs[u], fs=sep.fs)[0]
        ref = np.stack([load_audio(m[u], fs=sep.fs)[0] for m in ref_maps])
        vals = []
        for name in QUALITY_CLUSTERERS:
            est = sep.separate(mix, num_spk=len(ref_maps), clusterer=None if name == "default" else name)
            vals.append(float(np.mean(si_sdr_pit(ref, est)[0])))
        lines.append(u + "\t" + "\t".join(f"{v:.4f}" for v in vals))
    tmp = args.out.with_suffix(args.out.suffix + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(args.out)
    table = np.array([[float(x) for x in line.split("\t")[1:]] for line in lines[1:]])
    print(f"{len(utts)} mixtures of {args.quality}: mean SI-SDR " + ", ".join(
        f"{n} {m:.3f} dB" for n, m in zip(QUALITY_CLUSTERERS, table.mean(0))))
    if args.compare:
        old = {line.split("\t")[0]: [float(x) for x in line.split("\t")[1:]] for line in args.compare.read_text().splitlines()[1:]}
        diff = np.array([np.array(row) - old[u] for u, row in zip(utts, table) if u in old])
        for j, n in enumerate(QUALITY_CLUSTERERS):
            print(f"{n}: mean change {diff[:, j].mean():+.4f} dB over {len(diff)} mixtures, largest |change| "
                  f"{np.abs(diff[:, j]).max():.4f} dB, {int((np.abs(diff[:, j]) > 1e-3).sum())} changed by more than 0.001 dB")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="speechocean762 data dir (utt2spks, spk1.scp, spk2.scp) for the mixture")
    p.add_argument("--seconds", type=float, default=10.0, help="mixture length (default 10)")
    p.add_argument("--k", type=int, default=2, help="clusters (default 2)")
    p.add_argument("--n-init", type=int, default=3, help="restarts, both sides (default 3)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per row, median (default 5)")
    p.add_argument("--gpu-batch", type=int, default=16, help="utterances in the CUDA row (default 16)")
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md (section bench:cluster)")
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md", help=argparse.SUPPRESS)
    p.add_argument("--quality", type=Path, help="instead: SI-SDR of the separations of this data dir")
    p.add_argument("--out", type=Path, help="with --quality: the TSV to write")
    p.add_argument("--compare", type=Path, help="with --quality: an earlier TSV to compare with")
    p.add_argument("--max-utts", type=int, default=None, help="with --quality: the first N mixtures only")
    args = p.parse_args(argv)
    args.argv = argv if argv is not None else sys.argv[1:]
    if args.quality:
        if args.out is None:
            p.error("--quality needs --out FILE.tsv")
        return quality(args)
    return speed(args)


if __name__ == "__main__":
    sys.exit(main())
