"""The training YAML: model keys plus training keys, validated before any work.

A training config is one YAML mapping. Its top level holds the model keys of
:data:`dcsep.model.MODEL_KEYS` (``frontend``, ``encoder``, ``loss``,
``clusterer`` and their ``*_conf``) and the training keys of
:class:`TrainConfig`. Every key is documented in ``docs/training.md``.

Example::

    encoder: blstm
    encoder_conf: {num_layers: 2, hidden_units: 600, embed_dim: 40}
    optim: adam
    optim_conf: {lr: 1.0e-3}
    batch_size: 32
    chunk_frames: 100
    max_epochs: 100
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from typeguard import TypeCheckError, check_type

from dcsep.config import check_keys, load_yaml
from dcsep.errors import ConfigError
from dcsep.model import MODEL_KEYS
from dcsep.train.datasets import check_train_dataset

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "sgd": torch.optim.SGD,
}
SCHEDULERS = {
    "plateau": torch.optim.lr_scheduler.ReduceLROnPlateau,
    "step": torch.optim.lr_scheduler.StepLR,
    "none": None,
}
#: defaults merged under the user's ``optim_conf`` / ``scheduler_conf``
OPTIM_DEFAULTS = {"lr": 1.0e-3}
SCHEDULER_DEFAULTS = {"plateau": {"factor": 0.5, "patience": 2}, "step": {"step_size": 10, "gamma": 0.5}, "none": {}}
#: keys the trainer sets itself
SCHEDULER_FIXED = {"plateau": ("mode",), "step": (), "none": ()}
AMP_DTYPES = ("bfloat16", "float16")
CURRICULUM_KEYS = {"epochs": int, "chunk_frames": int, "batch_size": int}

_FLOAT_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass
class TrainConfig:
    """Training keys of the YAML (the model keys are kept apart).

    See ``docs/training.md`` for the meaning of every field.
    """

    # data
    train_dataset: str = "chunks"
    train_dataset_conf: dict = field(default_factory=dict)
    chunk_frames: int = 100
    curriculum: Optional[list] = None
    valid_chunk_frames: Optional[int] = None
    batch_size: int = 16
    valid_batch_size: Optional[int] = None
    num_workers: int = 2
    stats_max_utts: int = 500
    # optimisation
    optim: str = "adam"
    optim_conf: dict = field(default_factory=dict)
    scheduler: str = "plateau"
    scheduler_conf: dict = field(default_factory=dict)
    max_epochs: int = 100
    patience: Optional[int] = 10
    grad_clip: Optional[float] = 5.0
    weight_noise: float = 0.0
    accum_grad: int = 1
    amp: bool = False
    amp_dtype: str = "bfloat16"
    seed: int = 0
    init_model: Optional[str] = None
    init_reset: list[str] = field(default_factory=list)
    # bookkeeping
    log_interval: int = 50
    save_interval_steps: int = 0
    keep_nbest: int = 5
    nonfinite_max_consecutive: int = 10
    nonfinite_max_fraction: float = 0.1

    # ---- derived ---------------------------------------------------------
    def stages(self) -> list[dict]:
        """The curriculum as a list of ``{epochs, chunk_frames, batch_size}``
        (a single open-ended stage without a curriculum)."""
        if not self.curriculum:
            return [{"epochs": None, "chunk_frames": self.chunk_frames, "batch_size": self.batch_size}]
        out = []
        for st in self.curriculum:
            out.append(
                {
                    "epochs": st["epochs"],
                    "chunk_frames": st["chunk_frames"],
                    "batch_size": st.get("batch_size", self.batch_size),
                }
            )
        return out

    def stage_for_epoch(self, epoch: int) -> dict:
        """The curriculum stage of 1-based ``epoch``; epochs past the last stage use the last one."""
        first = 1
        stages = self.stages()
        for st in stages:
            if st["epochs"] is None or epoch < first + st["epochs"]:
                return st
            first += st["epochs"]
        return stages[-1]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


TRAIN_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig))
ALL_KEYS = tuple(MODEL_KEYS) + TRAIN_KEYS


def _coerce_float_strings(conf: dict) -> dict:
    """YAML 1.1 reads ``1e-3`` as a string; turn such strings into floats."""
    return {k: float(v) if isinstance(v, str) and _FLOAT_RE.match(v) else v for k, v in conf.items()}


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        return " or ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _check_field(name: str, value: Any, tp, where: str) -> Any:
    args = typing.get_args(tp)
    base = [a for a in args if a is not type(None)] if typing.get_origin(tp) is typing.Union else [tp]
    if float in base and isinstance(value, str) and _FLOAT_RE.match(value):
        value = float(value)
    if isinstance(value, bool) and bool not in base:
        raise ConfigError(f"{where}: {name} must be {_type_name(tp)}, got {value!r}")
    if float in base and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    try:
        check_type(value, tp)
    except TypeCheckError:
        raise ConfigError(f"{where}: {name} must be {_type_name(tp)}, got {type(value).__name__} {value!r}") from None
    return value


def _check_positive(cfg: TrainConfig, where: str) -> None:
    for name in ("chunk_frames", "batch_size", "max_epochs", "log_interval", "keep_nbest", "accum_grad",
                 "nonfinite_max_consecutive", "stats_max_utts"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{where}: {name} must be >= 1, got {getattr(cfg, name)}")
    for name in ("valid_chunk_frames", "valid_batch_size", "patience"):
        v = getattr(cfg, name)
        if v is not None and v < (0 if name == "patience" else 1):
            raise ConfigError(f"{where}: {name} must be >= {0 if name == 'patience' else 1} or null, got {v}")
    for name in ("num_workers", "save_interval_steps", "seed"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"{where}: {name} must be >= 0, got {getattr(cfg, name)}")
    if cfg.grad_clip is not None and cfg.grad_clip <= 0:
        raise ConfigError(f"{where}: grad_clip must be > 0 or null, got {cfg.grad_clip}")
    if cfg.weight_noise < 0:
        raise ConfigError(f"{where}: weight_noise must be >= 0, got {cfg.weight_noise}")
    if not 0 < cfg.nonfinite_max_fraction <= 1:
        raise ConfigError(f"{where}: nonfinite_max_fraction must be in (0, 1], got {cfg.nonfinite_max_fraction}")


def _check_curriculum(cfg: TrainConfig, where: str) -> None:
    if cfg.curriculum is None:
        return
    if not cfg.curriculum:
        raise ConfigError(f"{where}: curriculum must be a non-empty list of stages or null")
    for i, st in enumerate(cfg.curriculum):
        w = f"{where}: curriculum[{i}]"
        if not isinstance(st, dict):
            raise ConfigError(f"{w} must be a mapping like {{epochs: 10, chunk_frames: 100}}, got {st!r}")
        check_keys(st, CURRICULUM_KEYS, w)
        for key in ("epochs", "chunk_frames"):
            if key not in st:
                raise ConfigError(f"{w}: missing {key!r}")
        for key, tp in CURRICULUM_KEYS.items():
            if key in st:
                v = st[key]
                if not isinstance(v, tp) or isinstance(v, bool) or v < 1:
                    raise ConfigError(f"{w}: {key} must be a positive int, got {v!r}")


def _check_optim(cfg: TrainConfig, where: str) -> None:
    if cfg.optim not in OPTIMIZERS:
        raise ConfigError(f"{where}: optim: unknown optimizer {cfg.optim!r}; choose one of: {', '.join(OPTIMIZERS)}")
    conf = {**OPTIM_DEFAULTS, **_coerce_float_strings(cfg.optim_conf)}
    cls = OPTIMIZERS[cfg.optim]
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "params"}
    check_keys(conf, allowed, f"{where}: optim_conf (optimizer {cfg.optim!r})")
    try:  # build on a dummy parameter so that bad values fail now, not after data loading
        opt = cls([torch.nn.Parameter(torch.zeros(1))], **conf)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: optim_conf for {cfg.optim!r}: {e}") from None
    cfg.optim_conf = conf

    if cfg.scheduler not in SCHEDULERS:
        raise ConfigError(
            f"{where}: scheduler: unknown scheduler {cfg.scheduler!r}; choose one of: {', '.join(SCHEDULERS)}"
        )
    sconf = {**SCHEDULER_DEFAULTS[cfg.scheduler], **_coerce_float_strings(cfg.scheduler_conf)}
    scls = SCHEDULERS[cfg.scheduler]
    if scls is None:
        if sconf:
            raise ConfigError(f"{where}: scheduler_conf must be empty for scheduler 'none', got {sconf}")
    else:
        allowed = set(inspect.signature(scls.__init__).parameters) - {"self", "optimizer", "last_epoch", "verbose"}
        allowed -= set(SCHEDULER_FIXED[cfg.scheduler])
        check_keys(sconf, allowed, f"{where}: scheduler_conf (scheduler {cfg.scheduler!r})")
        try:
            scls(opt, **sconf)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{where}: scheduler_conf for {cfg.scheduler!r}: {e}") from None
    cfg.scheduler_conf = sconf


def split_config(conf: dict, where: str = "<config>", check_model: bool = True) -> tuple[dict, TrainConfig]:
    """Validate a training mapping; return (model config, TrainConfig).

    Raises:
        ConfigError: naming ``where``, the field and the valid choices, for an
            unknown key, a wrong type or an unknown optimizer/scheduler/dataset
            name. The model part is checked by building the model.
    """
    if not isinstance(conf, dict):
        raise ConfigError(f"{where}: training config must be a mapping, got {type(conf).__name__}")
    check_keys(conf, ALL_KEYS, where)
    model_conf = {k: copy.deepcopy(v) for k, v in conf.items() if k in MODEL_KEYS}
    hints = typing.get_type_hints(TrainConfig)
    kwargs = {}
    for key in TRAIN_KEYS:
        if key in conf:
            value = conf[key]
            if value is None and key in ("train_dataset_conf", "optim_conf", "scheduler_conf"):
                value = {}
            kwargs[key] = _check_field(key, copy.deepcopy(value), hints[key], where)
    cfg = TrainConfig(**kwargs)
    _check_positive(cfg, where)
    if cfg.amp_dtype not in AMP_DTYPES:
        raise ConfigError(f"{where}: amp_dtype: unknown {cfg.amp_dtype!r}; choose one of: {', '.join(AMP_DTYPES)}")
    _check_curriculum(cfg, where)
    for st in cfg.stages():
        if st["batch_size"] % cfg.accum_grad:
            raise ConfigError(
                f"{where}: batch_size {st['batch_size']} must be divisible by accum_grad ({cfg.accum_grad})"
            )
    _check_optim(cfg, where)
    check_train_dataset(cfg.train_dataset, cfg.train_dataset_conf, where)
    if check_model:
        from dcsep.model import DeepClustering

        DeepClustering.from_config(model_conf, where=where)
    return model_conf, cfg


def load_train_config(path: str | Path, overrides: dict | None = None) -> tuple[dict, TrainConfig]:
    """Read and validate a training YAML; ``overrides`` (e.g. from the command line) win over the file."""
    conf = load_yaml(path)
    if overrides:
        conf.update({k: v for k, v in overrides.items() if v is not None})
    return split_config(conf, where=str(path))


def resolved_config(model_conf: dict, cfg: TrainConfig) -> dict:
    """The complete mapping (model defaults and training defaults filled in), as written to ``config.yaml``."""
    full = copy.deepcopy(MODEL_KEYS)
    full.update(copy.deepcopy(model_conf))
    full.update(cfg.to_dict())
    return full
