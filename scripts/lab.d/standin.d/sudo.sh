# shellcheck shell=bash
# standin.d/sudo.sh: the sudo stand-in, sourced by bin/standin (its H, tool, lab_* in scope)
# A target user (-u) must exist on the host, as sudo looks it up in /etc/passwd: root, the login
# user, the base image's users and cloud-init's (standin.d/ubuntu.sh), and the users the installed
# packages create (pkg_users). No runbook creates users, so useradd/adduser are not stand-ins.

sudo_user_known() { # USER
    local u=$1 p x
    [[ $u == root || $u == opsh-lab || $u =~ ^#[0-9]+$ ]] && return 0
    for p in "${UBUNTU_BASE_USERS[@]}"; do [[ $u == "$p" ]] && return 0; done
    while IFS= read -r p; do
        for x in $(pkg_users "$p"); do [[ $x == "$u" ]] && return 0; done
    done < <(host_packages)
    return 1
}
# The account scripts/lab's real sudo rule names: sudo to it is Debian's own sudo, which asks for
# and checks the login user's password (scripts/lab ensure_real_sudo).
REAL_SUDO_TARGET=opsh-lab-svc
do_sudo() {
    local user=root shell=0 login=0 a b j c val orig=("$@")
    while (($#)); do
        a=$1
        case $a in
            --) shift; break ;;
            --user=*) user=${a#*=}; shift; continue ;;
            --login) login=1; shift; continue ;;
            --shell) shift; shell=1; continue ;;
            --list) echo "User opsh-lab may run the following commands on ${OPSH_LAB_HOST:-lab}:"
                    echo "    (ALL : ALL) NOPASSWD: ALL"; return 0 ;;
            --*) shift; continue ;;
            -?*) ;;
            *) break ;;
        esac
        shift
        b=${a#-}
        for ((j = 0; j < ${#b}; j++)); do
            c=${b:j:1}
            case $c in
                u|g|p|C|D|h|r|t|T|U)
                    val=${b:j+1}
                    if [[ -z $val ]]; then val=${1-}; shift || true; fi
                    [[ $c == u ]] && user=$val
                    break ;;
                i) login=1 ;;
                s) shell=1 ;;
                v|k|K) (($# == 0)) && { lab_record sudo "-$b"; return 0; } ;;
                l) echo "User opsh-lab may run the following commands on ${OPSH_LAB_HOST:-lab}:"
                   echo "    (ALL : ALL) NOPASSWD: ALL"; return 0 ;;
                n|H|E|P|S|A|b|B|N) ;;
                *) echo "sudo: invalid option -- '$c'" >&2; return 1 ;;
            esac
        done
    done
    if [[ $user == "$REAL_SUDO_TARGET" ]]; then
        LAB_AS=$user lab_record sudo "$@"
        exec /usr/bin/sudo "${orig[@]}"
    fi
    local envs=()
    while (($#)) && [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; do envs+=("$1"); shift; done
    LAB_AS=$user lab_record sudo "${envs[@]}" "$@"
    sudo_user_known "$user" || { echo "sudo: unknown user $user" >&2; return 1; }
    local path=$PATH
    [[ :$path: == *":$OPSH_LAB_DIR/sudo-tools:"* ]] || path=$OPSH_LAB_DIR/sudo-tools:$path
    if (($# == 0)); then
        if ((shell || login)); then set -- /bin/sh; else echo "usage: sudo [-n] [-u user] [-H] [-E] command [args]" >&2; return 1; fi
    elif ((shell || login)); then
        lab_join "$@"; set -- /bin/sh -c "$REPLY"
    fi
    if [[ $1 != */* ]] && ! PATH=$path command -v -- "$1" > /dev/null; then
        echo "sudo: $1: command not found" >&2; return 1
    fi
    exec env "${envs[@]}" OPSH_LAB_AS="$user" SUDO_USER=opsh-lab USER="$user" LOGNAME="$user" PATH="$path" "$@"
}

# the tool names bin/standin answers to (scripts/lab links one stand-in per tool_NAME)
tool_sudo() { do_sudo "$@"; }
