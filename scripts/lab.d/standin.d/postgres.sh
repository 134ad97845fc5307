# shellcheck shell=bash
# standin.d/postgres.sh: the PostgreSQL server and client stand-ins, sourced by bin/standin (its H, tool, lab_* in scope)
# Each host's PostgreSQL is a real server (the machine's own binaries) run as opsh-lab, laid out
# as Debian lays out /etc/postgresql/VERSION/main: $PGC/etc (config_file, hba_file, ident_file,
# conf.d), $PGC/data (data_directory), $PGC/run (socket directory, server log). The clients are
# the real ones, pointed at that socket; see scripts/lab.d/README.md for what is translated.
PGC=$H/postgres
pg_installed() { [[ -r $H/packages ]] && grep -qxE 'postgresql(-[0-9]+)?' "$H/packages"; }
pg_addr() { REPLY=127.0.0.$(( ${OPSH_LAB_HOST#lab-} + 1 )); }
pg_running() { "$LAB_PG_BIN/pg_ctl" -D "$PGC/etc" status > /dev/null 2>&1; }
pg_cluster() { # the cluster Debian's postinst would create, once
    [[ -s $PGC/data/PG_VERSION ]] && return 0
    mkdir -p "$PGC/etc/conf.d" "$PGC/run" || return 1
    rm -rf "$PGC/data"
    if ! "$LAB_PG_BIN/initdb" -D "$PGC/data" -U postgres -A trust -E UTF8 --locale=C --no-sync > "$PGC/run/initdb.log" 2>&1; then
        cat "$PGC/run/initdb.log" >&2; rm -rf "$PGC/data"; return 1
    fi
    mv -f "$PGC/data/pg_ident.conf" "$PGC/etc/pg_ident.conf"
    rm -f "$PGC/data/postgresql.conf" "$PGC/data/pg_hba.conf"
    cat > "$PGC/etc/postgresql.conf" << CONF
# ${OPSH_LAB_HOST}'s PostgreSQL (opsh lab): where Debian's /etc/postgresql/VERSION/main would be
data_directory = '$PGC/data'
hba_file = '$PGC/etc/pg_hba.conf'
ident_file = '$PGC/etc/pg_ident.conf'
port = $LAB_PG_PORT
unix_socket_directories = '$PGC/run'
listen_addresses = 'localhost'
max_connections = 20
shared_buffers = 16MB
fsync = off
include_dir = 'conf.d'
CONF
    cat > "$PGC/etc/pg_hba.conf" << 'CONF'
# Debian's default access rules
local   all             postgres                                peer
local   all             all                                     peer
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
CONF
}
pg_setting() { "$LAB_PG_BIN/postgres" -D "$PGC/etc" -C "$1" 2> /dev/null; }
pg_peer_as_trust() { # every process here is opsh-lab: the clients stand in for peer (see pg_client)
    local hba; hba=$(pg_setting hba_file)
    [[ -f $hba ]] && sed -i -E 's/^([[:space:]]*local[[:space:]].*[[:space:]])(peer|ident)([[:space:]].*)?$/\1trust  # opsh lab: \2, checked by the lab clients/' "$hba"
    return 0
}
pg_server() { # VERB: what the postgresql unit does to this host's server
    pg_installed || return 0
    lab_lock
    case $1 in
        start|restart|try-restart|reload-or-restart|try-reload-or-restart|force-reload|condrestart)
            pg_cluster || return 1
            if pg_running; then
                [[ $1 == start ]] && return 0
                "$LAB_PG_BIN/pg_ctl" -D "$PGC/etc" -m fast -w stop > /dev/null 7>&- || return 1
            fi
            pg_peer_as_trust
            # hosts share this machine: 'localhost' binds no TCP at all (it would not be
            # reachable from another host either), anything else binds this host's address
            local listen=''
            case $(pg_setting listen_addresses) in ''|localhost|127.0.0.1|::1|'localhost,::1'|'127.0.0.1,::1') ;; *) pg_addr; listen=$REPLY ;; esac
            if ! "$LAB_PG_BIN/pg_ctl" -D "$PGC/etc" -w -t 30 -l "$PGC/run/server.log" \
                -o "-c listen_addresses='$listen' -c port=$LAB_PG_PORT -c unix_socket_directories='$PGC/run'" \
                start > /dev/null 7>&-; then
                echo "Job for postgresql.service failed (opsh lab: see $PGC/run/server.log):" >&2
                tail -n 5 "$PGC/run/server.log" >&2; return 1
            fi ;;
        reload)
            pg_running || return 0
            pg_peer_as_trust
            "$LAB_PG_BIN/pg_ctl" -D "$PGC/etc" reload > /dev/null 7>&- ;;
        stop)
            pg_running || return 0
            "$LAB_PG_BIN/pg_ctl" -D "$PGC/etc" -m fast -w stop > /dev/null 7>&- ;;
    esac
}
pg_version() { REPLY=${LAB_PG_BIN%/bin}; REPLY=${REPLY##*/}; }    # the machine's major version
pg_instance() { pg_version; [[ $1 == "postgresql@$REPLY-main" ]]; }  # the cluster the package made

# hooks of the apt and systemctl stand-ins (apt.sh, systemd.sh) for Debian's packages and units:
# the server package's postinst creates the main cluster (its units then start it), its prerm
# stops it (the cluster's files stay, as with remove); `postgresql` is the umbrella unit (a
# oneshot that stays active, standin.d/ubuntu.sh) whose start/stop/restart/reload reach its
# cluster; postgresql@VER-main is the cluster itself, active while the server really runs.
pg_postinst() { lab_lock; pg_cluster; }
pg_prerm() { pg_server stop; }
pkg_postinst_postgresql() { pg_postinst; }
pkg_postinst_postgresql-14() { pg_postinst; }
pkg_postinst_postgresql-15() { pg_postinst; }
pkg_postinst_postgresql-16() { pg_postinst; }
pkg_prerm_postgresql() { pg_prerm; }
pkg_prerm_postgresql-14() { pg_prerm; }
pkg_prerm_postgresql-15() { pg_prerm; }
pkg_prerm_postgresql-16() { pg_prerm; }
unit_exec_postgresql() { pg_server "$1"; }
unit_exec_postgresql@() { pg_instance "$2" || return 1; pg_server "$1"; }
unit_active_postgresql@() { pg_instance "$1" && pg_running; }

pg_client() { # the real client against this host's server, as the effective user
    lab_record "$tool" "$@"
    # the server cannot see who the lab's one OS user stands for: the client connects as the
    # effective user (postgres under `sudo -u postgres`, opsh-lab when logged in), as peer would
    export PGHOST=${PGHOST:-$PGC/run} PGPORT=${PGPORT:-$LAB_PG_PORT} PGUSER=${PGUSER:-$LAB_AS}
    # Ubuntu's homes are 0750: a tool sudo'd to postgres from the login user's home warns
    if [[ $LAB_AS == postgres && -n ${HOME:-} && ( $PWD == "$HOME" || $PWD == "$HOME"/* ) ]]; then
        echo "could not change directory to \"$PWD\": Permission denied" >&2
    fi
    # under sudo, -f/--file paths live in the host's fake root (pg_dump writes, psql reads)
    local mode=r a next=0 args=()
    [[ $tool == pg_dump ]] && mode=w
    for a in "$@"; do
        if ((next)); then lab_sudo_$mode "$a"; args+=("$REPLY"); next=0; continue; fi
        case $a in
            -f|--file) next=1; args+=("$a") ;;
            --file=*) lab_sudo_$mode "${a#*=}"; args+=("--file=$REPLY") ;;
            *) args+=("$a") ;;
        esac
    done
    exec "$LAB_PG_BIN/$tool" "${args[@]}"
}

# the tool names bin/standin answers to (scripts/lab links one stand-in per tool_NAME)
tool_psql() { pg_client "$@"; }
tool_createdb() { pg_client "$@"; }
tool_createuser() { pg_client "$@"; }
tool_dropdb() { pg_client "$@"; }
tool_pg_dump() { pg_client "$@"; }
tool_pg_isready() { pg_client "$@"; }
