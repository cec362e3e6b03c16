#!/usr/bin/env bash
# Shared shell helpers for dcsep recipes. Source it from run.sh:
#
#     . "${DCSEP_ROOT}/tools/recipe_utils.sh"
#
# log MSG...             timestamped message on stderr: "2024-01-31 12:00:00 (run.sh:42) MSG"
# die MSG...             log MSG and exit 1
# want_stage N           true when stage <= N <= stop_stage (uses $stage, $stop_stage)
# is_done DIR / mark_done DIR
#                        completion markers (DIR/.done) that make stages idempotent
# run_log LOG CMD ARGS...
#                        run CMD with its output appended to LOG; on failure show the
#                        end of LOG and return CMD's status. With verbose=true the
#                        output also goes to the terminal; with run_log_filter=REGEX
#                        (e.g. as a prefix: run_log_filter='epoch' run_log ...) only
#                        the lines that match.
# nproc_default          the number of CPU cores (falls back to 1)
# require_file PATH...   die unless every PATH is an existing file

log() {
    local where="${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}"
    printf '%s (%s) %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "${where}" "$*" >&2
}

die() {
    local where="${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}"
    printf '%s (%s) ERROR: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "${where}" "$*" >&2
    exit 1
}

want_stage() {
    local n=$1
    ((stage <= n && n <= stop_stage))
}

is_done() {
    [[ -f "$1/.done" ]]
}

mark_done() {
    mkdir -p -- "$1"
    date '+%Y-%m-%d %H:%M:%S' > "$1/.done"
}

run_log() {
    local logfile=$1
    shift
    mkdir -p -- "$(dirname -- "${logfile}")"
    {
        printf '# started %s\n# ' "$(date '+%Y-%m-%d %H:%M:%S')"
        printf '%q ' "$@"
        printf '\n'
    } >> "${logfile}"
    local rc=0
    # errexit is off inside a compound command followed by ||, so the status is always read
    if [[ ${verbose:-false} == true ]]; then
        { "$@" 2>&1 | tee -a -- "${logfile}"; rc=${PIPESTATUS[0]}; } || true
    elif [[ -n ${run_log_filter:-} ]]; then
        { "$@" 2>&1 | tee -a -- "${logfile}" | { grep -E --line-buffered -- "${run_log_filter}" >&2 || true; }; rc=${PIPESTATUS[0]}; } || true
    else
        { "$@" >> "${logfile}" 2>&1; rc=$?; } || true
    fi
    if ((rc != 0)); then
        printf '# failed with status %d at %s\n' "${rc}" "$(date '+%Y-%m-%d %H:%M:%S')" >> "${logfile}"
        {
            echo "---- last lines of ${logfile} ----"
            tail -n 25 -- "${logfile}"
            echo "----"
        } >&2
        return "${rc}"
    fi
    printf '# finished %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" >> "${logfile}"
}

nproc_default() {
    nproc 2> /dev/null || getconf _NPROCESSORS_ONLN 2> /dev/null || echo 1
}

require_file() {
    local f
    for f in "$@"; do
        [[ -f ${f} ]] || die "required file not found: ${f}"
    done
}
