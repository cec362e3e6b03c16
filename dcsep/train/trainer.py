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
import json
import logging
import math
import time
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import DataLoader

import dcsep
from dcsep.errors import ConfigError, DataError, DcsepError, one_line
from dcsep.model import DeepClustering
from dcsep.train import distributed, nbest
from dcsep.train.checkpoint import (
    changed_keys, get_rng_state, load_checkpoint, reseat_cuda_generators, restore_rng_states, restore_training,
    save_checkpoint, training_payload,
)
from dcsep.train.config import TrainConfig, resolved_config
from dcsep.train.datasets import TRAIN_DATA, validation_set
from dcsep.train.expdir import ExpDir
from dcsep.train.optim import build_optimizer, build_scaler, build_scheduler, optimizer_step, scheduler_step
from dcsep.train.reporting import (
    ProgressBar, ScalarWriter, close_logger, log_summary, log_to_files, memory_summary, setup_logger,
)
from dcsep.train.sampling import (
    check_batch_sizes, epoch_batches, frames_to_samples, make_loader, noise_seed, shard_batches,
)
from dcsep.train.signals import StopSignals
from dcsep.train.state import Meter, StepStats, TrainState
from dcsep.train.weights import add_weight_noise, load_stats, warm_start
from dcsep.utils import atomic_write_text, seed_everything


class TrainingError(DcsepError, RuntimeError):
    """Training cannot go on (e.g. too many non-finite losses)."""


