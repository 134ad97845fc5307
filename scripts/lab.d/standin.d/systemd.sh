# shellcheck shell=bash
# standin.d/systemd.sh: the systemctl / service stand-ins, sourced by bin/standin (its H, tool, lab_* in scope).
# Units exist as on an Ubuntu host (rules: scripts/lab.d/README.md, "Strict systemctl"): the base
# image's, those of the installed packages (standin.d/ubuntu.sh), and unit files in the host's fake
# root ($H/root/{etc,lib,usr/lib}/systemd/system). Unknown verbs, options and units, and changes
# without root, fail with systemctl's messages and exit codes.
# State: $H/services/NAME (running|stopped|failed), NAME.enabled (enabled|disabled|static),
# NAME.masked, NAME.loaded (checksum of the unit file when systemd last loaded it).
# Hooks other stand-in files define (NAME: the unit without .service; an instance such as
# postgresql@15-main falls back to its template's hook, unit_KIND_postgresql@):
#   unit_pre_NAME ACTION UNIT   before start|restart|reload (ExecStartPre, e.g. `nginx -t`); nonzero fails the job
#   unit_exec_NAME ACTION UNIT  the service's own start|stop|restart|reload; nonzero fails the job
#   unit_active_NAME UNIT       whether it really runs (a real process), instead of the state file
# The pre and exec hooks run only when systemd would run something (not for a start of a running
# unit, a reload of a stopped one); their output goes to $H/services/NAME.journal (journalctl -u),
# and systemctl itself reports the failure ("Job for NAME.service failed ...").

SVC_UNIT_DIRS=(etc/systemd/system lib/systemd/system usr/lib/systemd/system)
SVC_TYPES='service socket timer target mount path slice scope device swap automount'
SVC_JOB_VERBS=' start stop reload restart try-restart reload-or-restart try-reload-or-restart force-reload condrestart condstop condreload '
SVC_FILE_VERBS=' enable disable reenable preset mask unmask link revert add-wants add-requires set-default edit preset-all '
SVC_OTHER_ROOT_VERBS=' isolate kill clean freeze thaw set-property bind mount-image reset-failed daemon-reload daemon-reexec log-level log-target service-watchdogs set-environment unset-environment import-environment default rescue emergency halt poweroff reboot kexec exit switch-root suspend hibernate hybrid-sleep suspend-then-hibernate cancel '
SVC_READ_VERBS=' list-units list-automounts list-paths list-sockets list-timers list-unit-files list-dependencies list-jobs list-machines is-active is-failed is-enabled status show cat help get-default show-environment is-system-running '

