"""Training logs: text log, scalars CSV (+ TensorBoard when installed), progress bar, memory."""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
from pathlib import Path

import torch

from dcsep.utils import atomic_write_text

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


def setup_logger(log_file: Path | None, rank: int) -> logging.Logger:
    """The ``dcsep.train`` logger: stderr always, ``log_file`` on rank 0 (appended)."""
    logger = logging.getLogger("dcsep.train")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    fmt = logging.Formatter(LOG_FORMAT if rank == 0 else f"%(asctime)s [rank {rank}] %(levelname)s %(message)s")
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(fmt)
    err.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    logger.addHandler(err)
    if log_file is not None:
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setFormatter(fmt)
        logger.addHandler(fh)
    return logger


def log_to_files(logger: logging.Logger, level: int, message: str) -> None:
    """Write a record to the logger's files only (e.g. an error that the caller prints to stderr)."""
    record = logger.makeRecord(logger.name, level, __file__, 0, message, None, None)
    for h in logger.handlers:
        if isinstance(h, logging.FileHandler):
            h.handle(record)


def log_summary(logger: logging.Logger, summary: dict, model_path: Path) -> None:
    """The last line of a training log."""
    logger.info(
        "training summary: %d epochs, %d steps, best valid loss %.4f at epoch %d, averaged model of epochs %s: "
        "valid loss %.4f, %d non-finite batch(es), %.2f h; %s; model: %s",
        summary["epochs"], summary["steps"], summary["best_valid_loss"], summary["best_epoch"],
        ",".join(map(str, summary["averaged_epochs"])), summary["averaged_valid_loss"], summary["nonfinite_batches"],
        summary["train_hours"], summary["stop_reason"], model_path,
    )


def close_logger(logger: logging.Logger) -> None:
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()


def rss_bytes() -> int:
    """Resident set size of this process now (peak on systems without /proc)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_summary(device: torch.device) -> str:
    s = f"rss {rss_bytes() / 2**30:.2f}G"
    if device.type == "cuda":
        s += f" cuda_max {torch.cuda.max_memory_allocated(device) / 2**30:.2f}G"
    return s


class ScalarWriter:
    """Append-only ``scalars.csv`` (``step,epoch,name,value``) and optional TensorBoard events.

    ``rows`` counts the data rows written; a checkpoint stores it and
    :meth:`truncate` cuts rows written after that checkpoint, so a resumed
    run leaves no duplicates.
    """

    HEADER = "step,epoch,name,value\n"

    def __init__(self, path: Path, tensorboard_dir: Path | None = None):
        self.path = Path(path)
        if not self.path.exists():
            atomic_write_text(self.path, self.HEADER)
        with open(self.path, encoding="utf-8") as f:
            self.rows = max(0, sum(1 for _ in f) - 1)
        self.tb = None
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(tensorboard_dir))
            except Exception:  # tensorboard not installed
                self.tb = None

    def truncate(self, rows: int) -> None:
        with open(self.path, encoding="utf-8") as f:
            lines = f.readlines()
        keep = lines[: 1 + rows] if lines else [self.HEADER]
        atomic_write_text(self.path, "".join(keep))
        self.rows = max(0, len(keep) - 1)

    def add(self, step: int, epoch: int, scalars: dict[str, float]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            for name, value in scalars.items():
                f.write(f"{step},{epoch},{name},{value:.8g}\n")
                self.rows += 1
            f.flush()
        if self.tb is not None:
            for name, value in scalars.items():
                self.tb.add_scalar(name, value, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


class ProgressBar:
    """A one-line progress bar on stderr, shown only on an interactive terminal."""

    def __init__(self, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.last = 0.0
        self.shown = False

    def update(self, done: int, total: int, text: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2 and done < total:
            return
        self.last = now
        width = 30
        fill = int(width * done / max(total, 1))
        sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{total} {text}\033[K")
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.enabled and self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.shown = False
