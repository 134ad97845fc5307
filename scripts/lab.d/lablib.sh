# lablib.sh: shared by the opsh lab stand-ins (sourced by bash). Installed to $LAB_ROOT/lib.
#
# On a lab host the environment (set by lab-shell) has OPSH_LAB_DIR, OPSH_LAB_HOST,
# OPSH_LAB_HOST_DIR; under the `sudo` stand-in also OPSH_LAB_AS (the target user).
#
# Fake root (honest limits): everything a lab host runs is really the unprivileged user
# opsh-lab on this machine. Under `sudo`, the file tools in $LAB_ROOT/sudo-tools and the
# stand-ins that take paths (git clone/-C, pg_dump -f, psql -f) rewrite absolute paths
# outside $HOME, /tmp, /dev, /proc, /sys and the lab root into $OPSH_LAB_HOST_DIR/root/<path>.
# Reads fall back to the real path when the host has no copy; writes copy the real file up
# first and create missing parent directories. Shell redirections (`sudo sh -c 'echo > /etc/x'`),
# `cd`, and tools that are not wrapped are NOT rewritten: they hit the real machine as the
# unprivileged opsh-lab user and so fail with "Permission denied". /tmp is shared by all hosts.
# Private trees (LAB_PRIVATE_TREES) never fall back to or copy up from the real machine.

: "${OPSH_LAB_DIR:=@LAB_ROOT@}"
if [[ -z ${OPSH_LAB_HOST_DIR:-} || ! -d ${OPSH_LAB_HOST_DIR:-} ]]; then
    echo "${0##*/}: opsh lab stand-in run outside a lab host (OPSH_LAB_HOST_DIR unset)" >&2
    exit 127
fi
LAB_AS=${OPSH_LAB_AS:-opsh-lab}
# this host's real PostgreSQL (see standin): binaries, the lab's server port
LAB_PG_BIN='@PG_BIN@'
LAB_PG_PORT='@PG_PORT@'

# lab_q ARG -> REPLY: ARG quoted for a POSIX shell, like Python's shlex.quote; args holding
# a newline, tab or CR use bash's $'...' so that one record stays on one line.
lab_q() {
    local s=$1 re='^[A-Za-z0-9_@%+=:,./-]+$'
    if [[ -z $s ]]; then REPLY="''"
    elif [[ $s =~ $re ]]; then REPLY=$s
    elif [[ $s == *[$'\n\t\r']* ]]; then
        s=${s//\\/\\\\}; s=${s//\'/\\\'}; s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}; s=${s//$'\r'/\\r}
        REPLY="\$'$s'"
    else REPLY="'${s//\'/\'\\\'\'}'"
    fi
}
lab_join() { # ARGS... -> REPLY: quoted args joined by spaces
    local out='' a
    for a in "$@"; do lab_q "$a"; out+="${out:+ }$REPLY"; done
    REPLY=$out
}
# lab_record TOOL ARGS...: one line "tool<TAB>effective-user<TAB>args" in records.log
lab_record() {
    local tool=$1; shift
    lab_join "$@"
    printf '%s\t%s\t%s\n' "$tool" "$LAB_AS" "$REPLY" >> "$OPSH_LAB_HOST_DIR/records.log"
}

# lab_real TOOL -> REPLY: the machine's own TOOL, the first on PATH after the lab's stand-ins
# and sudo-tools (for stand-ins that record a call and then run the real thing)
lab_real() {
    local d
    local IFS=:
    for d in $PATH; do
        [[ -z $d || $d == "$OPSH_LAB_DIR/stand-ins" || $d == "$OPSH_LAB_DIR/sudo-tools" ]] && continue
        if [[ -x $d/$1 && ! -d $d/$1 ]]; then REPLY=$d/$1; return 0; fi
    done
    return 1
}

# lab_lock: serialise read-modify-write of this host's state files (fd 7, per process)
lab_lock() { exec 7>> "$OPSH_LAB_HOST_DIR/.lock"; flock 7; }
# lab_set_add FILE ITEMS... / lab_set_del FILE ITEMS...: sorted unique one-per-line sets
lab_set_add() {
    local f=$1; shift; lab_lock
    { [[ -r $f ]] && cat "$f"; printf '%s\n' "$@"; } | LC_ALL=C sort -u | grep -v '^$' > "$f.tmp$$" || true
    mv -f "$f.tmp$$" "$f"
}
lab_set_del() {
    local f=$1 x; shift; lab_lock
    local -A del=(); for x in "$@"; do del[$x]=1; done
    : > "$f.tmp$$"
    if [[ -r $f ]]; then while IFS= read -r x; do [[ -n ${del[$x]:-} ]] || printf '%s\n' "$x"; done < "$f" > "$f.tmp$$"; fi
    mv -f "$f.tmp$$" "$f"
}
lab_set_has() { [[ -r $1 ]] && grep -qxF -- "$2" "$1"; }

# ----- fake root -----
lab_is_sys() { # PATH is a system path (absolute, outside the per-host and shared scratch areas)
    local p=$1
    [[ $p == /* ]] || return 1
    case $p in /tmp|/tmp/*|/dev|/dev/*|/proc|/proc/*|/sys|/sys/*) return 1;; esac
    [[ $p == "$OPSH_LAB_DIR" || $p == "$OPSH_LAB_DIR"/* ]] && return 1
    [[ -n ${HOME:-} && ( $p == "$HOME" || $p == "$HOME"/* ) ]] && return 1
    return 0
}
# Trees this machine has only for the lab's own use (Debian's nginx, installed so that `nginx -t`
# can check hosts' configs): a host sees its own copy of them or nothing, never the machine's.
LAB_PRIVATE_TREES=(/etc/nginx)
lab_private() { local t; for t in "${LAB_PRIVATE_TREES[@]}"; do [[ $1 == "$t" || $1 == "$t"/* ]] && return 0; done; return 1; }
lab_map_r() { # where to READ PATH -> REPLY (host copy if any, else the real path)
    REPLY=$1
    lab_is_sys "$1" || return 0
    local f=$OPSH_LAB_HOST_DIR/root$1
    if [[ -e $f || -L $f || ! -e $1 ]] || lab_private "$1"; then REPLY=$f; fi
}
lab_map_w() { # where to WRITE PATH -> REPLY (copy-up + parent dirs in the host's fake root)
    REPLY=$1
    lab_is_sys "$1" || return 0
    local f=$OPSH_LAB_HOST_DIR/root$1
    lab_private "$1" && { REPLY=$f; return 0; }     # no copy-up, no parents made: as on a real host
    if [[ ! -e $f && ! -L $f ]]; then
        if [[ -d $1 || $1 == */ ]]; then mkdir -p -- "$f"     # an existing dir, or "dir/" named as one
        else
            mkdir -p -- "$(dirname -- "$f")"
            [[ -f $1 && -r $1 ]] && cp --preserve=mode -- "$1" "$f" 2> /dev/null
        fi
    fi
    REPLY=$f
}
lab_map_f() { # the host's copy of PATH, no copy-up (rm) -> REPLY
    REPLY=$1
    lab_is_sys "$1" || return 0
    REPLY=$OPSH_LAB_HOST_DIR/root$1
}
# under sudo only: the stand-ins map their path arguments; unprivileged, paths stay real
lab_sudo_r() { if [[ -n ${OPSH_LAB_AS:-} ]]; then lab_map_r "$1"; else REPLY=$1; fi; }
lab_sudo_w() { if [[ -n ${OPSH_LAB_AS:-} ]]; then lab_map_w "$1"; else REPLY=$1; fi; }
