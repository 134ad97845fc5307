//! Dry-run plans and the run journal, with local commands (the cloud and SSH
//! actions are covered in their own test files).

mod common;

use common::Test;

fn journal_files(home: &std::path::Path) -> Vec<std::path::PathBuf> {
    let dir = home.join(".local/state/opsh/journal");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn dry_run_runs_nothing_and_prints_the_plan_in_order() {
    let out = Test::new()
        .file("r.rhai", "local::run(\"touch one\");\nlet r = local::run(\"touch two\");\nprint(`code ${r.code}`);\n")
        .args(&["run", "r.rhai", "--dry-run"])
        .run();
    out.code(0)
        .stdout_has("code 0")
        .stdout_has("Plan (dry run, nothing was changed): 2 action(s)\n  1. local::run local {\"command\":\"touch one\"}\n  2. local::run local {\"command\":\"touch two\"}\n")
        .stderr_has("plan   1. local::run");
    assert!(!out.path("one").exists() && !out.path("two").exists());
    assert!(
        journal_files(out.dir.path()).is_empty(),
        "a dry run wrote a journal"
    );
}

#[test]
fn dry_run_plan_as_json() {
    let out = Test::new()
        .file("r.rhai", "fn deploy() { local::run(\"touch x\"); 7 }\n")
        .args(&["run", "r.rhai", "deploy", "--dry-run", "--output", "json"])
        .run();
    out.code(0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(json["result"], 7);
    assert_eq!(json["plan"][0]["action"], "local::run");
    assert_eq!(json["plan"][0]["args"]["command"], "touch x");
}

#[test]
fn a_real_run_is_journaled_line_by_line_even_when_it_fails() {
    let out = Test::new()
        .file("r.rhai", "fn deploy() { local::run(\"true\"); local::run(\"exit 4\"); local::run(\"touch never\"); }\n")
        .args(&["run", "r.rhai", "deploy"])
        .run();
    out.code(1);
    let files = journal_files(out.dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0]["runbook"], "r.rhai");
    assert_eq!(lines[0]["function"], "deploy");
    assert_eq!(lines[1]["args"]["command"], "true");
    assert_eq!(lines[1]["ok"], true);
    assert_eq!(lines[2]["ok"], false);
    assert_eq!(lines[2]["error"], "exit code 4");
}

#[test]
fn journal_lists_runs_and_shows_one() {
    let out = Test::new()
        .file("r.rhai", "local::run(\"echo hello\");\n")
        .args(&["run", "r.rhai"])
        .run();
    out.code(0);
    let home = out.dir.path();
    let list = std::process::Command::new(env!("CARGO_BIN_EXE_opsh"))
        .args(["journal", "--output", "json"])
        .env("HOME", home)
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&list.stdout).expect("JSON list");
    assert_eq!(runs[0]["runbook"], "r.rhai");
    assert_eq!(runs[0]["actions"], 1);
    let run_id = runs[0]["run"].as_str().unwrap().to_string();
    let shown = std::process::Command::new(env!("CARGO_BIN_EXE_opsh"))
        .args(["journal", &run_id[..12]])
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains(&format!("run {run_id}")) && text.contains("echo hello"),
        "{text}"
    );
    let teardown = std::process::Command::new(env!("CARGO_BIN_EXE_opsh"))
        .args(["journal", "last", "--teardown"])
        .env("HOME", home)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&teardown.stdout).contains("left nothing to remove"));
}

#[test]
fn secrets_stay_out_of_the_journal() {
    let out = Test::new()
        .file("r.rhai", "let pw = prompt(\"DB password?\", #{ key: \"pw\", secret: true });\nlocal::run(`echo ${pw} > /dev/null`);\n")
        .args(&["run", "r.rhai", "--var", "pw=TopSecret123"])
        .run();
    out.code(0)
        .stderr_lacks("TopSecret123")
        .stdout_lacks("TopSecret123");
    let files = journal_files(out.dir.path());
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        !text.contains("TopSecret123") && text.contains("echo *** > /dev/null"),
        "{text}"
    );
}

#[test]
fn unknown_runs_are_usage_errors() {
    Test::new()
        .args(&["journal", "nope"])
        .run()
        .code(2)
        .stderr_has("no run `nope` on record");
}

#[test]
fn dry_run_shows_confirmations_in_the_plan_instead_of_asking() {
    let out = Test::new()
        .file(
            "r.rhai",
            "if confirm(\"Drop the old releases?\") { local::run(\"rm -rf old\"); }\n",
        )
        .args(&["run", "r.rhai", "--dry-run"])
        .run();
    out.code(0).stdout_has(
        "  1. confirm Drop the old releases?\n  2. local::run local {\"command\":\"rm -rf old\"}",
    );
}
