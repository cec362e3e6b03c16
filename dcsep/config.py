"""Build plugins from configuration, failing early and clearly.

Example:
    >>> from dcsep.registry import LOSSES
    >>> build_plugin(LOSSES, "lowrank_affinity", {"weight": "none"}, "model.yaml", "loss").weight
    'none'
    >>> build_plugin(LOSSES, "lowrank_affinity", {"wieght": "none"}, "model.yaml", "loss")
    Traceback (most recent call last):
    ...
    dcsep.errors.ConfigError: model.yaml: loss_conf: unknown key 'wieght' for loss 'lowrank_affinity'; valid keys: partition_weight, threshold_db, weight
"""

from __future__ import annotations

import inspect
import re
import typing
from pathlib import Path
from typing import Any

import yaml
from typeguard import TypeCheckError

from dcsep.errors import ConfigError
from dcsep.registry import Registry


class _SafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that reads ``1e-4`` as a float and rejects duplicate keys.

    Plain PyYAML follows YAML 1.1, where a float needs a dot (``1.0e-4``) and
    ``1e-4`` is the *string* "1e-4"; learning rates written that way would fail
    type checks far from their cause.
    """

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml_error(where: str, e: yaml.YAMLError) -> ConfigError:
    """One line: ``where:line:column: invalid YAML: problem (context)``."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or (str(e).strip().splitlines() or [type(e).__name__])[0]
    context = getattr(e, "context", None)
    pos = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
    return ConfigError(f"{where}{pos}: invalid YAML: {problem}" + (f" ({context})" if context else ""))


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; errors name the file.

    Numbers such as ``1e-4`` are floats (unlike plain PyYAML) and duplicate
    keys are an error.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=_SafeLoader)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except yaml.YAMLError as e:
        raise _yaml_error(str(path), e) from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def loads_yaml(text: str, where: str = "<string>") -> Any:
    """Parse YAML text with the same rules as :func:`load_yaml` (any top-level type).

    Example:
        >>> loads_yaml("lr: 1e-4")
        {'lr': 0.0001}
    """
    try:
        return yaml.load(text, Loader=_SafeLoader)
    except yaml.YAMLError as e:
        raise _yaml_error(where, e) from None
    except RecursionError:
        raise ConfigError(f"{where}: invalid YAML: nested too deeply") from None


def check_keys(conf: dict, allowed, where: str) -> None:
    """Raise a ConfigError naming the first key of ``conf`` not in ``allowed``."""
    for key in conf:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r}; valid keys: {', '.join(sorted(allowed))}")


def _check_no_bools(cls: type, conf: dict, where: str, field: str, kind: str, name: str) -> None:
    """``true`` is an int to Python; reject it for parameters typed int or float."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # unresolvable annotations: leave the checks to typeguard
        return
    for key, value in conf.items():
        if isinstance(value, bool) and hints.get(key) in (int, float):
            raise ConfigError(
                f"{where}: {field}_conf for {kind} {name!r}: {key} must be {hints[key].__name__}, got {value!r}"
            )


def parse_mapping(text: str | None, option: str) -> dict | None:
    """The YAML mapping given on a command line (``'{n_init: 5}'``), or None when ``text`` is empty.

    Example:
        >>> parse_mapping("{alpha: 3.0}", "--clusterer-conf")
        {'alpha': 3.0}
    """
    if not text:
        return None
    try:
        conf = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{option}: invalid YAML: {e}") from None
    if not isinstance(conf, dict):
        raise ConfigError(f"{option} must be a mapping like '{{n_init: 5}}', got {text!r}")
    return conf


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
    _check_no_bools(cls, conf, where, field, registry.kind, name)
    try:
        return cls(**derived, **conf)
    except (TypeCheckError, TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {field}_conf for {registry.kind} {name!r}: {e}") from None
