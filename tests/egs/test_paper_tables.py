"""egs/tts_mix/local/paper_tables.py: the paper's tables from scored decode dirs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from dcsep.errors import DcsepError

SCRIPT = Path(__file__).resolve().parents[2] / "egs" / "tts_mix" / "local" / "paper_tables.py"


@pytest.fixture(scope="module")
def pt():
    spec = importlib.util.spec_from_file_location("paper_tables", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _stats(sdri: float, count: int) -> dict:
    return {
        "count": count,
        "SDRi": {"mean": sdri, "median": sdri},
        "SI-SDRi": {"mean": sdri - 0.5, "median": sdri - 0.5},
        "SDR_mix": {"mean": 0.2, "median": 0.2},
    }


PAIRS = {"a": ("f1", "f2"), "b": ("m1", "f1"), "c": ("m1", "m2")}  # utt -> speakers; f+f, f+m, m+m


def _scored(exp: Path, test_set: str, method: str, sdri: float, groups: dict | None = None) -> None:
    d = exp / "decode" / test_set / method
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps({"overall": _stats(sdri, 6), "breakdown": {}}))
    if groups:  # per utterance: SDRi = the group's value, SI-SDRi 0.5 dB lower
        by_utt = {"a": groups["f+f"], "b": groups["f+m"], "c": groups["m+m"]}
        rows = ["utt\tSDRi\tSI-SDRi\tperm"] + [f"{u}\t{v}\t{v - 0.5}\t1,2" for u, v in by_utt.items()]
        (d / "scores.tsv").write_text("\n".join(rows) + "\n")


def _data(root: Path) -> Path:
    (root / "local").mkdir(parents=True)
    (root / "local" / "spk2gender").write_text("f1 f\nf2 f\nm1 m\nm2 m\n")
    for s in ("tt_closed_2spk", "tt_2spk"):
        (root / s).mkdir()
        (root / s / "utt2spks").write_text("".join(f"{u} {' '.join(p)}\n" for u, p in PAIRS.items()))
    return root


def _logs(exp: Path) -> None:
    (exp / "logs").mkdir(parents=True, exist_ok=True)
    (exp / "logs" / "stage4_decode_tt_2spk_kmeans.log").write_text(
        "# started 2026-01-01 10:00:00\n# x\nsome output\n# finished 2026-01-01 10:06:00\n"
    )


def test_tables_from_exp_dirs(pt, tmp_path):
    root = tmp_path / "exp"
    k40 = root / "dc_tables_k40"
    for s in ("tt_closed_2spk", "tt_2spk"):
        for m, v in (("oracle_kmeans", 4.0), ("kmeans", 3.0), ("ibm", 12.0), ("irm", 11.0)):
            _scored(k40, s, m, v, {"f+f": v - 1, "f+m": v + 1, "m+m": v - 2})
    _scored(k40, "tt_3spk", "kmeans", 1.25)
    _scored(root / "dc_tables_k5", "tt_2spk", "kmeans", -0.5)
    _logs(k40)
    (k40 / "train_summary.json").write_text(
        json.dumps({"epochs": 3, "steps": 186, "best_valid_loss": 0.25, "train_hours": 0.1, "train_dir": "data/tables/tr_2spk"})
    )
    out = tmp_path / "results.md"
    out.write_text("# Results\n\nintro\n\n<!-- tables -->\nold\n<!-- /tables -->\n\n## Discussion\n\nkept\n")
    assert pt.main(["--exp-root", str(root), "--data-dir", str(_data(tmp_path / "data")), "--out", str(out)]) == 0
    text = out.read_text()
    assert "old" not in text and text.startswith("# Results\n\nintro") and text.endswith("## Discussion\n\nkept\n")
    row = next(line for line in text.splitlines() if line.startswith("| DC global k-means | 3.00"))
    assert row == "| DC global k-means | 3.00 | 2.50 | 3.00 | 2.50 | 5.87 / 5.81 |"
    assert "| DC global spectral | - | - | - | - | - |" in text  # not run
    assert "| K = 5 | - | - | -0.50 | -1.00 | - | -0.74 / -1.07 |" in text
    assert "| ideal binary mask (IBM) | 10.00 / 9.50 | 11.00 / 10.50 | 13.00 / 12.50 | 12.00 / 11.50 |" in text
    assert "| m+m (1) | f+f (1) | f+m (1) | all (6) |" in text  # genders from utt2spks + local/spk2gender
    assert "| 2 speakers | DC global k-means | - | - | 1.25 | 0.75 | 2.74 / 2.22 |" in text
    assert "| 3 | 186 | 0.2500 | 6.0 | 6.0 |" in text  # epochs, steps, loss, training and decoding minutes


def test_new_file_and_missing_markers(pt, tmp_path):
    root = tmp_path / "exp"
    root.mkdir()
    out = tmp_path / "results.md"
    assert pt.main(["--exp-root", str(root), "--out", str(out)]) == 0
    assert "<!-- tables -->" in out.read_text() and "### Table 4" in out.read_text()
    out.write_text("no markers here\n")
    assert pt.main(["--exp-root", str(root), "--out", str(out)]) == 1
    assert out.read_text() == "no markers here\n"
    with pytest.raises(DcsepError, match="markers"):
        pt.write(out, "x")
