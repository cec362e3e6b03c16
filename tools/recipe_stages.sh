#!/usr/bin/env bash
# The stages shared by the dcsep recipes, and the defaults of their options.
#
# A recipe's run.sh holds its corpus settings only (as ESPnet's
# egs2/wsj0_2mix/enh1/run.sh): the options of its corpus and its own
# defaults for the options below, then the hooks
#
#   recipe_setup         (optional) derive settings once the options are parsed
#   recipe_data          stage 1: write the Kaldi-style data dirs into data_dir
#   recipe_info          (optional) print the paragraph under the RESULTS.md title
#   recipe_more_stages   (optional) stages after 5 (e.g. wsj0_3mix's stage 6)
#
# and ends with
#
#   . "${DCSEP_ROOT}/tools/recipe_stages.sh"
#   run_recipe "$@"
#
# run_recipe parses "$@" (tools/parse_options.sh: --name value), runs
# recipe_setup, checks the settings, runs stage 1 (recipe_data) and the
# stages 2-5 below, and writes exp/<tag>/RESULTS.md: this file is its one
# writer. Empty values mean "derived" (a recipe says from what); only ngpu
# has "auto" (detect a GPU). The options of stages 2-5:
#
#   stage / stop_stage   first and last stage to run
#   ngpu                 auto (1 when a GPU is visible, else 0), 0 (CPU), 1, or N > 1 (torchrun, N processes)
#   nj                   parallel processes for data preparation, decoding and scoring
#   train_config         training YAML (see docs/training.md)
#   tag                  name of the exp dir exp/<tag> (default: conf/train_NAME.yaml -> dc_NAME)
#   data_dir             where the Kaldi-style data dirs are
#   train_set / valid_set  data dir names under data_dir
#   stats_set            data dir of the feature statistics (default: train_set)
#   test_sets            the test sets: names of data dirs under data_dir, or NAME=DIR for a
#                        data dir elsewhere (decoded as NAME; e.g. a cross-corpus test set)
#   decode_methods       any of: kmeans soft_kmeans oracle_kmeans spectral (deep clustering
#                        with that clusterer), ibm irm (oracle masks, the ceilings)
#   stats_max_utts       mixtures used for the feature statistics
#   test_max_utts        N: decode and score only N mixtures of each larger test set, evenly
#                        spaced over its sorted ids, as data_dir/<set>_subN (default: all)
#   num_workers          DataLoader workers for training (default: the config's)
#   verbose              true: also print the output of every stage (not only its log file)
#   cross_corpus_dir     a folder of clean single-speaker recordings to test on across corpora
#                        (recipes that release a model; test only: never trained or tuned on);
#                        empty: none. Its 2- and 3-speaker test sets are built by dcsep-mix into
#                        data_dir/<cross_corpus_name>/ and decoded as <cross_corpus_name>_2spk, _3spk
#   cross_corpus_name    the name of those sets
#   cross_corpus_lists   their mix lists (dcsep-mix --from-list); empty: local/mix_lists/<cross_corpus_name>
#                        when the recipe has it, else drawn with seed 0
#   cross_corpus_mixtures  mixtures of 2 and of 3 speakers when drawn
#
# The test-set names differ between recipes on purpose: the wsj0-mix recipes and
# speechocean762 keep the names of wsj0-2mix (tt: 2 speakers, tt_3spk: 3), which
# their released results and models cite; tts_mix names every set
# <split>_<C>spk because it makes 2- and 3-speaker sets of every split.
#
# Stage 1: the corpus's data dirs (recipe_data) -> data_dir/<set>
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
: "${stats_set=}"
: "${test_sets=tt}"
: "${decode_methods=kmeans ibm irm}"
: "${stats_max_utts=500}"
: "${test_max_utts=}"
: "${num_workers=}"
: "${verbose=false}"
: "${cross_corpus_dir=}"
: "${cross_corpus_name=cross}"
: "${cross_corpus_lists=}"
: "${cross_corpus_mixtures=150 100}"


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

