"""tools/combine_data_dirs.py: a training pool of several corpora's single-speaker dirs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import make_source_dir

from dcsep.data.datadir import read_scp
from dcsep.data.dynamic_mix import DynamicMixDataset

TOOL = Path(__file__).resolve().parents[2] / "tools" / "combine_data_dirs.py"
spec = importlib.util.spec_from_file_location("combine_data_dirs", TOOL)
combine_data_dirs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(combine_data_dirs)


def test_combined_pool_keeps_corpora_apart(tmp_path, capsys):
    # both corpora use the same ids (spk0_u0, ...): the prefixes keep them apart
    a = make_source_dir(tmp_path / "a", num_spk=2, utts=2, levels=True)
    b = make_source_dir(tmp_path / "b", num_spk=3, utts=2)
    dest = tmp_path / "pool"
    assert combine_data_dirs.main(["--dest", str(dest), f"so={a}", f"tts={b}"]) == 0
    assert "10 utterances of 5 speakers from 2 dirs" in capsys.readouterr().out
    wav, u2s = read_scp(dest / "wav.scp"), read_scp(dest / "utt2spk")
    assert wav["so-spk0_u0"] == str(a / "wav" / "spk0_u0.wav") and wav["tts-spk0_u0"] == str(b / "wav" / "spk0_u0.wav")
    assert u2s["so-spk0_u1"] == "so-spk0" and u2s["tts-spk2_u0"] == "tts-spk2"
    assert read_scp(dest / "spk2utt")["tts-spk1"] == "tts-spk1_u0 tts-spk1_u1"
    assert sorted(read_scp(dest / "utt2activlev")) == [f"so-spk{i}_u{k}" for i in (0, 1) for k in (0, 1)]
    ds = DynamicMixDataset(dest, chunk_samples=2000, epoch_size=20, fs=8000)
    assert len(ds.table.speakers) == 5
    assert any(len({s.split("-")[0] for s in ds.describe(i)["speakers"]}) == 2 for i in range(20))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dir left


@pytest.mark.parametrize("args, match", [
    (["so"], "a source is NAME=DIR"),
    (["so=A", "so=B"], "given twice"),
    (["s-o=A"], "a word without spaces or '-'"),
    (["so=MISSING"], "wav.scp: file not found"),
])
def test_errors_leave_no_dir(tmp_path, capsys, args, match):
    a = make_source_dir(tmp_path / "a", num_spk=2, utts=2)
    args = [x.replace("=A", f"={a}").replace("=B", f"={a}").replace("MISSING", str(tmp_path / "none")) for x in args]
    assert combine_data_dirs.main(["--dest", str(tmp_path / "pool"), *args]) == 1
    assert match in capsys.readouterr().err
    assert not (tmp_path / "pool").exists()


def test_an_utterance_without_speaker(tmp_path, capsys):
    a = make_source_dir(tmp_path / "a", num_spk=2, utts=2)
    (a / "utt2spk").write_text("spk0_u0 spk0\n")
    assert combine_data_dirs.main(["--dest", str(tmp_path / "pool"), f"so={a}"]) == 1
    assert "no speaker for 3 utterance(s)" in capsys.readouterr().err
