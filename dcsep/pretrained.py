"""Pretrained models: finding them by name, and packing an exp dir into one.

A pretrained model is a dir ``<name>/`` holding ``model.pt`` (a file written by
:meth:`DeepClustering.save`, possibly with float16 weights) and ``README.md``
(its model card). Such dirs live in a *pretrained dir*; the ones searched for
a bare name, in order:

1. the dirs listed in ``$DCSEP_PRETRAINED_PATH`` (separated by ``os.pathsep``);
2. ``pretrained/`` at the root of the source tree dcsep is imported from;
3. ``pretrained/`` inside the installed ``dcsep`` package.

Example:
    >>> from dcsep.pretrained import find_model
    >>> find_model("no-such-model")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dcsep.errors.ConfigError: no-such-model: no model file or dir of that name, and no pretrained model called 'no-such-model' (available: ...)
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import platform
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

import dcsep
from dcsep.errors import ConfigError, OutputError
from dcsep.runtime import check_count_conf
from dcsep.utils import cpu_description

PATH_ENV = "DCSEP_PRETRAINED_PATH"
MODEL_FILE = "model.pt"
CARD_FILE = "README.md"
DEFAULT_MAX_BYTES = 16 * 10**6  # 16 MB
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def pretrained_dirs() -> list[Path]:
    """The dirs searched for a bare model name, in order (existing or not)."""
    dirs = [Path(p) for p in os.environ.get(PATH_ENV, "").split(os.pathsep) if p]
    pkg = Path(dcsep.__file__).resolve().parent
    dirs += [pkg.parent / "pretrained", pkg / "pretrained"]
    out: list[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def available_models() -> dict[str, Path]:
    """``{name: model file}`` of every pretrained model found (the first dir wins a name)."""
    found: dict[str, Path] = {}
    for d in pretrained_dirs():
        if not d.is_dir():
            continue
        for sub in sorted(d.iterdir()):
            if sub.name not in found and (sub / MODEL_FILE).is_file():
                found[sub.name] = sub / MODEL_FILE
    return found


def find_model(name_or_path: str | Path) -> Path:
    """The model file for a model file, a model dir (``<dir>/model.pt``) or a pretrained model's name.

    An existing path wins over a name. Raises :class:`ConfigError` naming what
    was looked for, and listing the pretrained models available, when nothing fits.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if (path / MODEL_FILE).is_file():
            return path / MODEL_FILE
        raise ConfigError(f"{path}: model dir without {MODEL_FILE} (model file not found)")
    if path.is_file():
        return path
    text = str(name_or_path)
    if NAME_RE.match(text) and not text.endswith(".pt"):
        models = available_models()
        if text in models:
            return models[text]
        names = ", ".join(sorted(models)) or "none"
        where = ", ".join(str(d) for d in pretrained_dirs())
        raise ConfigError(
            f"{text}: no model file or dir of that name, and no pretrained model called '{text}' "
            f"(available: {names}; searched {where}; more dirs via ${PATH_ENV})"
        )
    raise ConfigError(f"{path}: model file not found")


