"""speechocean762 (OpenSLR resource 101) as a real-speech separation corpus.

speechocean762 is read English from 250 speakers (125 female, 125 male; 122
children aged 6-15 and 128 adults aged 19-43; all native Mandarin speakers),
5,245 utterances of 1.6-20 s (about 6 h), Apache-2.0. Its official train and
test halves have disjoint speakers (125 each); ``train/`` and ``test/`` hold
Kaldi-style metadata (``wav.scp`` naming ``WAVE/SPEAKERxxxx/<utt>.WAV``,
``utt2spk``, ``spk2gender``, ``spk2age``, ``text``). 245 audio files under
``WAVE/`` have no ``wav.scp`` line; their speaker is their folder's.

From it this module builds wsj0-2mix-style sets (2- and 3-speaker mixtures,
relative gains of 0-5 dB, active-level scaling and peak normalisation of
:mod:`dcsep.data.mixing`, "min" length):

* ``train_sources``: single-speaker utterances of the training speakers, for
  dynamic mixing (:class:`dcsep.data.dynamic_mix.DynamicMixDataset`);
* ``tr``: fixed 2-speaker training mixtures of the same utterances;
* ``cv`` and ``cv_3spk``: 2- and 3-speaker validation mixtures of train-half
  speakers held out of training (``cv_3spk`` validates a 3-speaker model);
* ``tt_closed``: mixtures of training speakers' utterances that are kept out
  of training (closed speaker set);
* ``tt`` and ``tt_3spk``: 2- and 3-speaker mixtures of the 125 test-half
  speakers (open speaker set: never seen in training).

Which utterances go where is fixed by *mix lists*: ``train_sources.txt`` (one
corpus-relative path a line) and ``mix_<C>_spk_<set>.txt`` in the wsj0-mix line
format ``path1 g1 path2 g2 [path3 g3]`` (paths relative to the corpus root, as
in the official ``wav.scp``; gains in dB). Lists are drawn from a seed when
none are given, and reused when given, so a committed set of lists rebuilds
the same corpus anywhere. Each mixture dir also gets ``utt2gender`` (``f+f``,
``f+m``, ``m+m``), ``utt2age`` (``child+child``, ``child+adult``,
``adult+adult``; child: age below ``child_age``, 18 by default; the corpus has
no speaker aged 16-18, so any threshold from 16 to 19 gives the same groups),
``utt2category`` (both, e.g. ``f+m/child+adult``) and ``utt2spks``.

Input: the official layout (16 kHz ``.WAV``) or a copy with other audio
formats (``<utt>.flac``, ``<utt>.wav``): a ``wav.scp`` path whose file is
missing is looked up with the other extensions. All audio is resampled to
``fs`` once (``out_dir/audio/WAVE/...``). Without a corpus dir,
:func:`download_speechocean762` fetches the official archive.
"""


from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Sequence

from dcsep.data.audio_cache import LevelCache, check_manifest, convert_chunk
from dcsep.data.datadir import category_label, read_scp, write_scp, write_speaker_datadir
from dcsep.data.download import NotOnServer, extract_archives, fetch, is_complete, mark_complete
from dcsep.data.mixing import MixSpec, Progress, create_mixtures, run_chunks, write_mixture_datadir
from dcsep.data.mixlist import MixLine, list_name, read_mix_list, write_mix_list  # noqa: F401  (re-exported)
from dcsep.data.speechocean_corpus import (  # noqa: F401  (re-exported)
    ADULT,
    AUDIO_EXTENSIONS,
    CHILD,
    MIX_SETS,
    Corpus,
    SourceUtt,
    SpeechoceanConfig,
    _log,
    find_corpus_root,
    resolve_audio,
    scan_corpus,
)
from dcsep.data.speechocean_lists import (  # noqa: F401  (re-exported)
    MixLists,
    SpeakerPlan,
    check_lists,
    draw_lists,
    draw_mixtures,
    draw_plan,
    set_name,
)
from dcsep.errors import DataError
from dcsep.utils import atomic_write_text

