"""speechocean762 preparation on a generated miniature corpus in both layouts."""

from __future__ import annotations

import hashlib
import http.server
import io
import shutil
import tarfile
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dcsep.data import speechocean as so
from dcsep.data.datadir import DataDir, read_scp
from dcsep.data.speechocean import SpeechoceanConfig, download_speechocean762, prepare_speechocean762, scan_corpus
from dcsep.errors import DataError

from .speechocean_fake import MICRO, ORPHAN_SPK, TEST_SPK, UTTS_PER_SPK, corpora  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def prepared(corpora, tmp_path_factory):
    out = tmp_path_factory.mktemp("prep") / "data"
    cfg = SpeechoceanConfig.from_dict(dict(MICRO))
    dirs = prepare_speechocean762(corpora["flac"], out, cfg, allow_partial=True)
    return out, dirs


def _speakers(d: Path) -> set[str]:
    if (d / "utt2spks").is_file():
        return {s for v in read_scp(d / "utt2spks").values() for s in v.split()}
    return set(read_scp(d / "utt2spk").values())


# ---- preparation -------------------------------------------------------------------------
def test_prepare_builds_every_set(prepared):
    out, dirs = prepared
    assert set(dirs) == {"train_sources", "tr", "cv", "tt_closed", "tt", "tt_3spk"}
    sizes = {k: len(read_scp(d / "wav.scp")) for k, d in dirs.items()}
    assert sizes.pop("train_sources") == sum(
        UTTS_PER_SPK + (s in ORPHAN_SPK) - 1 for s, r in _roles(out).items() if r == "train"
    )
    assert sizes == {"tr": 8, "cv": 2, "tt_closed": 3, "tt": 4, "tt_3spk": 2}
    for name in ("tr", "cv", "tt_closed", "tt", "tt_3spk"):
        dd = DataDir.load(dirs[name], require_sources=True)
        assert dd.num_spk == (3 if name == "tt_3spk" else 2)
        utt = dd.utt_ids[0]
        mix, fs = sf.read(dd.wav[utt])
        srcs = np.stack([sf.read(s)[0] for s in dd.sources(utt)])
        assert fs == 8000 and srcs.shape == (dd.num_spk, mix.size)
        np.testing.assert_allclose(srcs.sum(0), mix, atol=5e-4)
        assert np.isclose(max(np.abs(mix).max(), np.abs(srcs).max()), 0.9, atol=1e-3)
    for wav in read_scp(dirs["train_sources"] / "wav.scp").values():
        assert sf.info(wav).samplerate == 8000 and wav.startswith(str(out / "audio" / "WAVE"))
    assert (out / "summary.tsv").read_text().startswith("set\titems\tspeakers\thours\n")
    assert set(read_scp(dirs["train_sources"] / "utt2activlev")) == set(read_scp(dirs["train_sources"] / "wav.scp"))


def _roles(out: Path) -> dict[str, str]:
    rows = (out / "local" / "speakers.tsv").read_text().splitlines()[1:]
    return {r.split("\t")[0]: r.split("\t")[2] for r in rows}


def _list_stems(path: Path) -> set[str]:
    return {Path(r).stem for r in path.read_text().split() if r.endswith(".WAV")}


def test_orphans_are_used_with_their_folder_speaker(prepared):
    out, dirs = prepared
    u2s = read_scp(dirs["train_sources"] / "utt2spk")
    closed = _list_stems(out / "mix_lists" / "mix_2_spk_tt_closed.txt")
    roles = _roles(out)
    for spk in ("1001", "1007"):
        utt = f"0{spk}0005"  # the file without a wav.scp line
        if roles[spk] == "train":
            assert u2s.get(utt) == spk or utt in closed
        else:
            assert utt not in u2s
    assert any(not u.endswith(("0001", "0002", "0003", "0004")) for u in u2s)


