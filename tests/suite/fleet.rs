//! Fleet operations against the lab: groups in waves with failure
//! thresholds, rollouts, the per-host summary (text, JSON, journal),
//! --limit and `@failed`.

use std::path::{Path, PathBuf};

use crate::common;
use crate::common::lab::{lab, unique};
use crate::common::{HANG, Test};

/// An ssh_config with the lab's hosts and `dead-1`, which refuses connections.
fn ssh_config() -> String {
    format!(
        "Include {lab}/ssh_config\nHost dead-1\n    HostName 127.0.0.1\n    Port {dead}\n    ProxyCommand none\n",
        lab = lab().var("OPSH_LAB_DIR"),
        dead = common::ports::refused_port(),
    )
}

/// A lab test that also knows `dead-1`, its journal in `state`.
fn fleet_test(state: &Path) -> Test {
    let test = Test::new().file("ssh_config", &ssh_config());
    let config = test.path().join("ssh_config");
    test.lab()
        .env("OPSH_SSH_CONFIG", config.to_str().expect("utf-8 path"))
        .env("XDG_STATE_HOME", state.to_str().expect("utf-8 path"))
}

/// A scratch journal directory shared by the runs of one test.
fn state_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("state directory")
}

/// A directory in the machine's /tmp (lab hosts share it) where each host
/// that ran leaves a file named after it.
struct Marks(PathBuf);

impl Marks {
    fn new() -> Self {
        let dir = PathBuf::from(format!("/tmp/{}", unique("opsh-fleet")));
        std::fs::create_dir_all(&dir).expect("marks directory");
        // The lab hosts run as an unprivileged user.
        std::process::Command::new("chmod")
            .args(["777", dir.to_str().expect("utf-8 path")])
            .status()
            .expect("chmod");
        Self(dir)
    }

    /// The shell command that marks the host it runs on.
    fn touch(&self) -> String {
        format!("touch {}/$OPSH_LAB_HOST", self.0.display())
    }

