# shellcheck shell=bash
# standin.d/systemd.sh: the systemctl / service stand-ins, sourced by bin/standin (its H, tool, lab_* in scope)
svc_name() { local n=${1%.service}; REPLY=${n//\//_}; }
svc_state() { if [[ -r $H/services/$1 ]]; then REPLY=$(< "$H/services/$1"); else REPLY=stopped; fi; }
svc_apply() { # VERB UNIT
    local verb=$1 n st
    svc_name "$2"; n=$REPLY
    svc_state "$n"; st=$REPLY
    if [[ $n == postgresql || $n == postgresql@* ]]; then
        local pv=$verb
        case $verb in enable) pv=''; ((now)) && pv=start ;; disable) pv=''; ((now)) && pv=stop ;; esac
        if [[ -n $pv ]] && ! pg_server "$pv"; then rc=1; return; fi
    fi
    # what the unit runs first (ExecStartPre, ExecReload), where a stand-in family defines unit_pre_NAME
    if declare -F "unit_pre_$n" > /dev/null; then
        local uv=$verb
        if [[ $verb == enable ]]; then uv=''; ((now)) && uv=start; fi
        if [[ -n $uv ]] && ! "unit_pre_$n" "$uv"; then rc=1; return; fi
    fi
    case $verb in
        start|restart|try-restart|reload-or-restart|try-reload-or-restart|force-reload|condrestart)
            echo running > "$H/services/$n" ;;
        reload) echo running > "$H/services/$n" ;;
        stop) echo stopped > "$H/services/$n" ;;
        enable) echo enabled > "$H/services/$n.enabled"; ((now)) && echo running > "$H/services/$n" ;;
        disable) echo disabled > "$H/services/$n.enabled"; ((now)) && echo stopped > "$H/services/$n" ;;
        mask) echo masked > "$H/services/$n.enabled" ;;
        unmask) echo disabled > "$H/services/$n.enabled" ;;
        status)
            echo "● $n.service (opsh lab stand-in)"
            if [[ $st == running ]]; then echo "     Active: active (running)"; else echo "     Active: inactive (dead)"; rc=3; fi ;;
        is-active)
            if [[ $st == running ]]; then echo active; else echo inactive; rc=3; fi ;;
        is-enabled)
            local e=disabled; [[ -r $H/services/$n.enabled ]] && e=$(< "$H/services/$n.enabled")
            echo "$e"; [[ $e == enabled ]] || rc=1 ;;
        is-failed) echo "$([[ $st == running ]] && echo active || echo inactive)"; rc=1 ;;
    esac
}
do_systemctl() {
    lab_record "$tool" "$@"
    local verb='' units=() a quiet=0; now=0; rc=0
    for a in "$@"; do
        case $a in
            --now) now=1 ;;
            -q|--quiet) quiet=1 ;;
            -*) ;;
            *) if [[ -z $verb ]]; then verb=$a; else units+=("$a"); fi ;;
        esac
    done
    local u
    if ((quiet)); then
        for u in "${units[@]}"; do svc_apply "$verb" "$u"; done > /dev/null
    else
        for u in "${units[@]}"; do svc_apply "$verb" "$u"; done
    fi
    case $verb in
        list-units|list-unit-files)
            local f; for f in "$H"/services/*; do [[ -e $f && $f != *.enabled ]] && echo "${f##*/}.service $(< "$f")"; done ;;
    esac
    return $rc
}
do_service() { # service NAME ACTION | service --status-all
    lab_record "$tool" "$@"
    now=0; rc=0
    if [[ ${1:-} == --status-all ]]; then
        local f; for f in "$H"/services/*; do [[ -e $f && $f != *.enabled ]] && echo " [ $([[ $(< "$f") == running ]] && echo + || echo -) ]  ${f##*/}"; done
        return 0
    fi
    [[ $# -ge 2 ]] || { echo "Usage: service < option > | --status-all | [ service_name [ command | --full-restart ] ]" >&2; return 1; }
    local act=$2; [[ $act == --full-restart ]] && act=restart
    svc_apply "$act" "$1"
    return $rc
}

# the tool names bin/standin answers to (scripts/lab links one stand-in per tool_NAME)
tool_systemctl() { do_systemctl "$@"; }
tool_service() { do_service "$@"; }