# ---- packing ------------------------------------------------------------------------------------
def _pack_state(model, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The model's state dict with its floating-point *parameters* in ``dtype``.

    Buffers (the frontend's feature mean/std, windows) stay float32: they are
    few, and rounding the normalisation statistics would shift every feature.
    """
    params = {name for name, _ in model.named_parameters()}
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().clone()
        if k in params and torch.is_floating_point(v):
            v = v.to(dtype)
        state[k] = v.contiguous()
    return state


def machine_description() -> str:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu_description()}, {gpu}"


def _count_text(conf: dict | None) -> str:
    from dcsep.clusterers.count import THRESHOLDS

    linear = (conf or {}).get("linear")
    if linear is not None:
        coef = linear["coef"]
        return (
            f"linear counter on the logarithms of the {len(coef[0])} largest eigenvalue shares, 1 to {len(coef)} speakers "
            "(fitted on this model's validation data)"
        )
    thresholds = (conf or {}).get("thresholds")
    if thresholds is None:
        return f"participation ratio thresholds {', '.join(map(str, THRESHOLDS))} (the library's defaults)"
    return f"participation ratio thresholds {', '.join(map(str, thresholds))} (chosen on this model's validation data)"


def _size(n: int) -> str:
    return f"{n / 10**6:.2f} MB ({n} bytes)"


def _demote(markdown: str) -> str:
    """RESULTS.md without its title, headings one level down (to sit under the card's headings)."""
    lines = markdown.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join("#" + ln if ln.startswith("#") else ln for ln in lines).strip()


def _command_from_results(results: str) -> str | None:
    m = re.search(r"Command: `([^`]+)`", results)
    return m.group(1) if m else None


def model_card(
    name: str,
    pkg: dict,
    model,
    size: int,
    dtype: str,
    sha256: str,
    source: str,
    results: str | None,
    data: str | None,
    command: str | None,
    description: str | None,
    date: str,
    machine: str,
) -> str:
    """The README.md of a packed model."""
    cfg = pkg["config"]
    extra = pkg.get("extra") or {}
    train = extra.get("train") if isinstance(extra.get("train"), dict) else {}
    num_params = sum(p.numel() for p in model.parameters())
    enc = cfg.get("encoder_conf") or {}
    fe = cfg.get("frontend_conf") or {}
    num_spk = extra.get("num_spk")
    lines = [f"# Pretrained deep-clustering model: {name}", ""]
    if description:
        lines += [description.strip(), ""]
    lines += [
        "## Use",
        "",
        "```sh",
        "echo \"mix1 /path/to/mixture.wav\" > mix.scp",
        f"dcsep-decode --model pretrained/{name} --scp mix.scp --outdir separated",
        "# -> separated/wav/mix1-spk1.wav, separated/wav/mix1-spk2.wav",
        "```",
        "",
        "```python",
        "from dcsep.data.audio import load_audio, write_wav",
        "from dcsep.separate import Separator",
        "",
        f"sep = Separator.from_pretrained(\"{name}\")  # a name under pretrained/, or the path of this dir",
        "mix, fs = load_audio(\"/path/to/mixture.wav\", channel=\"mean\")  # any rate; channels downmixed",
        "sources = sep.separate(mix, fs=fs)  # (C, L) float32 at fs",
        "for c, wav in enumerate(sources, 1):",
        "    write_wav(f\"spk{c}.wav\", wav, fs)",
        "```",
        "",
        f"Input: audio at any sample rate and with any number of channels. The model works at {model.fs} Hz "
        "on one channel: `Separator`, `dcsep-decode` and `dcsep-separate` downmix the input (or take one "
        f"channel), resample it to {model.fs} Hz with soxr and give the sources back at the input's rate "
        "and length. The number of sources is given (`--num-spk` / `num_spk=`) or counted (`auto`).",
        "",
        "## Model",
        "",
        "| | |",
        "| --- | --- |",
        f"| frontend | {cfg.get('frontend')} ({', '.join(f'{k}={v}' for k, v in fe.items()) or 'defaults'}) |",
        f"| sample rate | {model.fs} Hz |",
        f"| encoder | {cfg.get('encoder')} ({', '.join(f'{k}={v}' for k, v in enc.items()) or 'defaults'}) |",
        f"| embedding dimension | {model.embed_dim} |",
        f"| default clusterer | {cfg.get('clusterer')} ({', '.join(f'{k}={v}' for k, v in (cfg.get('clusterer_conf') or {}).items()) or 'defaults'}) |",
        f"| sources per mixture (default) | {num_spk if num_spk else '2 (give --num-spk / num_spk= for more)'} |",
        f"| speaker count (`auto`) | {_count_text(extra.get('count_conf'))} |",
        f"| parameters | {num_params:,} |",
        f"| weights | {dtype} (feature statistics float32; loaded as float32) |",
        f"| model.pt | {_size(size)}, sha256 `{sha256}` |",
        "",
        "## Training",
        "",
    ]
    if data:
        lines += [f"Data: {data.strip()}", ""]
    if train:
        keys = [
            ("train_dir", "training data dir"),
            ("valid_dir", "validation data dir"),
            ("epochs", "epochs"),
            ("steps", "steps"),
            ("best_epoch", "best epoch"),
            ("best_valid_loss", "best validation loss"),
            ("averaged_epochs", "averaged epochs"),
            ("averaged_valid_loss", "validation loss of the averaged model"),
            ("stop_reason", "stopped because"),
            ("train_hours", "training time (h)"),
            ("device", "device"),
            ("world_size", "processes"),
            ("seed", "seed"),
            ("dcsep_version", "dcsep"),
            ("torch_version", "torch"),
        ]
        lines += ["| | |", "| --- | --- |"]
        for k, label in keys:
            if k in train:
                v = train[k]
                if isinstance(v, float):
                    v = f"{v:.4g}"
                lines.append(f"| {label} | {v} |")
        lines.append("")
    if command:
        lines += ["Recipe command:", "", "```sh", command, "```", ""]
    if not (data or train or command):
        lines += ["No training information was stored with the model.", ""]
    lines += ["## Results", ""]
    lines += [_demote(results), ""] if results else ["No RESULTS.md was given when the model was packed.", ""]
    lines += [
        "## Packing",
        "",
        f"Packed from `{source}` with dcsep-pack on {date} ({machine}; dcsep {dcsep.__version__}, "
        f"torch {torch.__version__}, Python {platform.python_version()}).",
        "",
    ]
    return "\n".join(lines)


def pack(
    source: str | Path,
    out_dir: str | Path = "pretrained",
    name: str | None = None,
    dtype: str = "float32",
    results: str | Path | None = None,
    data: str | None = None,
    command: str | None = None,
    description: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    force: bool = False,
    clusterer: str | None = None,
    clusterer_conf: dict | None = None,
    count_conf: dict | None = None,
) -> Path:
    """Pack a model into ``<out_dir>/<name>/`` (``model.pt`` + ``README.md``); returns that dir.

    Args:
        source: an exp dir (its ``model.pt``, and ``RESULTS.md`` when there)
            or a model file.
        name: the pretrained model's name (default: the exp dir's name, or the
            model file's stem).
        dtype: ``float32`` or ``float16`` for the weights (parameters); buffers
            such as the feature statistics stay float32.
        results: a RESULTS.md to copy into the model card (default:
            ``<exp dir>/RESULTS.md`` when ``source`` is a dir).
        data / command / description: text for the card (command default: the
            ``Command: `...``` line of the results, if any).
        max_bytes: refuse when model.pt + README.md would exceed this.
        force: replace an existing ``<out_dir>/<name>``.
        clusterer / clusterer_conf: the default clusterer stored with the
            packed model (what ``Separator`` and ``dcsep-decode`` use when none
            is asked for); default: the one the model was trained with.
        count_conf: options of the speaker count (``num_spk="auto"``) stored
            with the packed model, e.g. ``{"thresholds": [2.7, 3.8]}`` chosen
            on this model's validation data (``bench/bench_count.py
            --select``); ``Separator`` uses them unless given others. Default:
            those stored already, if any.

    The output dir appears whole or not at all (written beside it, then renamed).
    """
    from dcsep.model import DeepClustering
    from dcsep.utils import load_torch_file

    source = Path(source).expanduser()
    if source.is_dir():
        model_path = source / MODEL_FILE
        if not model_path.is_file():
            raise ConfigError(f"{source}: no {MODEL_FILE} in this dir (train the model first, or give a model file)")
        if results is None and (source / "RESULTS.md").is_file():
            results = source / "RESULTS.md"
        default_name = source.resolve().name
    elif source.is_file():
        model_path = source
        default_name = source.stem
    else:
        raise ConfigError(f"{source}: no such exp dir or model file")
    name = name or default_name
    if not NAME_RE.match(name):
        raise ConfigError(f"name '{name}': letters, digits and . _ + - only (starting with a letter or digit)")
    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if dtype not in dtypes:
        raise ConfigError(f"dtype '{dtype}': choose one of {', '.join(dtypes)}")
    if max_bytes < 1:
        raise ConfigError(f"max size must be positive, got {max_bytes} bytes")
    results_text = None
    if results is not None:
        try:
            results_text = Path(results).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{results}: cannot read results ({e})") from None
    if command is None and results_text:
        command = _command_from_results(results_text)

    pkg = load_torch_file(model_path, "cpu", error=ConfigError, what="model file")
    model = DeepClustering.from_package(pkg, where=str(model_path)).eval()
    extra = copy.deepcopy(pkg.get("extra") or {})
    if not isinstance(extra, dict):
        extra = {}
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    extra["packed"] = {"name": name, "dtype": dtype, "source": str(source), "date": date}
    if count_conf is not None:
        extra["count_conf"] = check_count_conf(count_conf)
    config = copy.deepcopy(model.config)
    if clusterer is not None or clusterer_conf is not None:
        if clusterer is not None and clusterer != config.get("clusterer"):
            config["clusterer_conf"] = {}
        config["clusterer"] = clusterer or config.get("clusterer")
        config["clusterer_conf"] = {**(config.get("clusterer_conf") or {}), **(clusterer_conf or {})}
        model.build_clusterer(config["clusterer"], config["clusterer_conf"])  # checks the name and options
    packed = {
        "format_version": pkg.get("format_version", 1),
        "dcsep_version": dcsep.__version__,
        "config": config,
        "state_dict": _pack_state(model, dtypes[dtype]),
        "extra": extra,
    }
    buf = io.BytesIO()
    torch.save(packed, buf)
    blob = buf.getvalue()
    # the packed file must load as any model file does (weights only) and give a float32 model
    check = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    DeepClustering.from_package(check, where=f"{name}/{MODEL_FILE} (packed)")

    card = model_card(
        name, packed, model, len(blob), dtype, hashlib.sha256(blob).hexdigest(), str(source), results_text,
        data, command, description, date, machine_description(),
    ).encode("utf-8")
    total = len(blob) + len(card)
    if total > max_bytes:
        hint = " (try --dtype float16)" if dtype == "float32" else ""
        raise ConfigError(
            f"{name}: packed model would take {_size(total)}, over the limit of {_size(max_bytes)}{hint}; nothing written"
        )

    out_dir = Path(out_dir)
    dest = out_dir / name
    if dest.exists() and not force:
        raise ConfigError(f"{dest}: exists already (use --force to replace it)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir))
    except OSError as e:
        raise OutputError(f"{out_dir}: cannot write: {e.strerror or e}; nothing was written") from None
    old = None
    try:
        (tmp / MODEL_FILE).write_bytes(blob)
        (tmp / CARD_FILE).write_bytes(card)
        for p in (tmp, tmp / MODEL_FILE, tmp / CARD_FILE):
            mode = 0o777 if p.is_dir() else 0o666
            os.chmod(p, mode & ~_umask())
        if dest.exists():
            old = out_dir / f".{name}.old.tmp"
            if old.exists():
                shutil.rmtree(old)
            os.replace(dest, old)
        os.replace(tmp, dest)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and not dest.exists():
            os.replace(old, dest)
        raise OutputError(f"{dest}: cannot write: {e.strerror or e}; nothing was changed") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dest


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


__all__ = ["available_models", "find_model", "pack", "pretrained_dirs"]
