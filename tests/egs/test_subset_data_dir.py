"""tools/subset_data_dir.py: the fixed test subsets of ``--test_max_utts``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "subset_data_dir.py"
spec = importlib.util.spec_from_file_location("subset_data_dir", TOOL)
subset_data_dir = importlib.util.module_from_spec(spec)
spec.loader.exec_module(subset_data_dir)


def make_dir(root: Path, n: int = 10) -> Path:
    root.mkdir(parents=True)
    ids = [f"s{i % 3}_u{i:02d}" for i in range(n)][::-1]  # not in sorted order in the file
    (root / "wav.scp").write_text("".join(f"{u} /audio/{u} mix.wav\n" for u in ids))
    (root / "spk1.scp").write_text("".join(f"{u} /audio/{u}_1.wav\n" for u in ids))
    (root / "utt2gender").write_text("".join(f"{u} f+m\n" for u in ids))
    (root / "utt2spk").write_text("".join(f"{u} {u[:2]}\n" for u in ids))
    spk2utt = {}
    for u in sorted(ids):
        spk2utt.setdefault(u[:2], []).append(u)
    (root / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in spk2utt.items()))
    (root / "spk2gender").write_text("s0 f\ns1 m\ns2 f\n")
    (root / ".done").write_text("x\n")
    return root


@pytest.mark.parametrize("m, n, want", [(10, 4, [0, 3, 6, 9]), (6, 5, [0, 1, 3, 4, 5]), (5, 1, [0]), (3, 7, [0, 1, 2])])
def test_chosen_ids_evenly_spaced(m, n, want):
    ids = [f"u{i}" for i in range(m)]
    assert subset_data_dir.chosen_ids(ids[::-1], n) == [ids[i] for i in want]


def test_subset_dir(tmp_path, capsys):
    src = make_dir(tmp_path / "tt")
    dest = tmp_path / "tt_sub4"
    assert subset_data_dir.main(["--src", str(src), "--dest", str(dest), "--num", "4"]) == 0
    assert "4 of the 10 utterances" in capsys.readouterr().out
    keep = subset_data_dir.chosen_ids([ln.split()[0] for ln in (src / "wav.scp").read_text().splitlines()], 4)
    assert sorted(p.name for p in dest.iterdir()) == ["spk1.scp", "spk2gender", "spk2utt", "utt2gender", "utt2spk", "wav.scp"]
    for name in ("wav.scp", "spk1.scp", "utt2gender", "utt2spk"):
        lines = (dest / name).read_text().splitlines()
        assert sorted(ln.split()[0] for ln in lines) == keep
        assert all(ln in (src / name).read_text().splitlines() for ln in lines)  # values (with spaces) kept
    spk2utt = {ln.split()[0]: ln.split()[1:] for ln in (dest / "spk2utt").read_text().splitlines()}
    assert sorted(u for us in spk2utt.values() for u in us) == keep and all(spk2utt.values())
    assert (dest / "spk2gender").read_text() == (src / "spk2gender").read_text()

    # again with another size: replaced whole, nothing left beside it
    assert subset_data_dir.main(["--src", str(src), "--dest", str(dest), "--num", "2"]) == 0
    assert len((dest / "wav.scp").read_text().splitlines()) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tt", "tt_sub4"]


def test_errors(tmp_path, capsys):
    assert subset_data_dir.main(["--src", str(tmp_path), "--dest", str(tmp_path / "d"), "--num", "0"]) == 1
    assert "--num must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="wav.scp: file not found"):
        subset_data_dir.main(["--src", str(tmp_path / "nope"), "--dest", str(tmp_path / "d"), "--num", "3"])
    assert not (tmp_path / "d").exists()
