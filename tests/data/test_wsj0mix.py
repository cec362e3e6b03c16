"""wsj0-2mix / wsj0-3mix preparation on a fake WSJ0 tree (plain SPHERE and wav) with real list lines."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dcsep.data import wsj0mix
from dcsep.data.datadir import DataDir, read_scp
from dcsep.data.mixing import active_level
from dcsep.errors import DataError

LISTS = Path(__file__).parent / "fixtures" / "wsj0_mix_lists"


def write_sphere(path: Path, x: np.ndarray, fs: int = 16000, big_endian: bool = False, coding: str = "pcm") -> None:
    """A plain (uncompressed) NIST SPHERE file, as WSJ0 after decompression."""
    pcm = np.round(np.clip(x, -1, 1 - 2**-15) * 32768).astype(">i2" if big_endian else "<i2")
    fields = [
        f"database_id -s4 WSJ0",
        f"sample_count -i {pcm.size}",
        f"sample_rate -i {fs}",
        "channel_count -i 1",
        "sample_n_bytes -i 2",
        f"sample_byte_format -s2 {'10' if big_endian else '01'}",
        f"sample_coding -s{len(coding)} {coding}",
        "sample_sig_bits -i 16",
        "end_head",
    ]
    head = ("NIST_1A\n   1024\n" + "\n".join(fields) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + b" " * (1024 - len(head)) + pcm.tobytes())


def voice(rng, seconds, fs=16000):
    t = np.arange(int(seconds * fs)) / fs
    f0 = rng.uniform(90, 250)
    x = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 10))
    env = (np.sin(2 * np.pi * rng.uniform(2, 4) * t) > -0.3).astype(float)
    return 0.1 * rng.uniform(0.2, 1.0) * x * env


def fake_wsj0(root: Path, num_spk_lists=(2, 3), layout: str = "plain") -> Path:
    """Every source named in the fixture lists: .wv1 (plain SPHERE) for si_tr_s, .wav elsewhere."""
    rng = np.random.default_rng(0)
    paths = set()
    for c in num_spk_lists:
        for split in ("tr", "cv", "tt"):
            for line in (LISTS / f"mix_{c}_spk_{split}.txt").read_text().splitlines():
                paths.update(line.split()[0::2])
    base = root if layout == "plain" else root / "csr_1" / "11-1.1"
    for i, rel in enumerate(sorted(paths)):
        p = base / rel
        x = voice(rng, rng.uniform(1.0, 2.0))
        if "si_tr_s" in rel:
            write_sphere(p.with_suffix(".wv1"), x, big_endian=bool(i % 2))
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, x, 16000, subtype="PCM_16")
    (root / "wsj0" / "doc").mkdir(parents=True, exist_ok=True)
    (root / "wsj0" / "doc" / "spkrinfo.txt").write_text(
        ";  Speaker info\n;ID  Sex\n" + "".join(f"{s}  {'M' if i % 2 else 'F'}  AM\n" for i, s in enumerate(sorted({Path(p).parent.name for p in paths})))
    )
    return root


def test_sphere_reader_both_byte_orders(tmp_path):
    x = np.linspace(-0.5, 0.5, 1000)
    for big in (False, True):
        p = tmp_path / f"a{big}.wv1"
        write_sphere(p, x, fs=16000, big_endian=big)
        y, fs = wsj0mix.read_sphere(p)
        assert fs == 16000
        np.testing.assert_allclose(y, x, atol=1 / 32768)
    bad = tmp_path / "bad.wv1"
    bad.write_bytes(b"RIFF....")
    with pytest.raises(DataError, match="not a NIST SPHERE"):
        wsj0mix.read_sphere(bad)
    comp = tmp_path / "c.wv1"
    write_sphere(comp, x, coding="pcm,embedded-shorten-v2.00")
    with pytest.raises(DataError, match="sph2pipe"):
        wsj0mix.read_wsj0_audio(str(comp), 8000, sph2pipe=None)


def test_read_mix_list_and_names():
    entries = wsj0mix.read_mix_list(LISTS / "mix_2_spk_tr.txt", 2)
    assert len(entries) == 3
    assert entries[0].name == "40na010x_1.9857_01xo031a_-1.9857"
    three = wsj0mix.read_mix_list(LISTS / "mix_3_spk_cv.txt", 3)
    assert three[0].name == "408c020t_0.33724_015c021d_-0.33724_208a010p_0"
    with pytest.raises(DataError, match=r"mix_2_spk_tr.txt:1: expected 6 fields"):
        wsj0mix.read_mix_list(LISTS / "mix_2_spk_tr.txt", 3)


def test_fetch_mix_lists_from_dir_and_zip(tmp_path):
    d = wsj0mix.fetch_mix_lists(tmp_path / "a", LISTS, 2)
    assert (d / "mix_2_spk_tt.txt").read_text() == (LISTS / "mix_2_spk_tt.txt").read_text()
    z = tmp_path / "create-speaker-mixtures.zip"
    with zipfile.ZipFile(z, "w") as f:
        for p in LISTS.glob("mix_3_*"):
            f.write(p, f"create-speaker-mixtures/{p.name}")
    d = wsj0mix.fetch_mix_lists(tmp_path / "b", z, 3)
    assert sorted(p.name for p in d.glob("*.txt")) == ["mix_3_spk_cv.txt", "mix_3_spk_tr.txt", "mix_3_spk_tt.txt"]
    with pytest.raises(DataError, match="holds no"):
        wsj0mix.fetch_mix_lists(tmp_path / "c", z, 2)
    with pytest.raises(DataError, match="no such file"):
        wsj0mix.fetch_mix_lists(tmp_path / "c", tmp_path / "nowhere.zip", 2)


@pytest.mark.parametrize("num_spk", [2, 3])
def test_prepare_min_8k(tmp_path, num_spk):
    wsj0 = fake_wsj0(tmp_path / "WSJ0 copy")
    out, data = tmp_path / "out", tmp_path / "data"
    dirs = wsj0mix.prepare_wsj0_mix(wsj0, out, data, num_spk=num_spk, mix_lists=LISTS, fs=8000, mode="min", nj=1)
    assert sorted(dirs) == ["cv", "tr", "tt"]
    for split, d in dirs.items():
        dd = DataDir.load(d, require_sources=True)
        names = [e.name for e in wsj0mix.read_mix_list(LISTS / f"mix_{num_spk}_spk_{split}.txt", num_spk)]
        assert sorted(dd.utt_ids) == sorted(names) and dd.num_spk == num_spk
        for utt in dd.utt_ids:
            assert dd.wav[utt] == str(out / "wav8k" / "min" / split / "mix" / f"{utt}.wav")
            mix, fs = sf.read(dd.wav[utt])
            srcs = [sf.read(p)[0] for p in dd.sources(utt)]
            assert fs == 8000 and sf.info(dd.wav[utt]).subtype == "PCM_16"
            np.testing.assert_allclose(mix, np.sum(srcs, axis=0), atol=(num_spk + 1) / 32768)
            assert max(np.abs(mix).max(), *(np.abs(s).max() for s in srcs)) == pytest.approx(0.9, abs=2e-4)
        assert set(read_scp(d / "utt2gender").values()) <= {"f+f", "f+m", "m+m", "f+f+f", "f+f+m", "f+m+m", "m+m+m"}
        assert set(read_scp(d / "utt2spk")) == set(dd.utt_ids)


def test_gains_and_length_follow_the_list(tmp_path):
    wsj0 = fake_wsj0(tmp_path / "w", num_spk_lists=(2,))
    dirs = wsj0mix.prepare_wsj0_mix(wsj0, tmp_path / "o", tmp_path / "d", mix_lists=LISTS, fs=16000, mode="max", splits=["tt"])
    entry = wsj0mix.read_mix_list(LISTS / "mix_2_spk_tt.txt", 2)[1]
    dd = DataDir.load(dirs["tt"])
    s1, s2 = (sf.read(p)[0] for p in dd.sources(entry.name))
    originals = [sf.read(str(wsj0 / p))[0] for p in entry.paths]
    assert s1.size == max(o.size for o in originals)  # max: padded to the longest
    # relative level of the written sources = g1 - g2 (levels measured on the whole sources)
    rel = 10 * np.log10(active_level(s1[: originals[0].size], 16000) / active_level(s2[: originals[1].size], 16000))
    assert rel == pytest.approx(float(entry.gains[0]) - float(entry.gains[1]), abs=0.05)
    assert (tmp_path / "o" / "wav16k" / "max" / "tt" / "s2" / f"{entry.name}.wav").is_file()


def test_ldc_disc_layout_and_rerun(tmp_path):
    wsj0 = fake_wsj0(tmp_path / "ldc", num_spk_lists=(2,), layout="ldc")
    kw = dict(mix_lists=LISTS, splits=["tr"], nj=2)
    dirs = wsj0mix.prepare_wsj0_mix(wsj0, tmp_path / "o", tmp_path / "d", **kw)
    mix = Path(DataDir.load(dirs["tr"]).wav["40na010x_1.9857_01xo031a_-1.9857"])
    stamp = mix.stat().st_mtime_ns
    wsj0mix.prepare_wsj0_mix(wsj0, tmp_path / "o", tmp_path / "d", **kw)
    assert mix.stat().st_mtime_ns == stamp


def test_precomputed_levels_are_used(tmp_path):
    wsj0 = fake_wsj0(tmp_path / "w", num_spk_lists=(2,))
    entry = wsj0mix.read_mix_list(LISTS / "mix_2_spk_cv.txt", 2)[0]
    table = tmp_path / "levels.txt"
    table.write_text(f"{entry.utt_ids[0]} 1.0e-2\n{entry.utt_ids[1]} 1.0e-4\n")
    dirs = wsj0mix.prepare_wsj0_mix(wsj0, tmp_path / "o", tmp_path / "d", mix_lists=LISTS, splits=["cv"], levels=table, fs=16000)
    dd = DataDir.load(dirs["cv"])
    s1, s2 = (sf.read(p)[0] for p in dd.sources(entry.name))
    o1, o2 = (wsj0mix.read_wsj0_audio(str((wsj0 / p).with_suffix(".wv1")), 16000) for p in entry.paths)
    n = s1.size
    # s_c = o_c / sqrt(level_c) * 10^(g_c / 20) * k
    k1 = np.abs(s1).max() / (np.abs(o1[:n]).max() / 0.1 * 10 ** (float(entry.gains[0]) / 20))
    k2 = np.abs(s2).max() / (np.abs(o2[:n]).max() / 0.01 * 10 ** (float(entry.gains[1]) / 20))
    assert k1 == pytest.approx(k2, rel=1e-3)


def test_missing_input_is_reported_precisely(tmp_path):
    wsj0 = fake_wsj0(tmp_path / "w", num_spk_lists=(2,))
    shutil.rmtree(wsj0 / "wsj0" / "si_tr_s" / "01t")
    with pytest.raises(DataError) as e:
        wsj0mix.prepare_wsj0_mix(wsj0, tmp_path / "o", tmp_path / "d", mix_lists=LISTS)
    msg = str(e.value)
    assert "1 of 18 source files" in msg
    assert "si_tr_s: found 11 of 12 speakers and 11 of 12 utterances" in msg
    assert str(wsj0 / "wsj0" / "si_tr_s" / "01t" / "01to030v.wv1") in msg
    assert "si_dt_05: found" in msg
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="si_tr_s: found 0 of 12 speakers"):
        wsj0mix.prepare_wsj0_mix(empty, tmp_path / "o", tmp_path / "d", mix_lists=LISTS)
    with pytest.raises(DataError, match="not found"):
        wsj0mix.prepare_wsj0_mix(tmp_path / "nowhere", tmp_path / "o", tmp_path / "d", mix_lists=LISTS)


def test_compressed_sphere_without_sph2pipe_fails_early(tmp_path, monkeypatch):
    wsj0 = fake_wsj0(tmp_path / "w", num_spk_lists=(2,))
    for p in (wsj0 / "wsj0" / "si_tr_s").rglob("*.wv1"):
        write_sphere(p, np.zeros(100), coding="pcm,embedded-shorten-v2.00")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setattr(wsj0mix, "find_sph2pipe", lambda explicit=None: explicit)
    with pytest.raises(DataError, match="shorten-compressed.*sph2pipe"):
        wsj0mix.prepare_wsj0_mix(wsj0, tmp_path / "o", tmp_path / "d", mix_lists=LISTS)
    assert not (tmp_path / "o" / "wav8k").exists()


def test_cli_errors(tmp_path, capsys):
    rc = wsj0mix.main(["--wsj0", str(tmp_path), "--out", str(tmp_path / "o"), "--data-dir", str(tmp_path / "d"), "--mix-lists", str(LISTS)])
    assert rc == 1
    assert "found 0 of" in capsys.readouterr().err
