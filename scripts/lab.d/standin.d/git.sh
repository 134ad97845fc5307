# shellcheck shell=bash
# standin.d/git.sh: the git stand-in, sourced by bin/standin (its H, tool, lab_* in scope)
git_find() { # DIR -> REPLY = repo top with a lab .git, or fail
    local d=$1
    [[ $d == /* ]] || d=$PWD/$d
    while :; do
        [[ -r $d/.git/opsh-lab-ref ]] && { REPLY=$d; return 0; }
        [[ $d == / || -z $d ]] && return 1
        d=$(dirname -- "$d")
    done
}
git_sha() { # TOP -> REPLY: stable fake sha of (url, ref)
    local url ref; url=$(< "$1/.git/opsh-lab-url"); ref=$(< "$1/.git/opsh-lab-ref")
    REPLY=$(printf '%s\n%s\n' "$url" "$ref" | sha1sum); REPLY=${REPLY%% *}
}
do_git() {
    lab_record "$tool" "$@"
    local cdir=. 
    while (($#)); do
        case $1 in
            -C) lab_sudo_w "$2"; cdir=$REPLY; shift 2 ;;
            -c) shift 2 ;;
            --no-pager|--bare|-p|--paginate) shift ;;
            *) break ;;
        esac
    done
    local sub=${1:-}; shift || true
    local top nr="fatal: not a git repository (or any of the parent directories): .git"
    case $sub in
        clone)
            local branch=main pos=() a
            while (($#)); do
                a=$1; shift
                case $a in
                    -b|--branch) branch=$1; shift ;;
                    --branch=*) branch=${a#*=} ;;
                    --depth|-o|--origin|--reference|-j|--jobs|--config|-c|--filter|-u|--upload-pack|--template|--separate-git-dir) shift ;;
                    -*) ;;
                    *) pos+=("$a") ;;
                esac
            done
            local url=${pos[0]:-}
            [[ -n $url ]] || { echo "fatal: You must specify a repository to clone." >&2; return 128; }
            local name=${url%/}; name=${name%.git}; name=${name##*/}; name=${name##*:}
            local dest=${pos[1]:-$name}
            [[ $dest == /* ]] || dest=$cdir/$dest
            lab_sudo_w "$dest"; dest=$REPLY
            if [[ -e $dest ]] && [[ -n $(ls -A -- "$dest" 2> /dev/null) ]]; then
                echo "fatal: destination path '${pos[1]:-$name}' already exists and is not an empty directory." >&2; return 128
            fi
            echo "Cloning into '${pos[1]:-$name}'... (opsh lab stand-in)" >&2
            mkdir -p -- "$dest/.git" || return 128
            printf '%s\n' "$url" > "$dest/.git/opsh-lab-url"
            printf '%s\n' "$branch" > "$dest/.git/opsh-lab-ref"
            printf 'ref: refs/heads/%s\n' "$branch" > "$dest/.git/HEAD"
            printf '[remote "origin"]\n\turl = %s\n' "$url" > "$dest/.git/config"
            printf '# %s\n\nCloned by the opsh lab git stand-in from %s (branch %s).\n' "$name" "$url" "$branch" > "$dest/README.md"
            printf 'Django>=4.2,<5\npsycopg2-binary>=2.9\ngunicorn>=21\n' > "$dest/requirements.txt"
            printf '#!/usr/bin/env python3\n"""opsh lab stand-in for a Django manage.py: prints what it was asked."""\nimport sys\nprint("manage.py (opsh lab):", " ".join(sys.argv[1:]))\n' > "$dest/manage.py"
            chmod 755 "$dest/manage.py" ;;
        checkout|switch|reset)
            git_find "$cdir" || { echo "$nr" >&2; return 128; }; top=$REPLY
            local ref='' a
            for a in "$@"; do case $a in -*) ;; *) ref=$a ;; esac; done
            if [[ -n $ref ]]; then
                printf '%s\n' "$ref" > "$top/.git/opsh-lab-ref"
                printf 'ref: refs/heads/%s\n' "$ref" > "$top/.git/HEAD"
                [[ $sub == reset ]] && echo "HEAD is now at $ref (opsh lab stand-in)" || echo "Switched to '$ref' (opsh lab stand-in)" >&2
            fi ;;
        pull|fetch)
            git_find "$cdir" || { echo "$nr" >&2; return 128; }
            [[ $sub == pull ]] && echo "Already up to date." ;;
        rev-parse)
            local a short=0 abbrev=0 out=0
            for a in "$@"; do
                case $a in
                    --short|--short=*) short=1 ;;
                    --abbrev-ref) abbrev=1 ;;
                    --is-inside-work-tree) git_find "$cdir" && echo true || { echo "$nr" >&2; return 128; }; out=1 ;;
                    --show-toplevel) git_find "$cdir" && echo "$REPLY" || { echo "$nr" >&2; return 128; }; out=1 ;;
                esac
            done
            ((out)) && return 0
            git_find "$cdir" || { echo "$nr" >&2; return 128; }; top=$REPLY
            if ((abbrev)); then cat "$top/.git/opsh-lab-ref"; return 0; fi
            git_sha "$top"; if ((short)); then echo "${REPLY:0:7}"; else echo "$REPLY"; fi ;;
        log|show|describe)
            git_find "$cdir" || { echo "$nr" >&2; return 128; }; top=$REPLY
            git_sha "$top"
            if [[ $sub == describe ]]; then cat "$top/.git/opsh-lab-ref"; else echo "$REPLY"; fi ;;
        status)
            git_find "$cdir" || { echo "$nr" >&2; return 128; }; top=$REPLY
            echo "On branch $(< "$top/.git/opsh-lab-ref")"; echo "nothing to commit, working tree clean" ;;
        remote)
            git_find "$cdir" || { echo "$nr" >&2; return 128; }; top=$REPLY
            case ${1:-} in get-url) cat "$top/.git/opsh-lab-url" ;; -v) echo "origin	$(< "$top/.git/opsh-lab-url") (fetch)" ;; *) echo origin ;; esac ;;
        --version|version) echo "git version 2.39.0 (opsh lab stand-in)" ;;
        *) ;;
    esac
    return 0
}

# the tool names bin/standin answers to (scripts/lab links one stand-in per tool_NAME)
tool_git() { do_git "$@"; }