svc_id() { # ARG -> REPLY: the unit's state name (NAME for NAME.service, else NAME.TYPE), aliases resolved
    local n=${1%.service}
    n=${UBUNTU_UNIT_ALIAS[$n]:-$n}
    REPLY=${n//\//_}
}
svc_full() { # state name -> REPLY: the unit name systemctl prints
    local t=${1##*.}
    if [[ $1 == *.* && " $SVC_TYPES " == *" $t "* ]]; then REPLY=$1; else REPLY=$1.service; fi
}
svc_template() { # NAME -> REPLY: its template (foo@ for foo@bar), or empty
    REPLY=''
    [[ $1 == *@* ]] && REPLY=${1%%@*}@
}
svc_unit_file() { # NAME -> REPLY: its unit file in the host's fake root (a template's for an instance)
    local full d f tmpl
    svc_full "$1"; full=$REPLY
    svc_template "$1"; tmpl=$REPLY
    for d in "${SVC_UNIT_DIRS[@]}"; do
        for f in "$full" ${tmpl:+"$tmpl.${full##*.}"}; do
            if [[ -e $H/root/$d/$f || -L $H/root/$d/$f ]]; then REPLY=$H/root/$d/$f; return 0; fi
        done
    done
    REPLY=''; return 1
}
svc_listed() { # NAME LIST...: NAME (or its template) is one of LIST
    local n=$1 t; shift
    svc_template "$n"; t=$REPLY
    local u; for u in "$@"; do [[ $u == "$n" || ( -n $t && $u == "$t" ) ]] && return 0; done
    return 1
}
svc_package_of() { # NAME -> REPLY: the installed package that brings unit NAME, or empty
    local p
    REPLY=''
    while IFS= read -r p; do
        [[ -n $p ]] || continue
        # shellcheck disable=SC2046
        if svc_listed "$1" $(pkg_units "$p"); then REPLY=$p; return 0; fi
    done < <(host_packages)
    return 1
}
svc_exists() { # NAME: a unit this host has
    svc_listed "$1" "${UBUNTU_BASE_UNITS[@]}" || svc_package_of "$1" > /dev/null || svc_unit_file "$1"
}
svc_hook() { # KIND NAME -> REPLY: the hook function for unit NAME, if a stand-in file defines one
    local t
    REPLY=unit_$1_$2; declare -F "$REPLY" > /dev/null && return 0
    svc_template "$2"; t=$REPLY
    REPLY=unit_$1_$t; [[ -n $t ]] && declare -F "$REPLY" > /dev/null && return 0
    REPLY=''; return 1
}
svc_state() { # NAME -> REPLY: running|stopped|failed (a unit_active hook knows better than the file)
    if svc_hook active "$1"; then
        if "$REPLY" "$1"; then REPLY=running; else REPLY=stopped; fi
        return
    fi
    if [[ -r $H/services/$1 ]]; then REPLY=$(< "$H/services/$1"); else REPLY=stopped; fi
}
svc_state_file() { [[ -f $1 && $1 != *.enabled && $1 != *.masked && $1 != *.loaded && $1 != *.journal ]]; }
svc_set() { echo "$2" > "$H/services/$1"; }
svc_active_word() { # NAME -> REPLY: what is-active prints
    svc_state "$1"
    case $REPLY in running) REPLY=active ;; failed) REPLY=failed ;; *) REPLY=inactive ;; esac
}
svc_enablement() { # NAME -> REPLY: enabled|disabled|static|masked
    if [[ -e $H/services/$1.masked ]]; then REPLY=masked; return; fi
    if [[ -r $H/services/$1.enabled ]]; then REPLY=$(< "$H/services/$1.enabled"); return; fi
    # the base image's units and the packages' are enabled; a unit file someone wrote is not yet
    if svc_listed "$1" "${UBUNTU_BASE_UNITS[@]}" || svc_package_of "$1" > /dev/null; then REPLY=enabled
    elif svc_unit_file "$1" && ! grep -q '^\[Install\]' "$REPLY" 2> /dev/null; then REPLY=static
    else REPLY=disabled; fi
}
svc_stamp() { # FILE -> REPLY: checksum of a unit file and its drop-ins
    REPLY=$(cat "$1" "$1".d/*.conf 2> /dev/null | cksum)
}
svc_loaded_check() { # NAME: systemd loads a unit file on first use; warns when it changed since
    svc_unit_file "$1" || return 0
    local f=$REPLY full; svc_stamp "$f"; local now=$REPLY
    svc_full "$1"; full=$REPLY
    if [[ ! -r $H/services/$1.loaded ]]; then echo "$now" > "$H/services/$1.loaded"; return 0; fi
    [[ $(< "$H/services/$1.loaded") == "$now" ]] && return 0
    echo "Warning: The unit file, source configuration file or drop-ins of $full changed on disk. Run 'systemctl daemon-reload' to reload units." >&2
}
svc_daemon_reload() { # every unit file in the fake root is (re)loaded
    local d f n
    for d in "${SVC_UNIT_DIRS[@]}"; do
        for f in "$H/root/$d"/*; do
            [[ -f $f ]] || continue
            n=${f##*/}; svc_id "$n"; n=$REPLY
            svc_stamp "$f"; echo "$REPLY" > "$H/services/$n.loaded"
        done
    done
}
svc_no_auth() { # VERB UNIT: what polkit answers a user who is not root, without a terminal to ask on
    echo "Failed to $1 $2: Interactive authentication required." >&2
    echo "See system logs and 'systemctl status $2' for details." >&2
    rc=1
}
svc_job_failed() { # UNIT
    echo "Job for $1 failed because the control process exited with error code." >&2
    echo "See \"systemctl status $1\" and \"journalctl -xeu $1\" for details." >&2
    rc=1
}
svc_run() { # ACTION NAME: pre hook (not for stop), then the service's own action; what they
    # print goes to the unit's journal (journalctl -u NAME), as a service's output does
    local action=$1 n=$2 journal=$H/services/$2.journal
    if [[ $action != stop ]] && svc_hook pre "$n"; then
        "$REPLY" "$action" "$n" >> "$journal" 2>&1 || return 1
    fi
    if svc_hook exec "$n"; then "$REPLY" "$action" "$n" >> "$journal" 2>&1 || return 1; fi
    return 0
}
svc_job() { # VERB NAME: one job on one unit
    local verb=$1 n=$2 full st
    svc_full "$n"; full=$REPLY
    if ! svc_exists "$n"; then
        if [[ $verb == stop || $verb == condstop ]]; then echo "Failed to stop $full: Unit $full not loaded." >&2
        else echo "Failed to $verb $full: Unit $full not found." >&2; fi
        rc=5; return
    fi
    if [[ -e $H/services/$n.masked && $verb != stop && $verb != condstop ]]; then
        echo "Failed to $verb $full: Unit $full is masked." >&2; rc=1; return
    fi
    [[ $LAB_AS == root ]] || { svc_no_auth "$verb" "$full"; return; }
    svc_loaded_check "$n"
    svc_state "$n"; st=$REPLY
    local action
    case $verb in
        start) [[ $st == running ]] && return; action=start ;;
        stop|condstop) action=stop ;;
        restart) action=restart ;;
        try-restart|condrestart) [[ $st == running ]] || return; action=restart ;;
        reload|condreload)
            [[ $st == running ]] || { echo "$full is not active, cannot reload." >&2; rc=1; return; }
            action=reload ;;
        reload-or-restart|force-reload) if [[ $st == running ]]; then action=reload; else action=start; fi ;;
        try-reload-or-restart) [[ $st == running ]] || return; action=reload ;;
    esac
    if ! svc_run "$action" "$n"; then
        # a failed reload leaves the service running as it was
        [[ $action == reload ]] || svc_set "$n" failed
        svc_job_failed "$full"; return
    fi
    if [[ $action == stop ]]; then svc_set "$n" stopped; else svc_set "$n" running; fi
}
svc_file_op() { # VERB NAME: enable|disable|reenable|mask|unmask|preset (+ --now)
    local verb=$1 n=$2 full f wanted
    svc_full "$n"; full=$REPLY
    if [[ $verb != mask && $verb != unmask ]] && ! svc_exists "$n"; then
        echo "Failed to $verb unit: Unit file $full does not exist." >&2; rc=1; return
    fi
    [[ $LAB_AS == root ]] || { echo "Failed to $verb unit: Interactive authentication required." >&2; rc=1; return; }
    f=/lib/systemd/system/$full
    if svc_unit_file "$n"; then f=${REPLY#"$H/root"}; fi
    wanted=$( (svc_unit_file "$n" && sed -n 's/^WantedBy=\([^ ]*\).*/\1/p' "$REPLY" | head -n 1) 2> /dev/null)
    svc_enablement "$n"
    case $verb in
        enable|reenable|preset)
            if [[ $REPLY == static ]]; then
                echo "The unit files have no installation config (WantedBy=, RequiredBy=, UpheldBy=," >&2
                echo "Also=, or Alias= settings in the [Install] section, and DefaultInstance= for" >&2
                echo "template units). This means they are not meant to be enabled or disabled using systemctl." >&2
            elif [[ $REPLY != enabled || $verb == reenable ]]; then
                echo "Created symlink /etc/systemd/system/${wanted:-multi-user.target}.wants/$full → $f." >&2
                echo enabled > "$H/services/$n.enabled"
            fi
            ((now)) && svc_job start "$n" ;;
        disable)
            if [[ $REPLY == enabled ]]; then
                echo "Removed \"/etc/systemd/system/${wanted:-multi-user.target}.wants/$full\"." >&2
                echo disabled > "$H/services/$n.enabled"
            fi
            ((now)) && svc_job stop "$n" ;;
        mask)
            [[ -e $H/services/$n.masked ]] || echo "Created symlink /etc/systemd/system/$full → /dev/null." >&2
            : > "$H/services/$n.masked"
            ((now)) && svc_job stop "$n" ;;
        unmask)
            [[ -e $H/services/$n.masked ]] && echo "Removed \"/etc/systemd/system/$full\"." >&2
            rm -f "$H/services/$n.masked" ;;
    esac
}
svc_status() { # NAME
    local n=$1 full f en word sub
    svc_full "$n"; full=$REPLY
    if ! svc_exists "$n"; then echo "Unit $full could not be found." >&2; ((rc == 0 || rc == 3)) && rc=4; return; fi
    svc_loaded_check "$n"
    f=/lib/systemd/system/$full; if svc_unit_file "$n"; then f=${REPLY#"$H/root"}; fi
    svc_enablement "$n"; en=$REPLY
    svc_active_word "$n"; word=$REPLY
    case $word in
        active) sub=running; svc_listed "$n" "${UBUNTU_EXITED_UNITS[@]}" && sub=exited ;;
        failed) sub='Result: exit-code' ;;
        *) sub=dead ;;
    esac
    echo "● $full (opsh lab stand-in)"
    echo "     Loaded: loaded ($f; $en; vendor preset: enabled)"
    echo "     Active: $word ($sub)"
    [[ $word == active ]] || { ((rc == 0)) && rc=3; }
}
svc_show() { # NAME: the properties asked for (-p), as systemctl show prints them
    local n=$1 full word sub en p props
    svc_full "$n"; full=$REPLY
    local load=loaded; svc_exists "$n" || load=not-found
    svc_active_word "$n"; word=$REPLY
    sub=dead; [[ $word == active ]] && sub=running; [[ $word == failed ]] && sub=failed
    svc_enablement "$n"; en=$REPLY; [[ $load == not-found ]] && en=''
    props=${show_props:-Id,LoadState,ActiveState,SubState,UnitFileState,MainPID}
    for p in ${props//,/ }; do
        local v
        case $p in
            Id|Names) v=$full ;; LoadState) v=$load ;; ActiveState) v=$word ;; SubState) v=$sub ;;
            UnitFileState) v=$en ;; MainPID|ExecMainPID) v=0 ;; CanReload) v=yes ;; *) v='' ;;
        esac
        if ((show_value)); then echo "$v"; else echo "$p=$v"; fi
    done
}
svc_cat() { # NAME
    local n=$1 full
    svc_full "$n"; full=$REPLY
    if svc_unit_file "$n"; then echo "# ${REPLY#"$H/root"}"; cat "$REPLY"
    elif svc_exists "$n"; then echo "# /lib/systemd/system/$full"; echo "# (opsh lab stand-in: the package's unit)"
    else echo "No files found for $full." >&2; rc=1; fi
}
svc_list() { # list-units / list-unit-files: this host's units that have state
    local f n
    for f in "$H"/services/*; do
        svc_state_file "$f" || continue
        n=${f##*/}; svc_exists "$n" || continue
        svc_full "$n"; local full=$REPLY
        if [[ $1 == list-unit-files ]]; then svc_enablement "$n"; echo "$full $REPLY"
        else svc_active_word "$n"; echo "$full loaded $REPLY"; fi
    done
}

