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
# exp/<tag>/RESULTS.md; 6: decoding and scoring with --model_2spk (clustering
# into --num_spk sources) -> exp/<model dir name>_2spk_model/RESULTS.md. Run it from
# egs/wsj0_3mix. Options: --name value.
set -euo pipefail

if [[ ! -f ./path.sh || ! -f ./local/prepare_data.py ]]; then
    echo "run.sh: run this from its recipe dir: cd egs/wsj0_3mix && ./run.sh" >&2
    exit 1
fi
. ./path.sh
. ./cmd.sh
. ./db.sh

# recipe options
wsj0="${WSJ0}"               # WSJ0 dir (holding wsj0/si_tr_s, ...); needed by stage 1
mix_lists="${WSJ0_MIX_LISTS}" # dir with mix_3_spk_*.txt or the official zip; empty: download
fs=8000                      # 8000 or 16000
mode=min                     # min (cut to the shortest source) or max (pad to the longest)
levels=                      # optional table(s) of precomputed active levels ('<utt> <level>')
corpus_dir=                  # audio output (default: dump/wsj0-3mix)
spk2gender=                  # speaker genders (default: WSJ0's wsj0/doc/spkrinfo.txt when present)
sph2pipe=                    # sph2pipe binary (default: sph2pipe on PATH); needed for WSJ0's compressed .wv1
max_mixtures=                # N: only the first N lines of each mix list (quick trials)
model_2spk=                  # stage 6: a model dir (or file) trained on 2-speaker mixtures
num_spk=3                    # stage 6: clusters (sources) per mixture
decode_methods_2spk="kmeans oracle_kmeans ibm"  # stage 6 methods (the paper: global and oracle k-means)

# options of stages 2-5 (see tools/recipe_stages.sh)
stage=1
stop_stage=6
nj=4
train_config=conf/train_paper.yaml
data_dir=                    # default: data/wav8k_min (from --fs and --mode; _first<N> with --max_mixtures)
train_set=tr
valid_set=cv
test_sets="cv tt"            # cv: closed speaker set, tt: open speaker set
. "${DCSEP_ROOT}/tools/recipe_stages.sh"
. "${DCSEP_ROOT}/tools/parse_options.sh"
. "${DCSEP_ROOT}/tools/recipe_utils.sh"

[[ ${fs} == 8000 || ${fs} == 16000 ]] || die "--fs must be 8000 or 16000, got '${fs}'"
[[ ${mode} == min || ${mode} == max ]] || die "--mode must be min or max, got '${mode}'"
[[ -z ${max_mixtures} || ${max_mixtures} =~ ^[1-9][0-9]*$ ]] || die "--max_mixtures must be a positive integer, got '${max_mixtures}'"
corpus_dir=${corpus_dir:-dump/wsj0-3mix}
data_dir=${data_dir:-data/wav$((fs / 1000))k_${mode}${max_mixtures:+_first${max_mixtures}}}
setup_common
log "recipe wsj0_3mix: data ${data_dir}, exp ${expdir}, stages ${stage}-${stop_stage}, ${nj} job(s), device ${device}"

if want_stage 1; then
    if is_done "${data_dir}"; then
        log "stage 1: data exist: ${data_dir} (remove ${data_dir}/.done to build it again)"
    else
        [[ -n ${wsj0} ]] || die "stage 1 needs --wsj0 DIR (the dir that holds wsj0/si_tr_s, wsj0/si_dt_05, wsj0/si_et_05), or WSJ0 in db.sh"
        opts=()
        [[ -n ${mix_lists} ]] && opts+=(--mix-lists "${mix_lists}")
        [[ -n ${levels} ]] && opts+=(--levels "${levels}")
        [[ -n ${spk2gender} ]] && opts+=(--spk2gender "${spk2gender}")
        [[ -n ${sph2pipe} ]] && opts+=(--sph2pipe "${sph2pipe}")
        [[ -n ${max_mixtures} ]] && opts+=(--max-mixtures "${max_mixtures}")
        log "stage 1: building wsj0-3mix (${fs} Hz, ${mode}) from ${wsj0} -> ${corpus_dir}, ${data_dir}"
        run_log_filter='wsj0-3mix .*(100%)|error|missing|found' run_log "exp/logs/stage1_data_wav$((fs / 1000))k_${mode}.log" \
            python local/prepare_data.py --wsj0 "${wsj0}" --out "${corpus_dir}" --data-dir "${data_dir}" \
            --num-spk 3 --fs "${fs}" --mode "${mode}" --nj "${nj}" ${opts[@]+"${opts[@]}"}
        mark_done "${data_dir}"
    fi
fi

run_common_stages

if want_stage 6; then
    if [[ -z ${model_2spk} ]]; then
        log "stage 6: skipped (give --model_2spk DIR, e.g. ../wsj0_2mix/exp/dc_paper, to separate wsj0-3mix with a 2-speaker model)"
    else
        model_file=${model_2spk}
        [[ -d ${model_file} ]] && model_file=${model_file%/}/model.pt
        [[ -f ${model_file} ]] || die "--model_2spk: no model ${model_file}"
        name=$(basename -- "$(cd -- "$(dirname -- "${model_file}")" && pwd)")
        out="exp/${name}_2spk_model"
        decode_methods=${decode_methods_2spk}
        log "stage 6: wsj0-3mix with the 2-speaker model ${model_file}, ${num_spk} clusters -> ${out}"
        decode_sets "${model_file}" "${out}" "${num_spk}"
        score_sets "${out}"
        write_results_table "${out}" "2-speaker model \`${model_file}\` clustering into ${num_spk} sources (Table 4 of the paper)"
    fi
fi
log "done"
