"""Output dirs of dcsep-decode and dcsep-score: one writer at a time, and a record of what made the outputs.

* :class:`DirLock`: an exclusive ``flock`` on ``DIR/.lock``. A second run
  into the same dir stops with a one-line error; the lock goes with the
  process, so a killed run leaves none behind.
* :func:`file_signature` / :func:`signature`: what a result depends on
  (resolved paths, sizes, modification times; hashed), so that a re-run can
  tell whether a finished output is still the output of its inputs.
* :class:`DoneLog`: an append-only ``<utt> <signature>`` list of finished
  utterances; a cut-off last line (a killed run) is ignored.
* :func:`check_record`: the settings that made a dir's outputs, kept in a
  JSON file; other settings stop the run with an error that names
  ``--overwrite`` and ``--outdir``, unless ``--overwrite`` is given.
* :func:`make_dir`: create an output dir, or one line saying why not.
* output names: :func:`wav_paths` (never outside ``OUTDIR/wav``, never
  longer than the file system takes) and :class:`ArkWriter` for mask and
  embedding arks.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from dcsep.errors import ConfigError, DataError, OutputError

_ARK = re.compile(r"^(?P<path>.+\.ark):(?P<offset>\d+)$")
_SIG = re.compile(r"^[0-9a-f]{16}$")


def check_dir_path(path: str | Path, option: str, parents_only: bool = False) -> Path:
    """``path`` unless it (or, with ``parents_only``, only) a dir above it is a file: an :class:`OutputError`
    naming ``option``. Creates nothing."""
    path = Path(path)
    for p in (*([] if parents_only else [path]), *path.parents):
        if p.exists() and not p.is_dir():
            where = "a file, not a directory" if p == path else f"{p} is a file, not a directory"
            raise OutputError(f"{option} {path}: {where}; choose another {option}")
    return path


def make_dir(path: str | Path, option: str) -> Path:
    """``mkdir -p path``; an :class:`OutputError` naming ``option`` when it cannot be made or is no dir.

    >>> import tempfile; d = Path(tempfile.mkdtemp()); (d / "f").write_text("x")
    1
    >>> make_dir(d / "f", "--outdir")
    Traceback (most recent call last):
    ...
    dcsep.errors.OutputError: --outdir .../f: a file, not a directory; choose another --outdir
    """
    path = check_dir_path(path, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason = "read-only file system" if e.errno == errno.EROFS else (e.strerror or str(e))
        raise OutputError(f"{option} {path}: cannot create the directory ({reason}); choose another {option}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: directory not writable; choose another {option}")
    return path


class DirLock:
    """Exclusive lock on ``directory`` for one process (``with DirLock(d, "dcsep-decode", "--outdir"):``)."""

    def __init__(self, directory: str | Path, prog: str, option: str):
        self.directory = Path(directory)
        self.path = self.directory / ".lock"
        self.prog = prog
        self.option = option
        self.fd: int | None = None

    def __enter__(self) -> "DirLock":
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise OutputError(f"{self.path}: cannot create the lock file ({e.strerror}); choose another {self.option}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise OutputError(f"{self.path}: cannot lock ({e.strerror})") from None
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            os.close(fd)
            who = f"another {self.prog}" + (f" (pid {holder})" if holder.isdigit() else "")
            raise OutputError(
                f"{self.directory}: {who} is writing into this directory; wait for it to finish, "
                f"or choose another {self.option}"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock; the file stays (removing it would race with a waiting run)
            self.fd = None


def file_signature(spec: str | Path) -> str:
    """``path|size|mtime_ns`` of a file (or of the ark file of ``file.ark:offset``, offset included).

    >>> file_signature("/no/such/file")
    '/no/such/file|missing'
    """
    spec = str(spec)
    m = _ARK.match(spec)
    path, extra = (m.group("path"), f":{m.group('offset')}") if m else (spec, "")
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return f"{path}{extra}|missing"
    return f"{p.resolve()}{extra}|{st.st_size}|{st.st_mtime_ns}"


def signature(*parts) -> str:
    """16 hex digits of the SHA-1 of ``parts`` (strings, or lists of them).

    >>> signature("a", ["b", "c"]) == signature("a", ["b", "c"]) != signature("a", ["c", "b"])
    True
    """
    h = hashlib.sha1()
    for p in parts:
        for s in p if isinstance(p, (list, tuple)) else [p]:
            h.update(str(s).encode("utf-8", "surrogateescape") + b"\0")
        h.update(b"\1")
    return h.hexdigest()[:16]


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file (a model file: what made a decode dir's outputs)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class DoneLog:
    """``<utt> <signature> [<count>]`` per finished utterance, appended and synced; the last line for an utterance wins.

    ``count``: the number of sources written for it (dcsep-decode), or none.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.entries: dict[str, tuple[str, int | None]] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").split("\n"):
                parts = line.split(" ")
                if len(parts) in (2, 3) and _SIG.match(parts[1]) and (len(parts) == 2 or parts[2].isdigit()):
                    self.entries[parts[0]] = (parts[1], int(parts[2]) if len(parts) == 3 else None)
        self.fd = None

    def sig(self, utt: str) -> str | None:
        return self.entries.get(utt, (None, None))[0]

    def count(self, utt: str) -> int | None:
        return self.entries.get(utt, (None, None))[1]

    def add(self, utt: str, sig: str, count: int | None = None) -> None:
        if self.fd is None:
            self.fd = open(self.path, "a", encoding="utf-8")
            if self.fd.tell() and not self.path.read_bytes().endswith(b"\n"):
                self.fd.write("\n")  # after a cut-off line
        self.fd.write(f"{utt} {sig}" + (f" {count}" if count is not None else "") + "\n")
        self.fd.flush()
        os.fsync(self.fd.fileno())
        self.entries[utt] = (sig, count)

    def close(self) -> None:
        if self.fd is not None:
            self.fd.close()
            self.fd = None


