"""Recipe options: --stage / --stop-stage must be stage numbers with stage <= stop_stage (issue 20,
item 13: ``--stage abc`` died with 'unbound variable', ``--stage 9`` logged 'stages 9-5' and exited 0)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def parse(tmp_path: Path, *args: str, defaults: str = "stage=1\nstop_stage=5\n") -> subprocess.CompletedProcess:
    script = tmp_path / "run.sh"
    script.write_text(
        "#!/usr/bin/env bash\nset -euo pipefail\n" + defaults
        + f". '{ROOT / 'tools' / 'parse_options.sh'}'\n" + 'echo "stages ${stage:-}-${stop_stage:-}"\n'
    )
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--stage", "abc"], "option --stage expects a stage number, got 'abc'"),
        (["--stop-stage", "5x"], "option --stop-stage expects a stage number, got '5x'"),
        (["--stage", ""], "option --stage expects a stage number, got ''"),
        (["--stage", "-1"], "option --stage expects a stage number, got '-1'"),
        (["--stage", "9"], "--stage 9 is after --stop-stage 5: no stage to run"),
        (["--stage", "3", "--stop_stage", "2"], "--stage 3 is after --stop-stage 2: no stage to run"),
    ],
)
def test_bad_stages_are_one_line_errors(tmp_path, args, message):
    p = parse(tmp_path, *args)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.strip() == f"run.sh: error: {message}"


def test_good_stages(tmp_path):
    assert parse(tmp_path, "--stage", "08", "--stop-stage", "09").stdout == "stages 8-9\n"  # not octal
    assert parse(tmp_path, "--stage", "3", "--stop-stage", "3").stdout == "stages 3-3\n"
    assert parse(tmp_path, "--stage", "2", defaults="stage=1\n").stdout == "stages 2-\n"  # no stop_stage: no range check


@pytest.mark.parametrize("args", [["--stage", "abc"], ["--stage", "9"]])
def test_recipe_refuses_bad_stages_before_any_work(args):
    """Through a real recipe: exit 1 with one line, nothing made."""
    recipe = ROOT / "egs" / "tts_mix"
    before = sorted(recipe.rglob("*"))
    env = {**os.environ, "DCSEP_ROOT": str(ROOT)}
    p = subprocess.run(["bash", "./run.sh", *args], cwd=recipe, capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 1, p.stderr
    assert p.stderr.strip().startswith("run.sh: error:") and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert sorted(recipe.rglob("*")) == before
