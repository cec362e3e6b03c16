"""dcsep-stats: an --out that cannot be written and data with no active frames are one-line errors
before any work; silent utterances and constant bins are warned about (issue 20, items 12 and 14)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from conftest import TINY_MODEL, make_tiny_corpus
from dcsep.bin.stats import main


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("stats_cli")
    tr = make_tiny_corpus(root / "tr", num_utts=3, seconds=0.5, seed=2)
    cfg = root / "train.yaml"
    cfg.write_text(yaml.safe_dump(TINY_MODEL))
    return {"root": root, "tr": tr, "cfg": cfg}


def run(env, out, data=None):
    return main(["--data-dir", str(data or env["tr"]), "--config", str(env["cfg"]), "--out", str(out)])


def error_line(err: str) -> str:
    (line,) = [ln for ln in err.splitlines() if ln.startswith("dcsep-stats: error:")]
    return line


def silent_copy(env, tmp_path, which) -> "Path":  # noqa: F821
    d = make_tiny_corpus(tmp_path / "d", num_utts=3, seconds=0.5, seed=2)
    for i in which:
        sf.write(d / "wav" / f"utt{i:03d}_wav.wav", np.zeros(4000, np.float32), 8000, subtype="FLOAT")
    return d


@pytest.mark.parametrize("case", ["parent_is_file", "out_is_dir"])
def test_out_that_cannot_be_written(env, tmp_path, capsys, case):
    if case == "parent_is_file":
        (tmp_path / "file").write_text("x")
        out, message = tmp_path / "file" / "a.pt", "a.pt: " + str(tmp_path / "file") + " is a file, not a directory; choose another --out"
    else:
        out, message = tmp_path, "a directory; give a file name"
    assert run(env, out) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "File exists" not in err
    assert message in error_line(err)


def test_all_silent_data_is_refused(env, tmp_path, capsys):
    d = silent_copy(env, tmp_path, range(3))
    out = tmp_path / "st.pt"
    assert run(env, out, d) == 1
    line = error_line(capsys.readouterr().err)
    assert "all 3 utterances are silent" in line and "no active frames" in line and "wav.scp" in line
    assert not out.exists()


def test_some_silent_utterances_are_warned_about(env, tmp_path, capsys):
    d = silent_copy(env, tmp_path, [1])
    out = tmp_path / "st.pt"
    assert run(env, out, d) == 0
    err = capsys.readouterr().err
    assert "warning: 1 of 3 utterances" in err and "utt001" in err
    st = torch.load(out, weights_only=True)
    assert torch.isfinite(st["std"]).all() and st["num_utts"] == 3
