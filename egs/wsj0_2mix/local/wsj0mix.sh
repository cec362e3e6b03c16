#!/usr/bin/env bash
# The corpus settings shared by egs/wsj0_2mix and egs/wsj0_3mix (sourced by their run.sh,
# which sets MIX_NUM_SPK first; egs/wsj0_3mix/local/wsj0mix.sh links to this file).

# corpus settings
wsj0="${WSJ0}"               # WSJ0 dir (holding wsj0/si_tr_s, ...); needed by stage 1
mix_lists="${WSJ0_MIX_LISTS}" # dir with mix_<C>_spk_*.txt or the official zip; empty: download
fs=8000                      # 8000 or 16000
mode=min                     # min (cut to the shortest source) or max (pad to the longest)
levels=                      # optional table(s) of precomputed active levels ('<utt> <level>')
corpus_dir=                  # audio output (empty: dump/wsj0-<C>mix)
spk2gender=                  # speaker genders (empty: WSJ0's wsj0/doc/spkrinfo.txt when present)
sph2pipe=                    # sph2pipe binary (empty: sph2pipe on PATH); needed for WSJ0's compressed .wv1
max_mixtures=                # N: only the first N lines of each mix list (quick trials)

# their defaults for the shared options (tools/recipe_stages.sh)
nj=4
train_config=conf/train_paper.yaml
data_dir=                    # empty: data/wav8k_min (from --fs and --mode; _first<N> with --max_mixtures)
test_sets="cv tt"            # cv: closed speaker set, tt: open speaker set

recipe_setup() {
    recipe_name=wsj0_${MIX_NUM_SPK}mix
    [[ ${fs} == 8000 || ${fs} == 16000 ]] || die "--fs must be 8000 or 16000, got '${fs}'"
    [[ ${mode} == min || ${mode} == max ]] || die "--mode must be min or max, got '${mode}'"
    [[ -z ${max_mixtures} || ${max_mixtures} =~ ^[1-9][0-9]*$ ]] || die "--max_mixtures must be a positive integer, got '${max_mixtures}'"
    corpus_dir=${corpus_dir:-dump/wsj0-${MIX_NUM_SPK}mix}
    data_dir=${data_dir:-data/wav$((fs / 1000))k_${mode}${max_mixtures:+_first${max_mixtures}}}
}

# wsj0mix_ready: true (and says so) when stage 1 is done
wsj0mix_ready() {
    is_done "${data_dir}" || return 1
    log "stage 1: data exist: ${data_dir} (remove ${data_dir}/.done to build it again)"
}

# wsj0mix_build: stage 1, local/prepare_data.py (dcsep.data.wsj0mix)
wsj0mix_build() {
    [[ -n ${wsj0} ]] || die "stage 1 needs --wsj0 DIR (the dir that holds wsj0/si_tr_s, wsj0/si_dt_05, wsj0/si_et_05), or WSJ0 in db.sh"
    local opts=()
    [[ -n ${mix_lists} ]] && opts+=(--mix-lists "${mix_lists}")
    [[ -n ${levels} ]] && opts+=(--levels "${levels}")
    [[ -n ${spk2gender} ]] && opts+=(--spk2gender "${spk2gender}")
    [[ -n ${sph2pipe} ]] && opts+=(--sph2pipe "${sph2pipe}")
    [[ -n ${max_mixtures} ]] && opts+=(--max-mixtures "${max_mixtures}")
    run_log_filter="wsj0-${MIX_NUM_SPK}mix .*(100%)|error|missing|found" run_log "exp/logs/stage1_data_wav$((fs / 1000))k_${mode}.log" \
        python local/prepare_data.py --wsj0 "${wsj0}" --out "${corpus_dir}" --data-dir "${data_dir}" \
        --num-spk "${MIX_NUM_SPK}" --fs "${fs}" --mode "${mode}" --nj "${nj}" ${opts[@]+"${opts[@]}"}
    mark_done "${data_dir}"
}
