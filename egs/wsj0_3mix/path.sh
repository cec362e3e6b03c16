# Environment of the dcsep recipes (sourced by run.sh).
DCSEP_ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)"
export DCSEP_ROOT
# the project's virtual environment (tools/setup_venv.sh), unless one is active already
if [[ -z ${VIRTUAL_ENV:-} && -x "${DCSEP_ROOT}/.venv/bin/python" ]]; then
    export PATH="${DCSEP_ROOT}/.venv/bin:${PATH}"
fi
# sph2pipe copied to tools/sph2pipe/ (only the WSJ0 recipes need it, for WSJ0's compressed .wv1)
if [[ -x "${DCSEP_ROOT}/tools/sph2pipe/sph2pipe" ]]; then
    export PATH="${DCSEP_ROOT}/tools/sph2pipe:${PATH}"
fi
export PYTHONUNBUFFERED=1
