"""Config loading and plugin building: every mistake stops early with a clear message."""

from __future__ import annotations

import inspect
import typing

import pytest

from dcsep.config import build_plugin, check_keys, load_yaml, loads_yaml
from dcsep.errors import ConfigError
from dcsep.model import DeepClustering
from dcsep.registry import ENCODERS, LOSSES, REGISTRIES

# arguments the model derives and passes to plugins of a kind
DERIVED = {"encoder": {"input_dim": 9}}


def all_plugins():
    return [(kind, name) for kind, reg in REGISTRIES.items() for name in reg.names()]


def typed_params(cls):
    """(name, hint) of the keyword parameters of ``cls.__init__`` with a plain type."""
    hints = typing.get_type_hints(cls.__init__)
    params = inspect.signature(cls.__init__).parameters
    return [(n, hints[n]) for n in params if n != "self" and hints.get(n) in (int, float, str, bool)]


def test_load_yaml_reads_exponent_floats(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("lr: 1e-4\ntol: 1.0e-6\nbig: 2E3\nn: 10\nname: x1e3\nver: 1.2.3\n")
    assert load_yaml(p) == {"lr": 1e-4, "tol": 1e-6, "big": 2000.0, "n": 10, "name": "x1e3", "ver": "1.2.3"}
    assert isinstance(load_yaml(p)["lr"], float)


def test_load_yaml_rejects_duplicate_keys(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("encoder: blstm\nencoder_conf:\n  embed_dim: 20\n  embed_dim: 40\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml:4:3: invalid YAML: duplicate key 'embed_dim'$"):
        load_yaml(p)


def test_load_yaml_empty_and_errors(tmp_path):
    p = tmp_path / "empty.yaml"
    p.write_text("")
    assert load_yaml(p) == {}
    p.write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"empty\.yaml: top level must be a mapping, got list"):
        load_yaml(p)
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read config"):
        load_yaml(tmp_path / "missing.yaml")
    assert loads_yaml("a: [1e-3, 2]") == {"a": [1e-3, 2]}


def test_check_keys():
    check_keys({"a": 1}, {"a", "b"}, "f.yaml")
    with pytest.raises(ConfigError, match="f.yaml: unknown key 'c'; valid keys: a, b"):
        check_keys({"c": 1}, {"a", "b"}, "f.yaml")


@pytest.mark.parametrize("kind, name", all_plugins())
def test_unknown_key(kind, name):
    reg = REGISTRIES[kind]
    with pytest.raises(ConfigError) as info:
        build_plugin(reg, name, {"no_such_option": 1}, "m.yaml", kind, **DERIVED.get(kind, {}))
    msg = str(info.value)
    assert msg.startswith(f"m.yaml: {kind}_conf: unknown key 'no_such_option' for {kind} '{name}'; valid keys: "), msg
    for param, _ in typed_params(reg.get(name)):
        if param not in DERIVED.get(kind, {}):
            assert param in msg


@pytest.mark.parametrize("kind, name", all_plugins())
def test_wrong_types(kind, name):
    """Every plainly typed option refuses a value of the wrong type, naming the option."""
    reg = REGISTRIES[kind]
    params = [(p, h) for p, h in typed_params(reg.get(name)) if p not in DERIVED.get(kind, {})]
    assert params, f"{kind} {name!r} has no typed options"
    for param, hint in params:
        bad = {int: "three", float: "small", str: 3, bool: "yes"}[hint]
        with pytest.raises(ConfigError) as info:
            build_plugin(reg, name, {param: bad}, "m.yaml", kind, **DERIVED.get(kind, {}))
        msg = str(info.value)
        assert msg.startswith(f"m.yaml: {kind}_conf for {kind} '{name}': "), msg
        assert param in msg, msg


def test_bool_is_not_an_int():
    with pytest.raises(ConfigError, match="num_layers must be int, got True"):
        build_plugin(ENCODERS, "blstm", {"num_layers": True}, "m.yaml", "encoder", input_dim=9)


def test_int_for_float_is_fine():
    assert build_plugin(LOSSES, "lowrank_affinity", {"threshold_db": 30}, "m.yaml", "loss").threshold_db == 30


def test_derived_key_cannot_be_set():
    with pytest.raises(ConfigError, match="encoder_conf.input_dim is set by the model"):
        build_plugin(ENCODERS, "blstm", {"input_dim": 3}, "m.yaml", "encoder", input_dim=9)


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("encoder: lstm\n", r"encoder: unknown encoder 'lstm'; choose one of: blstm, conv_blstm"),
        ("clusterer: kmeans\nclusterer_conf: {n_init: 0}\n", r"clusterer_conf for clusterer 'kmeans': n_init must be >= 1"),
        ("clusterer: spectral\nclusterer_conf: {affinity: cosine}\n", r"affinity must be one of"),
        ("clusterer: oracle_kmeans\nclusterer_conf: {chunk_frames: 0}\n", r"chunk_frames must be >= 1"),
        ("loss_conf: {threshold_db: loud}\n", r"loss_conf for loss 'lowrank_affinity': .*threshold_db"),
        ("loss_conf: {partition_weight: 1}\n", r"partition_weight"),
        ("encoder_conf: {embed_dim: 1e1}\n", r"embed_dim"),
        ("training: true\n", r"unknown key 'training'"),
    ],
)
def test_model_yaml_errors_name_the_file(tmp_path, text, pattern):
    p = tmp_path / "model.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=pattern) as info:
        DeepClustering.from_yaml(p)
    assert str(info.value).startswith(f"{p}: ")
