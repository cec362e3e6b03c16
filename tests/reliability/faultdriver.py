"""Run a dcsep command line several times, SIGKILLing it at chosen points.

Used by the fault-injection tests as ``python faultdriver.py PLAN.json``. The
driver imports dcsep and torch once, then runs each attempt in a forked child
process that installs hooks and calls the command's ``main(argv)``. A hook
that fires sends SIGKILL to its own process, so the attempt dies exactly as if
the machine had killed it there: no ``finally`` blocks, no flushing.

Kill points (``"kill": [kind, target, k]``, ``k`` counted from 1 within the attempt):

* ``["save", NAME, k]``: inside the k-th ``torch.save`` of a file named
  ``NAME`` (its temporary ``.NAME.*.tmp``; ``NAME`` ``"*"`` matches all):
  half of the serialised bytes are written and synced, then the kill;
* ``["replace", NAME, k]``: right after the k-th rename onto ``NAME``;
* ``["wav", NAME, k]``: inside the k-th wav write to ``NAME``: a valid
  header and part of the samples are on disk;
* ``["after_step", "", k]``: after the k-th optimizer step, before its checkpoint;
* ``["before_step", "", k]``: before the k-th training step;
* ``["validate", "", k]``: at the start of the k-th validation;
* ``["scalars", "", k]``: in the middle of writing the k-th row of scalars.csv;
* ``["half_row", "", k]``: dcsep-score writes half of its k-th scores.tsv row;
* ``["call", "module:attr", k]``: at the k-th call of that function.

Each attempt's outcome (``killed``, exit code, stderr tail) and the check that
every ``*.pt`` file left on disk loads with ``weights_only=True`` go to the
report JSON (with ``check_scps``: also that every wav listed in an scp reads
completely; with ``snapshot_mtimes``: the mtime of every file). Attempt
``i > 0`` gets ``resume_args`` appended.
"""

from __future__ import annotations

import fnmatch
import importlib
import io
import json
import os
import signal
import sys
import traceback
from pathlib import Path

import torch

torch.set_num_threads(1)


