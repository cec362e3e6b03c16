"""Bad input as the user meets it: through dcsep-decode, dcsep-score, dcsep-train and dcsep-stats.

Each case checks the exit status (1), that the error is one line
``dcsep-xxx: error: ...`` naming the file and the problem, that no traceback is
printed, and that nothing else is lost: the good utterances of the same run
are still separated or scored, and a failing run leaves no output behind.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from conftest import make_tiny_corpus
from dcsep.bin import decode as decode_cli
from dcsep.bin import score as score_cli
from dcsep.bin import stats as stats_cli
from dcsep.bin import train as train_cli
from dcsep.data.audio import load_audio
from dcsep.model import DeepClustering

from .badfiles import BAD_WAVS, FS, NEEDS_NON_ROOT, is_root, make_bad_wav, tone

TRAIN_CONF = {
    "frontend_conf": {"fs": FS, "n_fft": 256, "hop_length": 64},
    "encoder": "blstm",
    "encoder_conf": {"num_layers": 1, "hidden_units": 8, "embed_dim": 4},
    "clusterer_conf": {"n_init": 1},
    "batch_size": 2,
    "chunk_frames": 20,
    "max_epochs": 1,
    "num_workers": 0,
}
KINDS = sorted(k for k in BAD_WAVS if not (k in NEEDS_NON_ROOT and is_root()))


def _point_logs_at_stderr() -> None:
    """The tools' log handlers may still hold the stderr of an earlier test (closed by now)."""
    for name in ("dcsep.decode", "dcsep.score"):
        for h in logging.getLogger(name).handlers:
            if type(h) is logging.StreamHandler:  # not pytest's own capture handlers
                h.stream = sys.stderr


