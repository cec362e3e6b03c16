"""The training loop: data, optimisation, checkpoints, resume, data parallelism.

Reproducibility contract: on CPU, a run with a given seed that is killed at
any moment and resumed with ``--resume`` ends with bit-identical weights to an
uninterrupted run. This holds because

* the items of epoch ``e`` (chunk offsets, speaker draws) and their order
  depend only on ``(seed, e)``, and a resumed epoch skips the batches it has
  already done;
* every checkpoint (end of epoch, and every ``save_interval_steps`` steps)
  holds the model, optimizer, scheduler, gradient scaler, the RNG states of
  every process and all counters;
* nothing else draws from the global RNGs between two steps (the DataLoader
  gets its own generator, workers are seeded from ``(seed, epoch, rank,
  worker)``, weight noise has its own generator seeded from ``(seed, step)``).

Data parallelism: the per-epoch list of global batches is the same in every
process; process ``r`` of ``W`` takes the ``r``-th slice of ``batch_size / W``
items of each, so the gradient (averaged over processes) is the one of a
single process with the same global batch.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader
from typeguard import TypeCheckError

import dcsep
from dcsep.data.dataset import ChunkDataset, FixedChunkDataset, WorkerInit, collate, scan_datadir
from dcsep.errors import ConfigError, DataError, DcsepError, one_line
from dcsep.losses.abs import ibm_targets
from dcsep.model import MODEL_KEYS, DeepClustering
from dcsep.train import distributed
from dcsep.train.checkpoint import (
    average_state_dicts,
    get_rng_state,
    load_checkpoint,
    load_model_states,
    save_checkpoint,
    set_rng_state,
)
from dcsep.train.config import OPTIMIZERS, SCHEDULERS, TrainConfig, dynamic_mix_class, resolved_config
from dcsep.train.reporting import ProgressBar, ScalarWriter, close_logger, memory_summary, setup_logger
from dcsep.utils import atomic_write_text, remove_stale_temp_files, seed_everything


#: training keys that may change between a run and its resumption without changing the result
RESUMABLE_KEYS = (
    "max_epochs", "patience", "num_workers", "log_interval", "save_interval_steps", "keep_nbest",
    "nonfinite_max_consecutive", "nonfinite_max_fraction", "stats_max_utts", "init_model", "valid_batch_size",
)


def _under(name: str, prefixes: list[str]) -> bool:
    """Whether a state-dict entry is one of ``prefixes`` or lies under one (``encoder.linear`` -> ``encoder.linear.weight``)."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


class TrainingError(DcsepError, RuntimeError):
    """Training cannot go on (e.g. too many non-finite losses)."""


class TrainingInterrupted(DcsepError, RuntimeError):
    """A stop was requested (SIGTERM/SIGINT); a checkpoint was written first."""


# ---- helpers -------------------------------------------------------------------
def frames_to_samples(frontend, frames: int) -> int:
    """The shortest number of samples that gives ``frames`` frames."""
    hop = getattr(frontend, "hop_length", None)
    if not isinstance(hop, int) or hop < 1:
        raise ConfigError(f"frontend {type(frontend).__name__} has no hop_length; cannot convert frames to samples")
    n = max(1, frames * hop)
    while n - hop >= 1 and frontend.num_frames(n - hop) >= frames:
        n -= hop
    while frontend.num_frames(n) < frames:
        n += hop
    while n > 1 and frontend.num_frames(n - 1) >= frames:
        n -= 1
    return n


def loss_from_outputs(
    model: DeepClustering, V: torch.Tensor, spec: torch.Tensor, frame_lengths: torch.Tensor, sources: torch.Tensor
) -> torch.Tensor:
    """The training loss from the model's outputs, in float32 (outside any autocast).

    Same as :meth:`DeepClustering.compute_loss`, split so that only the
    network runs under mixed precision.

    Args:
        V: (B, T, F, K) embeddings; spec: (B, T, F) complex mixture STFT;
        frame_lengths: (B,); sources: (B, C, L).
    """
    with torch.autocast(device_type=V.device.type, enabled=False):
        b, c, n = sources.shape
        src_mag = model.frontend.stft(sources.reshape(b * c, n).float()).abs()
        src_mag = src_mag.reshape(b, c, *src_mag.shape[1:])  # (B, C, T, F)
        Y = ibm_targets(src_mag)
        return model.loss_fn(V.float(), Y, spec.abs().float(), frame_lengths)


def epoch_batches(num_items: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """A shuffled list of full global batches of item indices, fixed by ``(seed, epoch)``."""
    order = np.random.default_rng([seed, epoch, 1]).permutation(num_items)
    nb = num_items // batch_size
    return [order[i * batch_size : (i + 1) * batch_size].tolist() for i in range(nb)]


def shard_batches(batches: list[list[int]], rank: int, world: int, accum: int) -> list[list[list[int]]]:
    """Per step, this process's micro-batches: slice ``rank`` of ``world``, split in ``accum``."""
    out = []
    for b in batches:
        per = len(b) // world
        mine = b[rank * per : (rank + 1) * per]
        m = per // accum
        out.append([mine[j * m : (j + 1) * m] for j in range(accum)])
    return out


def noise_seed(seed: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, step, 2]).generate_state(1, dtype=np.uint64)[0] >> 1)


