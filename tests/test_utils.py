"""dcsep.utils: thread limits of worker processes; dcsep-score starts without torch."""

import subprocess
import sys

_LIMIT = """
from threadpoolctl import threadpool_info
import numpy
from dcsep.utils import limit_threads
limit_threads(1)  # imports torch first, so that its pools are limited too
import torch
pools = [p["num_threads"] for p in threadpool_info()]
print(torch.get_num_threads(), max(pools), len(pools))
"""

_SCORE_IMPORTS = """
import sys
import dcsep.bin.score, dcsep.metrics, dcsep.data.audio, dcsep.data.datadir, dcsep.utils
dcsep.utils.limit_threads(1, with_torch=False)
print("torch" in sys.modules)
"""


def _run(code: str) -> list[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_limit_threads_limits_torch_and_blas_pools():
    torch_threads, most, npools = _run(_LIMIT)
    assert int(torch_threads) == 1
    assert int(npools) >= 1  # numpy's BLAS at least
    assert int(most) == 1


def test_scoring_modules_do_not_import_torch():
    # dcsep-score's process and the helpers it uses start without torch (a few seconds per call)
    assert _run(_SCORE_IMPORTS) == ["False"]
