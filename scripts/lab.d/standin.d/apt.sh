# shellcheck shell=bash
# standin.d/apt.sh: the apt-get / apt / dpkg-query stand-ins, sourced by bin/standin (its H, tool,
# lab_* in scope). Strict as a real Ubuntu host (rules: scripts/lab.d/README.md, "Strict apt"):
#  1. the machine's own apt-get/apt parses the command line, run as the unprivileged lab user, so
#     an unknown verb or option gets apt's own message and exit code, and so does a call that is
#     not root (apt's lock-file permission error) -- it cannot change this machine either way;
#  2. as root: cloud-init's first boot holds the dpkg lock (standin.d/cloud-init.sh) unless the
#     call waits for it (-o DPkg::Lock::Timeout=N);
#  3. package names are checked against the machine's package lists (`apt-get -s`), plus the
#     Ubuntu names in standin.d/ubuntu.sh;
#  4. without -y apt asks "Do you want to continue?", which a session with no terminal aborts;
#  5. an upgrade without --force-confdef/--force-confold meets dpkg's config file prompt.
# Then the host's state changes: $H/packages, and per package the hooks other stand-in files
# define, pkg_postinst_NAME configure / pkg_prerm_NAME remove|purge (nonzero fails the package as
# a failing maintainer script does), and its units (systemd.sh: enabled and started after the
# postinst, stopped after the prerm).

# the lab's binary package cache (scripts/lab builds it): the unprivileged user cannot write
# apt's own, and rebuilding it in memory costs a second per call
APT_LAB_CACHE=$OPSH_LAB_DIR/apt-cache
APT_CACHE_OPTS=(-o "Dir::Cache=$APT_LAB_CACHE" -o Dir::Cache::pkgcache=pkgcache.bin -o Dir::Cache::srcpkgcache=)
APT_DPKG_VERBS=' install reinstall remove purge autoremove auto-remove autopurge upgrade dist-upgrade full-upgrade dselect-upgrade build-dep satisfy check '
APT_UPGRADE_VERBS=' upgrade dist-upgrade full-upgrade '

