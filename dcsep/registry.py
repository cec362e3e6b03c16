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
registered yet. Loading the entry point imports its module; the object it
names is registered under the entry point's name unless the import already
registered it.
"""

from __future__ import annotations

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

    @property
    def base(self) -> type:
        module, name = self._base_path.split(":")
        return getattr(import_module(module), name)

    def register(self, name: str) -> Callable[[type], type]:
        """Class decorator registering ``cls`` under ``name``."""

        def deco(cls: type) -> type:
            if not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise TypeError(f"{self.kind} {name!r}: {cls!r} is not a subclass of {self.base.__name__}")
            if name in self._classes and self._classes[name] is not cls:
                raise ValueError(f"{self.kind} {name!r} is already registered by {self._classes[name].__module__}")
            self._classes[name] = cls
            cls.registry_name = name
            return cls

        return deco

    def _load_builtins(self) -> None:
        if not self._builtins_loaded:
            self._builtins_loaded = True
            for module in self._builtins:
                import_module(module)

    def _load_entry_point(self, name: str) -> None:
        for ep in metadata.entry_points(group=self.group):
            if ep.name == name:
                obj = ep.load()
                if name not in self._classes:
                    self.register(name)(obj)
                return

    def names(self) -> list[str]:
        """Registered names, built-in and installed third-party ones."""
        self._load_builtins()
        extra = {ep.name for ep in metadata.entry_points(group=self.group)}
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
LOSSES = Registry("loss", "dcsep.losses", "dcsep.losses.abs:Loss", ("dcsep.losses.affinity",))
CLUSTERERS = Registry(
    "clusterer",
    "dcsep.clusterers",
    "dcsep.clusterers.abs:Clusterer",
    ("dcsep.clusterers.kmeans", "dcsep.clusterers.spectral"),
)
