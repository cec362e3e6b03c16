"""Mix lists in the wsj0-mix line format: reading, writing, naming and drawing.

A mix list names, one mixture a line, the sources and their gains in dB::

    wsj0/si_tr_s/01t/01to030v.wav 0.76421 wsj0/si_tr_s/20g/20ga010m.wav -0.76421

The gains are kept as written, so that the mixture id
``<utt1>_<g1>_<utt2>_<g2>[...]`` of the original scripts follows from the
line. Drawn gains are written with :func:`format_gain` (four decimals, the
format of the committed speechocean762 lists).

Example:
    >>> m = MixLine(("a/x.wav", "b/y.wav"), (format_gain(1.25), format_gain(-1.25)))
    >>> m.name, m.text(), m.gains_db
    ('x_1.2500_y_-1.2500', 'a/x.wav 1.2500 b/y.wav -1.2500', (1.25, -1.25))
    >>> list_name(3, "tt")
    'mix_3_spk_tt.txt'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

import numpy as np

from dcsep.errors import DataError

T = TypeVar("T")


def format_gain(g: float, compact: bool = False) -> str:
    """A gain in dB as written in lists and mixture ids: four decimals, never ``-0.0000``.

    ``compact`` drops the trailing zeros (``1.2500`` -> ``1.25``, ``0.0000``
    -> ``0``), as the ids of the built-in corpus (:mod:`dcsep.data.tts`)
    spell them. For every gain of four decimals below 10 dB in magnitude the
    compact form equals ``f"{g:.5g}"`` (the spelling of earlier releases),
    so ids did not change.

    Example:
        >>> format_gain(-0.00001), format_gain(1.25), format_gain(1.25, compact=True), format_gain(0.0, compact=True)
        ('0.0000', '1.2500', '1.25', '0')
    """
    s = f"{g:.4f}"
    if s == "-0.0000":
        s = "0.0000"
    return s.rstrip("0").rstrip(".") if compact else s


def list_name(num_spk: int, split: str) -> str:
    """File name of a mix list, wsj0-mix style: ``list_name(2, "tr") == "mix_2_spk_tr.txt"``."""
    return f"mix_{num_spk}_spk_{split}.txt"


def utt_stem(path: str) -> str:
    """The utterance id of a list path: its file name without the extension (``/`` or ``\\`` separated)."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def mixture_name(utt_ids: Sequence[str], gains: Sequence[str]) -> str:
    """The mixture id of the wsj0-mix scripts: ``<utt1>_<g1>_<utt2>_<g2>[...]`` (gains as written)."""
    return "_".join(f"{u}_{g}" for u, g in zip(utt_ids, gains))


@dataclass(frozen=True)
class MixLine:
    """One line of a mix list: C source paths and their gains (dB, as written).

    Attributes:
        paths: C source paths (relative to the corpus root, as in the list).
        gains: C gains, the strings of the list.
        line: line number in the file it was read from (0: not read from a file).
    """

    paths: tuple[str, ...]
    gains: tuple[str, ...]
    line: int = field(default=0, compare=False)

    @property
    def rels(self) -> tuple[str, ...]:
        """The source paths (corpus-relative)."""
        return self.paths

    @property
    def gains_db(self) -> tuple[float, ...]:
        return tuple(float(g) for g in self.gains)

    @property
    def utt_ids(self) -> tuple[str, ...]:
        return tuple(utt_stem(p) for p in self.paths)

    @property
    def name(self) -> str:
        """Mixture id, wsj0-mix style: ``<utt1>_<g1>_<utt2>_<g2>[...]``."""
        return mixture_name(self.utt_ids, self.gains)

    def text(self) -> str:
        """The line as written in a list: ``path1 g1 path2 g2 [...]``."""
        return " ".join(f"{r} {g}" for r, g in zip(self.paths, self.gains))


def read_mix_list(path: str | Path, num_spk: int | None = None) -> list[MixLine]:
    """Read a wsj0-mix style list; errors name the file and line.

    Args:
        path: the list.
        num_spk: the number of sources every line must have (None: any, at least 2).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: mix list not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a text file ({e})") from None
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if num_spk is not None and len(parts) != 2 * num_spk:
            raise DataError(
                f"{path}:{lineno}: expected {2 * num_spk} fields (path gain x {num_spk}), got {len(parts)}"
            )
        if len(parts) % 2 or len(parts) < 4:
            raise DataError(f"{path}:{lineno}: expected 'path1 gain1 path2 gain2 [...]', got {line.strip()!r}")
        paths, gains = tuple(parts[0::2]), tuple(parts[1::2])
        for g in gains:
            try:
                v = float(g)
            except ValueError:
                raise DataError(f"{path}:{lineno}: gain {g!r} is not a number") from None
            if not np.isfinite(v):
                raise DataError(f"{path}:{lineno}: gain {g!r} is not finite")
        out.append(MixLine(paths, gains, lineno))
    if not out:
        raise DataError(f"{path}: empty mix list")
    return out


def write_mix_list(path: str | Path, lines: Sequence[MixLine]) -> None:
    """Write ``lines`` to ``path`` atomically, one mixture a line."""
    from dcsep.utils import atomic_write_text

    atomic_write_text(path, "".join(m.text() + "\n" for m in lines))


def draw_speaker_tuples(
    by_spk: dict[str, Sequence[T]],
    num_spk: int,
    count: int,
    rng: np.random.Generator,
    key: Callable[[T], str],
    too_few: Callable[[], Exception],
) -> Iterator[list[T]]:
    """Yield ``count`` distinct tuples of items of ``num_spk`` different speakers.

    Speakers are drawn uniformly without replacement (in ``sorted(by_spk)``
    order), then one item of each; a tuple already drawn (the same items in
    any order) is drawn again. The caller may draw more from ``rng`` (the
    gains) between two tuples: the sequence of draws is the one the corpus
    recipes have used since their first release.

    Args:
        by_spk: speaker -> its items, in a fixed order.
        num_spk: speakers per tuple.
        count: tuples to draw.
        rng: the generator.
        key: an item's id (for the duplicate check).
        too_few: the error raised after ``100 * count + 1000`` draws.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> pairs = list(draw_speaker_tuples({"a": ["a1", "a2"], "b": ["b1"]}, 2, 2, rng, str, ValueError))
        >>> sorted(sorted(p) for p in pairs)
        [['a1', 'b1'], ['a2', 'b1']]
    """
    spks = sorted(by_spk)
    seen: set[tuple[str, ...]] = set()
    tries = 0
    while len(seen) < count:
        tries += 1
        if tries > 100 * count + 1000:
            raise too_few()
        chosen = rng.choice(len(spks), size=num_spk, replace=False)
        items = [by_spk[spks[i]][int(rng.integers(len(by_spk[spks[i]])))] for i in chosen]
        ids = tuple(sorted(key(x) for x in items))
        if ids in seen:
            continue
        seen.add(ids)
        yield items
