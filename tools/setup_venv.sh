#!/usr/bin/env bash
# Create (or update) the project's virtual environment .venv and install dcsep
# into it, editable, with the extras of the tests, the plots and the built-in
# text-to-speech recipe. Idempotent: a second run only checks that everything
# is installed.
#
#   tools/setup_venv.sh               # python3 from PATH
#   PYTHON=python3.12 tools/setup_venv.sh
#
# torch is pinned (torch==2.13.0, the CPU or the CUDA build, whichever the
# package index offers first); it is installed before dcsep so that pip never
# pulls another version.
set -euo pipefail

root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${DCSEP_VENV:-${root}/.venv}"
python=${PYTHON:-python3}
torch_spec="torch==2.13.0"
extras="test,plot,tts"

say() { printf '%s (setup_venv.sh) %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" >&2; }

command -v "${python}" > /dev/null || { say "ERROR: ${python} not found; set PYTHON to a Python >= 3.11"; exit 1; }
"${python}" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    { say "ERROR: dcsep needs Python >= 3.11, ${python} is $("${python}" -V 2>&1)"; exit 1; }

if [[ ! -x ${venv}/bin/python ]]; then
    say "creating ${venv}"
    "${python}" -m venv -- "${venv}"
fi
# pip, without the warnings about index locations of this machine's pip config that do not exist
pip() {
    { "${venv}/bin/python" -m pip --disable-pip-version-check "$@" 2>&1 1>&3 3>&- |
        { grep -v "^WARNING: Location '.*' is ignored" || true; } >&2; } 3>&1
}

stamp="${venv}/.dcsep-installed"
want="$(sha256sum -- "${root}/setup.cfg" "${root}/pyproject.toml" | sha256sum | cut -c1-16) ${extras}"
if [[ -f ${stamp} && $(cat -- "${stamp}") == "${want}" ]] &&
    "${venv}/bin/python" -c 'import dcsep, torch; assert torch.__version__.split("+")[0] == "2.13.0"' 2> /dev/null; then
    say "up to date: ${venv}"
    exit 0
fi

say "installing ${torch_spec}"
pip install --quiet "${torch_spec}"
say "installing dcsep (editable, extras ${extras})"
printf '%s\n' "${torch_spec}" > "${venv}/torch-constraint.txt"
pip install --quiet -c "${venv}/torch-constraint.txt" -e "${root}[${extras}]"
"${venv}/bin/python" -c 'import dcsep, torch; print(f"dcsep {dcsep.__version__}, torch {torch.__version__}")'
printf '%s\n' "${want}" > "${stamp}"
say "ready: ${venv} (activate with: . ${venv}/bin/activate)"
