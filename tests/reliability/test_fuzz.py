"""Property tests: arbitrary scp text and YAML configs fail only with dcsep's own errors.

Contract (see docs/reliability.md): problems with data (scp lists, data dirs,
audio) raise :class:`~dcsep.errors.DataError`; problems with configuration
(YAML files, model configs, model files) raise
:class:`~dcsep.errors.ConfigError`. Both derive from ``DcsepError``, which the
command-line tools turn into a one-line message and exit status 1.
"""

from __future__ import annotations

import inspect
import os

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcsep.config import loads_yaml
from dcsep.data.datadir import DataDir, read_scp
from dcsep.errors import ConfigError, DataError
from dcsep.model import MODEL_KEYS, DeepClustering
from dcsep.registry import REGISTRIES

SETTINGS = settings(max_examples=int(os.environ.get("DCSEP_FUZZ_EXAMPLES", 60)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# ---------------------------------------------------------------- scp text
ids = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=8)
line = st.one_of(
    st.builds(lambda k, v: f"{k} {v}", ids, st.text(max_size=20)),
    st.builds(lambda k: k, ids),
    st.text(max_size=30),
    st.sampled_from(["", " ", "\t", "utt1 a.wav", "utt1  a b.wav", "utt1", "\r", "\x00", "\ufeffutt1 a.wav"]),
)
scp_text = st.lists(line, max_size=8).map("\n".join)


def _check_scp(d: dict[str, str]) -> None:
    for k, v in d.items():
        assert k and not any(c.isspace() for c in k)
        assert v == v.strip() and v


@SETTINGS
@given(text=scp_text)
def test_read_scp_text(tmp_path, text):
    p = tmp_path / "wav.scp"
    p.write_text(text, encoding="utf-8")
    try:
        _check_scp(read_scp(p))
    except DataError as e:
        assert str(p) in str(e) and "\n" not in str(e)


@SETTINGS
@given(data=st.binary(max_size=64))
def test_read_scp_bytes(tmp_path, data):
    p = tmp_path / "wav.scp"
    p.write_bytes(data)
    try:
        _check_scp(read_scp(p))
    except DataError as e:
        assert str(p) in str(e) and "\n" not in str(e)


@SETTINGS
@given(wav=scp_text, spk1=scp_text, spk2=st.one_of(st.none(), scp_text))
def test_datadir_from_arbitrary_lists(tmp_path, wav, spk1, spk2):
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    for name in ("wav.scp", "spk1.scp", "spk2.scp"):
        (d / name).unlink(missing_ok=True)
    (d / "wav.scp").write_text(wav, encoding="utf-8")
    (d / "spk1.scp").write_text(spk1, encoding="utf-8")
    if spk2 is not None:
        (d / "spk2.scp").write_text(spk2, encoding="utf-8")
    try:
        dd = DataDir.load(d, require_sources=True)
    except DataError as e:
        assert str(d) in str(e) and "\n" not in str(e)
    else:
        assert all(s.keys() == dd.wav.keys() for s in dd.spk)


# ---------------------------------------------------------------- YAML configs
# Sizes stay small: a config asking for a multi-gigabyte network is valid YAML,
# and allocating it is the user's call, not a crash to test for.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.sampled_from(["tanh", "vad", "none", "sqrt_hann", "hann", "magnitude", "linear"]),
)
values = st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=6), c, max_size=3)), max_leaves=6)


def _param_names() -> list[str]:
    names = set()
    for reg in REGISTRIES.values():
        for n in reg.names():
            params = inspect.signature(reg.get(n).__init__).parameters
            names |= {p for p in params if p != "self"}
    return sorted(names)


PARAMS = _param_names()
PLUGIN_NAMES = sorted({n for reg in REGISTRIES.values() for n in reg.names()})
conf = st.dictionaries(st.one_of(st.sampled_from(PARAMS), st.text(max_size=6)), values, max_size=4)
kinds = ["frontend", "encoder", "loss", "clusterer"]
model_conf = st.fixed_dictionaries(
    {},
    optional={
        **{k: st.one_of(st.sampled_from(PLUGIN_NAMES), values) for k in kinds},
        **{f"{k}_conf": st.one_of(conf, values) for k in kinds},
        "extra_key": values,
    },
)


def _small(c: dict) -> dict:
    """Keep the network tiny whatever the draw (a huge valid model is not the point)."""
    enc = c.get("encoder_conf")
    if isinstance(enc, dict):
        for k in ("hidden_units", "embed_dim", "num_layers", "channels"):
            if isinstance(enc.get(k), int) and not isinstance(enc[k], bool):
                enc[k] = min(enc[k], 8)
    return c


