"""speechocean762 mix lists: who goes where (training, validation, closed and open test sets).

Which utterances go where is fixed by *mix lists*: ``train_sources.txt``
(one corpus-relative path a line) and ``mix_<C>_spk_<set>.txt`` in the
wsj0-mix line format (:mod:`dcsep.data.mixlist`). :func:`draw_lists` draws
them from the config's seed; :func:`check_lists` checks given or drawn lists
against the corpus and the speaker rules.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from dcsep.data.mixlist import MixLine, draw_speaker_tuples, format_gain, list_name, read_mix_list, write_mix_list
from dcsep.data.speechocean_corpus import MIX_SETS, Corpus, SourceUtt, SpeechoceanConfig
from dcsep.errors import DataError
from dcsep.utils import atomic_write_text


def set_name(split: str, num_spk: int) -> str:
    """Data dir name of a mixture set: ``tr``, ``cv``, ``tt_closed``, ``tt`` (2 speakers), ``tt_3spk``, ..."""
    return split if num_spk == 2 else f"{split}_{num_spk}spk"


@dataclass
class MixLists:
    """Everything that decides the sets: training sources and the mixture lists."""

    train_sources: list[str]  # corpus-relative paths
    mixes: dict[tuple[int, str], list[MixLine]]  # (num_spk, set) -> lines

    def write(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(directory / "train_sources.txt", "".join(r + "\n" for r in self.train_sources))
        for (c, s), lines in sorted(self.mixes.items()):
            write_mix_list(directory / list_name(c, s), lines)

    @classmethod
    def read(cls, directory: str | Path, config: SpeechoceanConfig) -> "MixLists":
        """Read ``train_sources.txt`` and the lists of every set in ``config.mixtures``."""
        directory = Path(directory)
        p = directory / "train_sources.txt"
        if not p.is_file():
            raise DataError(f"{p}: file not found (a mix-list dir needs train_sources.txt)")
        srcs = [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not srcs:
            raise DataError(f"{p}: empty list")
        dup = [r for r, k in Counter(srcs).items() if k > 1]
        if dup:
            raise DataError(f"{p}: {dup[0]} is listed twice")
        mixes = {}
        for c, sets in sorted(config.mixtures.items()):
            for s in sets:
                mixes[(c, s)] = read_mix_list(directory / list_name(c, s))
        return cls(srcs, mixes)

    @staticmethod
    def present(directory: str | Path | None, config: SpeechoceanConfig) -> bool:
        if directory is None:
            return False
        d = Path(directory)
        names = ["train_sources.txt"] + [list_name(c, s) for c, sets in config.mixtures.items() for s in sets]
        return all((d / n).is_file() for n in names)


@dataclass
class SpeakerPlan:
    """The speaker and utterance roles a draw decided (or a list implied)."""

    train: list[str]  # training speakers
    cv: list[str]  # held-out train-half speakers (validation)
    test: list[str]  # test-half speakers
    pools: dict[str, list[str]]  # set -> utterance ids it draws from (tr = train_sources)


def _cells(corpus: Corpus, spks: Sequence[str], child_age: int) -> dict[tuple[str, str], list[str]]:
    cells: dict[tuple[str, str], list[str]] = {}
    for s in sorted(spks):
        cells.setdefault((corpus.spk2gender[s], corpus.age_group(s, child_age)), []).append(s)
    return cells


def _stratified(rng: np.random.Generator, cells: dict, n: int) -> list[str]:
    """n speakers spread evenly over the cells (round robin over a random order of each cell)."""
    order = {k: list(rng.permutation(v)) for k, v in sorted(cells.items())}
    keys = sorted(order)
    out: list[str] = []
    while len(out) < n and any(order.values()):
        for k in keys:
            if order[k] and len(out) < n:
                out.append(str(order[k].pop()))
    return sorted(out)


def draw_plan(corpus: Corpus, config: SpeechoceanConfig) -> SpeakerPlan:
    """Choose held-out speakers and closed-set utterances from the seed."""
    rng = np.random.default_rng([config.seed, 0x5EC0])
    train_half = sorted(s for s, sp in corpus.spk2split.items() if sp == "train")
    test_half = sorted(s for s, sp in corpus.spk2split.items() if sp == "test")
    need = config.cv_speakers + 2
    if len(train_half) < need:
        raise DataError(
            f"{corpus.root}: {len(train_half)} train-half speakers, need at least {need} "
            f"({config.cv_speakers} held out for validation + 2 for training)"
        )
    cv = _stratified(rng, _cells(corpus, train_half, config.child_age), config.cv_speakers)
    train = [s for s in train_half if s not in set(cv)]
    if config.train_speakers is not None and config.train_speakers < len(train):
        train = _stratified(rng, _cells(corpus, train, config.child_age), config.train_speakers)
    test = test_half
    if config.test_speakers is not None and config.test_speakers < len(test):
        test = _stratified(rng, _cells(corpus, test, config.child_age), config.test_speakers)
    if len(test) < 2:
        raise DataError(f"{corpus.root}: {len(test)} test-half speakers, need at least 2")

    by_spk: dict[str, list[str]] = {}
    for u in corpus.utts.values():
        by_spk.setdefault(u.spk, []).append(u.utt)
    for s in by_spk:
        by_spk[s].sort()
        if config.max_utts_per_spk is not None and len(by_spk[s]) > config.max_utts_per_spk:
            pick = rng.choice(len(by_spk[s]), config.max_utts_per_spk, replace=False)
            by_spk[s] = sorted(by_spk[s][i] for i in pick)
    tr, closed = [], []
    for s in train:
        utts = by_spk.get(s, [])
        k = min(config.closed_utts_per_spk, max(len(utts) - 1, 0))
        held = set(rng.choice(len(utts), k, replace=False).tolist()) if k else set()
        closed += [u for i, u in enumerate(utts) if i in held]
        tr += [u for i, u in enumerate(utts) if i not in held]
    pools = {
        "tr": sorted(tr),
        "cv": sorted(u for s in cv for u in by_spk.get(s, [])),
        "tt_closed": sorted(closed),
        "tt": sorted(u for s in test for u in by_spk.get(s, [])),
    }
    return SpeakerPlan(train=train, cv=cv, test=test, pools=pools)


def draw_mixtures(
    corpus: Corpus, pool: Sequence[str], num_spk: int, count: int, config: SpeechoceanConfig, split: str
) -> list[MixLine]:
    """``count`` distinct mixtures of ``num_spk`` different speakers from the utterances of ``pool``.

    Speakers are drawn uniformly, then one utterance of each; the relative gain
    r of the first source is uniform in ``gain_db_range`` and the gains are
    (r/2, -r/2, 0, ...). The draw depends on (seed, num_spk, split) only.
    """
    by_spk: dict[str, list[str]] = {}
    for u in sorted(pool):
        by_spk.setdefault(corpus.utts[u].spk, []).append(u)
    if len(by_spk) < num_spk:
        raise DataError(
            f"{set_name(split, num_spk)}: {num_spk}-speaker mixtures need {num_spk} speakers, "
            f"the {split} pool has {len(by_spk)}"
        )
    rng = np.random.default_rng([config.seed, num_spk, MIX_SETS.index(split), 0x762])
    lo, hi = config.gain_db_range

    def too_few() -> DataError:
        return DataError(
            f"{set_name(split, num_spk)}: cannot draw {count} distinct {num_spk}-speaker mixtures from "
            f"{len(pool)} utterances of {len(by_spk)} speakers; lower the count"
        )

    out: list[MixLine] = []
    for utts in draw_speaker_tuples(by_spk, num_spk, count, rng, str, too_few):
        r = float(rng.uniform(lo, hi))
        gains = [r / 2, -r / 2] + [0.0] * (num_spk - 2)
        out.append(MixLine(tuple(corpus.utts[u].rel for u in utts), tuple(format_gain(g) for g in gains)))
    return out


def draw_lists(corpus: Corpus, config: SpeechoceanConfig) -> MixLists:
    """Draw the training sources and every mix list of ``config`` from its seed."""
    plan = draw_plan(corpus, config)
    mixes = {}
    for c, sets in sorted(config.mixtures.items()):
        for s, n in sets.items():
            mixes[(c, s)] = draw_mixtures(corpus, plan.pools[s], c, n, config, s)
    return MixLists([corpus.utts[u].rel for u in plan.pools["tr"]], mixes)


def check_lists(corpus: Corpus, lists: MixLists, where: str) -> dict[str, set[str]]:
    """Check lists against the corpus and the speaker rules; return set -> speakers.

    Rules: every path is a corpus utterance; each mixture has distinct
    speakers; ``tr`` uses training sources only; ``cv`` speakers are
    train-half speakers without training sources; ``tt_closed`` uses
    training speakers' utterances that are not training sources; ``tt`` uses
    test-half speakers only.
    """
    by_rel = corpus.by_rel()
    # also accept the path with another extension (e.g. a list written against a FLAC copy)
    by_stem = {Path(r).with_suffix("").as_posix(): u for r, u in by_rel.items()}

    def lookup(rel: str, src: str) -> SourceUtt:
        u = by_rel.get(rel) or by_stem.get(Path(rel).with_suffix("").as_posix())
        if u is None:
            raise DataError(f"{src}: {rel} is not an utterance of the corpus at {corpus.root}")
        return u

    train_utts = {lookup(r, f"{where}/train_sources.txt").utt for r in lists.train_sources}
    train_spk = {corpus.utts[u].spk for u in train_utts}
    bad = sorted(s for s in train_spk if corpus.spk2split[s] != "train")
    if bad:
        raise DataError(f"{where}/train_sources.txt: speaker {bad[0]} is a test-half speaker")
    spk_sets: dict[str, set[str]] = {"train_sources": train_spk}
    for (c, s), lines in sorted(lists.mixes.items()):
        src = f"{where}/{list_name(c, s)}"
        spks_here: set[str] = set()
        for lineno, m in enumerate(lines, 1):
            us = [lookup(r, f"{src}:{lineno}") for r in m.rels]
            sp = [u.spk for u in us]
            if len(set(sp)) != len(sp):
                raise DataError(f"{src}:{lineno}: two sources of speaker {Counter(sp).most_common(1)[0][0]}")
            if len(us) != c:
                raise DataError(f"{src}:{lineno}: {len(us)} sources in a {c}-speaker list")
            for u in us:
                if s == "tr" and u.utt not in train_utts:
                    raise DataError(f"{src}:{lineno}: {u.rel} is not in train_sources.txt")
                if s == "cv" and (u.spk in train_spk or corpus.spk2split[u.spk] != "train"):
                    raise DataError(
                        f"{src}:{lineno}: {u.rel}: validation speakers must be train-half speakers held out of "
                        "training"
                    )
                if s == "tt_closed" and (u.spk not in train_spk or u.utt in train_utts):
                    raise DataError(
                        f"{src}:{lineno}: {u.rel}: the closed-set test uses training speakers' utterances "
                        "that are not training sources"
                    )
                if s == "tt" and corpus.spk2split[u.spk] != "test":
                    raise DataError(f"{src}:{lineno}: {u.rel}: the open-set test uses test-half speakers only")
            spks_here.update(sp)
        spk_sets[set_name(s, c)] = spks_here
    return spk_sets