apt_bool() { # apt's StringToBool
    case ${1,,} in yes|true|with|on|enable|1) return 0 ;; no|false|without|off|disable|0|'') return 1 ;; esac
    [[ $1 =~ ^-?[0-9]+$ ]] && (($1 != 0))
}
apt_config() { # KEY=VALUE given with -o: the settings the lab acts on
    local key=${1%%=*} val=${1#*=}
    [[ $1 == *=* ]] || val=''
    case ${key,,} in
        apt::get::assume-yes) if apt_bool "$val"; then apt_yes=1; else apt_yes=0; fi ;;
        apt::get::assume-no) apt_bool "$val" && apt_yes=0 ;;
        dpkg::lock::timeout) if [[ $val =~ ^-?[0-9]+$ ]]; then apt_lock_timeout=$val; else apt_lock_timeout=0; fi ;;
        dpkg::options::*) apt_dpkg_opts+=" $val " ;;
    esac
}
# apt_parse ARGS: the verb, the package names and the settings the lab acts on. Lenient:
# the real apt has accepted the command line by now.
apt_parse() {
    apt_verb='' apt_names=() apt_yes=0 apt_lock_timeout=0 apt_dpkg_opts=' ' apt_purge=0
    local a b c j val
    while (($#)); do
        a=$1; shift
        case $a in
            --) for a in "$@"; do if [[ -z $apt_verb ]]; then apt_verb=$a; else apt_names+=("$a"); fi; done; break ;;
            --option=*) apt_config "${a#*=}" ;;
            --option) apt_config "${1-}"; shift || true ;;
            --config-file|--target-release|--default-release|--host-architecture|--build-profiles|--solver|--planner|--with-source|--format) shift || true ;;
            --yes|--assume-yes|--force-yes) [[ $a == --force-yes ]] || apt_yes=1 ;;
            --yes=*|--assume-yes=*) if apt_bool "${a#*=}"; then apt_yes=1; else apt_yes=0; fi ;;
            --no-yes|--no-assume-yes|--assume-no) apt_yes=0 ;;
            --purge) apt_purge=1 ;;
            --*) ;;
            -?*)
                b=${a#-}
                for ((j = 0; j < ${#b}; j++)); do
                    c=${b:j:1}
                    case $c in
                        o|c|t|a|P)
                            val=${b:j+1}
                            if [[ -z $val ]]; then val=${1-}; shift || true; fi
                            [[ $c == o ]] && apt_config "$val"
                            break ;;
                        y) apt_yes=1 ;;
                        q) [[ ${b:j+1:1} == = ]] && break ;;
                    esac
                done ;;
            *) if [[ -z $apt_verb ]]; then apt_verb=$a; else apt_names+=("$a"); fi ;;
        esac
    done
    local p names=()
    apt_raw_names=("${apt_names[@]}")
    for p in "${apt_names[@]}"; do p=${p%%=*}; p=${p%%/*}; p=${p%%:*}; [[ -n $p ]] && names+=("$p"); done
    apt_names=("${names[@]}")
}
apt_candidates() { # NAME...: each is a plain name with an install candidate in the lists
    # (apt-cache policy: ~30 ms; names it cannot vouch for go to `apt-get -s`, ~1 s, for apt's own error)
    local n line name='' out
    local -A cand=()
    for n in "$@"; do [[ $n =~ ^[a-z0-9][a-z0-9+.-]*$ ]] || return 1; done
    out=$(LC_ALL=C /usr/bin/apt-cache "${APT_CACHE_OPTS[@]}" policy -- "$@" 2> /dev/null) || return 1
    while IFS= read -r line; do
        if [[ $line =~ ^([^[:space:]]+):$ ]]; then name=${BASH_REMATCH[1]}
        elif [[ -n $name && $line =~ ^\ \ Candidate:\ (.*)$ ]]; then cand[$name]=${BASH_REMATCH[1]}; name=''
        fi
    done <<< "$out"
    for n in "$@"; do [[ -n ${cand[$n]:-} && ${cand[$n]} != '(none)' ]] || return 1; done
}

# apt_real ARGS: the machine's own apt (the tool this stand-in plays), as the unprivileged lab
# user, with the lab's package cache -> apt_out, apt_err, apt_rc. The lines that only say the
# run was unprivileged (the simulation NOTE, the cache it may not remove) are dropped.
apt_real() {
    local err=$H/.apt-err.$$
    apt_out=$(LC_ALL=C LANG=C "/usr/bin/$tool" "${APT_CACHE_OPTS[@]}" "$@" < /dev/null 2> "$err")
    apt_rc=$?
    apt_err=$(grep -vF "W: Problem unlinking the file $APT_LAB_CACHE" "$err")
    rm -f "$err"
    apt_out=$(printf '%s\n' "$apt_out" | grep -vE '^(NOTE: This is only a simulation!|      (apt-get|apt) needs root privileges for real execution\.|      Keep also in mind that locking is deactivated,|      so don.t depend on the relevance to the real current situation!)$')
}
apt_replay() { # what the real apt printed, then its exit code
    [[ -n $apt_out ]] && printf '%s\n' "$apt_out"
    [[ -n $apt_err ]] && printf '%s\n' "$apt_err" >&2
    return "$apt_rc"
}
apt_refused_for_lock() { # the real run stopped only because the lab user may not take apt's locks
    [[ $apt_err == *"(13: Permission denied)"* ]] && [[ $apt_err == *"are you root?"* || $apt_err == *"Unable to lock directory"* ]]
}

apt_lock_held() { # LOCK DIR-MESSAGE: another process (cloud-init's apt-get) holds LOCK
    echo "E: Could not get lock $1. It is held by process $2 (apt-get)" >&2
    echo "N: Be aware that removing the lock file is not a solution and may break your system." >&2
    echo "E: $3" >&2
    return 100
}
apt_wait_for_cloud_init() { # the locks cloud-init's first boot holds, as apt meets them
    ci_running || return 0
    local pid=$REPLY
    case $apt_verb in
        update) # the lists lock: apt waits for it only with DPkg::Lock::Timeout's frontend lock, not this one
            echo "Reading package lists..."
            apt_lock_held /var/lib/apt/lists/lock "$pid" "Unable to lock directory /var/lib/apt/lists/"; return ;;
        clean|autoclean|auto-clean)
            apt_lock_held /var/cache/apt/archives/lock "$pid" "Unable to lock directory /var/cache/apt/archives/"; return ;;
    esac
    [[ $APT_DPKG_VERBS == *" $apt_verb "* ]] || return 0
    if ((apt_lock_timeout == 0)); then
        apt_lock_held /var/lib/dpkg/lock-frontend "$pid" "Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?"
        return
    fi
    # waiting: in the lab cloud-init then finishes at once (nothing here takes time)
    echo "Waiting for cache lock: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process $pid (apt-get)" >&2
    ci_finish
}

apt_reading() { printf 'Reading package lists...\nBuilding dependency tree...\nReading state information...\n'; }
apt_summary() { echo "$1 upgraded, $2 newly installed, $3 to remove and 0 not upgraded."; }
apt_confirm() { # apt's question; with no terminal its read meets end of file and aborts
    ((apt_yes)) && return 0
    echo "Do you want to continue? [Y/n] Abort."
    return 1
}
apt_debconf_warns() { # debconf without DEBIAN_FRONTEND=noninteractive and no terminal (harmless, as on a host)
    [[ ${DEBIAN_FRONTEND:-} == noninteractive ]] && return 0
    cat >&2 << 'EOF'
debconf: unable to initialize frontend: Dialog
debconf: (TERM is not set, so the dialog frontend is not usable.)
debconf: falling back to frontend: Readline
debconf: unable to initialize frontend: Readline
debconf: (This frontend requires a controlling tty.)
debconf: falling back to frontend: Teletype
dpkg-preconfigure: unable to re-open stdin:
EOF
}
apt_dpkg_failed() { # PACKAGE WHAT: dpkg's report of a failed maintainer script (or prompt)
    echo "dpkg: error processing package $1 (--configure):" >&2
    echo " $2" >&2
    echo "Errors were encountered while processing:" >&2
    echo " $1" >&2
    echo "E: Sub-process /usr/bin/dpkg returned an error code (1)" >&2
    return 100
}
apt_hook() { # HOOK PACKAGE ARG: a maintainer script another stand-in file defines
    declare -F "$1_$2" > /dev/null || return 0
    "$1_$2" "$3"
}

apt_install() {
    local new=() p
    apt_reading
    for p in "${apt_names[@]}"; do
        if [[ $apt_verb == install ]] && lab_set_has "$H/packages" "$p"; then
            echo "$p is already the newest version (opsh lab stand-in)."
        else new+=("$p"); fi
    done
    if ((${#new[@]} == 0)); then apt_summary 0 0 0; return 0; fi
    echo "The following NEW packages will be installed:"
    echo "  ${new[*]}"
    apt_summary 0 "${#new[@]}" 0
    apt_confirm || return 1
    lab_set_add "$H/packages" "${new[@]}"
    apt_debconf_warns
    for p in "${new[@]}"; do
        echo "Setting up $p (opsh lab stand-in) ..."
        apt_hook pkg_postinst "$p" configure \
            || { apt_dpkg_failed "$p" "installed $p package post-installation script subprocess returned error exit status 1"; return; }
        # as dh_installsystemd's postinst: the package's units are enabled and started
        svc_package_installed "$p" \
            || { apt_dpkg_failed "$p" "installed $p package post-installation script subprocess returned error exit status 1"; return; }
    done
}
apt_remove() {
    local gone=() p prerm_arg=remove
    [[ $apt_verb == purge || $apt_verb == autopurge ]] || ((apt_purge)) && prerm_arg=purge
    apt_reading
    for p in "${apt_names[@]}"; do
        if lab_set_has "$H/packages" "$p"; then gone+=("$p"); else echo "Package '$p' is not installed, so not removed"; fi
    done
    if ((${#gone[@]} == 0)); then apt_summary 0 0 0; return 0; fi
    echo "The following packages will be REMOVED:"
    echo "  ${gone[*]}"
    apt_summary 0 0 "${#gone[@]}"
    apt_confirm || return 1
    for p in "${gone[@]}"; do
        echo "Removing $p (opsh lab stand-in) ..."
        apt_hook pkg_prerm "$p" "$prerm_arg" || { echo "dpkg: error processing package $p (--remove):" >&2; return 100; }
        svc_package_removed "$p"
    done
    lab_set_del "$H/packages" "${gone[@]}"
}
apt_upgrade() {
    # the lab's upgrade always brings a new version of a config file the host has changed
    # (cloud-init's /etc/cloud/cloud.cfg): dpkg asks what to do unless told beforehand
    apt_reading
    echo "Calculating upgrade..."
    echo "The following packages will be upgraded:"
    echo "  cloud-init"
    apt_summary 1 0 0
    apt_confirm || return 1
    apt_debconf_warns
    echo "Setting up cloud-init ($CLOUD_INIT_VERSION) ..."
    if [[ $apt_dpkg_opts != *" --force-confdef "* || ( $apt_dpkg_opts != *" --force-confold "* && $apt_dpkg_opts != *" --force-confnew "* ) ]]; then
        cat << 'EOF'

Configuration file '/etc/cloud/cloud.cfg'
 ==> Modified (by you or by a script) since installation.
 ==> Package distributor has shipped an updated version.
   What would you like to do about it ?  Your options are:
    Y or I  : install the package maintainer's version
    N or O  : keep your currently-installed version
      D     : show the differences between the versions
      Z     : start a shell to examine the situation
 The default action is to keep your current version.
EOF
        printf '*** cloud.cfg (Y/I/N/O/D/Z) [default=N] ? '
        apt_dpkg_failed cloud-init "end of file on stdin at conffile prompt"
        return
    fi
}

do_apt() {
    lab_record "$tool" "$@"
    apt_parse "$@"
    case $apt_verb in
        download|source|changelog) # they fetch from the network into the working directory
            echo "$tool $apt_verb: nothing fetched (opsh lab stand-in)"; return 0 ;;
        list) if [[ $tool == apt ]]; then
                  [[ -t 1 ]] || printf '\nWARNING: apt does not have a stable CLI interface. Use with caution in scripts.\n\n' >&2
                  echo "Listing..."; [[ -r $H/packages ]] && sed 's|$|/stable,now 0.lab all [installed]|' "$H/packages"
                  return 0
              fi ;;
    esac
    # 1. the real apt parses (Ubuntu-only names left out: Debian's lists lack them)
    local args=() a
    for a in "$@"; do ubuntu_only_package "$a" || args+=("$a"); done
    apt_real "${args[@]}"
    if ((apt_rc == 0)) || ! apt_refused_for_lock || [[ $LAB_AS != root ]]; then apt_replay; return; fi
    [[ $tool == apt && ! -t 1 ]] && printf '\nWARNING: apt does not have a stable CLI interface. Use with caution in scripts.\n\n' >&2
    # 2. root from here: the locks cloud-init's first boot holds
    apt_wait_for_cloud_init || return
    # 3. the names, as the machine's apt resolves them
    local check=()
    for a in "${apt_raw_names[@]}"; do ubuntu_only_package "$a" || check+=("$a"); done
    if ((${#check[@]})) && ! apt_candidates "${check[@]}"; then
        apt_real -s "${args[@]}"
        ((apt_rc == 0)) || { apt_replay; return; }
    fi
    case $apt_verb in
        install|reinstall) apt_install ;;
        remove|purge|autoremove|auto-remove|autopurge) apt_remove ;;
        upgrade|dist-upgrade|full-upgrade) apt_upgrade ;;
        update) echo "Reading package lists... Done (opsh lab stand-in)" ;;
        check) apt_reading ;;
        *) return 0 ;;   # clean, autoclean, dselect-upgrade, build-dep, satisfy, markauto...: nothing to keep
    esac
}

do_dpkg_query() { # -W [-f=FORMAT] PKG... / -s PKG...: the host's packages (a query: not recorded)
    local mode='' fmt='${binary:Package}\t${Version}\n' a pkgs=() rc=0 p line
    while (($#)); do
        a=$1; shift
        case $a in
            -W|--show) mode=W ;;
            -s|--status) mode=s ;;
            -f|--showformat) fmt=${1-}; shift || true ;;
            -f=*|--showformat=*) fmt=${a#*=} ;;
            -f?*) fmt=${a#-f} ;;
            -*) echo "dpkg-query: opsh lab stand-in: option $a is not emulated (only -W [-f FORMAT] and -s are)" >&2; return 2 ;;
            *) pkgs+=("$a") ;;
        esac
    done
    [[ -n $mode ]] || { echo "dpkg-query: need an action option" >&2; return 2; }
    for p in "${pkgs[@]}"; do
        if ! lab_set_has "$H/packages" "$p"; then
            if [[ $mode == s ]]; then echo "dpkg-query: package '$p' is not installed and no information is available" >&2
            else echo "dpkg-query: no packages found matching $p" >&2; fi
            rc=1; continue
        fi
        if [[ $mode == s ]]; then printf 'Package: %s\nStatus: install ok installed\nVersion: 0.lab\n\n' "$p"; continue; fi
        line=${fmt//'${Package}'/$p}; line=${line//'${binary:Package}'/$p}; line=${line//'${Version}'/0.lab}
        line=${line//'${Status}'/install ok installed}; line=${line//'${db:Status-Abbrev}'/ii }
        line=${line//'${db:Status-Status}'/installed}
        printf '%b' "$line"
    done
    return $rc
}

# the tool names bin/standin answers to (scripts/lab links one stand-in per tool_NAME)
tool_apt-get() { do_apt "$@"; }
tool_apt() { do_apt "$@"; }
tool_dpkg-query() { do_dpkg_query "$@"; }
