"""The best epochs: n-best tracking, early stopping and checkpoint averaging.

The n-best list is ``[[valid_loss, epoch], ...]``, best first (ties: the
earlier epoch first). Each epoch in it has a model file
``checkpoints/epoch<N>.pt``; the final ``model.pt`` is the element-wise mean
of their weights.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from dcsep.errors import ConfigError
from dcsep.model import DeepClustering
from dcsep.utils import load_torch_file


def update_nbest(nbest: list, valid: float, epoch: int, keep: int) -> tuple[list[list], bool]:
    """Add ``epoch`` to the n-best list if its validation loss is among the ``keep`` best.

    Returns:
        The new list (best first, at most ``keep`` long) and whether ``epoch`` is in it.

    Example:
        >>> update_nbest([[0.5, 1], [0.7, 2]], 0.6, 3, keep=2)
        ([[0.5, 1], [0.6, 3]], True)
        >>> update_nbest([[0.5, 1]], float("nan"), 2, keep=2)
        ([[0.5, 1]], False)
    """
    nbest = [list(x) for x in nbest]
    if not (math.isfinite(valid) and (len(nbest) < keep or valid < nbest[-1][0])):
        return nbest, False
    nbest.append([valid, epoch])
    nbest.sort(key=lambda x: (x[0], x[1]))
    return nbest[:keep], True


def stop_reason(epoch: int, max_epochs: int, patience: int | None, nbest: list) -> str:
    """Why training ends after finished ``epoch`` ("" when it goes on).

    Example:
        >>> stop_reason(5, 10, 2, [[0.4, 3]])
        'early stopping: no better validation loss for 2 epochs (patience 2)'
        >>> stop_reason(4, 10, 2, [[0.4, 3]])
        ''
    """
    if epoch >= max_epochs:
        return f"reached max_epochs ({max_epochs})"
    if patience is not None and nbest and epoch - nbest[0][1] >= patience:
        return f"early stopping: no better validation loss for {epoch - nbest[0][1]} epochs (patience {patience})"
    return ""


def epoch_file(ckpt_dir: Path, epoch: int) -> Path:
    return Path(ckpt_dir) / f"epoch{epoch}.pt"


def prune_epoch_files(ckpt_dir: Path, nbest: list) -> None:
    """Delete the ``epoch<N>.pt`` files of epochs no longer in the n-best list."""
    keep = {epoch_file(ckpt_dir, e).name for _, e in nbest}
    for p in Path(ckpt_dir).glob("epoch*.pt"):
        if p.name not in keep:
            p.unlink(missing_ok=True)


def average_state_dicts(states: list[dict]) -> dict:
    """Element-wise mean of floating-point tensors (in float64); other entries from the first state.

    Args:
        states: state dicts with the same keys, best first.

    Example:
        >>> average_state_dicts([{"w": torch.tensor([1.0])}, {"w": torch.tensor([2.0])}])["w"]
        tensor([1.5000])
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


def best_and_average(ckpt_dir: Path, nbest: list, config: dict) -> tuple[DeepClustering, DeepClustering]:
    """The best epoch's model and the average of the n-best epochs' models (on the CPU)."""
    states = load_model_states([epoch_file(ckpt_dir, e) for _, e in nbest])
    best = DeepClustering.from_config(config)
    best.load_state_dict(states[0])
    avg = DeepClustering.from_config(config)
    avg.load_state_dict(average_state_dicts(states))
    return best, avg
