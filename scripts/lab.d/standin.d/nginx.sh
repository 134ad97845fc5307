# shellcheck shell=bash
# standin.d/nginx.sh: the nginx stand-in and the nginx package/unit hooks, sourced by bin/standin
# (its H, tool, lab_* in scope).
# `nginx -t` is the machine's real nginx (Debian's, installed by `scripts/lab up` and never
# started) reading this host's /etc/nginx: it runs in namespaces of its own (unshare: a user, a
# mount and a network namespace), where the host's fake-root /etc/nginx is mounted over
# /etc/nginx and, for root, the host's log, temp and pid directories over /var/log/nginx,
# /var/lib/nginx and /run. Its network namespace has no interface but a downed loopback, so the
# sockets the check binds reach nothing, and names resolve from /etc/hosts only. The server
# itself never runs: its state is services/nginx, as for every unit. See scripts/lab.d/README.md.
NGX=$H/nginx
NGX_ETC=$H/root/etc/nginx
NGX_PRISTINE=$OPSH_LAB_DIR/lib/nginx-etc     # Debian's /etc/nginx, as the package installs it
NGX_BIN=/usr/sbin/nginx

ngx_state() { if [[ -r $NGX/state ]]; then REPLY=$(< "$NGX/state"); else REPLY=''; fi; }
ngx_installed() { ngx_state; [[ $REPLY == installed ]]; }
ngx_running() { [[ -r $H/services/nginx && $(< "$H/services/nginx") == running ]]; }

# ngx_real ARGS...: the real nginx with ARGS against this host's config. Root (the effective
# user) gets the host's log/temp/pid directories; anyone else meets the machine's own, which
# only root may write, and so fails as `nginx -t` without sudo does on Ubuntu.
ngx_real() {
    local as_root=0 etc=$NGX_ETC
    [[ $LAB_AS == root ]] && as_root=1
    mkdir -p "$NGX/log" "$NGX/lib" "$NGX/run" "$NGX/none" || return 1
    [[ -d $etc ]] || etc=$NGX/none     # a host that deleted /etc/nginx has none
    rm -f "$NGX/run/nginx.pid"
    local err=$NGX/run/stderr.$$ rc=0
    # Inside: root of the first user namespace mounts, then a second one maps the lab user to
    # itself, so nginx runs as an ordinary user (as root it would chown its temp directories
    # to www-data, a user the namespace cannot map). ip_unprivileged_port_start=0 lets it bind
    # port 80 in its own network namespace; ip_nonlocal_bind any address a config names.
    # shellcheck disable=SC2016
    /usr/bin/unshare --user --map-root-user --mount --net -- /bin/bash -c '
        set -e
        etc=$1 as_root=$2 state=$3 uid=$4 gid=$5; shift 5
        /usr/bin/mount --bind "$etc" /etc/nginx
        if [[ $as_root == 1 ]]; then
            /usr/bin/mount --bind "$state/log" /var/log/nginx
            /usr/bin/mount --bind "$state/lib" /var/lib/nginx
            /usr/bin/mount --bind "$state/run" /run
        fi
        echo 0 > /proc/sys/net/ipv4/ip_unprivileged_port_start
        echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind
        { echo 1 > /proc/sys/net/ipv6/ip_nonlocal_bind; } 2> /dev/null || true
        exec /usr/bin/unshare --user --map-user="$uid" --map-group="$gid" -- "$0" "$@"
    ' "$NGX_BIN" "$etc" "$as_root" "$NGX" "$(id -u)" "$(id -g)" "$@" 2> "$err" || rc=$?
    rm -f "$NGX/run/nginx.pid"
    if ((as_root)); then
        # nginx runs unprivileged here: its notice that `user` needs root is the lab's, not the host's
        grep -vE '\[warn\] [0-9]+#[0-9]+: the "user" directive makes sense only if the master process runs with super-user privileges' "$err" >&2
    else
        cat "$err" >&2
    fi
    rm -f "$err"
    return $rc
}

# ngx_check: the config test systemd's nginx.service runs (ExecStartPre: nginx -t -q), as root
ngx_check() { LAB_AS=root ngx_real -t -q -g 'daemon on; master_process on;'; }

