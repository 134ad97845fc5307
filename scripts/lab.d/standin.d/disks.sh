# shellcheck shell=bash
# standin.d/disks.sh: lsblk, mount, umount, findmnt and mountpoint, sourced by bin/standin (its H,
# tool, lab_* in scope). A lab host's disks are the EBS volumes moto has attached to its
# instance; mounts are recorded, not made. bin/disks (python) has the rules; see
# scripts/lab.d/README.md.
do_disks() {
    lab_record "$tool" "$@"
    exec "$OPSH_LAB_DIR/bin/disks" "$tool" "$@"
}

# the tool names bin/standin answers to (scripts/lab links one stand-in per tool_NAME)
tool_lsblk() { do_disks "$@"; }
tool_findmnt() { do_disks "$@"; }
tool_mountpoint() { do_disks "$@"; }
tool_mount() { do_disks "$@"; }
tool_umount() { do_disks "$@"; }
