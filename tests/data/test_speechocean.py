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
from conftest import harmonic_voice

from dcsep.data import speechocean as so
from dcsep.data.datadir import DataDir, read_scp
from dcsep.data.speechocean import (
    MixLists,
    SpeechoceanConfig,
    check_lists,
    download_speechocean762,
    draw_lists,
    prepare_speechocean762,
    read_mix_list,
    scan_corpus,
)
from dcsep.errors import ConfigError, DataError

# 8 train-half speakers (2 per gender x age cell), 6 test-half speakers
TRAIN_SPK = [("1001", "f", 8), ("1002", "f", 9), ("1003", "f", 25), ("1004", "f", 30),
             ("1005", "m", 7), ("1006", "m", 11), ("1007", "m", 22), ("1008", "m", 35)]
TEST_SPK = [("2001", "f", 6), ("2002", "f", 27), ("2003", "m", 10), ("2004", "m", 40),
            ("2005", "f", 21), ("2006", "m", 8)]
UTTS_PER_SPK = 4  # listed in wav.scp
ORPHAN_SPK = {"1001", "1007", "2002"}  # one extra audio file without a wav.scp line

MICRO = {
    "cv_speakers": 2,
    "closed_utts_per_spk": 1,
    "mixtures": {2: {"tr": 8, "cv": 2, "tt_closed": 3, "tt": 4}, 3: {"tt": 2}},
}


def make_fake_corpus(root: Path, layout: str = "official", seed: int = 0) -> Path:
    """A speechocean762-shaped corpus: official (16 kHz .WAV) or copy (8 kHz .flac) layout."""
    rng = np.random.default_rng(seed)
    fs, ext = (16000, ".WAV") if layout == "official" else (8000, ".flac")
    for split, spks in (("train", TRAIN_SPK), ("test", TEST_SPK)):
        d = root / split
        d.mkdir(parents=True)
        wav, u2s, text = [], [], []
        for spk, g, age in spks:
            f0 = (220 if g == "f" else 120) * (1.3 if age < 18 else 1.0)
            n = UTTS_PER_SPK + (1 if spk in ORPHAN_SPK else 0)
            for k in range(n):
                utt = f"0{spk}{k + 1:04d}"
                rel = f"WAVE/SPEAKER{spk}/{utt}.WAV"
                path = root / f"WAVE/SPEAKER{spk}/{utt}{ext}"
                path.parent.mkdir(parents=True, exist_ok=True)
                x = harmonic_voice(rng, f0 * rng.uniform(0.95, 1.05), rng.uniform(0.8, 1.3), fs)
                sf.write(path, x, fs, subtype="PCM_16", format="WAV" if ext == ".WAV" else "FLAC")
                if k < UTTS_PER_SPK:
                    wav.append(f"{utt}\t{rel}\n")
                    u2s.append(f"{utt} {spk}\n")
                    text.append(f"{utt}\tWORD {k}\n")
        (d / "wav.scp").write_text("".join(wav))
        (d / "utt2spk").write_text("".join(u2s))
        (d / "text").write_text("".join(text))
        (d / "spk2gender").write_text("".join(f"{s}\t{g}\n" for s, g, _ in spks))
        (d / "spk2age").write_text("".join(f"{s}\t{a}\n" for s, _, a in spks))
    return root


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    base = tmp_path_factory.mktemp("so762")
    return {lay: make_fake_corpus(base / lay, lay) for lay in ("official", "flac")}


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


# ---- reading the corpus --------------------------------------------------------------
@pytest.mark.parametrize("layout", ["official", "flac"])
def test_scan_finds_listed_and_orphan_utterances(corpora, layout):
    c = scan_corpus(corpora[layout], strict=False)
    assert len(c.utts) == (len(TRAIN_SPK) + len(TEST_SPK)) * UTTS_PER_SPK + len(ORPHAN_SPK)
    orphans = [u for u in c.utts.values() if not u.listed]
    assert sorted(u.spk for u in orphans) == sorted(ORPHAN_SPK)
    for u in orphans:
        assert u.split == ("train" if u.spk.startswith("1") else "test")
        assert u.rel == f"WAVE/SPEAKER{u.spk}/{u.utt}.WAV" and Path(u.path).is_file()
    ext = ".WAV" if layout == "official" else ".flac"
    assert all(u.path.endswith(ext) for u in c.utts.values())
    assert c.age_group("1001", 18) == "child" and c.age_group("1003", 18) == "adult"


def test_scan_accepts_the_parent_of_the_corpus(corpora, tmp_path):
    c = scan_corpus(corpora["flac"].parent, strict=False)
    assert c.root == corpora["flac"].absolute()


def test_scan_strict_counts_and_input_errors(corpora, tmp_path):
    with pytest.raises(DataError, match=r"train: 32 utterances of 8 speakers found, the full corpus has 2500 of 125; "
                                        r"pass allow_partial"):
        scan_corpus(corpora["flac"], strict=True)
    with pytest.raises(DataError, match="corpus dir not found"):
        scan_corpus(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"not a speechocean762 corpus: missing train/, test/, WAVE/"):
        scan_corpus(tmp_path / "empty")
    broken = shutil.copytree(corpora["flac"], tmp_path / "broken")
    (broken / "test" / "spk2age").unlink()
    with pytest.raises(DataError, match=r"test/spk2age: file not found"):
        scan_corpus(broken, strict=False)


