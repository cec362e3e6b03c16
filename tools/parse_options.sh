#!/usr/bin/env bash
# Parse "--name value" / "--name=value" options into shell variables.
#
# Source this file from a script after setting the defaults of its options:
#
#     stage=1
#     train_config=conf/train.yaml
#     . tools/parse_options.sh     # or ../../tools/parse_options.sh
#
# "--train-config x" and "--train_config x" both set train_config (dashes in
# the name become underscores). Only variables that already exist can be set,
# so a typo stops the script with an error instead of being ignored. A
# variable whose default is "true" or "false" only accepts true or false.
# Values are assigned verbatim (never evaluated by the shell). "--help" or
# "-h" prints the script's header comment (its lines starting with "# " after
# the shebang) and the options with their current values, then exits.
# Arguments that do not start with "--" stop option parsing and are left in
# "$@" for the script. Where the script has the options stage and stop_stage
# (tools/recipe_stages.sh), both must be whole numbers with stage <= stop_stage,
# so that a run which would do nothing is an error instead.

__po_usage() {
    if [[ -f ${0} ]]; then
        sed -n '2,/^[^#]/{/^#/!q;s/^# \{0,1\}//;p}' -- "${0}" >&2
    fi
    echo "Options (current values):" >&2
    local __po_n
    for __po_n in ${__po_names}; do
        printf '  --%-24s %s\n' "${__po_n}" "${!__po_n-}" >&2
    done
}

__po_parse() {
    __po_rest=()
    while (($# > 0)); do
        local __po_arg=$1 __po_name __po_value
        case ${__po_arg} in
            -h | --help)
                __po_usage
                exit 0
                ;;
            --)
                shift
                __po_rest+=("$@")
                return 0
                ;;
            --*=*)
                __po_name=${__po_arg%%=*}
                __po_value=${__po_arg#*=}
                shift
                ;;
            --*)
                __po_name=${__po_arg}
                if (($# < 2)); then
                    echo "${0##*/}: error: option ${__po_arg} needs a value" >&2
                    exit 1
                fi
                __po_value=$2
                shift 2
                ;;
            *)
                __po_rest+=("$@")
                return 0
                ;;
        esac
        __po_name=${__po_name#--}
        __po_name=${__po_name//-/_}
        if [[ ! ${__po_name} =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
            echo "${0##*/}: error: invalid option name --${__po_name}" >&2
            exit 1
        fi
        if [[ ${__po_name} == __po_* || " ${__po_names} " != *" ${__po_name} "* ]]; then
            echo "${0##*/}: error: unknown option --${__po_name//_/-} (see --help)" >&2
            exit 1
        fi
        local __po_old=${!__po_name}
        if [[ ${__po_old} == true || ${__po_old} == false ]] && [[ ${__po_value} != true && ${__po_value} != false ]]; then
            echo "${0##*/}: error: option --${__po_name} expects true or false, got '${__po_value}'" >&2
            exit 1
        fi
        printf -v "${__po_name}" '%s' "${__po_value}"
    done
}

# the options a script accepts, for --help: its lower-case, non-exported, non-array variables
__po_names=$(compgen -v | grep -E '^[a-z][a-z0-9_]*$' | while read -r __v; do
    [[ $(declare -p "${__v}" 2> /dev/null) == "declare -"[xaA]* ]] || echo "${__v}"
done | tr '\n' ' ')

__po_check_stages() {
    local __po_n
    for __po_n in stage stop_stage; do
        [[ " ${__po_names} " == *" ${__po_n} "* ]] || return 0
        if [[ ! ${!__po_n} =~ ^[0-9]+$ ]]; then
            echo "${0##*/}: error: option --${__po_n//_/-} expects a stage number, got '${!__po_n}'" >&2
            exit 1
        fi
        printf -v "${__po_n}" '%d' "$((10#${!__po_n}))" # 08 -> 8
    done
    if ((stage > stop_stage)); then
        echo "${0##*/}: error: --stage ${stage} is after --stop-stage ${stop_stage}: no stage to run" >&2
        exit 1
    fi
}

__po_parse "$@"
__po_check_stages
set -- "${__po_rest[@]+"${__po_rest[@]}"}"
unset __po_rest
