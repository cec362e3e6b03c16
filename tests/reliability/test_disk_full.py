"""A full disk (or any failed write) keeps the previous file and says so in one line.

The failure is simulated by patching the writer to put part of the data into
the temporary file and then fail, as ``torch.save`` and libsndfile do on a full
disk: with ``OSError(ENOSPC)`` or with the ``RuntimeError`` they really raise.
One test also fills a real 64 KiB tmpfs when user namespaces allow mounting one.
"""

from __future__ import annotations

import errno
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from dcsep.data.audio import load_audio, write_wav
from dcsep.data.datadir import read_scp, write_scp
from dcsep.errors import DcsepError, OutputError
from dcsep.model import DeepClustering
from dcsep.utils import atomic_torch_save, atomic_write_text, remove_stale_temp_files

FAILURES = {
    "enospc": lambda: OSError(errno.ENOSPC, "No space left on device"),
    "torch_runtime": lambda: RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"),
    "libsndfile_runtime": lambda: sf.LibsndfileError(2, "System error."),
    "eacces": lambda: PermissionError(errno.EACCES, "Permission denied"),
}


def _no_temp_files(d: Path):
    assert not [p.name for p in d.iterdir() if p.name.endswith(".tmp")]


def _check_error(e: BaseException, path: Path):
    assert isinstance(e, OutputError) and isinstance(e, DcsepError) and isinstance(e, OSError)
    msg = str(e)
    assert msg.startswith(f"{path}: cannot write: ") and "\n" not in msg, msg


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_checkpoint_write_fails_keeps_previous(tmp_path, monkeypatch, failure):
    path = tmp_path / "checkpoint.pt"
    atomic_torch_save({"w": torch.arange(5.0)}, path)
    real_save = torch.save

    def failing_save(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        data = Path(f).read_bytes()
        Path(f).write_bytes(data[: len(data) // 3])  # part of it reached the disk
        raise FAILURES[failure]()

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OutputError) as info:
        atomic_torch_save({"w": torch.zeros(1000)}, path)
    _check_error(info.value, path)
    assert "the previous file is unchanged" in str(info.value)
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.arange(5.0))
    _no_temp_files(tmp_path)


def test_first_write_failing_says_nothing_written(tmp_path, monkeypatch):
    def failing_save(obj, f, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OutputError, match="No space left on device; nothing was written"):
        atomic_torch_save({"w": torch.zeros(3)}, tmp_path / "new.pt")
    assert not (tmp_path / "new.pt").exists()
    _no_temp_files(tmp_path)


def test_model_save_disk_full_keeps_previous_model(tmp_path, monkeypatch):
    model = DeepClustering.from_config({"encoder_conf": {"num_layers": 1, "hidden_units": 4, "embed_dim": 4}})
    model.save(tmp_path / "model.pt")
    before = (tmp_path / "model.pt").read_bytes()
    monkeypatch.setattr(torch, "save", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    with torch.no_grad():
        model.encoder.linear.weight.add_(1.0)
    with pytest.raises(OutputError, match="No space left on device"):
        model.save(tmp_path / "model.pt")
    monkeypatch.undo()
    assert (tmp_path / "model.pt").read_bytes() == before
    DeepClustering.load(tmp_path / "model.pt")


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_wav_write_fails_keeps_previous(tmp_path, monkeypatch, failure):
    path = tmp_path / "utt1-spk1.wav"
    old = np.linspace(-0.5, 0.5, 800).astype(np.float32)
    write_wav(path, old, 8000)
    real_write = sf.write

    def failing_write(file, data, *a, **k):
        real_write(file, data[: len(data) // 4], *a, **k)
        raise FAILURES[failure]()

    monkeypatch.setattr(sf, "write", failing_write)
    with pytest.raises(OutputError) as info:
        write_wav(path, np.zeros(8000, np.float32), 8000)
    _check_error(info.value, path)
    monkeypatch.undo()
    wav, _ = load_audio(path, fs=8000)
    assert len(wav) == 800 and np.allclose(wav, old, atol=1e-4)
    _no_temp_files(tmp_path)


def test_text_write_fails_keeps_previous(tmp_path, monkeypatch):
    path = tmp_path / "spk1.scp"
    write_scp(path, {"a": "a.wav"})
    real = Path.write_text

    def failing(self, text, *a, **k):
        real(self, text[:3], *a, **k)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", failing)
    with pytest.raises(OutputError, match="No space left on device"):
        write_scp(path, {"a": "a.wav", "b": "b.wav"})
    with pytest.raises(OutputError):
        atomic_write_text(tmp_path / "other.txt", "hello")
    monkeypatch.undo()
    assert read_scp(path) == {"a": "a.wav"}
    _no_temp_files(tmp_path)


def test_unwritable_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        write_wav(blocker / "sub" / "a.wav", np.zeros(10, np.float32), 8000)


def test_programming_errors_are_not_disguised(tmp_path):
    """Only write failures become OutputError; a bug keeps its own type."""
    with pytest.raises(TypeError):
        write_wav(tmp_path / "a.wav", np.zeros(10, np.float32), "8000")  # type: ignore[arg-type]
    _no_temp_files(tmp_path)


def test_stale_temp_files_are_removed(tmp_path):
    (tmp_path / ".checkpoint.pt.abc123.tmp").write_bytes(b"partial")
    (tmp_path / ".model.pt.xyz.tmp").write_bytes(b"partial")
    (tmp_path / "checkpoint.pt").write_bytes(b"keep")
    removed = remove_stale_temp_files(tmp_path, "checkpoint.pt")
    assert [p.name for p in removed] == [".checkpoint.pt.abc123.tmp"]
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / ".model.pt.xyz.tmp").exists()


REAL_DISK_FULL = textwrap.dedent(
    """
    import numpy as np, torch, sys
    from pathlib import Path
    from dcsep.errors import OutputError
    from dcsep.data.audio import write_wav, load_audio
    from dcsep.utils import atomic_torch_save
    d = Path(sys.argv[1])
    atomic_torch_save({"w": torch.arange(4.0)}, d / "ckpt.pt")
    write_wav(d / "a.wav", np.full(100, 0.25, np.float32), 8000)
    for what, fn in [("ckpt", lambda: atomic_torch_save({"w": torch.zeros(100000)}, d / "ckpt.pt")),
                     ("wav", lambda: write_wav(d / "a.wav", np.zeros(200000, np.float32), 8000))]:
        try:
            fn()
        except OutputError as e:
            print(what, "OutputError", str(e).replace(str(d), "D"))
        else:
            print(what, "no error")
    assert torch.equal(torch.load(d / "ckpt.pt", weights_only=True)["w"], torch.arange(4.0))
    assert len(load_audio(d / "a.wav")[0]) == 100
    print("left:", sorted(p.name for p in d.iterdir()))
    """
)


def test_real_full_tmpfs(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    mnt = tmp_path / "small"
    mnt.mkdir()
    script = tmp_path / "fill.py"
    script.write_text(REAL_DISK_FULL)
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs '{mnt}'"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip("cannot mount a tmpfs in a user namespace here")
    out = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs '{mnt}' && exec '{sys.executable}' '{script}' '{mnt}'"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("ckpt OutputError D/ckpt.pt: cannot write: "), lines
    assert lines[1].startswith("wav OutputError D/a.wav: cannot write: "), lines
    assert "the previous file is unchanged" in lines[0] and "MiB free there" in lines[0]
    assert lines[2] == "left: ['a.wav', 'ckpt.pt']"


def test_atomic_writes_get_normal_permissions(tmp_path):
    """The temporary file is private (mkstemp); the result must not be."""
    import os

    old = os.umask(0o022)
    try:
        write_wav(tmp_path / "a.wav", np.zeros(10, np.float32), 8000)
        atomic_torch_save({"x": torch.zeros(1)}, tmp_path / "m.pt")
        atomic_write_text(tmp_path / "t.txt", "x")
        for name in ("a.wav", "m.pt", "t.txt"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
        os.chmod(tmp_path / "a.wav", 0o640)  # replacing a file keeps its mode
        write_wav(tmp_path / "a.wav", np.ones(10, np.float32) * 0.1, 8000)
        assert (tmp_path / "a.wav").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
