"""Registries: round-trip, rejected registrations, clear errors for unknown names."""

from __future__ import annotations

import pytest
import torch

from dcsep.clusterers.abs import Clusterer
from dcsep.encoders.abs import Encoder
from dcsep.errors import ConfigError
from dcsep.registry import CLUSTERERS, ENCODERS, FRONTENDS, LOSSES, REGISTRIES, Registry

BUILTINS = {
    "frontend": {"stft"},
    "encoder": {"blstm", "conv_blstm"},
    "loss": {"lowrank_affinity", "naive_affinity"},
    "clusterer": {"kmeans", "spectral", "oracle_kmeans", "oracle_spectral"},
}


def all_plugins():
    return [(kind, name) for kind, reg in REGISTRIES.items() for name in reg.names()]


def test_builtins_registered():
    for kind, names in BUILTINS.items():
        assert names <= set(REGISTRIES[kind].names()), kind


@pytest.mark.parametrize("kind, name", all_plugins())
def test_round_trip(kind, name):
    reg = REGISTRIES[kind]
    cls = reg.get(name)
    assert issubclass(cls, reg.base)
    assert reg.get(name) is cls
    assert name in reg
    assert cls.registry_name == name


@pytest.mark.parametrize("reg", [FRONTENDS, ENCODERS, LOSSES, CLUSTERERS], ids=lambda r: r.kind)
def test_unknown_name_lists_choices(reg):
    with pytest.raises(ConfigError) as info:
        reg.get("no_such_plugin")
    msg = str(info.value)
    assert f"unknown {reg.kind} 'no_such_plugin'" in msg
    for name in BUILTINS[reg.kind]:
        assert name in msg
    assert "no_such_plugin" not in reg


@pytest.fixture
def fresh():
    """A registry of encoders that no other test sees."""
    return Registry("thing", "dcsep.test_things", "dcsep.encoders.abs:Encoder", ())


class _Enc(Encoder):
    embed_dim = 1

    def forward(self, feats, lengths):
        return feats[..., None]


def test_register_and_get(fresh):
    assert fresh.register("a")(_Enc) is _Enc
    assert fresh.get("a") is _Enc
    assert fresh.names() == ["a"]
    fresh.register("a")(_Enc)  # the same class again is harmless (module re-import)


def test_duplicate_rejected(fresh):
    fresh.register("a")(_Enc)

    class Other(_Enc):
        pass

    with pytest.raises(ValueError, match="'a' is already registered by .*_Enc"):
        fresh.register("a")(Other)
    assert fresh.get("a") is _Enc


def test_duplicate_of_builtin_rejected():
    with pytest.raises(ValueError, match="already registered"):

        @ENCODERS.register("blstm")
        class Impostor(_Enc):
            pass

    assert ENCODERS.get("blstm").__name__ == "BLSTMEncoder"


@pytest.mark.parametrize("obj", [torch.nn.Linear, Clusterer, int, "blstm", _Enc()], ids=repr)
def test_wrong_base_rejected(fresh, obj):
    with pytest.raises(TypeError, match="is not a subclass of dcsep.encoders.abs.Encoder"):
        fresh.register("bad")(obj)
    assert "bad" not in fresh.names()


@pytest.mark.parametrize("name", ["", None, 3])
def test_bad_name_rejected(fresh, name):
    with pytest.raises(ValueError, match="non-empty string"):
        fresh.register(name)


def test_unknown_in_empty_registry(fresh):
    with pytest.raises(ConfigError, match="unknown thing 'x'; choose one of: $"):
        fresh.get("x")
