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
# exp/<tag>/RESULTS.md. Run it from egs/wsj0_2mix. Options: --name value.
set -euo pipefail

if [[ ! -f ./path.sh || ! -f ./local/prepare_data.py ]]; then
    echo "run.sh: run this from its recipe dir: cd egs/wsj0_2mix && ./run.sh" >&2
    exit 1
fi
. ./path.sh
. ./cmd.sh
. ./db.sh

# recipe options
wsj0="${WSJ0}"               # WSJ0 dir (holding wsj0/si_tr_s, ...); needed by stage 1
mix_lists="${WSJ0_MIX_LISTS}" # dir with mix_2_spk_*.txt or the official zip; empty: download
fs=8000                      # 8000 or 16000
mode=min                     # min (cut to the shortest source) or max (pad to the longest)
levels=                      # optional table(s) of precomputed active levels ('<utt> <level>')
corpus_dir=                  # audio output (default: dump/wsj0-2mix)
spk2gender=                  # speaker genders (default: WSJ0's wsj0/doc/spkrinfo.txt when present)
sph2pipe=                    # sph2pipe binary (default: sph2pipe on PATH); needed for WSJ0's compressed .wv1
max_mixtures=                # N: only the first N lines of each mix list (quick trials)

# options of stages 2-5 (see tools/recipe_stages.sh)
stage=1
stop_stage=5
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
corpus_dir=${corpus_dir:-dump/wsj0-2mix}
data_dir=${data_dir:-data/wav$((fs / 1000))k_${mode}${max_mixtures:+_first${max_mixtures}}}
setup_common
log "recipe wsj0_2mix: data ${data_dir}, exp ${expdir}, stages ${stage}-${stop_stage}, ${nj} job(s), device ${device}"

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
        log "stage 1: building wsj0-2mix (${fs} Hz, ${mode}) from ${wsj0} -> ${corpus_dir}, ${data_dir}"
        run_log_filter='wsj0-2mix .*(100%)|error|missing|found' run_log "exp/logs/stage1_data_wav$((fs / 1000))k_${mode}.log" \
            python local/prepare_data.py --wsj0 "${wsj0}" --out "${corpus_dir}" --data-dir "${data_dir}" \
            --num-spk 2 --fs "${fs}" --mode "${mode}" --nj "${nj}" ${opts[@]+"${opts[@]}"}
        mark_done "${data_dir}"
    fi
fi

run_common_stages
log "done"
