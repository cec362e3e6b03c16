"""Where the tests find the real corpora they can use (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def speechocean762_dir() -> Path | None:
    """The speechocean762 root: ``$DCSEP_SPEECHOCEAN762``, or ``shared/data/speechocean762`` beside the repository."""
    env = os.environ.get("DCSEP_SPEECHOCEAN762")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data" / "speechocean762"]:
        if (cand / "train" / "wav.scp").is_file() and (cand / "WAVE").is_dir():
            return cand
    return None