_resolve_audio = resolve_audio  # the name of earlier releases

# ---- download ----------------------------------------------------------------------
OPENSLR_URL = "https://www.openslr.org/resources/101"
#: archive sets tried in order: the single archive the corpus authors' own recipe
#: fetches, then the four archives named in the corpus's info.txt
ARCHIVE_SETS: tuple[tuple[str, ...], ...] = (
    ("speechocean762.tar.gz",),
    ("WAVE.tgz", "train.tgz", "test.tgz", "resource.tgz"),
)
#: sizes in bytes where known (from the corpus authors' download script)
ARCHIVE_SIZES = {"speechocean762.tar.gz": 520810923}
#: md5 sums where known (none published; pass ``checksums`` to check your own)
ARCHIVE_MD5: dict[str, str] = {}


def download_speechocean762(
    download_dir: str | Path,
    url: str = OPENSLR_URL,
    archive_sets: Sequence[Sequence[str]] = ARCHIVE_SETS,
    sizes: dict[str, int] | None = None,
    checksums: dict[str, str] | None = None,
    remove_archives: bool = False,
) -> Path:
    """Download and extract the official archives; return the corpus root.

    The archives go to ``download_dir`` (an interrupted download resumes
    from its ``.part`` file), are extracted to ``download_dir/extracted``,
    and a ``.complete`` marker there makes a second call a no-op.

    Args:
        download_dir: where archives and extracted files go.
        url: base URL (``https://``, ``http://`` or ``file://``); the archive
            names are appended.
        archive_sets: alternatives tried in order; a set is skipped when its
            first archive is not on the server.
        sizes: expected sizes in bytes (default: :data:`ARCHIVE_SIZES`, only for the default URL).
        checksums: expected md5 sums (default: :data:`ARCHIVE_MD5`).
        remove_archives: delete the archives after extraction.

    Returns:
        The extracted corpus root (the dir holding ``WAVE/``, ``train/``, ``test/``).
    """
    download_dir = Path(download_dir).absolute()
    extracted = download_dir / "extracted"
    if is_complete(extracted):
        root = find_corpus_root(extracted)
        if root is not None:
            _log(f"already downloaded and extracted: {root}")
            return root
    download_dir.mkdir(parents=True, exist_ok=True)
    if sizes is None:
        sizes = ARCHIVE_SIZES if url.rstrip("/") == OPENSLR_URL else {}
    checksums = ARCHIVE_MD5 if checksums is None else checksums
    base = url.rstrip("/")
    tried = []
    for names in archive_sets:
        try:
            paths = []
            for k, name in enumerate(names):
                _log(f"downloading {base}/{name}")
                try:
                    fetch(f"{base}/{name}", download_dir / name, sizes.get(name), checksums.get(name), log=_log)
                except NotOnServer:
                    if k == 0:
                        raise
                    raise DataError(f"{base}/{name}: not found on the server, but {names[0]} was") from None
                paths.append(download_dir / name)
        except NotOnServer:
            tried.append(f"{base}/{names[0]}")
            continue
        extract_archives(paths, extracted, log=_log)
        root = find_corpus_root(extracted)
        if root is None:
            raise DataError(f"{extracted}: the archives hold no train/wav.scp; is {base} speechocean762?")
        mark_complete(extracted, " ".join(names))
        if remove_archives:
            for p in paths:
                p.unlink()
        return root
    raise DataError(f"speechocean762 archives not found: tried {', '.join(tried)}")


