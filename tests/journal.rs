//! Dry-run plans and the run journal: write-ahead lines, in-flight and
//! unreadable entries, a journal that cannot be written (read-only, full)
//! and `--no-journal`, mostly with local commands (the cloud and SSH
//! actions are covered in their own test files).

mod common;

use common::Test;

fn journal_files(home: &std::path::Path) -> Vec<std::path::PathBuf> {
    journal_files_in(&home.join(".local/state/opsh/journal"))
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
    // The header, then each action twice: started before it ran, finished
    // after; the action after the failure never started.
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(lines[0]["runbook"], "r.rhai");
    assert_eq!(lines[0]["function"], "deploy");
    assert_eq!(lines[1]["phase"], "started");
    assert_eq!(lines[1]["n"], 1);
    assert_eq!(lines[1]["args"]["command"], "true");
    assert_eq!(lines[2]["phase"], "finished");
    assert_eq!(lines[2]["n"], 1);
    assert_eq!(lines[2]["ok"], true);
    assert_eq!(lines[3]["phase"], "started");
    assert_eq!(lines[3]["args"]["command"], "exit 4");
    assert_eq!(lines[4]["n"], 2);
    assert_eq!(lines[4]["ok"], false);
    assert_eq!(lines[4]["error"], "exit code 4");
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

/// A tmpfs mounted over a test's journal directory, unmounted when dropped.
/// opsh's tests run as root, and root writes through file modes: only a
/// read-only or full file system refuses it.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, options: &str) -> Self {
        std::fs::create_dir_all(dir).expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mount -t tmpfs -o {options} {} failed: this test needs root",
            dir.display()
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A directory for `XDG_STATE_HOME`, so the journal lives where the test
/// says whatever HOME is.
fn state_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("state directory");
    let path = dir.path().to_str().expect("UTF-8 path").to_string();
    (dir, path)
}

fn journal_cmd(state: &str, args: &[&str]) -> common::Outcome {
    let mut all = vec!["journal"];
    all.extend_from_slice(args);
    Test::new().env("XDG_STATE_HOME", state).args(&all).run()
}

#[test]
fn a_killed_run_leaves_its_action_on_record_as_in_flight() {
    let (_state, state) = state_dir();
    let test = Test::new()
        .env("XDG_STATE_HOME", &state)
        .file(
            "r.rhai",
            "local::run(\"true\");\nlocal::run(\"echo $$ > child.pid; exec sleep 30\");\n",
        )
        .args(&["run", "r.rhai"]);
    let pid_file = test.path().join("child.pid");
    let mut opsh = test
        .command()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start opsh");
    let read_pid =
        || -> Option<i32> { std::fs::read_to_string(&pid_file).ok()?.trim().parse().ok() };
    common::wait_for(
        "the command to start and write its pid",
        common::HANG,
        || read_pid().is_some(),
    );
    let sleeper = read_pid().expect("the pid just read");
    // SIGKILL: opsh gets no chance to write anything more.
    opsh.kill().expect("kill opsh");
    opsh.wait().expect("reap opsh");
    // SAFETY: kill(2) on the pid of the sleep this test started.
    unsafe {
        libc::kill(sleeper, libc::SIGKILL);
    }

    journal_cmd(&state, &["last"])
        .code(0)
        .stdout_has("in flight / unknown outcome")
        .stdout_has("2. local::run local");
    let runs = journal_cmd(&state, &["--output", "json"]);
    runs.code(0);
    let runs: serde_json::Value = serde_json::from_str(&runs.stdout).expect("JSON list");
    assert_eq!(runs[0]["actions"], 2, "{runs}");
    assert_eq!(runs[0]["in_flight"], 1, "{runs}");
    assert_eq!(runs[0]["failed"], 0, "{runs}");
    let one = journal_cmd(&state, &["last", "--output", "json"]);
    one.code(0);
    let one: serde_json::Value = serde_json::from_str(&one.stdout).expect("JSON run");
    assert_eq!(one["entries"][0]["state"], "ok", "{one}");
    assert_eq!(one["entries"][1]["state"], "in_flight", "{one}");
    assert_eq!(
        one["entries"][1]["args"]["command"],
        "echo $$ > child.pid; exec sleep 30"
    );
    // What an in-flight action did is unknown: the teardown says so.
    journal_cmd(&state, &["last", "--teardown"])
        .code(0)
        .stdout_has("// in flight / unknown outcome")
        .stdout_has("action(s) 2 were in flight");
}

