"""Separation metrics: bss_eval v3 SDR/SIR/SAR, SI-SDR, improvements over the mixture.

* :func:`bss_eval` gives the values of ``mir_eval.separation.bss_eval_sources``
  (512-tap time-invariant distortion filter, best permutation by mean SIR),
  computed by ``fast_bss_eval`` with the exact (direct) solver by default;
  ``backend="mir_eval"`` runs the reference implementation. The two agree to
  far below 0.01 dB (``bench/bench_score.py`` measures the gap).
* :func:`si_sdr` is the scale-invariant SDR (Le Roux et al. 2019) of
  zero-mean signals: ``10 log10(|a s|^2 / |a s - s_hat|^2)``,
  ``a = <s_hat, s> / |s|^2``.
* Improvements (SDRi, SIRi, SI-SDRi) subtract the metric of the
  unprocessed mixture used as the estimate of every source. There is no
  SAR improvement: bss_eval finds no artifacts in the mixture (it is exactly
  the sum of filtered references), so its SAR sits at the ``CLIP_DB`` cap and
  "SARi" would only measure that cap (about -60 dB on every utterance). SAR
  itself, the artifacts of the estimates, is reported.

Conventions (as mir_eval): values are indexed by reference source, and
``perm[j]`` is the estimate matched to reference ``j``.

Edge cases:
    * estimates longer or shorter than the references are trimmed or
      zero-padded to the reference length;
    * a silent (all-zero) reference makes every metric undefined: a
      :class:`~dcsep.errors.DataError` says which;
    * a silent estimate (a source the separator left empty) is scored as if
      it were white noise 120 dB below the reference power (fixed seed): its
      metrics come out very low and finite, so means stay honest and NaN-free;
    * every value is clipped to [-100, 100] dB (``CLIP_DB``): an estimate
      equal to its reference, or the mixture's SAR when the mixture is exactly
      the sum of the sources, would otherwise be +inf (fast_bss_eval) or
      rounding noise near 300 dB (mir_eval). No real measurement on 16-bit
      audio comes near the cap (a numerically undefined value reads -100).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment

from dcsep.errors import DataError

BSS_FILTER_LENGTH = 512
METRICS = ("SDR", "SIR", "SAR", "SI-SDR")
SILENT_EST_DB = -120.0
SILENT_EST_SEED = 0x5D5E9  # any fixed seed; not 0, which test signals often use
CLIP_DB = 100.0


def match_length(x: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad the last axis of ``x`` to ``length``."""
    x = np.asarray(x)
    if x.shape[-1] >= length:
        return x[..., :length]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, length - x.shape[-1])]
    return np.pad(x, pad)


def _check(refs, ests, name: str = "") -> tuple[np.ndarray, np.ndarray]:
    label = f"{name}: " if name else ""
    refs = np.atleast_2d(np.asarray(refs, dtype=np.float64))
    ests = np.atleast_2d(np.asarray(ests, dtype=np.float64))
    if refs.ndim != 2 or ests.ndim != 2:
        raise DataError(f"{label}references and estimates must be (C, L), got {refs.shape} and {ests.shape}")
    if refs.shape[0] != ests.shape[0]:
        raise DataError(f"{label}{refs.shape[0]} reference sources but {ests.shape[0]} estimates")
    if refs.shape[1] == 0:
        raise DataError(f"{label}empty references (0 samples)")
    if not (np.all(np.isfinite(refs)) and np.all(np.isfinite(ests))):
        raise DataError(f"{label}NaN or Inf in the references or estimates")
    for j, r in enumerate(refs):
        if not np.any(r):
            raise DataError(f"{label}reference source {j + 1} is silent (all zeros); its metrics are undefined")
    unit = refs / np.linalg.norm(refs, axis=1, keepdims=True)
    cos = np.abs(unit @ unit.T)  # (C, C)
    for i, j in zip(*np.triu_indices(len(refs), 1)):
        if cos[i, j] > 1 - 1e-9:
            raise DataError(
                f"{label}reference sources {i + 1} and {j + 1} are identical (up to a gain); "
                "bss_eval metrics are undefined"
            )
    ests = match_length(ests, refs.shape[1])
    silent = ~np.any(ests, axis=1)
    if silent.any():
        rng = np.random.default_rng(SILENT_EST_SEED)
        power = np.mean(refs**2)
        ests = ests.copy()
        for i in np.flatnonzero(silent):
            ests[i] = rng.standard_normal(refs.shape[1]) * np.sqrt(power * 10 ** (SILENT_EST_DB / 10))
    return refs, ests


