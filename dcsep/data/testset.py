"""Test sets from any folder of single-speaker recordings.

:func:`build_testset` turns clean utterances (a folder searched recursively,
or a Kaldi-style ``wav.scp``) into Kaldi-style mixture data dirs in the format
of the recipes' test sets (``wav.scp``, ``spk1.scp`` .. ``spkC.scp``,
``utt2spk``, ``utt2dur``, ...), mixed with the wsj0-mix scaling of
:mod:`dcsep.data.mixing`:

* ``<name>_2spk``, ``<name>_3spk``, ...: mixtures of C utterances of distinct
  speakers (when speaker labels are given), the first two at relative levels
  drawn uniformly from ``snr_db`` (gains r/2 and -r/2 dB, the others 0 dB);
* ``<name>_1spk`` (optional): single utterances, resampled and otherwise
  unchanged, for speaker-count tests (``wav.scp`` and ``spk1.scp`` name the
  same file).

What decides a set is written beside it: ``mix_lists/mix_<C>_spk_<name>.txt``
(wsj0-mix line format: ``path1 gain1 path2 gain2 ...``, paths relative to the
input folder, or utterance ids of the input scp) and
``mix_lists/utts_1_spk_<name>.txt`` (one path or id a line). The lists are
drawn from a seed only, so the same arguments give the same lists and the same
audio; ``from_list`` rebuilds a set from committed lists. Everything is built
in a temporary dir next to ``out_dir`` and renamed onto it at the end.

Example:
    >>> import tempfile
    >>> import numpy as np, soundfile as sf
    >>> d = Path(tempfile.mkdtemp()); (d / "in").mkdir()
    >>> t = np.arange(16000) / 16000
    >>> for i in range(4):
    ...     sf.write(d / "in" / f"u{i}.wav", 0.1 * np.sin(2 * np.pi * (150 + 60 * i) * t), 16000)
    >>> dirs = build_testset(d / "in", d / "out", num_spk=(1, 2), counts=(2, 3), fs=8000, log=None)
    >>> sorted(dirs)
    ['tt_1spk', 'tt_2spk']
    >>> len((d / "out" / "tt_2spk" / "wav.scp").read_text().splitlines())
    3
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from dcsep.data.audio_cache import convert_chunk
from dcsep.data.datadir import read_scp
from dcsep.data.mixing import (
    MODES,
    MixRecord,
    MixSpec,
    Progress,
    active_level,
    create_mixtures,
    resample,
    run_chunks,
    write_mixture_datadir,
)
from dcsep.data.mixlist import (
    MixLine,
    draw_speaker_tuples,
    format_gain,
    list_name,
    mixture_name,
    read_mix_list,
    write_mix_list,
)
from dcsep.errors import ConfigError, DataError, OutputError
from dcsep.utils import atomic_write_text

AUDIO_EXTENSIONS = (
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc",
    ".au", ".snd", ".sph", ".nist", ".w64", ".rf64", ".caf", ".wv",
)  # fmt: skip
LISTS = "mix_lists"
MANIFEST = "dcsep_mix.json"  # written last: marks a complete output and what decided it
SALT = 0x7E57  # keeps these draws apart from the recipes' draws with the same seed


# ======================================================================================
# the input
# ======================================================================================
@dataclass
class Sources:
    """Clean single-speaker utterances, each under a key (what the mix lists name).

    Attributes:
        root: the input folder or scp file.
        keys: keys in input order (folder: relative posix paths; scp: utterance ids).
        utt: key -> utterance id (folder: file stem, or the relative path
            with ``-`` for ``/`` when two stems agree).
        path: key -> audio file.
        spk: key -> speaker (the utterance id itself when unlabelled).
        labelled: whether speakers come from labels.
    """

    root: Path
    keys: list[str]
    utt: dict[str, str]
    path: dict[str, str]
    spk: dict[str, str]
    labelled: bool

    def lookup(self, key: str, where: str) -> str:
        """The key for ``key`` as a list wrote it (a folder path may carry another extension)."""
        if key in self.path:
            return key
        if self.root.is_dir():
            alt = self._by_stem().get(Path(key).with_suffix("").as_posix())
            if alt is not None:
                return alt
        raise DataError(f"{where}: {key} is not an utterance of {self.root}")

    def _by_stem(self) -> dict[str, str]:
        return {Path(k).with_suffix("").as_posix(): k for k in self.keys}

    def num_speakers(self) -> int:
        return len(set(self.spk.values()))


def _clean_id(text: str) -> str:
    return "_".join(text.split())


def scan_sources(source: str | Path, utt2spk: str | Path | None = None, spk_from_folder: bool = False) -> Sources:
    """Read the input: a folder (every audio file under it) or a ``wav.scp``.

    Args:
        source: folder or scp file.
        utt2spk: optional ``<utt-id> <speaker>`` file, keyed by the utterance
            ids (for a folder: the file stems).
        spk_from_folder: a folder input only: each file's speaker is the name
            of the folder that holds it.

    Raises:
        DataError: no input, no audio in it, an utterance without a speaker,
            ids that two files share.
    """
    root = Path(source).absolute()
    if utt2spk is not None and spk_from_folder:
        raise ConfigError("give either --utt2spk or --spk-from-folder, not both")
    if root.is_dir():
        files = sorted(
            p
            for p in root.rglob("*")
            if p.suffix.lower() in AUDIO_EXTENSIONS
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
        if not files:
            raise DataError(f"{root}: no audio files ({', '.join(AUDIO_EXTENSIONS[:4])}, ...) in this folder")
        keys = [p.relative_to(root).as_posix() for p in files]
        path = {k: str(p) for k, p in zip(keys, files)}
        stems = [_clean_id(Path(k).stem) for k in keys]
        if len(set(stems)) == len(stems):
            utt = dict(zip(keys, stems))
        else:  # e.g. spk1/001.wav and spk2/001.wav
            utt = {k: _clean_id(Path(k).with_suffix("").as_posix().replace("/", "-")) for k in keys}
        dup = [u for u, n in Counter(utt.values()).items() if n > 1]
        if dup:
            two = [k for k in keys if utt[k] == dup[0]][:2]
            raise DataError(f"{root}: {two[0]} and {two[1]} both give utterance id {dup[0]!r}; rename one")
    elif root.is_file():
        if spk_from_folder:
            raise ConfigError("--spk-from-folder needs a folder as input, not a list")
        table = read_scp(root)
        keys = list(table)
        path = {k: str((root.parent / v).absolute()) if not Path(v).is_absolute() else v for k, v in table.items()}
        utt = {k: k for k in keys}
    else:
        raise DataError(f"{root}: no such folder or list")
    if spk_from_folder:
        top = [k for k in keys if "/" not in k]
        if top:
            raise DataError(f"{root / top[0]}: --spk-from-folder needs every file inside a speaker folder")
        spk = {k: _clean_id(k.split("/")[-2]) for k in keys}
    elif utt2spk is not None:
        table = read_scp(utt2spk)
        missing = [k for k in keys if utt[k] not in table]
        if missing:
            raise DataError(f"{utt2spk}: no speaker for utterance {utt[missing[0]]!r} ({path[missing[0]]})")
        spk = {k: table[utt[k]] for k in keys}
    else:
        spk = dict(utt)
    return Sources(root, keys, utt, path, spk, labelled=utt2spk is not None or spk_from_folder)


# ======================================================================================
# mix lists
# ======================================================================================
def draw_mix_lines(
    spk: dict[str, str],
    num_spk: int,
    count: int,
    rng: np.random.Generator,
    snr_db: tuple[float, float] = (0.0, 5.0),
    label: str = "mixtures",
) -> list[MixLine]:
    """``count`` distinct mixtures of ``num_spk`` utterances of distinct speakers.

    A speaker is drawn uniformly, then one of its utterances; the level of the
    first source relative to the second is r ~ U(``snr_db``), i.e. gains
    (r/2, -r/2, 0, ...) dB (the wsj0-2mix convention). The draw depends on
    the state of ``rng`` and the sorted keys only. (This is the draw of
    :func:`dcsep.data.speechocean_lists.draw_mixtures`, without the corpus:
    given its generator and ``{utt: speaker}`` it gives the same lines.)

    Args:
        spk: key -> speaker for every utterance that may be drawn.
        num_spk: sources per mixture (>= 2).
        count: number of mixtures.
        rng: the random generator (:func:`build_testset` seeds it with
            ``[seed, num_spk, SALT]``).
        snr_db: (low, high) relative level in dB.
        label: the set's name in errors.

    Returns:
        ``count`` lines; ``rels`` hold the keys.
    """
    by_spk: dict[str, list[str]] = {}
    for k in sorted(spk):
        by_spk.setdefault(spk[k], []).append(k)
    if len(by_spk) < num_spk:
        raise DataError(f"{label}: {num_spk}-speaker mixtures need {num_spk} distinct speakers, the input has {len(by_spk)}")

    def too_few() -> DataError:
        return DataError(
            f"{label}: cannot draw {count} distinct {num_spk}-speaker mixtures from {len(spk)} utterances "
            f"of {len(by_spk)} speakers; ask for fewer"
        )

    lo, hi = snr_db
    out: list[MixLine] = []
    for keys in draw_speaker_tuples(by_spk, num_spk, count, rng, str, too_few):
        r = float(rng.uniform(lo, hi))
        gains = [r / 2, -r / 2] + [0.0] * (num_spk - 2)
        out.append(MixLine(tuple(keys), tuple(format_gain(g) for g in gains)))
    return out


def draw_singles(keys: Sequence[str], count: int, rng: np.random.Generator, label: str = "singles") -> list[str]:
    """``count`` distinct keys drawn from ``keys`` (depends on the sorted keys and the state of ``rng``)."""
    pool = sorted(keys)
    if count > len(pool):
        raise DataError(f"{label}: {count} single utterances asked, the input has {len(pool)}")
    return [pool[i] for i in rng.choice(len(pool), size=count, replace=False)]


def singles_list_name(name: str) -> str:
    """File name of a 1-speaker list: ``utts_1_spk_<name>.txt`` (mix lists: ``mix_<C>_spk_<name>.txt``)."""
    return f"utts_1_spk_{name}.txt"


def read_lists(directory: str | Path, name: str) -> dict[int, list]:
    """The lists of a ``mix_lists`` dir: {1: [key, ...], C: [MixLine, ...]} for the files present."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: mix-list dir not found")
    out: dict[int, list] = {}
    p1 = directory / singles_list_name(name)
    if p1.is_file():
        keys = [line.strip() for line in p1.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not keys:
            raise DataError(f"{p1}: empty list")
        out[1] = keys
    for c in range(2, 10):
        p = directory / list_name(c, name)
        if p.is_file():
            out[c] = read_mix_list(p, num_spk=c)
    if not out:
        raise DataError(
            f"{directory}: no lists named {singles_list_name(name)} or {list_name(2, name)}, ... "
            "(is --name right?)"
        )
    return out


def write_lists(directory: Path, name: str, lists: dict[int, list]) -> None:
    for c, lines in lists.items():
        if c == 1:
            atomic_write_text(directory / singles_list_name(name), "".join(k + "\n" for k in lines))
        else:
            write_mix_list(directory / list_name(c, name), lines)


def _check_lists(sources: Sources, lists: dict[int, list], where: Path, name: str) -> dict[int, list]:
    """Lists with their entries mapped onto ``sources`` keys; sizes and speakers checked."""
    out: dict[int, list] = {}
    for c, lines in lists.items():
        if c == 1:
            src = where / singles_list_name(name)
            out[1] = [sources.lookup(k, f"{src}:{i}") for i, k in enumerate(lines, 1)]
            dup = [k for k, n in Counter(out[1]).items() if n > 1]
            if dup:
                raise DataError(f"{src}: {dup[0]} is listed twice")
            continue
        src = where / list_name(c, name)
        fixed = []
        for i, m in enumerate(lines, 1):
            at = f"{src}:{m.line or i}"
            keys = tuple(sources.lookup(k, at) for k in m.rels)
            sp = [sources.spk[k] for k in keys]
            if len(set(sp)) != len(sp):
                raise DataError(f"{at}: two sources of speaker {Counter(sp).most_common(1)[0][0]}")
            fixed.append(MixLine(keys, m.gains))
        out[c] = fixed
    return out


def _lists_digest(lists: dict[int, list]) -> str:
    h = hashlib.sha256()
    for c in sorted(lists):
        h.update(f"[{c}]\n".encode())
        for m in lists[c]:
            h.update(((m if c == 1 else m.text()) + "\n").encode())
    return h.hexdigest()


# ======================================================================================
# building
# ======================================================================================
def set_name(name: str, num_spk: int) -> str:
    """Data dir name of a set: ``tt_1spk``, ``tt_2spk``, ..."""
    return f"{name}_{num_spk}spk"


def read_source(path: str, fs: int) -> np.ndarray:
    """A source at ``fs`` (any libsndfile format, polyphase resampling), float64."""
    from dcsep.data.audio import load_audio

    wav, rate = load_audio(path)
    return resample(wav.astype(np.float64), rate, fs)


def _levels_chunk(jobs: Sequence[tuple[str, str]], fs: int) -> list[tuple[str, float]]:
    out = []
    for utt, path in jobs:
        lev = active_level(read_source(path, fs), fs)
        if not lev > 0:
            raise DataError(f"{path}: silent (active level 0); it cannot be scaled into a mixture; leave it out")
        out.append((utt, lev))
    return out


def _chunks(items: list, nj: int) -> list[list]:
    size = max(1, min(32, len(items) // (4 * max(nj, 1)) or 1))
    return [items[i : i + size] for i in range(0, len(items), size)]


def _check_out_dir(out_dir: Path, manifest: dict, overwrite: bool) -> bool:
    """True when ``out_dir`` already holds this very output; raises when it holds something else."""
    if not out_dir.exists():
        return False
    if not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a folder; choose another --out-dir")
    mpath = out_dir / MANIFEST
    old = None
    if mpath.is_file():
        try:
            old = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
    if old == manifest and not overwrite:
        return True
    if old is None and any(out_dir.iterdir()):
        raise DataError(f"{out_dir}: exists and is not a dcsep-mix output; choose another --out-dir (nothing was deleted)")
    if not overwrite and old is not None:
        raise DataError(f"{out_dir}: exists and was built with other settings; pass --overwrite to replace it")
    return False


def build_testset(
    source: str | Path,
    out_dir: str | Path,
    num_spk: Sequence[int] = (2, 3),
    counts: Sequence[int] = (150, 100),
    seed: int = 0,
    snr_db: tuple[float, float] = (0.0, 5.0),
    fs: int = 8000,
    mode: str = "min",
    name: str = "tt",
    utt2spk: str | Path | None = None,
    spk_from_folder: bool = False,
    from_list: str | Path | None = None,
    overwrite: bool = False,
    nj: int = 1,
    command: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Build the test sets of ``source`` under ``out_dir``.

    Args:
        source: folder (searched recursively) or ``wav.scp`` of clean utterances.
        out_dir: output root: one data dir per set, ``audio/``, ``mix_lists/``,
            ``README.md`` and ``dcsep_mix.json``.
        num_spk: speakers per mixture of each set (1: single utterances).
        counts: items per set, one per ``num_spk`` entry.
        seed: random seed of the draw.
        snr_db: (low, high) relative level of the first two sources, dB.
        fs: output sample rate; inputs at other rates are resampled.
        mode: "min" (cut to the shortest source) or "max" (zero-pad).
        name: set-name prefix (``tt`` -> ``tt_2spk``, ...).
        utt2spk: speaker labels (keeps a mixture's speakers distinct).
        spk_from_folder: take each file's folder name as its speaker.
        from_list: a ``mix_lists`` dir to rebuild from (``num_spk``,
            ``counts``, ``seed``, ``snr_db`` are then unused).
        overwrite: replace an ``out_dir`` that an earlier build with other
            settings wrote.
        nj: parallel processes.
        command: the command line, for the README.
        log: where progress lines go (None: nowhere; the per-set progress of
            the mixing always goes to stderr).

    Returns:
        Set name -> data dir.

    Raises:
        ConfigError: a bad option. DataError: bad input or output dir.
    """
    say = log or (lambda msg: None)
    if mode not in MODES:
        raise ConfigError(f"--mode must be one of {list(MODES)}, got {mode!r}")
    if not isinstance(fs, int) or fs < 1000:
        raise ConfigError(f"--fs must be an integer sample rate >= 1000 Hz, got {fs!r}")
    lo, hi = (float(v) for v in snr_db)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ConfigError(f"--snr must be two finite numbers LOW <= HIGH (dB), got {list(snr_db)}")
    if not name or any(ch in name for ch in "/\\") or any(ch.isspace() for ch in name):
        raise ConfigError(f"--name must be a plain word (no spaces or slashes), got {name!r}")
    out_dir = Path(out_dir).absolute()
    inp = Path(source).absolute()
    if out_dir == inp or out_dir.is_relative_to(inp) or inp.is_relative_to(out_dir):
        raise ConfigError(f"--out-dir {out_dir} and --input {inp} overlap; put the output outside the input")
    sources = scan_sources(source, utt2spk, spk_from_folder)
    say(f"dcsep-mix: {len(sources.keys)} utterances in {sources.root}, "
        + (f"{sources.num_speakers()} speakers" if sources.labelled else "no speaker labels"))  # fmt: skip

    if from_list is not None:
        lists = _check_lists(sources, read_lists(from_list, name), Path(from_list), name)
    else:
        if len(num_spk) != len(counts):
            raise ConfigError(f"--num-mixtures: {len(counts)} counts for {len(num_spk)} values of --num-spk")
        if len(set(num_spk)) != len(num_spk):
            raise ConfigError(f"--num-spk: {list(num_spk)} names a number twice")
        lists = {}
        for c, n in zip(num_spk, counts):
            if not 1 <= c <= 9 or n < 1:
                raise ConfigError(f"--num-spk must be 1..9 and --num-mixtures >= 1, got {c} speakers, {n} items")
            label = f"{set_name(name, c)} ({sources.root})"
            rng = np.random.default_rng([seed, c, SALT])
            if c == 1:
                lists[1] = draw_singles(sources.keys, n, rng, label)
            else:
                lists[c] = draw_mix_lines(sources.spk, c, n, rng, (lo, hi), label)
        lists = dict(sorted(lists.items()))
    manifest = {
        "source": str(sources.root),
        "speakers": str(Path(utt2spk).absolute()) if utt2spk else "folders" if spk_from_folder else None,
        "fs": fs,
        "mode": mode,
        "name": name,
        "lists": _lists_digest(lists),
    }
    sets = [set_name(name, c) for c in lists]
    if _check_out_dir(out_dir, manifest, overwrite):
        say(f"dcsep-mix: {out_dir} already holds these sets; nothing to do")
        return {s: out_dir / s for s in sets}

    used = sorted({k for c, lines in lists.items() for m in lines for k in ([m] if c == 1 else m.rels)})
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    except OSError as e:
        raise OutputError(f"{out_dir}: cannot create the output there: {e.strerror or e}") from None
    try:
        levels = {}
        if any(c > 1 for c in lists):
            jobs = [(sources.utt[k], sources.path[k]) for k in used]
            res = run_chunks(_levels_chunk, _chunks(jobs, nj), nj, Progress(len(jobs), "dcsep-mix: levels"), fs)
            levels = dict(x for part in res for x in part)
        for c, lines in lists.items():
            records = _build_set(sources, c, lines, tmp, set_name(name, c), fs, mode, levels, nj)
            extra = {"utt2sources": {r.name: " ".join(sources.utt[k] for k in keys) for r, keys in records}}
            if sources.labelled:
                extra["utt2spks"] = {r.name: " ".join(sources.spk[k] for k in keys) for r, keys in records}
            write_mixture_datadir(tmp / set_name(name, c), [r for r, _ in records], fs, extra)
        _fix_paths(tmp, out_dir, sets)
        write_lists(tmp / LISTS, name, lists)
        _write_readme(tmp, sources, lists, manifest, command, sets, (lo, hi), seed if from_list is None else None)
        atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        _swap_in(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"dcsep-mix: wrote {', '.join(sets)} under {out_dir}")
    return {s: out_dir / s for s in sets}


def _build_set(sources: Sources, c: int, lines: list, tmp: Path, sname: str, fs, mode, levels, nj):
    """Write one set's audio under ``tmp/audio/<set>``; return [(record, source keys)] in list order."""
    audio = tmp / "audio" / sname
    if c == 1:
        jobs = [(sources.utt[k], sources.path[k], str(audio / f"{sources.utt[k]}.wav")) for k in lines]
        res = run_chunks(convert_chunk, _chunks(jobs, nj), nj, Progress(len(jobs), f"dcsep-mix: {sname}"), fs)
        n = {u: length for part in res for u, length, _ in part}
        return [(MixRecord(u, d, [d], n[u]), (k,)) for k, (u, _, d) in zip(lines, jobs)]
    specs = []
    for m in lines:
        ids = tuple(sources.utt[k] for k in m.rels)
        specs.append(MixSpec(mixture_name(ids, m.gains), tuple(sources.path[k] for k in m.rels), m.gains_db, ids))
    records = create_mixtures(specs, audio, fs=fs, mode=mode, nj=nj, loader=read_source, levels=levels,
                              label=f"dcsep-mix: {sname}")  # fmt: skip
    return list(zip(records, (m.rels for m in lines)))


def _fix_paths(tmp: Path, final: Path, sets: Sequence[str]) -> None:
    """Point the scp files at where the audio will be once ``tmp`` is renamed to ``final``."""
    from dcsep.data.datadir import write_scp

    for s in sets:
        for p in sorted((tmp / s).glob("*.scp")):
            table = read_scp(p)
            write_scp(p, {k: str(final / Path(v).relative_to(tmp)) for k, v in table.items()})


def _swap_in(tmp: Path, out_dir: Path) -> None:
    """Rename ``tmp`` onto ``out_dir`` (the old one, if any, is removed after the rename)."""
    try:
        if not out_dir.exists():
            os.rename(tmp, out_dir)
            return
        old = out_dir.with_name(f".{out_dir.name}.old.tmp")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out_dir, old)
        os.rename(tmp, out_dir)
    except OSError as e:
        raise OutputError(f"{out_dir}: cannot move the finished sets into place: {e.strerror or e}") from None
    shutil.rmtree(old, ignore_errors=True)


def _write_readme(tmp: Path, sources: Sources, lists, manifest, command, sets, snr, seed) -> None:
    rows = ["| set | items | speakers | hours |", "| --- | ---: | ---: | ---: |"]
    for c, s in zip(lists, sets):
        n = read_scp(tmp / s / "utt2num_samples")
        keys = set(lists[c]) if c == 1 else {k for m in lists[c] for k in m.rels}
        spk = len({sources.spk[k] for k in keys}) if sources.labelled else "unlabelled"
        rows.append(f"| {s} | {len(n)} | {spk} | {sum(int(v) for v in n.values()) / manifest['fs'] / 3600:.3f} |")
    labels = (
        f"Speakers: from `{manifest['speakers']}` ({sources.num_speakers()} in the input); the speakers of a "
        "mixture are distinct."
        if sources.labelled
        else "Speakers: no speaker labels were given, so every utterance counts as its own speaker and "
        "**a mixture may hold two utterances of the same person** (same-speaker mixtures may occur). "
        "Say so where results on these sets are reported."
    )
    drawn = f"drawn with seed {seed}" if seed is not None else "read from a given mix-list dir"
    text = "\n".join([
        f"# {manifest['name']} test sets built by dcsep-mix",
        "",
        f"Command: `{command}`" if command else "Built by `dcsep.data.testset.build_testset`.",
        "",
        f"Input: `{sources.root}` ({len(sources.keys)} utterances). Output rate: {manifest['fs']} Hz.",
        "",
        labels,
        "",
        *rows,
        "",
        f"Mixtures: wsj0-mix scaling (each source at its ITU-T P.56 active level, the first two at a relative "
        f"level drawn uniformly from {snr[0]:g}..{snr[1]:g} dB, gains r/2 and -r/2 dB, any others 0 dB), "
        f"\"{manifest['mode']}\" length, peak 0.9. Single utterances (`*_1spk`) are only resampled.",
        "",
        f"Lists (`{LISTS}/`, {drawn}): rebuild the same sets elsewhere with",
        f"`dcsep-mix --input <the same input> --from-list {LISTS} --out-dir <dir> --fs {manifest['fs']} "
        f"--mode {manifest['mode']} --name {manifest['name']}` (and the same speaker option).",
        "",
    ])  # fmt: skip
    atomic_write_text(tmp / "README.md", text)
