#!/usr/bin/env bash
# Run the test suite: tools/test.sh [PYTEST ARGS...] (default: all of tests/).
# Sets up .venv first when needed (tools/setup_venv.sh).
set -euo pipefail
root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
"${root}/tools/setup_venv.sh"
cd -- "${root}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
(($# > 0)) || set -- tests/
exec "${DCSEP_VENV:-${root}/.venv}/bin/python" -m pytest -p no:cacheprovider "$@"