class TrainingInterrupted(DcsepError, RuntimeError):
    """A stop was requested (SIGTERM/SIGINT); a checkpoint was written first."""


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
        self.exp = ExpDir(self.exp_dir)
        self.stop_requested = False
        self.stop_flag = False  # a stop was requested in some process: stop after this step
        self.stop_signal = ""
        self.state = TrainState()

    # ---- public ------------------------------------------------------------------
    def run(self) -> dict:
        """Train (or continue) and return the training summary."""
        self.env = distributed.setup(self.ngpu)
        self.log = setup_logger(None, self.env.rank)
        self.scalars = None
        try:
            with StopSignals(lambda: self.stop_requested, self.request_stop):
                return self._run()
        except DcsepError as e:  # stderr gets it from the caller; train.log gets it here
            if isinstance(e, TrainingInterrupted):
                raise
            log_to_files(self.log, logging.ERROR, one_line(e))
            raise
        finally:
            if self.scalars is not None:
                self.scalars.close()
            close_logger(self.log)

    def request_stop(self, signal_name: str = "") -> None:
        """Ask for a checkpoint and a clean stop after the current step (``signal_name``: asked by that signal)."""
        self.stop_requested = True
        self.stop_signal = signal_name or self.stop_signal

    # ---- set-up ------------------------------------------------------------------
    def _run(self) -> dict:
        cfg, env = self.cfg, self.env
        exp = self.exp
        have_ckpt = exp.ckpt_path.is_file()
        if have_ckpt and not self.resume:
            raise ConfigError(
                f"{self.exp_dir}: already holds a training run ({exp.ckpt_path}); "
                "pass --resume to continue it, or choose another --exp-dir"
            )
        if env.is_main:
            exp.create()
            self.log = setup_logger(exp.log_path, env.rank)
            stale = exp.remove_stale() if self.resume else 0
            if stale:
                self.log.info("removed %d temporary file(s) of an interrupted run", stale)
        self.log.info("dcsep %s, torch %s, %d process(es), device %s%s", dcsep.__version__, torch.__version__,
                      env.world_size, env.device, f", config {self.config_path}" if self.config_path else "")
        if self.resume and not have_ckpt:
            self.log.info("--resume: no checkpoint in %s, starting from scratch", exp.ckpt_dir)
        seed_everything(cfg.seed)
        self.model = DeepClustering.from_config(self.model_conf, where=self.config_path or "<config>")
        self.full_config = resolved_config(self.model.config, cfg)
        #: the encoder's autocast dtype (None: float32)
        self.amp = {"bfloat16": torch.bfloat16, "float16": torch.float16}[cfg.amp_dtype] if cfg.amp else None
        if env.device.type == "cpu" and torch.cuda.is_available():
            self.log.info("training on the CPU although CUDA is available: pass --ngpu 1 to use a GPU")
        if cfg.amp and env.device.type != "cuda":
            self.log.info("amp: true ignored on CPU (mixed precision is for CUDA)")
            self.amp = None

        check_batch_sizes(cfg.stages(), env.world_size, cfg.accum_grad, self.config_path or "<config>")
        self._prepare_data()

        if not have_ckpt:
            self._init_weights()
        self.model.to(env.device)
        if not have_ckpt:  # every rank computed the same statistics: make sure they are the same bits
            for t in self.model.frontend.get_stats():
                env.broadcast_(t)
        self.ddp_model = env.wrap(self.model, cfg.seed)  # model.forward_loss, data-parallel; per-rank RNGs
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(cfg, self.params)
        self.scheduler = build_scheduler(cfg, self.optimizer)
        self.scaler = build_scaler(self.amp)

        if env.is_main:
            self.scalars = ScalarWriter(exp.scalars_path, exp.tensorboard_dir)
        if have_ckpt:
            self._load(exp.ckpt_path)
        elif env.is_main and self.scalars.rows:
            self.scalars.truncate(0)
        if env.is_main:
            exp.write_config(self.full_config, self.train_dir, self.valid_dir)
        n_params = sum(p.numel() for p in self.params)
        self.log.info("model: %s parameters, fs %d Hz", f"{n_params:,}", self.model.fs)
        self.pbar = ProgressBar(self.progress if env.is_main else False)

        while not self.state.finished:
            self._train_epoch()
        return self._finalize()

    def _first_chunk(self) -> int:
        return frames_to_samples(self.model.frontend, self.cfg.stages()[0]["chunk_frames"])

    def _prepare_data(self) -> None:
        cfg = self.cfg
        pb = ProgressBar(self.progress if self.env.is_main else False)

        def progress(what):
            return lambda done, total: pb.update(done, total, f"checking {what}")

        self.log.info("checking the training data in %s", self.train_dir)
        self.train_data = TRAIN_DATA[cfg.train_dataset](self.train_dir, cfg.train_dataset_conf, self.model.fs,
                                                        cfg.seed, self.config_path or "<config>")
        self.log.info("%s", self.train_data.scan(self._first_chunk(), progress("train")))
        pb.clear()
        self.log.info("checking the validation data in %s", self.valid_dir)
        self.valid_set, line = validation_set(self.valid_dir, self.model.frontend, cfg.valid_chunk_frames,
                                              progress("valid"))
        pb.clear()
        self.log.info("%s", line)

    def _init_weights(self) -> None:
        cfg, fe = self.cfg, self.model.frontend
        if cfg.init_model:
            warm_start(self.model, cfg.init_model, cfg.init_reset, self.log)
        if self.stats_path is not None:
            mean, std = load_stats(self.stats_path, fe.num_bins)
            fe.set_stats(mean, std)
            self.log.info("feature statistics from %s", self.stats_path)
        elif not cfg.init_model and fe.needs_stats:  # on every rank: none waits in a collective meanwhile
            wavs, what = self.train_data.stats_waveforms(cfg.stats_max_utts, self._first_chunk())
            self.log.info("computing feature statistics from %s (pass --stats to reuse a file)", what)
            fe.set_stats(*fe.compute_stats(wavs))

    # ---- checkpoints -------------------------------------------------------------
    def save_checkpoint(self) -> None:
        """Write ``checkpoints/checkpoint.pt`` (all processes take part, rank 0 writes)."""
        rng = self.env.all_gather_object(get_rng_state())
        reseat_cuda_generators()  # cuDNN's LSTM dropout then goes on as it does after a resume from here
        if self.scalars is not None:
            self.state.scalar_rows = self.scalars.rows
        payload = training_payload(self.full_config, self.env.world_size, self.model, self.optimizer, self.scheduler,
                                   self.scaler, rng, self.state.to_dict())
        if self.env.is_main:
            save_checkpoint(self.exp.ckpt_path, payload)

    def _load(self, path: Path) -> None:
        ckpt = load_checkpoint(path, map_location="cpu")
        changed = changed_keys(path, ckpt["config"], self.full_config)
        if changed:
            self.log.warning("resuming with changed training keys (the run is no longer reproducible): %s",
                             ", ".join(changed))
        restore_training(ckpt, self.model, self.optimizer, self.scheduler, self.scaler)
        st = self.state = TrainState.from_dict({**self.state.to_dict(), **ckpt["state"]})
        if st.finished and st.stop_reason.startswith("reached max_epochs") and st.epoch <= self.cfg.max_epochs:
            self.log.info("max_epochs raised to %d: training goes on from epoch %d", self.cfg.max_epochs, st.epoch)
            st.finished, st.stop_reason = False, ""
        if not restore_rng_states(ckpt["rng"], self.env.rank, self.env.world_size):
            self.log.warning("checkpoint written by %d process(es), resuming with %d: rank 0 goes on with the RNG "
                             "states of rank 0, the others with fresh ones", len(ckpt["rng"]), self.env.world_size)
        if self.scalars is not None:
            self.scalars.truncate(st.scalar_rows)
        self.log.info(
            "resumed from %s: epoch %d, step %d of the epoch, global step %d%s",
            path, st.epoch, st.epoch_step, st.global_step, " (finished)" if st.finished else "",
        )

    # ---- one epoch ---------------------------------------------------------------
    def _loader(self, dataset, batch_sampler, epoch: int) -> DataLoader:
        env = self.env
        return make_loader(dataset, batch_sampler, self.cfg.seed, epoch, env.rank, self.cfg.num_workers,
                           pin_memory=env.device.type == "cuda")

    def _interrupt(self, epoch: int, step: int, num_steps: int) -> None:
        """Write a checkpoint after ``step`` steps of the epoch and raise :class:`TrainingInterrupted`."""
        if self.stop_signal:
            self.log.warning("received %s: writing a checkpoint and stopping (a second signal stops at once)",
                             self.stop_signal)
        self.save_checkpoint()
        self.pbar.clear()
        raise TrainingInterrupted(
            f"stop requested: checkpoint written at epoch {epoch}, step {step}/{num_steps} "
            f"({self.exp.ckpt_path}); continue with --resume"
        )

    def _train_epoch(self) -> None:
        cfg, env, st = self.cfg, self.env, self.state
        epoch = st.epoch
        stage = cfg.stage_for_epoch(epoch)
        dataset = self.train_data.dataset(frames_to_samples(self.model.frontend, stage["chunk_frames"]))
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
        start = st.epoch_step
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
            meter = Meter()
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
                    st.epoch_step = k + 1
                    st.global_step += 1
                    st.train_seconds += time.monotonic() - t_epoch
                    t_epoch = time.monotonic()
                    if st.global_step % cfg.log_interval == 0:
                        self._log_interval(meter, num_steps)
                    self.pbar.update(k + 1, num_steps, f"epoch {epoch} loss {st.epoch_loss:.4f}")
                    if cfg.save_interval_steps and st.global_step % cfg.save_interval_steps == 0:
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

    def _to_device(self, batch: dict) -> dict:
        return {k: batch[k].to(self.env.device, non_blocking=True) for k in ("mix", "sources", "lengths")}

    def _train_step(self, micro: list[dict], meter: Meter, num_steps: int) -> None:
        cfg, env, st = self.cfg, self.env, self.state
        self.ddp_model.train()
        self.optimizer.zero_grad(set_to_none=True)
        backup = None
        if cfg.weight_noise > 0:
            backup = add_weight_noise(self.params, cfg.weight_noise, noise_seed(cfg.seed, st.global_step), env.device)
        loss_sum = torch.zeros((), device=env.device)
        frames = samples = 0
        for j, batch in enumerate(micro):
            last = j == len(micro) - 1
            sync = self.ddp_model.no_sync() if (env.distributed and not last) else contextlib.nullcontext()
            with sync:
                loss, stats = self.ddp_model(self._to_device(batch), self.amp)
                scaled = loss / len(micro)
                if self.scaler is not None:
                    scaled = self.scaler.scale(scaled)
                scaled.backward()
            loss_sum += stats["loss"]
            frames += stats["frames"]
            samples += stats["samples"]
        if backup is not None:
            with torch.no_grad():
                for p, b in zip(self.params, backup):
                    p.copy_(b)
        local = float(loss_sum) / len(micro)
        local_bad = not math.isfinite(local)
        mine = StepStats(0.0 if local_bad else local, float(local_bad), float(self.stop_requested), frames, samples)
        red = StepStats.from_list(env.all_reduce_sum(mine.to_list()))
        self.stop_flag = red.stop > 0
        gnorm, stepped = optimizer_step(self.optimizer, self.scaler, self.params, cfg.grad_clip, red.nonfinite > 0)
        if not stepped:
            self._nonfinite(num_steps)
            return
        st.nonfinite_consecutive = 0
        loss_global = red.loss / env.world_size
        st.epoch_loss_sum += loss_global
        st.epoch_loss_count += 1
        meter.add(loss_global, gnorm if math.isfinite(gnorm) else 0.0, red.frames, red.samples)

    def _nonfinite(self, num_steps: int) -> None:
        cfg, st = self.cfg, self.state
        where = st.where(num_steps)
        too_many = st.count_nonfinite(num_steps, cfg.nonfinite_max_consecutive, cfg.nonfinite_max_fraction)
        self.pbar.clear()
        self.log.warning(
            "non-finite loss or gradient at %s: batch skipped (%d in a row, %d this epoch, %d in all)",
            where, st.nonfinite_consecutive, st.nonfinite_epoch, st.nonfinite_total,
        )
        if too_many:
            raise TrainingError(
                f"training stopped at {where}: {too_many}; lower the learning rate, set grad_clip, or turn amp off; "
                f"the last good checkpoint is {self.exp.ckpt_path}"
            )

    def _log_interval(self, meter: Meter, num_steps: int) -> None:
        st = self.state
        m = meter.summary(self.model.fs)
        self.pbar.clear()
        self.log.info(
            "epoch %d step %d (%d/%d) loss %.4f lr %.3g grad_norm %.3g | %.0f frames/s, %.1fx real time | %s",
            st.epoch, st.global_step, st.epoch_step, num_steps, m["loss"], self._lr(), m["grad_norm"],
            m["frames_per_s"], m["realtime_factor"], memory_summary(self.env.device),
        )
        if self.scalars is not None:
            self.scalars.add(st.global_step, st.epoch, {f"train/{k}": v for k, v in {**m, "lr": self._lr()}.items()})
        meter.reset()

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
                loss, _ = model.forward_loss(self._to_device(batch), self.amp)
                total += float(loss) * batch["mix"].shape[0]
                count += batch["mix"].shape[0]
                self.pbar.update(b + 1, len(batches), "validation")
        self.pbar.clear()
        total, count = env.all_reduce_sum([total, count])
        model.train(was_training)
        return total / max(count, 1)

    def _end_epoch(self, epoch: int) -> None:
        cfg, env, st = self.cfg, self.env, self.state
        t0 = time.monotonic()
        valid = self.validate()
        st.train_seconds += time.monotonic() - t0
        lr = self._lr()
        train_loss = st.epoch_loss
        if not math.isfinite(valid):
            self.log.warning("epoch %d: validation loss is %s", epoch, valid)
        scheduler_step(cfg, self.scheduler, valid)
        st.history.append({"epoch": epoch, "train_loss": train_loss, "valid_loss": valid, "lr": lr,
                           "nonfinite": st.nonfinite_epoch, "global_step": st.global_step})
        st.nbest, added = nbest.update_nbest(st.nbest, valid, epoch, cfg.keep_nbest)
        if added and env.is_main:
            self.model.save(nbest.epoch_file(self.exp.ckpt_dir, epoch), extra={"epoch": epoch, "valid_loss": valid})
        best_valid, best_epoch = (st.nbest[0][0], st.nbest[0][1]) if st.nbest else (float("nan"), 0)
        if self.scalars is not None:
            self.scalars.add(st.global_step, epoch, {"valid/loss": valid, "train/epoch_loss": train_loss,
                                                     "train/epoch_lr": lr})
        self.log.info(
            "epoch %d done: train loss %.4f, valid loss %.4f (best %.4f at epoch %d), lr %.3g, "
            "%d non-finite batch(es), %.1f min in all",
            epoch, train_loss, valid, best_valid, best_epoch, lr, st.nonfinite_epoch, st.train_seconds / 60,
        )
        st.next_epoch()
        st.stop_reason = nbest.stop_reason(epoch, cfg.max_epochs, cfg.patience, st.nbest)
        st.finished = bool(st.stop_reason)
        self.save_checkpoint()
        if env.is_main:
            nbest.prune_epoch_files(self.exp.ckpt_dir, st.nbest)

    # ---- the end -------------------------------------------------------------------
    def _finalize(self) -> dict:
        cfg, env, st = self.cfg, self.env, self.state
        env.barrier()
        if not st.nbest:
            raise TrainingError(f"{self.exp_dir}: no epoch had a finite validation loss; no model to write")
        best_model, avg_model = nbest.best_and_average(self.exp.ckpt_dir, st.nbest, self.model.config)
        avg_model.to(env.device)
        avg_valid = self.validate(avg_model) if len(st.nbest) > 1 else st.nbest[0][0]
        summary = {
            **st.summary(avg_valid),
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
        log_summary(self.log, summary, self.exp_dir / "model.pt")
        return summary
