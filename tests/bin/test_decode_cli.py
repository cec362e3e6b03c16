"""dcsep-decode from the command line: outputs, re-runs, --nj, ark input, oracle masks,
mask/embedding arks, unsafe ids, bad files, option errors, and bounded memory on a
10-minute input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import TINY_MODEL, make_tiny_corpus
from dcsep.bin.decode import main
from dcsep.frontends.stft import STFTFrontend
from dcsep.model import DeepClustering
from dcsep.oracle import oracle_separate

FS = 8000
NUM_UTTS = 4
UTTS = [f"utt{i:03d}" for i in range(NUM_UTTS)]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("decode_cli")
    tt = make_tiny_corpus(root / "tt", num_utts=NUM_UTTS, seconds=0.5, seed=3)
    torch.manual_seed(0)
    model = DeepClustering.from_config(TINY_MODEL)
    model.save(root / "exp" / "model.pt", extra={"num_spk": 2})
    return {"root": root, "tt": tt, "exp": root / "exp"}


def decode(env, out, *extra, scp=None):
    return main(["--model", str(env["exp"]), "--scp", str(scp or env["tt"] / "wav.scp"), "--outdir", str(out),
                 "--device", "cpu", *extra])


def scp(path: Path) -> dict[str, str]:
    return dict(line.split(maxsplit=1) for line in path.read_text().splitlines() if line.strip())


def read(path) -> np.ndarray:
    x, fs = sf.read(path, dtype="float32")
    assert fs == FS
    return x


def error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("dcsep-decode: error:")]


def test_decode_writes_wavs_and_lists_then_skips_done(env, tmp_path, capsys):
    out = tmp_path / "out"
    assert decode(env, out) == 0
    for c in (1, 2):
        lst = scp(out / f"spk{c}.scp")
        assert list(lst) == UTTS
        for utt, path in lst.items():
            assert Path(path) == (out / "wav" / f"{utt}-spk{c}.wav").resolve()
            info = sf.info(path)
            assert (info.samplerate, info.channels, info.subtype, info.frames) == (FS, 1, "PCM_16", FS // 2)
    assert not (out / "failed.txt").exists()
    assert (out / "utt2num_spk").read_text() == "".join(f"{u} 2\n" for u in UTTS)
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "wav").iterdir()}
    capsys.readouterr()
    assert decode(env, out) == 0
    assert f"{NUM_UTTS} already done, 0 to separate" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in (out / "wav").iterdir()} == mtimes
    # a lost output is made again, and only that one
    (out / "wav" / "utt002-spk2.wav").unlink()
    assert decode(env, out) == 0
    assert f"{NUM_UTTS - 1} already done, 1 to separate" in capsys.readouterr().err
    assert (out / "wav" / "utt002-spk2.wav").is_file()


def test_nj2_gives_the_same_outputs_and_batches_are_valid(env, tmp_path):
    assert decode(env, tmp_path / "one") == 0
    assert decode(env, tmp_path / "two", "--nj", "2") == 0
    assert decode(env, tmp_path / "batch", "--batch-size", "3") == 0
    mixes = scp(env["tt"] / "wav.scp")
    for d in ("two", "batch"):
        for c in (1, 2):
            assert list(scp(tmp_path / d / f"spk{c}.scp")) == UTTS
        for utt in UTTS:
            a = np.stack([read(tmp_path / "one" / "wav" / f"{utt}-spk{c}.wav") for c in (1, 2)])
            b = np.stack([read(tmp_path / d / "wav" / f"{utt}-spk{c}.wav") for c in (1, 2)])
            if d == "two":  # the same k-means draws in every process
                np.testing.assert_allclose(a, b, atol=1e-3)
            else:  # batched k-means draws differ (an untrained model has no clear clusters): check the partition
                assert b.shape == a.shape
                np.testing.assert_allclose(b.sum(0), read(mixes[utt]), atol=2e-3)


def test_kaldi_ark_input(env, tmp_path):
    kaldiio = pytest.importorskip("kaldiio")
    wavs = scp(env["tt"] / "wav.scp")
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path / 'mix.ark'},{tmp_path / 'ark.scp'}") as w:
        for utt, path in wavs.items():
            w[utt] = (FS, np.round(read(path) * 32767).astype(np.int16))
    assert next(iter(scp(tmp_path / "ark.scp").values())).startswith(str(tmp_path / "mix.ark") + ":")
    out = tmp_path / "out"
    assert decode(env, out, scp=tmp_path / "ark.scp") == 0
    for utt, path in wavs.items():
        est = np.stack([read(out / "wav" / f"{utt}-spk{c}.wav") for c in (1, 2)])
        assert est.shape == (2, FS // 2)
        np.testing.assert_allclose(est.sum(0), read(path), atol=2e-3)  # binary masks: the sources add up


@pytest.mark.parametrize("kind", ["ibm", "irm"])
def test_oracle_masks(env, tmp_path, kind):
    kaldiio = pytest.importorskip("kaldiio")
    out = tmp_path / kind
    argv = ["--oracle", kind, "--ref", str(env["tt"]), "--scp", str(env["tt"] / "wav.scp"), "--outdir", str(out),
            "--write-masks"]
    assert main(argv) == 0
    masks = kaldiio.load_scp(str(out / "masks.scp"))
    for utt in UTTS:
        mix = read(scp(env["tt"] / "wav.scp")[utt])
        srcs = np.stack([read(scp(env["tt"] / f"spk{c}.scp")[utt]) for c in (1, 2)])
        expect, expect_masks = oracle_separate(mix, srcs, STFTFrontend(fs=FS), kind, return_masks=True)
        est = np.stack([read(out / "wav" / f"{utt}-spk{c}.wav") for c in (1, 2)])
        np.testing.assert_allclose(est, expect, atol=2e-4)  # 16-bit output
        np.testing.assert_allclose(masks[utt], expect_masks.reshape(-1, expect_masks.shape[-1]), atol=1e-6)
    # with a model, the model's STFT is used; same here (the default STFT)
    assert main([*argv[:-1], "--model", str(env["exp"]), "--outdir", str(tmp_path / "with_model")]) == 0
    assert scp(tmp_path / "with_model" / "spk2.scp").keys() == set(UTTS)


def test_masks_and_embeddings_arks(env, tmp_path, capsys):
    kaldiio = pytest.importorskip("kaldiio")
    out = tmp_path / "out"
    assert decode(env, out, "--write-masks", "--write-embeddings") == 0
    masks, embs = kaldiio.load_scp(str(out / "masks.scp")), kaldiio.load_scp(str(out / "embeddings.scp"))
    assert sorted(masks) == sorted(embs) == UTTS
    t = FS // 2 // 64 + 1
    for utt in UTTS:
        m = masks[utt].reshape(2, t, 129)  # (C*T, F) -> (C, T, F)
        assert set(np.unique(m)) <= {0.0, 1.0} and np.all(m.sum(0) == 1)
        v = embs[utt].reshape(t, 129, 8)  # (T, F*K) -> (T, F, K)
        np.testing.assert_allclose(np.linalg.norm(v, axis=-1), 1.0, atol=1e-5)
        # the wavs are the mixture's STFT under these masks
        est = read(out / "wav" / f"{utt}-spk1.wav")
        fe = STFTFrontend(fs=FS)
        mix = torch.from_numpy(read(scp(env["tt"] / "wav.scp")[utt]))
        expect = fe.istft(fe.stft(mix[None]) * torch.from_numpy(m[:1].copy()), len(mix))[0].numpy()
        np.testing.assert_allclose(est, expect, atol=2e-4)
    # a re-run needs nothing; one asking for fewer outputs is done as well
    capsys.readouterr()
    assert decode(env, out, "--write-masks", "--write-embeddings") == 0
    assert decode(env, out) == 0
    assert capsys.readouterr().err.count(f"{NUM_UTTS} already done") == 2
    # asking for masks again after they were lost redoes every utterance, appending to the ark
    (out / "masks.scp").unlink()
    assert decode(env, out, "--write-masks") == 0
    assert sorted(kaldiio.load_scp(str(out / "masks.scp"))) == UTTS


def test_unsafe_ids_write_nothing_outside_outdir(env, tmp_path, capsys):
    good = scp(env["tt"] / "wav.scp")
    wav = good["utt000"]
    bad_ids = ["../escape", "a/b", "..", "x..y", "/abs", "dir\\name", "-rf"]
    (tmp_path / "wav.scp").write_text("".join(f"{u} {wav}\n" for u in bad_ids) + "".join(f"{u} {p}\n" for u, p in good.items()))
    work = tmp_path / "work"
    out = work / "nested" / "out"
    out.mkdir(parents=True)
    before = {p for p in tmp_path.rglob("*")}
    capsys.readouterr()
    assert decode(env, out, scp=tmp_path / "wav.scp") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for u in bad_ids:
        assert any(repr(u) in ln and "not a safe file name" in ln for ln in error_lines(err)), (u, err)
    new = {p for p in tmp_path.rglob("*")} - before
    assert new and all(p.resolve().is_relative_to(out.resolve()) for p in new), sorted(new)
    assert not list(tmp_path.rglob("escape*")) and not list(Path("/").glob("abs-spk*"))
    assert list(scp(out / "spk1.scp")) == UTTS  # the good ones are separated
    listed = [ln.split()[0] for ln in (out / "failed.txt").read_text().splitlines()]
    assert listed == bad_ids


def test_bad_files_are_reported_and_the_rest_written(env, tmp_path, capsys):
    """Broken files fail alone; a stereo file is downmixed and a 16 kHz one resampled (issue 21), not failed."""
    good = scp(env["tt"] / "wav.scp")
    (tmp_path / "garbage.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    sf.write(tmp_path / "stereo.wav", np.zeros((800, 2), np.float32), FS)
    sf.write(tmp_path / "rate.wav", np.zeros(800, np.float32), 16000)
    lines = [f"corrupt {tmp_path / 'garbage.wav'}", f"missing {tmp_path / 'nope.wav'}", f"stereo {tmp_path / 'stereo.wav'}",
             f"rate {tmp_path / 'rate.wav'}"]
    items = list(good.items())
    lines[2:2] = [f"{u} {p}" for u, p in items]  # good ones between the bad ones
    (tmp_path / "wav.scp").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    capsys.readouterr()
    assert decode(env, out, scp=tmp_path / "wav.scp") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = {ln.split(":")[2].strip(): ln for ln in error_lines(err)}
    assert set(errors) == {"corrupt", "missing"}, err
    assert "garbage.wav" in errors["corrupt"] and "cannot read audio" in errors["corrupt"]
    assert "file not found" in errors["missing"]
    assert "1 inputs at 16000 Hz: resampled to the model's 8000 Hz" in err and "1 multi-channel inputs downmixed" in err
    assert sorted(scp(out / "spk1.scp")) == sorted(scp(out / "spk2.scp")) == sorted(["stereo", *UTTS, "rate"])
    assert sf.info(out / "wav" / "rate-spk1.wav").samplerate == 16000 and sf.info(out / "wav" / "rate-spk1.wav").frames == 800
    assert sorted(ln.split()[0] for ln in (out / "failed.txt").read_text().splitlines()) == sorted(errors)
    # a re-run retries only the failed ones
    assert decode(env, out, scp=tmp_path / "wav.scp") == 1
    assert f"{NUM_UTTS + 2} already done, 2 to separate" in capsys.readouterr().err
    # --channel 1 picks a channel of multi-channel files; on a mono file it is an error (issue 20 item 15)
    assert decode(env, tmp_path / "ch", "--channel", "1", scp=tmp_path / "wav.scp") == 1
    errors = {ln.split(":")[2].strip(): ln for ln in error_lines(capsys.readouterr().err)}
    assert "stereo" in scp(tmp_path / "ch" / "spk1.scp")
    assert "channel 1 asked for, the input has 1" in errors["utt000"] and "rate" in errors


def test_three_sources_from_a_two_speaker_model(env, tmp_path):
    out = tmp_path / "out"
    assert decode(env, out, "--num-spk", "3", "--clusterer", "spectral") == 0
    for c in (1, 2, 3):
        assert list(scp(out / f"spk{c}.scp")) == UTTS
    mix = read(scp(env["tt"] / "wav.scp")["utt001"])
    est = np.stack([read(out / "wav" / f"utt001-spk{c}.wav") for c in (1, 2, 3)])
    np.testing.assert_allclose(est.sum(0), mix, atol=2e-3)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--scp", "{tt}/wav.scp"], "give --model, or --oracle"),
        (["--oracle", "ibm", "--scp", "{tt}/wav.scp"], "--oracle ibm needs --ref"),
        (["--model", "{exp}", "--scp", "{tt}/wav.scp", "--clusterer", "nope"], "nope"),
        (["--model", "{exp}", "--scp", "{tt}/wav.scp", "--clusterer-conf", "[1, 2]"], "--clusterer-conf must be a mapping"),
        (["--model", "{exp}", "--scp", "{tt}/wav.scp", "--clusterer", "oracle_kmeans"], "needs the reference sources"),
        (["--model", "{root}/missing", "--scp", "{tt}/wav.scp"], "model file not found"),
        (["--model", "{exp}", "--scp", "{root}/none.scp"], "none.scp: file not found"),
        (["--model", "{exp}", "--scp", "{tt}/wav.scp", "--nj", "0"], "--nj"),
        (["--model", "{exp}", "--scp", "{tt}/wav.scp", "--ref", "{tt}", "--num-spk", "3",
          "--clusterer", "oracle_kmeans"], "--num-spk 3"),
    ],
)
def test_option_errors_are_one_line(env, tmp_path, capsys, argv, message):
    argv = [a.format(tt=env["tt"], exp=env["exp"], root=env["root"]) for a in argv]
    out = tmp_path / "out"
    assert main([*argv, "--outdir", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = error_lines(err)
    assert len(lines) == 1 and message in lines[0], err
    assert not (out / "spk1.scp").exists()


def test_ten_minute_input_in_bounded_memory(tmp_path):
    """The embeddings of 10 minutes (K=40) take 1.5 GB; decoding needs far less than that on top of the start-up."""
    script = Path(__file__).with_name("long_input.py")
    proc = subprocess.run([sys.executable, str(script), "decode", str(tmp_path), "10"], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["rc"] == 0 and res["samples"] == 10 * 60 * FS
    assert res["corr"] > 0.95  # speakers stay apart over the whole input (global clustering)
    assert res["emb_mb"] > 1400
    used = res["peak_mb"] - res["base_mb"]
    assert used < res["emb_mb"] / 2, res
    print(f"10 minutes: peak {res['peak_mb']:.0f} MB, {used:.0f} MB over the start-up")


def test_num_spk_auto_lists_and_counts(env, tmp_path, monkeypatch, capsys):
    """--num-spk auto (issue 21): each utterance gets the count the Separator gives; spk<c>.scp lists those
    with at least c sources, utt2num_spk the counts; a recount removes the sources no longer given."""
    from dcsep.separate import Separator

    counts = {0: 1, 1: 2, 2: 3, 3: 2}  # by the mixture's first sample's rank, set below
    mixes = scp(env["tt"] / "wav.scp")
    order = {round(float(read(p)[100]), 4): i for i, p in enumerate(mixes.values())}

    def fake(self, wav, num_spk=None, clusterer=None, clusterer_conf=None, channel="mean", refs=None, fs=None,
             return_masks=False):
        assert num_spk == "auto"
        c = counts[order[round(float(wav[100]), 4)]]
        est = np.stack([wav / c] * c)
        return (est, np.full((c, 4, 129), 1 / c, np.float32)) if return_masks else est

    monkeypatch.setattr(Separator, "separate", fake)
    out = tmp_path / "out"
    assert decode(env, out, "--num-spk", "auto") == 0
    err = capsys.readouterr().err
    assert "1 to 3 sources, counted per mixture" in err and "counted sources: 1 with 1, 2 with 2, 1 with 3" in err
    assert (out / "utt2num_spk").read_text() == "".join(f"{u} {counts[i]}\n" for i, u in enumerate(UTTS))
    assert list(scp(out / "spk1.scp")) == UTTS
    assert list(scp(out / "spk2.scp")) == ["utt001", "utt002", "utt003"] and list(scp(out / "spk3.scp")) == ["utt002"]
    assert sorted(p.name for p in (out / "wav").glob("utt002-*")) == ["utt002-spk1.wav", "utt002-spk2.wav", "utt002-spk3.wav"]
    assert decode(env, out, "--num-spk", "auto") == 0
    assert f"{NUM_UTTS} already done, 0 to separate" in capsys.readouterr().err
    # utt002 is counted again (its input changed) and gets one source: its spk2/spk3 wavs go, and so does spk3.scp
    counts[2] = 1
    os.utime(mixes["utt002"])
    assert decode(env, out, "--num-spk", "auto") == 0
    assert f"{NUM_UTTS - 1} already done, 1 to separate" in capsys.readouterr().err
    assert [p.name for p in (out / "wav").glob("utt002-*")] == ["utt002-spk1.wav"]
    assert not (out / "spk3.scp").exists() and "utt002" not in scp(out / "spk2.scp")
    # another --max-spk is another setting
    assert decode(env, out, "--num-spk", "auto", "--max-spk", "4") == 1
    assert "max_spk: 3 -> 4" in capsys.readouterr().err


def test_num_spk_auto_with_the_model(env, tmp_path):
    """--num-spk auto end to end with the Separator's own count (an untrained model: any count in 1..2)."""
    out = tmp_path / "out"
    assert decode(env, out, "--num-spk", "auto", "--max-spk", "2") == 0
    counts = {u: int(c) for u, c in scp(out / "utt2num_spk").items()}
    assert list(counts) == UTTS and set(counts.values()) <= {1, 2}
    for utt, c in counts.items():
        est = np.stack([read(out / "wav" / f"{utt}-spk{k}.wav") for k in range(1, c + 1)])
        np.testing.assert_allclose(est.sum(0), read(scp(env["tt"] / "wav.scp")[utt]), atol=3e-3)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--num-spk", "x"], "--num-spk must be a number of sources >= 1 or 'auto', got 'x'"),
        (["--num-spk", "auto", "--max-spk", "0"], "--max-spk must be >= 1, got 0"),
        (["--num-spk", "auto", "--clusterer", "oracle_kmeans", "--ref", "{tt}"], "the references give the count"),
        (["--num-spk", "auto", "--oracle", "ibm", "--ref", "{tt}"], "--oracle takes --ref's count"),
    ],
)
def test_num_spk_auto_option_errors(env, tmp_path, capsys, extra, message):
    extra = [a.format(tt=env["tt"]) for a in extra]
    assert decode(env, tmp_path / "out", *extra) == 1
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "out").exists()