# run_recipe "$@": parse the options, set up, and run stages 1-5 (see the top of this file)
run_recipe() {
    . "${DCSEP_ROOT}/tools/parse_options.sh"
    . "${DCSEP_ROOT}/tools/recipe_utils.sh"
    # set after the options (not options themselves): training lines shown on the terminal (all
    # output is in the logs), and the notes of the results on test subsets and cross-corpus sets
    train_log_filter='epoch [0-9]+ done|training summary|ERROR|Error|error'
    test_subset_note=""
    cross_corpus_note=""
    if declare -F recipe_setup > /dev/null; then
        recipe_setup
    fi
    [[ -n ${data_dir} ]] || die "--data_dir is empty"
    setup_common
    log "recipe ${recipe_name:-$(basename -- "$(pwd)")}: data ${data_dir}, exp ${expdir}, stages ${stage}-${stop_stage}," \
        "${nj} job(s), device ${device}${recipe_summary:+, ${recipe_summary}}"
    if want_stage 1; then
        recipe_data
    fi
    if [[ -n ${cross_corpus_dir} ]] && { want_stage 1 || want_stage 4 || want_stage 5; }; then
        cross_corpus_sets
    fi
    if ((stage <= stop_stage)); then
        run_common_stages
    fi
    if declare -F recipe_more_stages > /dev/null; then
        recipe_more_stages
    fi
    log "done"
}

# cross_corpus_sets: build the 2- and 3-speaker test sets of cross_corpus_dir with dcsep-mix
# (data_dir/<cross_corpus_name>/tt_2spk, tt_3spk) and add them to test_sets as NAME=DIR
cross_corpus_sets() {
    local name=${cross_corpus_name} lists=${cross_corpus_lists} out="${data_dir}/${cross_corpus_name}" opts
    [[ -d ${cross_corpus_dir} ]] || die "--cross_corpus_dir: not a directory: ${cross_corpus_dir}"
    [[ ${name} =~ ^[A-Za-z0-9_-]+$ ]] || die "--cross_corpus_name: letters, digits, _ and - only, got '${name}'"
    [[ -z ${lists} && -d local/mix_lists/${name} ]] && lists=local/mix_lists/${name}
    local made_from="${cross_corpus_dir} ${lists:-seed 0: ${cross_corpus_mixtures}}"
    if ! is_done "${out}" || [[ $(cat -- "${out}/.made_from" 2> /dev/null) != "${made_from}" ]]; then
        if [[ -n ${lists} ]]; then
            [[ -d ${lists} ]] || die "--cross_corpus_lists: not a directory: ${lists}"
            opts=(--from-list "${lists}")
            log "cross-corpus test sets: ${cross_corpus_dir} with the mix lists ${lists} -> ${out}"
        else
            local counts
            read -ra counts <<< "${cross_corpus_mixtures}"
            opts=(--num-spk 2 3 --num-mixtures "${counts[@]}" --seed 0)
            log "cross-corpus test sets: ${cross_corpus_dir}, mix lists drawn with seed 0 -> ${out}"
        fi
        run_log "exp/logs/cross_corpus_${name}.log" dcsep-mix --input "${cross_corpus_dir}" --out-dir "${out}" \
            --fs "${fs:-8000}" --nj "${nj}" --overwrite "${opts[@]}" ||
            die "cannot build the cross-corpus test sets (log: exp/logs/cross_corpus_${name}.log)"
        printf '%s\n' "${made_from}" > "${out}/.made_from"
        mark_done "${out}"
    fi
    local c
    for c in 2 3; do
        [[ -f ${out}/tt_${c}spk/wav.scp ]] && test_sets+=" ${name}_${c}spk=${out}/tt_${c}spk"
    done
    cross_corpus_note="Cross-corpus test sets (test only: never trained or tuned on): ${name}_2spk and ${name}_3spk,"
    local made_by="drawn with seed 0"
    [[ -n ${lists} ]] && made_by="lists \`${lists}\`"
    cross_corpus_note+=" mixtures of \`${cross_corpus_dir}\` built by dcsep-mix (${made_by})"
    cross_corpus_note+=" with the wsj0-2mix scaling."
}

run_common_stages() {
    local stats="${expdir}/stats/feats_stats.pt"
    local logdir="${expdir}/logs"
    local stats_dir="${data_dir}/${stats_set:-${train_set}}"

    if want_stage 2; then
        if [[ -f ${stats} ]] && cmp -s -- "${train_config}" "${expdir}/stats/.config.yaml"; then
            log "stage 2: feature statistics exist: ${stats}"
        else
            log "stage 2: feature statistics of ${stats_dir} (at most ${stats_max_utts} mixtures)"
            run_log "${logdir}/stage2_stats.log" dcsep-stats --data-dir "${stats_dir}" \
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
        write_results_table "${expdir}"
    fi
}

