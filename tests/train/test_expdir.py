"""The exp dir's layout and the files written there besides checkpoints, on their own."""

from __future__ import annotations

import yaml

from dcsep.train.expdir import ExpDir


def test_layout_create_and_config(tmp_path):
    exp = ExpDir(tmp_path / "exp")
    assert exp.ckpt_path == tmp_path / "exp" / "checkpoints" / "checkpoint.pt"
    exp.create()
    exp.create()  # again: nothing to do
    assert exp.ckpt_dir.is_dir()
    exp.write_config({"seed": 3}, tmp_path / "tr", tmp_path / "cv")
    text = (tmp_path / "exp" / "config.yaml").read_text()
    assert text.startswith("# resolved training config") and yaml.safe_load(text) == {"seed": 3}
    assert f"# train_dir: {tmp_path / 'tr'}" in text


def test_remove_stale(tmp_path):
    from dcsep.utils import TMP_SUFFIX

    exp = ExpDir(tmp_path / "exp")
    exp.create()
    (exp.path / "model.pt").write_text("kept")
    for d in (exp.path, exp.ckpt_dir):  # what a write cut short by a kill leaves
        (d / f".checkpoint.pt.123{TMP_SUFFIX}").write_text("half")
    assert exp.remove_stale() == 2
    assert sorted(p.name for p in exp.path.rglob("*") if p.is_file()) == ["model.pt"]


def test_create_names_a_file_in_the_way(tmp_path):
    import pytest

    from dcsep.errors import ConfigError

    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match=r"--exp-dir .*/f/exp: .*/f is a file, not a directory"):
        ExpDir(tmp_path / "f" / "exp").create()
