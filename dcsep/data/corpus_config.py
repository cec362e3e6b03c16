"""The typed base of the corpus configurations (a recipe's ``conf/data_*.yaml``).

A corpus config is a dataclass whose fields are the YAML keys. The base
holds what every mixture corpus has (``seed``, ``fs``, ``mode`` and the
``mixtures`` table ``{num_spk: {set: count}}``) and the loading rules:
unknown keys, wrong types and unknown set names stop the run before any
work, naming the file and the field. A corpus adds its fields and its own
checks in :meth:`CorpusConfig.check`.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Demo(CorpusConfig):
    ...     NAME = "demo"
    ...     SETS = ("tr", "tt")
    ...     speakers: int = 4
    >>> Demo.from_dict({"mixtures": {"2": {"tr": 3}}}).mixtures
    {2: {'tr': 3}}
    >>> Demo.from_dict({"speakrs": 3})
    Traceback (most recent call last):
    ...
    dcsep.errors.ConfigError: <demo config>: unknown key(s) ['speakrs']; valid keys: ['fs', 'mixtures', 'mode', 'seed', 'speakers']
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from dcsep.errors import ConfigError

MODES = ("min", "max")
SAMPLE_RATES = (8000, 16000)


@dataclass
class CorpusConfig:
    """Settings shared by the mixture corpora.

    Attributes:
        seed: every draw (speakers, utterances, mixtures) follows from it.
        fs: output sample rate (8000 or 16000).
        mode: "min" or "max" (wsj0-mix versions).
        mixtures: {num_spk: {set: count}}; the sets are the corpus's :attr:`SETS`.
    """

    NAME: ClassVar[str] = "corpus"  # in error messages: "<NAME config>"
    SETS: ClassVar[tuple[str, ...]] = ()  # the set names ``mixtures`` may use
    SET_WORD: ClassVar[str] = "set"  # what the corpus calls a set (in error messages)

    seed: int = 0
    fs: int = 8000
    mode: str = "min"
    mixtures: dict[int, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str | None = None):
        """Build and validate a config from a mapping (a parsed YAML file)."""
        where = where or f"<{cls.NAME} config>"
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(known)}")
        cfg = cls(**d)
        try:
            cfg.mixtures = {int(k): {str(s): v for s, v in dict(v).items()} for k, v in cfg.mixtures.items()}
            cfg.coerce()
        except (TypeError, ValueError, AttributeError) as e:
            raise ConfigError(f"{where}: {cfg.coerce_fields()}: {e}") from None
        cfg.validate(where)
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path):
        """Load a config file (the errors name it)."""
        from dcsep.config import load_yaml

        return cls.from_dict(load_yaml(path) or {}, where=str(path))

    def coerce(self) -> None:
        """Convert YAML values to the field types (override; TypeError / ValueError on bad values)."""

    def coerce_fields(self) -> str:
        """The fields :meth:`coerce` converts, for its error message."""
        return "mixtures"

    def validate(self, where: str | None = None) -> None:
        """Check every field; raises ConfigError naming ``where`` and the field."""
        where = where or f"<{self.NAME} config>"

        def bad(msg: str) -> NoReturn:
            raise ConfigError(f"{where}: {msg}")

        self.check(bad)
        if self.mode not in MODES:
            bad(f"mode: must be 'min' or 'max', got {self.mode!r}")
        if self.fs not in SAMPLE_RATES:
            bad(f"fs: 8000 or 16000, got {self.fs}")
        for c, sets in self.mixtures.items():
            if not 2 <= c <= 4:
                bad(f"mixtures: number of speakers must be 2..4, got {c}")
            for s, n in sets.items():
                if s not in self.SETS:
                    bad(f"mixtures.{c}: unknown {self.SET_WORD} {s!r}; choose from {list(self.SETS)}")
                if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                    bad(f"mixtures.{c}.{s}: need a positive number of mixtures, got {n!r}")
        self.check_mixtures(bad)

    def check(self, bad) -> None:
        """Corpus checks run first (override); ``bad(msg)`` raises."""

    def check_mixtures(self, bad) -> None:
        """Corpus checks of ``mixtures`` run after the shared ones (override); ``bad(msg)`` raises."""


def check_ints(cfg: CorpusConfig, bad, names: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    """``names`` must be integers, ``optional`` positive integers or None."""
    for key in names:
        v = getattr(cfg, key)
        if not isinstance(v, int) or isinstance(v, bool):
            bad(f"{key}: expected an integer, got {v!r}")
    for key in optional:
        v = getattr(cfg, key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            bad(f"{key}: expected a positive integer or null, got {v!r}")
