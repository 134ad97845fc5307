# shellcheck shell=bash
# standin.d/git.sh: the git stand-in, sourced by bin/standin (its H, tool, lab_* in scope).
# It records the call and runs the machine's real git, so clones, branches and errors are
# git's own (the lab's repositories are served over ssh by its git server). Under the sudo
# stand-in, the paths git would write as root (-C DIR, --git-dir, --work-tree, clone's
# destination) map into the host's fake root.
git_sudo_args() { # ARGS... -> GIT_ARGS: the arguments with those paths mapped
    GIT_ARGS=()
    local a sub=''
    while (($#)); do
        a=$1; shift
        case $a in
            -C) lab_map_w "${1:-}"; GIT_ARGS+=(-C "$REPLY"); shift ;;
            --git-dir=*|--work-tree=*) lab_map_w "${a#*=}"; GIT_ARGS+=("${a%%=*}=$REPLY") ;;
            -c|--exec-path|--namespace) GIT_ARGS+=("$a" "${1:-}"); shift ;;
            -*) GIT_ARGS+=("$a") ;;
            *) sub=$a; GIT_ARGS+=("$a"); break ;;
        esac
    done
    if [[ $sub != clone ]]; then GIT_ARGS+=("$@"); return; fi
    # clone's operands are the repository and the directory; options with a value come apart
    local npos=0
    while (($#)); do
        a=$1; shift
        case $a in
            --) GIT_ARGS+=("$a") ;;
            -b|--branch|-o|--origin|-c|--config|--depth|--reference|--reference-if-able|-j|--jobs|--filter|-u|--upload-pack|--template|--separate-git-dir|--shallow-since|--shallow-exclude|--server-option|--bundle-uri|--ref-format)
                GIT_ARGS+=("$a" "${1:-}"); shift ;;
            -*) GIT_ARGS+=("$a") ;;
            *) npos=$((npos + 1))
               if ((npos == 2)) && [[ $a == /* ]]; then lab_map_w "$a"; a=$REPLY; fi
               GIT_ARGS+=("$a") ;;
        esac
    done
}
do_git() {
    lab_record "$tool" "$@"
    lab_real git || { echo "$tool: command not found" >&2; return 127; }
    local real=$REPLY
    [[ -n ${OPSH_LAB_AS:-} ]] || exec "$real" "$@"
    git_sudo_args "$@"
    exec "$real" "${GIT_ARGS[@]}"
}

# the tool names bin/standin answers to (scripts/lab links one stand-in per tool_NAME)
tool_git() { do_git "$@"; }