def prepare_speechocean762(
    corpus_dir: str | Path | None,
    out_dir: str | Path,
    config: SpeechoceanConfig | None = None,
    mix_lists: str | Path | None = None,
    allow_partial: bool = False,
    nj: int = 1,
    download_dir: str | Path | None = None,
    url: str = OPENSLR_URL,
) -> dict[str, Path]:
    """Prepare speechocean762 for separation: resampled audio, source dir, mixture sets.

    Args:
        corpus_dir: the corpus (official layout or a copy with ``.flac``
            files). None downloads it into ``download_dir`` first.
        out_dir: output root: ``audio/`` (resampled utterances and mixtures),
            ``mix_lists/`` (the lists used), ``local/`` (speaker tables) and
            one data dir per set (``train_sources``, ``tr``, ``cv``, ``tt_closed``,
            ``tt``, ``tt_3spk``, ...).
        config: sizes and settings (default: :class:`SpeechoceanConfig`).
        mix_lists: a dir of lists (``train_sources.txt``, ``mix_<C>_spk_<set>.txt``)
            to rebuild exactly those sets; without it, or when a list is
            missing there, all lists are drawn from ``config.seed``.
        allow_partial: accept a corpus with fewer files than the full one.
        nj: parallel processes.
        download_dir: where to download when ``corpus_dir`` is None
            (default: ``out_dir/downloads``).
        url: download base URL (e.g. a mirror or a ``file://`` dir).

    Returns:
        Data dir name -> path (``train_sources`` and the mixture sets).
    """
    config = config or SpeechoceanConfig()
    config.validate()
    out_dir = Path(out_dir).absolute()
    if corpus_dir is None:
        corpus_dir = download_speechocean762(download_dir or out_dir / "downloads", url=url)
    t0 = time.monotonic()
    corpus = scan_corpus(corpus_dir, strict=not allow_partial)
    n_orph = sum(not u.listed for u in corpus.utts.values())
    _log(
        f"corpus {corpus.root}: {len(corpus.utts)} utterances ({n_orph} without a wav.scp line) of "
        f"{len(corpus.spk2split)} speakers"
    )
    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    check_manifest(audio_dir, {"corpus": "speechocean762", "fs": config.fs})

    # lists: given or drawn
    if mix_lists is not None and MixLists.present(mix_lists, config):
        _log(f"using the mix lists in {mix_lists}")
        lists, where = MixLists.read(mix_lists, config), str(mix_lists)
    else:
        if mix_lists is not None:
            _log(f"no complete set of mix lists in {mix_lists}: drawing them from seed {config.seed}")
        lists, where = draw_lists(corpus, config), str(out_dir / "mix_lists")
    spk_sets = check_lists(corpus, lists, where)
    lists.write(out_dir / "mix_lists")

    by_rel = corpus.by_rel()
    by_stem = {Path(r).with_suffix("").as_posix(): u for r, u in by_rel.items()}

    def utt_of(rel: str) -> SourceUtt:
        return by_rel.get(rel) or by_stem[Path(rel).with_suffix("").as_posix()]

    rels = list(lists.train_sources) + [r for ls in lists.mixes.values() for m in ls for r in m.rels]
    needed = {u.utt: u for u in map(utt_of, rels)}
    dst = {u: str(audio_dir / Path(v.rel).with_suffix(".wav")) for u, v in needed.items()}
    lengths, levels = _resample(needed, dst, audio_dir, config.fs, nj)
    _write_speaker_tables(out_dir / "local", corpus, lists, spk_sets, config.child_age)

    out: dict[str, Path] = {}
    src_utts = [utt_of(r) for r in lists.train_sources]
    out["train_sources"] = _write_source_dir(out_dir / "train_sources", src_utts, dst, lengths, levels, corpus, config)
    for (c, s), lines in sorted(lists.mixes.items(), key=lambda kv: (kv[0][0], MIX_SETS.index(kv[0][1]))):
        name = set_name(s, c)
        specs, extra = _mixture_specs(lines, [[utt_of(r) for r in m.rels] for m in lines], dst, corpus, config)
        set_dir = audio_dir / f"wav{config.fs // 1000}k" / config.mode / name
        records = create_mixtures(
            specs, set_dir, fs=config.fs, mode=config.mode, nj=nj, levels=levels, label=f"speechocean762: {name}"
        )
        out[name] = write_mixture_datadir(out_dir / name, records, config.fs, extra)
    _write_summary(out_dir, out, config.fs, time.monotonic() - t0)
    return out


