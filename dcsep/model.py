"""The deep-clustering model: frontend + encoder, with a loss and a clusterer.

A model is described by a mapping (usually YAML)::

    frontend: stft
    frontend_conf: {fs: 8000, n_fft: 256, hop_length: 64}
    encoder: blstm
    encoder_conf: {num_layers: 2, hidden_units: 600, embed_dim: 40}
    loss: lowrank_affinity
    loss_conf: {weight: vad, threshold_db: 40}
    clusterer: kmeans
    clusterer_conf: {n_init: 5, seed: 0}
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

import dcsep
from dcsep.config import build_plugin, check_keys, load_yaml
from dcsep.errors import ConfigError
from dcsep.losses.abs import ibm_targets
from dcsep.losses.weights import bin_weights
from dcsep.registry import CLUSTERERS, ENCODERS, FRONTENDS, LOSSES
from dcsep.utils import atomic_torch_save, load_torch_file

MODEL_KEYS = {
    "frontend": "stft",
    "frontend_conf": {},
    "encoder": "blstm",
    "encoder_conf": {},
    "loss": "lowrank_affinity",
    "loss_conf": {},
    "clusterer": "kmeans",
    "clusterer_conf": {},
}
FORMAT_VERSION = 1


class DeepClustering(nn.Module):
    """Frontend + encoder (+ loss for training, clusterer for inference).

    Build with :meth:`from_config`; save and load with :meth:`save` / :meth:`load`.
    """

    def __init__(self, frontend, encoder, loss, clusterer, config: dict):
        super().__init__()
        self.frontend = frontend
        self.encoder = encoder
        self.loss_fn = loss
        self.clusterer = clusterer
        self.config = config

    # ---- construction -------------------------------------------------
    @classmethod
    def from_config(cls, config: dict, where: str = "<model config>") -> "DeepClustering":
        """Build from a mapping of MODEL_KEYS; errors name ``where`` and the field."""
        if not isinstance(config, dict):
            raise ConfigError(f"{where}: model config must be a mapping, got {type(config).__name__}")
        check_keys(config, MODEL_KEYS, where)
        full = copy.deepcopy(MODEL_KEYS)
        full.update(copy.deepcopy(config))
        for kind in ("frontend", "encoder", "loss", "clusterer"):
            if full[f"{kind}_conf"] is None:
                full[f"{kind}_conf"] = {}
        frontend = build_plugin(FRONTENDS, full["frontend"], full["frontend_conf"], where, "frontend")
        encoder = build_plugin(
            ENCODERS, full["encoder"], full["encoder_conf"], where, "encoder", input_dim=frontend.num_bins
        )
        loss = build_plugin(LOSSES, full["loss"], full["loss_conf"], where, "loss")
        clusterer = build_plugin(CLUSTERERS, full["clusterer"], full["clusterer_conf"], where, "clusterer")
        return cls(frontend, encoder, loss, clusterer, full)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "DeepClustering":
        return cls.from_config(load_yaml(path), where=str(path))

    def build_clusterer(self, name: str, conf: dict | None = None):
        """A clusterer other than the configured one (e.g. ``spectral`` at decode time)."""
        return build_plugin(CLUSTERERS, name, conf or {}, "<call>", "clusterer")

    # ---- computation --------------------------------------------------
    @property
    def fs(self) -> int:
        return self.frontend.fs

    @property
    def embed_dim(self) -> int:
        return self.encoder.embed_dim

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None):
        """wav: (B, L), lengths: (B,) samples -> V (B, T, F, K), spec (B, T, F) complex, frame lengths (B,)."""
        feats, spec, frame_lengths = self.frontend(wav, lengths)
        V = self.encoder(feats, frame_lengths)
        return V, spec, frame_lengths

    def forward_loss(
        self, batch: dict[str, torch.Tensor], amp_dtype: torch.dtype | None = None
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """The training loss of a batch: the one place where it is computed.

        Only the encoder runs under mixed precision (``amp_dtype``, on the
        batch's device); the frontend, the IBM targets and the loss run in
        float32 outside any autocast.

        Args:
            batch: ``mix`` (B, L), ``sources`` (B, C, L) (all-zero for an absent
                speaker), optional ``lengths`` (B,) samples (default: all L).
            amp_dtype: ``torch.bfloat16`` or ``torch.float16`` to autocast the
                encoder; None for float32.

        Returns:
            The scalar float32 loss, and statistics: ``loss`` (detached),
            ``frames`` and ``samples`` (valid frames and samples in the batch, ints).

        Example:
            >>> conf = {"encoder_conf": {"num_layers": 1, "hidden_units": 8, "embed_dim": 4}}
            >>> model = DeepClustering.from_config(conf)
            >>> src = torch.randn(2, 2, 800)
            >>> loss, stats = model.forward_loss({"mix": src.sum(1), "sources": src})
            >>> loss.dim(), loss.dtype, stats["frames"], stats["samples"]
            (0, torch.float32, 26, 1600)
        """
        wav, sources = batch["mix"], batch["sources"]
        lengths = batch.get("lengths")
        if lengths is None:
            lengths = torch.full((wav.shape[0],), wav.shape[-1], dtype=torch.long, device=wav.device)
        device_type = wav.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            feats, spec, frame_lengths = self.frontend(wav, lengths)
        with torch.autocast(device_type=device_type, dtype=amp_dtype, enabled=amp_dtype is not None):
            V = self.encoder(feats, frame_lengths)
        with torch.autocast(device_type=device_type, enabled=False):
            b, c, n = sources.shape
            src_mag = self.frontend.stft(sources.reshape(b * c, n).float()).abs()
            src_mag = src_mag.reshape(b, c, *src_mag.shape[1:])  # (B, C, T, F)
            loss = self.loss_fn(V.float(), ibm_targets(src_mag), spec.abs().float(), frame_lengths)
        stats = {"loss": loss.detach(), "frames": int(frame_lengths.sum()), "samples": int(lengths.sum())}
        return loss, stats

    @property
    def threshold_db(self) -> float:
        """The silence threshold of decoding, in dB below the loudest bin: clustering fits on the
        bins above it. From the model config (``loss_conf.threshold_db``: the bins the model was
        trained on), 40 by default."""
        return float((self.config.get("loss_conf") or {}).get("threshold_db", 40.0))

    def active_bins(self, spec: torch.Tensor, frame_lengths: torch.Tensor, threshold_db: float | None = None):
        """(B, T, F) bool: valid bins within ``threshold_db`` (default: :attr:`threshold_db`) of the loudest."""
        if threshold_db is None:
            threshold_db = self.threshold_db
        return bin_weights(spec.abs(), "vad", frame_lengths, threshold_db) > 0

    # ---- persistence --------------------------------------------------
    def package(self, extra: dict | None = None) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "dcsep_version": dcsep.__version__,
            "config": copy.deepcopy(self.config),
            "state_dict": self.state_dict(),
            "extra": extra or {},
        }

    def save(self, path: str | Path, extra: dict | None = None) -> None:
        """Config + weights (normalisation stats included) in one file, written atomically."""
        atomic_torch_save(self.package(extra), path)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> "DeepClustering":
        """Load a file written by :meth:`save` (``weights_only=True``), in eval mode."""
        pkg = load_torch_file(path, map_location, error=ConfigError, what="model file")
        return cls.from_package(pkg, where=str(path)).eval()

    @classmethod
    def from_package(cls, pkg: dict, where: str = "<package>") -> "DeepClustering":
        if not isinstance(pkg, dict) or "config" not in pkg or "state_dict" not in pkg:
            raise ConfigError(f"{where}: not a dcsep model file (no config/state_dict)")
        model = cls.from_config(pkg["config"], where=f"{where} (stored config)")
        state = pkg["state_dict"]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ConfigError(f"{where}: state_dict is not a mapping of tensors")
        state = {k: v.float() if torch.is_floating_point(v) else v for k, v in state.items()}
        own = model.state_dict()
        problems = [f"missing {k}" for k in own if k not in state]
        problems += [f"unexpected {k}" for k in state if k not in own]
        problems += [
            f"{k} has shape {tuple(state[k].shape)}, config needs {tuple(own[k].shape)}"
            for k in own
            if k in state and state[k].shape != own[k].shape
        ]
        if problems:
            more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
            raise ConfigError(f"{where}: weights do not fit the stored config: {'; '.join(problems[:3])}{more}")
        model.load_state_dict(state)
        return model