def si_sdr(ref: np.ndarray, est: np.ndarray, zero_mean: bool = True, eps: float = 1e-20) -> np.ndarray:
    """Scale-invariant SDR in dB along the last axis; shapes broadcast.

    Example:
        >>> s = np.sin(np.arange(100.0))
        >>> round(float(si_sdr(s, 2 * s + 0.1 * np.cos(np.arange(100.0)))), 2)
        26.03
    """
    ref = np.asarray(ref, dtype=np.float64)
    est = np.asarray(est, dtype=np.float64)
    if zero_mean:
        ref = ref - ref.mean(-1, keepdims=True)
        est = est - est.mean(-1, keepdims=True)
    alpha = (est * ref).sum(-1, keepdims=True) / ((ref * ref).sum(-1, keepdims=True) + eps)
    target = alpha * ref
    noise = est - target
    return np.clip(10 * np.log10(((target**2).sum(-1) + eps) / ((noise**2).sum(-1) + eps)), -CLIP_DB, CLIP_DB)


def best_permutation(score: np.ndarray) -> np.ndarray:
    """score: (C_ref, C_est) -> perm (C_ref,) maximising the summed score.

    All permutations are tried for C <= 4 (ties go to the first in
    lexicographic order, as mir_eval); the Hungarian algorithm beyond.
    """
    c = score.shape[0]
    if c <= 4:
        perms = list(itertools.permutations(range(c)))
        totals = [score[np.arange(c), p].sum() for p in perms]
        return np.array(perms[int(np.argmax(totals))])
    _, cols = linear_sum_assignment(-score)
    return cols


