"""Broken model YAML and model files through the Python API."""

from __future__ import annotations

import re

import pytest
import torch

from dcsep.errors import ConfigError
from dcsep.model import DeepClustering

TINY = "encoder: blstm\nencoder_conf: {num_layers: 1, hidden_units: 4, embed_dim: 8}\n"


@pytest.mark.parametrize(
    "text, pattern",
    [
        (TINY + "encoderr: blstm\n", r"unknown key 'encoderr'; valid keys: .*encoder"),
        (TINY.replace("embed_dim: 8", "embed_dim: 8, embedding: 3"), r"encoder_conf: unknown key 'embedding'"),
        (TINY.replace("embed_dim: 8", "embed_dim: forty"), r"encoder_conf for encoder 'blstm'.*embed_dim"),
        (TINY.replace("num_layers: 1", "num_layers: 1.5"), r"encoder_conf for encoder 'blstm'.*num_layers"),
        (TINY.replace("hidden_units: 4", "hidden_units: [4]"), r"encoder_conf for encoder 'blstm'.*hidden_units"),
        (TINY.replace("embed_dim: 8", "embed_dim: 0"), r"embed_dim must be >= 1"),
        (TINY.replace("encoder: blstm", "encoder: transformerx"), r"encoder: unknown encoder 'transformerx'; choose one of: .*blstm"),
        (TINY + "clusterer: kmeanz\n", r"clusterer: unknown clusterer 'kmeanz'"),
        (TINY + "loss: l2\n", r"loss: unknown loss 'l2'"),
        (TINY + "frontend: [stft]\n", r"frontend must be a name"),
        (TINY + "frontend_conf: [1, 2]\n", r"frontend_conf must be a mapping"),
        (TINY + "frontend_conf: {n_fft: 64, hop_length: 128}\n", r"hop_length"),
        (TINY.replace("embed_dim: 8", "embed_dim: 8, input_dim: 3"), r"encoder_conf.input_dim is set by the model"),
        (TINY + "loss_conf: {weight: loud}\n", r"weight must be one of"),
        ("- encoder\n- blstm\n", r"top level must be a mapping, got list"),
        ("encoder: [unclosed\n", r"invalid YAML"),
        ("encoder: blstm\n\tencoder_conf: {}\n", r":2:1: invalid YAML: found character '\\t'"),
        (TINY + "encoder: conv_blstm\n", r":3:1: invalid YAML: duplicate key 'encoder'"),
    ],
    ids=[
        "unknown_top_key",
        "unknown_conf_key",
        "str_for_int",
        "float_for_int",
        "list_for_int",
        "bad_value",
        "unknown_encoder",
        "unknown_clusterer",
        "unknown_loss",
        "name_not_string",
        "conf_not_mapping",
        "inconsistent_stft",
        "derived_key_given",
        "unknown_weight_kind",
        "top_level_list",
        "syntax_error",
        "tab_indent",
        "duplicate_key",
    ],
)
def test_bad_model_yaml(tmp_path, text, pattern):
    p = tmp_path / "model.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        DeepClustering.from_yaml(p)
    msg = str(info.value)
    assert msg.startswith(str(p)), msg
    assert re.search(pattern, msg), msg
    assert "\n" not in msg, msg


def test_yaml_not_utf8(tmp_path):
    p = tmp_path / "model.yaml"
    p.write_bytes(b"encoder: bl\xffstm\n")
    with pytest.raises(ConfigError, match=re.escape(str(p)) + ": not UTF-8 text"):
        DeepClustering.from_yaml(p)


def test_missing_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        DeepClustering.from_yaml(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['touch {m}']",
        "!!python/object/apply:subprocess.call [['touch', '{m}']]",
        "!!python/name:os.system",
        "!!python/object:pathlib.Path {{}}",
    ],
    ids=["apply_os_system", "apply_subprocess", "name", "object"],
)
def test_python_yaml_tags_are_refused_without_running(tmp_path, tag):
    marker = tmp_path / "marker"
    p = tmp_path / "evil.yaml"
    p.write_text(TINY + "encoder_conf_extra: " + tag.format(m=marker) + "\n")
    with pytest.raises(ConfigError, match="invalid YAML: could not determine a constructor for the tag") as info:
        DeepClustering.from_yaml(p)
    assert "\n" not in str(info.value)
    assert not marker.exists()


def _tiny():
    return DeepClustering.from_config(
        {"encoder_conf": {"num_layers": 1, "hidden_units": 4, "embed_dim": 8}, "clusterer_conf": {"n_init": 1}}
    )


def test_model_file_from_incompatible_config(tmp_path):
    """Weights of an embed_dim=8 model under a config that says 16: one line naming the tensor."""
    pkg = _tiny().package()
    pkg["config"]["encoder_conf"]["embed_dim"] = 16
    torch.save(pkg, tmp_path / "m.pt")
    with pytest.raises(ConfigError) as info:
        DeepClustering.load(tmp_path / "m.pt")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(str(tmp_path / "m.pt"))
    assert "weights do not fit the stored config: encoder.linear.weight has shape" in msg


@pytest.mark.parametrize(
    "mutate, pattern",
    [
        (lambda p: p.pop("state_dict"), "not a dcsep model file"),
        (lambda p: p.__setitem__("state_dict", [1, 2]), "state_dict is not a mapping of tensors"),
        (lambda p: p["state_dict"].pop("encoder.linear.bias"), "missing encoder.linear.bias"),
        (lambda p: p["state_dict"].__setitem__("extra.w", torch.zeros(1)), "unexpected extra.w"),
        (lambda p: p["config"].__setitem__("encoder", "nosuch"), r"\(stored config\): encoder: unknown encoder"),
        (lambda p: p.__setitem__("config", "blstm"), "model config must be a mapping"),
    ],
    ids=["no_state_dict", "state_not_mapping", "missing_tensor", "extra_tensor", "unknown_plugin", "config_not_mapping"],
)
def test_malformed_model_packages(tmp_path, mutate, pattern):
    pkg = _tiny().package()
    mutate(pkg)
    torch.save(pkg, tmp_path / "m.pt")
    with pytest.raises(ConfigError, match=pattern) as info:
        DeepClustering.load(tmp_path / "m.pt")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("cut", [0, 10, 0.5, -1])
def test_truncated_or_garbage_model_file(tmp_path, cut):
    _tiny().save(tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else (cut if cut >= 0 else len(data) - 1)
    (tmp_path / "bad.pt").write_bytes(data[:n] if n else b"")
    with pytest.raises(ConfigError) as info:
        DeepClustering.load(tmp_path / "bad.pt")
    msg = str(info.value)
    assert msg.startswith(str(tmp_path / "bad.pt")) and "\n" not in msg
    assert "weights_only` set to `False`" not in msg  # never advise the unsafe way out


def test_package_config_is_a_copy():
    m = _tiny()
    m.package()["config"]["encoder_conf"]["embed_dim"] = 99
    assert m.config["encoder_conf"]["embed_dim"] == 8
