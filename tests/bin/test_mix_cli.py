"""dcsep-mix from the command line: the sets and their README, defaults per set, --from-list,
one-line errors and exit codes, the console script."""

from __future__ import annotations

import configparser
from pathlib import Path

import re

import numpy as np
import pytest
import soundfile as sf
from conftest import harmonic_voice

from dcsep.bin.mix import main
from dcsep.data.datadir import DataDir, read_scp


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """audio/s<k>/s<k>_<i>.wav: 4 speakers x 3 utterances at 16 kHz, and their utt2spk."""
    root = tmp_path_factory.mktemp("mix_cli")
    rng = np.random.default_rng(1)
    labels = []
    for k in range(4):
        (root / "audio" / f"s{k}").mkdir(parents=True)
        for i in range(3):
            sf.write(root / "audio" / f"s{k}" / f"s{k}_{i}.wav", harmonic_voice(rng, 110 + 50 * k, 0.6, 16000), 16000)
            labels.append(f"s{k}_{i} s{k}\n")
    (root / "utt2spk").write_text("".join(labels))
    return root


def test_builds_the_sets_and_a_readme_with_the_command(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--input", str(corpus / "audio"), "--out-dir", str(out), "--utt2spk", str(corpus / "utt2spk"),
            "--num-spk", "1", "2", "3", "--num-mixtures", "4", "5", "3", "--seed", "7", "--snr", "0", "2.5"]  # fmt: skip
    assert main(argv) == 0
    for c, n in [(1, 4), (2, 5), (3, 3)]:
        dd = DataDir.load(out / f"tt_{c}spk", require_sources=True)
        assert (dd.num_spk, len(dd.utt_ids)) == (c, n)
    for line in (out / "mix_lists" / "mix_2_spk_tt.txt").read_text().splitlines():
        g = [float(x) for x in line.split()[1::2]]
        assert g[0] == -g[1] and 0 <= g[0] - g[1] <= 2.5
    readme = (out / "README.md").read_text()
    assert "dcsep-mix --input" in readme and "--seed 7" in readme and "| tt_3spk | 3 | " in readme
    assert "wrote tt_1spk, tt_2spk, tt_3spk" in capsys.readouterr().err
    # from the written lists, elsewhere: the same mixtures
    assert main(["--input", str(corpus / "audio"), "--out-dir", str(tmp_path / "re"),
                 "--utt2spk", str(corpus / "utt2spk"), "--from-list", str(out / "mix_lists")]) == 0  # fmt: skip
    assert read_scp(tmp_path / "re" / "tt_3spk" / "utt2sources") == read_scp(out / "tt_3spk" / "utt2sources")


def test_one_count_for_all_sets_and_a_name(corpus, tmp_path):
    out = tmp_path / "o"
    assert main(["--input", str(corpus / "audio"), "--out-dir", str(out), "--spk-from-folder",
                 "--num-mixtures", "3", "--name", "eval", "--fs", "16000"]) == 0  # fmt: skip
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("eval_")) == ["eval_2spk", "eval_3spk"]
    assert all(len(read_scp(out / s / "wav.scp")) == 3 for s in ("eval_2spk", "eval_3spk"))
    assert read_scp(out / "eval_2spk" / "utt2dur")  # written at 16 kHz
    assert "16000 Hz" in (out / "README.md").read_text()


@pytest.mark.parametrize(
    "extra, rc, match",
    [
        (["--num-spk", "5"], 1, "dcsep-mix: error: tt_5spk .*5-speaker mixtures need 5 distinct speakers, the input has 4"),
        (["--snr", "3", "1"], 1, "dcsep-mix: error: --snr must be two finite numbers"),
        (["--from-list", "x", "--seed", "1"], 2, "dcsep-mix: error: --from-list decides the sets"),
    ],
)
def test_errors_are_one_line(corpus, tmp_path, capsys, extra, rc, match):
    argv = ["--input", str(corpus / "audio"), "--out-dir", str(tmp_path / "e"), "--utt2spk", str(corpus / "utt2spk")]
    assert main(argv + extra) == rc
    err = capsys.readouterr().err.strip().splitlines()
    assert len([x for x in err if "error" in x]) == 1
    assert any(re.search(match, x) for x in err), err
    assert not (tmp_path / "e").exists()


def test_existing_output_from_another_command_needs_overwrite(corpus, tmp_path, capsys):
    base = ["--input", str(corpus / "audio"), "--out-dir", str(tmp_path / "o"), "--num-mixtures", "2"]
    assert main(base) == 0
    assert main(base + ["--seed", "1"]) == 1
    assert "exists and was built with other settings; pass --overwrite" in capsys.readouterr().err
    assert main(base + ["--seed", "1", "--overwrite"]) == 0


def test_console_script_is_declared():
    cfg = configparser.ConfigParser()
    cfg.read(Path(__file__).resolve().parents[2] / "setup.cfg")
    scripts = dict(
        line.split(" = ") for line in cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    )
    assert scripts["dcsep-mix"] == "dcsep.bin.mix:main"
