//! The lab's apt, cloud-init, systemctl and sudo are as strict as an Ubuntu
//! host's: each wrong command fails there with the real tool's message and
//! exit code, and the stdlib's way passes. Every test boots an instance of
//! its own (a lab host freshly given to it starts in cloud-init's first boot)
//! and asserts only on the records it caused: the lab keeps state between
//! runs, so a test also removes the packages it needs absent.

mod common;

use std::path::PathBuf;

use common::Test;
use common::lab::{lab, unique};

/// Runs a command and prints `CMD => CODE` and its output, for assertions.
const PRELUDE: &str = r#"
fn attempt(host, cmd) {
    let r = host.run(cmd, #{ warn: true, quiet: true });
    print(`${cmd} => ${r.code}`);
    print(r.stdout + r.stderr);
}
"#;

/// An instance of the test's own, reached through the lab's route.
struct Node {
    id: String,
    dir: PathBuf,
    /// records.log lines before the test's first command
    start: usize,
}

impl Node {
    fn boot() -> Self {
        let name = unique("apt");
        let out = Test::new()
            .lab()
            .file(
                "boot.rhai",
                &format!(
                    "let inst = ec2::wait_until(ec2::launch(#{{ image: \"ami-12c6146b\", name: \"{name}\" }}), \"running\")[0];\n\
                     print(inst.id + \" \" + ssh::connect(inst).run(\"hostname\", #{{ quiet: true }}).stdout);\n"
                ),
            )
            .args(&["run", "boot.rhai"])
            .run();
        out.code(0);
        let mut words = out.stdout.split_whitespace();
        let id = words.next().expect("instance id").to_string();
        let host = words.next().expect("lab host name").to_string();
        let dir = PathBuf::from(lab().var("OPSH_LAB_DIR"))
            .join("hosts")
            .join(host);
        let start = read(&dir.join("records.log")).lines().count();
        Self { id, dir, start }
    }

    /// `opsh run` of `body` with `host` connected to this instance.
    fn run(&self, body: &str) -> common::Outcome {
        let script = format!(
            "{PRELUDE}\nlet host = ssh::connect(\"{}\");\n{body}",
            self.id
        );
        Test::new()
            .lab()
            .file("s.rhai", &script)
            .args(&["run", "s.rhai"])
            .run()
    }

    /// The records this test's commands caused.
    fn records(&self) -> Vec<String> {
        read(&self.dir.join("records.log"))
            .lines()
            .skip(self.start)
            .map(str::to_string)
            .collect()
    }

    fn has_package(&self, name: &str) -> bool {
        read(&self.dir.join("packages")).lines().any(|l| l == name)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let out = Test::new()
            .lab()
            .file("t.rhai", &format!("ec2::terminate(\"{}\");\n", self.id))
            .args(&["run", "t.rhai", "--yes"])
            .run();
        if out.code != 0 && !std::thread::panicking() {
            panic!("terminating {} failed: {}", self.id, out.stderr);
        }
    }
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The records of one tool as the effective user, e.g. ("apt-get", "root").
fn calls<'a>(records: &'a [String], tool: &str, user: &str) -> Vec<&'a str> {
    let prefix = format!("{tool}\t{user}\t");
    records
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect()
}

/// The machine's PostgreSQL major version (the lab's servers run it).
fn pg_major() -> u32 {
    std::fs::read_dir("/usr/lib/postgresql")
        .expect("/usr/lib/postgresql")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|v| PathBuf::from(format!("/usr/lib/postgresql/{v}/bin/initdb")).exists())
        .max()
        .expect("a PostgreSQL server on this machine")
}

