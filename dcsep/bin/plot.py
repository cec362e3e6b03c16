"""dcsep-plot: what the model sees and does on one mixture, in one PNG.

Panels, top to bottom (as the paper's Figures 1 and 2): the mixture's log
spectrogram; the ideal binary mask (with ``--ref DATADIR --utt ID``); the
estimated binary masks; the first three principal components of the
embeddings as RGB. Mask and embedding panels show silent bins (below the
model's activity threshold) dimmed or black. Needs matplotlib (``pip install
dcsep[plot]``).

Examples::

    dcsep-plot --model exp/dc --wav mix.wav --out fig.png
    dcsep-plot --model exp/dc --ref data/tt --utt 050a050a_0.1_421c020j_-0.1 --out fig.png
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from dcsep.errors import ConfigError, DataError, DcsepError

PROG = "dcsep-plot"
SOURCE_COLOURS = np.array(
    [[0.90, 0.25, 0.20], [0.20, 0.50, 0.95], [0.20, 0.75, 0.30], [0.95, 0.70, 0.10], [0.65, 0.35, 0.85]]
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Plot spectrogram, masks and embeddings of one mixture.")
    p.add_argument("--model", required=True, help="model dir (<dir>/model.pt) or model file")
    p.add_argument("--wav", help="the mixture (default with --ref/--utt: the utterance's wav.scp entry)")
    p.add_argument("--ref", help="data dir with spk1.scp.. to draw the ideal binary mask")
    p.add_argument("--utt", help="utterance id in --ref")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--num-spk", type=int, help="sources (default: --ref's, else the model's)")
    p.add_argument("--clusterer", help="clusterer name (default: the model's)")
    p.add_argument("--channel", type=int, help="channel of a multi-channel file")
    p.add_argument("--start", type=float, default=0.0, help="first second to draw (>= 0)")
    p.add_argument("--seconds", type=float, default=4.0, help="seconds to draw (default 4; 0: all)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--dpi", type=int, default=120, help=f"resolution ({MIN_DPI} to {MAX_DPI}, default 120)")
    return p


MIN_DPI, MAX_DPI = 10, 600
FIG_WIDTH_IN = 10
#: frames encoded at a time for the embedding panel (with CONTEXT_FRAMES on each side)
SEGMENT_FRAMES, CONTEXT_FRAMES = 4000, 100


def check_options(args) -> None:
    """One-line errors for options that cannot give a figure."""
    if not MIN_DPI <= args.dpi <= MAX_DPI:
        raise ConfigError(f"--dpi must be between {MIN_DPI} and {MAX_DPI}, got {args.dpi}")
    if not math.isfinite(args.start) or args.start < 0:
        raise ConfigError(f"--start must be a number of seconds >= 0, got {args.start}")
    if not math.isfinite(args.seconds) or args.seconds < 0:
        raise ConfigError(f"--seconds must be a number of seconds >= 0 (0: all), got {args.seconds}")
    if args.num_spk is not None and args.num_spk < 1:
        raise ConfigError(f"--num-spk must be >= 1, got {args.num_spk}")
    if args.channel is not None and args.channel < 0:
        raise ConfigError(f"--channel must be >= 0, got {args.channel}")
    if Path(args.out).is_dir():
        raise ConfigError(f"--out {args.out}: a directory; give a file name such as {Path(args.out) / 'figure.png'}")


def columns(num_frames: int, max_columns: int) -> np.ndarray:
    """Indices of the frames drawn: all of them, or ``max_columns`` spread evenly.

    >>> columns(5, 10).tolist(), columns(101, 5).tolist()
    ([0, 1, 2, 3, 4], [0, 25, 50, 75, 100])
    """
    if num_frames <= max_columns:
        return np.arange(num_frames)
    return np.unique(np.linspace(0, num_frames - 1, max_columns).round().astype(np.int64))


def embeddings_at(sep, wav: np.ndarray, frames: np.ndarray, hop: int) -> np.ndarray:
    """Embeddings (len(frames), F, K) of the mixture at the given frames, encoding a segment at a time.

    Each segment of :data:`SEGMENT_FRAMES` frames is encoded with
    :data:`CONTEXT_FRAMES` of context on each side, so memory does not grow
    with the input's length; a short input is one segment (``sep.embed``).
    """
    total = int(frames[-1]) + 1
    out = []
    for a in range(0, total, SEGMENT_FRAMES):
        b = min(total, a + SEGMENT_FRAMES)
        want = frames[(frames >= a) & (frames < b)]
        if not len(want):
            continue
        s0 = max(0, a - CONTEXT_FRAMES)
        s1 = min(len(wav), (b + CONTEXT_FRAMES) * hop)
        V = sep.embed(wav[s0 * hop : s1])  # (T_seg, F, K), frame t of the segment = frame s0 + t
        out.append(V[np.minimum(want - s0, V.shape[0] - 1)])
        del V
    return np.concatenate(out, 0)


def mask_image(labels: np.ndarray, active: np.ndarray) -> np.ndarray:
    """labels (T, F) int, active (T, F) bool -> RGB (F, T, 3): one colour per source, silent bins dimmed."""
    rgb = SOURCE_COLOURS[labels % len(SOURCE_COLOURS)]  # (T, F, 3)
    rgb = rgb * np.where(active, 1.0, 0.2)[..., None]
    return rgb.transpose(1, 0, 2)


def pca_rgb(V: np.ndarray, active: np.ndarray, max_fit: int = 50_000, seed: int = 0) -> np.ndarray:
    """V (T, F, K), active (T, F) -> RGB (F, T, 3) of the first 3 principal components, silent bins black.

    Components are fitted on (a subsample of) the active bins and each is
    scaled to [0, 1] between its 1st and 99th percentile there.
    """
    t, f, k = V.shape
    X = V.reshape(-1, k).astype(np.float64)
    act = active.reshape(-1)
    fit = X[act] if act.any() else X
    if fit.shape[0] > max_fit:
        fit = fit[np.random.default_rng(seed).choice(fit.shape[0], max_fit, replace=False)]
    mean = fit.mean(0)
    _, _, vt = np.linalg.svd(fit - mean, full_matrices=False)
    comps = vt[:3]
    proj = (X - mean) @ comps.T  # (N, <=3)
    if proj.shape[1] < 3:
        proj = np.pad(proj, ((0, 0), (0, 3 - proj.shape[1])))
    ref = proj[act] if act.any() else proj
    lo, hi = np.percentile(ref, 1, axis=0), np.percentile(ref, 99, axis=0)
    rgb = np.clip((proj - lo) / np.maximum(hi - lo, 1e-9), 0, 1) * act[:, None]
    return rgb.reshape(t, f, 3).transpose(1, 0, 2)


def plot(args) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DcsepError("dcsep-plot needs matplotlib: pip install matplotlib (or 'dcsep[plot]')") from None
    import torch

    from dcsep.bin.decode import check_device
    from dcsep.bin.outdir import make_dir
    from dcsep.data.audio import load_audio
    from dcsep.data.datadir import DataDir
    from dcsep.oracle import oracle_masks
    from dcsep.separate import Separator
    from dcsep.utils import atomic_path

    if (args.ref is None) != (args.utt is None):
        raise ConfigError("--ref and --utt go together")
    if args.wav is None and args.ref is None:
        raise ConfigError("give --wav FILE, or --ref DATADIR --utt ID")
    check_options(args)
    sep = Separator.from_pretrained(args.model, device=check_device(args.device))
    refs = None
    wav_spec = args.wav
    if args.ref:
        ref = DataDir.load(args.ref, require_sources=True)
        if args.utt not in ref.wav:
            raise DataError(f"{ref.path}: no utterance {args.utt!r}")
        wav_spec = wav_spec or ref.wav[args.utt]
    wav, _ = load_audio(wav_spec, fs=sep.fs, channel=args.channel, name=args.utt)
    if args.ref:
        srcs = [load_audio(p, fs=sep.fs, name=f"{args.utt} reference {c + 1}")[0] for c, p in enumerate(ref.sources(args.utt))]
        n = len(wav)
        refs = np.stack([np.pad(s[:n], (0, max(0, n - len(s)))) for s in srcs])
    start = int(args.start * sep.fs)
    stop = len(wav) if args.seconds == 0 else min(len(wav), start + int(args.seconds * sep.fs))
    if start >= stop:
        raise ConfigError(f"--start {args.start} is past the end of the input ({len(wav) / sep.fs:.2f} s)")
    wav = wav[start:stop]
    refs = None if refs is None else refs[:, start:stop]
    num_spk = args.num_spk or (refs.shape[0] if refs is not None else None)

    # Only the window asked for, and at most a few columns per pixel: every panel is drawn from the
    # same frames, chosen evenly, so a long window costs what the pixels need (plus the STFT and masks).
    fe = sep.model.frontend
    hop = fe.hop_length
    with torch.inference_mode():
        x = sep._padded(wav)
        spec = fe.stft(x)  # (1, T, F)
        frames = torch.tensor([spec.shape[1]], device=spec.device)
        cols = columns(spec.shape[1], 2 * FIG_WIDTH_IN * args.dpi)
        idx = torch.from_numpy(cols).to(spec.device)
        active = sep.model.active_bins(spec, frames)[0][idx].cpu().numpy()  # (T', F)
        logmag = 20 * torch.log10(spec[0, idx].abs() + 1e-8).cpu().numpy()  # (T', F) dB
        t = spec.shape[1]
        del spec
        ibm = None
        if refs is not None:
            ref_spec = fe.stft(torch.from_numpy(refs).to(sep.device))  # (C, T, F)
            ibm = oracle_masks(ref_spec[:, idx].abs(), "ibm").argmax(0).cpu().numpy()
            del ref_spec
    labels = sep.masks(wav, num_spk, args.clusterer).argmax(0)[cols]  # (T', F)
    n_clusters = int(num_spk or sep.num_spk)
    V = embeddings_at(sep, wav, cols, hop)  # (T', F, K)
    extent = (start / sep.fs, (start + t * hop) / sep.fs, 0.0, sep.fs / 2000)

    panels = [("Mixture log spectrogram (80 dB range)", None)]
    if ibm is not None:
        panels.append((f"Ideal binary mask ({refs.shape[0]} sources; silent bins dimmed)", mask_image(ibm, active)))
    panels.append((f"Estimated masks ({n_clusters} clusters; silent bins dimmed)", mask_image(labels, active)))
    panels.append(("Embeddings: first 3 principal components as RGB (silent bins black)", pca_rgb(V, active)))
    fig, axes = plt.subplots(len(panels), 1, figsize=(FIG_WIDTH_IN, 2.4 * len(panels)), sharex=True, squeeze=False)
    for ax, (title, img) in zip(axes[:, 0], panels):
        if img is None:
            vmax = logmag.max()
            ax.imshow(logmag.T, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=vmax - 80, vmax=vmax)
        else:
            ax.imshow(img, origin="lower", aspect="auto", extent=extent, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("kHz")
    axes[-1, 0].set_xlabel("time (s)")
    name = args.utt or Path(str(wav_spec)).name
    fig.suptitle(f"{name} — {Path(args.model).name}", fontsize=11)
    fig.tight_layout()
    out = Path(args.out)
    make_dir(out.parent, "--out")

    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=args.dpi, format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        plot(args)
    except DcsepError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    print(f"{PROG}: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
