#!/usr/bin/env bash
# The demo: the built-in tts_mix recipe at its small default size, stages 1-5
# (synthesise and mix a corpus offline, train, separate, score), ending with
# the results table. Sets up .venv first when needed (tools/setup_venv.sh).
# Arguments go to egs/tts_mix/run.sh, e.g. tools/demo.sh --size tiny.
set -euo pipefail
root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
"${root}/tools/setup_venv.sh"
cd -- "${root}/egs/tts_mix"
exec ./run.sh "$@"