#[test]
fn a_read_only_journal_stops_the_run_before_its_first_side_effect() {
    let (state_guard, state) = state_dir();
    let journal = state_guard.path().join("opsh/journal");
    let _read_only = Tmpfs::mount(&journal, "ro");
    let run = |script: &str, extra: &[&str]| {
        let mut args = vec!["run", "r.rhai"];
        args.extend_from_slice(extra);
        Test::new()
            .env("XDG_STATE_HOME", &state)
            .file("r.rhai", script)
            .args(&args)
            .run()
    };
    let script = "print(\"before\");\nlocal::run(\"touch made\");\nprint(\"after\");\n";
    let out = run(script, &[]);
    out.code(1)
        .stdout_has("before")
        .stdout_lacks("after")
        .stderr_has(&format!("cannot create the journal {}/", journal.display()))
        .stderr_has("Read-only file system")
        .stderr_has("stopped before action 1 (local::run local), which was not done")
        .stderr_has("--no-journal");
    assert!(!out.path("made").exists(), "the command ran unjournaled");

    // A runbook cannot catch it and go on.
    let out = run(
        "try { local::run(\"touch made\"); } catch (e) { print(\"caught\"); }\nlocal::run(\"touch later\");\n",
        &[],
    );
    out.code(1)
        .stdout_lacks("caught")
        .stderr_has("--no-journal");
    assert!(!out.path("made").exists() && !out.path("later").exists());

    let out = run(script, &["--no-journal"]);
    out.code(0).stdout_has("after");
    assert!(out.path("made").exists());
}

#[test]
fn a_journal_that_fills_up_stops_the_run_before_the_next_side_effect() {
    let (state_guard, state) = state_dir();
    let journal = state_guard.path().join("opsh/journal");
    // One page: the header and the first action fit, the long second one not.
    let full = Tmpfs::mount(&journal, "size=4k");
    let long = "x".repeat(6000);
    let out = Test::new()
        .env("XDG_STATE_HOME", &state)
        .file(
            "r.rhai",
            &format!(
                "local::run(\"touch one\");\nlocal::run(\"touch two; : {long}\");\nlocal::run(\"touch three\");\n"
            ),
        )
        .args(&["run", "r.rhai"])
        .run();
    out.code(1)
        .stderr_has("cannot write the journal")
        .stderr_has("No space left on device")
        .stderr_has("stopped before action 2")
        .stderr_has("--no-journal");
    assert!(out.path("one").exists());
    assert!(!out.path("two").exists() && !out.path("three").exists());

    // The cut-off line is shown, with where it is.
    let shown = journal_cmd(&state, &["last"]);
    shown
        .code(0)
        .stdout_has("touch one")
        .stdout_has("unreadable lines")
        .stdout_has(&format!("{}/", journal.display()))
        .stdout_has(".jsonl:4: ");
    drop(full);
}

#[test]
fn journal_shows_unreadable_lines_and_files_with_where_they_are() {
    let (_state, state, files) = one_run_journal();
    let file = files[0].display().to_string();
    let mut text = std::fs::read_to_string(&files[0]).unwrap();
    text += "{\"phase\":\"finished\",\"n\":2,\"act\n";
    std::fs::write(&files[0], text).unwrap();
    let dir = files[0].parent().expect("the journal directory");
    std::fs::write(dir.join("0-not-a-run.jsonl"), "garbage\n").unwrap();

    journal_cmd(&state, &[])
        .code(0)
        .stderr_has(&format!("1 unreadable line(s): {file}:4"))
        .stderr_has("0-not-a-run.jsonl:1: not an opsh journal");
    journal_cmd(&state, &["last"])
        .code(0)
        .stdout_has("unreadable lines")
        .stdout_has(&format!("{file}:4: "))
        .stdout_has("{\"phase\":\"finished\",\"n\":2,\"act");
    let one = journal_cmd(&state, &["last", "--output", "json"]);
    one.code(0);
    let one: serde_json::Value = serde_json::from_str(&one.stdout).expect("JSON run");
    assert_eq!(one["unreadable"][0]["line"], 4, "{one}");
    assert_eq!(one["unreadable"][0]["file"], file.as_str());
    assert_eq!(one["entries"][0]["state"], "ok", "{one}");
}

#[test]
fn no_journal_runs_without_one() {
    let (_state, state) = state_dir();
    let out = Test::new()
        .env("XDG_STATE_HOME", &state)
        .file("r.rhai", "local::run(\"touch made\");\n")
        .args(&["run", "r.rhai", "--no-journal"])
        .run();
    out.code(0);
    assert!(out.path("made").exists());
    assert!(journal_files_in(&std::path::Path::new(&state).join("opsh/journal")).is_empty());
    Test::new()
        .args(&["run", "--help"])
        .run()
        .code(0)
        .stdout_has("--no-journal");
}

/// A state directory holding the journal of one run of `local::run("true")`:
/// the directory (kept alive), its path and the journal's files.
fn one_run_journal() -> (tempfile::TempDir, String, Vec<std::path::PathBuf>) {
    let (dir, state) = state_dir();
    Test::new()
        .env("XDG_STATE_HOME", &state)
        .file("r.rhai", "local::run(\"true\");\n")
        .args(&["run", "r.rhai"])
        .run()
        .code(0);
    let files = journal_files_in(&std::path::Path::new(&state).join("opsh/journal"));
    assert_eq!(files.len(), 1, "{files:?}");
    (dir, state, files)
}

