"""dcsep-decode's output dir: re-runs with other settings, two runs at once, output dirs that
cannot be written, devices that do not exist, ids too long for a file name, and the batch
path's out-of-memory fallback (issue 20, items 1, 2, 5, 6, 7, 9, 12; issue 22, item 7)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
import torch

from conftest import TINY_MODEL, make_tiny_corpus
from dcsep.bin.decode import DecodeOptions, main
from dcsep.bin.outdir import DirLock
from dcsep.model import DeepClustering

UTTS = [f"utt{i:03d}" for i in range(3)]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("decode_outdir")
    tt = make_tiny_corpus(root / "tt", num_utts=len(UTTS), seconds=0.5, seed=4)
    for seed, name in ((0, "exp"), (1, "exp_other")):
        torch.manual_seed(seed)
        DeepClustering.from_config(TINY_MODEL).save(root / name / "model.pt", extra={"num_spk": 2})
    return {"root": root, "tt": tt, "exp": root / "exp", "other": root / "exp_other"}


def run(env, out, *extra, model=None, scp=None):
    argv = ["--scp", str(scp or env["tt"] / "wav.scp"), "--outdir", str(out), "--device", "cpu", *extra]
    if "--oracle" not in extra:
        argv = ["--model", str(model or env["exp"]), *argv]
    return main(argv)


def errors(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("dcsep-decode: error:")]


def listed(out: Path, c: int) -> list[str]:
    p = out / f"spk{c}.scp"
    return [ln.split()[0] for ln in p.read_text().splitlines()] if p.exists() else []


def wav_mtimes(out: Path) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in (out / "wav").glob("*.wav")}


@pytest.mark.parametrize(
    "first, second, differs",
    [
        (["--num-spk", "3", "--clusterer", "spectral"], ["--clusterer", "spectral"], "num_spk"),
        ([], ["--clusterer", "spectral"], "clusterer"),
        ([], ["--clusterer-conf", "{n_init: 3}"], "n_init"),
        ([], ["MODEL"], "model_sha256"),
        ([], ["--oracle", "ibm", "--ref", "REF"], "oracle"),
    ],
)
def test_rerun_with_other_settings_stops_then_overwrite_redoes(env, tmp_path, capsys, first, second, differs):
    """Item 1: a re-run with another num_spk, clusterer (or its options), model or oracle never keeps the old wavs."""
    out = tmp_path / "out"
    assert run(env, out, *first) == 0
    before = wav_mtimes(out)
    kw = {}
    if second == ["MODEL"]:
        second, kw = [], {"model": env["other"]}
    second = [str(env["tt"]) if a == "REF" else a for a in second]
    capsys.readouterr()
    assert run(env, out, *second, **kw) == 1
    err = capsys.readouterr().err
    (line,) = errors(err)
    assert differs in line and "--overwrite" in line and "--outdir" in line, line
    assert wav_mtimes(out) == before  # nothing touched
    assert run(env, out, *second, "--overwrite", **kw) == 0
    assert "already done" in capsys.readouterr().err
    after = wav_mtimes(out)
    assert set(after) == {f"{u}-spk{c}.wav" for u in UTTS for c in (1, 2)}  # no stale spk3 wav
    assert all(after[k] != before[k] for k in after)  # every wav made again
    assert listed(out, 1) == listed(out, 2) == UTTS and not (out / "spk3.scp").exists()
    # the same settings again: nothing to do
    assert run(env, out, *second, **kw) == 0
    assert f"{len(UTTS)} already done, 0 to separate" in capsys.readouterr().err
    assert wav_mtimes(out) == after


def test_changed_input_is_separated_again(env, tmp_path, capsys):
    """Item 1: with the same settings, an utterance whose input file changed is redone, the others kept."""
    tt = tmp_path / "tt"
    shutil.copytree(env["tt"], tt)
    (tt / "wav.scp").write_text((env["tt"] / "wav.scp").read_text().replace(str(env["tt"]), str(tt)))
    out = tmp_path / "out"
    assert run(env, out, scp=tt / "wav.scp") == 0
    before = wav_mtimes(out)
    x, fs = sf.read(tt / "wav" / "utt001_wav.wav", dtype="float32")
    sf.write(tt / "wav" / "utt001_wav.wav", x[::-1].copy(), fs, subtype="FLOAT")
    capsys.readouterr()
    assert run(env, out, scp=tt / "wav.scp") == 0
    err = capsys.readouterr().err
    assert "2 already done, 1 to separate" in err and "has changed" in err
    after = wav_mtimes(out)
    assert sorted(k for k in after if after[k] != before[k]) == ["utt001-spk1.wav", "utt001-spk2.wav"]


def test_outputs_of_unknown_settings_are_not_kept(env, tmp_path, capsys):
    """Item 1: wavs in an outdir with no record (an older dcsep, a copy) are not taken as done."""
    out = tmp_path / "out"
    assert run(env, out) == 0
    (out / "decode.json").unlink()
    capsys.readouterr()
    assert run(env, out) == 1
    (line,) = errors(capsys.readouterr().err)
    assert "no readable record" in line and "--overwrite" in line


def test_second_decode_into_a_locked_outdir_stops(env, tmp_path, capsys):
    """Item 2: while one run holds the outdir, a second stops with one line and touches nothing."""
    out = tmp_path / "out"
    assert run(env, out) == 0
    before = wav_mtimes(out)
    lists = (out / "spk1.scp").read_text()
    with DirLock(out, "dcsep-decode", "--outdir"):
        capsys.readouterr()
        assert run(env, out, "--overwrite", "--num-spk", "3", "--clusterer", "spectral") == 1
        (line,) = errors(capsys.readouterr().err)
        assert f"another dcsep-decode (pid {os.getpid()}) is writing" in line and "--outdir" in line
    assert wav_mtimes(out) == before and (out / "spk1.scp").read_text() == lists
    assert run(env, out) == 0  # free again once the first run is over


def test_two_processes_one_outdir(env, tmp_path):
    """Item 2, with real processes: the one that starts second fails cleanly; the first lists all its utterances."""
    go = tmp_path / "go"
    code = (  # the first run waits inside its work until the second has tried
        "import os, sys, time\n"
        "from dcsep.bin import decode\n"
        "orig = decode.Worker.process\n"
        "def slow(self, items):\n"
        "    t0 = time.time()\n"
        f"    while not os.path.exists({str(go)!r}) and time.time() < t0 + 120:\n"
        "        time.sleep(0.05)\n"
        "    return orig(self, items)\n"
        "decode.Worker.process = slow\n"
        "sys.exit(decode.main(sys.argv[1:]))\n"
    )
    out = tmp_path / "out"
    argv = ["--model", str(env["exp"]), "--outdir", str(out), "--device", "cpu"]
    (tmp_path / "b.scp").write_text("".join(ln.replace("utt", "other", 1) + "\n" for ln in (env["tt"] / "wav.scp").read_text().splitlines()))
    first = subprocess.Popen([sys.executable, "-c", code, *argv, "--scp", str(env["tt"] / "wav.scp")],
                             stderr=subprocess.PIPE, text=True)
    for _ in range(200):  # until the first holds the lock
        if (out / "decode.json").exists():
            break
        assert first.poll() is None
        time.sleep(0.05)
    second = subprocess.run([sys.executable, "-m", "dcsep.bin.decode", *argv, "--scp", str(tmp_path / "b.scp")],
                            capture_output=True, text=True, timeout=120)
    go.write_text("")
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert second.returncode == 1 and "is writing into this directory" in second.stderr, second.stderr
    assert listed(out, 1) == listed(out, 2) == UTTS


@pytest.mark.parametrize("case", ["outdir_is_file", "wav_is_file", "parent_is_file"])
def test_unusable_outdir_is_one_line(env, tmp_path, capsys, case):
    """Item 5: --outdir naming a file (or OUTDIR/wav a file) gives one line naming the path and --outdir."""
    out = tmp_path / "out"
    if case == "outdir_is_file":
        out.write_text("x")
    elif case == "wav_is_file":
        out.mkdir()
        (out / "wav").write_text("x")
    else:
        (tmp_path / "f").write_text("x")
        out = tmp_path / "f" / "out"
    assert run(env, out) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = errors(err)
    assert "is a file" in line or "a file, not a directory" in line, line
    assert "choose another --outdir" in line


def test_read_only_outdir_is_one_line(env, tmp_path):
    """Item 5: on a read-only file system (a ro tmpfs in a user namespace), one line naming the dir."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    mnt = tmp_path / "ro"
    mnt.mkdir()
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o ro,size=2m tmpfs '{mnt}'"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot mount a tmpfs in a user namespace here")
    argv = ["--model", str(env["exp"]), "--scp", str(env["tt"] / "wav.scp"), "--device", "cpu"]
    for out in (mnt / "out", mnt):
        cmd = f"mount -t tmpfs -o ro,size=2m tmpfs '{mnt}' && exec '{sys.executable}' -m dcsep.bin.decode \"$@\""
        p = subprocess.run(["unshare", "-rm", "sh", "-c", cmd, "sh", *argv, "--outdir", str(out)],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 1, p.stderr
        (line,) = errors(p.stderr)
        assert "Traceback" not in p.stderr and "read-only file system" in line.lower() or "not writable" in line, line
        assert "--outdir" in line


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--device", "tpu"], "--device 'tpu': not a device name"),
        (["--device", "cuda:7"], "--device 'cuda:7'"),
        (["--oracle", "ibm", "--ref", "REF", "--fs", "0"], "--fs must be a sample rate"),
        (["--scp", "TT"], "a directory, not a list file (the list inside it: --scp"),
        (["--chunk-frames", "0"], "--chunk-frames must be >= 1"),
        (["--overlap-frames", "2000"], "--overlap-frames"),
    ],
)
def test_bad_device_and_options_leave_no_outdir(env, tmp_path, capsys, extra, message):
    """Items 6, 9, 12: one line, and no (empty) outdir left behind."""
    if extra[:2] == ["--device", "cuda:7"] and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    extra = [str(env["tt"]) if a in ("REF", "TT") else a for a in extra]
    out = tmp_path / "new" / "out"
    argv = ["--outdir", str(out), *extra]
    if "--scp" not in extra:
        argv += ["--scp", str(env["tt"] / "wav.scp")]
    if "--oracle" not in extra:
        argv += ["--model", str(env["exp"])]
    if "--device" not in extra:
        argv += ["--device", "cpu"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = errors(err)
    assert message in line, line
    assert not out.exists() and not (tmp_path / "new").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_cuda_on_a_cpu_only_torch(env, tmp_path, capsys):
    """Item 6: --device cuda without CUDA is one line that says what to use instead; no outdir."""
    out = tmp_path / "out"
    assert run(env, out, "--device", "cuda") == 1  # the later --device wins
    (line,) = errors(capsys.readouterr().err)
    assert "--device 'cuda':" in line and "use --device cpu" in line
    assert not out.exists()


def test_too_long_id_fails_alone(env, tmp_path, capsys):
    """Item 7: a 251-character utterance id is a per-utterance failure; the others are separated."""
    wavs = dict(ln.split() for ln in (env["tt"] / "wav.scp").read_text().splitlines())
    long_id = "x" * 251
    (tmp_path / "wav.scp").write_text(f"{long_id} {wavs['utt000']}\n" + "".join(f"{u} {p}\n" for u, p in wavs.items()))
    out = tmp_path / "out"
    assert run(env, out, scp=tmp_path / "wav.scp") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = errors(err)
    assert "too long for a file name (251 bytes" in line
    assert listed(out, 1) == listed(out, 2) == UTTS
    assert (out / "failed.txt").read_text().startswith(long_id + " ")


def test_batch_out_of_memory_is_logged_then_one_by_one(env, tmp_path, monkeypatch, caplog):
    """Issue 22 item 7: a device out-of-memory error in the batched path is logged, then each utterance alone."""
    from dcsep.separate import Separator

    def oom(self, *a, **k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Separator, "separate_batch", oom)
    out = tmp_path / "out"
    with caplog.at_level("WARNING", logger="dcsep.decode"):
        assert run(env, out, "--batch-size", "3") == 0
    (rec,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "out of cpu memory on a batch of 3 utterances" in rec.getMessage() and "--batch-size" in rec.getMessage()
    assert listed(out, 1) == UTTS


def test_batch_path_bug_is_not_hidden(env, tmp_path, monkeypatch):
    """Issue 19 item 4: any other error of the batched path propagates instead of a silent one-by-one retry."""
    from dcsep.separate import Separator

    def bug(self, *a, **k):
        raise IndexError("a bug in the batch path")

    monkeypatch.setattr(Separator, "separate_batch", bug)
    with pytest.raises(IndexError, match="a bug in the batch path"):
        run(env, tmp_path / "out", "--batch-size", "3")


def test_decode_options_are_frozen():
    """Issue 19 item 4: the options every worker gets are a frozen dataclass."""
    opts = DecodeOptions(outdir="/x", num_spk=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.num_spk = 3
    assert {f.name for f in dataclasses.fields(DecodeOptions)} >= {"model", "clusterer", "oracle", "device", "channel"}


def test_job_devices():
    """Issue 22 item 7: job j of --nj N on a bare cuda goes to cuda:((j - 1) mod GPUs)."""
    from dcsep.bin.decode import job_device

    assert [job_device("cuda", j, 4) for j in range(1, 7)] == ["cuda:0", "cuda:1", "cuda:2", "cuda:3", "cuda:0", "cuda:1"]
    assert [job_device(None, j, 2) for j in (1, 2, 3)] == ["cuda:0", "cuda:1", "cuda:0"]
    assert job_device("cuda:2", 1, 4) == "cuda:2" and job_device("cpu", 3, 4) == "cpu" and job_device(None, 1, 0) == "cpu"


def test_workers_get_their_job_device(env, tmp_path, monkeypatch):
    """Issue 22 item 7: each worker builds its Separator on its job's device."""
    from dcsep.bin import decode as dec

    seen = []
    from dcsep.separate import Separator

    real = Separator.from_pretrained.__func__

    def spy(cls, path, device=None, **kw):
        seen.append(device)
        return real(cls, path, device="cpu", **kw)

    monkeypatch.setattr(Separator, "from_pretrained", classmethod(spy))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    opts = DecodeOptions(outdir=str(tmp_path), num_spk=2, model=str(env["exp"]), device="cuda")
    for j in (1, 2, 3):
        dec.Worker(opts, j)
    assert seen == ["cuda:0", "cuda:1", "cuda:0"]
