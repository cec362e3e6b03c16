"""Where the tests find the real corpora they can use (skipped when absent), and recipe copies to run them in."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def speechocean762_dir() -> Path | None:
    """The speechocean762 root: ``$DCSEP_SPEECHOCEAN762``, or ``shared/data/speechocean762`` beside the repository."""
    env = os.environ.get("DCSEP_SPEECHOCEAN762")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data" / "speechocean762"]:
        if (cand / "train" / "wav.scp").is_file() and (cand / "WAVE").is_dir():
            return cand
    return None


def copy_speechocean762_recipe(root: Path) -> Path:
    """A copy of egs/speechocean762 (scripts, conf, local; no data) under ``root``, with ``root/tools`` linked."""
    recipe = REPO / "egs" / "speechocean762"
    (root / "tools").symlink_to(REPO / "tools")
    dest = root / "egs" / "speechocean762"
    dest.mkdir(parents=True)
    for name in ("run.sh", "path.sh", "cmd.sh"):
        shutil.copy2(recipe / name, dest / name)
    shutil.copytree(recipe / "conf", dest / "conf")
    shutil.copytree(recipe / "local", dest / "local", ignore=shutil.ignore_patterns("full", "__pycache__"))
    return dest
