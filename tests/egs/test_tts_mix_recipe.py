"""egs/tts_mix end to end (stages 1-5) at ``--size tiny``, from a path with a space.

The recipe and tools/ are copied under ``tmp_path/"dcsep copy"`` so that a
real run in the repository's recipe dir is left alone and paths with spaces
are exercised (recipe dir, data, exp and audio paths all contain one). A
second run with the same command must skip every finished stage.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dcsep.data.datadir import read_scp

from . import pins

pytest.importorskip("espeakng_loader")

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "egs" / "tts_mix"
ARGS = ("--size", "tiny", "--nj", "2", "--ngpu", "0", "--test_sets", "tt_2spk tt_3spk", "--decode_methods", "kmeans ibm")


def copy_recipe(root: Path, name: str) -> Path:
    """A copy of egs/<name> and tools/ under ``root`` (DCSEP_ROOT is found from path.sh)."""
    shutil.copytree(REPO / "tools", root / "tools", ignore=shutil.ignore_patterns("__pycache__", "sph2pipe"))
    dest = root / "egs" / name
    dest.mkdir(parents=True)
    for item in (REPO / "egs" / name).iterdir():
        if item.name in ("data", "exp", "dump", "downloads"):
            continue
        if item.is_dir():
            shutil.copytree(item, dest / item.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(item, dest / item.name)
    return dest


def run_recipe(recipe: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("VIRTUAL_ENV", None)
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        ["bash", "./run.sh", *args], cwd=recipe, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("recipe") / "dcsep copy"
    return copy_recipe(root, "tts_mix")


@pytest.fixture(scope="module")
def first_run(recipe) -> subprocess.CompletedProcess:
    res = run_recipe(recipe, *ARGS)
    assert res.returncode == 0, res.stderr[-4000:]
    return res


def test_stages_1_to_5(recipe, first_run):
    assert " " in str(recipe)
    data = recipe / "data" / "tiny"
    for name in ("tr_2spk", "cv_2spk", "tt_2spk", "tt_3spk"):
        d = data / name
        for f in ("wav.scp", "spk1.scp", "spk2.scp", "utt2spk", "utt2dur"):
            assert (d / f).is_file(), d / f
        wavs = read_scp(d / "wav.scp")
        assert wavs and all(Path(p).is_file() and " " in p for p in wavs.values())
    assert (data / "tt_3spk" / "spk3.scp").is_file()

    exp = recipe / "exp" / "dc_tiny"
    assert (exp / "stats" / "feats_stats.pt").is_file()
    assert (exp / "model.pt").is_file()
    logs = {p.name for p in (exp / "logs").glob("*.log")}
    assert {"stage2_stats.log", "stage3_train.log"} <= logs
    assert {f"stage4_decode_{s}_{m}.log" for s in ("tt_2spk", "tt_3spk") for m in ("kmeans", "ibm")} <= logs

    for s, c in (("tt_2spk", 2), ("tt_3spk", 3)):
        dec = exp / "decode" / s / "kmeans"
        est = read_scp(dec / f"spk{c}.scp")
        assert set(est) == set(read_scp(data / s / "wav.scp"))
        assert all(Path(p).is_file() for p in est.values())
        assert (dec / "scores.tsv").is_file()

    results = (exp / "RESULTS.md").read_text()
    assert "tt_2spk" in results and "tt_3spk" in results
    assert re.search(r"\| DC, global k-means \| -?\d+\.\d\d \|", results)
    assert "ideal binary mask" in results
    # the table is also printed at the end of the run
    assert "| method |" in first_run.stderr + first_run.stdout
    # timestamped log lines
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(run\.sh:\d+\) ", first_run.stderr, re.M)


def test_outputs_are_pinned(recipe, first_run):
    """The data, the training and the decoding give what they gave when the pin was taken
    (``tests/egs/fixtures/pins.json``; see ``tests/egs/pins.py``)."""
    want = pins.load()["tts_tiny"]
    got = pins.tts_tiny(recipe)
    assert set(got["data"]) == set(want["data"])
    for name, w in want["data"].items():
        assert got["data"][name]["ids"] == w["ids"], name
        assert got["data"][name]["energy"] == pytest.approx(w["energy"], rel=1e-5), name
    assert got["valid_loss"] == pytest.approx(want["valid_loss"], rel=1e-4)
    assert set(got["mean_si_sdri"]) == set(want["mean_si_sdri"])
    for key, w in want["mean_si_sdri"].items():
        assert got["mean_si_sdri"][key] == pytest.approx(w, abs=0.05), key


def test_rerun_skips_finished_stages(recipe, first_run):
    exp = recipe / "exp" / "dc_tiny"
    model_mtime = (exp / "model.pt").stat().st_mtime_ns
    wav = next(iter(read_scp(exp / "decode" / "tt_2spk" / "kmeans" / "spk1.scp").values()))
    wav_mtime = Path(wav).stat().st_mtime_ns
    res = run_recipe(recipe, *ARGS, timeout=300)
    assert res.returncode == 0, res.stderr[-4000:]
    err = res.stderr
    assert "stage 1: data exist" in err
    assert "stage 2: feature statistics exist" in err
    assert "stage 3: model exists" in err
    assert "stage 4: decoding" not in err
    assert (exp / "model.pt").stat().st_mtime_ns == model_mtime
    assert Path(wav).stat().st_mtime_ns == wav_mtime
    assert (exp / "RESULTS.md").is_file()


def test_bad_option_is_one_clear_error(recipe):
    res = run_recipe(recipe, "--size", "tiny", "--nj", "zero", "--stage", "2", "--stop_stage", "2", timeout=120)
    assert res.returncode != 0
    assert "--nj must be a positive integer" in res.stderr
