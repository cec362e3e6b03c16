#!/usr/bin/env bash
# Stages 2-5 shared by the dcsep recipes, and the defaults of their options.
#
# A recipe's run.sh sets its own options, sources this file (which fills in
# the defaults below for the options it did not set), sources
# tools/parse_options.sh, then runs its corpus stage(s) and calls
# run_common_stages. The options of stages 2-5:
#
#   stage / stop_stage   first and last stage to run
#   ngpu                 auto (1 when a GPU is visible, else 0), 0 (CPU), 1, or N > 1 (torchrun, N processes)
#   nj                   parallel processes for data preparation, decoding and scoring
#   train_config         training YAML (see docs/training.md)
#   tag                  name of the exp dir exp/<tag> (default: conf/train_NAME.yaml -> dc_NAME)
#   data_dir             where the Kaldi-style data dirs are
#   train_set / valid_set / test_sets   data dir names under data_dir
#   decode_methods       any of: kmeans soft_kmeans oracle_kmeans spectral (deep clustering
#                        with that clusterer), ibm irm (oracle masks, the ceilings)
#   stats_max_utts       mixtures used for the feature statistics
#   test_max_utts        N: decode and score only N mixtures of each larger test set, evenly
#                        spaced over its sorted ids, as data_dir/<set>_subN (default: all)
#   num_workers          DataLoader workers for training (default: the config's)
#   verbose              true: also print the output of every stage (not only its log file)
#
# Stage 2: feature statistics (dcsep-stats)   -> exp/<tag>/stats/feats_stats.pt
# Stage 3: training (dcsep-train, or torchrun) -> exp/<tag>/model.pt
# Stage 4: decoding (dcsep-decode)            -> exp/<tag>/decode/<test set>/<method>/
# Stage 5: scoring (dcsep-score) and the results table -> exp/<tag>/RESULTS.md
#
# Every stage skips work already done (completion markers, existing
# outputs), so a run can be interrupted and started again with the same
# command. Logs: exp/<tag>/logs/.

: "${stage=1}"
: "${stop_stage=5}"
: "${ngpu=auto}"
: "${nj=2}"
: "${train_config=}"
: "${tag=}"
: "${data_dir=data}"
: "${train_set=tr}"
: "${valid_set=cv}"
: "${test_sets=tt}"
: "${decode_methods=kmeans ibm irm}"
: "${stats_max_utts=500}"
: "${test_max_utts=}"
: "${num_workers=}"
: "${verbose=false}"

# training lines shown on the terminal (all output is in the logs)
train_log_filter='epoch [0-9]+ done|training summary|ERROR|Error|error'

