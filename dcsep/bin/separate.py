"""dcsep-separate: separate audio files, no list to write.

Each input (any format libsndfile reads, any sample rate, any channel count)
gives ``OUTDIR/<name>-spk1.wav .. <name>-spkC.wav`` (16-bit PCM) at the
input's sample rate and length, ``<name>`` being the file name without its
extension. Multi-channel files are downmixed to their mean unless
``--channel`` picks one. See docs/decoding.md.

Examples::

    dcsep-separate mix.wav -o separated
    dcsep-separate a.flac b.mp3 --num-spk auto -o separated    # 1 to 3 sources each, as many as it finds
    dcsep-separate a.flac --num-spk 3 --clusterer kmeans -o separated
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from dcsep.errors import ConfigError, DcsepError, one_line

PROG = "dcsep-separate"
DEFAULT_MODEL = "speechocean762_dc_blstm"
log = logging.getLogger("dcsep.bin.separate")


def num_spk_arg(text: str) -> int | str:
    """``--num-spk``: a whole number >= 1, or ``auto``."""
    if text == "auto":
        return text
    return max_spk_arg(text, "or auto")


def max_spk_arg(text: str, alternative: str = "") -> int:
    """``--max-spk``: a whole number >= 1."""
    what = f"a whole number >= 1{' ' + alternative if alternative else ''}, got {text!r}"
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(what) from None
    if n < 1:
        raise argparse.ArgumentTypeError(what)
    return n


def channel_arg(text: str) -> int | str:
    """``--channel``: a channel index (0-based) or ``mean``."""
    if text == "mean":
        return text
    try:
        c = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a channel index (0, 1, ...) or 'mean', got {text!r}") from None
    if c < 0:
        raise argparse.ArgumentTypeError(f"a channel index (0, 1, ...) or 'mean', got {text!r}")
    return c


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Separate the speakers of audio files with a deep-clustering model.")
    p.add_argument("inputs", nargs="+", metavar="FILE", help="audio files (wav, flac, ogg, mp3, ...; any rate and channel count)")
    p.add_argument("-o", "--outdir", required=True, help="output dir: <name>-spk<c>.wav per input")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"pretrained model name, model dir or file (default {DEFAULT_MODEL})")
    p.add_argument("--num-spk", type=num_spk_arg, help="sources per input, or 'auto': counted per input (default: the model's)")
    p.add_argument("--max-spk", type=max_spk_arg, default=3, help="the largest count of --num-spk auto (default 3)")
    p.add_argument("--clusterer", help="kmeans, soft_kmeans, spectral, ... (default: the model's)")
    p.add_argument("--clusterer-conf", default=None, help="YAML mapping of clusterer options, e.g. '{n_init: 5}'")
    p.add_argument("--channel", type=channel_arg, default="mean", help="channel of multi-channel files, or 'mean' (default): downmix")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda if available)")
    return p


def output_paths(outdir: Path, inputs: list[str], num_spk: int) -> dict[str, list[Path]]:
    """``<outdir>/<stem>-spk<c>.wav`` per input; two inputs with the same stem are a ConfigError."""
    by_stem: dict[str, str] = {}
    for f in inputs:
        stem = Path(f).stem
        if stem in by_stem:
            raise ConfigError(f"{by_stem[stem]} and {f} would both write {outdir / stem}-spk*.wav; rename one or separate them into two outdirs")
        by_stem[stem] = f
    return {f: [outdir / f"{Path(f).stem}-spk{c + 1}.wav" for c in range(num_spk)] for f in inputs}


def write_sources(paths: list[Path], sources, fs: int) -> None:
    """Write every source of one input, or none: each goes to a temporary file, renamed once all are written."""
    from dcsep.data.audio import write_wav
    from dcsep.utils import atomic_path

    with ExitStack() as stack:
        for path, s in zip(paths, sources):
            write_wav(stack.enter_context(atomic_path(path)), s, fs)


def remove_stale(outdir: Path, stem: str, num_spk: int) -> list[Path]:
    """Remove ``<stem>-spk<c>.wav`` for c > num_spk, left by an earlier run with more sources."""
    stale = []
    for p in outdir.glob(f"{stem}-spk*.wav"):
        suffix = p.name[len(stem) + 4 : -4]
        if suffix.isdigit() and int(suffix) > num_spk:
            p.unlink()
            stale.append(p)
    return stale


def separate(args) -> int:
    from dcsep.config import parse_mapping
    from dcsep.data.audio import load_audio
    from dcsep.errors import DataError, OutputError
    from dcsep.separate import Separator

    outdir = Path(args.outdir)
    if outdir.exists() and not outdir.is_dir():
        raise ConfigError(f"--outdir {outdir}: exists and is not a directory; give a directory")
    conf = parse_mapping(args.clusterer_conf, "--clusterer-conf")
    sep = Separator.from_pretrained(args.model, device=args.device, num_spk=args.num_spk, max_spk=args.max_spk)
    clus = sep.get_clusterer(args.clusterer, conf)  # validates the name and options before any work
    if clus.needs_refs:
        raise ConfigError(f"--clusterer {args.clusterer}: needs reference sources; use dcsep-decode --ref")
    output_paths(outdir, args.inputs, 1)  # name clashes, before any work
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"--outdir {outdir}: cannot create: {e.strerror or e}") from None
    log.info(f"model {args.model} ({sep.fs} Hz, {sep.device}); {len(args.inputs)} input(s) -> {outdir}")
    failed = 0
    for f in args.inputs:
        t0 = time.perf_counter()
        try:
            wav, rate = load_audio(f, channel=args.channel)
            sources = sep.separate(wav, clusterer=clus, fs=rate)
            paths = output_paths(outdir, [f], sources.shape[0])[f]
            write_sources(paths, sources, rate)
        except DataError as e:
            failed += 1
            print(f"{PROG}: error: {one_line(e)}", file=sys.stderr)
            continue
        stale = remove_stale(outdir, Path(f).stem, len(paths))
        names = " ".join(p.name for p in paths)
        note = f"; removed {' '.join(p.name for p in stale)} of an earlier run" if stale else ""
        found = " found" if args.num_spk == "auto" else ""
        log.info(f"{f}: {len(wav) / rate:.1f} s at {rate} Hz, {len(paths)} sources{found} -> {names} ({time.perf_counter() - t0:.1f} s){note}")
    log.info(f"{len(args.inputs) - failed}/{len(args.inputs)} inputs separated into {outdir}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # this tool's lines and what the audio input did (downmix, resampling), on stderr for this call only
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
    root = logging.getLogger("dcsep")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        return separate(args)
    except DcsepError as e:
        print(f"{PROG}: error: {one_line(e)}", file=sys.stderr)
        return 1
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


if __name__ == "__main__":
    sys.exit(main())
