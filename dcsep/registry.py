"""Name -> class registries for the four plugin kinds.

A plugin registers itself with a decorator::

    @ENCODERS.register("blstm")
    class BLSTMEncoder(Encoder): ...

Third-party packages add plugins through entry points, e.g. in their
``setup.cfg``::

    [options.entry_points]
    dcsep.encoders =
        my_encoder = my_pkg.encoders:MyEncoder

Entry points are read lazily, on the first lookup of a name that is not
registered yet, and never cached: a package installed after the first lookup
is still found. Loading the entry point imports its module; the object it
names is registered under the entry point's name unless the import already
registered it.

Example:
    >>> from dcsep.registry import ENCODERS
    >>> ENCODERS.get("blstm").__name__
    'BLSTMEncoder'
    >>> "blstm" in ENCODERS.names()
    True
"""

from __future__ import annotations

import importlib
from importlib import import_module, metadata
from typing import Callable

from dcsep.errors import ConfigError


class Registry:
    """A name -> class map for one plugin kind.

    Args:
        kind: human-readable kind, e.g. ``"encoder"``.
        group: entry-point group scanned for third-party plugins.
        base: the path ``"module:Class"`` of the base class every plugin
            must subclass (resolved lazily to avoid import cycles).
        builtins: modules imported on first use so that built-in plugins
            are registered.
    """

    def __init__(self, kind: str, group: str, base: str, builtins: tuple[str, ...]):
        self.kind = kind
        self.group = group
        self._base_path = base
        self._builtins = builtins
        self._classes: dict[str, type] = {}
        self._builtins_loaded = False

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, group={self.group!r})"

    @property
    def base(self) -> type:
        module, name = self._base_path.split(":")
        return getattr(import_module(module), name)

    def register(self, name: str) -> Callable[[type], type]:
        """Class decorator registering ``cls`` under ``name``.

        Raises:
            TypeError: ``cls`` is not a subclass of the kind's base class.
            ValueError: ``name`` is empty or already taken by another class.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def deco(cls: type) -> type:
            base = self.base
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise TypeError(f"{self.kind} {name!r}: {cls!r} is not a subclass of {base.__module__}.{base.__name__}")
            old = self._classes.get(name)
            if old is not None and old is not cls:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered by {old.__module__}.{old.__qualname__}; "
                    f"cannot register {cls.__module__}.{cls.__qualname__} under the same name"
                )
            self._classes[name] = cls
            if "registry_name" not in cls.__dict__:
                cls.registry_name = name
            return cls

        return deco

    def _load_builtins(self) -> None:
        if not self._builtins_loaded:
            for module in self._builtins:
                import_module(module)
            self._builtins_loaded = True

    def _entry_points(self) -> list:
        """The installed entry points of this kind's group, read afresh each time."""
        return list(metadata.entry_points(group=self.group))

    def _load_entry_point(self, name: str) -> None:
        importlib.invalidate_caches()  # see packages installed since the last lookup
        for ep in self._entry_points():
            if ep.name != name:
                continue
            dist = f" (package {ep.dist.name})" if getattr(ep, "dist", None) is not None else ""
            try:
                obj = ep.load()
            except Exception as e:
                raise ConfigError(
                    f"{self.kind} {name!r}: cannot load entry point {ep.value!r}{dist}: {type(e).__name__}: {e}"
                ) from e
            if name not in self._classes:
                try:
                    self.register(name)(obj)
                except (TypeError, ValueError) as e:
                    raise ConfigError(f"{self.kind} {name!r}: bad entry point {ep.value!r}{dist}: {e}") from None
            return

    def names(self) -> list[str]:
        """Registered names, built-in and installed third-party ones."""
        self._load_builtins()
        extra = {ep.name for ep in self._entry_points()}
        return sorted(set(self._classes) | extra)

    def get(self, name: str) -> type:
        """The class registered as ``name``; a ConfigError lists the valid names."""
        self._load_builtins()
        if name not in self._classes:
            self._load_entry_point(name)
        if name not in self._classes:
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}")
        return self._classes[name]

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
        except ConfigError:
            return False
        return True


FRONTENDS = Registry("frontend", "dcsep.frontends", "dcsep.frontends.abs:Frontend", ("dcsep.frontends.stft",))
ENCODERS = Registry(
    "encoder",
    "dcsep.encoders",
    "dcsep.encoders.abs:Encoder",
    ("dcsep.encoders.blstm", "dcsep.encoders.conv_blstm"),
)
LOSSES = Registry("loss", "dcsep.losses", "dcsep.losses.abs:Loss", ("dcsep.losses.affinity", "dcsep.losses.attractor"))
CLUSTERERS = Registry(
    "clusterer",
    "dcsep.clusterers",
    "dcsep.clusterers.abs:Clusterer",
    ("dcsep.clusterers.kmeans", "dcsep.clusterers.spectral"),
)
REGISTRIES = {"frontend": FRONTENDS, "encoder": ENCODERS, "loss": LOSSES, "clusterer": CLUSTERERS}