# systemctl's options that take a value (short, and long without =)
SVC_SHORT_ARG=tpPnosHM
SVC_LONG_ARG=' --type --state --property --lines --output --signal --host --machine --job-mode --kill-whom --kill-value --root --image --image-policy --preset-mode --message --what --boot-loader-menu --boot-loader-entry --reboot-argument --timestamp --check-inhibitors --legend --drop-in --when --kill-who '
SVC_LONG_FLAGS=' --help --version --system --all --recursive --reverse --after --before --with-dependencies --full --value --show-types --show-transaction --ignore-inhibitors --dry-run --quiet --no-warn --wait --no-block --no-wall --no-reload --no-ask-password --global --runtime --now --force --no-pager --no-legend --plain --failed --firmware-setup --mkdir --marked --read-only --no-ask-password '
SVC_SHORT_FLAGS=harlqiTf
do_systemctl() {
    lab_record "$tool" "$@"
    local verb='' units=() a quiet=0 b c j; now=0; rc=0; show_props=''; show_value=0
    while (($#)); do
        a=$1; shift
        case $a in
            --) for a in "$@"; do if [[ -z $verb ]]; then verb=$a; else units+=("$a"); fi; done; break ;;
            --user) echo "systemctl --user: not emulated in the opsh lab (there is no user manager)" >&2; return 1 ;;
            --*=*)
                if [[ $SVC_LONG_ARG != *" ${a%%=*} "* ]]; then echo "systemctl: option '${a%%=*}' doesn't allow an argument" >&2; return 1; fi
                [[ ${a%%=*} == --property ]] && show_props+=${show_props:+,}${a#*=} ;;
            --*)
                if [[ $SVC_LONG_ARG == *" $a "* ]]; then
                    (($#)) || { echo "systemctl: option '$a' requires an argument" >&2; return 1; }
                    [[ $a == --property ]] && show_props+=${show_props:+,}$1
                    shift
                elif [[ $SVC_LONG_FLAGS == *" $a "* ]]; then
                    case $a in --now) now=1 ;; --quiet) quiet=1 ;; --value) show_value=1 ;;
                        --version) echo "systemd 255 (255.4-1ubuntu8)"; return 0 ;; esac
                else echo "systemctl: unrecognized option '$a'" >&2; return 1; fi ;;
            -?*)
                b=${a#-}
                for ((j = 0; j < ${#b}; j++)); do
                    c=${b:j:1}
                    if [[ $SVC_SHORT_ARG == *"$c"* ]]; then
                        local val=${b:j+1}
                        if [[ -z $val ]]; then
                            (($#)) || { echo "systemctl: option requires an argument -- '$c'" >&2; return 1; }
                            val=$1; shift
                        fi
                        [[ $c == p || $c == P ]] && show_props+=${show_props:+,}$val
                        [[ $c == P ]] && show_value=1
                        break
                    elif [[ $SVC_SHORT_FLAGS == *"$c"* ]]; then
                        [[ $c == q ]] && quiet=1
                    else echo "systemctl: invalid option -- '$c'" >&2; return 1; fi
                done ;;
            *) if [[ -z $verb ]]; then verb=$a; else units+=("$a"); fi ;;
        esac
    done
    verb=${verb:-list-units}
    if [[ "$SVC_JOB_VERBS$SVC_FILE_VERBS$SVC_OTHER_ROOT_VERBS$SVC_READ_VERBS" != *" $verb "* ]]; then
        echo "Unknown command verb '$verb'." >&2; return 1
    fi
    case $verb in
        start|stop|reload|restart|try-restart|reload-or-restart|try-reload-or-restart|force-reload|condrestart|condstop|condreload|enable|disable|reenable|mask|unmask|is-active|is-failed|is-enabled|cat|kill|freeze|thaw|clean)
            ((${#units[@]})) || { echo "Too few arguments." >&2; return 1; } ;;
    esac
    local u; ids=()
    for u in "${units[@]}"; do svc_id "$u"; ids+=("$REPLY"); done
    if ((quiet)); then svc_dispatch > /dev/null; else svc_dispatch; fi
    return $rc
}
svc_dispatch() { # the verb (do_systemctl's verb, ids, now, show_*) on its units; sets rc
    local n
    if [[ $SVC_JOB_VERBS == *" $verb "* ]]; then
            for n in "${ids[@]}"; do svc_job "$verb" "$n"; done
        elif [[ $SVC_FILE_VERBS == *" $verb "* ]]; then
            case $verb in
                enable|disable|reenable|preset|mask|unmask) for n in "${ids[@]}"; do svc_file_op "$verb" "$n"; done ;;
                *) [[ $LAB_AS == root ]] || { echo "Failed to $verb unit: Interactive authentication required." >&2; rc=1; } ;;
            esac
        elif [[ $SVC_OTHER_ROOT_VERBS == *" $verb "* ]]; then
            if [[ $LAB_AS != root ]]; then
                if [[ $verb == daemon-reload ]]; then echo "Failed to reload daemon: Interactive authentication required." >&2
                else echo "Failed to $verb: Interactive authentication required." >&2; fi
                rc=1
            elif [[ $verb == daemon-reload ]]; then svc_daemon_reload
            fi
        else
            case $verb in
                status) for n in "${ids[@]}"; do svc_status "$n"; done ;;
                show) for n in "${ids[@]}"; do svc_show "$n"; done ;;
                cat) for n in "${ids[@]}"; do svc_cat "$n"; done ;;
                is-active)
                    local any=0
                    for n in "${ids[@]}"; do svc_active_word "$n"; echo "$REPLY"; [[ $REPLY == active ]] && any=1; done
                    ((any)) || rc=3 ;;
                is-failed)
                    local anyf=0
                    for n in "${ids[@]}"; do svc_active_word "$n"; echo "$REPLY"; [[ $REPLY == failed ]] && anyf=1; done
                    ((anyf)) || rc=1 ;;
                is-enabled)
                    for n in "${ids[@]}"; do
                        svc_full "$n"
                        if ! svc_exists "$n"; then echo "Failed to get unit file state for $REPLY: No such file or directory" >&2; rc=1; continue; fi
                        svc_enablement "$n"; echo "$REPLY"
                        [[ $REPLY == enabled || $REPLY == static ]] || rc=1
                    done ;;
                list-units|list-unit-files) svc_list "$verb" ;;
                is-system-running) echo running ;;
                get-default) echo graphical.target ;;
            esac
        fi
}
do_service() { # service NAME ACTION | service --status-all (Ubuntu's wrapper around systemctl)
    lab_record "$tool" "$@"
    now=0; rc=0
    if [[ ${1:-} == --status-all ]]; then
        local f; for f in "$H"/services/*; do
            svc_state_file "$f" || continue
            svc_state "${f##*/}"; echo " [ $([[ $REPLY == running ]] && echo + || echo -) ]  ${f##*/}"
        done
        return 0
    fi
    [[ $# -ge 2 ]] || { echo "Usage: service < option > | --status-all | [ service_name [ command | --full-restart ] ]" >&2; return 1; }
    local n act=$2
    svc_id "$1"; n=$REPLY
    case $act in
        --full-restart) act=restart ;;
        start|stop|restart|reload|force-reload|try-restart|status) ;;
        *) # service runs other actions through /etc/init.d/NAME, which packaged units have
           if svc_exists "$n" && ! svc_unit_file "$n"; then echo "Usage: /etc/init.d/$1 {start|stop|restart|reload|force-reload|status}" >&2
           else echo "$1: unrecognized service" >&2; fi
           return 1 ;;
    esac
    if [[ $act == status ]]; then svc_status "$n"; else svc_job "$act" "$n"; fi
    return $rc
}

