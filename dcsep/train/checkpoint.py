"""Training checkpoints and RNG states (model averaging: :mod:`dcsep.train.nbest`).

A checkpoint is one torch file holding only tensors and plain containers
(loadable with ``weights_only=True``)::

    {"format": "dcsep-train-checkpoint", "version": 1,
     "config": {...resolved training config...},
     "model": state_dict, "optimizer": ..., "scheduler": ..., "scaler": ...,
     "rng": [one RNG-state mapping per process], "state": {...counters...}}
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from dcsep.errors import ConfigError
from dcsep.model import MODEL_KEYS
from dcsep.utils import atomic_torch_save, load_torch_file

CHECKPOINT_FORMAT = "dcsep-train-checkpoint"
CHECKPOINT_VERSION = 1
#: training keys that may change between a run and its resumption without changing the result
RESUMABLE_KEYS = (
    "max_epochs", "patience", "num_workers", "log_interval", "save_interval_steps", "keep_nbest",
    "nonfinite_max_consecutive", "nonfinite_max_fraction", "stats_max_utts", "init_model", "valid_batch_size",
)


# ---- RNG states as tensors --------------------------------------------------
def get_rng_state() -> dict:
    """Python, numpy, torch CPU (and CUDA) generator states, as tensors and plain values."""
    py = random.getstate()  # (version, tuple of 625 ints, gauss_next)
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python_version": int(py[0]),
        "python": torch.tensor(py[1], dtype=torch.int64),
        "python_gauss": py[2],
        "numpy_name": str(name),
        "numpy": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_pos": int(pos),
        "numpy_has_gauss": int(has_gauss),
        "numpy_gauss": float(gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned."""
    random.setstate((state["python_version"], tuple(int(x) for x in state["python"].tolist()), state["python_gauss"]))
    np.random.set_state(
        (
            state["numpy_name"],
            state["numpy"].numpy().astype(np.uint32),
            state["numpy_pos"],
            state["numpy_has_gauss"],
            state["numpy_gauss"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda = [s.cpu() for s in state["cuda"]]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def restore_rng_states(rng: list[dict], rank: int, world_size: int) -> bool:
    """Restore this process's RNG states from a checkpoint's list (one per process).

    Returns:
        False when the checkpoint was written by another number of processes:
        rank 0 then takes rank 0's states and the other ranks keep their own.
    """
    if len(rng) == world_size:
        set_rng_state(rng[rank])
        return True
    if rank == 0:
        set_rng_state(rng[0])
    return False


def reseat_cuda_generators() -> None:
    """Set every CUDA generator to its own state, as a resumed run does when it restores them.

    Setting a CUDA generator's state makes cuDNN draw a new seed for its RNN
    dropout state at the next training LSTM call
    (``aten/src/ATen/native/cudnn/RNN.cpp``: ``get_dropout_state``,
    ``reset_rnn_state``); that state itself is in no checkpoint. Doing it at
    every checkpoint in an uninterrupted run too keeps a resumed run on the
    same dropout masks. A no-op without CUDA.
    """
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.set_rng_state_all(torch.cuda.get_rng_state_all())


# ---- checkpoint files --------------------------------------------------------
def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Write a checkpoint atomically (a kill leaves the previous one intact)."""
    atomic_torch_save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}, path)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint with ``weights_only=True``; errors name the file."""
    path = Path(path)
    ckpt = load_torch_file(path, map_location, error=ConfigError, what="checkpoint")
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path}: not a dcsep training checkpoint")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise ConfigError(f"{path}: checkpoint version {ckpt.get('version')}, this dcsep reads {CHECKPOINT_VERSION}")
    return ckpt


def changed_keys(path: str | Path, old: dict, new: dict) -> list[str]:
    """The training keys of config ``new`` that differ from the checkpoint's ``old`` and change the result.

    Raises:
        ConfigError: a model key differs (a run cannot be resumed with another model).
    """
    for key in MODEL_KEYS:
        if old.get(key) != new.get(key):
            raise ConfigError(
                f"{path}: the checkpoint's {key} ({old.get(key)!r}) differs from the config's "
                f"({new.get(key)!r}); a run cannot be resumed with another model"
            )
    return sorted(k for k in new if k not in MODEL_KEYS and k not in RESUMABLE_KEYS and old.get(k) != new[k])


# ---- what a training checkpoint holds -------------------------------------------
def training_payload(
    config: dict, world_size: int, model, optimizer, scheduler, scaler, rng: list, state: dict
) -> dict:
    """The mapping :func:`save_checkpoint` writes (``rng``: one state per process)."""
    import dcsep

    return {
        "config": config,
        "dcsep_version": dcsep.__version__,
        "world_size": world_size,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else {},
        "scaler": scaler.state_dict() if scaler is not None else {},
        "rng": rng,
        "state": state,
    }


def restore_training(ckpt: dict, model, optimizer, scheduler, scaler) -> None:
    """Load the model, optimizer, scheduler and scaler states of a checkpoint."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt["scheduler"]:
        scheduler.load_state_dict(ckpt["scheduler"])
    if scaler is not None and ckpt["scaler"]:
        scaler.load_state_dict(ckpt["scaler"])
