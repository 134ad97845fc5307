//! bench/run end to end on a two-host fleet of its own, with the binary under
//! test: the harness brings its lab up, checks that opsh and plain OpenSSH
//! both reach every host, times every workload, reports, and stops its lab.
//! Timings are the benchmark's business; this asserts none of them.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::lab::lab;
use common::ports::free_port;

#[test]
fn bench_run_reports_every_workload_and_stops_its_lab() {
    // Its own lab on ports the OS gives; its moto install is the shared
    // lab's: the same pinned version.
    let shared = lab();
    let root = tempfile::Builder::new()
        .prefix("opsh-bench-")
        .tempdir_in("/tmp")
        .expect("bench lab root");
    let out = tempfile::tempdir().expect("results dir");
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let run = Command::new(repo.join("bench/run"))
        .args(["--opsh", env!("CARGO_BIN_EXE_opsh")])
        .args(["--hosts", "2", "--runs", "1", "--kex", "default", "--out"])
        .arg(out.path())
        .env("OPSH_BENCH_LAB_DIR", root.path())
        .env("OPSH_BENCH_MOTO_PORT", free_port().to_string())
        .env("OPSH_BENCH_SSH_PORT", free_port().to_string())
        .env("OPSH_LAB_VENV", shared.var("OPSH_LAB_VENV"))
        .output()
        .expect("bench/run");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "bench/run failed:\n{stderr}");
    let report = std::fs::read_to_string(out.path().join("report.md")).expect("report.md");
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        report,
        "the report is printed"
    );
    for needle in [
        "| key exchange | hosts |",
        "| 2 |",
        "`opsh run bench/trivial.rhai`",
        "`opsh check runbooks/",
        "Peak RSS of opsh, steps on 2 hosts",
    ] {
        assert!(report.contains(needle), "no {needle:?} in:\n{report}");
    }
    for raw in ["fanout-default-2.json", "startup.json"] {
        assert!(out.path().join(raw).is_file(), "{raw} missing");
    }
    let status = Command::new(repo.join("scripts/lab"))
        .arg("status")
        .env("OPSH_LAB_DIR", root.path())
        .output()
        .expect("scripts/lab status");
    assert_eq!(status.status.code(), Some(1), "the bench lab is down again");
}
