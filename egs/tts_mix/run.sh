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
# exp/<tag>/RESULTS.md. Run it from egs/tts_mix. Options: --name value.
set -euo pipefail

if [[ ! -f ./path.sh || ! -f ./local/prepare_data.py ]]; then
    echo "run.sh: run this from its recipe dir: cd egs/tts_mix && ./run.sh" >&2
    exit 1
fi
. ./path.sh
. ./cmd.sh

# recipe options
size=small           # tiny | small | large: picks conf/data_<size>.yaml and conf/train_<size>.yaml
data_config=         # corpus sizes (default: conf/data_<size>.yaml)
corpus_dir=          # where the generated audio goes (default: dump/tts_mix_<size>)
train_num_spk=2      # speakers per training mixture (2 or 3)

# options of stages 2-5 (see tools/recipe_stages.sh)
stage=1
stop_stage=5
nj=2
train_config=        # default: conf/train_<size>.yaml
data_dir=            # default: data/<size>
test_sets=           # default: tt_closed_2spk tt_2spk tt_closed_3spk tt_3spk
. "${DCSEP_ROOT}/tools/recipe_stages.sh"
. "${DCSEP_ROOT}/tools/parse_options.sh"
. "${DCSEP_ROOT}/tools/recipe_utils.sh"

[[ ${size} =~ ^[A-Za-z0-9_-]+$ ]] || die "--size: letters, digits, _ and - only, got '${size}'"
data_config=${data_config:-conf/data_${size}.yaml}
train_config=${train_config:-conf/train_${size}.yaml}
corpus_dir=${corpus_dir:-dump/tts_mix_${size}}
data_dir=${data_dir:-data/${size}}
train_set=tr_${train_num_spk}spk
valid_set=cv_${train_num_spk}spk
test_sets=${test_sets:-tt_closed_2spk tt_2spk tt_closed_3spk tt_3spk}
[[ -f ${data_config} ]] || die "data config not found: ${data_config}"
setup_common
recipe_name=tts_mix
log "recipe tts_mix: size ${size}, data ${data_dir}, exp ${expdir}, stages ${stage}-${stop_stage}, ${nj} job(s), device ${device}"

if want_stage 1; then
    if is_done "${data_dir}" && cmp -s -- "${data_config}" "${data_dir}/.data_config.yaml"; then
        log "stage 1: data exist: ${data_dir}"
    else
        log "stage 1: synthesising and mixing (${data_config}) -> ${data_dir}, audio in ${corpus_dir}"
        run_log_filter='synthesis: .*100%|mixtures: .*100%|error' run_log "exp/logs/stage1_data_${size}.log" \
            python local/prepare_data.py --config "${data_config}" --audio-dir "${corpus_dir}" \
            --data-dir "${data_dir}" --nj "${nj}"
        cp -- "${data_config}" "${data_dir}/.data_config.yaml"
        mark_done "${data_dir}"
    fi
fi

run_common_stages
log "done"
