#!/usr/bin/env bash
# wsj0-3mix: deep clustering on 3-speaker mixtures, and Table 4 of Hershey et al. (2016).
#
# Stage 1 builds wsj0-3mix from your WSJ0 copy with the official mix lists
# (read from --mix_lists, or downloaded from MERL), in Python: the same
# scaling as the original MATLAB scripts. cv is the closed speaker set, tt the
# open one (16 speakers unseen in training).
#
#   ./run.sh --wsj0 /data/WSJ0                    # a 3-speaker model (conf/train_paper.yaml)
#   # Table 4: a 2-speaker model of egs/wsj0_2mix separating 3 speakers
#   ./run.sh --wsj0 /data/WSJ0 --stage 1 --stop_stage 1
#   ./run.sh --stage 6 --model_2spk ../wsj0_2mix/exp/dc_paper
#   ./run.sh --wsj0 /data/WSJ0 --max_mixtures 200 --train_config conf/train_tiny.yaml  # a quick trial
#
# Stages: 1 data, 2 feature statistics, 3 training, 4 decoding, 5 scoring +
# exp/<tag>/RESULTS.md (tools/recipe_stages.sh); 6: decoding and scoring with --model_2spk (clustering
# into --num_spk sources) -> exp/<model dir name>_2spk_model/RESULTS.md. Run it from
# egs/wsj0_3mix. Options: --name value; empty values are derived as said beside them.
set -euo pipefail

if [[ ! -f ./path.sh || ! -f ./local/prepare_data.py ]]; then
    echo "run.sh: run this from its recipe dir: cd egs/wsj0_3mix && ./run.sh" >&2
    exit 1
fi
. ./path.sh
. ./cmd.sh
. ./db.sh

MIX_NUM_SPK=3                # not an option: speakers per mixture (the corpus settings: local/wsj0mix.sh)
. ./local/wsj0mix.sh
model_2spk=                  # stage 6: a model dir (or file) trained on 2-speaker mixtures
num_spk=3                    # stage 6: clusters (sources) per mixture
decode_methods_2spk="kmeans oracle_kmeans ibm"  # stage 6 methods (the paper: global and oracle k-means)
stop_stage=6

recipe_data() {
    wsj0mix_ready && return 0
    log "stage 1: building wsj0-3mix (${fs} Hz, ${mode}) from ${wsj0} -> ${corpus_dir}, ${data_dir}"
    wsj0mix_build
}

recipe_more_stages() {
    want_stage 6 || return 0
    if [[ -z ${model_2spk} ]]; then
        log "stage 6: skipped (give --model_2spk DIR, e.g. ../wsj0_2mix/exp/dc_paper, to separate wsj0-3mix with a 2-speaker model)"
        return 0
    fi
    local model_file=${model_2spk} name out
    [[ -d ${model_file} ]] && model_file=${model_file%/}/model.pt
    [[ -f ${model_file} ]] || die "--model_2spk: no model ${model_file}"
    name=$(basename -- "$(cd -- "$(dirname -- "${model_file}")" && pwd)")
    out="exp/${name}_2spk_model"
    decode_methods=${decode_methods_2spk}
    log "stage 6: wsj0-3mix with the 2-speaker model ${model_file}, ${num_spk} clusters -> ${out}"
    decode_sets "${model_file}" "${out}" "${num_spk}"
    score_sets "${out}"
    write_results_table "${out}" "2-speaker model \`${model_file}\` clustering into ${num_spk} sources (Table 4 of the paper)"
}

. "${DCSEP_ROOT}/tools/recipe_stages.sh"
run_recipe "$@"
