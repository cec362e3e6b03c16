#!/usr/bin/env bash
# The GPU check (docs/training.md, "GPU check"): the CUDA paths of training and
# decoding that the CPU test suite cannot reach, in one command, in under 5
# minutes on one GPU. Prints a table; exits 1 if a check failed. On a machine
# without a CUDA GPU it says so and exits 0.
#
#   tools/gpu_check.sh                    # all checks
#   tools/gpu_check.sh --quick            # fewer steps and sizes
#   tools/gpu_check.sh --out gpu_check.md # also write the table to a file
#
# Uses .venv (made by tools/setup_venv.sh when missing; DCSEP_VENV for another).
# A venv made on a CPU-only machine holds a CPU-only torch: on a GPU machine,
# make the venv there (or install the CUDA build of torch==2.13.0 into it).
set -euo pipefail

root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${DCSEP_VENV:-${root}/.venv}"
[[ -x ${venv}/bin/python ]] || "${root}/tools/setup_venv.sh"
cd -- "${root}"
if command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1 &&
    ! "${venv}/bin/python" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2> /dev/null; then
    echo "gpu_check: nvidia-smi sees a GPU but the torch of ${venv} cannot use it" \
        "($("${venv}/bin/python" -c 'import torch; print(torch.__version__)' 2>&1)): install the CUDA build of torch==2.13.0 there" >&2
    exit 1
fi
exec "${venv}/bin/python" bench/gpu_check.py "$@"
