"""The built-in open corpus: synthetic speakers from eSpeak NG, mixed like wsj0-2mix.

Everything is generated locally, so the corpus needs no download and no
licence: the recipe ``egs/tts_mix`` runs anywhere.

* Speakers: each is a fixed combination of an eSpeak NG voice variant (the
  ``!v`` files: m1..m7, f1..f5, klatt*, named voices, ...), an English
  accent, and pitch, pitch-range, speaking-rate and word-gap settings. The
  variants used for the open-set test speakers never appear in training.
  Each speaker's median f0 (:mod:`dcsep.data.f0`) is measured and labelled
  ``low`` or ``high`` (``spk2pitch``), next to the variant's gender
  (``spk2gender``); see :mod:`dcsep.data.tts_voices`.
* Text: English sentences from built-in word lists and templates, drawn with
  a seeded random generator (:mod:`dcsep.data.sentences`).
* Audio: eSpeak NG through its C API (:mod:`dcsep.data.espeak`; library and
  data from the ``espeakng-loader`` package) at 22050 Hz, resampled to 8 kHz.
* Mixtures: 2- and 3-speaker sets scaled exactly as wsj0-mix
  (:mod:`dcsep.data.mixing`), in the wsj0-mix file layout, with Kaldi-style
  data dirs ``tr_2spk``, ``cv_2spk`` (training speakers, different
  utterances: closed set), ``tt_closed_2spk`` (training speakers, unseen
  utterances) and ``tt_2spk`` (unseen speakers: open set), ``tt_3spk`` ...

The sizes come from a small YAML file (see ``egs/tts_mix/conf/data_*.yaml``
and :class:`TTSMixConfig`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from dcsep.data.audio_cache import LevelCache, check_manifest
from dcsep.data.corpus_config import CorpusConfig
from dcsep.data.datadir import category_label, write_scp, write_speaker_datadir
from dcsep.data.espeak import ESPEAK_FS, ESpeak, espeak  # noqa: F401  (re-exported)
from dcsep.data.f0 import median_f0  # noqa: F401  (re-exported)
from dcsep.data.mixing import MixSpec, Progress, create_mixtures, run_chunks, write_mixture_datadir
from dcsep.data.mixlist import draw_speaker_tuples, format_gain, mixture_name
from dcsep.data.sentences import SentenceMaker
from dcsep.data.tts_voices import (  # noqa: F401  (re-exported)
    CALIBRATION_TEXT,
    TEST_VARIANTS,
    TRAIN_VARIANTS,
    Speaker,
    calibrate_chunk,
    make_speakers,
    synthesize_utterance,
)
from dcsep.errors import ConfigError, DataError
from dcsep.utils import atomic_write_text

SPLITS = ("tr", "cv", "tt_closed", "tt")  # tt: open speaker set; the rest: training speakers


@dataclass
class TTSMixConfig(CorpusConfig):
    """Sizes and settings of a generated corpus (the recipe's ``conf/data_*.yaml``).

    Attributes:
        seed: everything (speakers, texts, mixtures) follows from it.
        fs: output sample rate.
        mode: "min" or "max" (wsj0-mix versions).
        mixtures: {num_spk: {split: count}}.
        train_speakers / test_speakers: number of speakers (training voices /
            held-out voices for the open-set test).
        train_utts: utterances per training speaker for each pool (tr, cv,
            tt_closed); mixtures of a split only use its pool.
        test_utts: utterances per open-set speaker.
        words: [min, max] words per sentence.
        max_gain_db: |g1| bound (below 10); 2-speaker gains are (g1, -g1), 3-speaker (g1, -g1, 0).
        pitch_threshold_hz: median f0 that separates "low" from "high" speakers.
    """

    NAME = "tts_mix"
    SETS = SPLITS
    SET_WORD = "split"

    mixtures: dict[int, dict[str, int]] = field(
        default_factory=lambda: {2: {"tr": 1200, "cv": 150, "tt_closed": 150, "tt": 150}, 3: {"tt_closed": 100, "tt": 100}}
    )
    train_speakers: int = 48
    test_speakers: int = 16
    train_utts: dict[str, int] = field(default_factory=lambda: {"tr": 16, "cv": 4, "tt_closed": 4})
    test_utts: int = 8
    words: list[int] = field(default_factory=lambda: [5, 12])
    max_gain_db: float = 2.5
    pitch_threshold_hz: float = 150.0

    def check(self, bad) -> None:
        if set(self.train_utts) != {"tr", "cv", "tt_closed"}:
            bad(f"train_utts: needs exactly the keys tr, cv, tt_closed, got {sorted(self.train_utts)}")
        if min(self.train_utts.values()) < 1 or self.test_utts < 1:
            bad("train_utts / test_utts: at least 1 utterance per pool")
        if len(self.words) != 2 or not 1 <= self.words[0] <= self.words[1]:
            bad(f"words: [min, max] with 1 <= min <= max, got {self.words}")
        if not 0 <= self.max_gain_db < 10:
            bad(f"max_gain_db: 0 <= max_gain_db < 10 (mixture ids spell gains with 4 decimals), got {self.max_gain_db}")

    def check_mixtures(self, bad) -> None:
        for c, sets in self.mixtures.items():
            for split in sets:
                pool = self.test_speakers if split == "tt" else self.train_speakers
                if pool < c:
                    bad(f"mixtures.{c}.{split}: {c}-speaker mixtures need at least {c} speakers, have {pool}")
        if self.train_speakers < 2 or self.test_speakers < 2:
            bad("train_speakers / test_speakers: at least 2 each")


@dataclass(frozen=True)
class _Utt:
    utt_id: str
    spk: Speaker
    text: str
    rate: int
    pitch: int
    path: str


def _synth_chunk(utts: Sequence[_Utt], fs: int, known: dict[str, tuple[int, float]]) -> list[tuple[str, int, float]]:
    """Synthesise the utterances whose file does not exist yet.

    Returns (utt_id, num_samples, active level) per utterance; ``known``
    holds these for files made before (not recomputed).
    """
    from dcsep.data.audio import load_audio, write_wav
    from dcsep.data.mixing import active_level

    out = []
    for u in utts:
        if Path(u.path).is_file() and u.utt_id in known:
            out.append((u.utt_id, *known[u.utt_id]))
            continue
        if not Path(u.path).is_file():
            write_wav(u.path, synthesize_utterance(u.spk, u.text, fs, rate=u.rate, pitch=u.pitch), fs)
        x, _ = load_audio(u.path, fs=fs)  # the level of the samples as stored, as the mixing reads them
        out.append((u.utt_id, int(x.size), active_level(x.astype(np.float64), fs)))
    return out


def prepare_tts_mix(
    config: TTSMixConfig,
    audio_dir: str | Path,
    data_dir: str | Path,
    nj: int = 1,
) -> dict[str, Path]:
    """Generate the built-in corpus: speakers, utterances, mixtures and data dirs.

    Re-running with the same config reuses every file already written;
    running with a different config on the same ``audio_dir`` is an error.

    Args:
        config: sizes and settings.
        audio_dir: where the audio goes (``single/<spk>/<utt>.wav`` and
            ``<C>speakers/wav8k/<mode>/<split>/{mix,s1,..}/<name>.wav``).
        data_dir: where the Kaldi-style dirs go: ``<split>_<C>spk`` for the
            mixtures, ``single_<pool>`` for the single-speaker utterances,
            ``local/`` for speaker metadata.
        nj: parallel processes.

    Returns:
        Mixture data dir name (e.g. ``tr_2spk``) -> path.
    """
    config.validate()
    audio_dir, data_dir = Path(audio_dir).absolute(), Path(data_dir).absolute()
    audio_dir.mkdir(parents=True, exist_ok=True)
    check_manifest(audio_dir, _manifest_key(config))
    fs = config.fs
    train_spk = make_speakers(config.train_speakers, TRAIN_VARIANTS, "s", config.seed)
    test_spk = make_speakers(config.test_speakers, TEST_VARIANTS, "u", config.seed)
    speakers = train_spk + test_spk
    f0, pitch = _pitch_classes(speakers, audio_dir, config, nj)
    pools = _utterances(speakers, set(s.spk_id for s in train_spk), audio_dir, config)

    # synthesis, and the lengths and active levels of the stored utterances (reused by every mixture);
    # one fresh process per chunk: the audio is the same on every run, with any nj
    all_utts = [u for p in pools.values() for u in p]
    chunks = [all_utts[i : i + 16] for i in range(0, len(all_utts), 16)]
    cache = LevelCache(audio_dir / "single")
    known = cache.load((u.utt_id for u in all_utts), exists=lambda u: True)
    res = run_chunks(_synth_chunk, chunks, nj, Progress(len(all_utts), "synthesis"), fs, known, fresh_process=True)
    info = {u: (n, lev) for part in res for (u, n, lev) in part}
    cache.update(info)
    lengths = {u: n for u, (n, _) in info.items()}
    levels = {u: lev for u, (_, lev) in info.items()}

    # single-speaker data dirs (for dynamic mixing and inspection) and speaker metadata
    _write_speaker_tables(data_dir / "local", speakers, f0, pitch, set(s.spk_id for s in test_spk))
    for pool, utts in pools.items():
        _write_single_dir(data_dir / f"single_{pool}", utts, lengths, fs, pitch)

    out: dict[str, Path] = {}
    for num_spk, sets in sorted(config.mixtures.items()):
        for split, count in sets.items():
            pool = pools[split]
            specs = _draw_mixtures(pool, num_spk, count, config, split)
            by_id = {u.utt_id: u for u in pool}
            set_dir = audio_dir / f"{num_spk}speakers" / f"wav{fs // 1000}k" / config.mode / split
            records = create_mixtures(
                specs, set_dir, fs=fs, mode=config.mode, nj=nj, levels=levels,
                label=f"{split} {num_spk}-speaker mixtures",
            )  # fmt: skip
            # utt2category: the speakers' pitch classes (as the gender pairs of the paper's Table 3);
            # the voice variants' genders mostly coincide with them and are in local/speakers.tsv
            extra = {"utt2category": {}, "utt2spks": {}}
            for spec in specs:
                spks = [by_id[u].spk for u in spec.source_ids]
                extra["utt2category"][spec.name] = category_label([pitch[s.spk_id] for s in spks], ["low", "high"], "-")
                extra["utt2spks"][spec.name] = " ".join(s.spk_id for s in spks)
            name = f"{split}_{num_spk}spk"
            out[name] = write_mixture_datadir(data_dir / name, records, fs, extra)
    return out


def _pitch_classes(speakers: Sequence[Speaker], audio_dir: Path, config: TTSMixConfig, nj: int):
    """Each speaker's median f0 (measured once, cached in ``spk2f0.json``) and pitch class (low / high)."""
    f0_cache = audio_dir / "spk2f0.json"
    f0 = json.loads(f0_cache.read_text()) if f0_cache.is_file() else {}
    todo = [s for s in speakers if s.spk_id not in f0]
    if todo:
        chunks = [todo[i : i + 8] for i in range(0, len(todo), 8)]
        res = run_chunks(calibrate_chunk, chunks, nj, Progress(len(todo), "speaker f0"), config.fs, fresh_process=True)
        for s, v in zip(todo, (v for part in res for v in part)):
            f0[s.spk_id] = v
        atomic_write_text(f0_cache, json.dumps(f0, indent=1, sort_keys=True))
    pitch = {
        s.spk_id: ("high" if f0[s.spk_id] >= config.pitch_threshold_hz else "low")
        for s in speakers
        if np.isfinite(f0[s.spk_id])
    }
    missing = [s.spk_id for s in speakers if s.spk_id not in pitch]
    if missing:
        raise DataError(f"could not measure the pitch of speakers {missing[:5]} (no voiced frames)")
    return f0, pitch


def _utterances(speakers: Sequence[Speaker], train_ids: set[str], audio_dir: Path, config: TTSMixConfig):
    """Pool -> utterances; texts and per-utterance jitter follow from (seed, speaker, pool, index)."""
    maker = SentenceMaker()
    pools: dict[str, list[_Utt]] = {p: [] for p in SPLITS}
    for spk_idx, spk in enumerate(speakers):
        plan = config.train_utts.items() if spk.spk_id in train_ids else [("tt", config.test_utts)]
        for pool_idx, (pool, n) in enumerate(plan):
            for k in range(n):
                rng = np.random.default_rng([config.seed, spk_idx, pool_idx, k, 0x7E57])
                text = maker.sentence(rng, *config.words)
                rate = int(round(spk.rate * rng.uniform(0.94, 1.06)))
                ptc = int(np.clip(spk.pitch + rng.integers(-3, 4), 0, 100))
                utt_id = f"{spk.spk_id}_{pool}{k + 1:03d}" if pool != "tt" else f"{spk.spk_id}_{k + 1:03d}"
                path = audio_dir / "single" / spk.spk_id / f"{utt_id}.wav"
                pools[pool].append(_Utt(utt_id, spk, text, rate, ptc, str(path)))
    return pools


def _draw_mixtures(pool: Sequence[_Utt], num_spk: int, count: int, config: TTSMixConfig, split: str) -> list[MixSpec]:
    """``count`` mixtures of ``pool``; gains (g1, -g1[, 0]) with g1 uniform in +-max_gain_db, 4 decimals."""
    by_spk: dict[str, list[_Utt]] = {}
    for u in pool:
        by_spk.setdefault(u.spk.spk_id, []).append(u)
    rng = np.random.default_rng([config.seed, num_spk, SPLITS.index(split), 0x313])

    def too_few() -> ConfigError:
        return ConfigError(
            f"mixtures.{num_spk}.{split}: cannot draw {count} distinct mixtures from "
            f"{len(pool)} utterances of {len(by_spk)} speakers; lower the count or add utterances"
        )

    specs: list[MixSpec] = []
    for utts in draw_speaker_tuples(by_spk, num_spk, count, rng, lambda u: u.utt_id, too_few):
        g1 = float(np.round(rng.uniform(-config.max_gain_db, config.max_gain_db), 4))
        gains = [g1, -g1] + [0.0] * (num_spk - 2)
        ids = tuple(u.utt_id for u in utts)
        name = mixture_name(ids, [format_gain(g, compact=True) for g in gains])
        specs.append(MixSpec(name, tuple(u.path for u in utts), tuple(gains), ids))
    return specs


def _write_speaker_tables(local: Path, speakers, f0, pitch, test_ids) -> None:
    """``local/speakers.tsv`` (every speaker's settings, f0 and pitch class), spk2gender and spk2pitch."""
    local.mkdir(parents=True, exist_ok=True)
    cols = ["spk_id", "set", "language", "variant", "gender", "pitch", "pitch_range", "rate", "wordgap", "f0_hz", "pitch_class"]
    lines = ["\t".join(cols)]
    for s in speakers:
        d = asdict(s)
        d.update({"set": "test" if s.spk_id in test_ids else "train", "f0_hz": f"{f0[s.spk_id]:.1f}", "pitch_class": pitch[s.spk_id]})
        lines.append("\t".join(str(d[c]) for c in cols))
    atomic_write_text(local / "speakers.tsv", "\n".join(lines) + "\n")
    write_scp(local / "spk2gender", {s.spk_id: s.gender for s in speakers})
    write_scp(local / "spk2pitch", {s.spk_id: pitch[s.spk_id] for s in speakers})


def _write_single_dir(d: Path, utts: Sequence[_Utt], lengths: dict[str, int], fs: int, pitch) -> None:
    extra = {
        "spk2gender": {u.spk.spk_id: u.spk.gender for u in utts},
        "spk2pitch": {u.spk.spk_id: pitch[u.spk.spk_id] for u in utts},
        "text": {u.utt_id: u.text for u in utts},
        "utt2dur": {u.utt_id: f"{lengths[u.utt_id] / fs:.4f}" for u in utts},
    }
    write_speaker_datadir(d, {u.utt_id: u.path for u in utts}, {u.utt_id: u.spk.spk_id for u in utts}, extra)


def _manifest_key(config: TTSMixConfig) -> dict:
    """What decides the single-speaker audio (speakers, texts, fs); mixture counts may change between runs."""
    return {
        "seed": config.seed,
        "fs": config.fs,
        "train_speakers": config.train_speakers,
        "test_speakers": config.test_speakers,
        "words": list(config.words),
        "train_variants": TRAIN_VARIANTS,
        "test_variants": TEST_VARIANTS,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dcsep.data.tts --config conf/data_small.yaml --audio-dir DIR --data-dir DIR``."""
    import argparse

    from dcsep.data.corpus_cli import run_prepare

    p = argparse.ArgumentParser(prog="python -m dcsep.data.tts", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="corpus YAML (see TTSMixConfig); default: built-in small size")
    p.add_argument("--audio-dir", required=True, help="where the generated audio goes")
    p.add_argument("--data-dir", required=True, help="where the Kaldi-style data dirs go")
    p.add_argument("--nj", type=int, default=1, help="parallel processes")
    p.add_argument("--seed", type=int, help="override the config's seed")
    args = p.parse_args(argv)

    def run() -> dict[str, Path]:
        cfg = TTSMixConfig.from_yaml(args.config) if args.config else TTSMixConfig()
        if args.seed is not None:
            cfg.seed = args.seed
        return prepare_tts_mix(cfg, args.audio_dir, args.data_dir, nj=max(1, args.nj))

    return run_prepare(p.prog, run)


if __name__ == "__main__":
    raise SystemExit(main())
