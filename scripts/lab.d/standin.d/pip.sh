# shellcheck shell=bash
# standin.d/pip.sh: the pip stand-in, sourced by bin/standin (its H, tool, lab_* in scope)
do_pip() {
    lab_record "$tool" "$@"
    case ${1:-} in
        install) local a pk=(); shift
                 for a in "$@"; do case $a in -*) ;; *) pk+=("$a") ;; esac; done
                 echo "Successfully installed ${pk[*]:-requirements} (opsh lab stand-in)" ;;
        uninstall) echo "Successfully uninstalled (opsh lab stand-in)" ;;
        --version|-V) echo "pip 23.0 (opsh lab stand-in)" ;;
    esac
    return 0
}

# the tool names bin/standin answers to (scripts/lab links one stand-in per tool_NAME)
tool_pip() { do_pip "$@"; }
tool_pip3() { do_pip "$@"; }
