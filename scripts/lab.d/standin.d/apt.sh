# shellcheck shell=bash
# standin.d/apt.sh: the apt-get / apt stand-ins, sourced by bin/standin (its H, tool, lab_* in scope)
do_apt() {
    lab_record "$tool" "$@"
    local verb='' pkgs=() a skip=0
    for a in "$@"; do
        if ((skip)); then skip=0; continue; fi
        case $a in
            -o|-c|-t|--option|--config-file|--target-release) skip=1 ;;
            -*) ;;
            *) if [[ -z $verb ]]; then verb=$a; else pkgs+=("$a"); fi ;;
        esac
    done
    local names=() p
    for p in "${pkgs[@]}"; do p=${p%%=*}; p=${p%%/*}; [[ -n $p ]] && names+=("$p"); done
    case $verb in
        install|reinstall)
            if ((${#names[@]})); then
                lab_set_add "$H/packages" "${names[@]}"
                for p in "${names[@]}"; do echo "Setting up $p (opsh lab stand-in) ..."; done
                # a package's postinst, where a stand-in family defines pkg_postinst_NAME
                for p in "${names[@]}"; do
                    if declare -F "pkg_postinst_$p" > /dev/null && ! "pkg_postinst_$p"; then
                        echo "E: Sub-process /usr/bin/dpkg returned an error code (1)" >&2; return 100
                    fi
                done
                # as Debian's postinst: the package creates the main cluster and starts it
                if printf '%s\n' "${names[@]}" | grep -qxE 'postgresql(-[0-9]+)?'; then
                    pg_server start || return 100
                    echo running > "$H/services/postgresql"
                fi
            fi ;;
        remove|purge|autoremove)
            # the package's prerm stops the server (the cluster's files stay, as with remove)
            if ((${#names[@]})) && printf '%s\n' "${names[@]}" | grep -qxE 'postgresql(-[0-9]+)?'; then
                pg_server stop
            fi
            # a package's prerm, where a stand-in family defines pkg_prerm_NAME
            for p in "${names[@]}"; do declare -F "pkg_prerm_$p" > /dev/null && "pkg_prerm_$p" "$verb"; done
            ((${#names[@]})) && lab_set_del "$H/packages" "${names[@]}"
            for p in "${names[@]}"; do echo "Removing $p (opsh lab stand-in) ..."; done ;;
        update) echo "Reading package lists... Done (opsh lab stand-in)" ;;
        upgrade|dist-upgrade|full-upgrade|clean|autoclean) echo "0 upgraded, 0 newly installed (opsh lab stand-in)" ;;
        list) [[ -r $H/packages ]] && sed 's|$|/stable [installed]|' "$H/packages" ;;
        '') echo "$tool: no command given" >&2; return 100 ;;
    esac
    return 0
}

# the tool names bin/standin answers to (scripts/lab links one stand-in per tool_NAME)
tool_apt-get() { do_apt "$@"; }
tool_apt() { do_apt "$@"; }
