"""wsj0-2mix / wsj0-3mix from a WSJ0 copy, in Python (no MATLAB).

The official mix lists (``mix_2_spk_{tr,cv,tt}.txt``, ``mix_3_spk_*.txt``
from the ``create-speaker-mixtures`` package of MERL) name, per mixture, the
WSJ0 source files and their gains in dB::

    wsj0/si_tr_s/01t/01to030v.wav 0.76421 wsj0/si_tr_s/20g/20ga010m.wav -0.76421

:func:`prepare_wsj0_mix` reads the sources (``.wv1`` NIST SPHERE as WSJ0
ships them, through ``sph2pipe`` when shorten-compressed, or directly when
plain; or ``.wav``), resamples them to ``fs``, scales them as the original
scripts (:func:`dcsep.data.mixing.mix_sources`: active speech level, gains,
peak 0.9, 16-bit), and writes the standard layout
``<out>/wav8k/min/{tr,cv,tt}/{mix,s1,s2}/<utt1>_<g1>_<utt2>_<g2>.wav`` and
Kaldi-style data dirs ``<data>/{tr,cv,tt}``. It checks the input first and
says what is missing.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from functools import partial
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from dcsep.data.download import fetch
from dcsep.data.mixing import MixSpec, create_mixtures, resample, write_mixture_datadir
from dcsep.data.mixlist import MixLine, list_name, read_mix_list, utt_stem  # noqa: F401  (re-exported)
from dcsep.errors import DataError

MIX_LISTS_URL = "http://www.merl.com/demos/deep-clustering/create-speaker-mixtures.zip"
SPLITS = ("tr", "cv", "tt")
AUDIO_SUFFIXES = (".wv1", ".wav", ".sph", ".flac")


# ---- mix lists ---------------------------------------------------------------------
ListEntry = MixLine  # one line of a mix list (the name of earlier releases)
_stem = utt_stem


def fetch_mix_lists(dest: str | Path, source: str | Path | None = None, num_spk: int = 2) -> Path:
    """Make the official mix lists for ``num_spk`` speakers available in ``dest``; returns ``dest``.

    Args:
        dest: directory that receives ``mix_<C>_spk_{tr,cv,tt}.txt``.
        source: a directory holding the lists, the ``create-speaker-mixtures.zip``
            file, or None to download that zip from the official URL.
    """
    dest = Path(dest)
    names = [list_name(num_spk, s) for s in SPLITS]
    if source is not None:
        source = Path(source)
        if source.is_dir():
            found = {n: _find_in_dir(source, n) for n in names}
            missing = [n for n, p in found.items() if p is None]
            if missing:
                raise DataError(f"{source}: mix lists {missing} not found (searched the dir and its subdirs)")
            if source.resolve() != dest.resolve():
                dest.mkdir(parents=True, exist_ok=True)
                for n, p in found.items():
                    shutil.copyfile(p, dest / n)
            return dest
        if source.is_file():
            _extract_lists(source, dest, names)
            return dest
        raise DataError(f"{source}: no such file or directory (expected the mix lists or their zip)")
    if all((dest / n).is_file() for n in names):
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    zpath = dest / "create-speaker-mixtures.zip"
    if not zpath.is_file():
        print(f"downloading {MIX_LISTS_URL} -> {zpath}", file=sys.stderr)
        try:
            fetch(MIX_LISTS_URL, zpath)
        except DataError as e:
            raise DataError(
                f"cannot download the mix lists ({e}); download {MIX_LISTS_URL} elsewhere and "
                "pass the zip file (or a dir with the mix_*_spk_*.txt files) as the mix-lists option"
            ) from None
    _extract_lists(zpath, dest, names)
    return dest


def _find_in_dir(root: Path, name: str) -> Path | None:
    if (root / name).is_file():
        return root / name
    for p in sorted(root.rglob(name)):
        if p.is_file():
            return p
    return None


def _extract_lists(zpath: Path, dest: Path, names: Sequence[str]) -> None:
    try:
        with zipfile.ZipFile(zpath) as z:
            members = {m.rsplit("/", 1)[-1]: m for m in z.namelist() if not m.endswith("/")}
            missing = [n for n in names if n not in members]
            if missing:
                raise DataError(f"{zpath}: the zip holds no {missing}")
            dest.mkdir(parents=True, exist_ok=True)
            for n in names:
                data = z.read(members[n])
                tmp = dest / f".{n}.tmp"
                tmp.write_bytes(data)
                os.replace(tmp, dest / n)
    except zipfile.BadZipFile as e:
        raise DataError(f"{zpath}: not a valid zip file ({e})") from None


# ---- NIST SPHERE -----------------------------------------------------------------
def read_sphere_header(path: str | Path) -> tuple[dict[str, object], int]:
    """Parse a NIST SPHERE header; returns (fields, header size in bytes)."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(1024)
    if not head.startswith(b"NIST_1A"):
        raise DataError(f"{path}: not a NIST SPHERE file (no NIST_1A magic)")
    lines = head.split(b"\n")
    try:
        size = int(lines[1].strip())
    except (IndexError, ValueError):
        raise DataError(f"{path}: bad SPHERE header size line") from None
    if size > len(head):
        with open(path, "rb") as f:
            head = f.read(size)
        lines = head.split(b"\n")
    fields: dict[str, object] = {}
    for raw in lines[2:]:
        line = raw.decode("ascii", "replace").strip()
        if line == "end_head":
            break
        if not line or line.startswith(";"):
            continue
        parts = line.split(None, 2)
        if len(parts) < 3:
            continue
        key, typ, value = parts
        try:
            if typ == "-i":
                fields[key] = int(value)
            elif typ == "-r":
                fields[key] = float(value)
            else:
                fields[key] = value
        except ValueError:
            raise DataError(f"{path}: bad SPHERE header field {line!r}") from None
    else:
        raise DataError(f"{path}: SPHERE header without end_head")
    return fields, size