fn journal_files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn a_read_only_journal_stops_remote_commands_too_even_with_warn() {
    let lab_dir = std::path::PathBuf::from(common::lab::lab().var("OPSH_LAB_DIR"));
    let (state_guard, state) = state_dir();
    let _read_only = Tmpfs::mount(&state_guard.path().join("opsh/journal"), "ro");
    let marker = common::lab::unique("journal-ro");
    for script in [
        format!(
            "ssh::connect(\"lab-1\").run(\"touch {marker}\", #{{ warn: true }});\nprint(\"after\");\n"
        ),
        format!(
            "ssh::group([\"lab-1\", \"lab-2\"]).run(\"touch {marker}\", #{{ warn: true }});\nprint(\"after\");\n"
        ),
    ] {
        Test::new()
            .lab()
            .env("XDG_STATE_HOME", &state)
            .file("r.rhai", &script)
            .args(&["run", "r.rhai"])
            .run()
            .code(1)
            .stdout_lacks("after")
            .stderr_has("Read-only file system")
            .stderr_has("--no-journal");
        for host in ["lab-1", "lab-2"] {
            let made = lab_dir.join("hosts").join(host).join("home").join(&marker);
            assert!(!made.exists(), "{host} ran the command unjournaled");
        }
    }
    // The same command without a journal does reach the host.
    Test::new()
        .lab()
        .env("XDG_STATE_HOME", &state)
        .file(
            "r.rhai",
            &format!("ssh::connect(\"lab-1\").run(\"touch {marker}\");\n"),
        )
        .args(&["run", "r.rhai", "--no-journal"])
        .run()
        .code(0);
    let made = lab_dir.join("hosts/lab-1/home").join(&marker);
    assert!(
        made.exists(),
        "{} is not where lab-1's home is",
        made.display()
    );
    std::fs::remove_file(made).expect("remove the marker");
}

#[test]
fn a_run_with_a_corrupt_byte_stays_listed_and_shows_the_bad_line() {
    let (_state, state, files) = one_run_journal();
    let file = files[0].display().to_string();
    let run_id = files[0]
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("run id")
        .to_string();
    // One byte of the last line (the action's outcome) goes bad.
    let mut bytes = std::fs::read(&files[0]).expect("read the journal");
    let last_start = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .expect("more than one line")
        + 1;
    bytes[last_start + 3] = 0xff;
    std::fs::write(&files[0], &bytes).expect("write the journal");

    journal_cmd(&state, &[])
        .code(0)
        .stdout_has(&run_id)
        .stderr_has(&format!("1 unreadable line(s): {file}:3"));
    journal_cmd(&state, &["last"])
        .code(0)
        .stdout_has(&format!("{file}:3: not UTF-8 text"))
        .stdout_has("in flight");

    // A run whose header is what went bad is named, and the list does not
    // claim that nothing is on record.
    let mut bytes = std::fs::read(&files[0]).expect("read the journal");
    bytes[2] = 0xff;
    std::fs::write(&files[0], &bytes).expect("write the journal");
    journal_cmd(&state, &[])
        .code(0)
        .stderr_has(&format!("{file}:1: not an opsh journal (not UTF-8 text"))
        .stderr_has("none of the 1 most recent journal file(s) could be read")
        .stderr_lacks("no runs are on record yet");
}

/// How many times opsh (and what it starts) syncs a file to disk while it
/// runs `script`, counted by strace.
fn syncs_while_running(script: &str) -> usize {
    let (_state, state) = state_dir();
    let test = Test::new()
        .env("XDG_STATE_HOME", &state)
        .file("r.rhai", script)
        .args(&["run", "r.rhai"]);
    let opsh = test.command();
    let trace = test.path().join("syncs.trace");
    let mut traced = std::process::Command::new("timeout");
    traced
        .args(["120", "strace", "-f", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&trace)
        .arg(opsh.get_program())
        .args(opsh.get_args());
    if let Some(dir) = opsh.get_current_dir() {
        traced.current_dir(dir);
    }
    for (key, value) in opsh.get_envs() {
        match value {
            Some(value) => traced.env(key, value),
            None => traced.env_remove(key),
        };
    }
    let out = traced
        .output()
        .expect("run opsh under strace (needs strace)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trace = std::fs::read_to_string(&trace).expect("the strace output");
    trace
        .lines()
        .filter(|l| l.contains("fsync(") || l.contains("fdatasync("))
        .count()
}

#[test]
fn reads_are_journaled_without_a_sync_each() {
    let reads = |n: usize| {
        format!(
            "for i in 0..{n} {{ local::run(\"true\", #{{ read: true, quiet: true }}); }}\n\
             local::run(\"true\", #{{ quiet: true }});\n"
        )
    };
    let one = syncs_while_running(&reads(1));
    let many = syncs_while_running(&reads(30));
    assert!(one > 0, "the mutating command's line was not synced");
    assert_eq!(many, one, "30 reads synced more than 1 read did");
}