def test_speakers_are_disjoint(prepared):
    out, dirs = prepared
    train = _speakers(dirs["train_sources"])
    tr, cv, tt, tt3 = (_speakers(dirs[k]) for k in ("tr", "cv", "tt", "tt_3spk"))
    closed = _speakers(dirs["tt_closed"])
    test_half = {s for s, _, _ in TEST_SPK}
    assert tr <= train and closed <= train
    assert not cv & (train | tr)
    assert (tt | tt3) <= test_half and not (tt | tt3) & (train | tr | cv)
    # closed-set utterances are not training sources
    src = set(read_scp(dirs["train_sources"] / "wav.scp"))
    closed_utts = _list_stems(out / "mix_lists" / "mix_2_spk_tt_closed.txt")
    assert closed_utts and not closed_utts & src
    assert {s for s, r in _roles(out).items() if r == "cv"} == cv


def test_breakdown_files(prepared):
    out, dirs = prepared
    g = read_scp(out / "local" / "spk2gender")
    a = {s: int(v) for s, v in read_scp(out / "local" / "spk2age").items()}
    for name in ("tt", "tt_3spk", "tt_closed"):
        d = dirs[name]
        spks = {k: v.split() for k, v in read_scp(d / "utt2spks").items()}
        genders = read_scp(d / "utt2gender")
        ages = read_scp(d / "utt2age")
        assert read_scp(d / "utt2category") == {u: f"{genders[u]}/{ages[u]}" for u in ages}
        for utt, ss in spks.items():
            assert genders[utt] == "+".join(sorted(g[s] for s in ss))
            groups = sorted(("child" if a[s] < 18 else "adult") for s in ss)
            assert ages[utt] == "+".join(sorted(groups, key=lambda x: x != "child"))
        assert set(genders.values()) <= {"f+f", "f+m", "m+m", "f+f+f", "f+f+m", "f+m+m", "m+m+m"}


def test_rebuild_from_lists_gives_the_same_sets(prepared, corpora, tmp_path):
    out, dirs = prepared
    lists = tmp_path / "lists"
    shutil.copytree(out / "mix_lists", lists)
    # another seed, the official 16 kHz layout: the lists decide, so the sets are the same
    cfg = SpeechoceanConfig.from_dict({**MICRO, "seed": 123})
    new = prepare_speechocean762(corpora["official"], tmp_path / "data", cfg, mix_lists=lists, allow_partial=True)
    for name in ("tr", "cv", "tt_closed", "tt", "tt_3spk", "train_sources"):
        assert read_scp(new[name] / "wav.scp").keys() == read_scp(dirs[name] / "wav.scp").keys()
    for name in ("tt", "tt_3spk"):
        assert read_scp(new[name] / "utt2gender") == read_scp(dirs[name] / "utt2gender")
    # the mixtures sound alike (one corpus was resampled from 16 kHz, the other generated at 8 kHz)
    utt = next(iter(read_scp(dirs["tt"] / "wav.scp")))
    a = sf.read(read_scp(dirs["tt"] / "wav.scp")[utt])[0]
    b = sf.read(read_scp(new["tt"] / "wav.scp")[utt])[0]
    assert a.shape == b.shape
    for f in (lists / "mix_2_spk_tt.txt", lists / "train_sources.txt"):
        assert f.read_text() == (tmp_path / "data" / "mix_lists" / f.name).read_text()


def test_prepare_is_idempotent(prepared, corpora):
    out, dirs = prepared
    before = {p: p.stat().st_mtime_ns for p in (out / "audio").rglob("*.wav")}
    cfg = SpeechoceanConfig.from_dict(dict(MICRO))
    prepare_speechocean762(corpora["flac"], out, cfg, mix_lists=out / "mix_lists", allow_partial=True)
    after = {p: p.stat().st_mtime_ns for p in (out / "audio").rglob("*.wav")}
    assert before == after


