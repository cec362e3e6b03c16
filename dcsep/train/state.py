"""Typed training state and step statistics.

:class:`TrainState` is what a checkpoint stores under ``"state"`` (as a plain
mapping, so that checkpoints load with ``weights_only=True``);
:class:`StepStats` is what the processes sum after every step;
:class:`Meter` accumulates the figures of one logging interval.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field


@dataclass
class TrainState:
    """Counters of a run: everything besides weights and RNGs that a resumed run needs.

    Example:
        >>> st = TrainState()
        >>> st.epoch, st.finished
        (1, False)
        >>> TrainState.from_dict(st.to_dict()) == st
        True
    """

    epoch: int = 1  #: the epoch in progress (1-based)
    epoch_step: int = 0  #: batches of it already done
    global_step: int = 0
    nbest: list = field(default_factory=list)  #: [[valid_loss, epoch], ...] best first
    history: list = field(default_factory=list)  #: one dict per finished epoch
    nonfinite_total: int = 0
    nonfinite_epoch: int = 0
    nonfinite_consecutive: int = 0
    epoch_loss_sum: float = 0.0
    epoch_loss_count: int = 0
    train_seconds: float = 0.0
    scalar_rows: int = 0  #: rows of scalars.csv written when the checkpoint was taken
    finished: bool = False
    stop_reason: str = ""

    def to_dict(self) -> dict:
        """A plain mapping (the checkpoint format)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainState":
        """The state stored in a checkpoint (keys it lacks keep their defaults)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def epoch_loss(self) -> float:
        """Mean training loss of the finite steps of the epoch so far."""
        return self.epoch_loss_sum / max(self.epoch_loss_count, 1)

    def summary(self, averaged_valid_loss: float) -> dict:
        """The figures of a finished run (the first keys of ``train_summary.json``)."""
        return {
            "epochs": self.epoch - 1,
            "steps": self.global_step,
            "best_epoch": self.nbest[0][1],
            "best_valid_loss": self.nbest[0][0],
            "averaged_epochs": sorted(e for _, e in self.nbest),
            "averaged_valid_loss": averaged_valid_loss,
            "nonfinite_batches": self.nonfinite_total,
            "stop_reason": self.stop_reason,
            "train_hours": self.train_seconds / 3600,
        }

    def where(self, num_steps: int) -> str:
        """The step in progress, for messages: ``epoch 2, step 3/4 (global 7)``."""
        return f"epoch {self.epoch}, step {self.epoch_step + 1}/{num_steps} (global {self.global_step + 1})"

    def count_nonfinite(self, num_steps: int, max_consecutive: int, max_fraction: float) -> str:
        """Count a skipped batch; return why training must stop now ("" when it goes on).

        Example:
            >>> st = TrainState(nonfinite_consecutive=2)
            >>> st.count_nonfinite(10, max_consecutive=2, max_fraction=1.0)
            '3 consecutive batches with a non-finite loss or gradient (nonfinite_max_consecutive: 2)'
        """
        self.nonfinite_total += 1
        self.nonfinite_epoch += 1
        self.nonfinite_consecutive += 1
        if self.nonfinite_consecutive > max_consecutive:
            return (f"{self.nonfinite_consecutive} consecutive batches with a non-finite loss or gradient "
                    f"(nonfinite_max_consecutive: {max_consecutive})")
        if self.nonfinite_epoch > max_fraction * num_steps:
            return (f"{self.nonfinite_epoch} of the epoch's {num_steps} batches had a non-finite loss or gradient "
                    f"(nonfinite_max_fraction: {max_fraction})")
        return ""

    def next_epoch(self) -> None:
        """Reset the per-epoch counters and move to the next epoch."""
        self.epoch += 1
        self.epoch_step = 0
        self.nonfinite_epoch = 0
        self.epoch_loss_sum = 0.0
        self.epoch_loss_count = 0


@dataclass
class StepStats:
    """One process's figures of a step, summed over the processes after it.

    Example:
        >>> a = StepStats(loss=0.5, nonfinite=0.0, stop=0.0, frames=80.0, samples=5000.0)
        >>> StepStats.from_list([x + y for x, y in zip(a.to_list(), a.to_list())]).frames
        160.0
    """

    loss: float  #: mean loss of the step's micro-batches (0 when not finite)
    nonfinite: float  #: 1 when the loss was not finite
    stop: float  #: 1 when a stop was requested
    frames: float
    samples: float

    def to_list(self) -> list[float]:
        return [self.loss, self.nonfinite, self.stop, self.frames, self.samples]

    @classmethod
    def from_list(cls, values: list[float]) -> "StepStats":
        return cls(*values)


@dataclass
class Meter:
    """Sums over one logging interval."""

    loss: float = 0.0
    gnorm: float = 0.0
    n: int = 0
    frames: float = 0.0
    samples: float = 0.0
    t0: float = field(default_factory=time.monotonic)

    def add(self, loss: float, gnorm: float, frames: float, samples: float) -> None:
        self.loss += loss
        self.gnorm += gnorm
        self.n += 1
        self.frames += frames
        self.samples += samples

    def summary(self, fs: int) -> dict[str, float]:
        """Mean loss and gradient norm, frames/s and the real-time factor since the last reset."""
        dt = max(time.monotonic() - self.t0, 1e-9)
        n = max(self.n, 1)
        return {"loss": self.loss / n, "grad_norm": self.gnorm / n, "frames_per_s": self.frames / dt,
                "realtime_factor": self.samples / fs / dt}

    def reset(self) -> None:
        self.__init__()