def load_stats(path: str | Path, num_bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a ``dcsep-stats`` file: ``{"mean": (F,), "std": (F,)}``."""
    path = Path(path)
    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"{path}: stats file not found") from None
    except Exception as e:
        raise ConfigError(f"{path}: not a readable stats file: {e}") from None
    if not isinstance(st, dict) or "mean" not in st or "std" not in st:
        raise ConfigError(f"{path}: stats file must hold 'mean' and 'std'")
    mean, std = st["mean"], st["std"]
    for name, t in (("mean", mean), ("std", std)):
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != (num_bins,):
            raise ConfigError(f"{path}: {name} must be a tensor of shape ({num_bins},), the model's frequency bins")
        if not torch.isfinite(t).all():
            raise ConfigError(f"{path}: {name} holds non-finite values")
    return mean.float(), std.float()


class Trainer:
    """Trains a :class:`DeepClustering` model into an exp dir.

    Args:
        model_conf: the model keys of the training YAML.
        cfg: the training keys (validated :class:`TrainConfig`).
        train_dir: training data dir (mixtures + sources, or single-speaker
            utterances for ``train_dataset: dynamic_mix``).
        valid_dir: validation data dir of mixtures + sources.
        exp_dir: output dir.
        stats: a ``dcsep-stats`` file; None computes the statistics from the training data.
        ngpu: 0 for CPU, > 0 for one GPU per process.
        resume: continue from ``exp_dir/checkpoints/checkpoint.pt`` if it exists.
        step_hook: called as ``step_hook(trainer)`` after every step (tests, fault injection).
        progress: show a progress bar (None: only on an interactive terminal).
    """

    def __init__(
        self,
        model_conf: dict,
        cfg: TrainConfig,
        train_dir: str | Path,
        valid_dir: str | Path,
        exp_dir: str | Path,
        stats: str | Path | None = None,
        ngpu: int = 0,
        resume: bool = False,
        step_hook: Callable[["Trainer"], None] | None = None,
        progress: bool | None = None,
        config_path: str | None = None,
    ):
        self.model_conf = model_conf
        self.cfg = cfg
        self.train_dir = Path(train_dir)
        self.valid_dir = Path(valid_dir)
        self.exp_dir = Path(exp_dir)
        self.stats_path = stats
        self.ngpu = ngpu
        self.resume = resume
        self.step_hook = step_hook
        self.progress = progress
        self.config_path = config_path
        self.ckpt_dir = self.exp_dir / "checkpoints"
        self.ckpt_path = self.ckpt_dir / "checkpoint.pt"
        self.stop_requested = False
        self.state = {
            "epoch": 1,  # the epoch in progress (1-based)
            "epoch_step": 0,  # batches of it already done
            "global_step": 0,
            "nbest": [],  # [[valid_loss, epoch], ...] best first
            "history": [],  # one dict per finished epoch
            "nonfinite_total": 0,
            "nonfinite_epoch": 0,
            "nonfinite_consecutive": 0,
            "epoch_loss_sum": 0.0,
            "epoch_loss_count": 0,
            "train_seconds": 0.0,
            "scalar_rows": 0,
            "finished": False,
            "stop_reason": "",
        }

    # ---- public ------------------------------------------------------------------
    def run(self) -> dict:
        """Train (or continue) and return the training summary."""
        self.env = distributed.setup(self.ngpu)
        self.log = setup_logger(None, self.env.rank)
        old_handlers = self._install_signal_handlers()
        self.scalars = None
        try:
            return self._run()
        except DcsepError as e:  # stderr gets it from the caller; train.log gets it here
            if isinstance(e, TrainingInterrupted):
                raise
            record = self.log.makeRecord(self.log.name, logging.ERROR, __file__, 0, one_line(e), None, None)
            for h in self.log.handlers:
                if isinstance(h, logging.FileHandler):
                    h.handle(record)
            raise
        finally:
            self._restore_signal_handlers(old_handlers)
            if self.scalars is not None:
                self.scalars.close()
            close_logger(self.log)

    def request_stop(self) -> None:
        """Ask for a checkpoint and a clean stop after the current step."""
        self.stop_requested = True

    # ---- set-up ------------------------------------------------------------------
    def _run(self) -> dict:
        cfg, env = self.cfg, self.env
        have_ckpt = self.ckpt_path.is_file()
        if have_ckpt and not self.resume:
            raise ConfigError(
                f"{self.exp_dir}: already holds a training run ({self.ckpt_path}); "
                "pass --resume to continue it, or choose another --exp-dir"
            )
        if env.is_main:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            self.log = setup_logger(self.exp_dir / "train.log", env.rank)
            if self.resume:  # temporary files of writes cut short by a kill
                stale = remove_stale_temp_files(self.exp_dir) + remove_stale_temp_files(self.ckpt_dir)
                if stale:
                    self.log.info("removed %d temporary file(s) of an interrupted run", len(stale))
        self.log.info(
            "dcsep %s, torch %s, %d process(es), device %s%s",
            dcsep.__version__,
            torch.__version__,
            env.world_size,
            env.device,
            f", config {self.config_path}" if self.config_path else "",
        )
        if self.resume and not have_ckpt:
            self.log.info("--resume: no checkpoint in %s, starting from scratch", self.ckpt_dir)

        seed_everything(cfg.seed)
        self.model = DeepClustering.from_config(self.model_conf, where=self.config_path or "<config>")
        self.full_config = resolved_config(self.model.config, cfg)
        self.amp_enabled = cfg.amp and env.device.type == "cuda"
        if env.device.type == "cpu" and torch.cuda.is_available():
            self.log.info("training on the CPU although CUDA is available: pass --ngpu 1 to use a GPU")
        if cfg.amp and not self.amp_enabled:
            self.log.info("amp: true ignored on CPU (mixed precision is for CUDA)")
        self.amp_dtype = torch.bfloat16 if cfg.amp_dtype == "bfloat16" else torch.float16

        self._check_batch_sizes()
        self._prepare_data()

        if not have_ckpt:
            self._init_weights()
        self.model.to(env.device)
        if not have_ckpt:  # the statistics were set on rank 0 only
            env.broadcast_(self.model.frontend.mean)
            env.broadcast_(self.model.frontend.std)
        self.ddp_model = self.model
        if env.distributed:
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[env.device.index] if env.device.type == "cuda" else None
            )
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = OPTIMIZERS[cfg.optim](self.params, **cfg.optim_conf)
        scls = SCHEDULERS[cfg.scheduler]
        sconf = dict(cfg.scheduler_conf)
        if cfg.scheduler == "plateau":
            sconf["mode"] = "min"
        self.scheduler = scls(self.optimizer, **sconf) if scls is not None else None
        self.scaler = None
        if self.amp_enabled and self.amp_dtype == torch.float16:
            self.scaler = torch.amp.GradScaler("cuda")

        if env.is_main:
            self.scalars = ScalarWriter(self.exp_dir / "scalars.csv", self.exp_dir / "tensorboard")
        if have_ckpt:
            self._load(self.ckpt_path)
        elif env.is_main and self.scalars.rows:
            self.scalars.truncate(0)
        if env.is_main:
            self._write_config()
        n_params = sum(p.numel() for p in self.params)
        self.log.info("model: %s parameters, fs %d Hz", f"{n_params:,}", self.model.fs)
        self.pbar = ProgressBar(self.progress if env.is_main else False)

        while not self.state["finished"]:
            self._train_epoch()
        return self._finalize()

    def _check_batch_sizes(self) -> None:
        cfg, world = self.cfg, self.env.world_size
        for st in cfg.stages():
            b = st["batch_size"]
            if b % (world * cfg.accum_grad):
                raise ConfigError(
                    f"{self.config_path or '<config>'}: batch_size {b} (the global batch) must be divisible by "
                    f"world_size x accum_grad = {world} x {cfg.accum_grad}"
                )

    def _prepare_data(self) -> None:
        cfg, fs = self.cfg, self.model.fs
        pb = ProgressBar(self.progress if self.env.is_main else False)

        def progress(what):
            return lambda done, total: pb.update(done, total, f"checking {what}")

        self.log.info("checking the training data in %s", self.train_dir)
        self._train_set = None
        self._train_set_chunk = None
        if cfg.train_dataset == "chunks":
            self.train_utts = scan_datadir(self.train_dir, fs, require_sources=True, progress=progress("train"))
            hours = sum(u.num_samples for u in self.train_utts) / fs / 3600
            self.log.info("train: %d mixtures, %.2f h, %d speakers", len(self.train_utts), hours,
                          len(self.train_utts[0].sources))
        else:  # the dataset checks its dir (and caches the audio) when built
            self.train_utts = []
            ds = self.train_set(frames_to_samples(self.model.frontend, cfg.stages()[0]["chunk_frames"]))
            self.log.info("train: dynamic mixing of %s, %d items per epoch", self.train_dir, len(ds))
        pb.clear()
        self.log.info("checking the validation data in %s", self.valid_dir)
        self.valid_utts = scan_datadir(self.valid_dir, fs, require_sources=True, progress=progress("valid"))
        pb.clear()
        valid_chunk = None
        if cfg.valid_chunk_frames is not None:
            valid_chunk = frames_to_samples(self.model.frontend, cfg.valid_chunk_frames)
        self.valid_set = FixedChunkDataset(self.valid_utts, valid_chunk)
        self.log.info(
            "valid: %d mixtures, %d items (%s)",
            len(self.valid_utts),
            len(self.valid_set),
            "whole utterances" if valid_chunk is None else f"chunks of {cfg.valid_chunk_frames} frames",
        )

    def train_set(self, chunk_samples: int):
        """The training dataset for a chunk length (rebuilt when the curriculum changes it)."""
        if self._train_set is None or self._train_set_chunk != chunk_samples:
            cfg = self.cfg
            if cfg.train_dataset == "chunks":
                self._train_set = ChunkDataset(
                    self.train_utts, chunk_samples, seed=cfg.seed,
                    max_chunks_per_utt=cfg.train_dataset_conf.get("max_chunks_per_utt"),
                )
            else:
                cls = dynamic_mix_class(self.config_path or "<config>")
                params = inspect.signature(cls.__init__).parameters
                conf = {  # YAML has no tuples
                    k: tuple(v) if isinstance(v, list) and k in params and isinstance(params[k].default, tuple) else v
                    for k, v in cfg.train_dataset_conf.items()
                }
                try:
                    self._train_set = cls(
                        data_dir=self.train_dir, chunk_samples=chunk_samples, seed=cfg.seed, fs=self.model.fs, **conf
                    )
                except (TypeError, ValueError, TypeCheckError) as e:
                    if isinstance(e, DcsepError):
                        raise
                    raise ConfigError(f"{self.config_path or '<config>'}: train_dataset_conf: {e}") from None
            self._train_set_chunk = chunk_samples
        return self._train_set

    def _init_weights(self) -> None:
        cfg, fe = self.cfg, self.model.frontend
        if cfg.init_model:
            src = DeepClustering.load(cfg.init_model)
            reset = [k for k in self.model.state_dict() if _under(k, cfg.init_reset)]
            for prefix in cfg.init_reset:
                if not any(_under(k, [prefix]) for k in reset):
                    raise ConfigError(f"init_reset: {prefix!r} names no parameter of the model (see model.state_dict())")
            state = {k: v for k, v in src.state_dict().items() if not _under(k, cfg.init_reset)}
            try:
                missing, unexpected = self.model.load_state_dict(state, strict=False)
                missing = sorted(set(missing) - set(reset))
                if missing or unexpected:
                    raise RuntimeError(f"missing keys {missing}, unexpected keys {unexpected}")
            except RuntimeError as e:
                raise ConfigError(f"{cfg.init_model}: init_model does not fit the configured model: {e}") from None
            self.log.info("initialised the weights (and feature statistics) from %s", cfg.init_model)
            if reset:
                self.log.info("init_reset: kept at their fresh initialisation: %s", ", ".join(reset))
        if self.stats_path is not None:
            mean, std = load_stats(self.stats_path, fe.num_bins)
            fe.set_stats(mean, std)
            self.log.info("feature statistics from %s", self.stats_path)
        elif not cfg.init_model and self.env.is_main:
            fe.set_stats(*self._compute_stats())

    def _compute_stats(self):
        cfg, fs = self.cfg, self.model.fs
        if cfg.train_dataset == "chunks":
            n = min(cfg.stats_max_utts, len(self.train_utts))
            from dcsep.data.audio import load_audio

            pick = np.random.default_rng([cfg.seed, 3]).permutation(len(self.train_utts))[:n]
            pick.sort()
            wavs = (load_audio(self.train_utts[i].mix, fs=fs, name=self.train_utts[i].utt)[0] for i in pick)
            what = f"{n} training mixtures"
        else:
            ds = self.train_set(frames_to_samples(self.model.frontend, self.cfg.stages()[0]["chunk_frames"]))
            ds.set_epoch(0)
            n = min(cfg.stats_max_utts, len(ds))
            wavs = (ds[i]["mix"] for i in range(n))
            what = f"{n} dynamically mixed training chunks"
        self.log.info("computing feature statistics from %s (pass --stats to reuse a file)", what)
        return self.model.frontend.compute_stats(wavs)

    def _write_config(self) -> None:
        header = (
            f"# resolved training config written by dcsep {dcsep.__version__} (torch {torch.__version__})\n"
            f"# train_dir: {self.train_dir}\n# valid_dir: {self.valid_dir}\n"
        )
        atomic_write_text(self.exp_dir / "config.yaml", header + yaml.safe_dump(self.full_config, sort_keys=False))

    # ---- checkpoints -------------------------------------------------------------
    def _payload(self) -> dict:
        rng = self.env.all_gather_object(get_rng_state())
        if self.scalars is not None:
            self.state["scalar_rows"] = self.scalars.rows
        return {
            "config": self.full_config,
            "dcsep_version": dcsep.__version__,
            "world_size": self.env.world_size,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "rng": rng,
            "state": dict(self.state),
        }

    def save_checkpoint(self) -> None:
        """Write ``checkpoints/checkpoint.pt`` (all processes take part, rank 0 writes)."""
        payload = self._payload()
        if self.env.is_main:
            save_checkpoint(self.ckpt_path, payload)

    def _load(self, path: Path) -> None:
        ckpt = load_checkpoint(path, map_location="cpu")
        old = ckpt["config"]
        for key in MODEL_KEYS:
            if old.get(key) != self.full_config.get(key):
                raise ConfigError(
                    f"{path}: the checkpoint's {key} ({old.get(key)!r}) differs from the config's "
                    f"({self.full_config.get(key)!r}); a run cannot be resumed with another model"
                )
        changed = sorted(
            k for k in self.full_config
            if k not in MODEL_KEYS and k not in RESUMABLE_KEYS and old.get(k) != self.full_config[k]
        )
        if changed:
            self.log.warning("resuming with changed training keys (the run is no longer reproducible): %s",
                             ", ".join(changed))
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt["scheduler"]:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and ckpt["scaler"]:
            self.scaler.load_state_dict(ckpt["scaler"])
        self.state.update(ckpt["state"])
        st = self.state
        if st["finished"] and st["stop_reason"].startswith("reached max_epochs") and st["epoch"] <= self.cfg.max_epochs:
            self.log.info("max_epochs raised to %d: training goes on from epoch %d", self.cfg.max_epochs, st["epoch"])
            st.update(finished=False, stop_reason="")
        rng = ckpt["rng"]
        if len(rng) != self.env.world_size:
            self.log.warning("checkpoint written by %d process(es), resuming with %d: RNG states of rank 0 reused",
                             len(rng), self.env.world_size)
        set_rng_state(rng[self.env.rank] if len(rng) == self.env.world_size else rng[0])
        if self.scalars is not None:
            self.scalars.truncate(self.state["scalar_rows"])
        self.log.info(
            "resumed from %s: epoch %d, step %d of the epoch, global step %d%s",
            path, st["epoch"], st["epoch_step"], st["global_step"], " (finished)" if st["finished"] else "",
        )

    # ---- one epoch ---------------------------------------------------------------
    def _loader(self, dataset, batch_sampler, epoch: int) -> DataLoader:
        cfg = self.cfg
        g = torch.Generator()
        g.manual_seed(int(np.random.SeedSequence([cfg.seed, epoch, self.env.rank, 4]).generate_state(1)[0]))
        return DataLoader(
            dataset,
            batch_sampler=batch_sampler,
            collate_fn=collate,
            num_workers=cfg.num_workers,
            worker_init_fn=WorkerInit(cfg.seed, epoch, self.env.rank),
            generator=g,
            pin_memory=self.env.device.type == "cuda",
        )

    def _interrupt(self, epoch: int, step: int, num_steps: int) -> None:
        """Write a checkpoint after ``step`` steps of the epoch and raise :class:`TrainingInterrupted`."""
        if self.stop_signal:
            self.log.warning("received %s: writing a checkpoint and stopping (a second signal stops at once)",
                             self.stop_signal)
        self.save_checkpoint()
        self.pbar.clear()
        raise TrainingInterrupted(
            f"stop requested: checkpoint written at epoch {epoch}, step {step}/{num_steps} "
            f"({self.ckpt_path}); continue with --resume"
        )

    def _train_epoch(self) -> None:
        cfg, env, st = self.cfg, self.env, self.state
        epoch = st["epoch"]
        stage = cfg.stage_for_epoch(epoch)
        chunk = frames_to_samples(self.model.frontend, stage["chunk_frames"])
        dataset = self.train_set(chunk)
        dataset.set_epoch(epoch)
        batch = stage["batch_size"]
        batches = epoch_batches(len(dataset), batch, cfg.seed, epoch)
        if not batches:
            raise DataError(
                f"{self.train_dir}: the training set gives {len(dataset)} items of {stage['chunk_frames']} frames, "
                f"fewer than one batch ({batch}); lower batch_size or chunk_frames"
            )
        steps = shard_batches(batches, env.rank, env.world_size, cfg.accum_grad)
        num_steps = len(steps)
        start = st["epoch_step"]
        if start > 0:
            self.log.info("epoch %d/%d: continuing at step %d of %d", epoch, cfg.max_epochs, start, num_steps)
        else:
            self.log.info(
                "epoch %d/%d: %d items of %d frames, %d steps of %d (lr %.3g)",
                epoch, cfg.max_epochs, len(dataset), stage["chunk_frames"], num_steps, batch, self._lr(),
            )
        if start < num_steps:
            flat = [mb for s in steps[start:] for mb in s]
            loader = self._loader(dataset, flat, epoch)
            it = iter(loader)
            meter = {"loss": 0.0, "n": 0, "frames": 0.0, "samples": 0.0, "t0": time.monotonic(), "gnorm": 0.0}
            t_epoch = time.monotonic()
            try:
                for k in range(start, num_steps):
                    try:
                        micro = [next(it) for _ in range(cfg.accum_grad)]
                    except RuntimeError:
                        # a DataLoader worker killed by the signal that asked this process to stop (sent to
                        # the whole process group): stop as asked, at this step boundary
                        if not (self.stop_requested and env.world_size == 1):
                            raise
                        self._interrupt(epoch, k, num_steps)
                    self._train_step(micro, meter, num_steps)
                    st["epoch_step"] = k + 1
                    st["global_step"] += 1
                    st["train_seconds"] += time.monotonic() - t_epoch
                    t_epoch = time.monotonic()
                    if st["global_step"] % cfg.log_interval == 0:
                        self._log_interval(meter, num_steps)
                    self.pbar.update(k + 1, num_steps, f"epoch {epoch} loss {self._epoch_loss():.4f}")
                    if cfg.save_interval_steps and st["global_step"] % cfg.save_interval_steps == 0:
                        self.save_checkpoint()
                    if self.stop_flag:
                        self._interrupt(epoch, k + 1, num_steps)
                    if self.step_hook is not None:
                        self.step_hook(self)
            finally:
                del it, loader
            self.pbar.clear()
        self._end_epoch(epoch)

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _epoch_loss(self) -> float:
        st = self.state
        return st["epoch_loss_sum"] / max(st["epoch_loss_count"], 1)

    def _train_step(self, micro: list[dict], meter: dict, num_steps: int) -> None:
        cfg, env, st = self.cfg, self.env, self.state
        self.ddp_model.train()
        self.optimizer.zero_grad(set_to_none=True)
        backup = self._add_weight_noise() if cfg.weight_noise > 0 else None
        loss_sum = torch.zeros((), device=env.device)
        frames = samples = 0
        dev = env.device
        for j, batch in enumerate(micro):
            mix = batch["mix"].to(dev, non_blocking=True)
            src = batch["sources"].to(dev, non_blocking=True)
            lens = batch["lengths"].to(dev, non_blocking=True)
            last = j == len(micro) - 1
            sync = self.ddp_model.no_sync() if (env.distributed and not last) else contextlib.nullcontext()
            with sync:
                with torch.autocast(device_type=dev.type, dtype=self.amp_dtype, enabled=self.amp_enabled):
                    V, spec, frame_lengths = self.ddp_model(mix, lens)
                loss = loss_from_outputs(self.model, V, spec, frame_lengths, src)
                scaled = loss / len(micro)
                if self.scaler is not None:
                    scaled = self.scaler.scale(scaled)
                scaled.backward()
            loss_sum += loss.detach()
            frames += int(frame_lengths.sum())
            samples += int(lens.sum())
        if backup is not None:
            with torch.no_grad():
                for p, b in zip(self.params, backup):
                    p.copy_(b)
        local = float(loss_sum) / len(micro)
        local_bad = not math.isfinite(local)
        red = env.all_reduce_sum(
            [0.0 if local_bad else local, float(local_bad), float(self.stop_requested), float(frames), float(samples)]
        )
        self.stop_flag = red[2] > 0
        bad = red[1] > 0
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        grads = [p.grad for p in self.params if p.grad is not None]
        if cfg.grad_clip is not None:
            gnorm = float(torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip))
        else:
            gnorm = float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0
        if not bad and self.scaler is None and not math.isfinite(gnorm):
            bad = True
        if bad:
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.update()
            self._nonfinite(num_steps)
            return
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        st["nonfinite_consecutive"] = 0
        loss_global = red[0] / env.world_size
        st["epoch_loss_sum"] += loss_global
        st["epoch_loss_count"] += 1
        meter["loss"] += loss_global
        meter["gnorm"] += gnorm if math.isfinite(gnorm) else 0.0
        meter["n"] += 1
        meter["frames"] += red[3]
        meter["samples"] += red[4]

    def _add_weight_noise(self) -> list[torch.Tensor]:
        """Add N(0, weight_noise^2) to every weight; return the clean weights to put back."""
        g = torch.Generator(device=self.env.device)
        g.manual_seed(noise_seed(self.cfg.seed, self.state["global_step"]))
        backup = []
        with torch.no_grad():
            for p in self.params:
                backup.append(p.detach().clone())
                p.add_(torch.randn(p.shape, generator=g, device=p.device, dtype=p.dtype), alpha=self.cfg.weight_noise)
        return backup

    def _nonfinite(self, num_steps: int) -> None:
        cfg, st = self.cfg, self.state
        st["nonfinite_total"] += 1
        st["nonfinite_epoch"] += 1
        st["nonfinite_consecutive"] += 1
        where = f"epoch {st['epoch']}, step {st['epoch_step'] + 1}/{num_steps} (global {st['global_step'] + 1})"
        self.pbar.clear()
        self.log.warning(
            "non-finite loss or gradient at %s: batch skipped (%d in a row, %d this epoch, %d in all)",
            where, st["nonfinite_consecutive"], st["nonfinite_epoch"], st["nonfinite_total"],
        )
        hint = "lower the learning rate, set grad_clip, or turn amp off; the last good checkpoint is " + str(
            self.ckpt_path
        )
        if st["nonfinite_consecutive"] > cfg.nonfinite_max_consecutive:
            raise TrainingError(
                f"training stopped at {where}: {st['nonfinite_consecutive']} consecutive batches with a non-finite "
                f"loss or gradient (nonfinite_max_consecutive: {cfg.nonfinite_max_consecutive}); {hint}"
            )
        if st["nonfinite_epoch"] > cfg.nonfinite_max_fraction * num_steps:
            raise TrainingError(
                f"training stopped at {where}: {st['nonfinite_epoch']} of the epoch's {num_steps} batches had a "
                f"non-finite loss or gradient (nonfinite_max_fraction: {cfg.nonfinite_max_fraction}); {hint}"
            )

    def _log_interval(self, meter: dict, num_steps: int) -> None:
        st, env = self.state, self.env
        now = time.monotonic()
        dt = max(now - meter["t0"], 1e-9)
        n = max(meter["n"], 1)
        loss = meter["loss"] / n
        fps = meter["frames"] / dt
        rtf = meter["samples"] / self.model.fs / dt
        gnorm = meter["gnorm"] / n
        self.pbar.clear()
        self.log.info(
            "epoch %d step %d (%d/%d) loss %.4f lr %.3g grad_norm %.3g | %.0f frames/s, %.1fx real time | %s",
            st["epoch"], st["global_step"], st["epoch_step"], num_steps, loss, self._lr(), gnorm, fps, rtf,
            memory_summary(env.device),
        )
        if self.scalars is not None:
            self.scalars.add(
                st["global_step"],
                st["epoch"],
                {"train/loss": loss, "train/lr": self._lr(), "train/grad_norm": gnorm, "train/frames_per_s": fps,
                 "train/realtime_factor": rtf},
            )
        meter.update(loss=0.0, n=0, frames=0.0, samples=0.0, gnorm=0.0, t0=now)

    # ---- validation and end of epoch -----------------------------------------------------
    @torch.no_grad()
    def validate(self, model: DeepClustering | None = None) -> float:
        """Mean per-item validation loss over all processes."""
        model = model or self.model
        cfg, env = self.cfg, self.env
        was_training = model.training
        model.eval()
        ds = self.valid_set
        order = sorted(range(len(ds)), key=lambda i: (-ds.num_samples(i), i))[env.rank :: env.world_size]
        bs = cfg.valid_batch_size or cfg.batch_size
        batches = [order[i : i + bs] for i in range(0, len(order), bs)]
        total = count = 0.0
        if batches:
            for b, batch in enumerate(self._loader(ds, batches, 0)):
                mix = batch["mix"].to(env.device, non_blocking=True)
                src = batch["sources"].to(env.device, non_blocking=True)
                lens = batch["lengths"].to(env.device, non_blocking=True)
                with torch.autocast(device_type=env.device.type, dtype=self.amp_dtype, enabled=self.amp_enabled):
                    V, spec, fl = model(mix, lens)
                loss = loss_from_outputs(model, V, spec, fl, src)
                total += float(loss) * mix.shape[0]
                count += mix.shape[0]
                self.pbar.update(b + 1, len(batches), "validation")
        self.pbar.clear()
        total, count = env.all_reduce_sum([total, count])
        model.train(was_training)
        return total / max(count, 1)

    def _end_epoch(self, epoch: int) -> None:
        cfg, env, st = self.cfg, self.env, self.state
        t0 = time.monotonic()
        valid = self.validate()
        st["train_seconds"] += time.monotonic() - t0
        lr = self._lr()
        train_loss = self._epoch_loss()
        if not math.isfinite(valid):
            self.log.warning("epoch %d: validation loss is %s", epoch, valid)
        if self.scheduler is not None:
            if cfg.scheduler == "plateau":
                self.scheduler.step(valid if math.isfinite(valid) else float("inf"))
            else:
                self.scheduler.step()
        st["history"].append(
            {"epoch": epoch, "train_loss": train_loss, "valid_loss": valid, "lr": lr,
             "nonfinite": st["nonfinite_epoch"], "global_step": st["global_step"]}
        )
        nbest = [list(x) for x in st["nbest"]]
        dropped = []
        if math.isfinite(valid) and (len(nbest) < cfg.keep_nbest or valid < nbest[-1][0]):
            if env.is_main:
                self.model.save(self.ckpt_dir / f"epoch{epoch}.pt", extra={"epoch": epoch, "valid_loss": valid})
            nbest.append([valid, epoch])
            nbest.sort(key=lambda x: (x[0], x[1]))
            dropped, nbest = nbest[cfg.keep_nbest :], nbest[: cfg.keep_nbest]
        st["nbest"] = nbest
        best_valid, best_epoch = (nbest[0][0], nbest[0][1]) if nbest else (float("nan"), 0)
        if self.scalars is not None:
            self.scalars.add(st["global_step"], epoch,
                             {"valid/loss": valid, "train/epoch_loss": train_loss, "train/epoch_lr": lr})
        self.log.info(
            "epoch %d done: train loss %.4f, valid loss %.4f (best %.4f at epoch %d), lr %.3g, "
            "%d non-finite batch(es), %.1f min in all",
            epoch, train_loss, valid, best_valid, best_epoch, lr, st["nonfinite_epoch"], st["train_seconds"] / 60,
        )
        st.update(epoch=epoch + 1, epoch_step=0, nonfinite_epoch=0, epoch_loss_sum=0.0, epoch_loss_count=0)
        if epoch >= cfg.max_epochs:
            st.update(finished=True, stop_reason=f"reached max_epochs ({cfg.max_epochs})")
        elif cfg.patience is not None and nbest and epoch - best_epoch >= cfg.patience:
            st.update(
                finished=True,
                stop_reason=f"early stopping: no better validation loss for {epoch - best_epoch} epochs "
                f"(patience {cfg.patience})",
            )
        self.save_checkpoint()
        if env.is_main:
            keep = {f"epoch{e}.pt" for _, e in nbest}
            for p in self.ckpt_dir.glob("epoch*.pt"):
                if p.name not in keep:
                    p.unlink(missing_ok=True)
        del dropped

    # ---- the end -------------------------------------------------------------------
    def _finalize(self) -> dict:
        cfg, env, st = self.cfg, self.env, self.state
        env.barrier()
        nbest = st["nbest"]
        if not nbest:
            raise TrainingError(f"{self.exp_dir}: no epoch had a finite validation loss; no model to write")
        epochs = [e for _, e in nbest]
        paths = [self.ckpt_dir / f"epoch{e}.pt" for e in epochs]
        states = load_model_states(paths)
        best_model = DeepClustering.from_config(self.model.config)
        best_model.load_state_dict(states[0])
        avg_model = DeepClustering.from_config(self.model.config)
        avg_model.load_state_dict(average_state_dicts(states))
        avg_model.to(env.device)
        avg_valid = self.validate(avg_model) if len(states) > 1 else nbest[0][0]
        summary = {
            "epochs": st["epoch"] - 1,
            "steps": st["global_step"],
            "best_epoch": nbest[0][1],
            "best_valid_loss": nbest[0][0],
            "averaged_epochs": sorted(epochs),
            "averaged_valid_loss": avg_valid,
            "nonfinite_batches": st["nonfinite_total"],
            "stop_reason": st["stop_reason"],
            "train_hours": st["train_seconds"] / 3600,
            "world_size": env.world_size,
            "device": env.device.type,
            "seed": cfg.seed,
            "dcsep_version": dcsep.__version__,
            "torch_version": str(torch.__version__),
            "train_dir": str(self.train_dir),
            "valid_dir": str(self.valid_dir),
        }
        if env.is_main:
            avg_model.to("cpu").save(self.exp_dir / "model.pt", extra={"train": summary})
            best_model.save(self.exp_dir / "valid.loss.best.pt", extra={"train": {**summary, "model": "best epoch"}})
            atomic_write_text(self.exp_dir / "train_summary.json", json.dumps(summary, indent=2) + "\n")
        self.log.info(
            "training summary: %d epochs, %d steps, best valid loss %.4f at epoch %d, averaged model of epochs %s: "
            "valid loss %.4f, %d non-finite batch(es), %.2f h; %s; model: %s",
            summary["epochs"], summary["steps"], summary["best_valid_loss"], summary["best_epoch"],
            ",".join(map(str, summary["averaged_epochs"])), avg_valid, summary["nonfinite_batches"],
            summary["train_hours"], summary["stop_reason"], self.exp_dir / "model.pt",
        )
        return summary

    # ---- signals -------------------------------------------------------------------
    stop_flag = False
    stop_signal = ""

    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return None
        old = {}

        def handler(signum, frame):
            if self.stop_requested:  # second signal: stop now
                signal.signal(signum, old.get(signum) or signal.SIG_DFL)
                raise KeyboardInterrupt
            self.stop_requested = True  # no logging here: the handler may interrupt the logger itself
            self.stop_signal = signal.Signals(signum).name

        for s in (signal.SIGTERM, signal.SIGINT):
            old[s] = signal.signal(s, handler)
        return old

    def _restore_signal_handlers(self, old) -> None:
        if old:
            for s, h in old.items():
                signal.signal(s, h)
