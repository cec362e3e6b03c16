"""The layout of an exp dir, and the files the trainer writes there besides checkpoints and models.

::

    EXP_DIR/config.yaml            resolved training config
    EXP_DIR/train.log              log of rank 0
    EXP_DIR/scalars.csv            step,epoch,name,value (and tensorboard/ if installed)
    EXP_DIR/checkpoints/checkpoint.pt, epoch<N>.pt
    EXP_DIR/model.pt, valid.loss.best.pt, train_summary.json
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
import yaml

import dcsep
from dcsep.errors import ConfigError
from dcsep.utils import atomic_write_text, remove_stale_temp_files


class ExpDir:
    """Paths of an exp dir.

    Example:
        >>> ExpDir("exp/dc").ckpt_path.as_posix()
        'exp/dc/checkpoints/checkpoint.pt'
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.ckpt_dir = self.path / "checkpoints"
        self.ckpt_path = self.ckpt_dir / "checkpoint.pt"
        self.log_path = self.path / "train.log"
        self.scalars_path = self.path / "scalars.csv"
        self.tensorboard_dir = self.path / "tensorboard"

    def create(self) -> None:
        """Make the dir and its ``checkpoints/``, and check that files can be written there.

        Raises:
            ConfigError: one line naming ``--exp-dir`` and what is wrong (a file
                in the way, no permission, a read-only file system).
        """
        for p in (self.path, *self.path.parents, self.ckpt_dir):
            if p.exists() and not p.is_dir():
                raise ConfigError(f"--exp-dir {self.path}: {p} is a file, not a directory; "
                                  "move it away or choose another --exp-dir")
        try:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.ckpt_dir, prefix=".write-test-"):
                pass
        except OSError as e:
            raise ConfigError(f"--exp-dir {self.path}: cannot write there ({e.strerror or e}); "
                              "choose another --exp-dir or make it writable") from None

    def remove_stale(self) -> int:
        """Remove the temporary files of writes cut short by a kill; return how many."""
        return len(remove_stale_temp_files(self.path) + remove_stale_temp_files(self.ckpt_dir))

    def write_config(self, full_config: dict, train_dir: Path, valid_dir: Path) -> None:
        """``config.yaml``: the resolved config, valid as a training config again."""
        header = (
            f"# resolved training config written by dcsep {dcsep.__version__} (torch {torch.__version__})\n"
            f"# train_dir: {train_dir}\n# valid_dir: {valid_dir}\n"
        )
        atomic_write_text(self.path / "config.yaml", header + yaml.safe_dump(full_config, sort_keys=False))