def _differences(old: dict, new: dict) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def check_record(path: str | Path, settings: dict, overwrite: bool, has_outputs: bool, option: str) -> bool:
    """Compare ``settings`` with those recorded at ``path``; returns True when the old outputs must go.

    * no record and no outputs, or the same settings: False (go on, skipping finished work);
    * other settings (or outputs of unknown settings) with ``overwrite``: True;
    * otherwise a :class:`ConfigError` listing what differs and how to go on.

    The new record is written by :func:`write_record` once the old outputs are gone.
    """
    path = Path(path)
    old = None
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8")).get("settings")
        except (ValueError, AttributeError, OSError):
            old = None
    new = json.loads(json.dumps(settings))  # as it will read back
    if old == new:
        return False
    if old is None and not has_outputs:
        return False
    if overwrite:
        return True
    what = "; ".join(_differences(old, new)) if isinstance(old, dict) else f"no readable record ({path.name})"
    raise ConfigError(
        f"{path.parent} holds outputs made with other settings ({what}); add --overwrite to replace them, "
        f"or choose another {option}"
    )


def write_record(path: str | Path, settings: dict, **info) -> None:
    from dcsep.utils import atomic_write_text

    atomic_write_text(path, json.dumps({"settings": settings, **info}, indent=2, sort_keys=True) + "\n")


def name_max(directory: Path) -> int:
    """The longest file name ``directory``'s file system takes (255 where it cannot tell)."""
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def unsafe_id_reason(utt: str, num_spk: int = 1, max_name: int = 255) -> str | None:
    """Why ``utt`` cannot name an output file, or None when it can.

    ``max_name``: the longest file name the output dir takes; the longest
    name written is the temporary ``.<utt>-spk<C>.wav.<8 characters>.tmp``.
    """
    if not utt:
        return "empty utterance id"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in utt):
        return "utterance id holds control characters"
    if "/" in utt or "\\" in utt or (os.altsep and os.altsep in utt):
        return "utterance id holds a path separator"
    if ".." in utt or utt == ".":
        return "utterance id holds '..' or is '.'"
    if utt.startswith("-"):
        return "utterance id starts with '-'"
    extra = len(f".-spk{num_spk}.wav..tmp") + 8
    n = len(utt.encode("utf-8", "surrogateescape"))
    if n + extra > max_name:
        return f"utterance id too long for a file name ({n} bytes; at most {max_name - extra} here)"
    return None


