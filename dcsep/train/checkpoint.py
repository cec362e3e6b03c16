"""Training checkpoints, RNG states and model averaging.

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
from dcsep.utils import atomic_torch_save, load_torch_file

CHECKPOINT_FORMAT = "dcsep-train-checkpoint"
CHECKPOINT_VERSION = 1


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


def average_state_dicts(states: list[dict]) -> dict:
    """Element-wise mean of floating-point tensors (in float64); other entries from the first state.

    Args:
        states: state dicts with the same keys, best first.
    """
    if not states:
        raise ValueError("nothing to average")
    out = {}
    for key, ref in states[0].items():
        if torch.is_floating_point(ref):
            acc = torch.zeros_like(ref, dtype=torch.float64)
            for s in states:
                acc += s[key].to(torch.float64)
            out[key] = (acc / len(states)).to(ref.dtype)
        else:
            out[key] = ref.clone()
    return out


def load_model_states(paths: list[Path]) -> list[dict]:
    """State dicts of model files written by ``DeepClustering.save``."""
    out = []
    for p in paths:
        pkg = load_torch_file(p, "cpu", error=ConfigError, what="model file")
        if not isinstance(pkg, dict) or not isinstance(pkg.get("state_dict"), dict):
            raise ConfigError(f"{p}: not a dcsep model file (no state_dict)")
        out.append(pkg["state_dict"])
    return out
