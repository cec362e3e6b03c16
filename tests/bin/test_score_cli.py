"""dcsep-score from the command line: values equal the metrics (and mir_eval), --nj 2,
breakdown by utt2category, the mixture baseline, re-runs, and one-line errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import make_tiny_corpus
from dcsep.bin.score import BASE_COLUMNS, main
from dcsep.metrics import score_utterance

FS = 8000
UTTS = [f"utt{i:03d}" for i in range(4)]
CATEGORY = {"utt000": "same", "utt001": "diff", "utt002": "same", "utt003": "diff"}


def read(path) -> np.ndarray:
    return sf.read(path, dtype="float32")[0]


def scp(path: Path) -> dict[str, str]:
    return dict(line.split(maxsplit=1) for line in path.read_text().splitlines() if line.strip())


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """References, and estimates: each source with some of the other leaking in, in swapped order for two utts."""
    root = tmp_path_factory.mktemp("score_cli")
    tt = make_tiny_corpus(root / "tt", num_utts=len(UTTS), seconds=0.5, seed=4)
    (tt / "utt2category").write_text("".join(f"{u} {c}\n" for u, c in CATEGORY.items()))
    est = root / "est"
    (est / "wav").mkdir(parents=True)
    rng = np.random.default_rng(0)
    lists: dict[int, list[str]] = {1: [], 2: []}
    for i, utt in enumerate(UTTS):
        s = np.stack([read(scp(tt / f"spk{c}.scp")[utt]) for c in (1, 2)])
        e = s + rng.uniform(0.1, 0.5) * s[::-1] + 0.01 * rng.standard_normal(s.shape).astype(np.float32)
        if i % 2:
            e = e[::-1]
        for c in (1, 2):
            p = est / "wav" / f"{utt}-spk{c}.wav"
            sf.write(p, e[c - 1], FS, subtype="FLOAT")
            lists[c].append(f"{utt} {p}\n")
    for c in (1, 2):
        (est / f"spk{c}.scp").write_text("".join(lists[c]))
    return {"root": root, "tt": tt, "est": est}


def copy_est(env, dst: Path) -> Path:
    dst.mkdir()
    for c in (1, 2):
        (dst / f"spk{c}.scp").write_text((env["est"] / f"spk{c}.scp").read_text())
    return dst


def tsv(path: Path) -> dict[str, dict]:
    lines = path.read_text().splitlines()
    cols = lines[0].split("\t")
    return {f[0]: dict(zip(cols[1:], f[1:])) for f in (ln.split("\t") for ln in lines[1:])}


def expected(env, utt: str, backend: str = "fast") -> dict:
    refs = np.stack([read(scp(env["tt"] / f"spk{c}.scp")[utt]) for c in (1, 2)])
    ests = np.stack([read(scp(env["est"] / f"spk{c}.scp")[utt]) for c in (1, 2)])
    return score_utterance(refs, ests, read(scp(env["tt"] / "wav.scp")[utt]), backend=backend)


def test_scores_tsv_equals_metrics_and_mir_eval(env, tmp_path):
    est = copy_est(env, tmp_path / "est")
    assert main(["--ref", str(env["tt"]), "--est", str(est), "--no-extra-metrics"]) == 0
    rows = tsv(est / "scores.tsv")
    assert list(rows) == UTTS
    assert list(next(iter(rows.values()))) == [*BASE_COLUMNS, "perm"]
    for i, utt in enumerate(UTTS):
        exp = expected(env, utt)
        for col in BASE_COLUMNS:
            assert float(rows[utt][col]) == pytest.approx(exp[col], abs=1e-4), (utt, col)
        assert rows[utt]["perm"] == ("2,1" if i % 2 else "1,2")  # the swapped estimates are put back in order
        assert float(rows[utt]["SDRi"]) > 3 and float(rows[utt]["SI-SDRi"]) > 3
    # the same numbers as mir_eval's bss_eval_sources (to 0.01 dB), on one utterance
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ref = expected(env, "utt001", backend="mir_eval")
    for col in ("SDR", "SIR", "SAR", "SDRi", "SIRi"):
        assert float(rows["utt001"][col]) == pytest.approx(ref[col], abs=0.01), col
    summary = json.loads((est / "summary.json").read_text())
    for col in ("SDR", "SI-SDRi"):
        vals = [float(r[col]) for r in rows.values()]
        assert summary["overall"][col]["mean"] == pytest.approx(np.mean(vals), abs=1e-6)
        assert summary["overall"][col]["median"] == pytest.approx(np.median(vals), abs=1e-6)
    assert summary["overall"]["count"] == len(UTTS) and summary["failed"] == {}


def test_nj2_and_breakdown_by_category(env, tmp_path, capsys):
    one, two = copy_est(env, tmp_path / "one"), copy_est(env, tmp_path / "two")
    assert main(["--ref", str(env["tt"]), "--est", str(one), "--no-extra-metrics"]) == 0
    assert main(["--ref", str(env["tt"]), "--est", str(two), "--no-extra-metrics", "--nj", "2", "--name", "nj2"]) == 0
    assert (one / "scores.tsv").read_text() == (two / "scores.tsv").read_text()  # same rows, reference order
    summary = json.loads((two / "summary.json").read_text())
    rows = tsv(two / "scores.tsv")
    groups = summary["breakdown"]["utt2category"]
    assert sorted(groups) == ["diff", "same"]
    for cat, st in groups.items():
        mine = [float(r["SDRi"]) for u, r in rows.items() if CATEGORY[u] == cat]
        assert st["count"] == 2 and st["SDRi"]["mean"] == pytest.approx(np.mean(mine), abs=1e-6)
    md = (two / "RESULTS.md").read_text()
    assert md.startswith("## nj2\n")
    assert "### By utt2category (means)" in md
    table = md[md.index("### By utt2category") :].splitlines()
    assert table[2].startswith("| category | count | SDRi | SI-SDRi |")
    same = next(ln for ln in table if ln.startswith("| same |")).split("|")
    assert same[2].strip() == "2" and float(same[3]) == pytest.approx(groups["same"]["SDRi"]["mean"], abs=0.006)
    overall = next(ln for ln in md.splitlines() if ln.startswith("| SDR |")).split("|")
    assert float(overall[2]) == pytest.approx(summary["overall"]["SDR"]["mean"], abs=0.006)
    # re-running scores nothing again; --overwrite rescores all
    capsys.readouterr()
    assert main(["--ref", str(env["tt"]), "--est", str(two), "--no-extra-metrics"]) == 0
    assert "4 already scored, 0 to score" in capsys.readouterr().err
    assert main(["--ref", str(env["tt"]), "--est", str(two), "--no-extra-metrics", "--overwrite"]) == 0
    assert "0 already scored, 4 to score" in capsys.readouterr().err


def test_mixture_baseline_improves_by_nothing(env, tmp_path):
    out = tmp_path / "mix"
    assert main(["--ref", str(env["tt"]), "--est", str(out), "--mixture-baseline", "--no-extra-metrics"]) == 0
    rows = tsv(out / "scores.tsv")
    assert list(rows) == UTTS
    for r in rows.values():
        assert float(r["SDRi"]) == pytest.approx(0, abs=1e-3) and float(r["SI-SDRi"]) == pytest.approx(0, abs=1e-3)
        assert float(r["SDR"]) == pytest.approx(float(r["SDR_mix"]), abs=1e-3)
    assert "(mixture, no processing)" in (out / "RESULTS.md").read_text().splitlines()[0]


def test_missing_estimates_are_reported_and_the_rest_scored(env, tmp_path, capsys):
    est = copy_est(env, tmp_path / "est")
    for c in (1, 2):  # utt002 was not separated
        lines = [ln for ln in (est / f"spk{c}.scp").read_text().splitlines() if not ln.startswith("utt002")]
        (est / f"spk{c}.scp").write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["--ref", str(env["tt"]), "--est", str(est), "--no-extra-metrics"]) == 1
    err = capsys.readouterr().err
    assert "dcsep-score: error: utt002: no estimate" in err and "Traceback" not in err
    assert list(tsv(est / "scores.tsv")) == ["utt000", "utt001", "utt003"]
    assert list(json.loads((est / "summary.json").read_text())["failed"]) == ["utt002"]


@pytest.mark.parametrize(
    "setup, argv, message",
    [
        ("empty", [], "no spk1.scp"),
        ("one_list", [], "1 estimate lists"),
        ("copy", ["--breakdown", "utt2nothing"], "utt2nothing: breakdown file not found"),
        ("copy", ["--breakdown", "gender"], "expected a file name like utt2gender"),
        ("copy", ["--nj", "0"], "--nj"),
        ("missing", [], "estimate dir not found"),
    ],
)
def test_errors_are_one_line(env, tmp_path, capsys, setup, argv, message):
    est = tmp_path / "est"
    if setup == "empty":
        est.mkdir()
    elif setup == "one_list":
        est.mkdir()
        (est / "spk1.scp").write_text((env["est"] / "spk1.scp").read_text())
    elif setup == "copy":
        copy_est(env, est)
    assert main(["--ref", str(env["tt"]), "--est", str(est), *argv]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("dcsep-score: error:")]
    assert len(err) == 1 and message in err[0], err
    assert not (est / "scores.tsv").exists()


def test_summary_skips_nan_values_of_optional_metrics():
    from dcsep.bin.score import summarize

    rows = [{"utt": "a", "SDR": 1.0, "PESQ": 2.0}, {"utt": "b", "SDR": 3.0, "PESQ": float("nan")}]
    s = summarize(rows, ["SDR", "PESQ"], {"utt2category": {"a": "x", "b": "x"}})
    assert s["overall"]["SDR"]["mean"] == 2.0 and s["overall"]["PESQ"]["mean"] == 2.0
    assert s["breakdown"]["utt2category"]["x"]["PESQ"]["median"] == 2.0


def test_changed_estimates_are_rescored(env, tmp_path, capsys):
    """Issue 20 item 1: a row is kept only while its estimate, mixture and reference files are unchanged."""
    est = tmp_path / "est"
    (est / "wav").mkdir(parents=True)
    for c in (1, 2):
        lines = []
        for utt, path in scp(env["est"] / f"spk{c}.scp").items():
            dst = est / "wav" / Path(path).name
            dst.write_bytes(Path(path).read_bytes())
            lines.append(f"{utt} {dst}\n")
        (est / f"spk{c}.scp").write_text("".join(lines))
    argv = ["--ref", str(env["tt"]), "--est", str(est), "--no-extra-metrics"]
    assert main(argv) == 0
    first = tsv(est / "scores.tsv")
    # new estimates for utt001 (the references themselves: a perfect separation)
    for c in (1, 2):
        sf.write(est / "wav" / f"utt001-spk{c}.wav", read(scp(env["tt"] / f"spk{c}.scp")["utt001"]), FS, subtype="FLOAT")
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "3 already scored, 1 to score" in err and "have changed" in err
    second = tsv(est / "scores.tsv")
    assert {u: r for u, r in second.items() if u != "utt001"} == {u: r for u, r in first.items() if u != "utt001"}
    assert float(second["utt001"]["SI-SDR"]) > float(first["utt001"]["SI-SDR"]) + 10
    # another backend changes the values: every row again
    assert main([*argv, "--backend", "mir_eval"]) == 0
    assert "0 already scored, 4 to score" in capsys.readouterr().err
    assert main([*argv, "--backend", "mir_eval"]) == 0
    assert "4 already scored, 0 to score" in capsys.readouterr().err


def test_no_sar_improvement_column(env, tmp_path):
    """Issue 20 item 16: no SARi (the mixture's SAR is at the cap); SAR of the estimates is kept."""
    est = copy_est(env, tmp_path / "est")
    assert main(["--ref", str(env["tt"]), "--est", str(est), "--no-extra-metrics"]) == 0
    cols = (est / "scores.tsv").read_text().splitlines()[0].split("\t")
    assert "SARi" not in cols and "SAR" in cols and "SARi" not in BASE_COLUMNS
    assert "SARi" not in json.loads((est / "summary.json").read_text())["overall"]


def test_est_file_and_locked_dir_are_one_line(env, tmp_path, capsys):
    """Issue 20 items 12 and 2: --est naming a file; a second dcsep-score on a dir being written."""
    from dcsep.bin.outdir import DirLock

    (tmp_path / "afile").write_text("x")
    assert main(["--ref", str(env["tt"]), "--est", str(tmp_path / "afile")]) == 1
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]
    assert "afile: a file, not a directory (give the decode dir" in line
    est = copy_est(env, tmp_path / "est")
    with DirLock(est, "dcsep-score", "--est"):
        assert main(["--ref", str(env["tt"]), "--est", str(est)]) == 1
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]
    assert "another dcsep-score" in line and "is writing into this directory" in line
    assert not (est / "scores.tsv").exists()