# resolve derived settings after option parsing; call once before any stage
setup_common() {
    [[ -n ${train_config} ]] || die "--train_config is required"
    [[ -f ${train_config} ]] || die "train config not found: ${train_config}"
    [[ ${nj} =~ ^[1-9][0-9]*$ ]] || die "--nj must be a positive integer, got '${nj}'"
    if [[ -z ${tag} ]]; then # conf/train_paper.yaml -> dc_paper
        tag=$(basename -- "${train_config}")
        tag=${tag%.yaml}
        tag=${tag%.yml}
        tag=dc_${tag#train_}
    fi
    [[ ${tag} =~ ^[A-Za-z0-9._+-]+$ ]] || die "--tag may hold letters, digits and . _ + - only, got '${tag}'"
    expdir="exp/${tag}"
    if [[ ${ngpu} == auto ]]; then
        ngpu=$(python -c 'import torch; print(1 if torch.cuda.is_available() else 0)' 2> /dev/null || echo 0)
    fi
    [[ ${ngpu} =~ ^[0-9]+$ ]] || die "--ngpu must be auto or a number, got '${ngpu}'"
    if ((ngpu > 0)); then device=cuda; else device=cpu; fi
    python -c 'import dcsep' 2> /dev/null ||
        die "cannot import dcsep with $(command -v python || echo 'no python'); run tools/setup_venv.sh first"
}

run_common_stages() {
    local stats="${expdir}/stats/feats_stats.pt"
    local logdir="${expdir}/logs"

    if want_stage 2; then
        if [[ -f ${stats} ]] && cmp -s -- "${train_config}" "${expdir}/stats/.config.yaml"; then
            log "stage 2: feature statistics exist: ${stats}"
        else
            log "stage 2: feature statistics of ${data_dir}/${train_set} (at most ${stats_max_utts} mixtures)"
            run_log "${logdir}/stage2_stats.log" dcsep-stats --data-dir "${data_dir}/${train_set}" \
                --config "${train_config}" --out "${stats}" --max-utts "${stats_max_utts}"
            cp -- "${train_config}" "${expdir}/stats/.config.yaml"
        fi
    fi

    if want_stage 3; then
        if is_done "${expdir}" && [[ -f ${expdir}/model.pt ]]; then
            cmp -s -- "${train_config}" "${expdir}/.train_config.yaml" ||
                die "${expdir} was trained with another config than ${train_config}; choose another --tag"
            log "stage 3: model exists: ${expdir}/model.pt"
        else
            [[ -f ${stats} ]] || die "no feature statistics ${stats}; run stage 2 first"
            if [[ -f ${expdir}/.train_config.yaml ]] && ! cmp -s -- "${train_config}" "${expdir}/.train_config.yaml"; then
                die "${expdir} holds a training run with another config than ${train_config}; choose another --tag"
            fi
            mkdir -p -- "${expdir}"
            cp -- "${train_config}" "${expdir}/.train_config.yaml"
            local args=(--config "${train_config}" --train-dir "${data_dir}/${train_set}"
                --valid-dir "${data_dir}/${valid_set}" --exp-dir "${expdir}" --stats "${stats}" --resume --no-progress)
            [[ -n ${num_workers} ]] && args+=(--num-workers "${num_workers}")
            log "stage 3: training ${expdir} on ${ngpu} GPU(s) (${device}); log: ${expdir}/train.log"
            if ((ngpu > 1)); then
                run_log_filter="${train_log_filter}" run_log "${logdir}/stage3_train.log" ${train_cmd[@]+"${train_cmd[@]}"} \
                    torchrun --standalone --nproc_per_node "${ngpu}" -m dcsep.bin.train "${args[@]}" --ngpu "${ngpu}"
            else
                run_log_filter="${train_log_filter}" run_log "${logdir}/stage3_train.log" \
                    ${train_cmd[@]+"${train_cmd[@]}"} dcsep-train "${args[@]}" --ngpu "${ngpu}"
            fi
            mark_done "${expdir}"
        fi
    fi

    if want_stage 4 || want_stage 5; then
        limit_test_sets
    fi

    if want_stage 4; then
        [[ -f ${expdir}/model.pt ]] || die "no model ${expdir}/model.pt; run stage 3 first"
        decode_sets "${expdir}" "${expdir}" ""
    fi

    if want_stage 5; then
        score_sets "${expdir}"
        write_results_table "${expdir}" "Model \`${expdir}/model.pt\` (config \`${train_config}\`)"
    fi
}

# decode_sets MODEL_DIR OUT_EXPDIR NUM_SPK: every test set x method into OUT_EXPDIR/decode/<set>/<method>
# (NUM_SPK empty: the reference dir's number of sources)
decode_sets() {
    local model=$1 out=$2 num_spk=$3
    local set method dir dec_nj opts
    for set in ${test_sets}; do
        [[ -f ${data_dir}/${set}/wav.scp ]] || die "test set ${data_dir}/${set} not found; run stage 1 first"
        dec_nj=$(jobs_for "${data_dir}/${set}")
        [[ ${device} == cuda ]] && dec_nj=1
        for method in ${decode_methods}; do
            dir="${out}/decode/${set}/${method}"
            if is_done "${dir}"; then
                continue
            fi
            case ${method} in
                ibm | irm) opts=(--oracle "${method}") ;;
                *) opts=(--clusterer "${method}") ;;
            esac
            [[ -n ${num_spk} ]] && opts+=(--num-spk "${num_spk}")
            log "stage 4: decoding ${set} with ${method} -> ${dir}"
            run_log "${out}/logs/stage4_decode_${set}_${method}.log" ${decode_cmd[@]+"${decode_cmd[@]}"} \
                dcsep-decode --model "${model}" --scp "${data_dir}/${set}/wav.scp" --ref "${data_dir}/${set}" \
                --outdir "${dir}" --nj "${dec_nj}" --device "${device}" "${opts[@]}"
            mark_done "${dir}"
        done
    done
}