def _die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class Hooks:
    def __init__(self, kill):
        self.kind, self.target, self.k = kill if kill else (None, None, None)
        self.count = 0

    def hit(self) -> None:
        self.count += 1
        if self.count == self.k:
            _die()

    def matches(self, path) -> bool:
        name = Path(path).name
        if name.startswith(".") and name.endswith(".tmp"):  # .NAME.<random>.tmp
            name = name[1:].rsplit(".", 2)[0]
        return fnmatch.fnmatch(name, self.target)

    def install(self) -> None:
        kind = self.kind
        if kind is None:
            return
        if kind == "save":
            real = torch.save

            def save(obj, f, *a, **k):
                if isinstance(f, (str, Path)) and self.matches(f):
                    self.count += 1
                    if self.count == self.k:
                        buf = io.BytesIO()
                        real(obj, buf, *a, **k)
                        data = buf.getvalue()
                        with open(f, "wb") as fh:
                            fh.write(data[: len(data) // 2])
                            fh.flush()
                            os.fsync(fh.fileno())
                        _die()
                return real(obj, f, *a, **k)

            torch.save = save
        elif kind == "replace":
            real_replace = os.replace

            def replace(src, dst, *a, **k):
                out = real_replace(src, dst, *a, **k)
                if self.matches(dst):
                    self.hit()
                return out

            os.replace = replace
        elif kind == "wav":
            import soundfile as sf

            real_write = sf.write

            def write(file, data, samplerate, *a, **k):
                if isinstance(file, (str, Path)) and self.matches(file):
                    self.count += 1
                    if self.count == self.k:
                        real_write(file, data, samplerate, *a, **k)
                        raw = Path(file).read_bytes()
                        with open(file, "wb") as fh:  # header + part of the samples
                            fh.write(raw[: 44 + (len(raw) - 44) // 2])
                            fh.flush()
                            os.fsync(fh.fileno())
                        _die()
                return real_write(file, data, samplerate, *a, **k)

            sf.write = write
        elif kind in ("after_step", "before_step", "validate"):
            from dcsep.train.trainer import Trainer

            name = "validate" if kind == "validate" else "_train_step"
            real_m = getattr(Trainer, name)

            def method(trainer, *a, **k):
                if kind != "after_step":
                    self.hit()
                out = real_m(trainer, *a, **k)
                if kind == "after_step":
                    self.hit()
                return out

            setattr(Trainer, name, method)
        elif kind == "scalars":
            from dcsep.train.reporting import ScalarWriter

            real_add = ScalarWriter.add

            def add(writer, step, epoch, scalars):
                self.count += 1
                if self.count == self.k:
                    with open(writer.path, "a", encoding="utf-8") as f:
                        f.write(f"{step},{epoch},train/lo")
                        f.flush()
                    _die()
                return real_add(writer, step, epoch, scalars)

            ScalarWriter.add = add
        elif kind == "half_row":  # dcsep-score: half of the k-th scores.tsv row reaches the disk
            import dcsep.bin.score as score

            real_row = score.format_row
            real_fsync = os.fsync

            def format_row(*a, **k):
                line = real_row(*a, **k)
                self.count += 1
                if self.count == self.k:
                    os.fsync = lambda fd: (real_fsync(fd), _die())
                    return line[: len(line) // 2]
                return line

            score.format_row = format_row
        elif kind == "call":
            mod, attr = self.target.split(":")
            owner = importlib.import_module(mod)
            *path, last = attr.split(".")
            for p in path:
                owner = getattr(owner, p)
            real_f = getattr(owner, last)

            def f(*a, **k):
                self.hit()
                return real_f(*a, **k)

            setattr(owner, last, f)
        else:
            raise ValueError(f"unknown kill kind {kind!r}")


def check_files(root: Path) -> dict:
    """Every *.pt under root loads with weights_only=True; list leftover temporary files."""
    bad, loaded, temps = [], [], []
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        if p.name.endswith(".tmp"):
            temps.append(str(p.relative_to(root)))
            continue
        if p.suffix == ".pt":
            try:
                torch.load(p, map_location="cpu", weights_only=True)
                loaded.append(str(p.relative_to(root)))
            except Exception as e:  # noqa: BLE001 - reported to the test
                bad.append(f"{p.relative_to(root)}: {type(e).__name__}: {str(e)[:200]}")
    return {"bad": bad, "loaded": loaded, "temps": temps}


def check_scps(root: Path) -> list[str]:
    """Every wav listed in an scp under root must read completely."""
    from dcsep.data.audio import load_audio
    from dcsep.errors import DataError

    bad = []
    for scp in sorted(root.glob("*.scp")):
        for line in scp.read_text(encoding="utf-8").splitlines():
            parts = line.split(maxsplit=1)
            if len(parts) != 2 or not parts[1].endswith(".wav"):
                continue
            try:
                load_audio(parts[1], name=parts[0])
            except DataError as e:
                bad.append(f"{scp.name}: {e}")
    return bad


def run_attempt(entry: str, argv: list[str], kill, log_path: Path) -> dict:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        os.dup2(w, 2)
        os.dup2(w, 1)
        code = 99
        try:
            Hooks(kill).install()
            mod, func = entry.split(":")
            code = getattr(importlib.import_module(mod), func)(argv) or 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
            code = 98
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(w)
    out = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        out += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    text = out.decode("utf-8", "replace")
    with open(log_path, "a", encoding="utf-8") as f:
        f.write(f"==== attempt argv={argv} kill={kill}\n{text}\n")
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return {
        "kill": kill,
        "killed": killed,
        "exit_code": None if killed else os.waitstatus_to_exitcode(status),
        "output_tail": text[-1500:],
    }


def main(plan_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    for mod in plan.get("preload", []):  # import once, before forking
        importlib.import_module(mod)
    report = {"runs": []}
    for group in plan["groups"]:
        out = []
        check_root = Path(group["check"])
        for i, kill in enumerate(group["kills"]):
            argv = list(group["argv"]) + (list(group.get("resume_args", [])) if i > 0 else [])
            res = run_attempt(group["entry"], argv, kill, Path(plan["log"]))
            if check_root.exists():
                res["files"] = check_files(check_root)
            if group.get("check_scps") and check_root.exists():
                res["bad_scp_entries"] = check_scps(check_root)
            if group.get("snapshot_mtimes"):
                res["mtimes"] = {
                    str(p.relative_to(check_root)): p.stat().st_mtime_ns
                    for p in sorted(check_root.rglob("*"))
                    if p.is_file()
                }
            out.append(res)
        report["runs"].append(out)
    Path(plan["report"]).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
