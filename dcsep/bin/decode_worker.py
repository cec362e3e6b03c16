"""The work of each dcsep-decode process: load the model (or the oracle STFT) once, separate utterances.

:class:`DecodeOptions` is what every process gets (checked by
:func:`dcsep.bin.decode.resolve_options` before any work); :class:`Worker`
reads each input at its own rate and channel count, separates it (in
batches when it can) and writes the outputs at the input's rate.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dcsep.bin.outdir import ArkWriter, name_max, wav_paths
from dcsep.errors import DataError, DcsepError

log = logging.getLogger("dcsep.decode")


@dataclass(frozen=True)
class DecodeOptions:
    """What every decode process needs; checked by :func:`resolve_options` before any work."""

    outdir: str
    #: sources per mixture, or "auto": counted per mixture, 1 to max_spk
    num_spk: int | str
    max_spk: int = 3
    model: str | None = None
    clusterer: str | None = None
    clusterer_conf: dict = field(default_factory=dict)
    ref: str | None = None
    oracle: str | None = None
    fs: int = 8000
    device: str | None = None
    channel: int | None = None
    chunk_frames: int = 1000
    overlap_frames: int = 100
    max_fit_bins: int = 200_000
    write_masks: bool = False
    write_embeddings: bool = False
    need_refs: bool = False

    @property
    def most_spk(self) -> int:
        """The most sources an utterance can get."""
        return self.max_spk if self.num_spk == "auto" else self.num_spk
    #: what the outputs depend on, recorded in OUTDIR/decode.json (see :func:`outputs_settings`)
    settings: dict = field(default_factory=dict)


def job_device(device: str | None, job: int, num_gpus: int) -> str:
    """The device of parallel job ``job`` (1-based).

    A bare ``cuda`` (or no device on a machine with GPUs) puts job j on
    ``cuda:((j - 1) mod num_gpus)``; ``cpu`` and ``cuda:N`` are kept.

    >>> [job_device("cuda", j, 2) for j in (1, 2, 3, 4)]
    ['cuda:0', 'cuda:1', 'cuda:0', 'cuda:1']
    >>> job_device("cuda:1", 3, 2), job_device("cpu", 2, 2), job_device(None, 2, 0), job_device(None, 2, 4)
    ('cuda:1', 'cpu', 'cpu', 'cuda:1')
    """
    if device is None:
        device = "cuda" if num_gpus > 0 else "cpu"
    if device == "cuda" and num_gpus > 0:
        return f"cuda:{(job - 1) % num_gpus}"
    return device


class Worker:
    """Loads the model (or oracle STFT) once and separates utterances."""

    def __init__(self, opts: DecodeOptions, job: int):
        from dcsep.data.datadir import DataDir

        self.opts = opts
        self.job = job
        self.outdir = Path(opts.outdir)
        self.max_name = name_max(self.outdir / "wav")
        self.ref = DataDir.load(opts.ref, require_sources=True) if opts.ref else None
        self.sep = None
        self.frontend = None
        if opts.oracle:  # the model's STFT when there is a model, else the default one
            if opts.model:
                from dcsep.separate import load_model_package

                self.frontend = load_model_package(opts.model)[0].frontend
            else:
                from dcsep.frontends.stft import STFTFrontend

                self.frontend = STFTFrontend(fs=opts.fs)
            self.fs = self.frontend.fs
        else:
            import torch

            from dcsep.separate import Separator

            device = job_device(opts.device, job, torch.cuda.device_count() if torch.cuda.is_available() else 0)
            self.sep = Separator.from_pretrained(
                opts.model,
                device=device,
                num_spk=opts.num_spk,
                max_spk=opts.max_spk,
                chunk_frames=opts.chunk_frames,
                overlap_frames=opts.overlap_frames,
                max_fit_bins=opts.max_fit_bins,
            )
            self.fs = self.sep.fs
            self.clusterer = self.sep.get_clusterer(opts.clusterer, opts.clusterer_conf)
        self.masks_ark = ArkWriter(self.outdir / f"masks.{job}.ark") if opts.write_masks else None
        self.emb_ark = ArkWriter(self.outdir / f"embeddings.{job}.ark") if opts.write_embeddings else None

    def _refs(self, utt: str, rate: int) -> np.ndarray:
        """(C, L) reference sources of ``utt`` at the mixture's ``rate``."""
        from dcsep.data.audio import load_audio

        if utt not in self.ref.wav:
            raise DataError(f"not in the reference dir {self.ref.path}")
        srcs = [load_audio(p, fs=rate, name=f"reference {c + 1}")[0] for c, p in enumerate(self.ref.sources(utt))]
        n = max(len(s) for s in srcs)
        return np.stack([np.pad(s, (0, n - len(s))) for s in srcs])

    def process(self, items: list[tuple[str, str]]) -> list[dict]:
        """Separate a batch of (utt, wav spec); one result dict per utterance."""
        from dcsep.data.audio import load_audio

        o = self.opts
        results, loaded = [], []
        for utt, spec in items:
            res = {"utt": utt, "error": None, "audio": 0.0, "time": 0.0, "arks": {}, "rate": None, "channels": 1,
                   "count": None}
            results.append(res)
            try:
                wav_paths(self.outdir, utt, o.most_spk, self.max_name)  # the id can name every output
                wav, rate = load_audio(spec, channel=o.channel)  # any rate; errors: "<file>: ..."
                res["rate"], res["channels"] = rate, _channels(spec)
                refs = self._refs(utt, rate) if self.ref is not None and o.need_refs else None
                loaded.append(_Item(res, wav, rate, refs))
            except Exception as e:  # noqa: BLE001 - reported per utterance
                res["error"] = _reason(e)
        batched = self.sep is not None and len(loaded) > 1 and not o.write_masks
        if batched and len({it.rate for it in loaded}) == 1 and self._process_batched(loaded):
            return results
        for it in loaded:
            t0 = time.perf_counter()
            try:
                if o.oracle:
                    est, masks = self._oracle(it)
                else:
                    est, masks = self.sep.separate(it.wav, o.num_spk, self.clusterer, refs=it.refs, fs=it.rate,
                                                   return_masks=True)
                self._finish(it, est, masks, time.perf_counter() - t0)
            except Exception as e:  # noqa: BLE001
                it.res["error"] = _reason(e)
        return results

    def _oracle(self, it: "_Item") -> tuple[np.ndarray, np.ndarray]:
        """Oracle-mask sources at the input's rate, and the masks (at the STFT's rate)."""
        from dcsep.data.audio import resample
        from dcsep.oracle import oracle_separate

        wav, refs = it.wav, it.refs
        if it.rate != self.fs:
            n = max(1, -(-len(wav) * self.fs // it.rate))
            wav, refs = resample(wav, it.rate, self.fs, length=n), resample(refs, it.rate, self.fs, length=n)
        est, masks = oracle_separate(wav, refs, self.frontend, self.opts.oracle, return_masks=True)
        if it.rate != self.fs:
            est = resample(est, self.fs, it.rate, length=len(it.wav))
        return est, masks

    def _process_batched(self, loaded: list["_Item"]) -> bool:
        """Separate ``loaded`` (inputs of one rate) in one batch; False (logged) when the device ran out of memory."""
        import torch

        t0 = time.perf_counter()
        try:
            outs = self.sep.separate_batch(
                [it.wav for it in loaded],
                self.opts.num_spk,
                self.clusterer,
                refs=None if loaded[0].refs is None else [it.refs for it in loaded],
                fs=loaded[0].rate,
                batch_size=len(loaded),
            )
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            names = ", ".join(it.res["utt"] for it in loaded[:3]) + (", ..." if len(loaded) > 3 else "")
            log.warning(
                f"job {self.job}: out of {self.sep.device} memory on a batch of {len(loaded)} utterances ({names}); "
                "separating them one by one (a smaller --batch-size avoids this)"
            )
            return False
        dt = (time.perf_counter() - t0) / len(loaded)
        for it, est in zip(loaded, outs):
            self._finish(it, est, None, dt)
        return True

    def _finish(self, it: "_Item", est: np.ndarray, masks: np.ndarray | None, seconds: float) -> None:
        from dcsep.data.audio import write_wav

        utt, o = it.res["utt"], self.opts
        try:
            if self.masks_ark is not None:
                if masks is None:
                    masks = self.sep.masks(it.wav, o.num_spk, self.clusterer, fs=it.rate)
                it.res["arks"]["masks"] = self.masks_ark.write(utt, masks.reshape(-1, masks.shape[-1]))  # (C*T, F)
            if self.emb_ark is not None and self.sep is not None:
                V = self.sep.embed(it.wav, fs=it.rate)  # (T, F, K)
                it.res["arks"]["embeddings"] = self.emb_ark.write(utt, V.reshape(V.shape[0], -1))  # (T, F*K)
            paths = wav_paths(self.outdir, utt, len(est), self.max_name)
            for p, x in zip(paths, est):
                write_wav(p, x, it.rate)
            for c in range(len(est) + 1, o.most_spk + 1):  # sources an earlier count gave this utterance
                paths[0].with_name(f"{utt}-spk{c}.wav").unlink(missing_ok=True)
        except Exception as e:  # noqa: BLE001
            it.res["error"] = _reason(e)
            return
        it.res["count"] = len(est)
        it.res["audio"] = len(it.wav) / it.rate
        it.res["time"] = seconds

    def close(self) -> None:
        for ark in (self.masks_ark, self.emb_ark):
            if ark is not None:
                ark.close()


@dataclass
class _Item:
    """One loaded utterance: its result dict, mono input (L,) at ``rate``, references (C, L)."""

    res: dict
    wav: np.ndarray
    rate: int
    refs: np.ndarray | None


def _channels(spec: str) -> int:
    """Channels of an audio file as stored (1 for ark entries and unreadable headers)."""
    import soundfile as sf

    try:
        return sf.info(spec).channels
    except Exception:  # noqa: BLE001 - only for the log
        return 1


def _reason(e: Exception) -> str:
    text = str(e) if isinstance(e, DcsepError) else f"{type(e).__name__}: {e}"
    return " ".join(text.split())  # one line


def _printable(utt: str) -> str:
    return utt if utt.isprintable() and utt and not any(ch.isspace() for ch in utt) else repr(utt)


_WORKER: Worker | None = None


def _init_worker(opts: DecodeOptions, jobs, threads: int) -> None:
    from dcsep.utils import limit_threads

    global _WORKER
    limit_threads(threads)
    _WORKER = Worker(opts, jobs.get())


def _run_batch(items):
    return _WORKER.process(items)
