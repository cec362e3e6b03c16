#!/usr/bin/env bash
# The four tables of the deep clustering paper (Hershey et al., ICASSP 2016) on
# the built-in corpus, written into docs/results.md.
#
#   cd egs/tts_mix && local/paper_tables.sh              # every model, whole test sets
#   local/paper_tables.sh --models k40 --max_test 30     # the K = 40 model only, first 30 mixtures per test set
#   local/paper_tables.sh --stage 2                      # only gather the tables from the exp dirs
#   nice -n 15 local/paper_tables.sh --threads 1         # on a busy shared machine
#
# Stage 1 runs ./run.sh once per model (corpus conf/tables/data.yaml, configs
# conf/tables/train_<model>.yaml, exp dirs exp/dc_tables_<model>), with the
# test sets and decoding methods its tables need; stage 2 collects the scores
# (local/paper_tables.py) into --out. Every step skips work already done, so
# an interrupted run continues where it stopped. Options: --name value.
#
# Models (--models, in this order by default):
#   k40          K = 40, tanh: Table 1 (oracle / global k-means, oracle / global
#                spectral, closed and open speakers), Table 2, Table 3, Table 4
#                (2-speaker model on 3-speaker mixtures, 3 clusters), and the
#                IBM / IRM ceilings
#   k40_3spk     the same network trained on 3-speaker mixtures: Table 4
#   k5 k20 k40_logistic k10 k60   Table 2 (embedding dimension, logistic output)
#
# --max_test N decodes only the first N mixtures of each 2-speaker test set
# (N/2 of each 3-speaker set), from data/tables_n<N> (subsets of the test sets
# beside links to the training sets); 0: the whole sets.
set -euo pipefail

if [[ ! -x ./run.sh || ! -f ./local/paper_tables.py ]]; then
    echo "paper_tables.sh: run this from egs/tts_mix: cd egs/tts_mix && local/paper_tables.sh" >&2
    exit 1
fi

stage=1
stop_stage=2
nj=2
models="k40 k40_3spk k5 k20 k40_logistic k10 k60"
max_test=0
threads=       # torch / OpenMP threads per process (empty: torch's default)
data_config=conf/tables/data.yaml
out=../../docs/results.md
. ./path.sh
. "${DCSEP_ROOT}/tools/parse_options.sh"
. "${DCSEP_ROOT}/tools/recipe_utils.sh"

[[ ${max_test} =~ ^[0-9]+$ ]] || die "--max_test must be a number, got '${max_test}'"
if [[ -n ${threads} ]]; then
    [[ ${threads} =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive number, got '${threads}'"
    export OMP_NUM_THREADS=${threads} MKL_NUM_THREADS=${threads}
fi
full=data/tables
data=${full}
((max_test > 0)) && data=data/tables_n${max_test}
common=(--size tables --data_config "${data_config}" --nj "${nj}" --data_dir "${data}")
two="tt_closed_2spk tt_2spk"
three="tt_closed_3spk tt_3spk"

# make_subsets: ${data} = links to the training sets of ${full} and the first mixtures of its test sets
make_subsets() {
    [[ ${data} == "${full}" || -f ${data}/.done ]] && return 0
    log "test subsets: ${data} (${max_test} mixtures per 2-speaker set, $((max_test / 2)) per 3-speaker set)"
    python - "${full}" "${data}" "${max_test}" << 'EOF'
import sys
from pathlib import Path

full, sub, n = Path(sys.argv[1]).absolute(), Path(sys.argv[2]), int(sys.argv[3])
sub.mkdir(parents=True, exist_ok=True)
for d in sorted(p for p in full.iterdir() if p.is_dir()):
    target = sub / d.name
    if not d.name.startswith("tt_"):
        if not target.exists():
            target.symlink_to(d)
        continue
    keep_n = n if "2spk" in d.name else max(1, n // 2)
    utts = [line.split(maxsplit=1)[0] for line in (d / "wav.scp").read_text().splitlines() if line.strip()][:keep_n]
    keep = set(utts)
    target.mkdir(exist_ok=True)
    for f in sorted(p for p in d.iterdir() if p.is_file()):
        lines = [l for l in f.read_text().splitlines() if l.split(maxsplit=1)[:1] and l.split(maxsplit=1)[0] in keep]
        (target / f.name).write_text("".join(l + "\n" for l in lines))
EOF
    mark_done "${data}"
}

# run_model MODEL: train and evaluate one model through ./run.sh
run_model() {
    local m=$1 t0
    t0=$(date +%s)
    case ${m} in
        k40)
            ./run.sh "${common[@]}" --stage 2 --train_config conf/tables/train_k40.yaml --tag dc_tables_k40 \
                --test_sets "${two}" --decode_methods "kmeans oracle_kmeans ibm irm spectral oracle_spectral"
            # the 2-speaker model on 3-speaker mixtures: 3 clusters (the reference dirs' number of sources)
            ./run.sh "${common[@]}" --stage 4 --train_config conf/tables/train_k40.yaml --tag dc_tables_k40 \
                --test_sets "${three}" --decode_methods "kmeans oracle_kmeans ibm irm"
            ;;
        k40_3spk)
            ./run.sh "${common[@]}" --stage 2 --train_num_spk 3 --train_config conf/tables/train_k40.yaml \
                --tag dc_tables_k40_3spk --test_sets "${three}" --decode_methods "kmeans oracle_kmeans"
            ;;
        k5 | k10 | k20 | k60 | k40_logistic)
            ./run.sh "${common[@]}" --stage 2 --train_config "conf/tables/train_${m}.yaml" --tag "dc_tables_${m}" \
                --test_sets "tt_2spk" --decode_methods "kmeans oracle_kmeans"
            ;;
        *) die "unknown model '${m}'; choose from k40 k40_3spk k5 k10 k20 k60 k40_logistic" ;;
    esac
    log "model ${m}: $(($(date +%s) - t0)) s"
}

if want_stage 1; then
    # the corpus (stage 1 of run.sh)
    ./run.sh --size tables --data_config "${data_config}" --nj "${nj}" --stage 1 --stop_stage 1 \
        --train_config conf/tables/train_k40.yaml
    make_subsets
    for m in ${models}; do
        run_model "${m}"
    done
fi

if want_stage 2; then
    python local/paper_tables.py --exp-root exp --data-dir "${data}" --out "${out}" \
        --command "cd egs/tts_mix && local/paper_tables.sh --models '${models}' --max_test ${max_test}${threads:+ --threads ${threads}}"
    log "tables: ${out}"
fi