def _resample(needed: dict[str, SourceUtt], dst: dict[str, str], audio_dir: Path, fs: int, nj: int):
    """Resample every needed utterance once into ``audio_dir``; (lengths, levels) of the stored audio."""
    cache = LevelCache(audio_dir)
    info = cache.load(needed, exists=lambda u: Path(dst[u]).is_file())
    jobs = [(u, needed[u].path, dst[u]) for u in sorted(needed) if u not in info]
    if jobs:
        _log(f"resampling {len(jobs)} utterances to {fs} Hz into {audio_dir} (nj={nj})")
        chunks = [jobs[i : i + 32] for i in range(0, len(jobs), 32)]
        res = run_chunks(convert_chunk, chunks, nj, Progress(len(jobs), "speechocean762: resampling"), fs)
        new = {utt: (n, lev) for part in res for utt, n, lev in part}
        cache.update(new)
        info.update(new)
    silent = sorted(u for u in needed if not info[u][1] > 0)
    if silent:
        raise DataError(f"{needed[silent[0]].path}: silent utterance (active level 0); cannot scale it")
    return {u: n for u, (n, _) in info.items()}, {u: lev for u, (_, lev) in info.items()}


def _mixture_specs(lines: Sequence[MixLine], utts: Sequence[Sequence[SourceUtt]], dst, corpus: Corpus, config):
    """MixSpecs of a set and its extra files (utt2gender, utt2age, utt2category, utt2spks)."""
    specs, extra = [], {"utt2gender": {}, "utt2age": {}, "utt2category": {}, "utt2spks": {}}
    for m, us in zip(lines, utts):
        mname = m.name
        specs.append(MixSpec(mname, tuple(dst[u.utt] for u in us), m.gains_db, tuple(u.utt for u in us)))
        spk = [u.spk for u in us]
        age = category_label([corpus.age_group(x, config.child_age) for x in spk], [CHILD, ADULT])
        extra["utt2gender"][mname] = category_label([corpus.spk2gender[x] for x in spk], ["f", "m"])
        extra["utt2age"][mname] = age
        extra["utt2category"][mname] = f"{extra['utt2gender'][mname]}/{age}"
        extra["utt2spks"][mname] = " ".join(spk)
    return specs, extra


def _write_speaker_tables(local: Path, corpus: Corpus, lists: MixLists, spk_sets, child_age: int) -> None:
    """``local/speakers.tsv`` (each speaker's half, role, gender, age) and spk2gender / spk2age / spk2agegroup."""
    train_spk = spk_sets["train_sources"]
    cv_spk = {x for (c, s), _ in lists.mixes.items() if s == "cv" for x in spk_sets[set_name(s, c)]}
    test_spk = {x for (c, s), _ in lists.mixes.items() if s == "tt" for x in spk_sets[set_name(s, c)]}
    role = {}
    for s in corpus.spk2split:
        role[s] = "train" if s in train_spk else "cv" if s in cv_spk else "test" if s in test_spk else "unused"
    nutt = Counter(u.spk for u in corpus.utts.values())
    rows = ["spk\thalf\trole\tgender\tage\tage_group\tnum_utts"]
    for s in sorted(corpus.spk2split):
        rows.append(
            f"{s}\t{corpus.spk2split[s]}\t{role[s]}\t{corpus.spk2gender[s]}\t{corpus.spk2age[s]}\t"
            f"{corpus.age_group(s, child_age)}\t{nutt[s]}"
        )
    atomic_write_text(local / "speakers.tsv", "\n".join(rows) + "\n")
    write_scp(local / "spk2gender", corpus.spk2gender)
    write_scp(local / "spk2age", {s: str(a) for s, a in corpus.spk2age.items()})
    write_scp(local / "spk2agegroup", {s: corpus.age_group(s, child_age) for s in corpus.spk2age})