# called by scripts/lab up: the host boots, so each enabled unit that ran when it went down starts
# again through its hooks (units without an exec hook have no process to start)
svc_boot() {
    local f n rc=0
    for f in "$H"/services/*; do
        svc_state_file "$f" || continue
        n=${f##*/}
        [[ $(< "$f") == running ]] && svc_exists "$n" && svc_hook exec "$n" || continue
        svc_enablement "$n"; [[ $REPLY == enabled ]] || continue
        svc_run start "$n" || { svc_set "$n" failed; rc=1; }
    done
    return $rc
}

# called by the apt stand-in: a package's units are enabled and started after its postinst,
# and stopped before it goes (a template's instances are the package's own business)
svc_package_installed() { # PACKAGE
    local u n
    for u in $(pkg_units "$1"); do
        [[ $u == *@ ]] && continue
        svc_id "$u"; n=$REPLY
        rm -f "$H/services/$n.enabled"
        [[ -e $H/services/$n.masked ]] && continue
        svc_full "$n"
        svc_run start "$n" || { svc_set "$n" failed; svc_job_failed "$REPLY"; return 1; }
        svc_set "$n" running
    done
    return 0
}
svc_package_removed() { # PACKAGE
    local u n
    for u in $(pkg_units "$1"); do
        [[ $u == *@ ]] && continue
        svc_id "$u"; n=$REPLY
        svc_run stop "$n" || true
        svc_set "$n" stopped
    done
}

