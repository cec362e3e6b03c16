"""build_testset: data-dir format, wsj0-mix scaling, distinct speakers, same lists and audio on a
re-run and from a list, resampling, one-line errors, atomic output and --overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import harmonic_voice

from dcsep.data.datadir import DataDir, read_scp
from dcsep.data.mixing import active_level, resample
from dcsep.data.testset import MANIFEST, build_testset, draw_mix_lines, read_lists, scan_sources
from dcsep.errors import ConfigError, DataError, OutputError

FS = 8000
RATES = {".wav": 16000, ".flac": 8000, ".ogg": 22050}  # inputs at other rates and formats


def make_folder(root: Path, num_spk: int = 4, utts: int = 3, seed: int = 0) -> Path:
    """spk<s>/spk<s>_u<k>.<ext> files of 0.5-1.0 s, in three formats and rates; utt2spk beside the folder."""
    rng = np.random.default_rng(seed)
    exts = list(RATES)
    lines = []
    for s in range(num_spk):
        for k in range(utts):
            ext = exts[(s + k) % len(exts)]
            fs = RATES[ext]
            x = harmonic_voice(rng, 100 + 45 * s, rng.uniform(0.5, 1.0), fs) * rng.uniform(0.2, 3.0)
            p = root / "audio" / f"spk{s}" / f"spk{s}_u{k}{ext}"
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, x, fs)
            lines.append(f"spk{s}_u{k} spk{s}\n")
    (root / "utt2spk").write_text("".join(lines))
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("testset"))


@pytest.fixture(scope="module")
def built(corpus):
    out = corpus / "out"
    dirs = build_testset(corpus / "audio", out, num_spk=(1, 2, 3), counts=(5, 6, 4), seed=3,
                         utt2spk=corpus / "utt2spk", fs=FS)  # fmt: skip
    return out, dirs


def files_of(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_sets_are_data_dirs_in_the_recipes_format(built):
    out, dirs = built
    assert sorted(dirs) == ["tt_1spk", "tt_2spk", "tt_3spk"]
    for c, n in [(1, 5), (2, 6), (3, 4)]:
        d = out / f"tt_{c}spk"
        dd = DataDir.load(d, require_sources=True)
        assert dd.num_spk == c and len(dd.utt_ids) == n
        for f in ["utt2spk", "spk2utt", "utt2dur", "utt2num_samples", "utt2sources", "utt2spks"]:
            assert set(read_scp(d / f)) == set(dd.utt_ids), f
        n_samples = read_scp(d / "utt2num_samples")
        for utt in dd.utt_ids:
            mix, rate = sf.read(dd.wav[utt])
            assert rate == FS and mix.size == int(n_samples[utt])
            assert Path(dd.wav[utt]).is_relative_to(out)
            srcs = [sf.read(p)[0] for p in dd.sources(utt)]
            assert all(s.size == mix.size for s in srcs)
    lists = read_lists(out / "mix_lists", "tt")
    assert sorted(lists) == [1, 2, 3] and len(lists[2]) == 6 and len(lists[1]) == 5
    assert json.loads((out / MANIFEST).read_text())["fs"] == FS
    assert "same-speaker" not in (out / "README.md").read_text()


def test_mixtures_follow_the_wsj0_mix_scaling(built, corpus):
    """Mixture = sum of the written sources; relative level = the list's gain difference, within 0..5 dB;
    sources are the resampled inputs cut to the shortest ("min")."""
    out, _ = built
    dd = DataDir.load(out / "tt_2spk")
    lines = {"_".join(f"{Path(k).stem}_{g}" for k, g in zip(m.rels, m.gains)): m
             for m in read_lists(out / "mix_lists", "tt")[2]}  # fmt: skip
    assert set(lines) == set(dd.utt_ids)
    for utt in dd.utt_ids:
        mix = sf.read(dd.wav[utt])[0]
        s1, s2 = (sf.read(p)[0] for p in dd.sources(utt))
        assert np.abs(mix - s1 - s2).max() < 3 / 32768  # 16-bit rounding of three files
        assert np.isclose(max(np.abs(mix).max(), np.abs(s1).max(), np.abs(s2).max()), 0.9, atol=1e-4)
        m = lines[utt]
        r = m.gains_db[0] - m.gains_db[1]
        assert 0.0 <= r <= 5.0
        # the level difference is measured on the whole sources, before cutting: compare with the inputs
        ins = []
        for k in m.rels:
            x, rate = sf.read(corpus / "audio" / k)
            ins.append(resample(x, rate, FS))
        assert mix.size == min(x.size for x in ins)
        # s_c = x_c[:L] * factor * 10^(g_c / 20) / sqrt(level(x_c)): fit the gain of each, undo the level
        a, b = ins[0][: mix.size], ins[1][: mix.size]
        g1, g2 = np.dot(s1, a) / np.dot(a, a), np.dot(s2, b) / np.dot(b, b)
        got = 20 * np.log10(g1 * np.sqrt(active_level(ins[0], FS))) - 20 * np.log10(g2 * np.sqrt(active_level(ins[1], FS)))
        assert abs(got - r) < 0.05


def test_speakers_of_a_mixture_are_distinct(built):
    out, _ = built
    for c in (2, 3):
        for spks in read_scp(out / f"tt_{c}spk" / "utt2spks").values():
            assert len(set(spks.split())) == c


def test_singles_are_the_resampled_utterances(built, corpus):
    out, _ = built
    dd = DataDir.load(out / "tt_1spk")
    for utt in dd.utt_ids:
        assert dd.wav[utt] == dd.spk[0][utt]  # one file, named twice
        y = sf.read(dd.wav[utt])[0]
        src = next((corpus / "audio").rglob(f"{utt}.*"))
        x, rate = sf.read(src)
        ref = resample(x, rate, FS)
        assert y.size == ref.size and np.abs(y - ref).max() < 2 / 32768


def test_same_arguments_give_the_same_lists_and_audio(built, corpus, tmp_path):
    out, _ = built
    again = tmp_path / "again"
    build_testset(corpus / "audio", again, num_spk=(1, 2, 3), counts=(5, 6, 4), seed=3,
                  utt2spk=corpus / "utt2spk", fs=FS)  # fmt: skip
    a, b = files_of(out), files_of(again)
    assert a.keys() == b.keys()
    for k in a:
        if k.endswith(".scp"):  # the paths name the output dir
            assert a[k].replace(str(out).encode(), b"") == b[k].replace(str(again).encode(), b""), k
        else:
            assert a[k] == b[k], k
    other = draw_mix_lines(scan_sources(corpus / "audio", corpus / "utt2spk").spk, 2, 6, np.random.default_rng(4))
    assert [m.text() for m in other] != [m.text() for m in read_lists(out / "mix_lists", "tt")[2]]


def test_from_list_rebuilds_the_same_sets(built, corpus, tmp_path):
    out, _ = built
    re = tmp_path / "re"
    build_testset(corpus / "audio", re, from_list=out / "mix_lists", utt2spk=corpus / "utt2spk", fs=FS,
                  num_spk=(2,), counts=(99,))  # fmt: skip
    for s in ["tt_1spk", "tt_2spk", "tt_3spk"]:
        for f in ["wav.scp", "spk1.scp"]:
            assert read_scp(re / s / f).keys() == read_scp(out / s / f).keys()
        for utt, p in read_scp(re / s / "wav.scp").items():
            assert Path(p).read_bytes() == Path(read_scp(out / s / "wav.scp")[utt]).read_bytes()
    assert (re / "mix_lists" / "mix_2_spk_tt.txt").read_text() == (out / "mix_lists" / "mix_2_spk_tt.txt").read_text()


def test_a_list_with_two_sources_of_one_speaker_is_refused(corpus, tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "mix_2_spk_tt.txt").write_text("spk0/spk0_u0.wav 1.0 spk0/spk0_u1.flac -1.0\n")
    with pytest.raises(DataError, match=r"mix_2_spk_tt.txt:1: two sources of speaker spk0"):
        build_testset(corpus / "audio", tmp_path / "o", from_list=lists, utt2spk=corpus / "utt2spk")
    (lists / "mix_2_spk_tt.txt").write_text("spk0/spk0_u0.wav 1.0 spk1/spk1_u1.wav -1.0 spk2/spk2_u0.ogg 0\n")
    with pytest.raises(DataError, match=r"mix_2_spk_tt.txt:1: expected 4 fields"):
        build_testset(corpus / "audio", tmp_path / "o", from_list=lists)
    (lists / "mix_2_spk_tt.txt").unlink()
    (lists / "utts_1_spk_tt.txt").write_text("spk0/spk0_u0.wav\nspk0/spk0_u0.wav\n")
    with pytest.raises(DataError, match=r"utts_1_spk_tt.txt: spk0/spk0_u0.wav is listed twice"):
        build_testset(corpus / "audio", tmp_path / "o", from_list=lists)
    (lists / "utts_1_spk_tt.txt").unlink()
    (lists / "mix_2_spk_tt.txt").write_text("spk0/nope.wav 1.0 spk1/spk1_u1.wav -1.0\n")
    with pytest.raises(DataError, match=r"mix_2_spk_tt.txt:1: spk0/nope.wav is not an utterance of"):
        build_testset(corpus / "audio", tmp_path / "o", from_list=lists)
    assert not (tmp_path / "o").exists()


def test_unlabelled_input_says_same_speaker_mixtures_may_occur(corpus, tmp_path):
    out = tmp_path / "u"
    build_testset(corpus / "audio", out, num_spk=(2,), counts=(8,), fs=FS)
    readme = (out / "README.md").read_text()
    assert "same-speaker mixtures may occur" in readme
    assert not (out / "tt_2spk" / "utt2spks").exists()


def test_scp_input_and_speakers_from_folders(corpus, tmp_path):
    files = sorted((corpus / "audio").rglob("*.*"))
    (tmp_path / "wav.scp").write_text("".join(f"{p.stem} {p}\n" for p in files))
    build_testset(tmp_path / "wav.scp", tmp_path / "s", num_spk=(2,), counts=(4,), utt2spk=corpus / "utt2spk")
    keys = {k for m in read_lists(tmp_path / "s" / "mix_lists", "tt")[2] for k in m.rels}
    assert keys <= {p.stem for p in files}  # an scp's lists name its utterance ids
    src = scan_sources(corpus / "audio", spk_from_folder=True)
    assert src.labelled and src.num_speakers() == 4 and src.spk["spk2/spk2_u1.wav"] == "spk2"


def test_clashing_stems_get_path_ids(tmp_path):
    for s in ("a", "b"):
        p = tmp_path / "in" / s / "001.wav"
        p.parent.mkdir(parents=True)
        sf.write(p, np.ones(800) * 0.1, FS)
    assert sorted(scan_sources(tmp_path / "in").utt.values()) == ["a-001", "b-001"]


@pytest.mark.parametrize(
    "setup, kwargs, match",
    [
        ("empty", {}, r"in: no audio files"),
        ("none", {}, r"nothing: no such folder or list"),
        ("few", {"num_spk": (3,), "counts": (2,)}, r"3-speaker mixtures need 3 distinct speakers, the input has 2"),
        ("few", {"num_spk": (1,), "counts": (7,)}, r"7 single utterances asked, the input has 6"),
        ("bad", {"num_spk": (2,), "counts": (12,)}, r"spk9_u0.wav: cannot read audio"),
        ("silent", {"num_spk": (2,), "counts": (12,)}, r"zero.wav: silent"),
        ("nolabel", {}, r"utt2spk: no speaker for utterance 'spk1_u2'"),
    ],
)
def test_bad_input_one_line_errors(corpus, tmp_path, setup, kwargs, match):
    src = tmp_path / "in"
    src.mkdir()
    u2s = None
    if setup == "none":
        src = tmp_path / "nothing"
    if setup in ("few", "bad", "silent", "nolabel"):
        make_folder(tmp_path / "c", num_spk=2, utts=3)
        src = tmp_path / "c" / "audio"
        u2s = tmp_path / "c" / "utt2spk"
    if setup == "bad":
        (src / "spk9_u0.wav").write_bytes(b"RIFF not really a wav file")
        (tmp_path / "c" / "utt2spk").write_text((tmp_path / "c" / "utt2spk").read_text() + "spk9_u0 spk9\n")
    if setup == "silent":
        sf.write(src / "zero.wav", np.zeros(4000), FS)
        (tmp_path / "c" / "utt2spk").write_text((tmp_path / "c" / "utt2spk").read_text() + "zero spk7\n")
    if setup == "nolabel":
        lines = (tmp_path / "c" / "utt2spk").read_text().splitlines()
        (tmp_path / "c" / "utt2spk").write_text("".join(x + "\n" for x in lines if not x.startswith("spk1_u2")))
    with pytest.raises(DataError, match=match) as e:
        build_testset(src, tmp_path / "out", utt2spk=u2s, **kwargs)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no temporary left behind


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"snr_db": (5.0, 0.0)}, r"--snr"),
        ({"mode": "mid"}, r"--mode"),
        ({"num_spk": (2, 3), "counts": (4,)}, r"1 counts for 2 values of --num-spk"),
        ({"num_spk": (0,), "counts": (4,)}, r"--num-spk must be 1..9"),
        ({"name": "a b"}, r"--name"),
        ({"out_dir": "inside"}, r"--out-dir .*audio/sets and --input .*audio overlap"),
    ],
)
def test_bad_options(corpus, tmp_path, kwargs, match):
    out = corpus / "audio" / "sets" if kwargs.pop("out_dir", None) else tmp_path / "out"
    with pytest.raises(ConfigError, match=match):
        build_testset(corpus / "audio", out, **kwargs)
    assert not out.exists()


def test_existing_output_needs_overwrite(corpus, tmp_path):
    out = tmp_path / "out"
    args = dict(num_spk=(2,), counts=(3,), utt2spk=corpus / "utt2spk")
    build_testset(corpus / "audio", out, **args)
    before = files_of(out)
    build_testset(corpus / "audio", out, **args)  # the same command: nothing to do
    assert files_of(out) == before
    with pytest.raises(DataError, match=r"out: exists and was built with other settings; pass --overwrite"):
        build_testset(corpus / "audio", out, seed=1, **args)
    assert files_of(out) == before
    build_testset(corpus / "audio", out, seed=1, overwrite=True, **args)
    assert files_of(out)["mix_lists/mix_2_spk_tt.txt"] != before["mix_lists/mix_2_spk_tt.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match=r"mine: exists and is not a dcsep-mix output.*nothing was deleted"):
        build_testset(corpus / "audio", mine, overwrite=True, **args)
    assert (mine / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("num_spk", [2, 3])
def test_the_draw_is_the_one_of_the_speechocean_recipe(num_spk):
    """draw_mix_lines is the corpus-free core of speechocean.draw_mixtures: same generator, same lines."""
    from dcsep.data import speechocean as so

    utts = {f"{s:04d}{k:05d}": so.SourceUtt(f"{s:04d}{k:05d}", f"{s:04d}", "test", f"WAVE/S{s}/{s:04d}{k:05d}.WAV", "")
            for s in range(6) for k in range(1 + s % 3)}  # fmt: skip
    corpus = so.Corpus(Path("/c"), utts, {}, {}, {})
    config = so.SpeechoceanConfig(seed=5)
    want = so.draw_mixtures(corpus, list(utts), num_spk, 12, config, "tt")
    rng = np.random.default_rng([config.seed, num_spk, so.MIX_SETS.index("tt"), 0x762])
    got = draw_mix_lines({u: v.spk for u, v in utts.items()}, num_spk, 12, rng, tuple(config.gain_db_range))
    assert [(tuple(utts[u].rel for u in m.rels), m.gains) for m in got] == [(m.rels, m.gains) for m in want]


def test_an_output_that_cannot_be_written_is_a_one_line_error(corpus, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(OutputError, match=r"afile/out: cannot create the output there"):
        build_testset(corpus / "audio", tmp_path / "afile" / "out", num_spk=(2,), counts=(2,))


def test_the_committed_picovoice_lists_have_the_documented_sizes():
    """egs/speechocean762/local/mix_lists/picovoice: 150 singles, 150 2-speaker and 100 3-speaker mixtures of
    distinct clips, gains in 0..5 dB (the corpus itself is not needed)."""
    d = Path(__file__).resolve().parents[2] / "egs" / "speechocean762" / "local" / "mix_lists" / "picovoice"
    lists = read_lists(d, "tt")
    assert {c: len(v) for c, v in lists.items()} == {1: 150, 2: 150, 3: 100}
    assert len(set(lists[1])) == 150 and all(k.endswith(".flac") and "/" not in k for k in lists[1])
    for c in (2, 3):
        assert len({tuple(sorted(m.rels)) for m in lists[c]}) == len(lists[c])
        for m in lists[c]:
            assert len(set(m.rels)) == c and 0 <= m.gains_db[0] - m.gains_db[1] <= 5 and m.gains_db[0] == -m.gains_db[1]