def test_scan_reports_listed_utterances_without_audio(corpora, tmp_path):
    broken = shutil.copytree(corpora["official"], tmp_path / "c")
    (broken / "WAVE/SPEAKER1002/010020003.WAV").unlink()
    with pytest.raises(DataError, match=r"train/wav.scp: 1 of 32 listed utterances have no audio file .* "
                                        r"e\.g\. WAVE/SPEAKER1002/010020003\.WAV"):
        scan_corpus(broken, strict=True)
    c = scan_corpus(broken, strict=False)  # partial: skipped with a warning
    assert "010020003" not in c.utts


def test_scan_rejects_bad_metadata(corpora, tmp_path):
    broken = shutil.copytree(corpora["flac"], tmp_path / "c")
    (broken / "train" / "spk2gender").write_text("1001 x\n")
    with pytest.raises(DataError, match=r"spk2gender: speaker 1001: gender 'x', expected f or m"):
        scan_corpus(broken, strict=False)


# ---- drawing and checking lists ----------------------------------------------------------
def test_lists_are_deterministic_and_seeded(corpora):
    c = scan_corpus(corpora["flac"], strict=False)
    cfg = SpeechoceanConfig.from_dict(dict(MICRO))
    a, b = draw_lists(c, cfg), draw_lists(c, cfg)
    assert a.mixes == b.mixes and a.train_sources == b.train_sources
    other = draw_lists(c, SpeechoceanConfig.from_dict({**MICRO, "seed": 7}))
    assert other.mixes != a.mixes
    for (num_spk, _), lines in a.mixes.items():
        for m in lines:
            g = m.gains_db
            assert len(g) == num_spk and g[1] == -g[0] and 0.0 <= g[0] - g[1] <= 5.0
            assert all(x == 0.0 for x in g[2:])


def test_cv_speakers_cover_the_gender_age_cells(corpora):
    c = scan_corpus(corpora["flac"], strict=False)
    plan = so.draw_plan(c, SpeechoceanConfig.from_dict({**MICRO, "cv_speakers": 4}))
    cells = {(c.spk2gender[s], c.age_group(s, 18)) for s in plan.cv}
    assert len(cells) == 4
    assert not set(plan.cv) & set(plan.train)


def test_check_lists_rejects_speaker_leaks(corpora):
    c = scan_corpus(corpora["flac"], strict=False)
    lists = draw_lists(c, SpeechoceanConfig.from_dict(dict(MICRO)))
    leak = so.MixLine(("WAVE/SPEAKER2001/020010001.WAV", "WAVE/SPEAKER1003/010030001.WAV"), ("1.0", "-1.0"))
    bad = MixLists(lists.train_sources, {**lists.mixes, (2, "tr"): [leak]})
    with pytest.raises(DataError, match=r"L/mix_2_spk_tr.txt:1: WAVE/SPEAKER2001/020010001.WAV is not in train_sources"):
        check_lists(c, bad, "L")
    same = so.MixLine(("WAVE/SPEAKER2001/020010001.WAV", "WAVE/SPEAKER2001/020010002.WAV"), ("1.0", "-1.0"))
    bad = MixLists(lists.train_sources, {**lists.mixes, (2, "tt"): [same]})
    with pytest.raises(DataError, match=r"mix_2_spk_tt.txt:1: two sources of speaker 2001"):
        check_lists(c, bad, "L")
    unknown = so.MixLine(("WAVE/SPEAKER2001/029990001.WAV", "WAVE/SPEAKER2002/020020001.WAV"), ("1.0", "-1.0"))
    bad = MixLists(lists.train_sources, {**lists.mixes, (2, "tt"): [unknown]})
    with pytest.raises(DataError, match=r"029990001.WAV is not an utterance of the corpus"):
        check_lists(c, bad, "L")


def test_read_mix_list_errors(tmp_path):
    p = tmp_path / "l.txt"
    p.write_text("a.WAV 1.0 b.WAV\n")
    with pytest.raises(DataError, match=r"l.txt:1: expected 'path1 gain1 path2 gain2"):
        read_mix_list(p)
    p.write_text("a.WAV 1.0 b.WAV x\n")
    with pytest.raises(DataError, match=r"l.txt:1: gain 'x' is not a number"):
        read_mix_list(p)


def test_config_validation(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['sead'\]"):
        SpeechoceanConfig.from_dict({"sead": 1})
    with pytest.raises(ConfigError, match=r"mixtures.2: unknown set 'dev'"):
        SpeechoceanConfig.from_dict({"mixtures": {2: {"dev": 3}}})
    with pytest.raises(ConfigError, match=r"gain_db_range: \[lo, hi\]"):
        SpeechoceanConfig.from_dict({"gain_db_range": [5, 0]})
    p = tmp_path / "c.yaml"
    p.write_text("fs: 11025\n")
    with pytest.raises(ConfigError, match=r"c.yaml: fs: 8000 or 16000"):
        SpeechoceanConfig.from_yaml(p)


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
