# shellcheck shell=bash
# standin.d/cloud-init.sh: the cloud-init stand-in, sourced by bin/standin (its H, tool, lab_* in scope).
# A lab host freshly given to an instance (bin/route, a new row in routes.tsv) starts with
# cloud-init "running" its first boot, whose apt-get holds the dpkg lock: $H/cloud-init holds
# "running PID" (PID: that apt-get, as apt names it). Nothing runs meanwhile, so nothing ever
# finishes by itself: `cloud-init status --wait`, or an apt-get that waits for the lock
# (-o DPkg::Lock::Timeout=N), finishes it deterministically. No file: cloud-init finished long ago.
CLOUD_INIT_VERSION=24.1.3-0ubuntu3.3

ci_running() { # -> REPLY = the pid of cloud-init's apt-get while cloud-init runs
    REPLY=''
    [[ -r $H/cloud-init ]] || return 1
    local state pid
    read -r state pid < "$H/cloud-init" || return 1
    [[ $state == running ]] || return 1
    REPLY=${pid:-1}
}
ci_finish() { # cloud-init's first boot ends: its apt-get lets go of the dpkg lock
    lab_lock
    printf 'done\n' > "$H/cloud-init.tmp$$" && mv -f "$H/cloud-init.tmp$$" "$H/cloud-init"
}
ci_usage() {
    echo "usage: /usr/bin/cloud-init [-h] [--version] [--debug] [--force] [--all-stages] {init,modules,single,query,features,analyze,devel,collect-logs,clean,status,schema} ..." >&2
}
ci_status() { # status [-l|--long] [-w|--wait] [--format tabular|json|yaml]
    local long=0 wait=0 format=tabular a
    while (($#)); do
        a=$1; shift
        case $a in
            -l|--long) long=1 ;;
            -w|--wait) wait=1 ;;
            -lw|-wl) long=1; wait=1 ;;
            --format) format=${1-}; shift || true ;;
            --format=*) format=${a#*=} ;;
            -h|--help) echo "usage: /usr/bin/cloud-init status [-h] [--format {json,tabular,yaml}] [-l] [-w]"; return 0 ;;
            *) echo "usage: /usr/bin/cloud-init status [-h] [--format {json,tabular,yaml}] [-l] [-w]" >&2
               echo "/usr/bin/cloud-init status: error: unrecognized arguments: $a" >&2; return 2 ;;
        esac
    done
    case $format in tabular|json|yaml) ;; *)
        echo "usage: /usr/bin/cloud-init status [-h] [--format {json,tabular,yaml}] [-l] [-w]" >&2
        echo "/usr/bin/cloud-init status: error: argument --format: invalid choice: '$format' (choose from 'json', 'tabular', 'yaml')" >&2
        return 2 ;;
    esac
    local status=done detail='DataSourceEc2Local'
    if ci_running; then
        if ((wait)); then
            # cloud-init prints a dot per poll while it waits; in the lab the wait ends it
            ci_finish; [[ $format == tabular ]] && printf '.\n'
        else
            status=running detail='Running in stage: modules-final'
        fi
    fi
    case $format in
        json) printf '{\n "boot_status_code": "enabled-by-generator",\n "detail": "%s",\n "errors": [],\n "extended_status": "%s",\n "recoverable_errors": {},\n "status": "%s"\n}\n' "$detail" "$status" "$status" ;;
        yaml) printf 'boot_status_code: enabled-by-generator\ndetail: %s\nerrors: []\nextended_status: %s\nrecoverable_errors: {}\nstatus: %s\n' "$detail" "$status" "$status" ;;
        *)  echo "status: $status"
            if ((long)); then
                printf 'extended_status: %s\nboot_status_code: enabled-by-generator\ndetail:\n%s\nerrors: []\nrecoverable_errors: {}\n' "$status" "$detail"
            fi ;;
    esac
    return 0
}
do_cloud_init() {
    lab_record "$tool" "$@"
    case ${1:-} in
        status) shift; ci_status "$@" ;;
        --version|-v) echo "/usr/bin/cloud-init $CLOUD_INIT_VERSION" ;;
        -h|--help) ci_usage 2>&1 ;;
        init|modules|single|query|features|analyze|devel|collect-logs|clean|schema)
            # real subcommands the lab does not play: say so rather than pretend
            echo "cloud-init $1: not emulated in the opsh lab (only status and --version are)" >&2; return 1 ;;
        '') ci_usage; echo "/usr/bin/cloud-init: error: the following arguments are required: subcommand" >&2; return 2 ;;
        *) ci_usage
           echo "/usr/bin/cloud-init: error: argument subcommand: invalid choice: '$1' (choose from 'init', 'modules', 'single', 'query', 'features', 'analyze', 'devel', 'collect-logs', 'clean', 'status', 'schema')" >&2
           return 2 ;;
    esac
}

# the tool names bin/standin answers to (scripts/lab links one stand-in per tool_NAME)
tool_cloud-init() { do_cloud_init "$@"; }
