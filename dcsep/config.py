"""Build plugins from configuration, failing early and clearly."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import yaml
from typeguard import TypeCheckError

from dcsep.errors import ConfigError
from dcsep.registry import Registry


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping with ``yaml.safe_load``; errors name the file."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror or e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def check_keys(conf: dict, allowed, where: str) -> None:
    """Raise a ConfigError naming the first key of ``conf`` not in ``allowed``."""
    for key in conf:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r}; valid keys: {', '.join(sorted(allowed))}")


def build_plugin(registry: Registry, name: Any, conf: Any, where: str, field: str, **derived) -> Any:
    """Instantiate ``registry[name](**derived, **conf)``.

    ``where`` names the config source (a file) and ``field`` the YAML key, so
    every error says which file, which field and what was allowed. Arguments in
    ``derived`` are set by the model (e.g. ``input_dim``), not by the user.
    """
    if not isinstance(name, str):
        raise ConfigError(f"{where}: {field} must be a name (string), got {name!r}")
    try:
        cls = registry.get(name)
    except ConfigError as e:
        raise ConfigError(f"{where}: {field}: {e}") from None
    conf = {} if conf is None else conf
    if not isinstance(conf, dict):
        raise ConfigError(f"{where}: {field}_conf must be a mapping, got {type(conf).__name__}")
    params = inspect.signature(cls.__init__).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    allowed = {n for n, p in params.items() if n != "self" and p.kind is not inspect.Parameter.VAR_POSITIONAL}
    for key in conf:
        if key in derived:
            raise ConfigError(f"{where}: {field}_conf.{key} is set by the model and cannot be given")
        if not takes_kwargs and key not in allowed:
            choices = ", ".join(sorted(allowed - set(derived))) or "(none)"
            raise ConfigError(f"{where}: {field}_conf: unknown key {key!r} for {registry.kind} {name!r}; valid keys: {choices}")
    try:
        return cls(**derived, **conf)
    except (TypeCheckError, TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {field}_conf for {registry.kind} {name!r}: {e}") from None
