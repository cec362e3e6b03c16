"""Tests of dcsep.data.download: checked, resumable downloads and completion markers."""

from __future__ import annotations

import hashlib

import pytest

from dcsep.data.download import NotOnServer, fetch, is_complete, mark_complete, md5sum
from dcsep.errors import DataError


def test_fetch_checks_size_and_md5_and_keeps_a_good_file(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 1000)
    md5 = hashlib.md5(b"x" * 1000).hexdigest()
    assert md5sum(src) == md5
    dest = tmp_path / "out" / "a.bin"
    dest.parent.mkdir()
    fetch(src.as_uri(), dest, expected_size=1000, md5=md5, log=lambda m: None)
    assert dest.read_bytes() == src.read_bytes() and not dest.with_name("a.bin.part").exists()
    msgs = []
    fetch(src.as_uri(), dest, expected_size=1000, md5=md5, log=msgs.append)
    assert msgs == ["a.bin: already downloaded"]
    with pytest.raises(DataError, match=r"md5 [0-9a-f]{32}, expected 0123; removed the file"):
        fetch(src.as_uri(), tmp_path / "out" / "b.bin", md5="0123", log=lambda m: None)
    assert not (tmp_path / "out" / "b.bin").exists() and not (tmp_path / "out" / "b.bin.part").exists()
    with pytest.raises(DataError, match=r"downloaded 1000 bytes, expected 5"):
        fetch(src.as_uri(), tmp_path / "out" / "c.bin", expected_size=5, log=lambda m: None)


def test_fetch_missing_file_is_not_on_server(tmp_path):
    with pytest.raises(NotOnServer):
        fetch((tmp_path / "nothing").as_uri(), tmp_path / "x", log=lambda m: None)


def test_completion_marker(tmp_path):
    assert not is_complete(tmp_path)
    mark_complete(tmp_path, "a.tgz b.tgz")
    assert is_complete(tmp_path) and (tmp_path / ".complete").read_text() == "a.tgz b.tgz\n"
