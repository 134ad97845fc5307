# shellcheck shell=bash
# standin.d/host.sh: the hostname and lab-path stand-ins, sourced by bin/standin (its H, tool, lab_* in scope)
do_hostname() {
    lab_record "$tool" "$@"
    case ${1:-} in
        -I|-i|--all-ip-addresses|--ip-address) set -f; set -- $SSH_CONNECTION; echo "${3:-127.0.0.1}" ;;
        -d|--domain) echo "lab" ;;
        *) echo "$OPSH_LAB_HOST" ;;
    esac
}
do_lab_path() { # lab-path PATH...: where this host keeps a system path
    local p
    for p in "$@"; do
        [[ $p == /* ]] || p=$PWD/$p
        if lab_is_sys "$p"; then echo "$H/root$p"; else echo "$p"; fi
    done
}

# the tool names bin/standin answers to (scripts/lab links one stand-in per tool_NAME)
tool_hostname() { do_hostname "$@"; }
tool_whoami() { echo "$LAB_AS"; }
tool_lab-record() { [[ $# -ge 1 ]] || { echo "usage: lab-record TOOL [ARGS...]" >&2; exit 2; }; lab_record "$@"; }
tool_lab-path() { do_lab_path "$@"; }
