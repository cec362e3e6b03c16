"""egs/wsj0_2mix stages 1-5 and egs/wsj0_3mix stages 1 and 6 on a generated WSJ0 tree.

The fake WSJ0 copy has the real layout (``wsj0/si_tr_s/<spk>/<utt>.wv1`` as
plain NIST SPHERE, ``wsj0/si_et_05/<spk>/<utt>.wav``, ``wsj0/doc/spkrinfo.txt``)
and mix lists in the official format (``path gain path gain``), a handful of
lines each. The recipes run from copies under tmp_path with a tiny model.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dcsep.data.datadir import read_scp

REPO = Path(__file__).resolve().parents[2]
FS = 16000
TRAIN_SPK = ["40a", "40b", "01c", "01d"]  # si_tr_s; 40x female, 01x male
TEST_SPK = ["050", "051", "052"]  # si_et_05


def write_sphere(path: Path, x: np.ndarray, fs: int = FS) -> None:
    """Uncompressed 16-bit NIST SPHERE, as WSJ0 after sph2pipe."""
    pcm = np.round(np.clip(x, -1, 1 - 2**-15) * 32768).astype("<i2")
    fields = [f"sample_count -i {pcm.size}", f"sample_rate -i {fs}", "channel_count -i 1", "sample_n_bytes -i 2",
              "sample_byte_format -s2 01", "sample_coding -s3 pcm", "end_head"]  # fmt: skip
    head = ("NIST_1A\n   1024\n" + "\n".join(fields) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + b" " * (1024 - len(head)) + pcm.tobytes())


def speech_like(rng: np.random.Generator, f0: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    glide = f0 * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    phase = 2 * np.pi * np.cumsum(glide) / FS
    x = sum(np.sin(h * phase) / h for h in range(1, 15) if h * f0 < 3800)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 6.3))
    return 0.05 * rng.uniform(0.5, 1.0) * x * env


def fake_wsj0(root: Path) -> dict[str, list[str]]:
    """Write the corpus; returns speaker -> list paths (as the mix lists name them)."""
    rng = np.random.default_rng(0)
    utts: dict[str, list[str]] = {}
    for i, spk in enumerate(TRAIN_SPK + TEST_SPK):
        subset = "si_tr_s" if spk in TRAIN_SPK else "si_et_05"
        f0 = (210 if spk.startswith("40") or spk == "051" else 110) * (1 + 0.08 * i)
        for j in range(4):
            rel = f"wsj0/{subset}/{spk}/{spk}c020{j}.wav"
            x = speech_like(rng, f0, rng.uniform(1.0, 1.6))
            if subset == "si_tr_s":
                write_sphere(root / Path(rel).with_suffix(".wv1"), x)
            else:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                sf.write(root / rel, x, FS, subtype="PCM_16")
            utts.setdefault(spk, []).append(rel)
    (root / "wsj0" / "doc").mkdir(parents=True)
    (root / "wsj0" / "doc" / "spkrinfo.txt").write_text(
        ";  ID  Sex  Dialect\n" + "".join(f"{s}  {'F' if s.startswith('40') or s == '051' else 'M'}  AM\n" for s in utts)
    )
    return utts


def write_lists(dest: Path, utts: dict[str, list[str]], num_spk: int) -> None:
    rng = np.random.default_rng(num_spk)
    sizes = {"tr": 12, "cv": 3, "tt": 3}
    dest.mkdir(parents=True, exist_ok=True)
    for split, n in sizes.items():
        spks = TEST_SPK if split == "tt" else TRAIN_SPK
        lines = set()
        while len(lines) < n:
            chosen = rng.choice(len(spks), num_spk, replace=False)
            g = round(float(rng.uniform(0, 2.5)), 4)
            gains = [g, -g] if num_spk == 2 else [g, -g, round(float(rng.uniform(-2.5, 2.5)), 4)]
            lines.add(" ".join(f"{utts[spks[k]][rng.integers(4)]} {gain:g}" for k, gain in zip(chosen, gains)))
        (dest / f"mix_{num_spk}_spk_{split}.txt").write_text("".join(f"{line}\n" for line in sorted(lines)))


def copy_recipe(root: Path, name: str) -> Path:
    if not (root / "tools").exists():
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
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "WSJ0", "WSJ0_MIX_LISTS")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(["bash", "./run.sh", *args], cwd=recipe, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wsj0")
    utts = fake_wsj0(root / "WSJ0")
    for c in (2, 3):
        write_lists(root / "lists", utts, c)
    return {"wsj0": root / "WSJ0", "lists": root / "lists", "repo": root / "repo"}


@pytest.fixture(scope="module")
def run_2mix(corpus):
    recipe = copy_recipe(corpus["repo"], "wsj0_2mix")
    res = run_recipe(
        recipe, "--stage", "1", "--stop_stage", "5", "--wsj0", str(corpus["wsj0"]), "--mix_lists", str(corpus["lists"]),
        "--train_config", "conf/train_tiny.yaml", "--nj", "1", "--ngpu", "0", "--decode_methods", "kmeans ibm",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-4000:]
    return recipe, res


def test_wsj0_2mix_stages_1_to_5(run_2mix, corpus):
    recipe, res = run_2mix
    data = recipe / "data" / "wav8k_min"
    for split, n in (("tr", 12), ("cv", 3), ("tt", 3)):
        wav = read_scp(data / split / "wav.scp")
        assert len(wav) == n
        for f in ("spk1.scp", "spk2.scp", "utt2spk", "utt2dur", "utt2gender"):
            assert (data / split / f).is_file(), f
        mix, fs = sf.read(next(iter(wav.values())))
        assert fs == 8000
    # list names follow the official lists: <utt1>_<gain1>_<utt2>_<gain2>
    line = (corpus["lists"] / "mix_2_spk_tt.txt").read_text().splitlines()[0].split()
    name = "_".join(f"{Path(p).stem}_{g}" for p, g in zip(line[0::2], line[1::2]))
    assert name in read_scp(data / "tt" / "wav.scp")
    assert (recipe / "dump" / "wsj0-2mix" / "wav8k" / "min" / "tt" / "s2" / f"{name}.wav").is_file()

    exp = recipe / "exp" / "dc_tiny"
    assert (exp / "model.pt").is_file() and (exp / "stats" / "feats_stats.pt").is_file()
    assert (exp / "logs" / "stage3_train.log").is_file()
    for split in ("cv", "tt"):
        for method in ("kmeans", "ibm"):
            assert (exp / "decode" / split / method / "scores.tsv").is_file()
    results = (exp / "RESULTS.md").read_text()
    assert re.search(r"\| DC, global k-means \| -?\d+\.\d\d \|", results)
    assert "recipe `wsj0_2mix`" in results or "wsj0_2mix" in results
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(run\.sh:\d+\) stage 1: building wsj0-2mix", res.stderr, re.M)


def test_wsj0_3mix_with_the_2spk_model(run_2mix, corpus):
    """Stage 1 of wsj0_3mix, then stage 6: the 2-speaker model clusters into 3 sources (Table 4)."""
    model_dir, _ = run_2mix
    recipe = copy_recipe(corpus["repo"], "wsj0_3mix")
    common = ("--wsj0", str(corpus["wsj0"]), "--mix_lists", str(corpus["lists"]), "--nj", "1", "--ngpu", "0",
              "--train_config", "conf/train_tiny.yaml")  # fmt: skip
    res = run_recipe(recipe, *common, "--stage", "1", "--stop_stage", "1")
    assert res.returncode == 0, res.stderr[-4000:]
    assert (recipe / "data" / "wav8k_min" / "tt" / "spk3.scp").is_file()

    res = run_recipe(recipe, *common, "--stage", "6", "--test_sets", "tt", "--decode_methods_2spk", "kmeans",
                     "--model_2spk", str(model_dir / "exp" / "dc_tiny"))  # fmt: skip
    assert res.returncode == 0, res.stderr[-4000:]
    out = recipe / "exp" / "dc_tiny_2spk_model"
    est = read_scp(out / "decode" / "tt" / "kmeans" / "spk3.scp")
    assert len(est) == 3 and all(Path(p).is_file() for p in est.values())
    assert "3 speakers" in (out / "RESULTS.md").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (("--stage", "1", "--stop_stage", "1"), "stage 1 needs --wsj0"),
        (("--fs", "22050"), "--fs must be 8000 or 16000"),
        (("--mode", "mean"), "--mode must be min or max"),
        (("--max_mixtures", "-3"), "--max_mixtures must be a positive integer"),
        (("--no_such_option", "1"), "unknown option --no-such-option"),
    ],
)
def test_wsj0_2mix_option_errors(tmp_path, args, message):
    recipe = copy_recipe(tmp_path, "wsj0_2mix")
    res = run_recipe(recipe, "--train_config", "conf/train_tiny.yaml", "--ngpu", "0", *args, timeout=120)
    assert res.returncode != 0
    assert message in res.stderr


def test_wsj0_2mix_missing_source_names_the_file(tmp_path, corpus):
    broken = tmp_path / "lists"
    shutil.copytree(corpus["lists"], broken)
    tr = broken / "mix_2_spk_tr.txt"
    tr.write_text(tr.read_text() + "wsj0/si_tr_s/40a/40azzzzz.wav 1.0 wsj0/si_tr_s/01c/01cc0200.wav -1.0\n")
    recipe = copy_recipe(tmp_path / "repo", "wsj0_2mix")
    res = run_recipe(recipe, "--stage", "1", "--stop_stage", "1", "--wsj0", str(corpus["wsj0"]), "--mix_lists", str(broken),
                     "--train_config", "conf/train_tiny.yaml", "--ngpu", "0", timeout=120)  # fmt: skip
    assert res.returncode != 0
    assert "40azzzzz" in res.stderr
    assert not (recipe / "data" / "wav8k_min" / ".done").exists()