def sphere_is_compressed(fields: dict[str, object]) -> bool:
    return "shorten" in str(fields.get("sample_coding", "pcm")) or "wavpack" in str(fields.get("sample_coding", ""))


def read_sphere(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an uncompressed (PCM) NIST SPHERE file as float32 in [-1, 1]; first channel."""
    path = Path(path)
    fields, size = read_sphere_header(path)
    coding = str(fields.get("sample_coding", "pcm"))
    if sphere_is_compressed(fields):
        raise DataError(f"{path}: SPHERE sample_coding {coding!r} is compressed; it needs sph2pipe")
    if coding not in ("pcm", "linear"):
        raise DataError(f"{path}: unsupported SPHERE sample_coding {coding!r}")
    nbytes = int(fields.get("sample_n_bytes", 2))
    channels = int(fields.get("channel_count", 1))
    rate = fields.get("sample_rate")
    if rate is None:
        raise DataError(f"{path}: SPHERE header has no sample_rate")
    order = str(fields.get("sample_byte_format", "01"))
    if nbytes == 2:
        dtype = np.dtype("<i2") if order in ("01", "1") else np.dtype(">i2")
    elif nbytes == 1:
        dtype = np.dtype("i1")
    else:
        raise DataError(f"{path}: unsupported SPHERE sample size {nbytes} bytes")
    with open(path, "rb") as f:
        f.seek(size)
        raw = f.read()
    usable = len(raw) - len(raw) % (nbytes * channels)
    data = np.frombuffer(raw[:usable], dtype=dtype)
    count = fields.get("sample_count")
    if isinstance(count, int) and count * channels < data.size:
        data = data[: count * channels]
    if data.size == 0:
        raise DataError(f"{path}: no samples")
    data = data.reshape(-1, channels)[:, 0].astype(np.float32) / float(2 ** (8 * nbytes - 1))
    return data, int(rate)


def find_sph2pipe(explicit: str | None = None) -> str | None:
    """``explicit``, else ``sph2pipe`` on PATH, else ``tools/sph2pipe/sph2pipe`` of this checkout."""
    if explicit:
        return explicit
    on_path = shutil.which("sph2pipe")
    if on_path:
        return on_path
    local = Path(__file__).resolve().parents[2] / "tools" / "sph2pipe" / "sph2pipe"
    return str(local) if local.is_file() else None


def read_wsj0_audio(path: str, fs: int, sph2pipe: str | None = None) -> np.ndarray:
    """Read a WSJ0 source (.wv1/.sph SPHERE or any libsndfile format) at ``fs``; float64 (L,)."""
    with open(path, "rb") as f:
        magic = f.read(7)
    if magic == b"NIST_1A":
        fields, _ = read_sphere_header(path)
        if sphere_is_compressed(fields):
            if not sph2pipe:
                raise DataError(
                    f"{path}: shorten-compressed NIST SPHERE; put sph2pipe (LDC's SPHERE converter, also "
                    "built by Kaldi's tools/) on PATH or give its path (--sph2pipe)"
                )
            proc = subprocess.run([sph2pipe, "-f", "wav", "-p", path], capture_output=True, check=False)
            if proc.returncode != 0 or not proc.stdout:
                msg = proc.stderr.decode("utf-8", "replace").strip()[:300]
                raise DataError(f"{path}: sph2pipe failed (status {proc.returncode}): {msg}")
            data, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
            wav = data[:, 0]
        else:
            wav, rate = read_sphere(path)
    else:
        from dcsep.data.audio import load_audio

        data, rate = load_audio(path, channel=0) if _channels(path) > 1 else load_audio(path)
        wav = data
    return resample(np.asarray(wav, dtype=np.float64), int(rate), fs)


def _channels(path: str) -> int:
    try:
        return sf.info(path).channels
    except Exception:
        return 1


# ---- locating WSJ0 -----------------------------------------------------------------
def _subset_roots(wsj0: Path, subset: str) -> list[Path]:
    """Dirs that may hold ``<subset>/<spk>/<utt>.*`` under the user's WSJ0 path.

    Accepts the dir that contains ``wsj0/``, the ``wsj0`` dir itself, and
    the LDC disc layout (``csr_1/11-1.1/wsj0/...`` spread over discs).
    """
    pats = [f"wsj0/{subset}", subset, f"*/wsj0/{subset}", f"*/*/wsj0/{subset}", f"*/{subset}"]
    out: list[Path] = []
    for pat in pats:
        for p in sorted(wsj0.glob(pat)):
            if p.is_dir() and p not in out:
                out.append(p)
    return out


def index_wsj0(wsj0: str | Path, subsets: Sequence[str]) -> dict[tuple[str, str, str], str]:
    """Map (subset, speaker dir, utterance id) -> audio file, for the subsets named.

    Utterance ids and speaker dirs are matched case-insensitively; for one id,
    ``.wv1`` is preferred over ``.wav``/``.sph``/``.flac``.
    """
    wsj0 = Path(wsj0)
    index: dict[tuple[str, str, str], str] = {}
    rank = {s: i for i, s in enumerate(AUDIO_SUFFIXES)}
    for subset in subsets:
        for root in _subset_roots(wsj0, subset):
            for spk_dir in sorted(root.iterdir()):
                if not spk_dir.is_dir():
                    continue
                for f in spk_dir.iterdir():
                    suffix = f.suffix.lower()
                    if suffix not in rank or not f.is_file():
                        continue
                    key = (subset, spk_dir.name.lower(), f.stem.lower())
                    old = index.get(key)
                    if old is None or rank[suffix] < rank[Path(old).suffix.lower()]:
                        index[key] = str(f)
    return index


def _list_key(rel: str) -> tuple[str, str, str]:
    """(subset, speaker dir, utt id) of a list path such as ``wsj0/si_tr_s/01t/01to030v.wav``."""
    parts = [p for p in rel.replace("\\", "/").split("/") if p]
    if len(parts) < 3:
        raise DataError(f"mix list path {rel!r} is not <subset>/<speaker>/<utt>.wav")
    return parts[-3], parts[-2].lower(), _stem(parts[-1]).lower()


def check_sources(wsj0: Path, lists: dict[str, list[ListEntry]], index) -> dict[str, str]:
    """Resolve every list path to a file; on anything missing, raise one DataError that says what and where.

    Returns:
        list path -> file.
    """
    need: dict[str, tuple[str, str, str]] = {}
    for entries in lists.values():
        for e in entries:
            for p in e.paths:
                need.setdefault(p, _list_key(p))
    resolved = {p: index[k] for p, k in need.items() if k in index}
    missing = [p for p in need if p not in resolved]
    if not missing:
        return resolved
    lines = []
    for subset in sorted({k[0] for k in need.values()}):
        keys = {k for k in need.values() if k[0] == subset}
        spk_all = {k[1] for k in keys}
        spk_found = {k[1] for k in keys if k in index}
        utt_found = sum(1 for k in keys if k in index)
        example = next(iter(sorted(k for k in keys if k not in index)), None)
        hint = ""
        if example:
            hint = f"; e.g. expected {wsj0 / 'wsj0' / subset / example[1] / (example[2] + '.wv1')} (or .wav)"
        lines.append(
            f"{subset}: found {len(spk_found)} of {len(spk_all)} speakers and {utt_found} of {len(keys)} "
            f"utterances under {wsj0}{hint}"
        )
    raise DataError(
        f"{len(missing)} of {len(need)} source files named in the mix lists are missing:\n  "
        + "\n  ".join(lines)
        + "\n  (--wsj0 must point to the dir that holds wsj0/si_tr_s, wsj0/si_dt_05 and wsj0/si_et_05, "
        "or to the LDC disc layout)"
    )


def read_levels(path: str | Path) -> dict[str, float]:
    """Precomputed active levels: files ``<utt-id> <level>`` (one file, or every .txt in a dir)."""
    path = Path(path)
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    if not files:
        raise DataError(f"{path}: no level tables (*.txt)")
    out: dict[str, float] = {}
    for f in files:
        if not f.is_file():
            raise DataError(f"{f}: file not found")
        for lineno, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            fields = line.split()
            if not fields:
                continue
            try:
                utt, value = fields[0], float(fields[1])
            except (IndexError, ValueError):
                raise DataError(f"{f}:{lineno}: expected '<utt-id> <level>', got {line!r}") from None
            if not value > 0:
                raise DataError(f"{f}:{lineno}: level must be positive, got {value}")
            out[utt.lower()] = value
    return out


def read_spk2gender(path: str | Path) -> dict[str, str]:
    """Speaker id -> 'm'/'f' from WSJ0's ``spkrinfo.txt`` or a Kaldi ``spk2gender``.

    Lines that do not start with a speaker id and an M/F field (comments,
    headers) are skipped.
    """
    out = {}
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split()
        if len(fields) >= 2 and not line.startswith(";") and fields[1].lower() in ("m", "f"):
            out[fields[0].lower()] = fields[1].lower()
    return out


def _find_spkrinfo(wsj0: Path) -> Path | None:
    for pat in ("wsj0/doc/spkrinfo.txt", "doc/spkrinfo.txt", "*/wsj0/doc/spkrinfo.txt", "*/*/wsj0/doc/spkrinfo.txt"):
        for p in sorted(wsj0.glob(pat)):
            if p.is_file():
                return p
    return None


# ---- preparation ------------------------------------------------------------------
def prepare_wsj0_mix(
    wsj0: str | Path,
    out_dir: str | Path,
    data_dir: str | Path,
    num_spk: int = 2,
    mix_lists: str | Path | None = None,
    fs: int = 8000,
    mode: str = "min",
    nj: int = 1,
    splits: Sequence[str] = SPLITS,
    levels: str | Path | None = None,
    sph2pipe: str | None = None,
    spk2gender: str | Path | None = None,
    max_mixtures: int | None = None,
) -> dict[str, Path]:
    """Build wsj0-<C>mix: audio in the standard layout and Kaldi-style data dirs.

    Args:
        wsj0: the WSJ0 copy (the dir that holds ``wsj0/``, or ``wsj0/`` itself).
        out_dir: the corpus root; gets ``wav8k/min/{tr,cv,tt}/{mix,s1,..}``.
        data_dir: gets ``{tr,cv,tt}/`` with ``wav.scp``, ``spk1.scp`` .., ``utt2spk``,
            ``utt2dur``, ``utt2gender`` (when speaker genders are known).
        num_spk: 2 or 3.
        mix_lists: a dir with ``mix_<C>_spk_*.txt``, or the official zip; None
            downloads the zip into ``out_dir/mix_lists``.
        fs: 8000 or 16000.
        mode: "min" or "max".
        nj: parallel processes.
        splits: which of tr, cv, tt to build.
        levels: optional table(s) of precomputed active levels (see :func:`read_levels`).
        sph2pipe: path of sph2pipe (default: found on PATH or under tools/).
        spk2gender: speaker genders; default: ``wsj0/doc/spkrinfo.txt`` when present.
        max_mixtures: build only the first N lines of each list (quick trials).

    Returns:
        split -> data dir.
    """
    wsj0, out_dir, data_dir = Path(wsj0).absolute(), Path(out_dir).absolute(), Path(data_dir).absolute()
    if num_spk not in (2, 3):
        raise DataError(f"num_spk must be 2 or 3, got {num_spk}")
    if fs not in (8000, 16000):
        raise DataError(f"fs must be 8000 or 16000, got {fs}")
    if mode not in ("min", "max"):
        raise DataError(f"mode must be 'min' or 'max', got {mode!r}")
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise DataError(f"unknown split(s) {bad}; choose from {list(SPLITS)}")
    if not wsj0.is_dir():
        raise DataError(f"WSJ0 dir {wsj0} not found")

    list_dir = fetch_mix_lists(out_dir / "mix_lists", mix_lists, num_spk)
    lists = {s: read_mix_list(list_dir / list_name(num_spk, s), num_spk) for s in splits}
    if max_mixtures:
        lists = {s: e[:max_mixtures] for s, e in lists.items()}
    subsets = sorted({_list_key(p)[0] for es in lists.values() for e in es for p in e.paths})
    index = index_wsj0(wsj0, subsets)
    resolved = check_sources(wsj0, lists, index)
    sph2pipe = find_sph2pipe(sph2pipe)
    _check_readable(resolved, sph2pipe)
    level_table = read_levels(levels) if levels else None
    genders: dict[str, str] = {}
    gpath = Path(spk2gender) if spk2gender else _find_spkrinfo(wsj0)
    if gpath is not None:
        if not gpath.is_file():
            raise DataError(f"{gpath}: speaker gender file not found")
        genders = read_spk2gender(gpath)

    loader = partial(read_wsj0_audio, sph2pipe=sph2pipe)
    out: dict[str, Path] = {}
    for split in splits:
        specs = [
            MixSpec(e.name, tuple(resolved[p] for p in e.paths), tuple(float(g) for g in e.gains), tuple(u.lower() for u in e.utt_ids))
            for e in lists[split]
        ]
        set_dir = out_dir / f"wav{fs // 1000}k" / mode / split
        records = create_mixtures(
            specs, set_dir, fs=fs, mode=mode, nj=nj, loader=loader, levels=level_table,
            label=f"wsj0-{num_spk}mix {split}",
        )  # fmt: skip
        extra: dict[str, dict[str, str]] = {}
        if genders:
            g = {}
            for e in lists[split]:
                sg = [genders.get(u[:3].lower()) for u in e.utt_ids]
                if all(sg):
                    g[e.name] = "+".join(sorted(sg))
            extra["utt2gender"] = g
        out[split] = write_mixture_datadir(data_dir / split, records, fs, extra)
    return out


def _check_readable(resolved: dict[str, str], sph2pipe: str | None) -> None:
    """Fail early when compressed SPHERE files are present and sph2pipe is not."""
    if sph2pipe:
        if not (os.path.isfile(sph2pipe) and os.access(sph2pipe, os.X_OK)):
            raise DataError(f"sph2pipe {sph2pipe} is not an executable file")
        return
    for path in list(resolved.values())[:: max(1, len(resolved) // 20)]:
        with open(path, "rb") as f:
            if f.read(7) != b"NIST_1A":
                continue
        fields, _ = read_sphere_header(path)
        if sphere_is_compressed(fields):
            raise DataError(
                f"{path} is shorten-compressed NIST SPHERE (as WSJ0 ships it) and sph2pipe was not found: "
                "put sph2pipe (LDC's SPHERE converter, also built by Kaldi's tools/) on PATH or give its path (--sph2pipe)"
            )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dcsep.data.wsj0mix --wsj0 DIR --out DIR --data-dir DIR [--num-spk 2] ...``."""
    import argparse

    from dcsep.data.corpus_cli import run_prepare

    p = argparse.ArgumentParser(prog="python -m dcsep.data.wsj0mix", description="Build wsj0-2mix / wsj0-3mix.")
    p.add_argument("--wsj0", required=True, help="WSJ0 dir (holding wsj0/si_tr_s, ...)")
    p.add_argument("--out", required=True, help="corpus output dir (wav8k/min/tr/mix/...)")
    p.add_argument("--data-dir", required=True, help="Kaldi-style data dirs go here (tr, cv, tt)")
    p.add_argument("--num-spk", type=int, default=2, choices=[2, 3])
    p.add_argument("--mix-lists", help="dir with mix_<C>_spk_*.txt or the official zip (default: download)")
    p.add_argument("--fs", type=int, default=8000, choices=[8000, 16000])
    p.add_argument("--mode", default="min", choices=["min", "max"])
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--splits", default="tr,cv,tt", help="comma-separated subset of tr,cv,tt")
    p.add_argument("--levels", help="precomputed active-level table(s): '<utt> <level>' lines")
    p.add_argument("--sph2pipe", help="path of sph2pipe (default: PATH, then tools/sph2pipe)")
    p.add_argument("--spk2gender", help="speaker genders (WSJ0 spkrinfo.txt or Kaldi spk2gender)")
    p.add_argument("--max-mixtures", type=int, help="only the first N lines of each list")
    args = p.parse_args(argv)
    return run_prepare(p.prog, lambda: prepare_wsj0_mix(
        args.wsj0, args.out, args.data_dir, num_spk=args.num_spk, mix_lists=args.mix_lists,
        fs=args.fs, mode=args.mode, nj=max(1, args.nj), splits=[s for s in args.splits.split(",") if s],
        levels=args.levels, sph2pipe=args.sph2pipe, spk2gender=args.spk2gender, max_mixtures=args.max_mixtures,
    ))  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