def wav_paths(outdir: Path, utt: str, num_spk: int, max_name: int = 255) -> list[Path]:
    """Output wavs of ``utt``; a DataError if one would fall outside ``outdir/wav``."""
    reason = unsafe_id_reason(utt, num_spk, max_name)
    if reason:
        raise DataError(f"{utt!r}: {reason}; not a safe file name")
    wav_dir = (outdir / "wav").resolve()
    paths = [wav_dir / f"{utt}-spk{c + 1}.wav" for c in range(num_spk)]
    for p in paths:
        if p.resolve().parent != wav_dir:
            raise DataError(f"{utt!r}: output {p} would fall outside {wav_dir}")
    return paths


def read_ark_scp(path: Path) -> dict[str, str]:
    """An ark scp written by this tool; lines that are not '<utt> <file>:<offset>' are ignored."""
    out = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split(maxsplit=1)
            if len(parts) == 2 and ":" in parts[1]:
                out[parts[0]] = parts[1]
    return out


class ArkWriter:
    """Append matrices to one job's ark file; returns the scp value of each entry.

    Entries are only ever appended, so the offsets of earlier runs stay valid.
    """

    def __init__(self, path: Path):
        self.path = path.resolve()
        self.fd = None

    def write(self, key: str, mat: np.ndarray) -> str:
        import kaldiio

        if self.fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = open(self.path, "ab")
        self.fd.seek(0, os.SEEK_END)
        start = self.fd.tell()
        kaldiio.save_ark(self.fd, {key: np.ascontiguousarray(mat, dtype=np.float32)})
        self.fd.flush()
        os.fsync(self.fd.fileno())
        return f"{self.path}:{start + len(key.encode('utf-8')) + 1}"

    def close(self) -> None:
        if self.fd is not None:
            self.fd.close()
            self.fd = None


def clusterer_settings(clus) -> tuple[str, dict]:
    """A clusterer's registered name and its plain-valued attributes (its effective options)."""
    conf = {k: v for k, v in sorted(vars(clus).items()) if not k.startswith("_") and isinstance(v, (bool, int, float, str, type(None)))}
    return getattr(clus, "registry_name", type(clus).__name__), conf


#: dcsep-decode's record of its settings, and its list of finished utterances
RECORD, DONE_LOG = "decode.json", "separated.txt"
#: files of OUTDIR that describe its outputs; --overwrite removes them (and wav/*-spk<c>.wav)
OUTPUT_FILES = ("spk*.scp", "masks.*", "embeddings.*", "failed.txt", "utt2num_spk", DONE_LOG, RECORD,
                "scores.tsv", "scores.sig", "summary.json", "RESULTS.md", ".done")


def has_decode_outputs(outdir: Path) -> bool:
    """Whether ``outdir`` holds separated outputs (lists, wavs, or the list of finished utterances)."""
    return any(outdir.glob("spk*.scp")) or any((outdir / "wav").glob("*-spk*.wav")) or (outdir / DONE_LOG).exists()


def remove_decode_outputs(outdir: Path) -> int:
    """Remove the outputs of an earlier dcsep-decode run (and their scores); returns how many files."""
    removed = 0
    for pattern in OUTPUT_FILES:
        for p in outdir.glob(pattern):
            if p.is_file():
                p.unlink()
                removed += 1
    for p in (outdir / "wav").glob("*-spk*.wav"):
        if re.search(r"-spk\d+\.wav$", p.name) and p.is_file():
            p.unlink()
            removed += 1
    return removed
