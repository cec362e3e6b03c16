"""dcsep.utils: thread limits of worker processes; dcsep-score starts without torch; atomic dirs."""

import os
import subprocess
import sys

import pytest

from dcsep import utils

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


def test_replace_marked_section_replaces_appends_and_creates(tmp_path):
    from dcsep.utils import replace_marked_section

    path = tmp_path / "bench.md"
    replace_marked_section(path, "bench:a", "first\n", "# Head\n")  # new file
    assert path.read_text() == "# Head\n\n<!-- bench:a -->\nfirst\n<!-- /bench:a -->\n"
    replace_marked_section(path, "bench:b", "other", "# unused\n")  # appended
    path.write_text(path.read_text().replace("# Head\n", "# Head\n\nhand-written\n"))
    replace_marked_section(path, "bench:a", "second")  # replaced in place, the rest kept
    assert path.read_text() == (
        "# Head\n\nhand-written\n\n<!-- bench:a -->\nsecond\n<!-- /bench:a -->\n\n"
        "<!-- bench:b -->\nother\n<!-- /bench:b -->\n"
    )
    replace_marked_section(path, "bench:a", r"a \1 backslash")  # the body is not a regex template
    assert "<!-- bench:a -->\na \\1 backslash\n<!-- /bench:a -->" in path.read_text()
    assert not [p for p in tmp_path.iterdir() if p.name != "bench.md"]  # no temporary file left


def test_cpu_description_names_the_cores():
    from dcsep.utils import cpu_description, cpu_name

    assert cpu_name() and cpu_description() == f"{cpu_name()}, {os.cpu_count()} cores"


def test_write_bench_section_starts_the_page_and_replaces_its_section(tmp_path, capsys):
    from dcsep.utils import BENCHMARKS_HEAD, write_bench_section

    page = tmp_path / "benchmarks.md"
    write_bench_section(page, "x", "first")
    assert page.read_text().startswith(BENCHMARKS_HEAD) and "first" in page.read_text()
    write_bench_section(page, "x", "second")
    text = page.read_text()
    assert "second" in text and "first" not in text and text.count("<!-- bench:x -->") == 1
    assert "wrote section bench:x" in capsys.readouterr().err


def test_atomic_dir_keeps_the_old_dir_on_error(tmp_path):
    from dcsep.utils import atomic_dir

    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "wav.scp").write_text("old")
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_dir(dest) as tmp:
            (tmp / "wav.scp").write_text("new")
            raise RuntimeError("interrupted")
    assert (dest / "wav.scp").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no temp dir left
    with atomic_dir(dest) as tmp:
        (tmp / "utt2spk").write_text("new")
    assert sorted(p.name for p in dest.iterdir()) == ["utt2spk"]  # replaced whole
    assert dest.stat().st_mode & 0o777 == 0o777 & ~utils._umask()