def run(main, argv, capsys) -> tuple[int, list[str], list[str]]:
    """Exit status, the ``prog: error:`` lines and all lines of stderr."""
    capsys.readouterr()
    _point_logs_at_stderr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = err.splitlines()
    return rc, [ln for ln in lines if re.match(r"dcsep-\w+: (\[rank \d+\] )?error: ", ln)], lines


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A test set of 3 mixtures, a model dir, a training config and tiny train/valid dirs."""
    root = tmp_path_factory.mktemp("cli_errors")
    tt = make_tiny_corpus(root / "tt", num_utts=3, seconds=0.5, seed=5)
    tr = make_tiny_corpus(root / "tr", num_utts=2, seconds=0.5, seed=1)
    cv = make_tiny_corpus(root / "cv", num_utts=2, seconds=0.5, seed=2)
    torch.manual_seed(0)
    model_conf = {k: v for k, v in TRAIN_CONF.items() if k.startswith(("frontend", "encoder", "clusterer"))}
    model = DeepClustering.from_config(model_conf)
    (root / "exp").mkdir()
    model.save(root / "exp" / "model.pt")
    conf = root / "train.yaml"
    conf.write_text(yaml.safe_dump(TRAIN_CONF))
    bad = {k: make_bad_wav(k, root / "bad") for k in KINDS}
    return {"root": root, "tt": tt, "tr": tr, "cv": cv, "model": root / "exp", "conf": conf, "bad": bad}


def copy_dir(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for p in src.iterdir():
        if p.is_file():
            shutil.copy(p, dst / p.name)
    return dst


def set_entry(d: Path, scp: str, line: int, value) -> str:
    """Point line ``line`` of ``d/scp`` at ``value``; returns its utterance id."""
    lines = (d / scp).read_text().splitlines()
    utt = lines[line].split()[0]
    lines[line] = f"{utt} {value}"
    (d / scp).write_text("\n".join(lines) + "\n")
    return utt


def scp_ids(p: Path) -> list[str]:
    return [ln.split()[0] for ln in p.read_text().splitlines() if ln.strip()] if p.exists() else []


# --------------------------------------------------------------------------- bad audio files
@pytest.fixture(scope="module")
def decoded(env, tmp_path_factory):
    """One dcsep-decode run over good mixtures, one mixture per kind of bad file, a silent and a very loud one."""
    root = tmp_path_factory.mktemp("decode_bad")
    lines = (env["tt"] / "wav.scp").read_text()
    for k, (p, _) in env["bad"].items():
        lines += f"bad_{k} {p}\n"
    sf.write(root / "silent.wav", np.zeros(FS // 2, np.float32), FS, subtype="PCM_16")
    sf.write(root / "loud.wav", tone() * 1000, FS, subtype="FLOAT")  # peaks at 100 (+40 dB over full scale)
    lines += f"silent {root / 'silent.wav'}\nloud {root / 'loud.wav'}\n"
    (root / "wav.scp").write_text(lines)
    out = root / "out"
    buf = io.StringIO()  # capsys is function-scoped: capture by hand
    with contextlib.redirect_stderr(buf):
        _point_logs_at_stderr()
        rc = decode_cli.main(["--model", str(env["model"]), "--scp", str(root / "wav.scp"), "--outdir", str(out),
                              "--device", "cpu"])
    return {"rc": rc, "err": buf.getvalue(), "out": out}


#: kinds dcsep-decode takes since it reads any rate and channel count (issue 21): resampled, downmixed
DECODE_ACCEPTS = ("multi_channel", "wrong_sample_rate")


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in DECODE_ACCEPTS])
def test_decode_bad_wav(env, decoded, kind):
    path, pattern = env["bad"][kind]
    assert decoded["rc"] == 1
    assert "Traceback" not in decoded["err"]
    mine = [ln for ln in decoded["err"].splitlines() if ln.startswith(f"dcsep-decode: error: bad_{kind}:")]
    assert len(mine) == 1, decoded["err"]
    assert str(path) in mine[0] and re.search(pattern, mine[0]), mine[0]
    out = decoded["out"]
    assert f"bad_{kind}" not in scp_ids(out / "spk1.scp") + scp_ids(out / "spk2.scp")
    assert not list((out / "wav").glob(f"bad_{kind}-*"))
    assert f"bad_{kind} " in (out / "failed.txt").read_text()


def test_decode_bad_wavs_lose_nothing_else(env, decoded):
    """Good, silent and very loud mixtures are all separated, with finite output."""
    out = decoded["out"]
    expect = sorted(["loud", "silent", "utt000", "utt001", "utt002", *(f"bad_{k}" for k in DECODE_ACCEPTS)])
    for c in (1, 2):
        assert scp_ids(out / f"spk{c}.scp") == expect
        for line in (out / f"spk{c}.scp").read_text().splitlines():
            if line.startswith("bad_"):  # at the input's rate and length
                wav, rate = load_audio(line.split(maxsplit=1)[1])
                info = sf.info(env["bad"][line.split()[0][4:]][0])
                assert (rate, len(wav)) == (info.samplerate, info.frames) and np.all(np.isfinite(wav))
                continue
            wav, _ = load_audio(line.split(maxsplit=1)[1], fs=FS)
            assert np.all(np.isfinite(wav)) and len(wav) == FS // 2
            if line.startswith("silent "):
                assert not wav.any()  # silence in, silence out (no NaN, no noise)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def scored(env, decoded, tmp_path_factory):
    """One dcsep-score run: good utterances, one bad estimate and one bad reference per kind."""
    root = tmp_path_factory.mktemp("score_bad")
    tt, dec = env["tt"], decoded["out"]
    ref, est = root / "ref", root / "est"
    ref.mkdir(), est.mkdir()
    tab = {n: (tt / n).read_text().splitlines() for n in ("wav.scp", "spk1.scp", "spk2.scp")}
    good = {
        f"spk{c}.scp": [ln for ln in (dec / f"spk{c}.scp").read_text().splitlines() if ln.startswith("utt")]
        for c in (1, 2)
    }
    first = {n: lines[0].split(maxsplit=1)[1] for n, lines in {**tab, **{"e" + k: v for k, v in good.items()}}.items()}
    for k, (p, _) in env["bad"].items():
        for utt, bad_est in ((f"est_{k}", True), (f"ref_{k}", False)):
            tab["wav.scp"].append(f"{utt} {first['wav.scp']}")
            tab["spk1.scp"].append(f"{utt} {first['spk1.scp'] if bad_est else p}")
            tab["spk2.scp"].append(f"{utt} {first['spk2.scp']}")
            good["spk1.scp"].append(f"{utt} {p if bad_est else first['espk1.scp']}")
            good["spk2.scp"].append(f"{utt} {first['espk2.scp']}")
    for n, lines in tab.items():
        (ref / n).write_text("\n".join(lines) + "\n")
    for n, lines in good.items():
        (est / n).write_text("\n".join(lines) + "\n")
    buf = io.StringIO()
    with contextlib.redirect_stderr(buf):
        _point_logs_at_stderr()
        rc = score_cli.main(["--ref", str(ref), "--est", str(est), "--no-extra-metrics"])
    return {"rc": rc, "err": buf.getvalue(), "est": est}


@pytest.mark.parametrize("which", ["estimate", "reference"])
@pytest.mark.parametrize("kind", KINDS)
def test_score_bad_wav(env, scored, kind, which):
    path, pattern = env["bad"][kind]
    utt = f"{which[:3]}_{kind}"
    assert scored["rc"] == 1 and "Traceback" not in scored["err"]
    mine = [ln for ln in scored["err"].splitlines() if ln.startswith(f"dcsep-score: error: {utt}:")]
    assert len(mine) == 1, scored["err"]
    assert f"{which} 1" in mine[0] and str(path) in mine[0] and re.search(pattern, mine[0]), mine[0]
    assert utt not in scp_ids(scored["est"] / "scores.tsv")


def test_score_bad_wavs_lose_nothing_else(scored):
    rows = (scored["est"] / "scores.tsv").read_text().splitlines()
    assert [r.split("\t")[0] for r in rows[1:]] == ["utt000", "utt001", "utt002"]
    assert all(np.isfinite(float(x)) for r in rows[1:] for x in r.split("\t")[1:-1])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("which", ["train", "valid"])
def test_train_bad_wav(env, tmp_path, capsys, kind, which):
    path, pattern = env["bad"][kind]
    d = copy_dir(env[which[:2] if which == "train" else "cv"], tmp_path / which)
    utt = set_entry(d, "wav.scp" if which == "train" else "spk2.scp", 1, path)
    tr, cv = (d, env["cv"]) if which == "train" else (env["tr"], d)
    exp = tmp_path / "exp"
    rc, errors, _ = run(train_cli.main, ["--config", env["conf"], "--train-dir", tr, "--valid-dir", cv,
                                         "--exp-dir", exp, "--no-progress"], capsys)
    assert rc == 1 and len(errors) == 1
    assert utt in errors[0] and str(path) in errors[0] and re.search(pattern, errors[0]), errors[0]
    assert not (exp / "model.pt").exists() and not list(exp.rglob("*.pt"))


@pytest.mark.parametrize("kind", KINDS)
def test_stats_bad_wav(env, tmp_path, capsys, kind):
    path, pattern = env["bad"][kind]
    d = copy_dir(env["tr"], tmp_path / "tr")
    utt = set_entry(d, "wav.scp", 1, path)
    rc, errors, _ = run(stats_cli.main, ["--data-dir", d, "--config", env["conf"], "--out", tmp_path / "st.pt"], capsys)
    assert rc == 1 and len(errors) == 1
    assert str(d / "wav.scp") in errors[0] and utt in errors[0] and str(path) in errors[0]
    assert re.search(pattern, errors[0]), errors[0]
    assert not (tmp_path / "st.pt").exists()


# --------------------------------------------------------------------------- bad lists
def _dup(d: Path, scp: str):
    lines = (d / scp).read_text().splitlines()
    (d / scp).write_text("\n".join([*lines, lines[0]]) + "\n")
    return rf"{re.escape(str(d / scp))}:{len(lines) + 1}: duplicate utterance id 'utt000'"


def _missing_field(d: Path, scp: str):
    lines = (d / scp).read_text().splitlines()
    lines[1] = lines[1].split()[0]
    (d / scp).write_text("\n".join(lines) + "\n")
    return rf"{re.escape(str(d / scp))}:2: expected '<utt-id> <value>', got 'utt001'"


def _not_utf8(d: Path, scp: str):
    (d / scp).write_bytes((d / scp).read_bytes() + b"utt9 /x\xff.wav\n")
    return rf"{re.escape(str(d / scp))}: not a UTF-8 text list"


def _empty(d: Path, scp: str):
    (d / scp).write_text("\n")
    return rf"{re.escape(str(d / scp))}: empty list"


def _spk_disagrees(d: Path, scp: str):
    lines = (d / "spk2.scp").read_text().splitlines()
    (d / "spk2.scp").write_text("\n".join(lines[:-1]) + "\n")
    return rf"{re.escape(str(d / 'spk2.scp'))}: utterance ids disagree with wav.scp"


def _spk_extra(d: Path, scp: str):
    with open(d / "spk1.scp", "a") as f:
        f.write("stranger /x.wav\n")
    return rf"{re.escape(str(d / 'spk1.scp'))}: utterance ids disagree with wav.scp"


LIST_FAULTS = {"duplicate_id": _dup, "missing_field": _missing_field, "not_utf8": _not_utf8, "empty": _empty,
               "spk_scp_missing_utt": _spk_disagrees, "spk_scp_extra_utt": _spk_extra}
#: which tools read which lists: (tool, list with the fault)
LIST_CASES = [
    ("decode", "wav.scp"),
    ("decode_ref", "wav.scp"),  # --ref DATADIR of oracle decoding
    ("score_ref", "wav.scp"),
    ("score_ref", "spk1.scp"),
    ("score_est", "spk1.scp"),  # the estimates' list
    ("train", "wav.scp"),
    ("train", "spk2.scp"),
    ("valid", "spk1.scp"),
    ("stats", "wav.scp"),
]


def _list_cli(tool: str, env, d: Path, out: Path) -> tuple:
    if tool == "decode":
        return decode_cli.main, ["--model", env["model"], "--scp", d / "wav.scp", "--outdir", out, "--device", "cpu"]
    if tool == "decode_ref":
        return decode_cli.main, ["--oracle", "ibm", "--ref", d, "--scp", env["tt"] / "wav.scp", "--outdir", out]
    if tool == "score_ref":
        return score_cli.main, ["--ref", d, "--est", out, "--mixture-baseline", "--no-extra-metrics"]
    if tool == "score_est":
        return score_cli.main, ["--ref", env["tt"], "--est", d, "--no-extra-metrics"]
    if tool in ("train", "valid"):
        tr, cv = (d, env["cv"]) if tool == "train" else (env["tr"], d)
        return train_cli.main, ["--config", env["conf"], "--train-dir", tr, "--valid-dir", cv, "--exp-dir", out,
                                "--no-progress"]
    return stats_cli.main, ["--data-dir", d, "--config", env["conf"], "--out", out / "stats.pt"]


def _list_params():
    for tool, scp in LIST_CASES:
        for fault in sorted(LIST_FAULTS):
            if fault.startswith("spk_scp") and tool in ("decode", "stats", "score_est"):
                continue  # these tools read no spk*.scp there
            if tool == "score_est" and fault == "empty":
                continue  # an empty estimate list is valid (nothing decoded yet): each utterance fails instead
            yield pytest.param(tool, scp, fault, id=f"{tool}-{scp}-{fault}")


@pytest.mark.parametrize("tool, scp, fault", list(_list_params()))
def test_bad_list(env, tmp_path, capsys, tool, scp, fault):
    src = {"train": env["tr"], "valid": env["cv"], "stats": env["tr"]}.get(tool, env["tt"])
    if tool == "score_est":  # a decode dir: spk1.scp, spk2.scp of wavs
        d = tmp_path / "est"
        d.mkdir()
        for c in (1, 2):
            shutil.copy(src / f"spk{c}.scp", d / f"spk{c}.scp")
    else:
        d = copy_dir(src, tmp_path / "data")
    pattern = LIST_FAULTS[fault](d, scp)
    out = tmp_path / "out"
    main, argv = _list_cli(tool, env, d, out)
    rc, errors, lines = run(main, argv, capsys)
    assert rc == 1 and len(errors) == 1, lines
    assert re.search(pattern, errors[0]), errors[0]
    # nothing written but the training log, which ends with the error
    written = [p for p in out.rglob("*") if p.is_file() and p.name != "train.log"] if out.exists() else []
    if tool in ("train", "valid"):
        assert (out / "train.log").read_text().splitlines()[-1].endswith(" ERROR " + errors[0].split("error: ", 1)[1])
    if tool == "score_est":
        written = [p for p in d.iterdir() if p.name not in ("spk1.scp", "spk2.scp")]
    assert not written, written


# --------------------------------------------------------------------------- bad configs and model files
@pytest.mark.parametrize(
    "patch, needles",
    [
        ({"encoder_conff": {}}, ["unknown key 'encoder_conff'"]),
        ({"frontend_conf": {"n_fft": "big"}}, ["frontend_conf", "n_fft"]),
        ({"frontend": "mel"}, ["frontend: unknown frontend 'mel'", "stft"]),
        ({"loss": "l1"}, ["loss: unknown loss 'l1'"]),
        ({"batch_size": "two"}, ["batch_size must be int"]),
    ],
    ids=["unknown_key", "wrong_type", "unknown_frontend", "unknown_loss", "train_key_wrong_type"],
)
def test_stats_bad_config(env, tmp_path, capsys, patch, needles):
    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump({**TRAIN_CONF, **patch}))
    rc, errors, _ = run(stats_cli.main, ["--data-dir", env["tr"], "--config", conf, "--out", tmp_path / "s.pt"], capsys)
    assert rc == 1 and len(errors) == 1 and str(conf) in errors[0], errors
    for n in needles:
        assert n in errors[0], (n, errors[0])
    assert not (tmp_path / "s.pt").exists()


@pytest.mark.parametrize(
    "extra, needles",
    [
        (["--clusterer", "kmeanz"], ["unknown clusterer 'kmeanz'", "kmeans"]),
        (["--clusterer-conf", "{n_init: many}"], ["n_init"]),
        (["--clusterer-conf", "{n_inits: 2}"], ["unknown key 'n_inits'"]),
        (["--clusterer-conf", "[1, 2]"], ["--clusterer-conf must be a mapping"]),
        (["--clusterer-conf", "{a: [1"], ["--clusterer-conf: invalid YAML"]),
        (["--clusterer", "oracle_kmeans"], ["needs the reference sources: give --ref"]),
        (["--num-spk", "0"], ["--num-spk must be >= 1, got 0"]),
    ],
    ids=["unknown_clusterer", "conf_wrong_type", "conf_unknown_key", "conf_not_mapping", "conf_bad_yaml",
         "oracle_without_ref", "num_spk_0"],
)
def test_decode_bad_options(env, tmp_path, capsys, extra, needles):
    out = tmp_path / "out"
    rc, errors, lines = run(decode_cli.main, ["--model", env["model"], "--scp", env["tt"] / "wav.scp", "--outdir", out,
                                              "--device", "cpu", *extra], capsys)
    assert rc == 1 and len(errors) == 1, lines
    for n in needles:
        assert n in errors[0], (n, errors[0])
    assert not out.exists()


def _incompatible_model(env, path: Path):
    """A model file whose weights (embed_dim 4) do not fit its config (embed_dim 8)."""
    pkg = torch.load(env["model"] / "model.pt", weights_only=True)
    pkg["config"]["encoder_conf"]["embed_dim"] = 8
    path.mkdir()
    torch.save(pkg, path / "model.pt")
    return path


def _pickle_model(env, path: Path):
    path.mkdir()
    torch.save({"config": {}, "state_dict": {}, "x": Path("/")}, path / "model.pt")  # a non-tensor object
    return path


def _truncated_model(env, path: Path):
    path.mkdir()
    data = (env["model"] / "model.pt").read_bytes()
    (path / "model.pt").write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    "make, needles",
    [
        (_incompatible_model, ["weights do not fit the stored config", "encoder.linear.weight"]),
        (_pickle_model, ["refused to load model file"]),
        (_truncated_model, ["model.pt"]),
        (lambda env, p: p, ["model file not found"]),
    ],
    ids=["incompatible_config", "pickled_object", "truncated", "missing"],
)
def test_decode_bad_model_file(env, tmp_path, capsys, make, needles):
    model = make(env, tmp_path / "m")
    out = tmp_path / "out"
    rc, errors, lines = run(decode_cli.main, ["--model", model, "--scp", env["tt"] / "wav.scp", "--outdir", out,
                                              "--device", "cpu"], capsys)
    assert rc == 1 and len(errors) == 1, lines
    assert str(tmp_path / "m") in errors[0]
    for n in needles:
        assert n in errors[0], (n, errors[0])
    assert "weights_only` set to `False`" not in errors[0]
    assert not out.exists()


def test_train_resume_with_incompatible_config(env, tmp_path, capsys):
    """--resume from a checkpoint of another model config: one line, and the checkpoint is left as it was."""
    exp = tmp_path / "exp"
    argv = ["--train-dir", env["tr"], "--valid-dir", env["cv"], "--exp-dir", exp, "--no-progress"]
    rc, errors, lines = run(train_cli.main, ["--config", env["conf"], *argv], capsys)
    assert rc == 0, lines
    ckpt = exp / "checkpoints" / "checkpoint.pt"
    before = ckpt.read_bytes()
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**TRAIN_CONF, "max_epochs": 2,
                                     "encoder_conf": {"num_layers": 1, "hidden_units": 8, "embed_dim": 6}}))
    rc, errors, lines = run(train_cli.main, ["--config", other, *argv, "--resume"], capsys)
    assert rc == 1 and len(errors) == 1, lines
    assert "encoder_conf" in errors[0] and str(exp) in errors[0], errors[0]
    assert ckpt.read_bytes() == before


def test_train_all_silent_utterance_trains(env, tmp_path, capsys):
    """A silent mixture (and silent sources) in the training data: training runs, every batch is finite."""
    d = copy_dir(env["tr"], tmp_path / "tr")
    sf.write(tmp_path / "zeros.wav", np.zeros(FS // 2, np.float32), FS, subtype="PCM_16")
    for scp in ("wav.scp", "spk1.scp", "spk2.scp"):
        set_entry(d, scp, 0, tmp_path / "zeros.wav")
    exp = tmp_path / "exp"
    rc, errors, lines = run(train_cli.main, ["--config", env["conf"], "--train-dir", d, "--valid-dir", env["cv"],
                                             "--exp-dir", exp, "--no-progress"], capsys)
    assert rc == 0, lines
    summary = json.loads((exp / "train_summary.json").read_text())
    assert summary["nonfinite_batches"] == 0, summary
    sd = torch.load(exp / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.isfinite(v).all() for v in sd.values() if v.is_floating_point())


# --------------------------------------------------------------------------- utterance ids and paths
EVIL_IDS = ["../escape", "..", "a/b", "a\\b", "-rf", "x/../../y", "./z"]


def test_decode_utterance_ids_cannot_leave_outdir(env, tmp_path, capsys):
    wav = (env["tt"] / "wav.scp").read_text().splitlines()[0].split(maxsplit=1)[1]
    scp = tmp_path / "in" / "wav.scp"
    scp.parent.mkdir()
    scp.write_text("".join(f"{u} {wav}\n" for u in ["good", *EVIL_IDS]))
    out = tmp_path / "deep" / "out"
    before = {p for p in tmp_path.rglob("*")}
    argv = ["--model", env["model"], "--scp", scp, "--outdir", out, "--device", "cpu"]
    rc, errors, lines = run(decode_cli.main, argv, capsys)
    assert rc == 1
    assert len(errors) == len(EVIL_IDS), lines
    for u in EVIL_IDS:
        assert any(repr(u) in e and "not a safe file name" in e for e in errors), u
    new = {p for p in tmp_path.rglob("*")} - before
    assert all(p == out.parent or out in p.parents or p == out for p in new), sorted(new)
    assert sorted(p.name for p in (out / "wav").iterdir()) == ["good-spk1.wav", "good-spk2.wav"]
    assert scp_ids(out / "spk1.scp") == ["good"]


def test_mixture_names_cannot_leave_the_corpus_dir(tmp_path):
    from dcsep.data.mixing import mixture_paths
    from dcsep.errors import DataError

    for name in ["../x", "a/b", "a\\b", "", "x\ny"]:
        with pytest.raises(DataError, match="cannot be a file name"):
            mixture_paths(tmp_path, name, 2)
    mix, srcs = mixture_paths(tmp_path, "011a0101_0.1_20aa010f_-0.1", 2)
    assert mix.parent == tmp_path / "mix" and [s.parent.name for s in srcs] == ["s1", "s2"]


# --------------------------------------------------------------------------- disk full through the tools
def test_decode_disk_full_then_rerun(env, tmp_path, capsys, monkeypatch):
    """Writes fail (ENOSPC) from the 3rd wav on: one line per utterance, only complete utterances are listed,
    and a re-run once space is back finishes the rest."""
    out = tmp_path / "out"
    argv = ["--model", env["model"], "--scp", env["tt"] / "wav.scp", "--outdir", out, "--device", "cpu"]
    real = sf.write
    calls = []

    def full(file, data, *a, **k):
        calls.append(file)
        if len(calls) >= 3:
            real(file, data[: len(data) // 3], *a, **k)  # part of it reached the disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(file, data, *a, **k)

    monkeypatch.setattr(sf, "write", full)
    rc, errors, lines = run(decode_cli.main, argv, capsys)
    monkeypatch.undo()
    assert rc == 1 and len(errors) == 2, lines
    for e, utt in zip(errors, ["utt001", "utt002"]):
        assert e.startswith(f"dcsep-decode: error: {utt}: ") and "cannot write: No space left on device" in e, e
        assert f"{out}/wav/{utt}-spk1.wav" in e
    assert scp_ids(out / "spk1.scp") == scp_ids(out / "spk2.scp") == ["utt000"]
    assert sorted(p.name for p in (out / "wav").iterdir()) == ["utt000-spk1.wav", "utt000-spk2.wav"]  # no temp files
    rc, errors, lines = run(decode_cli.main, argv, capsys)
    assert rc == 0 and not errors, lines
    assert scp_ids(out / "spk1.scp") == ["utt000", "utt001", "utt002"]


def test_train_disk_full_keeps_checkpoint_then_resumes(env, tmp_path, capsys, monkeypatch):
    """A checkpoint write fails mid-way: one line naming the file; the previous checkpoint loads; --resume finishes."""
    exp = tmp_path / "exp"
    conf = tmp_path / "train.yaml"
    conf.write_text(yaml.safe_dump({**TRAIN_CONF, "max_epochs": 2, "save_interval_steps": 1}))
    argv = ["--config", conf, "--train-dir", env["tr"], "--valid-dir", env["cv"], "--exp-dir", exp, "--no-progress"]
    real = torch.save
    n = []

    def full(obj, f, *a, **k):
        if isinstance(f, (str, Path)) and ".checkpoint.pt." in Path(f).name:
            n.append(f)
            if len(n) == 3:
                real(obj, f, *a, **k)
                Path(f).write_bytes(Path(f).read_bytes()[:100])
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", full)
    rc, errors, lines = run(train_cli.main, argv, capsys)
    monkeypatch.undo()
    ckpt = exp / "checkpoints" / "checkpoint.pt"
    assert rc == 1 and len(errors) == 1, lines
    assert errors[0].startswith(f"dcsep-train: error: {ckpt}: cannot write: No space left on device"), errors[0]
    assert "the previous file is unchanged" in errors[0]
    state = torch.load(ckpt, weights_only=True)["state"]
    assert state["global_step"] == 2, state
    assert not [p for p in exp.rglob("*.tmp")]
    rc, errors, lines = run(train_cli.main, [*argv, "--resume"], capsys)
    assert rc == 0 and not errors, lines
    assert (exp / "model.pt").is_file()


# --------------------------------------------------------------------------- the installed commands
def test_console_script_exit_status_and_one_line(tmp_path):
    """The real entry point: exit status 1 and one error line on stderr naming the path, nothing on stdout.

    (The other tests call each tool's ``main``, whose return value the entry point passes to ``sys.exit``.)
    """
    exe = Path(sys.executable).parent / "dcsep-decode"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dcsep.bin.decode"]
    ref = tmp_path / "no such dir"
    out = subprocess.run([*cmd, "--oracle", "ibm", "--ref", str(ref), "--scp", str(tmp_path / "wav.scp"),
                          "--outdir", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr == f"dcsep-decode: error: {ref}: data dir not found\n"
    assert not (tmp_path / "out").exists()
