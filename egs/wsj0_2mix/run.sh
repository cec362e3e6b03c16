#!/usr/bin/env bash
# wsj0-2mix: deep clustering as in Hershey et al. (2016), Tables 1-3.
#
# Stage 1 builds wsj0-2mix from your WSJ0 copy with the official mix lists
# (read from --mix_lists, or downloaded from MERL), in Python: the same
# scaling as the original MATLAB scripts. cv is the closed speaker set, tt the
# open one (16 speakers unseen in training).
#
#   ./run.sh --wsj0 /data/WSJ0                                   # the paper's model (conf/train_paper.yaml)
#   ./run.sh --wsj0 /data/WSJ0 --train_config conf/train_dcpp.yaml
#   ./run.sh --stage 4 --decode_methods "kmeans oracle_kmeans spectral ibm irm"
#   ./run.sh --wsj0 /data/WSJ0 --max_mixtures 200 --train_config conf/train_tiny.yaml  # a quick trial
#
# Stages: 1 data, 2 feature statistics, 3 training, 4 decoding, 5 scoring +
# exp/<tag>/RESULTS.md (tools/recipe_stages.sh). Run it from egs/wsj0_2mix. Options: --name value; empty values are derived as said beside them.
set -euo pipefail

if [[ ! -f ./path.sh || ! -f ./local/prepare_data.py ]]; then
    echo "run.sh: run this from its recipe dir: cd egs/wsj0_2mix && ./run.sh" >&2
    exit 1
fi
. ./path.sh
. ./cmd.sh
. ./db.sh

MIX_NUM_SPK=2                # not an option: speakers per mixture (the corpus settings: local/wsj0mix.sh)
. ./local/wsj0mix.sh

recipe_data() {
    wsj0mix_ready && return 0
    log "stage 1: building wsj0-2mix (${fs} Hz, ${mode}) from ${wsj0} -> ${corpus_dir}, ${data_dir}"
    wsj0mix_build
}

. "${DCSEP_ROOT}/tools/recipe_stages.sh"
run_recipe "$@"
