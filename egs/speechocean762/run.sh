#!/usr/bin/env bash
# Deep clustering on real read speech: speechocean762 (OpenSLR 101, Apache-2.0).
#
# 250 speakers (125 f / 125 m, about half of them children) with disjoint train
# and test halves. Stage 1 resamples the corpus to 8 kHz and builds, from the
# committed mix lists in local/mix_lists/<size> (wsj0-mix line format):
#   train_sources  single-speaker utterances of 113 training speakers (dynamic mixing)
#   tr             5000 fixed 2-speaker mixtures of the same utterances
#   cv, cv_3spk    500 2-speaker and 500 3-speaker mixtures of 12 train-half speakers held out of training
#   tt_closed      500 mixtures of training speakers' utterances kept out of training
#   tt, tt_3spk    1500 2-speaker and 1000 3-speaker mixtures of the 125 test speakers
# (0-5 dB, wsj0-2mix scaling, "min" length), each with utt2gender, utt2age and
# utt2category (gender and age pair) for the breakdowns. Stage 5 writes
# exp/<tag>/RESULTS.md: closed vs open speaker set (the paper's Table 1), by
# gender pair and age group (Table 3), 3 speakers with the 2-speaker model (Table 4).
#
#   ./run.sh --corpus_dir /path/to/speechocean762                  # stages 1-5 (CPU config)
#   ./run.sh --corpus_dir DIR --train_config conf/train_dcpp_gpu.yaml --ngpu 1
#   ./run.sh --corpus_dir DIR --train_config conf/train_blstm_long.yaml  # 5 more 400-frame epochs from the default model
#   ./run.sh --corpus_dir DIR --train_config conf/train_blstm_attractor.yaml  # then 4 epochs for soft masks (the released model)
#   ./run.sh --corpus_dir DIR --train_num_spk 3 --train_config conf/train_blstm_3spk.yaml  # a 3-speaker model
#   ./run.sh --corpus_dir DIR --dynamic_mix false                  # train on the fixed tr set
#   ./run.sh --corpus_dir DIR --size tiny                          # a minute or two; for tests
#   ./run.sh --corpus_dir DIR --stage 4 --test_max_utts 300        # decode/score 300 mixtures per test set
#   ./run.sh                                                       # downloads the corpus first
#   ./run.sh --corpus_dir DIR --stage 4 --cross_corpus_dir ../../../shared/data/picovoice_s2i/clean
#                       # also test on 2- and 3-speaker mixtures of other speech (cross-corpus; test only)
#
# --corpus_dir is the corpus root (WAVE/, train/, test/; the official 16 kHz .WAV
# files or a copy with .flac files). Without it stage 1 downloads the official
# archive from OpenSLR into downloads/ (about 500 MB).
# Decoding all test sets (3000 mixtures x 5 methods) takes hours on a few CPU
# cores; --test_max_utts N decodes and scores N mixtures of each set instead,
# evenly spaced over the sorted ids (data/<size>/<set>_subN, the same every run),
# and RESULTS.md names the subsets and the number of mixtures of every table.
# --cross_corpus_dir: a folder of clean single-speaker recordings of other
# people and microphones (e.g. the Picovoice clips of shared/data/picovoice_s2i;
# read its README). Stage 1 builds 150 2-speaker and 100 3-speaker mixtures of
# it with dcsep-mix from the committed lists local/mix_lists/picovoice
# (--cross_corpus_name picovoice), and stages 4-5 decode and score them
# (picovoice_2spk, picovoice_3spk) beside the recipe's own test sets. It is a
# test set only: nothing is trained or chosen on it. Without the option the
# recipe never needs it.
# Stages: 1 data, 2 feature statistics, 3 training, 4 decoding, 5 scoring +
# exp/<tag>/RESULTS.md (tools/recipe_stages.sh). Run it from egs/speechocean762.
# Options: --name value; empty values are derived as said beside them.
set -euo pipefail

if [[ ! -f ./path.sh || ! -f ./local/prepare_data.py ]]; then
    echo "run.sh: run this from its recipe dir: cd egs/speechocean762 && ./run.sh" >&2
    exit 1
fi
command_line="$0$(printf ' %q' "$@")"
. ./path.sh
. ./cmd.sh

# corpus settings
size=full              # full | tiny: conf/data_<size>.yaml and local/mix_lists/<size>
corpus_dir=            # the corpus root (WAVE/, train/, test/); empty: download it
download_dir=downloads # where the download goes when --corpus_dir is empty
download_url=https://www.openslr.org/resources/101
allow_partial=false    # accept a corpus with fewer files than the full one
data_config=           # empty: conf/data_<size>.yaml
mix_lists=             # empty: local/mix_lists/<size> (drawn from the seed when absent)
dynamic_mix=true       # true: train on new mixtures every epoch (train_sources); false: on tr
train_num_spk=2        # speakers per training mixture: 2, or 3 (dynamic mixing, validated on cv_3spk)
cross_corpus_name=picovoice  # the cross-corpus sets' name (lists: local/mix_lists/<name>)

