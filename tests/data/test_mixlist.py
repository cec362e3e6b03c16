"""Tests of dcsep.data.mixlist: the one mix-list format of every corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dcsep.data.mixlist import (
    MixLine,
    draw_speaker_tuples,
    format_gain,
    list_name,
    mixture_name,
    read_mix_list,
    write_mix_list,
)
from dcsep.errors import DataError

REPO = Path(__file__).resolve().parents[2]
COMMITTED = sorted((REPO / "egs").glob("*/local/mix_lists/*/mix_*_spk_*.txt"))
WSJ0_LISTS = Path(__file__).parent / "fixtures" / "wsj0_mix_lists"


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(REPO / "egs")))
def test_committed_lists_are_written_back_byte_identical(path, tmp_path):
    lines = read_mix_list(path)
    write_mix_list(tmp_path / path.name, lines)
    assert (tmp_path / path.name).read_bytes() == path.read_bytes()
    # the gains are those format_gain writes: a list drawn again is the same list
    again = [MixLine(m.paths, tuple(format_gain(g) for g in m.gains_db)) for m in lines]
    assert again == lines


def test_committed_lists_exist():
    assert len(COMMITTED) >= 12  # speechocean762 tiny and full


def test_format_gain():
    assert [format_gain(g) for g in (1.23456, -0.00004, 0.0, -2.5)] == ["1.2346", "0.0000", "0.0000", "-2.5000"]
    assert [format_gain(g, compact=True) for g in (1.2346, -0.00004, 0.0, -2.5, 0.1)] == ["1.2346", "0", "0", "-2.5", "0.1"]


def test_compact_gains_spell_ids_as_five_significant_digits():
    # the ids of the built-in corpus were spelled with f"{g:.5g}"; for gains of four decimals
    # below 10 dB in magnitude the compact form is the same string
    def g5(g: float) -> str:
        s = f"{g:.5g}"
        return "0" if s in ("0", "-0") else s

    for k in range(-99999, 100000, 7):
        g = float(np.round(k / 1e4, 4))
        assert format_gain(g, compact=True) == g5(g), g


def test_names_and_list_names():
    m = MixLine(("wsj0/si_tr_s/01t/01to030v.wav", "a\\b\\20ga010m.wv1"), ("0.76421", "-0.76421"))
    assert m.utt_ids == ("01to030v", "20ga010m")
    assert m.name == "01to030v_0.76421_20ga010m_-0.76421" == mixture_name(m.utt_ids, m.gains)
    assert m.rels == m.paths and m.gains_db == (0.76421, -0.76421)
    assert list_name(2, "tr") == "mix_2_spk_tr.txt" and list_name(3, "tt_closed") == "mix_3_spk_tt_closed.txt"


def test_read_mix_list_keeps_gains_as_written_and_line_numbers():
    lines = read_mix_list(WSJ0_LISTS / "mix_3_spk_cv.txt", 3)
    assert lines[0].name == "408c020t_0.33724_015c021d_-0.33724_208a010p_0"
    assert lines[0].line == 1


def test_read_mix_list_errors(tmp_path):
    p = tmp_path / "l.txt"
    p.write_text("a.WAV 1.0 b.WAV\n")
    with pytest.raises(DataError, match=r"l.txt:1: expected 'path1 gain1 path2 gain2"):
        read_mix_list(p)
    p.write_text("a.WAV 1.0 b.WAV x\n")
    with pytest.raises(DataError, match=r"l.txt:1: gain 'x' is not a number"):
        read_mix_list(p)
    p.write_text("a.WAV 1.0 b.WAV inf\n")
    with pytest.raises(DataError, match=r"l.txt:1: gain 'inf' is not finite"):
        read_mix_list(p)
    with pytest.raises(DataError, match=r"l.txt:1: expected 6 fields"):
        read_mix_list(p, num_spk=3)
    p.write_text("\n")
    with pytest.raises(DataError, match="empty mix list"):
        read_mix_list(p)
    with pytest.raises(DataError, match="mix list not found"):
        read_mix_list(tmp_path / "none.txt")


def test_draw_speaker_tuples_distinct_speakers_and_tuples():
    by_spk = {s: [f"{s}{k}" for k in range(3)] for s in "abcd"}
    rng = np.random.default_rng(0)
    tuples = list(draw_speaker_tuples(by_spk, 2, 30, rng, str, lambda: DataError("too few")))
    assert len(tuples) == 30 and len({tuple(sorted(t)) for t in tuples}) == 30
    assert all(t[0][0] != t[1][0] for t in tuples)
    again = list(draw_speaker_tuples(by_spk, 2, 30, np.random.default_rng(0), str, lambda: DataError("too few")))
    assert again == tuples
    with pytest.raises(DataError, match="too few"):  # 2 speakers x 1 item: one distinct pair only
        list(draw_speaker_tuples({"a": ["a1"], "b": ["b1"]}, 2, 2, rng, str, lambda: DataError("too few")))