def si_sdr_pit(refs: np.ndarray, ests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Permutation-invariant SI-SDR: (values (C,) by reference, perm (C,))."""
    refs, ests = _check(refs, ests)
    pair = si_sdr(refs[:, None, :], ests[None, :, :])  # (C_ref, C_est)
    perm = best_permutation(pair)
    return pair[np.arange(len(perm)), perm], perm


def bss_eval(
    refs: np.ndarray,
    ests: np.ndarray,
    compute_permutation: bool = True,
    backend: str = "fast",
    name: str = "",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """bss_eval v3 sources: (sdr, sir, sar, perm), each (C,), indexed by reference.

    Args:
        refs: (C, L) reference sources. ests: (C, L') estimates.
        compute_permutation: search the best permutation (by mean SIR) or take
            estimate j for reference j.
        backend: ``"fast"`` (fast_bss_eval, exact solver) or ``"mir_eval"``.
    """
    refs, ests = _check(refs, ests, name)
    c = refs.shape[0]
    if backend == "mir_eval":
        import mir_eval

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            sdr, sir, sar, perm = mir_eval.separation.bss_eval_sources(refs, ests, compute_permutation)
        return _clip(sdr), _clip(sir), _clip(sar), np.asarray(perm)
    if backend != "fast":
        raise ValueError(f"backend must be 'fast' or 'mir_eval', got {backend!r}")
    sdr, sir, sar = bss_eval_pairwise(refs, ests)  # (C_ref, C_est)
    perm = best_permutation(sir) if compute_permutation else np.arange(c)
    rows = np.arange(c)
    return sdr[rows, perm], sir[rows, perm], sar[rows, perm], perm


def bss_eval_pairwise(refs: np.ndarray, ests: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SDR, SIR, SAR of every (reference, estimate) pair: each (C_ref, C_est), clipped.

    fast_bss_eval's statistics with the exact (direct) solver; the
    references' system is solved once for all estimates, so extra estimates
    (e.g. the mixture, for improvements) cost little. Inputs as :func:`_check`
    leaves them (float64, equal lengths, no silent reference).
    """
    from fast_bss_eval.numpy.metrics import _base_metrics_bss_eval, square_cosine_metrics

    with np.errstate(divide="ignore", invalid="ignore"):
        coh_sdr, coh_sar = square_cosine_metrics(refs, ests, filter_length=BSS_FILTER_LENGTH, pairwise=True)
        neg_sdr, neg_sir, neg_sar = _base_metrics_bss_eval(coh_sdr, coh_sar)
    return _clip(-neg_sdr), _clip(-neg_sir), _clip(-neg_sar)


def _clip(x: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(np.asarray(x, dtype=np.float64), nan=-CLIP_DB), -CLIP_DB, CLIP_DB)


def score_utterance(
    refs: np.ndarray,
    ests: np.ndarray,
    mix: np.ndarray,
    backend: str = "fast",
    fs: int | None = None,
    extra_metrics: tuple[str, ...] = (),
    name: str = "",
) -> dict:
    """All metrics of one utterance, averaged over sources, with improvements.

    Args:
        refs: (C, L) references; ests: (C, L') estimates; mix: (L'',) mixture.
        extra_metrics: any of ``"PESQ"``, ``"STOI"`` (need ``fs`` and the
            optional packages, see :func:`available_extra_metrics`).

    Returns:
        ``{"SDR": ..., "SIR": ..., "SAR": ..., "SI-SDR": ..., "SDRi": ...,
        "SIRi": ..., "SI-SDRi": ..., "SDR_mix": ..., "SI-SDR_mix": ..., "perm": [..],
        "per_source": {metric: [..]}}``; means over sources as floats.
    """
    refs, ests = _check(refs, ests, name)
    c, n = refs.shape
    mix = match_length(np.asarray(mix, dtype=np.float64).reshape(-1), n)
    if not np.any(mix):
        raise DataError(f"{name + ': ' if name else ''}the mixture is silent (all zeros)")
    mixes = np.repeat(mix[None], c, 0)
    if backend == "fast":  # one solve for the estimates and the mixture
        try:
            psdr, psir, psar = bss_eval_pairwise(refs, np.concatenate([ests, mix[None]]))  # (C, C + 1)
        except np.linalg.LinAlgError:  # e.g. one reference a delayed copy of another
            raise DataError(
                f"{name + ': ' if name else ''}the reference sources are linearly dependent; bss_eval metrics are undefined"
            ) from None
        perm = best_permutation(psir[:, :c])
        rows = np.arange(c)
        sdr, sir, sar = psdr[rows, perm], psir[rows, perm], psar[rows, perm]
        sdr0, sir0 = psdr[:, c], psir[:, c]
    else:
        sdr, sir, sar, perm = bss_eval(refs, ests, True, backend, name)
        sdr0, sir0, _, _ = bss_eval(refs, mixes, False, backend, name)
    si, _ = si_sdr_pit(refs, ests)  # SI-SDR takes its own best permutation
    si0 = si_sdr(refs, mixes)
    per = {
        "SDR": sdr,
        "SIR": sir,
        "SAR": sar,
        "SI-SDR": si,
        "SDRi": sdr - sdr0,
        "SIRi": sir - sir0,
        "SI-SDRi": si - si0,
        "SDR_mix": sdr0,
        "SI-SDR_mix": si0,
    }
    if extra_metrics:
        per.update(_extra_metrics(refs, ests[perm], fs, extra_metrics))
    out = {k: float(np.mean(v)) for k, v in per.items()}
    out["perm"] = [int(p) for p in perm]
    out["per_source"] = {k: [float(x) for x in v] for k, v in per.items()}
    return out


def available_extra_metrics(fs: int) -> tuple[str, ...]:
    """``PESQ`` / ``STOI`` when the optional ``pesq`` / ``pystoi`` packages are importable."""
    names = []
    try:
        import pesq  # noqa: F401

        if fs in (8000, 16000):
            names.append("PESQ")
    except ImportError:
        pass
    try:
        import pystoi  # noqa: F401

        names.append("STOI")
    except ImportError:
        pass
    return tuple(names)


def _extra_metrics(refs, ests, fs, names) -> dict:
    """PESQ / STOI per source; a value the package cannot compute (e.g. PESQ on
    a too short or silent signal) is NaN, so the other metrics of the
    utterance still count."""

    def safe(fn, *args):
        try:
            return float(fn(*args))
        except Exception:  # noqa: BLE001 - the optional packages raise their own error types
            return float("nan")

    out = {}
    if "PESQ" in names:
        from pesq import pesq

        mode = "nb" if fs == 8000 else "wb"
        out["PESQ"] = np.array([safe(pesq, fs, r, e, mode) for r, e in zip(refs, ests)])
    if "STOI" in names:
        from pystoi import stoi

        out["STOI"] = np.array([safe(stoi, r, e, fs, False) for r, e in zip(refs, ests)])
    return out
