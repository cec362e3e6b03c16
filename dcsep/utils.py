"""Small shared helpers: atomic file writes, seeding, thread limits, the machine's name.

torch is imported where it is used, so that tools without a model (dcsep-score)
start without it.
"""

from __future__ import annotations

import os
import pickle
import platform
import random
import re
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    On any error the temporary file is removed and ``path`` keeps its old
    content. The rename is atomic on POSIX file systems. A failed write (disk
    full, no permission, ...) raises :class:`~dcsep.errors.OutputError`
    naming ``path``. A process killed mid-write leaves a hidden temporary
    ``.<name>.<random>.tmp`` next to ``path`` (see :func:`remove_stale_temp_files`).
    """
    from dcsep.errors import DcsepError

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise _output_error(path, e) from e
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        os.chmod(tmp, _default_mode(path))
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        # Writers report a full disk as OSError (ENOSPC) or, like torch.save and
        # libsndfile, as a RuntimeError with an obscure text.
        if isinstance(e, (OSError, RuntimeError)) and not isinstance(e, DcsepError):
            raise _output_error(path, e) from e
        raise


TMP_SUFFIX = ".tmp"


@contextmanager
def atomic_dir(path: str | Path):
    """Yield a temporary dir next to ``path``; on success it replaces ``path`` (a dir) whole.

    On any error the temporary dir is removed and ``path`` is left as it was,
    so a reader sees the old dir or the new one, never a half-written one.

    Example:
        >>> d = Path(tempfile.mkdtemp()) / "data"
        >>> with atomic_dir(d) as tmp:
        ...     _ = (tmp / "wav.scp").write_text("u1 a.wav")
        >>> sorted(p.name for p in d.parent.iterdir()), (d / "wav.scp").read_text()
        (['data'], 'u1 a.wav')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private (0700)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _default_mode(path: Path) -> int:
    """The mode of the file being replaced, else what ``open(path, "w")`` would give."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _output_error(path: Path, e: BaseException):
    from dcsep.errors import OutputError

    reason = e.strerror if isinstance(e, OSError) and e.strerror else (str(e).strip().splitlines() or [""])[0]
    reason = reason or type(e).__name__
    try:
        free = shutil.disk_usage(path.parent if path.parent.exists() else ".").free
        space = f"; {free / 2**20:.1f} MiB free there" if free < 2**30 else ""
    except OSError:
        space = ""
    keep = "the previous file is unchanged" if path.exists() else "nothing was written"
    return OutputError(f"{path}: cannot write: {reason}{space}; {keep}")


def remove_stale_temp_files(directory: str | Path, name: str = "*") -> list[Path]:
    """Delete temporary files that :func:`atomic_path` left in ``directory`` when
    a process was killed mid-write (only for files named ``name``; call it only
    where no other process is writing). Returns the removed paths."""
    removed = []
    for p in Path(directory).glob(f".{name}.*{TMP_SUFFIX}"):
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def atomic_torch_save(obj, path: str | Path) -> None:
    """torch.save through :func:`atomic_path`."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def replace_marked_section(path: str | Path, name: str, body: str, new_file_text: str = "") -> None:
    """Write ``body`` between the markers ``<!-- name -->`` and ``<!-- /name -->``
    of the text file ``path``, atomically: the text between them is replaced,
    the rest of the file kept. Without the markers the section is appended; a
    missing file starts as ``new_file_text``. The file is read just before it
    is written, so edits made meanwhile outside the section are kept."""
    path = Path(path)
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = path.read_text(encoding="utf-8") if path.exists() else new_file_text
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + block + "\n"
    atomic_write_text(path, text)


BENCHMARKS_HEAD = "# Benchmarks\n\nFigures written by the scripts in `bench/` (`--write`).\n"


def write_bench_section(path: str | Path, section: str, body: str) -> None:
    """Write ``body`` as the section ``bench:<section>`` of the benchmarks page ``path``
    (docs/benchmarks.md; started with its heading when missing) and say so on stderr."""
    replace_marked_section(path, f"bench:{section}", body, BENCHMARKS_HEAD)
    print(f"wrote section bench:{section} of {path}", file=sys.stderr)


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_description() -> str:
    """``"<CPU model>, <N> cores"``, as the benchmark and results tables name a machine."""
    return f"{cpu_name()}, {os.cpu_count()} cores"


def load_torch_file(path: str | Path, map_location="cpu", error: type[Exception] | None = None, what: str = "file"):
    """``torch.load(path, weights_only=True)`` with one-line errors that name the file.

    Only tensors and plain containers are loaded: a file that holds any other
    Python object (e.g. a pickle crafted to run code) is refused before any of
    it runs. Raises ``error`` (default :class:`~dcsep.errors.DataError`).
    """
    import torch

    from dcsep.errors import DataError

    error = error or DataError
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        if "Weights only load failed" in text:
            glob = re.search(r"GLOBAL ([\w.]+)", text)
            found = f" ({glob.group(1)})" if glob else ""
            raise error(
                f"{path}: refused to load {what}: it holds Python objects other than tensors{found}, "
                "or is corrupt; dcsep only loads weights-only files"
            ) from None
        raise error(f"{path}: corrupt {what}: {text.splitlines()[0] if text else type(e).__name__}") from None
    except Exception as e:  # truncated zip, not a torch file, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise error(f"{path}: cannot read {what} (truncated or not a torch file?): {first}") from None


def limit_threads(threads: int, with_torch: bool = True) -> None:
    """Use at most ``threads`` threads in this process: torch's, and those of the
    BLAS and OpenMP pools numpy, scipy and scikit-learn call into.

    Worker processes call it so that ``nj`` workers together use the CPUs
    once; each pool sizing itself to all of them oversubscribes the machine
    (scoring on 2 cores with 2 workers ran 2.3 times slower, decoding 3 times).
    Only libraries loaded so far are limited, so torch is imported first;
    ``with_torch=False`` (dcsep-score, which needs no torch) limits torch only
    if something imported it already.
    """
    from threadpoolctl import threadpool_limits

    if with_torch:
        import torch
    else:
        torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    threadpool_limits(threads)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)