do_nginx() {
    lab_record "$tool" "$@"
    if ! ngx_installed; then
        if [[ -n ${OPSH_LAB_AS:-} ]]; then echo "sudo: nginx: command not found" >&2; return 1; fi
        echo "nginx: command not found" >&2; return 127
    fi
    # which mode: a config test, a signal, info flags only, or starting the server
    local a b j c mode=start info=0 signal='' args=() next=''
    for a in "$@"; do
        if [[ -n $next ]]; then
            case $next in
                s) signal=$a ;;
                c) if [[ $a != /etc/nginx/* ]]; then lab_sudo_r "$a"; a=$REPLY; fi ;;
                e) if [[ $a != stderr && $a != /var/log/nginx/* ]]; then lab_sudo_w "$a"; a=$REPLY; fi ;;
            esac
            args+=("$a"); next=''; continue
        fi
        args+=("$a")
        [[ $a == -?* ]] || continue
        b=${a#-}
        for ((j = 0; j < ${#b}; j++)); do
            c=${b:j:1}
            case $c in
                v|V|h|'?') info=1 ;;
                t|T) mode=test ;;
                s|c|e|g|p)
                    if ((j + 1 < ${#b})); then [[ $c == s ]] && signal=${b:j+1}
                    else next=$c; fi
                    break ;;
            esac
        done
    done
    if [[ $mode == start ]]; then
        if [[ -n $signal ]]; then mode=signal; elif ((info)); then mode=info; fi
    fi
    case $mode in
        # -v/-V/-h print and exit before reading any config
        info) exec "$NGX_BIN" "$@" ;;
        test) ngx_real "${args[@]}" ;;
        signal)
            # the signaller reads the config first (a bad one fails here; unprivileged, the pid
            # file already does), then signals the master: here, the unit's state
            ngx_real -t -q || return 1
            if ! ngx_running; then
                echo 'nginx: [error] open() "/run/nginx.pid" failed (2: No such file or directory)' >&2; return 1
            fi
            case $signal in
                stop|quit) echo stopped > "$H/services/nginx" ;;
                reload|reopen) ;;
                *) echo "nginx: invalid option: \"-s $signal\"" >&2; return 1 ;;
            esac ;;
        start)
            # the lab never runs the server: a config that passes the test marks it running
            if [[ $LAB_AS != root ]]; then ngx_real -t "${args[@]}"; return 1; fi
            ngx_real -t -q "${args[@]}" || return 1
            if ngx_running; then
                echo 'nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)' >&2
                echo 'nginx: [emerg] still could not bind()' >&2; return 1
            fi
            echo running > "$H/services/nginx" ;;
    esac
}

# ----- package and unit hooks (called by the apt and systemctl stand-ins) -----
# Installing nginx gives the host Debian's /etc/nginx (its absolute links into /etc/nginx made
# to point at the host's copy, as the fake root's `ln` does), enables the unit and starts it
# after a config test, as Debian's postinst does. Installed already: nothing (apt does nothing).
# After `remove` the config stays (dpkg keeps conffiles) and a later install keeps it.
ngx_postinst() {
    ngx_state
    [[ $REPLY == installed ]] && return 0
    mkdir -p "$NGX/log" "$NGX/lib" "$NGX/run" || return 1
    if [[ $REPLY != config-files || ! -d $NGX_ETC ]]; then
        [[ -r $NGX_PRISTINE/nginx.conf ]] || { echo "opsh lab: $NGX_PRISTINE is missing (run scripts/lab up)" >&2; return 1; }
        rm -rf "$NGX_ETC"; mkdir -p "${NGX_ETC%/*}"
        cp -R -P --preserve=mode,timestamps "$NGX_PRISTINE" "$NGX_ETC" || return 1
        local l t
        while IFS= read -r -d '' l; do
            t=$(readlink "$l")
            [[ $t == /etc/nginx/* ]] && ln -sfn "$H/root$t" "$l"
        done < <(find "$NGX_ETC" -type l -print0)
    fi
    echo installed > "$NGX/state"
    echo enabled > "$H/services/nginx.enabled"
    if ! ngx_check 2>> "$NGX/journal"; then
        echo "Job for nginx.service failed because the control process exited with error code." >&2
        echo 'invoke-rc.d: initscript nginx, action "start" failed.' >&2
        return 1
    fi
    echo running > "$H/services/nginx"
}
ngx_prerm() { # [remove|purge]
    ngx_installed || [[ ${1:-} == purge ]] || return 0
    echo stopped > "$H/services/nginx"
    if [[ ${1:-} == purge ]]; then rm -rf "$NGX_ETC" "$NGX/state"; else echo config-files > "$NGX/state"; fi
}
# systemctl start/restart/reload nginx: what nginx.service runs first (ExecStartPre `nginx -t`,
# ExecReload `nginx -s reload`, which reads the config too); a bad config fails the job.
unit_pre_nginx() { # VERB
    local verb=$1 running=0
    ngx_installed || return 0
    ngx_running && running=1
    case $verb in
        start) ((running)) && return 0 ;;
        try-restart|try-reload-or-restart|condrestart) ((running)) || return 0 ;;
        reload|force-reload)
            ((running)) || { echo "nginx.service is not active, cannot reload." >&2; return 1; } ;;
        restart|reload-or-restart) ;;
        *) return 0 ;;
    esac
    ngx_check 2>> "$NGX/journal" && return 0
    # a restart stopped the server before the test failed; a failed reload keeps the old one
    [[ $verb == restart || $verb == try-restart || $verb == condrestart ]] && echo stopped > "$H/services/nginx"
    echo "Job for nginx.service failed because the control process exited with error code." >&2
    echo "See \"systemctl status nginx.service\" and \"journalctl -xeu nginx.service\" for details." >&2
    return 1
}

# the packages that ship /usr/sbin/nginx on Debian and Ubuntu
pkg_postinst_nginx() { ngx_postinst; }
pkg_postinst_nginx-core() { ngx_postinst; }
pkg_postinst_nginx-full() { ngx_postinst; }
pkg_postinst_nginx-light() { ngx_postinst; }
pkg_postinst_nginx-extras() { ngx_postinst; }
pkg_prerm_nginx() { ngx_prerm "$@"; }
pkg_prerm_nginx-core() { ngx_prerm "$@"; }
pkg_prerm_nginx-full() { ngx_prerm "$@"; }
pkg_prerm_nginx-light() { ngx_prerm "$@"; }
pkg_prerm_nginx-extras() { ngx_prerm "$@"; }

# the tool names bin/standin answers to (scripts/lab links one stand-in per tool_NAME)
tool_nginx() { do_nginx "$@"; }
