"""egs/speechocean762 end to end (stages 1-5) at ``--size tiny`` on the real corpus.

Needs the corpus: ``$DCSEP_SPEECHOCEAN762``, or ``shared/data/speechocean762``
beside the repository; skipped otherwise. The recipe runs in a copy under
tmp_path so that a real run in the repository's recipe dir is left alone.
The trained tiny model is then packed (float16) and used by name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dcsep.data.audio import load_audio
from dcsep.data.datadir import read_scp
from dcsep.pretrained import pack
from dcsep.separate import Separator

from .corpora import REPO, copy_speechocean762_recipe, speechocean762_dir

RECIPE = REPO / "egs" / "speechocean762"

CORPUS = speechocean762_dir()
pytestmark = pytest.mark.skipif(
    CORPUS is None, reason="speechocean762 not found (set DCSEP_SPEECHOCEAN762 to the corpus root)"
)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    return copy_speechocean762_recipe(tmp_path_factory.mktemp("repo"))


def run(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("VIRTUAL_ENV", None)
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        ["bash", "./run.sh", "--size", "tiny", "--corpus_dir", str(CORPUS), "--nj", "2", "--ngpu", "0", *args],
        cwd=recipe, env=env, capture_output=True, text=True, timeout=600,
    )


def _speakers(d: Path) -> set[str]:
    if (d / "utt2spks").is_file():
        return {s for v in read_scp(d / "utt2spks").values() for s in v.split()}
    return set(read_scp(d / "utt2spk").values())


def _clean_folder(dest: Path, num: int = 10) -> Path:
    """A folder of clean single-speaker recordings (utterances of the corpus, as .flac)."""
    import soundfile as sf

    dest.mkdir(parents=True)
    wavs = sorted(p for p in (CORPUS / "WAVE").glob("SPEAKER*/*") if p.suffix in (".WAV", ".wav", ".flac"))
    for w in wavs[::97][:num]:
        x, fs = sf.read(w)
        sf.write(dest / f"{w.stem}.flac", x, fs)
    return dest


def test_stages_1_to_5(recipe, tmp_path, monkeypatch):
    clean = _clean_folder(tmp_path / "clean")
    res = run(recipe, "--tag", "dc_tiny", "--decode_methods", "kmeans soft_kmeans ibm", "--test_max_utts", "5",
              "--cross_corpus_dir", str(clean), "--cross_corpus_name", "xc", "--cross_corpus_mixtures", "4 3")
    assert res.returncode == 0, res.stderr[-3000:]
    data = recipe / "data" / "tiny"
    assert res.stderr.count("results: exp/dc_tiny/RESULTS.md") == 1  # one writer of RESULTS.md

    # stage 1: the committed tiny lists were used, and the speaker sets are disjoint
    for f in (recipe / "local/mix_lists/tiny").glob("*.txt"):
        assert (data / "mix_lists" / f.name).read_text() == f.read_text()
    train = _speakers(data / "train_sources")
    cv, closed, tt, tt3 = (_speakers(data / s) for s in ("cv", "tt_closed", "tt", "tt_3spk"))
    assert closed <= train and not cv & train and not (tt | tt3) & (train | cv)
    assert len(read_scp(data / "tt_3spk" / "spk3.scp")) == 4

    # stages 2-3: statistics and the model; trained on dynamically mixed train_sources
    exp = recipe / "exp" / "dc_tiny"
    assert (exp / "stats" / "feats_stats.pt").is_file() and (exp / "model.pt").is_file()
    assert "train_sources" in (exp / "logs" / "stage3_train.log").read_text()

    # --test_max_utts 5: fixed subsets of the larger test sets (tt: 8, tt_closed: 6), evenly spaced ids
    for s, n in (("tt", 8), ("tt_closed", 6)):
        full, sub = read_scp(data / s / "wav.scp"), read_scp(data / f"{s}_sub5" / "wav.scp")
        ids = sorted(full)
        assert len(full) == n and list(sub) == [ids[int(i * (n - 1) / 4 + 0.5)] for i in range(5)]
        assert set(read_scp(data / f"{s}_sub5" / "utt2gender")) == set(sub)
    assert not (data / "tt_3spk_sub5").exists()

    # the cross-corpus sets: built by dcsep-mix from the folder, test only
    assert len(read_scp(data / "xc" / "tt_2spk" / "wav.scp")) == 4
    assert len(read_scp(data / "xc" / "tt_3spk" / "spk3.scp")) == 3
    assert "xc" not in (exp / "logs" / "stage3_train.log").read_text()

    # stages 4-5: every set and method decoded and scored; 3 sources for tt_3spk (2-speaker model)
    for s in ("tt_closed_sub5", "tt_sub5", "tt_3spk", "xc_2spk", "xc_3spk"):
        for m in ("kmeans", "soft_kmeans", "ibm"):
            assert (exp / "decode" / s / m / "summary.json").is_file(), (s, m)
    assert (exp / "decode" / "tt_3spk" / "kmeans" / "spk3.scp").is_file()
    assert not (exp / "decode" / "tt").exists()
    results = (exp / "RESULTS.md").read_text()
    for text in ("2 speakers, closed speaker set (tt_closed_sub5): 5 mixtures",
                 "2 speakers, open speaker set (tt_sub5): 5 mixtures",
                 "3 speakers, open speaker set (tt_3spk): 4 mixtures",
                 "tt_sub5: 5 of the 8 mixtures of tt", "tt_closed_sub5: 5 of the 6 mixtures of tt_closed",
                 "SDRi by speaker set, 2 speakers (closed: tt_closed_sub5, open: tt_sub5)",
                 "SDRi by gender, tt_sub5", "SDRi by age, tt_3spk", "SDRi by category, tt_closed_sub5",
                 "DC, global k-means", "DC, global soft k-means", "ideal binary mask",
                 "2 speakers (xc_2spk): 4 mixtures", "3 speakers (xc_3spk): 3 mixtures",
                 "Cross-corpus test sets (test only: never trained or tuned on): xc_2spk and xc_3spk",
                 "Command: `", "Machine: "):
        assert text in results, text

    # the model packed (float16) and used by name
    shelf = tmp_path / "pretrained"
    dest = pack(exp, out_dir=shelf, name="so762-tiny", dtype="float16")
    card = (dest / "README.md").read_text()
    assert "--corpus_dir" in card and "open speaker set (tt_sub5)" in card
    monkeypatch.setenv("DCSEP_PRETRAINED_PATH", str(shelf))
    sep = Separator.from_pretrained("so762-tiny", device="cpu")
    utt, path = next(iter(read_scp(data / "tt_3spk" / "wav.scp").items()))
    assert sep.separate(load_audio(path, fs=8000)[0], num_spk=3).shape[0] == 3

    # a second run skips the work already done
    again = run(recipe, "--tag", "dc_tiny", "--stop_stage", "3")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "stage 1: data exist" in again.stderr and "stage 3: model exists" in again.stderr


def test_fixed_training_mixtures_switch_the_config(recipe):
    # stage 0 does not exist: only the settings are resolved and logged (--stage > --stop_stage is an error)
    res = run(recipe, "--dynamic_mix", "false", "--stage", "0", "--stop_stage", "0")
    assert res.returncode == 0, res.stderr[-3000:]
    derived = recipe / "data" / "tiny" / "conf" / "train_tiny_fixed.yaml"
    assert "train_dataset: chunks" in derived.read_text()
    assert "exp exp/dc_tiny_fixed," in res.stderr


def test_three_speaker_training(recipe):
    """--train_num_spk 3: dynamically mixed 3-speaker items, validated on cv_3spk."""
    conf = recipe / "conf" / "train_tiny_3spk.yaml"
    conf.write_text((recipe / "conf" / "train_tiny.yaml").read_text().replace("num_spk: 2", "num_spk: 3"))
    res = run(recipe, "--train_num_spk", "3", "--train_config", "conf/train_tiny_3spk.yaml", "--stop_stage", "3")
    assert res.returncode == 0, res.stderr[-3000:]
    data = recipe / "data" / "tiny"
    assert len(read_scp(data / "cv_3spk" / "spk3.scp")) == 4
    cv3 = _speakers(data / "cv_3spk")
    assert cv3 <= _speakers(data / "cv") and not cv3 & _speakers(data / "train_sources")
    exp = recipe / "exp" / "dc_tiny_3spk"
    log = (exp / "logs" / "stage3_train.log").read_text()
    assert "cv_3spk" in log and "train_sources" in log
    assert (exp / "model.pt").is_file()


def test_mixed_count_config_is_accepted_for_either_count(recipe):
    """num_spk: [2, 3] trains on both; --train_num_spk picks the validation set among them."""
    conf = recipe / "conf" / "train_tiny_mixed.yaml"
    conf.write_text((recipe / "conf" / "train_tiny.yaml").read_text().replace("num_spk: 2", "num_spk: [2, 3]"))
    for n in ("2", "3"):
        res = run(recipe, "--train_num_spk", n, "--train_config", "conf/train_tiny_mixed.yaml",
                  "--stage", "0", "--stop_stage", "0")
        assert res.returncode == 0, res.stderr[-3000:]
    conf.write_text((recipe / "conf" / "train_tiny.yaml").read_text().replace("num_spk: 2", "num_spk: [3]"))
    res = run(recipe, "--train_config", "conf/train_tiny_mixed.yaml", "--stage", "0", "--stop_stage", "0")
    assert res.returncode != 0 and "mixes [3] speakers" in res.stderr


def test_train_config_counts(tmp_path):
    """--counts: the speakers per training mixture that RESULTS.md names (the fixed tr set: 2)."""
    tiny = (RECIPE / "conf" / "train_tiny.yaml").read_text()
    for text, want in ((tiny.replace("num_spk: 2", "num_spk: [2, 3]"), "2 and 3"),
                       (tiny.replace("num_spk: 2", "num_spk: 3"), "3"),
                       (tiny.replace("train_dataset: dynamic_mix", "train_dataset: chunks"), "2")):
        conf = tmp_path / "c.yaml"
        conf.write_text(text)
        res = subprocess.run([sys.executable, str(RECIPE / "local" / "train_config.py"), "--config", str(conf), "--counts"],
                             capture_output=True, text=True)
        assert res.returncode == 0 and res.stdout.strip() == want, res.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (("--train_num_spk", "3"), "mixes 2 speakers (train_dataset_conf.num_spk), but 3 were asked for"),
        (("--train_num_spk", "3", "--dynamic_mix", "false"), "3-speaker training needs dynamic mixing"),
        (("--train_num_spk", "4"), "--train_num_spk: 2 or 3, got '4'"),
    ],
)
def test_bad_number_of_training_speakers_is_reported(recipe, args, message):
    res = run(recipe, *args, "--stage", "3", "--stop_stage", "3")
    assert res.returncode != 0
    assert message in res.stderr


def test_bad_corpus_dir_is_reported(recipe, tmp_path):
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    res = subprocess.run(
        ["bash", "./run.sh", "--size", "tiny", "--corpus_dir", str(tmp_path / "nope"), "--data_dir", str(tmp_path / "d")],
        cwd=recipe, env=env, capture_output=True, text=True, timeout=120,
    )
    assert res.returncode != 0
    assert "--corpus_dir: not a directory" in res.stderr