    fn hosts(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .expect("marks")
            .map(|e| e.expect("mark").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort_by_key(|n| n.trim_start_matches("lab-").parse::<u32>().unwrap_or(0));
        names
    }
}

impl Drop for Marks {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A command that fails on the lab hosts named, and marks every host it runs on.
fn failing_on(marks: &Marks, failing: &[&str]) -> String {
    let cases = failing.join("|");
    format!(
        "{}; case $OPSH_LAB_HOST in {cases}) exit 3;; esac",
        marks.touch()
    )
}

fn hosts(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Every JSON document opsh printed on stdout.
fn documents(stdout: &str) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_str(stdout)
        .into_iter::<serde_json::Value>()
        .map(|d| d.expect("stdout holds only JSON documents"))
        .collect()
}

#[test]
fn waves_stop_once_more_hosts_fail_than_max_fail_allows_and_skip_the_rest() {
    let state = state_dir();
    let marks = Marks::new();
    let targets = ["lab-1", "lab-2", "lab-3", "lab-4", "lab-5", "lab-6"];
    let script = format!(
        "ssh::group({}, #{{ batch: 2 }}).run({:?});\n",
        hosts(&targets),
        failing_on(&marks, &["lab-3"])
    );
    let out = fleet_test(state.path())
        .file("r.rhai", &script)
        .args(&["run", "r.rhai"])
        .run_within(HANG);
    out.code(1)
        .stderr_has(": 3 ok, 1 failed, 0 unreachable, 2 skipped in ")
        .stderr_has("failed on 1 of 6 host(s): lab-3; 2 host(s) skipped: lab-5, lab-6")
        .stderr_has("2 skipped: lab-5, lab-6")
        .stderr_has("more than max_fail 0");
    // Skipped hosts were never touched: no command ran, none was journaled.
    assert_eq!(marks.hosts(), ["lab-1", "lab-2", "lab-3", "lab-4"]);
    for skipped in ["lab-5", "lab-6"] {
        assert!(out.commands_on_in(state.path(), skipped).is_empty());
    }
}

#[test]
fn thresholds_count_unreachable_hosts_with_numbers_and_percentages() {
    let state = state_dir();
    // 8 hosts, 2 per wave ("25%"); dead-1 is unreachable in wave 1 and
    // lab-4 fails in wave 2: 2 of 8 is within "25%", so wave 3 (lab-5,
    // lab-6) runs; lab-5 fails there, 3 of 8 exceeds it, and wave 4 (lab-7,
    // lab-8) is skipped.
    let marks = Marks::new();
    let targets = [
        "lab-1", "dead-1", "lab-3", "lab-4", "lab-5", "lab-6", "lab-7", "lab-8",
    ];
    let cmd = failing_on(&marks, &["lab-4", "lab-5"]);
    let script = format!(
        "fn waves(opts) {{\n\
           let rs = ssh::group({t}, opts).run({cmd:?}, #{{ warn: true }});\n\
           rs.map(|r| `${{r.host}}=${{r.code}}`)\n\
         }}\n",
        t = hosts(&targets)
    );
    let out = fleet_test(state.path())
        .file(
            "p.rhai",
            &format!(
                "{script}fn percent() {{ waves(#{{ batch: \"25%\", max_fail: \"25%\" }}) }}\n"
            ),
        )
        .args(&["run", "p.rhai", "percent", "--output", "json"])
        .run_within(HANG);
    out.code(0)
        .stderr_has(": 3 ok, 2 failed, 1 unreachable, 2 skipped in ");
    let docs = documents(&out.stdout);
    let summary = &docs[0];
    assert_eq!(summary["unreachable"], 1, "{summary}");
    assert_eq!(summary["skipped"], 2, "{summary}");
    let statuses: Vec<String> = summary["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| {
            format!(
                "{}={}",
                h["host"].as_str().unwrap_or(""),
                h["status"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            "lab-1=ok",
            "dead-1=unreachable",
            "lab-3=ok",
            "lab-4=failed",
            "lab-5=failed",
            "lab-6=ok",
            "lab-7=skipped",
            "lab-8=skipped"
        ]
    );
    let results: Vec<String> = docs[1]
        .as_array()
        .expect("the result")
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(results[7], "lab-8=-1");
    assert_eq!(marks.hosts(), ["lab-1", "lab-3", "lab-4", "lab-5", "lab-6"]);

    // The same with numbers: up to 1 failure tolerated, so wave 2 (2 of 8
    // down) is the last.
    let marks = Marks::new();
    let cmd = failing_on(&marks, &["lab-4"]);
    let script = format!(
        "let rs = ssh::group({t}, #{{ batch: 2, max_fail: 1, pause: 0.1 }}).run({cmd:?}, #{{ warn: true }});\n",
        t = hosts(&targets)
    );
    fleet_test(state.path())
        .file("n.rhai", &script)
        .args(&["run", "n.rhai"])
        .run_within(HANG)
        .code(0)
        .stderr_has(": 2 ok, 1 failed, 1 unreachable, 4 skipped in ")
        .stderr_has("warning: group.run");
    assert_eq!(marks.hosts(), ["lab-1", "lab-3", "lab-4"]);
}

#[test]
fn without_batch_every_host_runs_and_the_summary_and_journal_say_how_each_did() {
    let state = state_dir();
    let marks = Marks::new();
    let targets = ["lab-1", "lab-2", "dead-1", "lab-3"];
    let script = format!(
        "fn deploy() {{ ssh::group({}).run({:?}) }}\n",
        hosts(&targets),
        failing_on(&marks, &["lab-1"])
    );
    fleet_test(state.path())
        .file("r.rhai", &script)
        .args(&["run", "r.rhai", "deploy"])
        .run_within(HANG)
        .code(1)
        .stderr_has(": 2 ok, 1 failed, 1 unreachable, 0 skipped in ")
        .stderr_has("failed on 2 of 4 host(s): lab-1, dead-1");
    assert_eq!(marks.hosts(), ["lab-1", "lab-2", "lab-3"]);

    let shown = Test::new()
        .env("XDG_STATE_HOME", state.path().to_str().expect("utf-8"))
        .args(&["journal", "last"])
        .run();
    shown
        .code(0)
        .stdout_has("group.run `touch")
        .stdout_has("failed       lab-1")
        .stdout_has("unreachable  dead-1")
        .stdout_has("ok           lab-3");
    let json = Test::new()
        .env("XDG_STATE_HOME", state.path().to_str().expect("utf-8"))
        .args(&["journal", "last", "--output", "json"])
        .run();
    json.code(0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let hosts = &doc["hosts"][0]["hosts"];
    assert_eq!(hosts[0]["host"], "lab-1");
    assert_eq!(hosts[0]["status"], "failed");
    assert_eq!(hosts[2]["status"], "unreachable");
    assert!(
        hosts[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("exit code 3"),
        "{hosts}"
    );
}

#[test]
fn wave_options_are_checked() {
    for (opts, message) in [
        (
            "#{ batch: 0 }",
            "option `batch` must be a number of hosts (at least 1)",
        ),
        ("#{ batch: \"0%\" }", "option `batch` must be"),
        ("#{ max_fail: \"150%\" }", "option `max_fail` must be"),
        ("#{ pause: -1 }", "option `pause` must be from 0"),
    ] {
        Test::new()
            .file("r.rhai", &format!("ssh::group([\"lab-1\"], {opts});\n"))
            .args(&["run", "r.rhai"])
            .run()
            .code(1)
            .stderr_has(message);
    }
}

#[test]
fn a_rollout_runs_a_batch_in_parallel_and_a_throw_fails_only_its_host() {
    let state = state_dir();
    // Each host logs its start and end in one file (lab hosts share /tmp).
    let log = PathBuf::from(format!("/tmp/{}.log", unique("opsh-rollout")));
    let targets = [
        "lab-1", "lab-2", "lab-3", "lab-4", "lab-5", "lab-6", "lab-7", "lab-8", "lab-9", "lab-10",
    ];
    let script = format!(
        "fn roll() {{\n\
           let outcomes = ssh::rollout({t}, #{{ warn: true }}, |host| {{\n\
             host.run(\"echo + >> {log}; sleep 2; echo - >> {log}\", #{{ quiet: true }});\n\
             if host.name == \"lab-3\" {{ throw \"lab-3 is broken\"; }}\n\
             host.run(\"echo $OPSH_LAB_HOST\", #{{ quiet: true }}).stdout\n\
           }});\n\
           outcomes.map(|o| `${{o.host}} ${{o.status}} ${{o.value}} ${{o.error}}`)\n\
         }}\n",
        t = hosts(&targets),
        log = log.display()
    );
    let started = std::time::Instant::now();
    let out = fleet_test(state.path())
        .file("r.rhai", &script)
        .args(&["run", "r.rhai", "roll", "--output", "json"])
        .run_within(HANG);
    let took = started.elapsed();
    let events = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    out.code(0)
        .stderr_has("rollout: 9 ok, 1 failed, 0 unreachable, 0 skipped in ")
        .stderr_has("warning: rollout did not complete on 1 of 10 host(s): lab-3");
    // One after another, the ten sleeps alone would take 20 s, and no two
    // hosts would overlap.
    let (mut now, mut most) = (0, 0);
    for event in events.lines() {
        now += if event == "+" { 1 } else { -1 };
        most = most.max(now);
    }
    assert!(most >= 5, "at most {most} hosts at once:\n{events}");
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
    let docs = documents(&out.stdout);
    let lines: Vec<&str> = docs[1]
        .as_array()
        .expect("result")
        .iter()
        .map(|v| v.as_str().unwrap_or(""))
        .collect();
    assert_eq!(lines[0], "lab-1 ok lab-1\n ");
    assert!(
        lines[2].starts_with("lab-3 failed  lab-3 is broken (line 4,"),
        "{lines:?}"
    );
    assert_eq!(lines[9], "lab-10 ok lab-10\n ");
}

#[test]
fn a_rollout_throws_naming_failed_unreachable_and_skipped_hosts_and_never_touches_the_skipped() {
    let state = state_dir();
    let marks = Marks::new();
    let targets = ["lab-1", "dead-1", "lab-3", "lab-4", "lab-5", "lab-6"];
    let script = format!(
        "ssh::rollout({t}, #{{ batch: 2, max_fail: 1, name: \"app\" }}, |host| {{\n\
           host.run({cmd:?});\n\
         }});\n\
         print(\"not reached\");\n",
        t = hosts(&targets),
        cmd = failing_on(&marks, &["lab-4"]),
    );
    fleet_test(state.path())
        .file("r.rhai", &script)
        .args(&["run", "r.rhai"])
        .run_within(HANG)
        .code(1)
        .stderr_has("app: 2 ok, 1 failed, 1 unreachable, 2 skipped in ")
        .stderr_has("app did not complete on 4 of 6 host(s): dead-1, lab-4, lab-5, lab-6")
        .stderr_has("1 unreachable: dead-1")
        .stderr_has("2 skipped: lab-5, lab-6")
        .stderr_lacks("not reached");
    assert_eq!(marks.hosts(), ["lab-1", "lab-3", "lab-4"]);
}

#[test]
fn rollout_prompts_name_their_host_and_a_dry_run_plans_every_host() {
    let marks = Marks::new();
    let script = format!(
        "ssh::rollout([\"lab-1\", \"lab-2\", \"lab-3\"], |host| {{\n\
           let version = prompt(\"Version?\", #{{ fallback: \"v1\" }});\n\
           host.run(`{touch} # ${{version}}`);\n\
         }});\n",
        touch = marks.touch()
    );
    let state = state_dir();
    let out = fleet_test(state.path())
        .file("r.rhai", &script)
        .args(&["run", "r.rhai", "--dry-run"])
        .run_within(HANG);
    out.code(0)
        .stderr_has("? lab-1: Version? v1")
        .stderr_has("? lab-3: Version? v1")
        .stderr_has("rollout: 3 ok, 0 failed, 0 unreachable, 0 skipped in ");
    for host in ["lab-1", "lab-2", "lab-3"] {
        out.stdout_has(&format!("ssh::run {host} {{\"command\":\"touch"));
    }
    assert!(
        marks.hosts().is_empty(),
        "a dry run ran {:?}",
        marks.hosts()
    );
}

#[test]
fn ctrl_c_stops_a_rollout_and_ends_its_remote_commands() {
    let tag = unique("opsh-roll-int");
    let command = PathBuf::from(format!("/tmp/{tag}.sh"));
    std::fs::write(
        &command,
        format!("sleep 300 & echo $! > /tmp/{tag}-$OPSH_LAB_HOST; wait\n"),
    )
    .expect("write the command");
    let script = format!(
        "ssh::rollout([\"lab-1\", \"lab-2\", \"lab-3\"], |host| {{\n\
           host.run(\"sh {}\");\n\
         }});\n\
         print(\"not reached\");\n",
        command.display()
    );
    let mut running = Test::new()
        .file("r.rhai", &script)
        .args(&["run", "r.rhai"])
        .lab()
        .spawn();
    let files: Vec<PathBuf> = (1..=3)
        .map(|i| PathBuf::from(format!("/tmp/{tag}-lab-{i}")))
        .collect();
    running.wait_until("the remote sleeps to start", |_| {
        files
            .iter()
            .all(|f| std::fs::read_to_string(f).is_ok_and(|s| s.ends_with('\n')))
    });
    running.interrupt();
    let out = running.finish();
    let _ = std::fs::remove_file(&command);
    out.code(130).stderr_lacks("not reached");
    common::wait_pid_files_gone(&files, "a remote sleep Ctrl-C should have ended");
}

#[test]
fn limit_globs_narrow_groups_by_name_address_and_name_tag_and_refuse_connects_outside() {
    let state = state_dir();
    let marks = Marks::new();
    let script = format!(
        "fn deploy() {{\n\
           let one = #{{ id: \"i-one\", public_ip: \"127.0.0.2\", tags: #{{ Name: \"web-a\" }} }};\n\
           let two = #{{ id: \"i-two\", public_ip: \"127.0.0.3\", tags: #{{ Name: \"db-a\" }} }};\n\
           ssh::group([one, two, \"lab-3\", \"lab-4\"]).run({touch:?});\n\
           ssh::connect(\"lab-5\");\n\
         }}\n\
         fn nothing() {{ ssh::group([\"lab-1\", \"lab-2\"]).run({touch:?}).len() }}\n",
        touch = marks.touch()
    );
    let test = || fleet_test(state.path()).file("r.rhai", &script);
    test()
        .args(&[
            "run",
            "r.rhai",
            "deploy",
            "--limit",
            "web-*,127.0.0.3,lab-4",
        ])
        .run_within(HANG)
        .code(1)
        .stderr_has(": 3 ok, 0 failed, 0 unreachable, 0 skipped in ")
        .stderr_has("ssh::connect: lab-5 is outside --limit web-*,127.0.0.3,lab-4");
    assert_eq!(marks.hosts(), ["lab-1", "lab-2", "lab-4"]);
    test()
        .args(&["run", "r.rhai", "nothing", "--limit", "web-*"])
        .run_within(HANG)
        .code(0)
        .stderr_has("ssh::group: --limit web-* leaves none of its 2 host(s)")
        .stdout_is("0\n");
    test()
        .args(&["run", "r.rhai", "nothing", "--limit", "lab-1,,x"])
        .run()
        .code(2)
        .stderr_has("has an empty pattern");
}

#[test]
fn limit_failed_reruns_exactly_the_hosts_that_failed_once_the_cause_is_fixed() {
    let state = state_dir();
    let marks = Marks::new();
    let flags = Marks::new();
    for host in ["lab-2", "lab-4"] {
        std::fs::write(flags.0.join(host), "").expect("break the host");
    }
    let script = format!(
        "fn deploy() {{\n\
           ssh::group([\"lab-1\", \"lab-2\", \"lab-3\", \"lab-4\", \"lab-5\"]).run(\"{touch}; test ! -e {flags}/$OPSH_LAB_HOST\");\n\
         }}\n\
         fn other() {{ 1 }}\n",
        touch = marks.touch(),
        flags = flags.0.display()
    );
    let test = || fleet_test(state.path()).file("r.rhai", &script);
    test()
        .args(&["run", "r.rhai", "other", "--limit", "@failed"])
        .run()
        .code(2)
        .stderr_has("--limit @failed: no earlier run of r.rhai other is on record");
    test()
        .args(&["run", "r.rhai", "deploy"])
        .run_within(HANG)
        .code(1)
        .stderr_has("failed on 2 of 5 host(s): lab-2, lab-4");
    let first_run = Test::new()
        .env("XDG_STATE_HOME", state.path().to_str().expect("utf-8"))
        .args(&["journal", "--output", "json"])
        .run();
    let runs: serde_json::Value = serde_json::from_str(&first_run.stdout).expect("runs");
    let first_run = runs[0]["run"].as_str().expect("a run id").to_string();

    // The cause is fixed; only the two hosts that failed run again.
    for host in ["lab-2", "lab-4"] {
        std::fs::remove_file(flags.0.join(host)).expect("fix the host");
    }
    let again = Marks::new();
    let script = script.replace(
        &marks.0.display().to_string(),
        &again.0.display().to_string(),
    );
    let retry = |limit: &str| {
        fleet_test(state.path())
            .file("r.rhai", &script)
            .args(&["run", "r.rhai", "deploy", "--limit", limit])
            .run_within(HANG)
    };
    retry("@failed")
        .code(0)
        .stderr_has(&format!(
            "--limit @failed: 2 host(s) from run {first_run}: lab-2, lab-4"
        ))
        .stderr_has(": 2 ok, 0 failed, 0 unreachable, 0 skipped in ");
    assert_eq!(again.hosts(), ["lab-2", "lab-4"]);
    // That run failed nowhere; the first one is still on record by its id.
    retry("@failed")
        .code(2)
        .stderr_has("no host failed, was unreachable or was skipped in run");
    retry(&format!("@failed:{first_run}"))
        .code(0)
        .stderr_has(": 2 ok, 0 failed");
}

#[test]
fn check_holds_rollout_options_to_their_keys() {
    Test::new()
        .file(
            "r.rhai",
            "fn deploy() { ssh::rollout([\"lab-1\"], #{ bach: 2 }, |host| host.run(\"true\")); }\n",
        )
        .args(&["check", "r.rhai"])
        .run()
        .code(2)
        .stderr_has("bach");
}