def test_cli(corpora, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("cv_speakers: 2\nclosed_utts_per_spk: 1\nmixtures: {2: {tr: 3, cv: 1, tt: 2}}\n")
    rc = so.main(["--corpus-dir", str(corpora["flac"]), "--out-dir", str(tmp_path / "d"), "--config", str(cfg),
                  "--allow-partial"])
    assert rc == 0 and (tmp_path / "d" / "tt" / "wav.scp").is_file()
    assert "tt\t2\t" in (tmp_path / "d" / "summary.tsv").read_text()
    rc = so.main(["--corpus-dir", str(corpora["flac"]), "--out-dir", str(tmp_path / "e")])
    assert rc == 1
    assert "error:" in capsys.readouterr().err


# ---- download ------------------------------------------------------------------------------
def _tarball(src: Path, dest: Path, arcname: str) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(src, arcname=arcname)
    return dest


def test_download_from_a_file_url(corpora, tmp_path):
    server = tmp_path / "server"
    server.mkdir()
    tgz = _tarball(corpora["flac"], server / "speechocean762.tar.gz", "speechocean762")
    md5 = hashlib.md5(tgz.read_bytes()).hexdigest()
    dl = tmp_path / "dl"
    root = download_speechocean762(dl, url=server.as_uri(), checksums={"speechocean762.tar.gz": md5})
    assert (root / "train" / "wav.scp").is_file() and root.name == "speechocean762"
    assert (dl / "extracted" / ".complete").is_file()
    assert download_speechocean762(dl, url=server.as_uri()) == root  # second call: nothing to do
    assert len(scan_corpus(root, strict=False).utts) == len(scan_corpus(corpora["flac"], strict=False).utts)


def test_download_checks_size_and_md5(corpora, tmp_path):
    server = tmp_path / "server"
    server.mkdir()
    _tarball(corpora["flac"], server / "speechocean762.tar.gz", "speechocean762")
    with pytest.raises(DataError, match=r"md5 [0-9a-f]{32}, expected 0123; removed the file"):
        download_speechocean762(tmp_path / "a", url=server.as_uri(), checksums={"speechocean762.tar.gz": "0123"})
    assert not list((tmp_path / "a").glob("*.tar.gz*"))
    with pytest.raises(DataError, match=r"downloaded \d+ bytes, expected 5"):
        download_speechocean762(tmp_path / "b", url=server.as_uri(), sizes={"speechocean762.tar.gz": 5})


def test_download_falls_back_to_the_split_archives(corpora, tmp_path):
    server = tmp_path / "server"
    server.mkdir()
    for part in ("WAVE", "train", "test"):
        _tarball(corpora["flac"] / part, server / f"{part}.tgz", part)
    info = io.BytesIO(b"resource")
    with tarfile.open(server / "resource.tgz", "w:gz") as tar:
        ti = tarfile.TarInfo("resource/README")
        ti.size = len(info.getvalue())
        tar.addfile(ti, info)
    root = download_speechocean762(tmp_path / "dl", url=server.as_uri())
    assert (root / "WAVE").is_dir() and (root / "test" / "spk2age").is_file()
    with pytest.raises(DataError, match=r"archives not found: tried .*speechocean762.tar.gz, .*WAVE.tgz"):
        download_speechocean762(tmp_path / "x", url=(tmp_path / "nothing").as_uri())


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """A static file server that honours ``Range: bytes=N-`` (to test resuming)."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            data = data[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_download_resumes_a_partial_file_over_http(corpora, tmp_path, capsys):
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    tgz = _tarball(corpora["flac"], server_dir / "speechocean762.tar.gz", "speechocean762")
    data = tgz.read_bytes()
    dl = tmp_path / "dl"
    dl.mkdir()
    (dl / "speechocean762.tar.gz.part").write_bytes(data[: len(data) // 3])
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_RangeHandler, directory=str(server_dir)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        root = download_speechocean762(dl, url=url, sizes={"speechocean762.tar.gz": len(data)})
    finally:
        httpd.shutdown()
        t.join()
    assert (dl / "speechocean762.tar.gz").read_bytes() == data
    assert f"resuming at {len(data) // 3 / 1e6:.1f} MB" in capsys.readouterr().err
    assert (root / "train" / "wav.scp").is_file()
