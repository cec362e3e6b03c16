"""Downloads for the corpus recipes: resumable, size- and md5-checked, with completion markers.

:func:`fetch` downloads one file (``https://``, ``http://`` or ``file://``)
through ``<dest>.part``, resuming a partial file when the server allows it,
and renames it into place only once its size and md5 sum are right.
:func:`extract_archives` unpacks tar archives; :func:`mark_complete` /
:func:`is_complete` write and test the ``.complete`` marker that makes a
second download of a corpus a no-op (as lhotse's recipes do).

Example:
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "src.txt").write_text("hello")
    >>> fetch((d / "src.txt").as_uri(), d / "copy.txt", expected_size=5, md5="5d41402abc4b2a76b9719d911017c592")
    >>> (d / "copy.txt").read_text(), is_complete(d)
    ('hello', False)
    >>> mark_complete(d, "src.txt"); is_complete(d)
    True
"""

from __future__ import annotations

import hashlib
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Sequence

from dcsep.errors import DataError

MARKER = ".complete"


class NotOnServer(DataError):
    """The server has no such file (HTTP 404, or a missing ``file://`` path)."""


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def md5sum(path: str | Path) -> str:
    """Hex md5 of a file, read in 1 MiB blocks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_complete(directory: str | Path) -> bool:
    """True when ``directory`` holds the completion marker."""
    return (Path(directory) / MARKER).is_file()


def mark_complete(directory: str | Path, text: str = "") -> None:
    """Write the completion marker of ``directory`` (atomically; ``text``: what it holds)."""
    from dcsep.utils import atomic_write_text

    atomic_write_text(Path(directory) / MARKER, text.rstrip("\n") + "\n")


def fetch(
    url: str,
    dest: str | Path,
    expected_size: int | None = None,
    md5: str | None = None,
    log: Callable[[str], None] = _stderr,
) -> None:
    """Download ``url`` to ``dest`` via ``dest.part``, resuming a partial file; check size and md5.

    A ``dest`` that exists with the expected size (and md5) is kept.

    Raises:
        NotOnServer: the server has no such file.
        DataError: any other failure (network, size, md5), naming the URL; a
            file of the wrong size or md5 is removed.
    """
    dest = Path(dest)
    if dest.is_file() and (expected_size is None or dest.stat().st_size == expected_size):
        if md5 is None or md5sum(dest) == md5:
            log(f"{dest.name}: already downloaded")
            return
        log(f"{dest.name}: md5 differs from the expected {md5}; downloading again")
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "dcsep"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have and expected_size == have:  # the part file is already complete
            resp = None
        elif e.code == 404:
            raise NotOnServer(f"{url}: not found on the server") from None
        else:
            raise DataError(f"{url}: download failed: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, FileNotFoundError) or "No such file" in str(e.reason):
            raise NotOnServer(f"{url}: not found") from None
        raise DataError(f"{url}: download failed: {e.reason}") from None
    except OSError as e:
        raise DataError(f"{url}: download failed: {e}") from None
    if resp is not None:
        with resp:
            _copy_body(resp, part, have, expected_size, dest.name, log)
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        part.unlink()
        raise DataError(f"{url}: downloaded {size} bytes, expected {expected_size}; removed the file, run again")
    if md5 is not None:
        got = md5sum(part)
        if got != md5:
            part.unlink()
            raise DataError(f"{url}: md5 {got}, expected {md5}; removed the file, run again")
    part.replace(dest)


def _copy_body(resp, part: Path, have: int, expected_size: int | None, name: str, log) -> None:
    """Append (resumed) or write the response body to ``part``, with progress every 10 s or 5 %."""
    resumed = have > 0 and getattr(resp, "status", None) == 206
    if have and not resumed:
        log(f"{name}: the server does not resume downloads; starting again")
        have = 0
    length = resp.headers.get("Content-Length")
    total = have + int(length) if length and length.isdigit() else expected_size
    if have:
        log(f"{name}: resuming at {have / 1e6:.1f} MB")
    t0 = last = time.monotonic()
    done = have
    last_frac = -1.0
    with open(part, "ab" if resumed else "wb") as f:
        while True:
            block = resp.read(1 << 20)
            if not block:
                break
            f.write(block)
            done += len(block)
            now = time.monotonic()
            frac = done / total if total else 0.0
            if now - last >= 10 or frac - last_frac >= 0.05:
                rate = (done - have) / max(now - t0, 1e-6) / 1e6
                size = f"/{total / 1e6:.1f}" if total else ""
                pct = f" ({100 * frac:.0f}%)" if total else ""
                log(f"{name}: {done / 1e6:.1f}{size} MB{pct}, {rate:.1f} MB/s")
                last, last_frac = now, frac


def extract_archives(paths: Sequence[Path], dest: Path, log: Callable[[str], None] = _stderr) -> None:
    """Unpack tar archives (any compression) into ``dest``; members may not leave it."""
    for p in paths:
        log(f"extracting {p.name}")
        try:
            with tarfile.open(p) as tar:
                tar.extractall(dest, filter="data")
        except (tarfile.TarError, OSError) as e:
            raise DataError(f"{p}: cannot extract: {e}; remove it and run again") from None
