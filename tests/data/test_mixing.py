"""wsj0-mix scaling: P.56 active level, gains, peak normalisation, min/max, writing."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from dcsep.data import mixing
from dcsep.data.mixing import MixSpec, active_level, create_mixtures, mix_sources, write_mixture_datadir
from dcsep.data.datadir import DataDir
from dcsep.errors import DataError


def tone(fs: int, seconds: float, amp: float = 0.1, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(fs * seconds)) / fs
    return amp * np.sin(2 * np.pi * freq * t)


def speechlike(rng, fs: int, seconds: float) -> np.ndarray:
    """Noise bursts (syllables) with pauses: activity well below 1."""
    n = int(fs * seconds)
    env = (np.sin(2 * np.pi * 3 * np.arange(n) / fs) > 0.2).astype(float)
    env[n // 3 : n // 2] = 0  # a long pause
    return rng.standard_normal(n) * env * 0.05


def test_docstring_examples():
    assert doctest.testmod(mixing).failed == 0


def test_prototype_is_the_p56_chebyshev_filter():
    """5th-order Chebyshev II high-pass, -0.25 dB at 1 rad/s (the published poles and zeros)."""
    z, p = mixing._highpass_prototype()
    np.testing.assert_allclose(np.sort(np.abs(z.imag))[-2:], [0.37843443673309, 0.37843443673309], rtol=1e-9)
    np.testing.assert_allclose(np.sort_complex(p)[0], -0.66793268833792, rtol=1e-9)


@pytest.mark.parametrize("fs", [8000, 16000])
def test_input_filter_band_edges(fs):
    sos_list = mixing._p56_filters(fs)
    assert len(sos_list) == (2 if fs == 16000 else 1)

    def gain_db(f):
        h = 1.0
        for sos in sos_list:
            h *= signal.sosfreqz(sos, worN=[f], fs=fs)[1][0]
        return 20 * np.log10(abs(h))

    assert gain_db(200.0) == pytest.approx(-0.25, abs=0.02)
    assert gain_db(50.0) < -40
    assert abs(gain_db(1000.0)) < 0.3
    if fs == 16000:
        assert gain_db(5500.0) == pytest.approx(-0.25, abs=0.02)


def test_level_of_a_steady_tone_is_its_power():
    fs = 8000
    x = tone(fs, 20.0, amp=0.2)
    lev, act = active_level(x, fs, return_activity=True)
    # all active; the hangover over the appended 0.35 s adds a little "activity"
    assert 10 * np.log10(lev / 0.02) == pytest.approx(0.0, abs=0.2)
    assert 0.95 < act <= 1.0


def test_pauses_do_not_lower_the_level():
    fs = 8000
    x = tone(fs, 4.0)
    with_pause = np.concatenate([x, np.zeros(8 * fs), x])
    lev1, act1 = active_level(np.concatenate([x, x]), fs, return_activity=True)
    lev2, act2 = active_level(with_pause, fs, return_activity=True)
    assert 10 * np.log10(lev2 / lev1) == pytest.approx(0.0, abs=0.3)
    assert act2 < 0.6 * act1
    # while the long-term power drops by 3 dB
    assert np.mean(with_pause**2) < 0.6 * np.mean(np.concatenate([x, x]) ** 2)


@pytest.mark.parametrize("fs", [8000, 16000])
def test_level_scales_with_amplitude(fs):
    x = speechlike(np.random.default_rng(0), fs, 3.0)
    base = active_level(x, fs)
    assert active_level(2 * x, fs) == pytest.approx(4 * base, rel=1e-9)  # powers of 2: exact
    assert 10 * np.log10(active_level(0.3 * x, fs) / (0.09 * base)) == pytest.approx(0.0, abs=0.5)


def test_level_ignores_dc_and_hum():
    fs = 8000
    x = speechlike(np.random.default_rng(1), fs, 3.0)
    assert 10 * np.log10(active_level(x + 0.5 + tone(fs, 3.0, 0.2, 50.0), fs) / active_level(x, fs)) == pytest.approx(
        0.0, abs=0.5
    )


def test_silence_and_bad_input():
    assert active_level(np.zeros(1000), 8000) == 0.0
    with pytest.raises(DataError, match="empty"):
        active_level(np.zeros(0), 8000)
    with pytest.raises(DataError, match="NaN"):
        active_level(np.array([0.1, np.nan]), 8000)


def test_causal_running_max_matches_naive():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(101)
    x[5] = -np.inf
    for w in (1, 2, 7, 50, 200):
        ref = np.array([x[max(0, i - w + 1) : i + 1].max() for i in range(x.size)])
        np.testing.assert_array_equal(mixing._causal_running_max(x, w), ref)


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("num_spk", [2, 3])
def test_mix_sources(mode, num_spk):
    rng = np.random.default_rng(num_spk)
    fs = 8000
    srcs = [speechlike(rng, fs, 1.0 + 0.3 * c) * (c + 1) for c in range(num_spk)]
    gains = [1.7, -1.7, 0.0][:num_spk]
    mix, out = mix_sources(srcs, gains, mode=mode, fs=fs)
    lengths = [s.size for s in srcs]
    assert out.shape == (num_spk, min(lengths) if mode == "min" else max(lengths))
    np.testing.assert_allclose(mix, out.sum(axis=0), atol=1e-12)
    assert max(np.abs(mix).max(), np.abs(out).max()) == pytest.approx(0.9)
    # the relative level of the scaled sources follows the gains (levels measured on the whole sources)
    lev = [active_level(s, fs) for s in srcs]
    ratio = [np.sqrt(lev[c]) * np.abs(out[c]).max() / np.abs(srcs[c][: out.shape[1]]).max() for c in range(num_spk)]
    for c in range(1, num_spk):
        assert 20 * np.log10(ratio[0] / ratio[c]) == pytest.approx(gains[0] - gains[c], abs=1e-6)


def test_mix_sources_with_given_levels_and_errors():
    a, b = np.ones(10) * 0.1, np.ones(8) * 0.2
    mix, out = mix_sources([a, b], [0.0, 0.0], mode="min", levels=[0.01, 0.04])
    np.testing.assert_allclose(out[0], out[1])  # equal after level normalisation
    assert out.shape == (2, 8)
    with pytest.raises(DataError, match="mode"):
        mix_sources([a, b], [0, 0], mode="mid")
    with pytest.raises(DataError, match="gains"):
        mix_sources([a, b], [0])
    with pytest.raises(DataError, match="silent"):
        mix_sources([a, np.zeros(10)], [0, 0])


def _write_sources(root, n=4, fs=8000):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = root / "src dir" / f"u{i}.wav"  # a space in the path
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, speechlike(rng, fs, 0.8 + 0.1 * i), fs, subtype="PCM_16")
        paths.append(str(p))
    return paths


@pytest.mark.parametrize("nj", [1, 2])
def test_create_mixtures_and_datadir(tmp_path, nj):
    paths = _write_sources(tmp_path)
    specs = [
        MixSpec("u0_1_u1_-1", (paths[0], paths[1]), (1.0, -1.0), ("u0", "u1")),
        MixSpec("u2_0.5_u3_-0.5", (paths[2], paths[3]), (0.5, -0.5), ("u2", "u3")),
        MixSpec("u1_2_u3_-2", (paths[1], paths[3]), (2.0, -2.0), ("u1", "u3")),
    ]
    out = tmp_path / "wav8k" / "min" / "tr"
    records = create_mixtures(specs, out, fs=8000, mode="min", nj=nj)
    assert [r.name for r in records] == [s.name for s in specs]
    for spec, r in zip(specs, records):
        mix, fs = sf.read(r.mix)
        assert fs == 8000 and sf.info(r.mix).subtype == "PCM_16"
        assert r.mix == str(out / "mix" / f"{spec.name}.wav")
        srcs = [sf.read(p)[0] for p in r.sources]
        assert mix.size == r.num_samples == min(sf.info(p).frames for p in spec.sources)
        np.testing.assert_allclose(mix, np.sum(srcs, axis=0), atol=3 / 32768)
        assert max(np.abs(mix).max(), max(np.abs(s).max() for s in srcs)) == pytest.approx(0.9, abs=1e-4)
    d = write_mixture_datadir(tmp_path / "data" / "tr", records, 8000, {"utt2category": {"u0_1_u1_-1": "a"}})
    dd = DataDir.load(d, require_sources=True)
    assert dd.num_spk == 2 and len(dd.utt_ids) == 3
    assert (d / "utt2category").read_text() == "u0_1_u1_-1 a\n"
    dur = dict(line.split() for line in (d / "utt2dur").read_text().splitlines())
    assert float(dur["u0_1_u1_-1"]) == pytest.approx(records[0].num_samples / 8000, abs=1e-4)


def test_create_mixtures_reuses_existing_files(tmp_path):
    paths = _write_sources(tmp_path, n=2)
    specs = [MixSpec("m", (paths[0], paths[1]), (0.0, 0.0))]
    out = tmp_path / "out"
    create_mixtures(specs, out)
    mix = out / "mix" / "m.wav"
    stamp = mix.stat().st_mtime_ns
    create_mixtures(specs, out)
    assert mix.stat().st_mtime_ns == stamp
    # a partly written mixture (mix file missing) is redone
    mix.unlink()
    create_mixtures(specs, out)
    assert mix.is_file()


def test_create_mixtures_errors(tmp_path):
    paths = _write_sources(tmp_path, n=2)
    dup = [MixSpec("m", (paths[0], paths[1]), (0, 0))] * 2
    with pytest.raises(DataError, match="duplicate"):
        create_mixtures(dup, tmp_path / "o")
    with pytest.raises(DataError, match="not found"):
        create_mixtures([MixSpec("m", (paths[0], str(tmp_path / "nope.wav")), (0, 0))], tmp_path / "o")


def test_resample_rates():
    x = np.random.default_rng(0).standard_normal(16000)
    assert mixing.resample(x, 16000, 8000).size == 8000
    assert mixing.resample(x, 8000, 8000) is x