# its defaults for the shared options (tools/recipe_stages.sh)
train_config=          # empty: conf/train_blstm.yaml (full), conf/train_tiny.yaml (tiny)
data_dir=              # empty: data/<size>
test_sets="tt_closed tt tt_3spk"
decode_methods="kmeans soft_kmeans spectral oracle_kmeans ibm irm"

recipe_setup() {
    recipe_name=speechocean762
    # --train_config/--data_config/--mix_lists auto: the names of earlier releases for empty
    [[ ${data_config} == auto ]] && data_config=
    [[ ${mix_lists} == auto ]] && mix_lists=
    [[ ${train_config} == auto ]] && train_config=
    [[ ${data_dir} == auto ]] && data_dir=
    [[ ${size} =~ ^[A-Za-z0-9_-]+$ ]] || die "--size: letters, digits, _ and - only, got '${size}'"
    data_config=${data_config:-conf/data_${size}.yaml}
    mix_lists=${mix_lists:-local/mix_lists/${size}}
    data_dir=${data_dir:-data/${size}}
    if [[ -z ${train_config} ]]; then
        if [[ ${size} == tiny ]]; then train_config=conf/train_tiny.yaml; else train_config=conf/train_blstm.yaml; fi
    fi
    [[ -f ${data_config} ]] || die "data config not found: ${data_config}"
    [[ -f ${train_config} ]] || die "train config not found: ${train_config}"
    if [[ ${dynamic_mix} == true ]]; then
        train_set=train_sources
        stats_set=tr # statistics of mixtures, not of single speakers (the same speakers and scaling)
    else
        train_set=tr
    fi
    case ${train_num_spk} in
        2) valid_set=cv ;;
        3) valid_set=cv_3spk ;;
        *) die "--train_num_spk: 2 or 3, got '${train_num_spk}'" ;;
    esac
    fs=$(python -c 'import sys, yaml; print((yaml.safe_load(open(sys.argv[1])) or {}).get("fs", 8000))' "${data_config}")
    # the training YAML's dataset kind follows --dynamic_mix (a switched copy when it differs)
    train_config=$(python local/train_config.py --config "${train_config}" --dynamic-mix "${dynamic_mix}" \
        --num-spk "${train_num_spk}" --out-dir "${data_dir}/conf") || die "cannot use ${train_config}"
    recipe_summary="size ${size}, dynamic mixing ${dynamic_mix}"
}

recipe_data() {
    if is_done "${data_dir}" && cmp -s -- "${data_config}" "${data_dir}/.data_config.yaml" &&
        { [[ ! -d ${mix_lists} ]] || diff -rq -- "${mix_lists}" "${data_dir}/mix_lists" > /dev/null; }; then
        log "stage 1: data exist: ${data_dir}"
        return 0
    fi
    local args=(--out-dir "${data_dir}" --config "${data_config}" --nj "${nj}") what
    if [[ -n ${corpus_dir} ]]; then
        [[ -d ${corpus_dir} ]] || die "--corpus_dir: not a directory: ${corpus_dir}"
        args+=(--corpus-dir "${corpus_dir}")
        what=${corpus_dir}
    else
        args+=(--download-dir "${download_dir}" --url "${download_url}")
        what="${download_url} (downloaded into ${download_dir})"
    fi
    [[ -d ${mix_lists} ]] && args+=(--mix-lists "${mix_lists}")
    [[ ${allow_partial} == true ]] && args+=(--allow-partial)
    log "stage 1: preparing ${what} (${data_config}) -> ${data_dir}"
    run_log_filter='resampling: .*100%|: .*/.* \(100%\)|^set|^(train_sources|tr|cv|tt)|warning|error' \
        run_log "exp/logs/stage1_data_${size}.log" python local/prepare_data.py "${args[@]}"
    cp -- "${data_config}" "${data_dir}/.data_config.yaml"
    mark_done "${data_dir}"
}

recipe_info() {
    local training
    if [[ ${dynamic_mix} == true ]]; then
        # a config may mix counts (train_dataset_conf.num_spk: [2, 3])
        training="dynamically mixed ${train_set} ($(python local/train_config.py --config "${train_config}" --counts) speakers)"
    else
        training="the fixed ${train_set} mixtures"
    fi
    python local/run_info.py --command "${command_line}" --text "Deep clustering on speechocean762 \
(real read speech, 8 kHz): model \`${expdir}/model.pt\` (config \`${train_config}\`), data \`${data_dir}\`, \
training on ${training}, validation on ${valid_set}. Closed speaker set: tt_closed (training speakers, unseen utterances); \
open: tt and tt_3spk (test speakers); every set is decoded with its own number of speakers (--num-spk 2 or 3). Groups: \
utt2gender (gender pair), utt2age (children < 18 years), utt2category (both)."
}

. "${DCSEP_ROOT}/tools/recipe_stages.sh"
run_recipe "$@"
