#!/usr/bin/env bash
# The built-in recipe: deep clustering on a corpus synthesised locally.
#
# Runs anywhere, offline: stage 1 synthesises English sentences with eSpeak NG
# (64 speakers by default: voice variants x accent x pitch x range x rate),
# then mixes them into 2- and 3-speaker sets exactly as wsj0-2mix/3mix are
# made. Training speakers give tr, cv and tt_closed (closed speaker set,
# other utterances); held-out voices give tt (open speaker set).
#
#   ./run.sh                        # small size (the demo): stages 1-5 on 2 CPU cores, see README.md
#   ./run.sh --size tiny            # about a minute; exists for the tests, separates little
#   ./run.sh --size large --ngpu 1  # ~20k training mixtures; for a GPU
#   ./run.sh --stage 4 --decode_methods "kmeans oracle_kmeans spectral ibm irm"
#
# Stages: 1 data, 2 feature statistics, 3 training, 4 decoding, 5 scoring +
# exp/<tag>/RESULTS.md (tools/recipe_stages.sh). Run it from egs/tts_mix.
# Options: --name value; empty values are derived as said beside them.
set -euo pipefail

if [[ ! -f ./path.sh || ! -f ./local/prepare_data.py ]]; then
    echo "run.sh: run this from its recipe dir: cd egs/tts_mix && ./run.sh" >&2
    exit 1
fi
. ./path.sh
. ./cmd.sh

# corpus settings
size=small           # tiny | small | large: picks conf/data_<size>.yaml and conf/train_<size>.yaml
data_config=         # corpus sizes (empty: conf/data_<size>.yaml)
corpus_dir=          # where the generated audio goes (empty: dump/tts_mix_<size>)
train_num_spk=2      # speakers per training mixture (2 or 3)

# its defaults for the shared options (tools/recipe_stages.sh)
train_config=        # empty: conf/train_<size>.yaml
data_dir=            # empty: data/<size>
test_sets=           # empty: tt_closed_2spk tt_2spk tt_closed_3spk tt_3spk

recipe_setup() {
    recipe_name=tts_mix
    [[ ${size} =~ ^[A-Za-z0-9_-]+$ ]] || die "--size: letters, digits, _ and - only, got '${size}'"
    data_config=${data_config:-conf/data_${size}.yaml}
    train_config=${train_config:-conf/train_${size}.yaml}
    corpus_dir=${corpus_dir:-dump/tts_mix_${size}}
    data_dir=${data_dir:-data/${size}}
    train_set=tr_${train_num_spk}spk
    valid_set=cv_${train_num_spk}spk
    test_sets=${test_sets:-tt_closed_2spk tt_2spk tt_closed_3spk tt_3spk}
    [[ -f ${data_config} ]] || die "data config not found: ${data_config}"
    recipe_summary="size ${size}"
}

recipe_data() {
    if is_done "${data_dir}" && cmp -s -- "${data_config}" "${data_dir}/.data_config.yaml"; then
        log "stage 1: data exist: ${data_dir}"
        return 0
    fi
    log "stage 1: synthesising and mixing (${data_config}) -> ${data_dir}, audio in ${corpus_dir}"
    run_log_filter='synthesis: .*100%|mixtures: .*100%|error' run_log "exp/logs/stage1_data_${size}.log" \
        python local/prepare_data.py --config "${data_config}" --audio-dir "${corpus_dir}" \
        --data-dir "${data_dir}" --nj "${nj}"
    cp -- "${data_config}" "${data_dir}/.data_config.yaml"
    mark_done "${data_dir}"
}

. "${DCSEP_ROOT}/tools/recipe_stages.sh"
run_recipe "$@"
