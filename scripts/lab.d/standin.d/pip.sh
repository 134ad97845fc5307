# shellcheck shell=bash
# standin.d/pip.sh: the pip stand-in, sourced by bin/standin (its H, tool, lab_* in scope).
# It records the call and runs the machine's own pip, the system python's: that python is
# externally managed (PEP 668), so an install outside a virtualenv fails with pip's own
# "error: externally-managed-environment", as on Ubuntu 24.04. A venv's pip (RELEASE/venv/bin/pip)
# is the real one and is not recorded; it installs from the lab's wheelhouse (PIP_FIND_LINKS).
do_pip() {
    lab_record "$tool" "$@"
    lab_real "$tool" || { echo "$tool: command not found" >&2; return 127; }
    exec "$REPLY" "$@"
}

# the tool names bin/standin answers to (scripts/lab links one stand-in per tool_NAME)
tool_pip() { do_pip "$@"; }
tool_pip3() { do_pip "$@"; }
