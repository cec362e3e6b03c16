"""RESULTS.md assembly from decode dirs' summary.json files."""

from __future__ import annotations

import json
import math

import pytest

from dcsep import results
from dcsep.errors import DataError


def summary(sdri: float, count: int = 10, breakdown: dict | None = None) -> dict:
    def st(v):
        return {"mean": v, "median": v}

    overall = {"count": count, "SDRi": st(sdri), "SI-SDRi": st(sdri - 0.5), "SIRi": st(sdri + 5), "SAR": st(9.0),
               "SDR_mix": st(0.2), "SARi": st(-60.0)}  # fmt: skip
    return {"overall": overall, "breakdown": breakdown or {}}


def write(exp, test_set, method, data):
    d = exp / "decode" / test_set / method
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps(data))


def test_tables(tmp_path):
    exp = tmp_path / "exp" / "dc"
    cat = {"utt2category": {"low-high": {"count": 6, "SDRi": {"mean": 9.0}}, "low-low": {"count": 4, "SDRi": {"mean": 2.0}}}}
    write(exp, "tt_2spk", "kmeans", summary(5.81, breakdown=cat))
    write(exp, "tt_2spk", "ibm", summary(13.0))
    write(exp, "tt_closed_2spk", "kmeans", summary(5.87))
    write(exp, "tt_closed_2spk", "oracle_kmeans", summary(6.54))
    write(exp, "tt_closed_2spk", "ibm", summary(13.1))
    write(exp, "tt_3spk", "kmeans", summary(2.2, count=5))
    d = exp / "decode" / "tt_3spk" / "kmeans"
    d2 = d.parent / "irm"
    d2.mkdir()
    (d2 / "summary.json").write_text(json.dumps({"overall": {"count": 5, "SDRi": {"mean": None}}}))

    text = results.write_results(exp, title="Results: demo")
    assert (exp / "RESULTS.md").read_text() == text
    lines = text.splitlines()
    assert lines[0] == "# Results: demo"
    # one table per set, closed before open, 2 before 3 speakers
    heads = [l for l in lines if l.startswith("## ")]
    assert heads[:3] == [
        "## 2 speakers, closed speaker set (tt_closed_2spk): 10 mixtures",
        "## 2 speakers, open speaker set (tt_2spk): 10 mixtures",
        "## 3 speakers, open speaker set (tt_3spk): 5 mixtures",
    ]
    assert "| method | SI-SDRi | SDRi | SIRi | SAR | input SDR |" in lines
    assert "| DC, global k-means | 5.31 | 5.81 | 10.81 | 9.00 | 0.20 |" in lines
    # rows: DC methods first, oracle masks last
    i = lines.index("## 2 speakers, closed speaker set (tt_closed_2spk): 10 mixtures")
    rows = [l.split("|")[1].strip() for l in lines[i + 4 : i + 7]]
    assert rows == ["DC, global k-means", "DC, oracle k-means", "ideal binary mask (IBM)"]
    assert "| ideal ratio mask (IRM) | n/a | n/a | n/a | n/a | n/a |" in lines
    # closed vs open side by side, and the breakdown
    assert "| DC, global k-means | 5.87 | 5.81 |" in lines
    assert "| DC, oracle k-means | 6.54 | - |" in lines
    assert "| DC, global k-means | 9.00 | 2.00 |" in lines
    assert any(l.startswith("| method | low-high (6) | low-low (4) |") for l in lines)
    # each method's SI-SDRi against the IBM's (5.31 / 12.5, 5.37 / 12.6 and 6.04 / 12.6)
    assert "SI-SDRi as a share of the IBM's: DC, global k-means 42%." in lines
    assert "SI-SDRi as a share of the IBM's: DC, global k-means 43%, DC, oracle k-means 48%." in lines
    # no share without an IBM figure (tt_3spk has only k-means and an empty IRM)
    assert sum(l.startswith("SI-SDRi as a share") for l in lines) == 2


def test_set_labels():
    assert results.set_label("tt") == "open speaker set (tt)"
    assert results.set_label("cv", 2) == "2 speakers, closed speaker set (cv)"
    assert results.set_label("tt_closed_3spk") == "3 speakers, closed speaker set (tt_closed_3spk)"
    assert results.set_label("mine") == "mine"


def test_errors_and_cli(tmp_path, capsys):
    with pytest.raises(DataError, match="not found"):
        results.collect(tmp_path / "nope")
    exp = tmp_path / "e"
    write(exp, "tt", "kmeans", {"no": "overall"})
    assert results.main([str(exp)]) == 1
    assert "not a dcsep-score summary" in capsys.readouterr().err
    exp2 = tmp_path / "e2"
    exp2.mkdir()
    assert results.main([str(exp2), "--out", str(tmp_path / "R.md")]) == 0
    assert "No scored decode dirs" in (tmp_path / "R.md").read_text()
    assert math.isnan(results.Entry("t", "m", tmp_path, {"overall": {}}).mean("SDRi"))


def test_only_some_test_sets(tmp_path, capsys):
    exp = tmp_path / "exp"
    for s in ("tt", "tt_closed", "tt_sub5", "tt_closed_sub5"):
        write(exp, s, "kmeans", summary(5.0, count=5 if "sub" in s else 10))
    text = results.write_results(exp, test_sets=["tt_sub5", "tt_closed_sub5"])
    heads = [l for l in text.splitlines() if l.startswith("## ")]
    assert heads == ["## closed speaker set (tt_closed_sub5): 5 mixtures", "## open speaker set (tt_sub5): 5 mixtures"]
    assert results.main([str(exp), "--test-sets", "tt tt_3spk", "--quiet"]) == 1
    assert "no scored decode dir of test set(s) tt_3spk" in capsys.readouterr().err
