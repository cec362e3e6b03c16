"""dcsep-separate: any file in (format, rate, channels), sources out at its rate and length;
per-file failures, option errors and name clashes in one line; re-runs replace the outputs."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import TINY_MODEL, harmonic_voice
from dcsep.bin.separate import main
from dcsep.model import DeepClustering


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("separate_cli")
    torch.manual_seed(0)
    DeepClustering.from_config(TINY_MODEL).save(root / "exp" / "model.pt", extra={"num_spk": 2})
    return root / "exp"


def voices(rate: int, seconds: float = 0.6, channels: int = 1) -> np.ndarray:
    """(L,) or (L, channels): harmonic voices generated at 8 kHz, resampled to ``rate``."""
    from dcsep.data.audio import resample

    rng = np.random.default_rng(rate + channels)
    chans = [harmonic_voice(rng, 110 * (c + 1), seconds) + harmonic_voice(rng, 230, seconds) for c in range(channels)]
    x = resample(np.stack(chans), 8000, rate)
    return x[0] if channels == 1 else x.T


def run(model_dir, out, *args) -> int:
    return main(["-o", str(out), "--model", str(model_dir), "--device", "cpu", *map(str, args)])


def errors(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("dcsep-separate: error:")]


FILES = [("a.wav", 44100, 2, "PCM_16"), ("b.flac", 16000, 1, "PCM_24"), ("c.ogg", 8000, 3, "VORBIS")]
if "MP3" in sf.available_formats():
    FILES.append(("d.mp3", 22050, 1, "MPEG_LAYER_III"))


def test_any_file_gives_sources_at_its_rate_and_length(model_dir, tmp_path, capsys):
    paths = []
    for name, rate, channels, subtype in FILES:
        paths.append(tmp_path / name)
        sf.write(paths[-1], voices(rate, channels=channels), rate, subtype=subtype)
    assert run(model_dir, tmp_path / "out", *paths) == 0
    err = capsys.readouterr().err
    assert "2 channels, downmixed to mono" in err and "3 channels, downmixed to mono" in err
    assert "resampled from 44100 Hz to the model's 8000 Hz" in err
    assert f"{len(FILES)}/{len(FILES)} inputs separated" in err and not errors(err)
    for p, (name, rate, _, _) in zip(paths, FILES):
        frames = sf.read(p)[0].shape[0]  # what the decoder gives (lossy coders may pad)
        for c in (1, 2):
            info = sf.info(tmp_path / "out" / f"{p.stem}-spk{c}.wav")
            assert (info.samplerate, info.channels, info.frames, info.subtype) == (rate, 1, frames, "PCM_16")
    # the sources of a mono wav at the model's rate add up to it (binary masks of a perfect-reconstruction STFT)
    x = voices(8000)
    sf.write(tmp_path / "m.wav", x, 8000, subtype="FLOAT")
    assert main([str(tmp_path / "m.wav"), "-o", str(tmp_path / "km"), "--model", str(model_dir), "--clusterer", "kmeans"]) == 0
    est = sum(sf.read(tmp_path / "km" / f"m-spk{c}.wav")[0] for c in (1, 2))
    np.testing.assert_allclose(est, x, atol=2e-4)


def test_channel_and_per_file_failures(model_dir, tmp_path, capsys):
    stereo = voices(8000, channels=2)
    sf.write(tmp_path / "st.wav", stereo, 8000, subtype="FLOAT")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all" * 10)
    code = run(model_dir, tmp_path / "out", tmp_path / "missing.wav", tmp_path / "junk.wav", tmp_path / "st.wav", "--channel", "1", "--num-spk", "3")
    err = capsys.readouterr().err
    assert code == 1
    lines = errors(err)
    assert len(lines) == 2 and "missing.wav: file not found" in lines[0] and "junk.wav: cannot read audio" in lines[1]
    assert "2 channels, channel 1 taken" in err and "1/3 inputs separated" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["st-spk1.wav", "st-spk2.wav", "st-spk3.wav"]
    assert run(model_dir, tmp_path / "out", tmp_path / "st.wav", "--channel", "2") == 1
    assert "channel 2 asked for, the input has 2 (0..1)" in errors(capsys.readouterr().err)[0]
    # a re-run with fewer sources replaces the outputs and removes the stale one
    assert run(model_dir, tmp_path / "out", tmp_path / "st.wav") == 0
    assert "removed st-spk3.wav of an earlier run" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["st-spk1.wav", "st-spk2.wav"]


@pytest.mark.parametrize(
    "args, match, code",
    [
        (["--num-spk", "0"], "--num-spk: a whole number >= 1 or auto, got '0'", 2),
        (["--num-spk", "2.5"], "--num-spk: a whole number >= 1 or auto, got '2.5'", 2),
        (["--max-spk", "0"], "--max-spk: a whole number >= 1, got '0'", 2),
        (["--max-spk", "auto"], "--max-spk: a whole number >= 1, got 'auto'", 2),
        (["--channel", "left"], "--channel: a channel index (0, 1, ...) or 'mean', got 'left'", 2),
        (["--device", "tpu"], "device 'tpu': not a device name", 1),
        (["--clusterer", "nope"], "nope", 1),
        (["--clusterer", "oracle_kmeans"], "needs reference sources; use dcsep-decode --ref", 1),
        (["--clusterer-conf", "[1"], "--clusterer-conf: invalid YAML", 1),
    ],
)
def test_option_errors_are_one_line(model_dir, tmp_path, capsys, args, match, code):
    sf.write(tmp_path / "m.wav", voices(8000), 8000)
    if code == 2:
        with pytest.raises(SystemExit) as e:
            main([str(tmp_path / "m.wav"), "-o", str(tmp_path / "out"), *args])
        assert e.value.code == 2
    else:
        assert run(model_dir, tmp_path / "out", tmp_path / "m.wav", *args) == 1
    err = capsys.readouterr().err
    assert match in err.strip().splitlines()[-1] and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing made before the options are checked


def test_name_clash_and_outdir_file(model_dir, tmp_path, capsys):
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        sf.write(tmp_path / d / "m.wav", voices(8000), 8000)
    assert run(model_dir, tmp_path / "out", tmp_path / "x" / "m.wav", tmp_path / "y" / "m.wav") == 1
    assert "would both write" in errors(capsys.readouterr().err)[0] and not (tmp_path / "out").exists()
    (tmp_path / "afile").write_text("")
    assert run(model_dir, tmp_path / "afile", tmp_path / "x" / "m.wav") == 1
    assert "exists and is not a directory" in errors(capsys.readouterr().err)[0]


def test_default_model_separates_a_stereo_44k_file(tmp_path, capsys):
    """The front door: the released model, no option but the output dir, on a 44.1 kHz stereo file."""
    sf.write(tmp_path / "rec.wav", voices(44100, seconds=1.5, channels=2), 44100)
    assert main([str(tmp_path / "rec.wav"), "-o", str(tmp_path / "sep")]) == 0
    err = capsys.readouterr().err
    assert "model speechocean762_dc_blstm (8000 Hz" in err and "2 sources -> rec-spk1.wav rec-spk2.wav" in err
    for c in (1, 2):
        y, rate = sf.read(tmp_path / "sep" / f"rec-spk{c}.wav")
        assert rate == 44100 and y.shape == (int(1.5 * 44100),) and np.abs(y).max() > 1e-3


def test_num_spk_auto_counts_per_file(tmp_path, capsys):
    """--num-spk auto with the released model: as many outputs as Separator(num_spk="auto") finds; capped at one
    by --max-spk, the one output is the input (at its own rate), and the outputs of the run before are removed."""
    from dcsep.data.audio import resample
    from dcsep.separate import Separator

    rng = np.random.default_rng(5)
    two = (harmonic_voice(rng, 120, 2.0) + harmonic_voice(rng, 260, 2.0)) * 3
    sf.write(tmp_path / "two.wav", resample(two, 8000, 16000), 16000, subtype="FLOAT")
    x, rate = sf.read(tmp_path / "two.wav", dtype="float32")
    n = Separator.from_pretrained("speechocean762_dc_blstm", device="cpu", num_spk="auto", max_spk=4).separate(x, fs=rate).shape[0]
    assert main([str(tmp_path / "two.wav"), "-o", str(tmp_path / "out"), "--num-spk", "auto", "--max-spk", "4"]) == 0
    names = " ".join(f"two-spk{c + 1}.wav" for c in range(n))
    assert f"{n} sources found -> {names}" in capsys.readouterr().err
    assert len(list((tmp_path / "out").glob("two-*"))) == n
    fixed = main([str(tmp_path / "two.wav"), "-o", str(tmp_path / "out"), "--num-spk", "2"])
    assert fixed == 0 and len(list((tmp_path / "out").glob("two-*"))) == 2
    assert main([str(tmp_path / "two.wav"), "-o", str(tmp_path / "out"), "--num-spk", "auto", "--max-spk", "1"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("two-*")) == ["two-spk1.wav"]  # spk2 of the run before removed
    y, rate = sf.read(tmp_path / "out" / "two-spk1.wav")
    np.testing.assert_allclose(y, x, atol=1 / 32768)
    assert rate == 16000


def test_log_handler_lasts_one_call(model_dir, tmp_path, capsys):
    """The tool's log handler is removed when it returns: a later log line of dcsep (in the same process,
    e.g. another tool's) is not written to the stream the call had."""
    import logging

    sf.write(tmp_path / "m.wav", voices(8000), 8000)
    handlers = list(logging.getLogger("dcsep").handlers)
    assert run(model_dir, tmp_path / "out", tmp_path / "m.wav") == 0
    assert logging.getLogger("dcsep").handlers == handlers
