#!/usr/bin/env bash
# The paper's Table 2 (embedding dimension K = 5, 10, 20, 40, 60 and a logistic
# output) on speechocean762: one ./run.sh per config of conf/table2/ (exp dirs
# exp/dc_table2_<model>), stages 2-5 on the closed and open 2-speaker test sets
# with global and oracle k-means, then local/table2.py gathers the table
# (--models k40_logistic_long adds the logistic model trained twice as long).
# Every model starts from the released 2 x 300 K = 40 model with a fresh output
# layer (the configs' init_model / init_reset), so run stage 1 first and copy it:
#
#   ./run.sh --corpus_dir DIR --stop_stage 1
#   mkdir -p exp/dc_blstm_long && git show 0ff660f:pretrained/speechocean762_dc_blstm/model.pt > exp/dc_blstm_long/model.pt
#   local/table2.sh --corpus_dir DIR                          # every model, then the table
#   local/table2.sh --corpus_dir DIR --models "k5 k60"        # some of them
#   local/table2.sh --stage 2                                 # only gather the table
#
# --ceilings MODEL also decodes the IBM and IRM in that model's exp dir (they do
# not depend on the model); --test_max_utts N as in run.sh (default 300).
# Runs skip work already done, so an interrupted run continues where it stopped.
# Options: --name value.
set -euo pipefail

if [[ ! -x ./run.sh || ! -f ./local/table2.py ]]; then
    echo "table2.sh: run this from egs/speechocean762: cd egs/speechocean762 && local/table2.sh" >&2
    exit 1
fi

stage=1
stop_stage=2
corpus_dir=
models="k40 k5 k10 k20 k60 k40_logistic"
ceilings=k10
test_max_utts=300
threads=       # torch / OpenMP threads per process (empty: torch's default)
nj=2
out=exp/table2/RESULTS.md
. ./path.sh
. "${DCSEP_ROOT}/tools/parse_options.sh"
. "${DCSEP_ROOT}/tools/recipe_utils.sh"

if [[ -n ${threads} ]]; then
    [[ ${threads} =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive number, got '${threads}'"
    export OMP_NUM_THREADS=${threads} MKL_NUM_THREADS=${threads}
fi
for m in ${models}; do
    [[ -f conf/table2/train_${m}.yaml ]] || die "--models: no conf/table2/train_${m}.yaml"
done

if ((stage <= 1 && stop_stage >= 1)); then
    [[ -f exp/dc_blstm_long/model.pt ]] ||
        die "exp/dc_blstm_long/model.pt not found: train it (conf/train_blstm_long.yaml) or put the model" \
            "released until 2026-12-03 there: git show 0ff660f:pretrained/speechocean762_dc_blstm/model.pt"
    corpus_args=()
    [[ -n ${corpus_dir} ]] && corpus_args=(--corpus_dir "${corpus_dir}")
    for m in ${models}; do
        methods="kmeans oracle_kmeans"
        [[ ${m} == "${ceilings}" ]] && methods+=" ibm irm"
        log "table 2: model ${m} (conf/table2/train_${m}.yaml -> exp/dc_table2_${m}; ${methods})"
        ./run.sh "${corpus_args[@]}" --stage 2 --nj "${nj}" \
            --train_config "conf/table2/train_${m}.yaml" --tag "dc_table2_${m}" \
            --test_sets "tt_closed tt" --decode_methods "${methods}" --test_max_utts "${test_max_utts}" ||
            die "model ${m} failed; see exp/dc_table2_${m}/logs"
    done
fi

if ((stage <= 2 && stop_stage >= 2)); then
    python local/table2.py --exp-root exp --out "${out}" || die "cannot gather the table"
fi
