"""Separation with a trained model: audio in, one waveform per source out.

Example:
    >>> sep = Separator.from_pretrained("exp/dc_blstm")  # doctest: +SKIP
    >>> est = sep.separate(mixture)  # (C, L) float32  # doctest: +SKIP

Input of any sample rate and channel count is accepted: a multi-channel
input is downmixed (the mean of its channels) unless ``channel`` picks one,
an input at another rate than the model's is resampled to it (soxr, see
:func:`dcsep.data.audio.resample`) and the sources are resampled back, so
that they have the input's rate and length. Each input is also scaled to
the level the model was trained at (its largest sample at ``input_peak``,
0.9, the peak of the wsj0-mix scaling) and its sources scaled back, so a
quiet or a loud recording is separated as one at the training level: SI-SDR
of the sources does not depend on the input's gain. What was done is logged
(logger ``dcsep``).

Inference follows the paper: the encoder maps the log-magnitude STFT to one
embedding per time-frequency bin, the clusterer groups the embeddings of the
active bins (within the loss's threshold, 40 dB by default, of the loudest bin)
into ``num_spk`` clusters, every bin joins its cluster's binary mask (or, with
a soft clusterer such as ``soft_kmeans``, is shared between the clusters by its
distances to their centres), and the masked mixture STFT is inverted with the
mixture phase.

Long inputs stay within bounded memory:

* the encoder runs over overlapping chunks of ``chunk_frames`` frames
  (``overlap_frames`` shared between neighbours; each chunk keeps only its
  central part, so every kept frame sees at least ``overlap_frames // 2``
  frames of context on each side where the input has them);
* clustering stays global over the whole utterance, so speakers cannot swap
  between chunks (``bench/bench_long.py``: over 10 minutes, the same speaker
  order in every mixture as one encoder pass over the whole input). An utterance of at most ``max_fit_bins`` bins (200k bins:
  about 12 s at 8 kHz) goes to the clusterer whole. A longer one gives the
  clusterer only its active bins, or a seeded random subsample of
  ``max_fit_bins`` of them; every bin of the utterance then joins the
  cluster whose mean embedding (over the bins clustered) is nearest
  (a soft clusterer shares it by the distances to those means), computed in
  blocks. For k-means this is exactly "fit on the active bins (or the
  subsample), assign all bins";
* embeddings of the whole utterance are kept only while they take at most
  ``max_embed_bytes``; longer inputs run the encoder twice over the chunks
  (once to collect the subsample, once to assign), trading time for memory.

Oracle clusterers (``needs_refs``, e.g. ``oracle_kmeans``, which clusters
each 100-frame chunk and aligns chunks to the references) are analysis
tools: they always see the whole utterance's embeddings, so the subsample
and the second pass do not apply to them.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch

from dcsep.clusterers.abs import Clusterer
from dcsep.data.audio import DOWNMIX, as_mono, check_rate, resample
from dcsep.data.mixing import PEAK
from dcsep.errors import ConfigError, DataError
from dcsep.model import DeepClustering
from dcsep.runtime import check_count_conf, check_num_spk, chunk_plan, placed_model, resolve_device
from dcsep.utils import load_torch_file

DEFAULT_NUM_SPK = 2


class Prepared(NamedTuple):
    """An input made ready by :meth:`Separator._prepare`."""

    wav: np.ndarray  #: (L,) mono, at the model's rate, scaled by ``gain``
    mono: np.ndarray  #: (L_in,) mono, as given
    rate: int  #: the input's rate
    gain: float  #: the factor ``wav`` was scaled by (the sources are divided by it)
STAGES = ("frontend", "encoder", "clustering", "resynthesis", "resampling")

log = logging.getLogger("dcsep.separate")
__all__ = ["Separator", "as_mono", "chunk_plan", "load_model_package", "placed_model", "resolve_device", "resolve_model_path"]


def resolve_model_path(path: str | Path) -> Path:
    """A model dir means ``<dir>/model.pt``; a file is taken as it is; a bare name
    that is neither is looked up among the pretrained models (:mod:`dcsep.pretrained`)."""
    from dcsep.pretrained import find_model

    return find_model(path)


def load_model_package(path: str | Path, map_location="cpu") -> tuple[DeepClustering, dict]:
    """Load a model written by :meth:`DeepClustering.save`; returns (model, extra)."""
    path = resolve_model_path(path)
    pkg = load_torch_file(path, map_location, error=ConfigError, what="model file")
    model = DeepClustering.from_package(pkg, where=str(path))
    extra = pkg.get("extra") or {}
    return model, extra if isinstance(extra, dict) else {}


class Separator:
    """Separate single-channel mixtures with a deep-clustering model.

    Args:
        model: a :class:`DeepClustering`, a model file, or a model dir
            (``<dir>/model.pt``). A model object given here is not changed:
            it is used as it is when already on ``device`` and in eval mode,
            else a copy is (see :func:`placed_model`).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default cuda when
            available. One this torch cannot use is a :class:`ConfigError`.
        num_spk: default number of sources, or ``"auto"`` (estimated per
            input, at most ``max_spk``); default: the ``num_spk`` stored in
            the model file's ``extra`` (the number of speakers it was trained
            on), else 2.
        max_spk: the largest count ``"auto"`` may give.
        count_conf: options of the speaker count of ``"auto"``
            (:func:`dcsep.clusterers.count.estimate_num_spk`, e.g.
            ``{"thresholds": (2.7, 3.8)}``); default: those stored in the
            model file's ``extra`` (``count_conf``, chosen on that model's
            validation data; ``dcsep-pack --count-conf``), else the library's.
        chunk_frames: encoder chunk length in frames for long inputs.
        overlap_frames: frames shared by neighbouring chunks.
        chunk_batch: chunks run through the encoder at once.
        max_fit_bins: the clusterer sees at most this many bins of one
            utterance: all bins of a short one, the active bins (or a seeded
            random subsample of them) of a longer one.
        max_embed_bytes: keep the whole utterance's embeddings in memory up to
            this size; beyond it the encoder runs twice (see module doc).
        assign_block: bins per block when assigning bins to clusters.
        seed: seeds the subsample of active bins.
        input_peak: each input is scaled so that its largest sample is this
            before the model sees it, and the sources are scaled back: the
            level of the training mixtures (their peak,
            :data:`dcsep.data.mixing.PEAK`), so that a model whose features
            depend on the level (the ``global`` norm) separates a quiet or a
            loud recording as it separates one at the training level. None:
            the input as it is.

    Attributes:
        timings: seconds spent per stage (frontend, encoder, clustering,
            resynthesis, resampling) and ``audio`` (seconds of input audio)
            since the last :meth:`reset_timings`, measured with :attr:`clock`
            (``time.perf_counter``: wall-clock).
    """

    def __init__(
        self,
        model: DeepClustering | str | Path,
        device: str | torch.device | None = None,
        num_spk: int | str | None = None,
        max_spk: int = 3,
        count_conf: dict | None = None,
        chunk_frames: int = 1000,
        overlap_frames: int = 100,
        chunk_batch: int = 4,
        max_fit_bins: int = 200_000,
        max_embed_bytes: int = 512 * 2**20,
        assign_block: int = 65536,
        seed: int = 0,
        input_peak: float | None = PEAK,
    ):
        self.device = resolve_device(device)
        if chunk_frames < 1 or not 0 <= overlap_frames < chunk_frames:
            raise ConfigError(f"need chunk_frames >= 1 and 0 <= overlap_frames < chunk_frames, got {chunk_frames}, {overlap_frames}")
        if max_fit_bins < 1 or chunk_batch < 1 or assign_block < 1:
            raise ConfigError("max_fit_bins, chunk_batch and assign_block must be >= 1")
        extra = {}
        if not isinstance(model, DeepClustering):
            model, extra = load_model_package(model)
        self.model = placed_model(model, self.device)
        self.extra = extra
        self.num_spk = check_num_spk(num_spk if num_spk is not None else extra.get("num_spk") or DEFAULT_NUM_SPK)
        self.max_spk = check_num_spk(max_spk, "max_spk", auto=False)
        self.count_conf = check_count_conf(count_conf if count_conf is not None else extra.get("count_conf"))
        self.chunk_frames = chunk_frames
        self.overlap_frames = overlap_frames
        self.chunk_batch = chunk_batch
        self.max_fit_bins = max_fit_bins
        self.max_embed_bytes = max_embed_bytes
        self.assign_block = assign_block
        self.seed = seed
        if input_peak is not None and not input_peak > 0:
            raise ConfigError(f"input_peak must be positive or None, got {input_peak!r}")
        self.input_peak = input_peak
        self.clock = time.perf_counter  # the timers' clock (a benchmark may use time.process_time on the CPU)
        self._clusterers: dict = {}
        self.reset_timings()

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, device: str | torch.device | None = None, **kwargs) -> "Separator":
        """A separator for a model file, a model dir (``<dir>/model.pt``, e.g. an exp dir
        or a packed ``pretrained/<name>``) or the name of a pretrained model.

        A bare name that is not an existing path is looked up in the pretrained
        dirs (``pretrained/`` of the source tree or package, and
        ``$DCSEP_PRETRAINED_PATH``; see :mod:`dcsep.pretrained`); an unknown
        name raises :class:`ConfigError` listing the names available.
        ``kwargs`` go to :class:`Separator` (``num_spk``, ``chunk_frames``...).
        """
        return cls(name_or_path, device=device, **kwargs)

    @property
    def fs(self) -> int:
        """The model's sample rate (Hz): inputs at other rates are resampled to it."""
        return self.model.fs

    # ---- bookkeeping ----------------------------------------------------
    def reset_timings(self) -> None:
        self.timings = {name: 0.0 for name in STAGES + ("audio",)}

    @contextmanager
    def _timed(self, stage: str):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t0 = self.clock()
        try:
            yield
        finally:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.timings[stage] += self.clock() - t0

    def get_clusterer(self, clusterer: str | Clusterer | None = None, clusterer_conf: dict | None = None) -> Clusterer:
        """The model's configured clusterer, one built by name, or ``clusterer`` itself."""
        if clusterer is None and not clusterer_conf:
            return self.model.clusterer
        if isinstance(clusterer, Clusterer):
            return clusterer
        name = clusterer or self.model.config.get("clusterer", "kmeans")
        conf = dict(clusterer_conf or {})
        if clusterer is None or name == self.model.config.get("clusterer"):
            conf = {**(self.model.config.get("clusterer_conf") or {}), **conf}
        key = (name, repr(sorted(conf.items())))
        if key not in self._clusterers:
            self._clusterers[key] = self.model.build_clusterer(name, conf)
        return self._clusterers[key]

    def _prepare(self, wav, channel, fs, name) -> Prepared:
        """An input made ready for the model: mono, at the model's rate, at :attr:`input_peak`."""
        mono = as_mono(wav, channel, name)
        rate = self.fs if fs is None else check_rate(fs, f"{name}: fs")
        self.timings["audio"] += mono.shape[0] / rate
        x = mono
        if rate != self.fs:
            with self._timed("resampling"):
                x = resample(mono, rate, self.fs, length=max(1, -(-mono.shape[0] * self.fs // rate)))
            log.info("%s: resampled from %d Hz to the model's %d Hz (the sources are resampled back)", name, rate, self.fs)
        gain = 1.0
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        if self.input_peak is not None and peak > 0:
            gain = self.input_peak / peak
            x = (x * np.float32(gain)).astype(np.float32)
        return Prepared(x, mono, rate, gain)

    def _at_input_rate(self, out: np.ndarray, rate: int, length: int) -> np.ndarray:
        """(C, L) sources at the model's rate -> (C, length) at the input's ``rate``."""
        if rate == self.fs:
            return out
        with self._timed("resampling"):
            return resample(out, self.fs, rate, length=length)

    def _padded(self, wav: np.ndarray) -> torch.Tensor:
        """(L,) -> (1, L') on the device, zero-padded to at least one window."""
        n_fft = self.model.frontend.n_fft
        x = torch.from_numpy(wav).to(self.device)
        if x.shape[0] < n_fft:
            x = torch.nn.functional.pad(x, (0, n_fft - x.shape[0]))
        return x[None]

    def _ref_mags(self, refs, num_samples: int, padded_len: int, name: str, rate: int | None = None) -> torch.Tensor:
        """refs: (C, L) waveforms at ``rate`` -> (1, C, T, F) magnitudes with the model's STFT."""
        if isinstance(refs, torch.Tensor):
            refs = refs.detach().cpu().numpy()
        refs = np.asarray(refs, dtype=np.float32)
        if refs.ndim != 2:
            raise DataError(f"{name}: refs must have shape (C, L), got {tuple(refs.shape)}")
        if rate is not None and rate != self.fs:
            refs = resample(refs, rate, self.fs)
        out = np.zeros((refs.shape[0], padded_len), dtype=np.float32)
        n = min(num_samples, refs.shape[1])
        out[:, :n] = refs[:, :n]
        return self.model.frontend.stft(torch.from_numpy(out).to(self.device)).abs()[None]

    # ---- public API ------------------------------------------------------
    @torch.inference_mode()
    def embed(self, wav, channel: int | str = DOWNMIX, fs: int | None = None) -> np.ndarray:
        """Embeddings of a mixture: (T, F, K) float32 (chunked for long inputs; frames at the model's rate)."""
        x = self._padded(self._prepare(wav, channel, fs, "input").wav)
        with self._timed("frontend"):
            feats, spec, _ = self.model.frontend(x)
        parts = [v for _, _, v in self._encode_chunks(feats)]
        return torch.cat(parts, 0).cpu().numpy()

    @torch.inference_mode()
    def masks(
        self,
        wav,
        num_spk: int | str | None = None,
        clusterer: str | Clusterer | None = None,
        clusterer_conf: dict | None = None,
        channel: int | str = DOWNMIX,
        refs=None,
        fs: int | None = None,
    ) -> np.ndarray:
        """Masks of a mixture: (C, T, F) float32 (binary, or fractions for a soft clusterer), frames at the model's rate."""
        wav, _, rate, _ = self._prepare(wav, channel, fs, "input")
        masks, _, num_spk = self._masks(wav, num_spk, clusterer, clusterer_conf, refs, rate)
        if masks is None:
            t = self.model.frontend.num_frames(self._padded(wav).shape[1])
            return np.zeros((num_spk, t, self.model.frontend.num_bins), dtype=np.float32)
        return masks.cpu().numpy()

    @torch.inference_mode()
    def separate(
        self,
        wav,
        num_spk: int | str | None = None,
        clusterer: str | Clusterer | None = None,
        clusterer_conf: dict | None = None,
        channel: int | str = DOWNMIX,
        refs=None,
        fs: int | None = None,
        return_masks: bool = False,
    ):
        """Separate one mixture.

        Args:
            wav: (L,) waveform, numpy or torch, float or integer PCM, any
                length; a 2-D input is multi-channel unless one axis has
                size 1 (the shorter axis is taken as channels).
            num_spk: number of sources C (default: :attr:`num_spk`), or
                ``"auto"``: estimated from the embeddings, 1 to :attr:`max_spk`.
            clusterer: a registered clusterer name (``kmeans``, ``spectral``,
                ``oracle_kmeans``...) or instance; default: the model's.
            clusterer_conf: keyword arguments for a clusterer given by name.
            channel: the channel to take from a multi-channel input, or
                ``"mean"`` (default): their mean.
            refs: (C, L) reference sources at ``fs``, for oracle clusterers.
            fs: sample rate of ``wav`` (default: the model's); another rate
                than the model's is resampled to it and back.
            return_masks: also return the (C, T, F) masks (frames at the
                model's rate).

        Returns:
            (C, L) float32 sources at the input's rate and length L; all
            zeros for an all-silent input; a count of 1 gives the input
            itself. With ``return_masks``: (sources, masks).
        """
        prepared = self._prepare(wav, channel, fs, "input")
        return self._separate_prepared(prepared, num_spk, clusterer, clusterer_conf, refs, return_masks)

    @torch.inference_mode()
    def separate_batch(
        self,
        wavs: Sequence,
        num_spk: int | str | None = None,
        clusterer: str | Clusterer | None = None,
        clusterer_conf: dict | None = None,
        channel: int | str = DOWNMIX,
        refs: Sequence | None = None,
        fs: int | None = None,
        batch_size: int = 8,
    ) -> list[np.ndarray]:
        """Separate several mixtures, ``batch_size`` at a time (padded, with lengths).

        Utterances are grouped by length to limit padding; long ones (more
        than ``chunk_frames`` frames or ``max_fit_bins`` bins) go through
        :meth:`separate` one by one. Results match :meth:`separate` up to the
        k-means initialisation draws. ``fs`` is the rate of every input.

        Returns:
            one (C_i, L_i) float32 array per input, in input order.
        """
        num_spk = check_num_spk(self.num_spk if num_spk is None else num_spk)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(f"batch_size: a whole number >= 1, got {batch_size!r}")
        clus = self.get_clusterer(clusterer, clusterer_conf)
        if clus.needs_refs and refs is None:
            raise DataError(f"clusterer {getattr(clus, 'registry_name', clus)!r} needs the reference sources (refs=...)")
        prepared = [self._prepare(w, channel, fs, f"input {i}") for i, w in enumerate(wavs)]
        results: list = [None] * len(prepared)
        fe = self.model.frontend
        short, long_ = [], []
        for i, (w, *_) in enumerate(prepared):
            t = fe.num_frames(max(w.shape[0], fe.n_fft))
            (short if t <= self.chunk_frames and t * fe.num_bins <= self.max_fit_bins else long_).append(i)
        for i in long_:
            results[i] = self._separate_prepared(prepared[i], num_spk, clus, None, None if refs is None else refs[i])
        short.sort(key=lambda i: -prepared[i].wav.shape[0])
        for b0 in range(0, len(short), batch_size):
            idx = short[b0 : b0 + batch_size]
            outs = self._separate_padded(
                [prepared[i] for i in idx], num_spk, clus, None if refs is None else [refs[i] for i in idx]
            )
            for i, o in zip(idx, outs):
                results[i] = o
        return results

    # ---- internals -------------------------------------------------------
    def _separate_prepared(self, prepared, num_spk, clusterer, clusterer_conf, refs, return_masks=False):
        """:meth:`separate` of an input made ready by :meth:`_prepare`."""
        wav, mono, rate, gain = prepared
        masks, spec, num_spk = self._masks(wav, num_spk, clusterer, clusterer_conf, refs, rate)
        if masks is None:  # silent input
            out = np.zeros((num_spk, mono.shape[0]), dtype=np.float32)
            if return_masks:
                return out, np.zeros((num_spk, *spec.shape), dtype=np.float32)
            return out
        if num_spk == 1:  # one source: the input itself (the mask of one cluster keeps every bin)
            out = mono[None].copy()
        else:
            with self._timed("resynthesis"):
                out = np.empty((num_spk, wav.shape[0]), dtype=np.float32)
                padded_len = max(wav.shape[0], self.model.frontend.n_fft)
                for c in range(num_spk):  # one source at a time keeps the peak memory low
                    est = self.model.frontend.istft((spec * masks[c])[None], padded_len)  # (1, L')
                    out[c] = est[0, : wav.shape[0]].cpu().numpy() / gain
            out = self._at_input_rate(out, rate, mono.shape[0])
        if return_masks:
            return out, masks.cpu().numpy()
        return out

    def _separate_padded(self, prepared: list, num_spk: int, clus: Clusterer, refs) -> list[np.ndarray]:
        """Short utterances (made ready by :meth:`_prepare`) in one padded batch; each keeps
        its own STFT, so edges match :meth:`separate`."""
        fe = self.model.frontend
        wavs = [p.wav for p in prepared]
        with self._timed("frontend"):
            xs = [self._padded(w) for w in wavs]  # (1, L_i')
            specs = [fe.stft(x)[0] for x in xs]  # (T_i, F) each
            frame_lengths = torch.tensor([s.shape[0] for s in specs], device=self.device)
            spec = torch.nn.utils.rnn.pad_sequence(specs, batch_first=True)  # (B, T, F), zero padded
            feats = fe.features(spec, frame_lengths)
        with self._timed("encoder"):
            V = self.model.encoder(feats, frame_lengths)  # (B, T, F, K)
        with self._timed("clustering"):
            active = self.model.active_bins(spec, frame_lengths)  # (B, T, F)
            counts = [num_spk] * len(prepared)
            if num_spk == "auto":  # each its own count; then the items of each count are clustered together
                counts = [
                    self._count(V[i, :t], active[i, :t], None if refs is None else refs[i])
                    for i, t in enumerate(frame_lengths.tolist())
                ]
            masks = {}
            for c in sorted(set(counts)):
                idx = [i for i, n in enumerate(counts) if n == c]
                sel = slice(None) if len(idx) == len(counts) else torch.tensor(idx, device=self.device)
                ref_mags = None
                if refs is not None:
                    mags = [self._ref_mags(refs[i], wavs[i].shape[0], xs[i].shape[1], "refs", prepared[i].rate)[0] for i in idx]
                    ref_mags = torch.nn.utils.rnn.pad_sequence([m.transpose(0, 1) for m in mags], batch_first=True)
                    ref_mags = ref_mags.transpose(1, 2)  # (B_c, C, T, F)
                group = clus(V[sel], c, active[sel], frame_lengths[sel], ref_mags)  # (B_c, C, T, F)
                masks.update(zip(idx, group))
        out = []
        for i, ((w, mono, rate, gain), x, s) in enumerate(zip(prepared, xs, specs)):
            if not active[i].any():  # silent input
                out.append(np.zeros((counts[i], mono.shape[0]), dtype=np.float32))
            elif counts[i] == 1:
                out.append(mono[None].copy())
            else:
                with self._timed("resynthesis"):
                    est = fe.istft(s[None] * masks[i][:, : s.shape[0]], x.shape[1])  # (C, L_i')
                    est = (est[:, : w.shape[0]].cpu().numpy() / gain).astype(np.float32)
                out.append(self._at_input_rate(est, rate, mono.shape[0]))
        return out

    def _count(self, V: torch.Tensor, active: torch.Tensor | None = None, refs=None) -> int:
        """The number of speakers of one utterance for ``num_spk="auto"``: from its embeddings
        V (..., K) on the ``active`` bins (..., ) (:func:`dcsep.clusterers.count.estimate_num_spk`,
        at most :attr:`max_spk`), or the number of ``refs``; 1 for a silent utterance."""
        if refs is not None:
            return int(np.shape(refs)[0])
        if active is not None and not active.any():
            return 1
        from dcsep.clusterers.count import estimate_num_spk

        n = estimate_num_spk(V, None if active is None else active.float(), self.max_spk, **self.count_conf)
        log.info("input: %d speaker(s) found (num_spk='auto', at most %d)", n, self.max_spk)
        return n

    def _encode_chunks(self, feats: torch.Tensor):
        """feats: (1, T, F) -> yields (keep_start, keep_end, V (keep_end - keep_start, F, K))."""
        t = feats.shape[1]
        plan = chunk_plan(t, self.chunk_frames, self.overlap_frames)
        for g in range(0, len(plan), self.chunk_batch):
            group = plan[g : g + self.chunk_batch]
            width = max(e - s for s, e, _, _ in group)
            with self._timed("encoder"):
                x = feats.new_zeros(len(group), width, feats.shape[2])
                for i, (s, e, _, _) in enumerate(group):
                    x[i, : e - s] = feats[0, s:e]
                lens = torch.tensor([e - s for s, e, _, _ in group], device=feats.device)
                V = self.model.encoder(x, lens)  # (n, width, F, K)
            for i, (s, _, ks, ke) in enumerate(group):
                yield ks, ke, V[i, ks - s : ke - s]

    def _masks(self, wav: np.ndarray, num_spk, clusterer, clusterer_conf, refs, rate: int | None = None):
        """wav: (L,) at the model's rate; refs at ``rate`` ->
        (masks (C, T, F) float32 on device or None when silent, spec (T, F), num_spk)."""
        num_spk = check_num_spk(self.num_spk if num_spk is None else num_spk)
        clus = self.get_clusterer(clusterer, clusterer_conf)
        if clus.needs_refs and refs is None:
            raise DataError(f"clusterer {getattr(clus, 'registry_name', clus)!r} needs the reference sources (refs=...)")
        fe = self.model.frontend
        x = self._padded(wav)
        with self._timed("frontend"):
            feats, spec, frame_lengths = fe(x)  # (1, T, F)
            active = self.model.active_bins(spec, frame_lengths)[0]  # (T, F)
        spec = spec[0]
        t, f = spec.shape
        ref_mags = None
        if refs is not None:
            ref_mags = self._ref_mags(refs, wav.shape[0], x.shape[1], "refs", rate)  # (1, C, T, F)
            if num_spk == "auto":
                num_spk = ref_mags.shape[1]
            if ref_mags.shape[1] != num_spk:
                raise DataError(f"refs hold {ref_mags.shape[1]} sources, num_spk is {num_spk}")
        n_active = int(active.sum())
        if n_active == 0:
            return None, spec, 1 if num_spk == "auto" else num_spk

        k = self.model.embed_dim
        # small utterances: the clusterer sees every bin; larger ones: only (a subsample of) the active bins
        subsample = t * f > self.max_fit_bins and not clus.needs_refs
        # the whole utterance's embeddings are kept when small enough, or when the clusterer needs them all
        keep_all = t * f * k * 4 <= self.max_embed_bytes or not subsample
        fit_idx = None
        if subsample:
            fit_idx = np.flatnonzero(active.reshape(-1).cpu().numpy())
            if fit_idx.shape[0] > self.max_fit_bins:
                rng = np.random.default_rng(self.seed)
                fit_idx = np.sort(rng.choice(fit_idx, self.max_fit_bins, replace=False))
            fit_idx_t = torch.from_numpy(fit_idx).to(self.device)
        stored, fit_parts = [], []
        for ks, ke, v in self._encode_chunks(feats):
            if keep_all:
                stored.append(v)
            if subsample:
                lo, hi = np.searchsorted(fit_idx, [ks * f, ke * f])
                fit_parts.append(v.reshape(-1, k)[fit_idx_t[lo:hi] - ks * f])

        with self._timed("clustering"):
            if not subsample:  # the clusterer sees the whole utterance
                V = torch.cat(stored, 0)[None]  # (1, T, F, K)
                if num_spk == "auto":
                    num_spk = self._count(V[0], active)
                masks = clus(V, num_spk, active[None], frame_lengths, ref_mags)  # (1, C, T, F)
                return masks[0].float(), spec, num_spk
            # fit on the subsample, then every bin joins the clusters by its distances to their centres
            X = torch.cat(fit_parts, 0)  # (n, K)
            if num_spk == "auto":
                num_spk = self._count(X)
            centres = clus.fit(X[None], num_spk)[0]  # (C, K); NaN: a cluster without bins
        masks = torch.empty(num_spk, t * f, dtype=torch.float32, device=self.device)

        def assign(start_bin: int, v: torch.Tensor) -> None:
            v = v.reshape(-1, k)
            for b0 in range(0, v.shape[0], self.assign_block):
                blk = v[b0 : b0 + self.assign_block]  # (n, K)
                masks[:, start_bin + b0 : start_bin + b0 + blk.shape[0]] = clus.assign(blk, centres).T

        if keep_all:  # chunk by chunk: no second copy of the embeddings
            with self._timed("clustering"):
                start = 0
                for v in stored:
                    assign(start, v)
                    start += v.shape[0] * f
        else:  # second encoder pass, assigning chunk by chunk
            for ks, ke, v in self._encode_chunks(feats):
                with self._timed("clustering"):
                    assign(ks * f, v)
        return masks.reshape(num_spk, t, f), spec, num_spk
