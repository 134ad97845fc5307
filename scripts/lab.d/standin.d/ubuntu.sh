# shellcheck shell=bash
# standin.d/ubuntu.sh: what an Ubuntu 22.04/24.04 EC2 host has and what its packages bring, shared
# by the apt, systemctl and sudo stand-ins (sourced by bin/standin). Facts only, no tools.
# The machine running the lab is Debian 12: its package lists decide which names apt knows,
# plus UBUNTU_ONLY_PACKAGES below. scripts/lab.d/README.md ("Strict apt, systemctl, sudo") lists
# the same tables for readers.

# Names Ubuntu's archive has and Debian 12's lacks: the PostgreSQL and Python versions each
# Ubuntu release ships (22.04: 14 and 3.10, 24.04: 16 and 3.12; the venv error of Ubuntu's python
# names python3.X-venv). The lab accepts them as it accepts a name from the machine's lists.
UBUNTU_ONLY_PACKAGES=(postgresql-14 postgresql-16 postgresql-client-14 postgresql-client-16
    python3.10-venv python3.12-venv python3.10-dev python3.12-dev)
ubuntu_only_package() { local p; for p in "${UBUNTU_ONLY_PACKAGES[@]}"; do [[ $1 == "$p" ]] && return 0; done; return 1; }

# Units of the base image (before any package is installed): ssh, cron, cloud-init's stages,
# the systemd daemons, the apt timers. A name ending in @ is a template (any instance exists).
UBUNTU_BASE_UNITS=(ssh cron rsyslog cloud-init cloud-init-local cloud-config cloud-final
    systemd-journald systemd-logind systemd-networkd systemd-resolved systemd-timesyncd systemd-udevd
    dbus polkit snapd unattended-upgrades ufw apparmor multipathd networkd-dispatcher
    getty@ serial-getty@ apt-daily apt-daily-upgrade apt-daily.timer apt-daily-upgrade.timer
    multi-user.target network.target network-online.target default.target)
# Alias names systemd resolves to another unit (the state is kept under the real name).
declare -A UBUNTU_UNIT_ALIAS=([sshd]=ssh [redis]=redis-server)
# oneshot units with RemainAfterExit=yes: "active (exited)" once started, whatever runs.
# postgresql is Debian's umbrella unit: it stays active while its clusters (postgresql@VER-main) are down.
UBUNTU_EXITED_UNITS=(postgresql ufw apparmor cloud-init cloud-init-local cloud-config cloud-final)

# pkg_units NAME -> the units package NAME installs, one per line (postgresql@ is a template:
# its instance VER-main is the cluster the package creates)
pkg_units() {
    case $1 in
        postgresql|postgresql-[0-9]|postgresql-[0-9][0-9]) printf '%s\n' postgresql postgresql@ ;;
        nginx|nginx-core|nginx-full|nginx-light|nginx-extras) echo nginx ;;
        memcached|supervisor|monit|cron|apache2|haproxy|fail2ban|chrony|uwsgi|rabbitmq-server|redis-server|containerd|prometheus-node-exporter) echo "$1" ;;
        openssh-server) echo ssh ;;
        docker.io) printf '%s\n' docker containerd ;;
        mysql-server|mysql-server-8.0) echo mysql ;;
        mariadb-server) echo mariadb ;;
    esac
}
# Users the base image has (both releases' /etc/passwd), and the one cloud-init creates.
UBUNTU_BASE_USERS=(root daemon bin sys sync games man lp mail news uucp proxy www-data backup list
    irc gnats nobody _apt systemd-network systemd-resolve systemd-timesync messagebus syslog
    pollinate sshd uuidd tcpdump tss landscape fwupd-refresh usbmux lxd dhcpcd polkitd ubuntu)
# pkg_users NAME -> the system users package NAME's postinst creates
pkg_users() {
    case $1 in
        postgresql|postgresql-[0-9]|postgresql-[0-9][0-9]|postgresql-common) echo postgres ;;
        memcached) echo memcache ;;
        redis-server) echo redis ;;
        mysql-server|mysql-server-8.0|mariadb-server) echo mysql ;;
        rabbitmq-server) echo rabbitmq ;;
        prometheus-node-exporter) echo prometheus ;;
        haproxy) echo haproxy ;;
        chrony) echo _chrony ;;
    esac
}
# the host's installed package names, one per line
host_packages() { [[ -r $H/packages ]] && cat "$H/packages"; return 0; }
