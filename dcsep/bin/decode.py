"""dcsep-decode: separate every mixture of a Kaldi-style list.

Writes ``OUTDIR/wav/<utt>-spk<c>.wav`` (16-bit, at the input's sample rate and length) and
``OUTDIR/spk1.scp .. spkC.scp``; with ``--write-masks`` / ``--write-embeddings``
also kaldiio arks (``masks.<job>.ark`` + ``masks.scp``, ``embeddings.<job>.ark``
+ ``embeddings.scp``). See docs/decoding.md.

Examples::

    dcsep-decode --model exp/dc --scp data/tt/wav.scp --outdir exp/dc/decode_tt --nj 4
    dcsep-decode --oracle ibm --ref data/tt --scp data/tt/wav.scp --outdir exp/oracle_ibm/decode_tt
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import re
import sys
import time
from pathlib import Path

from dcsep.bin.decode_worker import DecodeOptions, Worker, _init_worker, _printable, _run_batch, job_device  # noqa: F401 - re-exported
from dcsep.bin.outdir import (
    DONE_LOG,
    RECORD,
    DirLock,
    DoneLog,
    check_record,
    clusterer_settings,
    file_signature,
    has_decode_outputs,
    make_dir,
    name_max,
    read_ark_scp,
    remove_decode_outputs,
    sha256_file,
    signature,
    unsafe_id_reason,
    wav_paths,
    write_record,
)
from dcsep.errors import ConfigError, DataError, DcsepError

PROG = "dcsep-decode"
log = logging.getLogger("dcsep.decode")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Separate the mixtures of a wav.scp with a deep-clustering model.")
    p.add_argument("--model", help="model dir (<dir>/model.pt) or model file")
    p.add_argument("--scp", required=True, help="Kaldi-style list '<utt> <path or file.ark:offset>'")
    p.add_argument("--outdir", required=True, help="output dir")
    p.add_argument(
        "--num-spk",
        help="sources per mixture, or 'auto': counted per mixture from the embeddings, 1 to --max-spk "
        "(default: --ref's, else the model's)",
    )
    p.add_argument("--max-spk", type=int, default=3, help="the most sources --num-spk auto may give (default 3)")
    p.add_argument("--clusterer", help="kmeans, spectral, oracle_kmeans, ... (default: the model's)")
    p.add_argument("--clusterer-conf", default=None, help="YAML mapping of clusterer options, e.g. '{n_init: 5}'")
    p.add_argument("--ref", help="data dir with spk1.scp.. (needed by --oracle and oracle clusterers)")
    p.add_argument("--oracle", choices=("ibm", "irm"), help="write oracle-mask outputs instead of the model's")
    p.add_argument("--fs", type=int, default=8000, help="sample rate for --oracle without --model (default 8000)")
    p.add_argument("--nj", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument(
        "--device", default=None,
        help="cpu, cuda, cuda:N (default: cuda if available); with --nj, 'cuda' puts job j on cuda:((j-1) mod GPUs)",
    )
    p.add_argument(
        "--batch-size", type=int, default=None, help="utterances per encoder batch (default: 8 on a GPU, 1 on the CPU)"
    )
    p.add_argument(
        "--channel", type=channel_arg, default="mean",
        help="channel N (0-based) of multi-channel files, or 'mean' (default): the mean of their channels",
    )
    p.add_argument("--chunk-frames", type=int, default=1000, help="encoder chunk for long inputs (frames)")
    p.add_argument("--overlap-frames", type=int, default=100, help="overlap of encoder chunks (frames)")
    p.add_argument("--max-fit-bins", type=int, default=200_000, help="most active bins the clusterer fits on")
    p.add_argument("--write-masks", action="store_true", help="also write masks.scp/ark ((C*T, F) per utterance)")
    p.add_argument("--write-embeddings", action="store_true", help="also write embeddings.scp/ark ((T, F*K))")
    p.add_argument("--log-interval", type=int, default=10, help="progress line every N utterances")
    p.add_argument(
        "--overwrite", action="store_true",
        help="replace the outputs of an earlier run with other settings (default: stop with an error)",
    )
    return p


# ---------------------------------------------------------------------------
# options, devices, file naming
# ---------------------------------------------------------------------------
def channel_arg(text: str) -> int | str:
    """``--channel``: an index >= 0 or ``mean``.

    >>> channel_arg("1"), channel_arg("mean")
    (1, 'mean')
    """
    if text == "mean":
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a channel index >= 0 or 'mean', got {text!r}")
    return value


def check_device(spec: str | None):
    """``--device spec`` as a torch.device this torch can use; a one-line ConfigError naming ``--device`` otherwise."""
    from dcsep.runtime import resolve_device

    try:
        return resolve_device(spec)
    except ConfigError as e:
        raise ConfigError(str(e).replace("device ", "--device ").replace("a --device name", "a device name")) from None


# ---------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------
def _setup_logging() -> None:
    if not log.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s (%(name)s) %(levelname)s: %(message)s"))
        log.addHandler(h)
        log.setLevel(logging.INFO)
        log.propagate = False
    log.handlers[0].stream = sys.stderr  # the current stderr (it may have been replaced, or the old one closed)


def num_spk_option(text: str | None) -> int | str | None:
    """``--num-spk``: None, ``auto``, or a whole number >= 1 (a one-line ConfigError otherwise).

    >>> num_spk_option("3"), num_spk_option("auto"), num_spk_option(None)
    (3, 'auto', None)
    """
    if text is None or text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"--num-spk must be a number of sources >= 1 or 'auto', got {text!r}") from None
    if value < 1:
        raise ConfigError(f"--num-spk must be >= 1, got {value}")
    return value


def resolve_options(args) -> DecodeOptions:
    """Check the options before any work (no file is written); returns what every worker gets."""
    from dcsep.config import parse_mapping
    from dcsep.data.datadir import DataDir
    if not args.model and not args.oracle:
        raise ConfigError("give --model, or --oracle ibm|irm with --ref")
    if args.oracle and not args.ref:
        raise ConfigError(f"--oracle {args.oracle} needs --ref DATADIR (the reference sources)")
    args.num_spk = num_spk_option(args.num_spk)
    if args.max_spk < 1:
        raise ConfigError(f"--max-spk must be >= 1, got {args.max_spk}")
    if args.num_spk == "auto" and args.oracle:
        raise ConfigError("--num-spk auto counts the sources from a model's embeddings; --oracle takes --ref's count")
    if args.fs < 1:
        raise ConfigError(f"--fs must be a sample rate in Hz (>= 1), got {args.fs}")
    if Path(args.scp).is_dir():
        hint = f" (the list inside it: --scp {Path(args.scp) / 'wav.scp'})" if (Path(args.scp) / "wav.scp").is_file() else ""
        raise DataError(f"--scp {args.scp}: a directory, not a list file{hint}")
    device, on_gpu = None, False
    if args.model and not args.oracle:
        device = args.device
        on_gpu = check_device(args.device).type == "cuda"
    if args.batch_size is None:
        args.batch_size = 8 if on_gpu else 1
    if args.nj < 1 or args.batch_size < 1 or args.log_interval < 1:
        raise ConfigError("--nj, --batch-size and --log-interval must be >= 1")
    if args.write_embeddings and not args.model:
        raise ConfigError("--write-embeddings needs --model")
    for name in ("chunk_frames", "max_fit_bins"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0 <= args.overlap_frames < args.chunk_frames:
        raise ConfigError(f"--overlap-frames must be >= 0 and < --chunk-frames, got {args.overlap_frames}")
    conf = parse_mapping(args.clusterer_conf, "--clusterer-conf")
    ref = DataDir.load(args.ref, require_sources=True) if args.ref else None
    num_spk = args.num_spk or (ref.num_spk if ref else None)
    need_refs = bool(args.oracle)
    fs = args.fs
    settings: dict = {"oracle": args.oracle}
    if args.model:
        from dcsep.separate import Separator, resolve_model_path

        sep = Separator.from_pretrained(args.model, device="cpu", num_spk=num_spk, max_spk=args.max_spk)
        num_spk = sep.num_spk
        fs = sep.fs
        settings["model_sha256"] = sha256_file(resolve_model_path(args.model))
        if not args.oracle:
            clus = sep.get_clusterer(args.clusterer, conf)  # validates name and options
            settings["clusterer"], settings["clusterer_conf"] = clusterer_settings(clus)
            settings.update(chunk_frames=args.chunk_frames, overlap_frames=args.overlap_frames, max_fit_bins=args.max_fit_bins)
            if clus.needs_refs:
                if num_spk == "auto":
                    raise ConfigError(f"--num-spk auto with clusterer {args.clusterer!r}: the references give the count")
                if not ref:
                    raise ConfigError(f"clusterer {args.clusterer!r} needs the reference sources: give --ref DATADIR")
                need_refs = True
    if ref and num_spk != ref.num_spk and need_refs:
        raise ConfigError(f"--num-spk {num_spk} but {ref.path} has {ref.num_spk} reference sources")
    settings.update(num_spk=num_spk, fs=fs, channel=args.channel)
    if num_spk == "auto":
        settings["max_spk"] = args.max_spk
    if need_refs:
        settings["ref"] = str(ref.path.resolve())
    return DecodeOptions(
        model=args.model,
        outdir=str(Path(args.outdir).resolve()),
        num_spk=num_spk,
        max_spk=args.max_spk,
        clusterer=args.clusterer,
        clusterer_conf=conf,
        ref=args.ref,
        oracle=args.oracle,
        fs=fs,
        device=device,
        channel=args.channel,
        chunk_frames=args.chunk_frames,
        overlap_frames=args.overlap_frames,
        max_fit_bins=args.max_fit_bins,
        write_masks=args.write_masks,
        write_embeddings=args.write_embeddings,
        need_refs=need_refs,
        settings=settings,
    )


def decode(args) -> int:
    from dcsep.data.datadir import read_scp

    opts = resolve_options(args)
    entries = read_scp(args.scp)
    outdir = Path(opts.outdir)
    existed = outdir.exists()
    make_dir(outdir, "--outdir")
    try:
        make_dir(outdir / "wav", "--outdir")
        return _decode_into(args, opts, entries, outdir)
    except BaseException:
        if not existed:  # leave no empty output dir behind
            for p in (outdir / ".lock", outdir / RECORD):
                if p.is_file() and not has_decode_outputs(outdir):
                    p.unlink()
            for d in (outdir / "wav", outdir):
                try:
                    d.rmdir()
                except OSError:
                    pass
        raise


def _decode_into(args, opts: DecodeOptions, entries: dict[str, str], outdir: Path) -> int:
    import dcsep

    with DirLock(outdir, PROG, "--outdir"):
        if check_record(outdir / RECORD, opts.settings, args.overwrite, has_decode_outputs(outdir), "--outdir"):
            log.info(f"{outdir}: --overwrite: removed {remove_decode_outputs(outdir)} files of an earlier run with other settings")
        write_record(outdir / RECORD, opts.settings, dcsep_version=dcsep.__version__, model=opts.model,
                     scp=str(Path(args.scp).resolve()))
        done_log = DoneLog(outdir / DONE_LOG)
        try:
            return _run(args, opts, entries, outdir, done_log)
        finally:
            done_log.close()


def _run(args, opts: DecodeOptions, entries: dict[str, str], outdir: Path, done_log: DoneLog) -> int:
    from dcsep.data.datadir import DataDir, write_scp
    from dcsep.utils import atomic_write_text, remove_stale_temp_files

    num_spk = opts.num_spk
    max_name = name_max(outdir / "wav")
    # temporary files of writes cut short by a kill (never listed; removed so they do not pile up)
    remove_stale_temp_files(outdir / "wav", "*.wav")
    for name in ("spk*.scp", "masks.scp", "embeddings.scp", "failed.txt", "utt2num_spk"):
        remove_stale_temp_files(outdir, name)
    arks = [name for name, on in (("masks", opts.write_masks), ("embeddings", opts.write_embeddings)) if on]
    ark_scps = {name: read_ark_scp(outdir / f"{name}.scp") for name in arks}
    ref = DataDir.load(opts.ref, require_sources=True) if opts.need_refs else None

    def input_sig(utt: str) -> str:
        srcs = [file_signature(p) for p in ref.sources(utt)] if ref is not None and utt in ref.wav else []
        return signature(file_signature(entries[utt]), srcs)

    sigs = {utt: input_sig(utt) for utt in entries}

    def count(utt: str) -> int | None:
        """Sources written for ``utt`` (the count 'auto' gave, or the fixed number)."""
        return done_log.count(utt) or (num_spk if num_spk != "auto" else None)

    def is_done(utt: str) -> bool:
        if done_log.sig(utt) != sigs[utt] or count(utt) is None:
            return False
        try:
            paths = wav_paths(outdir, utt, count(utt), max_name)
            return all(p.is_file() for p in paths) and all(utt in ark_scps[n] for n in arks)
        except (DataError, OSError):
            return False

    failed: dict[str, str] = {}
    todo = []
    changed = 0
    for utt, spec in entries.items():
        reason = unsafe_id_reason(utt, opts.most_spk, max_name)
        if reason:
            failed[utt] = f"{reason}; not a safe file name"
            print(f"{PROG}: error: {utt!r}: {failed[utt]}", file=sys.stderr)
        elif not is_done(utt):
            changed += done_log.sig(utt) not in (None, sigs[utt])
            todo.append((utt, spec))
    skipped = len(entries) - len(todo) - len(failed)
    what = f"oracle {opts.oracle}" if opts.oracle else f"model {opts.model}"
    how_many = f"1 to {opts.max_spk} sources, counted per mixture" if num_spk == "auto" else f"{num_spk} sources"
    log.info(f"{len(entries)} utterances in {args.scp}: {skipped} already done, {len(todo)} to separate ({what}, {how_many}, nj={args.nj})")
    if changed:
        log.info(f"{changed} of them separated before from an input that has changed since; separating them again")

    batches = [todo[i : i + args.batch_size] for i in range(0, len(todo), args.batch_size)]
    nj = max(1, min(args.nj, len(batches)))
    t_start = time.perf_counter()
    audio = proc = 0.0
    n_done = 0

    resampled: dict[int, int] = {}
    downmixed = 0

    def collect(results: list[dict]) -> None:
        nonlocal n_done, audio, proc, downmixed
        for r in results:
            n_done += 1
            if r["error"]:
                failed[r["utt"]] = r["error"]
                print(f"{PROG}: error: {_printable(r['utt'])}: {r['error']}", file=sys.stderr)
            else:
                audio += r["audio"]
                proc += r["time"]
                if r["rate"] != opts.fs:
                    resampled[r["rate"]] = resampled.get(r["rate"], 0) + 1
                downmixed += r["channels"] > 1 and opts.channel == "mean"
                for name, value in r["arks"].items():
                    ark_scps[name][r["utt"]] = value
                done_log.add(r["utt"], sigs[r["utt"]], r["count"])
            if n_done % args.log_interval == 0 or n_done == len(todo):
                elapsed = time.perf_counter() - t_start
                rtf = f"RTF {proc / audio:.3f} per process, {elapsed / audio:.3f} wall" if audio else "RTF n/a"
                log.info(f"{n_done}/{len(todo)} utterances, {elapsed:.1f} s elapsed, {audio:.1f} s of audio, {rtf}")

    if batches and nj == 1:
        worker = Worker(opts, 1)
        try:
            for items in batches:
                collect(worker.process(items))
        finally:
            worker.close()
    elif batches:
        ctx = mp.get_context("spawn")
        jobs = ctx.Queue()
        for j in range(1, nj + 1):
            jobs.put(j)
        threads = max(1, len(os.sched_getaffinity(0)) // nj)
        with ctx.Pool(nj, initializer=_init_worker, initargs=(opts, jobs, threads)) as pool:
            for results in pool.imap_unordered(_run_batch, batches):
                collect(results)

    # lists from what exists, so no half-written output is ever listed
    order = list(entries)
    complete = [u for u in order if u not in failed and is_done(u)]
    counts = {u: count(u) for u in complete}
    n_lists = num_spk if num_spk != "auto" else max(counts.values(), default=1)
    for c in range(1, n_lists + 1):  # spk<c>.scp: the utterances with at least c sources
        write_scp(outdir / f"spk{c}.scp", {u: str(wav_paths(outdir, u, counts[u])[c - 1]) for u in complete if counts[u] >= c})
    for p in outdir.glob("spk*.scp"):  # lists of more sources than this run's
        m = re.fullmatch(r"spk(\d+)\.scp", p.name)
        if m and int(m.group(1)) > n_lists:
            p.unlink()
    atomic_write_text(outdir / "utt2num_spk", "".join(f"{u} {counts[u]}\n" for u in complete))
    for name in arks:
        write_scp(outdir / f"{name}.scp", {u: ark_scps[name][u] for u in order if u in ark_scps[name]})
    failed_path = outdir / "failed.txt"
    if failed:
        atomic_write_text(failed_path, "".join(f"{_printable(u)} {failed[u]}\n" for u in order if u in failed))
    elif failed_path.exists():
        failed_path.unlink()
    for rate, n in sorted(resampled.items()):
        log.info(f"{n} inputs at {rate} Hz: resampled to the model's {opts.fs} Hz and the sources back to {rate} Hz")
    if downmixed:
        log.info(f"{downmixed} multi-channel inputs downmixed to mono (the mean of their channels; --channel N takes one)")
    if num_spk == "auto":
        hist = {k: sum(1 for v in counts.values() if v == k) for k in sorted(set(counts.values()))}
        log.info("counted sources: " + ", ".join(f"{n} with {k}" for k, n in hist.items()) + " (utt2num_spk)")
    log.info(f"{len(complete)}/{len(entries)} utterances separated into {outdir}; {len(failed)} failed")
    if failed:
        log.info(f"failed utterances are listed in {failed_path}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging()
    try:
        return decode(args)
    except DcsepError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