#[test]
fn apt_refuses_what_apt_refuses_and_the_stdlib_installs() {
    let node = Node::boot();
    let out = node.run(
        r##"
// what this test installs must be absent first (this also ends cloud-init's boot)
host.sudo("apt-get -q -y -o DPkg::Lock::Timeout=60 purge tree jq", #{ quiet: true });
attempt(host, "sudo apt-get instal nginx");
attempt(host, "sudo apt-get install -y ngnix");
attempt(host, "apt-get install -y tree");
attempt(host, "sudo apt-get install tree");
attempt(host, "sudo apt-get --frobnicate install -y tree");
attempt(host, "sudo apt-get upgrade -y");
attempt(host, "sudo -u www-data apt-get update");
apt_install(host, ["tree"]);
attempt(host, "sudo apt-get -o APT::Get::Assume-Yes=true install jq");
upgrade_packages(host);
"##,
    );
    out.code(0)
        .stdout_has("sudo apt-get instal nginx => 100\nE: Invalid operation instal")
        .stdout_has("sudo apt-get install -y ngnix => 100")
        .stdout_has("E: Unable to locate package ngnix")
        .stdout_has("apt-get install -y tree => 100\n")
        .stdout_has("E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)")
        .stdout_has("are you root?")
        .stdout_has("sudo apt-get install tree => 1\n")
        .stdout_has("Do you want to continue? [Y/n] Abort.")
        .stdout_has("sudo apt-get --frobnicate install -y tree => 100")
        .stdout_has("E: Command line option --frobnicate is not understood")
        .stdout_has("sudo apt-get upgrade -y => 100")
        .stdout_has("end of file on stdin at conffile prompt")
        .stdout_has("sudo -u www-data apt-get update => 100")
        .stdout_has("E: Could not open lock file /var/lib/apt/lists/lock - open (13: Permission denied)")
        .stdout_has("sudo apt-get -o APT::Get::Assume-Yes=true install jq => 0");
    assert!(node.has_package("tree") && node.has_package("jq"));
    let records = node.records();
    let installs: Vec<&str> = calls(&records, "apt-get", "root")
        .into_iter()
        .filter(|a| a.contains(" install ") && a.starts_with("-q -y -o DPkg::Lock::Timeout="))
        .collect();
    assert_eq!(installs.len(), 1, "the stdlib installed once: {records:#?}");
    assert!(
        installs[0]
            .contains("-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"),
        "{installs:?}"
    );
    let upgrades = calls(&records, "apt-get", "root")
        .into_iter()
        .filter(|a| a.split(' ').any(|w| w == "upgrade"))
        .count();
    assert_eq!(
        upgrades, 2,
        "the raw upgrade and the stdlib's: {records:#?}"
    );
}

#[test]
fn cloud_init_holds_the_dpkg_lock_until_something_waits() {
    // apt as it comes, then apt that waits for the lock
    let raw = Node::boot();
    raw.run(
        r##"
attempt(host, "cloud-init status");
attempt(host, "sudo apt-get install -y htop");
attempt(host, "sudo apt-get update");
attempt(host, "sudo apt-get -o DPkg::Lock::Timeout=60 -y install htop");
attempt(host, "cloud-init status");
"##,
    )
    .code(0)
    .stdout_has("cloud-init status => 0\nstatus: running")
    .stdout_has("sudo apt-get install -y htop => 100")
    .stdout_has("E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process ")
    .stdout_has("E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?")
    .stdout_has("sudo apt-get update => 100")
    .stdout_has("E: Could not get lock /var/lib/apt/lists/lock. It is held by process ")
    .stdout_has("sudo apt-get -o DPkg::Lock::Timeout=60 -y install htop => 0")
    .stdout_has("cloud-init status => 0\nstatus: done");
    assert!(raw.has_package("htop"));

    // the stdlib's way on a host still in its first boot
    let node = Node::boot();
    node.run(
        r##"
attempt(host, "cloud-init status --long");
upgrade_packages(host);
attempt(host, "cloud-init status");
"##,
    )
    .code(0)
    .stdout_has("status: running\nextended_status: running")
    .stdout_has("cloud-init status => 0\nstatus: done");
    let records = node.records();
    let wait = records
        .iter()
        .position(|l| l == "cloud-init\topsh-lab\tstatus --wait")
        .unwrap_or_else(|| panic!("the stdlib did not wait for cloud-init: {records:#?}"));
    let first_apt = records
        .iter()
        .position(|l| l.starts_with("apt-get\t"))
        .unwrap_or_else(|| panic!("no apt-get: {records:#?}"));
    assert!(wait < first_apt, "{records:#?}");
}

#[test]
fn two_installs_in_one_run_update_the_lists_once() {
    let node = Node::boot();
    node.run(
        r##"
host.sudo("apt-get -q -y -o DPkg::Lock::Timeout=60 purge tree sl cowsay", #{ quiet: true });
// no update yet, as on a new host
host.sudo("rm -f /var/lib/opsh/apt-updated");
apt_install(host, ["tree"]);
apt_install(host, ["sl", "cowsay"]);
apt_install(host, ["tree", "sl"]);
"##,
    )
    .code(0);
    let records = node.records();
    let apt = calls(&records, "apt-get", "root");
    let updates = apt.iter().filter(|a| a.ends_with(" update")).count();
    let installs: Vec<&&str> = apt.iter().filter(|a| a.contains(" install ")).collect();
    assert_eq!(updates, 1, "{records:#?}");
    assert_eq!(
        installs.len(),
        2,
        "the third install had nothing to do: {records:#?}"
    );
    assert!(installs[0].ends_with(" install tree"), "{installs:?}");
    assert!(installs[1].ends_with(" install sl cowsay"), "{installs:?}");
    assert!(["tree", "sl", "cowsay"].iter().all(|p| node.has_package(p)));
}

#[test]
fn systemctl_and_sudo_know_what_the_host_has() {
    let node = Node::boot();
    let unit = unique("opsh-unit").replace('-', "_");
    let pg = pg_major();
    let body = format!(
        r##"
host.sudo("apt-get -q -y -o DPkg::Lock::Timeout=60 purge memcached", #{{ quiet: true }});
attempt(host, "systemctl restrat memcached");
attempt(host, "sudo systemctl restart memcached");
attempt(host, "sudo systemctl restart {unit}");
attempt(host, "sudo -u postgress whoami");
attempt(host, "sudo -u memcache whoami");
attempt(host, "sudo -u www-data whoami");
apt_install(host, ["memcached", "postgresql"]);
attempt(host, "systemctl restart memcached");
attempt(host, "sudo systemctl restart memcached");
attempt(host, "sudo -u memcache whoami");
// a unit file: enabled, started, changed, reloaded
host.write("/etc/systemd/system/{unit}.service", "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n", #{{ sudo: true }});
attempt(host, "sudo systemctl enable --now {unit}");
host.write("/etc/systemd/system/{unit}.service", "[Service]\nExecStart=/bin/false\n[Install]\nWantedBy=multi-user.target\n", #{{ sudo: true }});
attempt(host, "sudo systemctl restart {unit}");
attempt(host, "sudo systemctl daemon-reload && sudo systemctl restart {unit} && systemctl is-active {unit}");
// Debian's umbrella unit stays active while its cluster is down
host.sudo("systemctl stop postgresql@{pg}-main");
attempt(host, "systemctl is-active postgresql");
attempt(host, "systemctl is-active postgresql@{pg}-main");
attempt(host, "sudo systemctl start postgresql@{other}-main");
host.sudo("systemctl restart postgresql");
attempt(host, "systemctl is-active postgresql@{pg}-main");
"##,
        other = pg + 1
    );
    let out = node.run(&body);
    out.code(0)
        .stdout_has("systemctl restrat memcached => 1\nUnknown command verb 'restrat'.")
        .stdout_has("sudo systemctl restart memcached => 5\nFailed to restart memcached.service: Unit memcached.service not found.")
        .stdout_has(&format!("sudo systemctl restart {unit} => 5\nFailed to restart {unit}.service: Unit {unit}.service not found."))
        .stdout_has("sudo -u postgress whoami => 1\nsudo: unknown user postgress")
        .stdout_has("sudo -u memcache whoami => 1\nsudo: unknown user memcache")
        .stdout_has("sudo -u www-data whoami => 0\nwww-data")
        .stdout_has("systemctl restart memcached => 1\nFailed to restart memcached.service: Interactive authentication required.")
        .stdout_has("sudo systemctl restart memcached => 0")
        .stdout_has("sudo -u memcache whoami => 0\nmemcache")
        .stdout_has(&format!("sudo systemctl enable --now {unit} => 0\nCreated symlink /etc/systemd/system/multi-user.target.wants/{unit}.service"))
        .stdout_has(&format!("sudo systemctl restart {unit} => 0\nWarning: The unit file, source configuration file or drop-ins of {unit}.service changed on disk. Run 'systemctl daemon-reload' to reload units."))
        .stdout_has(&format!("systemctl is-active {unit} => 0\nactive\n"))
        .stdout_has("systemctl is-active postgresql => 0\nactive")
        .stdout_has(&format!("systemctl is-active postgresql@{pg}-main => 3\ninactive"))
        .stdout_has(&format!("sudo systemctl start postgresql@{}-main => 1\nJob for postgresql@{}-main.service failed because the control process exited with error code.", pg + 1, pg + 1))
        .stdout_has(&format!("systemctl is-active postgresql@{pg}-main => 0\nactive"));
    assert_eq!(
        out.stdout.matches("changed on disk").count(),
        1,
        "daemon-reload loaded the changed unit file: {}",
        out.stdout
    );
    let records = node.records();
    assert!(
        calls(&records, "systemctl", "root").contains(&"restart memcached"),
        "{records:#?}"
    );
    assert!(
        calls(&records, "systemctl", "opsh-lab").contains(&"restrat memcached"),
        "{records:#?}"
    );
}