def _write_source_dir(d: Path, utts: Sequence[SourceUtt], dst, lengths, levels, corpus: Corpus, config) -> Path:
    ids = [u.utt for u in utts]
    spks = sorted({u.spk for u in utts})
    extra = {
        "spk2gender": {s: corpus.spk2gender[s] for s in spks},
        "spk2age": {s: str(corpus.spk2age[s]) for s in spks},
    }
    texts = {u: corpus.text[u] for u in ids if corpus.text.get(u)}
    if texts:
        extra["text"] = texts
    extra["utt2num_samples"] = {u: str(lengths[u]) for u in ids}
    extra["utt2dur"] = {u: f"{lengths[u] / config.fs:.4f}" for u in ids}
    extra["utt2activlev"] = {u: repr(levels[u]) for u in ids}
    return write_speaker_datadir(d, {u: dst[u] for u in ids}, {u.utt: u.spk for u in utts}, extra)


def _write_summary(out_dir: Path, dirs: dict[str, Path], fs: int, seconds: float) -> None:
    """``summary.tsv``: utterances or mixtures, speakers and hours of every data dir."""
    rows = ["set\titems\tspeakers\thours"]
    for name, d in dirs.items():
        n = read_scp(d / "utt2num_samples")
        hours = sum(int(v) for v in n.values()) / fs / 3600
        if (d / "utt2spks").is_file():
            spk = {x for v in read_scp(d / "utt2spks").values() for x in v.split()}
        else:
            spk = set(read_scp(d / "utt2spk").values())
        rows.append(f"{name}\t{len(n)}\t{len(spk)}\t{hours:.2f}")
    atomic_write_text(out_dir / "summary.tsv", "\n".join(rows) + "\n")
    _log(f"prepared in {seconds:.0f} s:\n" + "\n".join(rows))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dcsep.data.speechocean --corpus-dir DIR --out-dir data [--config ...] [--mix-lists DIR]``."""
    import argparse

    from dcsep.data.corpus_cli import run_prepare

    p = argparse.ArgumentParser(
        prog="python -m dcsep.data.speechocean",
        description="Prepare speechocean762 (OpenSLR 101) as 2- and 3-speaker mixture sets.",
    )
    p.add_argument("--corpus-dir", help="the corpus root (WAVE/, train/, test/); without it the corpus is downloaded")
    p.add_argument("--out-dir", required=True, help="output root (audio/, data dirs, mix_lists/)")
    p.add_argument("--config", help="sizes YAML (see SpeechoceanConfig); default: the full sizes")
    p.add_argument("--mix-lists", help="dir of mix lists to rebuild from (drawn from the seed when absent)")
    p.add_argument("--allow-partial", action="store_true", help="accept a corpus with fewer files than the full one")
    p.add_argument("--nj", type=int, default=1, help="parallel processes")
    p.add_argument("--download-dir", help="where to download the corpus (default: OUT_DIR/downloads)")
    p.add_argument("--url", default=OPENSLR_URL, help=f"download base URL (default: {OPENSLR_URL})")
    p.add_argument("--download-only", action="store_true", help="download and extract, print the corpus root, stop")
    args = p.parse_args(argv)

    def run() -> None:
        if args.download_only:
            print(download_speechocean762(args.download_dir or Path(args.out_dir) / "downloads", url=args.url))
            return
        cfg = SpeechoceanConfig.from_yaml(args.config) if args.config else SpeechoceanConfig()
        prepare_speechocean762(
            args.corpus_dir, args.out_dir, cfg, mix_lists=args.mix_lists, allow_partial=args.allow_partial,
            nj=max(1, args.nj), download_dir=args.download_dir, url=args.url,
        )  # fmt: skip

    return run_prepare(p.prog, run, summary=False)


if __name__ == "__main__":
    raise SystemExit(main())