# score_sets EXPDIR: score every decoded test set x method (dcsep-score skips what is scored already)
score_sets() {
    local out=$1 set method dir
    for set in ${test_sets}; do
        for method in ${decode_methods}; do
            dir="${out}/decode/${set}/${method}"
            is_done "${dir}" || die "${dir} is not decoded; run stage 4 first"
            log "stage 5: scoring ${set} ${method}"
            run_log "${out}/logs/stage5_score_${set}_${method}.log" ${decode_cmd[@]+"${decode_cmd[@]}"} \
                dcsep-score --ref "${data_dir}/${set}" --est "${dir}" --nj "$(jobs_for "${data_dir}/${set}")"
        done
    done
}

# limit_test_sets: with test_max_utts=N, every test set of more than N mixtures is replaced in
# test_sets by data_dir/<set>_subN (tools/subset_data_dir.py: N mixtures evenly spaced over the
# sorted ids, the same every run); test_subset_note says which, for the results
test_subset_note=""
limit_test_sets() {
    [[ -n ${test_max_utts} ]] || return 0
    [[ ${test_max_utts} =~ ^[1-9][0-9]*$ ]] ||
        die "--test_max_utts must be a positive integer (or empty for all), got '${test_max_utts}'"
    local set sub n note="" sets=()
    for set in ${test_sets}; do
        [[ -f ${data_dir}/${set}/wav.scp ]] || die "test set ${data_dir}/${set} not found; run stage 1 first"
        n=$(wc -l < "${data_dir}/${set}/wav.scp")
        if ((n <= test_max_utts)); then
            sets+=("${set}")
            continue
        fi
        sub="${set}_sub${test_max_utts}"
        if ! is_done "${data_dir}/${sub}" || [[ ${data_dir}/${set}/wav.scp -nt ${data_dir}/${sub}/.done ]]; then
            log "test set ${set}: ${test_max_utts} of its ${n} mixtures -> ${data_dir}/${sub}"
            python "${DCSEP_ROOT}/tools/subset_data_dir.py" --src "${data_dir}/${set}" --dest "${data_dir}/${sub}" \
                --num "${test_max_utts}" > /dev/null || die "cannot write ${data_dir}/${sub}"
            mark_done "${data_dir}/${sub}"
        fi
        sets+=("${sub}")
        note+="${note:+; }${sub}: ${test_max_utts} of the ${n} mixtures of ${set}"
    done
    test_sets="${sets[*]}"
    [[ -z ${note} ]] ||
        test_subset_note="Test subsets (--test_max_utts ${test_max_utts}; evenly spaced over the sorted ids): ${note}."
}

# jobs for a data dir: nj, but no more than one per 40 mixtures (starting a worker costs seconds)
jobs_for() {
    local n
    n=$(wc -l < "$1/wav.scp")
    n=$(((n + 39) / 40))
    ((n < 1)) && n=1
    ((n > nj)) && n=${nj}
    echo "${n}"
}

# write_results_table EXPDIR INFO: EXPDIR/RESULTS.md from every scored decode dir, printed
write_results_table() {
    local out=$1 info=$2
    info="${info}, data \`${data_dir}\`; recipe \`${recipe_name:-$(basename -- "$(pwd)")}\`.${test_subset_note:+ ${test_subset_note}}"
    python -m dcsep.results "${out}" --info "${info}" --quiet
    log "results: ${out}/RESULTS.md"
    cat -- "${out}/RESULTS.md"
}
