"""tools/combine_data_dirs.py: a training pool of several corpora's single-speaker dirs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dcsep.data.datadir import read_scp
from dcsep.data.dynamic_mix import DynamicMixDataset

TOOL = Path(__file__).resolve().parents[2] / "tools" / "combine_data_dirs.py"
spec = importlib.util.spec_from_file_location("combine_data_dirs", TOOL)
combine_data_dirs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(combine_data_dirs)


def make_dir(root: Path, spks: list[str], levels: bool) -> Path:
    rng = np.random.default_rng(len(spks))
    (root / "wav").mkdir(parents=True)
    wav, u2s, lev = [], [], []
    for s in spks:
        for k in range(2):
            u = f"{s}_u{k}"  # both corpora use the same ids: the prefixes keep them apart
            p = root / "wav" / f"{u}.wav"
            sf.write(p, 0.1 * rng.standard_normal(4000), 8000, subtype="PCM_16")
            wav.append(f"{u} {p}\n")
            u2s.append(f"{u} {s}\n")
            lev.append(f"{u} 0.05\n")
    (root / "wav.scp").write_text("".join(wav))
    (root / "utt2spk").write_text("".join(u2s))
    if levels:
        (root / "utt2activlev").write_text("".join(lev))
    return root


def test_combined_pool_keeps_corpora_apart(tmp_path, capsys):
    a = make_dir(tmp_path / "a", ["s1", "s2"], levels=True)
    b = make_dir(tmp_path / "b", ["s1", "s2", "s3"], levels=False)
    dest = tmp_path / "pool"
    assert combine_data_dirs.main(["--dest", str(dest), f"so={a}", f"tts={b}"]) == 0
    assert "10 utterances of 5 speakers from 2 dirs" in capsys.readouterr().out
    wav, u2s = read_scp(dest / "wav.scp"), read_scp(dest / "utt2spk")
    assert wav["so-s1_u0"] == str(a / "wav" / "s1_u0.wav") and wav["tts-s1_u0"] == str(b / "wav" / "s1_u0.wav")
    assert u2s["so-s1_u1"] == "so-s1" and u2s["tts-s3_u0"] == "tts-s3"
    assert read_scp(dest / "spk2utt")["tts-s2"] == "tts-s2_u0 tts-s2_u1"
    assert sorted(read_scp(dest / "utt2activlev")) == [f"so-s{i}_u{k}" for i in (1, 2) for k in (0, 1)]
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
    a = make_dir(tmp_path / "a", ["s1", "s2"], levels=False)
    args = [x.replace("=A", f"={a}").replace("=B", f"={a}").replace("MISSING", str(tmp_path / "none")) for x in args]
    assert combine_data_dirs.main(["--dest", str(tmp_path / "pool"), *args]) == 1
    assert match in capsys.readouterr().err
    assert not (tmp_path / "pool").exists()


def test_an_utterance_without_speaker(tmp_path, capsys):
    a = make_dir(tmp_path / "a", ["s1", "s2"], levels=False)
    (a / "utt2spk").write_text("s1_u0 s1\n")
    assert combine_data_dirs.main(["--dest", str(tmp_path / "pool"), f"so={a}"]) == 1
    assert "no speaker for 3 utterance(s)" in capsys.readouterr().err
