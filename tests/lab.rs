//! The lab itself: an instance launched in the emulator is reachable over
//! real SSH through the lab's ssh_config, its stand-ins record what ran, and
//! `scripts/lab down` stops everything `up` started.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Test;
use common::lab::{host_dir, lab, unique};
use common::ports::free_port;
use common::records::RecordsMark;

#[test]
fn an_emulated_instance_is_reachable_and_its_stand_ins_record() {
    let name = unique("labtest");
    let db = name.replace('-', "_");
    let script = format!(
        r#"
let inst = ec2::launch(#{{ image: "ami-12c6146b", type: "t3.micro", name: "{name}", tags: #{{ role: "db" }} }});
inst = ec2::wait_until(inst, "running")[0];
let host = ssh::connect(inst);
let who = host.run("hostname", #{{ quiet: true }}).stdout;
host.run("cloud-init status --wait", #{{ quiet: true }});
host.sudo("apt-get install -y postgresql", #{{ quiet: true }});
host.sudo("createdb {db}", #{{ user: "postgres", cwd: "/" }});
print(who);
print(host.sudo("psql -tAc \"SELECT datname FROM pg_database WHERE datname = '{db}'\"", #{{ user: "postgres", cwd: "/", quiet: true }}).stdout);
ec2::terminate(inst);
"#
    );
    let mark = RecordsMark::now();
    let out = Test::new()
        .lab()
        .file("r.rhai", &script)
        .args(&["run", "r.rhai", "--yes"])
        .run();
    out.code(0);
    // The host's real server has the database.
    let mut lines = out.stdout.lines().filter(|l| !l.trim().is_empty());
    let lab_host = lines.next().unwrap_or_default().trim().to_string();
    assert_eq!(lines.next(), Some(db.as_str()), "{}", out.stdout);
    assert!(
        lab_host.starts_with("lab-"),
        "hostname answered {lab_host:?}"
    );
    let records = mark.since(&host_dir(&lab_host));
    assert!(
        records
            .iter()
            .any(|r| r.tool == "createdb" && r.user == "postgres" && r.args == db),
        "{records:#?}"
    );
}

fn pids(run_dir: &Path) -> Vec<i32> {
    std::fs::read_dir(run_dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "pid"))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok()?.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn lab_down_stops_everything_up_started() {
    // A second, small lab of its own on ports the OS gives, so the shared
    // one keeps serving the other tests; it reuses the shared lab's moto
    // install.
    let shared = lab();
    let root = tempfile::Builder::new()
        .prefix("opsh-lab-")
        .tempdir_in("/tmp")
        .expect("lab root");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/lab");
    let env = [
        ("OPSH_LAB_DIR", root.path().to_str().unwrap().to_string()),
        ("OPSH_LAB_HOSTS", "2".to_string()),
        ("OPSH_LAB_MOTO_PORT", free_port().to_string()),
        ("OPSH_LAB_SSH_PORT", free_port().to_string()),
        ("OPSH_LAB_PG_PORT", free_port().to_string()),
        ("OPSH_LAB_VENV", shared.var("OPSH_LAB_VENV").to_string()),
    ];
    let lab_cmd = |arg: &str| {
        let status = Command::new(&script)
            .arg(arg)
            .envs(env.iter().cloned())
            .status()
            .expect("scripts/lab");
        status.code()
    };
    assert_eq!(lab_cmd("up"), Some(0));
    let started = pids(&root.path().join("run"));
    assert!(started.len() >= 2, "moto and one sshd: {started:?}");
    assert!(started.iter().all(|p| common::running(*p)), "{started:?}");
    Test::new()
        .env(
            "OPSH_SSH_CONFIG",
            &format!("{}/ssh_config", root.path().display()),
        )
        .file(
            "r.rhai",
            "ssh::group([\"lab-1\", \"lab-2\"]).run(\"hostname\");\n",
        )
        .args(&["run", "r.rhai"])
        .run()
        .code(0)
        .stdout_has("lab-1 | lab-1")
        .stdout_has("lab-2 | lab-2");
    assert_eq!(lab_cmd("up"), Some(0), "up twice is fine");
    assert_eq!(lab_cmd("down"), Some(0));
    // down returns once what it stopped has ended: no wait needed.
    let left: Vec<i32> = started
        .into_iter()
        .filter(|p| common::running(*p))
        .collect();
    assert!(left.is_empty(), "still running after down: {left:?}");
    assert_eq!(lab_cmd("status"), Some(1));
    assert_eq!(lab_cmd("down"), Some(0), "down twice is fine");
}
