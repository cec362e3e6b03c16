"""A plugin from another package, found through its entry point, builds a model from YAML."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch

from dcsep.errors import ConfigError
from dcsep.model import DeepClustering
from dcsep.registry import ENCODERS

PLUGIN = textwrap.dedent(
    '''
    """A third-party encoder: one linear layer per frame."""
    import torch
    from typeguard import typechecked

    from dcsep.encoders.abs import Encoder, embedding_head


    class FrameLinearEncoder(Encoder):
        @typechecked
        def __init__(self, input_dim: int, embed_dim: int = 4, activation: str = "tanh"):
            super().__init__()
            self.num_bins, self.embed_dim, self.activation = input_dim, embed_dim, activation
            self.linear = torch.nn.Linear(input_dim, input_dim * embed_dim)

        def forward(self, feats, lengths):
            return embedding_head(self.linear(feats), self.num_bins, self.embed_dim, self.activation)


    class NotAnEncoder:
        pass
    '''
)


def install_plugin(root, monkeypatch, pkg: str, entry_points: str) -> None:
    """Write package ``pkg`` with an installed-style ``*.dist-info`` into ``root`` and put it on sys.path."""
    (root / pkg).mkdir()
    (root / pkg / "__init__.py").write_text(PLUGIN)
    info = root / f"{pkg}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {pkg}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, pkg, raising=False)


@pytest.fixture
def clean_registry(monkeypatch):
    """Whatever a test registers in ENCODERS is gone afterwards."""
    ENCODERS.names()  # built-ins first
    monkeypatch.setattr(ENCODERS, "_classes", dict(ENCODERS._classes))


def test_entry_point_encoder_builds_model(tmp_path, monkeypatch, clean_registry):
    assert "frame_linear" not in ENCODERS.names()
    with pytest.raises(ConfigError, match="unknown encoder 'frame_linear'"):
        ENCODERS.get("frame_linear")
    # installed after the first (failed) lookup: the registry must not keep a stale view
    install_plugin(tmp_path, monkeypatch, "dcsep_plugin_demo", "[dcsep.encoders]\nframe_linear = dcsep_plugin_demo:FrameLinearEncoder\n")
    assert "frame_linear" in ENCODERS.names()
    conf = tmp_path / "model.yaml"
    conf.write_text("encoder: frame_linear\nencoder_conf:\n  embed_dim: 6\n")
    model = DeepClustering.from_yaml(conf)
    assert type(model.encoder).__name__ == "FrameLinearEncoder"
    V, spec, frames = model(torch.randn(2, 800))
    assert V.shape == (2, frames[0], 129, 6)
    # its configuration is checked like a built-in's
    conf.write_text("encoder: frame_linear\nencoder_conf:\n  embed_dims: 6\n")
    with pytest.raises(ConfigError, match=r"model\.yaml: encoder_conf: unknown key 'embed_dims' for encoder 'frame_linear'; valid keys: activation, embed_dim"):
        DeepClustering.from_yaml(conf)
    # and a model using it saves and loads
    model.save(tmp_path / "model.pt")
    assert type(DeepClustering.load(tmp_path / "model.pt").encoder).__name__ == "FrameLinearEncoder"


def test_bad_entry_points_give_config_errors(tmp_path, monkeypatch, clean_registry):
    install_plugin(
        tmp_path,
        monkeypatch,
        "dcsep_plugin_broken",
        "[dcsep.encoders]\n"
        "not_an_encoder = dcsep_plugin_broken:NotAnEncoder\n"
        "missing_module = dcsep_plugin_nowhere:Encoder\n"
        "blstm = dcsep_plugin_broken:FrameLinearEncoder\n",
    )
    with pytest.raises(ConfigError, match=r"encoder 'not_an_encoder': bad entry point .*dcsep_plugin_broken.*not a subclass of dcsep\.encoders\.abs\.Encoder"):
        ENCODERS.get("not_an_encoder")
    with pytest.raises(ConfigError, match=r"encoder 'missing_module': cannot load entry point 'dcsep_plugin_nowhere:Encoder'.*ModuleNotFoundError"):
        ENCODERS.get("missing_module")
    assert ENCODERS.get("blstm").__name__ == "BLSTMEncoder"  # a built-in is never shadowed
