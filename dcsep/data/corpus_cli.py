"""What the corpus command lines share: the error line and the summary of the dirs made.

Each corpus module keeps its own ``argparse`` options and a ``main`` that
calls :func:`run_prepare`, so that ``python -m dcsep.data.<corpus>`` and the
recipes' ``local/prepare_data.py`` stay a few lines each.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable


def run_prepare(prog: str, prepare: Callable[[], dict[str, Path] | None], summary: bool = True) -> int:
    """Run ``prepare()``; a DcsepError becomes ``<prog>: error: <message>`` and status 1.

    With ``summary``, prints ``<name>: <N> mixtures in <dir>`` for every data
    dir that ``prepare`` returns (stderr).
    """
    from dcsep.errors import DcsepError

    try:
        dirs = prepare()
    except DcsepError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    if summary:
        for name, path in (dirs or {}).items():
            n = sum(1 for _ in open(Path(path) / "wav.scp", encoding="utf-8"))
            print(f"{name}: {n} mixtures in {path}", file=sys.stderr)
    return 0