@SETTINGS
@given(c=model_conf)
def test_model_from_arbitrary_yaml_config(tmp_path, c):
    c = _small(c)
    p = tmp_path / "model.yaml"
    p.write_text(yaml.safe_dump(c), encoding="utf-8")
    try:
        model = DeepClustering.from_yaml(p)
    except ConfigError as e:
        assert str(p) in str(e) and "\n" not in str(e)
        return
    # a config that builds must also run and round-trip
    V, _, _ = model(torch.zeros(1, 400))
    assert torch.isfinite(V).all()
    model.save(tmp_path / "m.pt")
    DeepClustering.load(tmp_path / "m.pt")


@SETTINGS
@given(text=st.text(max_size=80))
def test_arbitrary_yaml_text(text):
    try:
        data = loads_yaml(text, where="conf.yaml")
    except ConfigError as e:
        assert str(e).startswith("conf.yaml") and "\n" not in str(e)
        return
    if isinstance(data, dict):
        try:
            DeepClustering.from_config(_small(data), where="conf.yaml")
        except ConfigError as e:
            assert str(e).startswith("conf.yaml") and "\n" not in str(e)


# ---------------------------------------------------------------- training configs
def _train_fields():
    from dcsep.train.config import TRAIN_KEYS

    return list(TRAIN_KEYS)


TRAIN_FIELDS = _train_fields()
train_values = st.one_of(
    values,
    st.sampled_from(["adam", "sgd", "plateau", "step", "none", "chunks", "dynamic_mix", "bfloat16", "1e-3", "5"]),
    st.lists(
        st.dictionaries(st.sampled_from(["epochs", "chunk_frames", "batch_size", "lr"]), st.integers(-2, 50), max_size=3),
        max_size=3,
    ),
    st.dictionaries(
        st.sampled_from(["lr", "momentum", "factor", "patience", "step_size", "gamma", "max_chunks_per_utt", "num_spk"]),
        scalars,
        max_size=3,
    ),
)
train_conf = st.dictionaries(st.one_of(st.sampled_from(TRAIN_FIELDS), st.text(max_size=6)), train_values, max_size=5)


@SETTINGS
@given(c=train_conf)
def test_training_config_from_arbitrary_yaml(tmp_path, c):
    """Any training YAML either loads into a TrainConfig or fails with one ConfigError line naming the file."""
    from dcsep.train.config import load_train_config

    p = tmp_path / "train.yaml"
    tiny = {"encoder_conf": {"num_layers": 1, "hidden_units": 4, "embed_dim": 4}}
    p.write_text(yaml.safe_dump({**tiny, **c}), encoding="utf-8")
    try:
        _, cfg = load_train_config(p)
    except ConfigError as e:
        assert str(e).startswith(str(p)) and "\n" not in str(e), str(e)
        return
    assert cfg.batch_size >= 1 and cfg.max_epochs >= 1
    for stage in cfg.stages():
        assert stage["batch_size"] % cfg.accum_grad == 0


@pytest.mark.parametrize("text", ["[" * 5000, "{a: " * 3000, "a: &x [*x]\n", "- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -\n" * 2])
def test_pathological_yaml(text):
    try:
        data = loads_yaml(text, where="conf.yaml")
    except ConfigError as e:
        assert "\n" not in str(e)
        return
    if isinstance(data, dict):
        with pytest.raises(ConfigError):
            DeepClustering.from_config(data, where="conf.yaml")


def test_model_keys_cover_all_kinds():
    assert {f"{k}_conf" for k in kinds} | set(kinds) == set(MODEL_KEYS)


# ---------------------------------------------------------------- utterance ids as file names
@SETTINGS
@given(text=scp_text)
def test_ids_from_any_scp_never_name_a_file_outside_the_output_dir(tmp_path, text):
    """Whatever id a wav.scp holds, dcsep-decode either refuses it (DataError) or writes inside OUTDIR/wav,
    and the id round-trips through the spk*.scp it writes."""
    from dcsep.bin.decode import wav_paths
    from dcsep.data.datadir import write_scp

    p = tmp_path / "wav.scp"
    p.write_text(text, encoding="utf-8")
    try:
        entries = read_scp(p)
    except DataError:
        return
    out = tmp_path / "out"
    wav_dir = (out / "wav").resolve()
    ok = {}
    for utt in entries:
        try:
            paths = wav_paths(out, utt, 2)
        except DataError as e:
            assert "\n" not in str(e)
            continue
        for q in paths:
            assert q.resolve().parent == wav_dir and q.name.startswith(utt), (utt, q)
        ok[utt] = str(paths[0])
    if ok:
        write_scp(tmp_path / "spk1.scp", ok)
        assert read_scp(tmp_path / "spk1.scp") == ok
