"""Broken scp lists and data dirs through the Python API."""

from __future__ import annotations

import re
import shutil

import pytest

from dcsep.data.datadir import DataDir, read_scp, write_scp
from dcsep.errors import DataError


def _one_line(msg: str) -> str:
    assert "\n" not in msg, msg
    return msg


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("utt1 /a.wav\nutt2\n", r":2: expected '<utt-id> <value>'"),
        ("utt1\n", r":1: expected '<utt-id> <value>'"),
        ("utt1 /a.wav\nutt1 /b.wav\n", r":2: duplicate utterance id 'utt1'"),
        ("", "empty list"),
        ("\n  \n\t\n", "empty list"),
    ],
    ids=["missing_value", "only_id", "duplicate_id", "empty", "blank_lines"],
)
def test_read_scp_errors_name_file_and_line(tmp_path, text, pattern):
    p = tmp_path / "wav.scp"
    p.write_text(text)
    with pytest.raises(DataError) as info:
        read_scp(p)
    msg = _one_line(str(info.value))
    assert str(p) in msg and re.search(pattern, msg), msg


def test_read_scp_not_utf8(tmp_path):
    p = tmp_path / "wav.scp"
    p.write_bytes(b"utt1 /a\xff\xfe.wav\n")
    with pytest.raises(DataError, match=re.escape(str(p)) + ": not a UTF-8 text list"):
        read_scp(p)


def test_read_scp_missing_and_directory(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_scp(tmp_path / "nope.scp")
    (tmp_path / "d.scp").mkdir()
    with pytest.raises(DataError, match="file not found"):
        read_scp(tmp_path / "d.scp")


def test_read_scp_keeps_paths_with_spaces_and_crlf(tmp_path):
    p = tmp_path / "wav.scp"
    p.write_bytes(b"utt1 /dir with space/a.wav\r\nutt2 b.wav\r\n")
    assert read_scp(p) == {"utt1": "/dir with space/a.wav", "utt2": "b.wav"}


@pytest.mark.parametrize(
    "entries", [{"a b": "x.wav"}, {"": "x.wav"}, {"a": "x\ny.wav"}, {"a\tb": "x.wav"}], ids=["space", "empty", "newline", "tab"]
)
def test_write_scp_refuses_entries_that_would_corrupt_the_list(tmp_path, entries):
    p = tmp_path / "out.scp"
    p.write_text("old 1\n")
    with pytest.raises(DataError, match="cannot write entry"):
        write_scp(p, entries)
    assert p.read_text() == "old 1\n"  # previous content kept


def test_datadir_missing(tmp_path):
    with pytest.raises(DataError, match="data dir not found"):
        DataDir.load(tmp_path / "nope")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "empty_dir" / "wav.scp")) + ": file not found"):
        DataDir.load(tmp_path / "empty_dir")


@pytest.mark.parametrize("change", ["drop", "add", "rename"])
def test_spk_scp_disagreeing_with_wav_scp(tiny_datadir, change):
    p = tiny_datadir / "spk2.scp"
    lines = p.read_text().splitlines(keepends=True)
    if change == "drop":
        lines = lines[:-1]
    elif change == "add":
        lines.append("extra_utt /x.wav\n")
    else:
        lines[0] = "renamed " + lines[0].split(maxsplit=1)[1]
    p.write_text("".join(lines))
    with pytest.raises(DataError) as info:
        DataDir.load(tiny_datadir)
    msg = _one_line(str(info.value))
    assert str(p) in msg and "utterance ids disagree with wav.scp" in msg


def test_sources_required_but_absent(tiny_datadir, tmp_path):
    d = tmp_path / "mixonly"
    d.mkdir()
    shutil.copy(tiny_datadir / "wav.scp", d / "wav.scp")
    assert DataDir.load(d).num_spk == 0
    with pytest.raises(DataError, match="no spk1.scp"):
        DataDir.load(d, require_sources=True)