def test_error_lines_name_the_utterance_once(env, tmp_path, capsys):
    """Issue 20 item 15: 'dcsep-score: error: utt001: estimate 1 (<path>): ...', the id once."""
    est = copy_est(env, tmp_path / "est")
    lines = (est / "spk1.scp").read_text().replace(scp(est / "spk1.scp")["utt001"], str(tmp_path / "gone.wav"))
    (est / "spk1.scp").write_text(lines)
    assert main(["--ref", str(env["tt"]), "--est", str(est), "--no-extra-metrics"]) == 1
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("dcsep-score: error:")]
    assert line == f"dcsep-score: error: utt001: estimate 1 ({tmp_path / 'gone.wav'}): file not found"


def test_miscounted_utterances_fail_alone(env, tmp_path, capsys):
    """A decode dir with utt2num_spk (--num-spk auto): an utterance given another count than its references
    is a per-utterance error; the others are scored."""
    est = copy_est(env, tmp_path / "est")
    (est / "spk3.scp").write_text(f"utt002 {scp(est / 'spk1.scp')['utt002']}\n")
    (est / "utt2num_spk").write_text("".join(f"{u} {3 if u == 'utt002' else 2}\n" for u in UTTS))
    assert main(["--ref", str(env["tt"]), "--est", str(est), "--no-extra-metrics"]) == 1
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("dcsep-score: error:")]
    assert line == "dcsep-score: error: utt002: 3 estimated sources (utt2num_spk), the references have 2"
    assert list(tsv(est / "scores.tsv")) == ["utt000", "utt001", "utt003"]
