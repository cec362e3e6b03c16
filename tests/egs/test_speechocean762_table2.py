"""egs/speechocean762/local/table2.py: the embedding-dimension table from scored decode dirs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[2] / "egs" / "speechocean762"


@pytest.fixture(scope="module")
def t2():
    spec = importlib.util.spec_from_file_location("table2", RECIPE / "local" / "table2.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _scored(exp: Path, test_set: str, method: str, sdri: float, count: int = 300) -> None:
    d = exp / "decode" / test_set / method
    d.mkdir(parents=True)
    stats = {"count": count, "SDRi": {"mean": sdri}, "SI-SDRi": {"mean": sdri - 1.0}}
    (d / "summary.json").write_text(json.dumps({"overall": stats, "breakdown": {}}))
    if method == "kmeans":  # three mixtures: SI-SDRi sdri - 1 + (-1, 0, +1) * spread
        spread = 2.0 if sdri < 3 else 1.0
        rows = [f"m{i}\t{sdri - 1.0 + (i - 1) * spread}" for i in range(3)]
        (d / "scores.tsv").write_text("utt\tSI-SDRi\n" + "\n".join(rows) + "\n")


def test_table_rows_cells_and_ceilings(t2, tmp_path, capsys):
    for model, base in (("k5", 1.0), ("k40", 5.0), ("k40_logistic", 4.0)):
        exp = tmp_path / f"dc_table2_{model}"
        for test_set, off in (("tt_closed_sub300", 0.5), ("tt_sub300", 0.0)):
            _scored(exp, test_set, "kmeans", base + off)
            _scored(exp, test_set, "oracle_kmeans", base + off - 0.25)
        (exp / "train_summary.json").write_text(json.dumps({"averaged_valid_loss": 0.2 + base / 100, "train_hours": 0.25}))
    k40 = tmp_path / "dc_table2_k40"
    _scored(k40, "tt_closed_sub300", "ibm", 14.0)
    _scored(k40, "tt_sub300", "ibm", 14.5)
    _scored(k40, "tt_sub300", "irm", 13.5)
    _scored(k40, "tt_3spk_sub300", "kmeans", 9.0)  # not a Table 2 set: left out
    out = tmp_path / "t" / "RESULTS.md"
    assert t2.main(["--exp-root", str(tmp_path), "--out", str(out)]) == 0
    text = out.read_text()
    assert text == capsys.readouterr().out
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
    # model | K | output | valid loss | closed oracle | closed global | open oracle | open global | paper
    assert rows["k5"].split(" | ")[1:8] == ["5", "tanh", "0.2100", "1.25 / 0.25", "1.50 / 0.50", "0.75 / -0.25", "1.00 / 0.00"]
    assert rows["k40"].split(" | ")[7] == "5.00 / 4.00" and rows["k40"].endswith("6.54 / 5.87 / 6.45 / 5.81 |")
    # paired SI-SDRi differences to k40 on the open set: k5's are -4 + (-1, 0, 1), mean -4, s.e. 1/sqrt(3)
    assert rows["k5"].split(" | ")[8] == "-4.00 ± 0.58" and rows["k40"].split(" | ")[8] == "-"
    assert rows["k40_logistic"].split(" | ")[8] == "-1.00 ± 0.00"
    assert rows["k40_logistic"].split(" | ")[1:3] == ["40", "logistic"]
    assert rows["ideal binary mask (IBM)"].split(" | ")[4:8] == ["14.00 / 13.00", "", "14.50 / 13.50", ""]
    assert rows["ideal ratio mask (IRM)"].split(" | ")[4:7] == ["- / -", "", "13.50 / 12.50"]
    assert "k10" not in rows and "9.00" not in text
    assert "open: tt_sub300 (300 mixtures)" in text and "Training: 0.75 h" in text


def test_no_results_is_a_clear_error(t2, tmp_path, capsys):
    assert t2.main(["--exp-root", str(tmp_path)]) == 1
    assert "no scored decode dirs" in capsys.readouterr().err


def test_configs_differ_only_in_k_and_activation():
    import yaml

    confs = {p.stem: yaml.safe_load(p.read_text()) for p in sorted((RECIPE / "conf" / "table2").glob("train_*.yaml"))}
    models = ("k5", "k10", "k20", "k40", "k60", "k40_logistic", "k40_logistic_long")
    assert sorted(confs) == sorted(f"train_{m}" for m in models)
    base = confs["train_k40"]
    for name, conf in confs.items():
        enc = conf["encoder_conf"]
        same = {**conf, "encoder_conf": {**enc, "embed_dim": 40, "activation": "tanh"}}
        if name.endswith("_long"):  # the longer run: twice the epochs
            assert same.pop("max_epochs") == 2 * base["max_epochs"]
            same["max_epochs"] = base["max_epochs"]
        assert same == base, name
        assert enc["embed_dim"] == int(name.split("_")[1][1:])
        assert enc["activation"] == ("sigmoid" if "logistic" in name else "tanh")


def test_script_reports_bad_input(tmp_path):
    """local/table2.sh: an unknown model, a missing start model and nothing to gather are clear errors."""
    import os
    import subprocess
    import sys

    from .corpora import copy_speechocean762_recipe

    dest = copy_speechocean762_recipe(tmp_path)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    def table2(*args):
        return subprocess.run(["bash", "local/table2.sh", *args], cwd=dest, env=env, capture_output=True, text=True,
                              timeout=120)

    res = table2("--models", "k5 k99")
    assert res.returncode != 0 and "no conf/table2/train_k99.yaml" in res.stderr
    res = table2("--models", "k5")
    assert res.returncode != 0 and "exp/dc_blstm_long/model.pt not found" in res.stderr
    assert not (dest / "exp" / "dc_table2_k5").exists()
    res = table2("--stage", "2")
    assert res.returncode != 0 and "no scored decode dirs" in res.stderr