do_journalctl() { # journalctl -u UNIT [-n N] [-x -e -b --no-pager ...]: what the unit's hooks printed
    lab_record "$tool" "$@"
    local units=() lines='' a
    while (($#)); do
        a=$1; shift
        case $a in
            -u|--unit) units+=("${1-}"); shift || true ;;
            --unit=*) units+=("${a#*=}") ;;
            -u?*) units+=("${a#-u}") ;;
            -n|--lines) lines=${1-}; shift || true ;;
            --lines=*) lines=${a#*=} ;;
            -xeu|-eu|-xu) units+=("${1-}"); shift || true ;;
            -x|-e|-b|-f|-q|--no-pager|--catalog|--pager-end|--boot|--quiet) ;;
            *) echo "journalctl: opsh lab stand-in: $a is not emulated (only -u UNIT and -n N)" >&2; return 1 ;;
        esac
    done
    ((${#units[@]})) || { echo "journalctl: opsh lab stand-in: only the journal of a unit (-u UNIT) is kept" >&2; return 1; }
    local u
    for u in "${units[@]}"; do
        svc_id "$u"
        [[ -r $H/services/$REPLY.journal ]] || continue
        if [[ $lines =~ ^[0-9]+$ ]]; then tail -n "$lines" "$H/services/$REPLY.journal"; else cat "$H/services/$REPLY.journal"; fi
    done
    return 0
}

# the tool names bin/standin answers to (scripts/lab links one stand-in per tool_NAME)
tool_systemctl() { do_systemctl "$@"; }
tool_journalctl() { do_journalctl "$@"; }
tool_service() { do_service "$@"; }
