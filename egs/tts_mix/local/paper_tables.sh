#!/usr/bin/env bash
# The four tables of the deep clustering paper (Hershey et al., ICASSP 2016) on
# the built-in corpus, written into docs/results.md.
#
#   cd egs/tts_mix && local/paper_tables.sh            # everything (about 1.5 h on 2 busy CPU cores)
#   local/paper_tables.sh --models "k40"               # only the main model (Tables 1 and 3, part of Table 4)
#   local/paper_tables.sh --stage 2                    # only gather the tables from the exp dirs
#   nice -n 15 local/paper_tables.sh --nj 1            # on a shared machine
#
# Stage 1 runs ./run.sh once per model (corpus conf/tables/data.yaml, configs
# conf/tables/train_<model>.yaml, exp dirs exp/dc_tables_<model>), with the
# test sets and decoding methods its tables need; stage 2 collects the scores
# (local/paper_tables.py) into --out. Every step skips work already done, so
# an interrupted run continues where it stopped. Options: --name value.
#
# Models (--models, in this order by default):
#   k40          conf/tables/train_k40.yaml: K = 40, tanh, 3 epochs. Table 1 (oracle /
#                global k-means, oracle / global spectral, closed and open speakers),
#                Table 3, Table 4 (2-speaker model on 3-speaker mixtures), and the
#                IBM / IRM ceilings
#   sweep_k40_3spk   conf/tables/sweep/train_k40.yaml (1 epoch) trained on 3-speaker
#                mixtures: Table 4
#   sweep_k40 sweep_k5 sweep_k20 sweep_k40_logistic sweep_k10 sweep_k60
#                conf/tables/sweep/*.yaml, 1 epoch each: Table 2 (embedding
#                dimension, logistic output); sweep_k40 also in Table 4
set -euo pipefail

if [[ ! -x ./run.sh || ! -f ./local/paper_tables.py ]]; then
    echo "paper_tables.sh: run this from egs/tts_mix: cd egs/tts_mix && local/paper_tables.sh" >&2
    exit 1
fi

stage=1
stop_stage=2
nj=2
models="k40 sweep_k40_3spk sweep_k40 sweep_k5 sweep_k20 sweep_k40_logistic sweep_k10 sweep_k60"
data_config=conf/tables/data.yaml
out=../../docs/results.md
. ./path.sh
. "${DCSEP_ROOT}/tools/parse_options.sh"
. "${DCSEP_ROOT}/tools/recipe_utils.sh"

common=(--size tables --data_config "${data_config}" --nj "${nj}")
two="tt_closed_2spk tt_2spk"
three="tt_closed_3spk tt_3spk"

# run_model MODEL: train and evaluate one model through ./run.sh
run_model() {
    local m=$1 t0
    t0=$(date +%s)
    case ${m} in
        k40)
            ./run.sh "${common[@]}" --stage 1 --train_config conf/tables/train_k40.yaml --tag dc_tables_k40 \
                --test_sets "${two}" --decode_methods "oracle_kmeans oracle_spectral kmeans spectral ibm irm"
            # the 2-speaker model on 3-speaker mixtures: 3 clusters (the reference dirs' number of sources)
            ./run.sh "${common[@]}" --stage 4 --train_config conf/tables/train_k40.yaml --tag dc_tables_k40 \
                --test_sets "${three}" --decode_methods "oracle_kmeans kmeans ibm irm"
            ;;
        sweep_k40_3spk)
            ./run.sh "${common[@]}" --stage 2 --train_num_spk 3 --train_config conf/tables/sweep/train_k40.yaml \
                --tag dc_tables_sweep_k40_3spk --test_sets "${three}" --decode_methods "oracle_kmeans kmeans"
            ;;
        sweep_k40)
            ./run.sh "${common[@]}" --stage 2 --train_config conf/tables/sweep/train_k40.yaml --tag dc_tables_sweep_k40 \
                --test_sets "tt_2spk ${three}" --decode_methods "oracle_kmeans kmeans"
            ;;
        sweep_k5 | sweep_k10 | sweep_k20 | sweep_k60 | sweep_k40_logistic)
            ./run.sh "${common[@]}" --stage 2 --train_config "conf/tables/sweep/train_${m#sweep_}.yaml" \
                --tag "dc_tables_${m}" --test_sets "tt_2spk" --decode_methods "oracle_kmeans kmeans"
            ;;
        *) die "unknown model '${m}'; choose from k40 sweep_k40_3spk sweep_k40 sweep_k5 sweep_k10 sweep_k20 sweep_k60 sweep_k40_logistic" ;;
    esac
    log "model ${m}: $(($(date +%s) - t0)) s"
}

if want_stage 1; then
    for m in ${models}; do
        # the corpus (stage 1 of run.sh) comes first with k40; other models need it too
        if [[ ${m} != k40 && ! -f data/tables/.done ]]; then
            ./run.sh "${common[@]}" --stage 1 --stop_stage 1 --train_config conf/tables/train_k40.yaml
        fi
        run_model "${m}"
    done
fi

if want_stage 2; then
    python local/paper_tables.py --exp-root exp --data-dir data/tables --out "${out}"
    log "tables: ${out}"
fi