# decode_sets MODEL_DIR OUT_EXPDIR NUM_SPK: every test set x method into OUT_EXPDIR/decode/<set>/<method>
# (NUM_SPK empty: the reference dir's number of sources)
decode_sets() {
    local model=$1 out=$2 num_spk=$3
    local entry set src method dir dec_nj opts
    for entry in ${test_sets}; do
        set=$(set_name_of "${entry}")
        src=$(set_dir_of "${entry}")
        [[ -f ${src}/wav.scp ]] || die "test set ${src} not found; run stage 1 first"
        dec_nj=$(jobs_for "${src}")
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
                dcsep-decode --model "${model}" --scp "${src}/wav.scp" --ref "${src}" \
                --outdir "${dir}" --nj "${dec_nj}" --device "${device}" "${opts[@]}"
            mark_done "${dir}"
        done
    done
}

# score_sets EXPDIR: score every decoded test set x method (dcsep-score skips what is scored already)
score_sets() {
    local out=$1 entry set src method dir
    for entry in ${test_sets}; do
        set=$(set_name_of "${entry}")
        src=$(set_dir_of "${entry}")
        for method in ${decode_methods}; do
            dir="${out}/decode/${set}/${method}"
            is_done "${dir}" || die "${dir} is not decoded; run stage 4 first"
            log "stage 5: scoring ${set} ${method}"
            run_log "${out}/logs/stage5_score_${set}_${method}.log" ${decode_cmd[@]+"${decode_cmd[@]}"} \
                dcsep-score --ref "${src}" --est "${dir}" --nj "$(jobs_for "${src}")"
        done
    done
}

# a test-set entry is NAME (the data dir data_dir/NAME) or NAME=DIR (a data dir elsewhere)
set_name_of() {
    echo "${1%%=*}"
}
set_dir_of() {
    if [[ $1 == *=* ]]; then echo "${1#*=}"; else echo "${data_dir}/$1"; fi
}

# limit_test_sets: with test_max_utts=N, every test set of more than N mixtures is replaced in
# test_sets by data_dir/<set>_subN (tools/subset_data_dir.py: N mixtures evenly spaced over the
# sorted ids, the same every run); test_subset_note says which, for the results
limit_test_sets() {
    [[ -n ${test_max_utts} ]] || return 0
    [[ ${test_max_utts} =~ ^[1-9][0-9]*$ ]] ||
        die "--test_max_utts must be a positive integer (or empty for all), got '${test_max_utts}'"
    local entry set src sub n note="" sets=()
    for entry in ${test_sets}; do
        set=$(set_name_of "${entry}")
        src=$(set_dir_of "${entry}")
        [[ -f ${src}/wav.scp ]] || die "test set ${src} not found; run stage 1 first"
        n=$(wc -l < "${src}/wav.scp")
        if ((n <= test_max_utts)); then
            sets+=("${entry}")
            continue
        fi
        sub="${set}_sub${test_max_utts}"
        if ! is_done "${data_dir}/${sub}" || [[ ${src}/wav.scp -nt ${data_dir}/${sub}/.done ]]; then
            log "test set ${set}: ${test_max_utts} of its ${n} mixtures -> ${data_dir}/${sub}"
            python "${DCSEP_ROOT}/tools/subset_data_dir.py" --src "${src}" --dest "${data_dir}/${sub}" \
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

# write_results_table EXPDIR [INFO]: EXPDIR/RESULTS.md of this run's test sets, printed. Its
# paragraph is INFO, else what the recipe's recipe_info prints, else the model, its config, the data
# and the recipe; then the notes on test subsets and cross-corpus sets. Title: "<recipe>: <exp dir name>"
write_results_table() {
    local out=$1 info=${2:-} names="" entry
    if [[ -n ${info} ]]; then
        info+=", data \`${data_dir}\`; recipe \`${recipe_name:-$(basename -- "$(pwd)")}\`."
    elif declare -F recipe_info > /dev/null; then
        info=$(recipe_info) || die "recipe_info failed"
    else
        info="Model \`${out}/model.pt\` (config \`${train_config}\`), data \`${data_dir}\`; recipe \`${recipe_name:-$(basename -- "$(pwd)")}\`."
    fi
    info+="${test_subset_note:+ ${test_subset_note}}${cross_corpus_note:+ ${cross_corpus_note}}"
    for entry in ${test_sets}; do
        names+="${names:+ }$(set_name_of "${entry}")"
    done
    python -m dcsep.results "${out}" --title "${recipe_name:-$(basename -- "$(pwd)")}: ${out##*/}" --info "${info}" \
        --test-sets "${names}" --quiet
    log "results: ${out}/RESULTS.md"
    cat -- "${out}/RESULTS.md"
}
