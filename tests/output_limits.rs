//! What a command prints, however much: memory stays bounded, a cut Result
//! says so, `stdout_to` keeps every byte, `read` names its limit, and a
//! secret spanning lines is hidden in streamed and captured output.

mod common;

use std::process::{Command, Stdio};

use common::Test;
use common::lab::unique;

/// What a Result keeps of a stream (the documented 16 MiB).
const KEPT: usize = 16 * 1024 * 1024;
/// A command printing this much without a newline once took ~600 MB.
const HUGE: usize = 150_000_000;
/// Peak memory allowed for opsh while such a command runs.
const PEAK_KB: u64 = 150 * 1024;

/// A shell command printing `bytes` bytes without a newline (for a Rhai
/// backtick string, which keeps the backslash).
fn one_long_line(bytes: usize) -> String {
    format!("head -c {bytes} /dev/zero | tr '\\0' a")
}

/// Run opsh as `test` would, stdout discarded (a huge stream must not
/// fill the test's memory), and return its exit code, stderr and peak
/// resident memory in KiB (as /usr/bin/time's %M: wait4's ru_maxrss).
fn run_measured(test: &Test) -> (i32, String, u64) {
    let stderr_path = test.path().join("opsh.stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    #[expect(
        clippy::zombie_processes,
        reason = "reaped by wait4 below, which also reports its peak memory"
    )]
    let child = test
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start opsh");
    let pid = i32::try_from(child.id()).expect("pid fits");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; both pointers are to live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let stderr = std::fs::read_to_string(&stderr_path).expect("read stderr");
    (code, stderr, u64::try_from(usage.ru_maxrss).expect("rss"))
}

fn assert_cut_and_bounded(test: Test, host: &str) {
    let (code, stderr, peak_kb) = run_measured(&test);
    assert_eq!(code, 0, "exit code {code}\n{stderr}");
    assert!(
        stderr.contains(&format!("truncated=true kept={KEPT}")),
        "{stderr}"
    );
    let warning = format!(
        "warning: {host}: `{}` printed 143.1 MiB on stdout",
        one_long_line(HUGE)
    );
    assert!(
        stderr.contains(&warning),
        "no warning {warning:?} in\n{stderr}"
    );
    assert!(
        stderr.contains("keeps the first 16 MiB (the capture limit")
            && stderr.contains("stdout_to"),
        "{stderr}"
    );
    assert!(
        peak_kb < PEAK_KB,
        "opsh peaked at {} MiB of memory",
        peak_kb / 1024
    );
}

#[test]
fn a_huge_local_line_is_cut_with_a_warning_in_bounded_memory() {
    let script = format!(
        "let r = local::run(`{}`, #{{ warn: true }});\n\
         if r.code != 0 {{ throw r.stderr; }}\n\
         info(`truncated=${{r.truncated}} kept=${{r.stdout.len()}}`);\n",
        one_long_line(HUGE)
    );
    let test = Test::new().file("r.rhai", &script).args(&["run", "r.rhai"]);
    assert_cut_and_bounded(test, "local");
}

#[test]
fn a_huge_remote_line_is_cut_with_a_warning_in_bounded_memory() {
    let script = format!(
        "let r = ssh::connect(\"lab-1\").run(`{}`, #{{ warn: true }});\n\
         if r.code != 0 {{ throw r.stderr; }}\n\
         info(`truncated=${{r.truncated}} kept=${{r.stdout.len()}}`);\n",
        one_long_line(HUGE)
    );
    let test = Test::new()
        .file("r.rhai", &script)
        .args(&["run", "r.rhai"])
        .lab();
    assert_cut_and_bounded(test, "lab-1");
}

/// `seq 1 N` as the local machine prints it.
fn seq(n: u32) -> Vec<u8> {
    let out = Command::new("seq")
        .args(["1", &n.to_string()])
        .output()
        .expect("seq");
    assert!(out.status.success());
    out.stdout
}

/// Over the capture limit, so only a file can hold all of it.
const LINES: u32 = 3_000_000;

#[test]
fn stdout_to_writes_every_byte_locally_and_from_hosts() {
    let script = format!(
        r#"
        let r = local::run("seq 1 {LINES}", #{{ stdout_to: "local.out" }});
        if r.stdout != "" || r.truncated {{ throw "local Result holds stdout"; }}
        let r = ssh::connect("lab-1").run("seq 1 {LINES}", #{{ stdout_to: "{{host}}.out" }});
        if r.stdout != "" || r.truncated {{ throw "remote Result holds stdout"; }}
        let rs = ssh::group(["lab-2", "lab-3", "dead-1"]).run("seq 1 {LINES}", #{{ stdout_to: "group-{{host}}.out", warn: true }});
        print(`written; unreachable: ${{rs[2].code}}`);
        "#
    );
    let test = Test::new().file("r.rhai", &script);
    // An alias on a port that refuses, besides the lab's hosts.
    let config = format!(
        "Include {}\nHost dead-1\n    HostName 127.0.0.1\n    Port {}\n",
        common::lab::lab().ssh_config().display(),
        common::ports::refused_port()
    );
    let config_path = test.path().join("ssh_config");
    let out = test
        .file("ssh_config", &config)
        .args(&["run", "r.rhai"])
        .lab()
        .env("OPSH_SSH_CONFIG", config_path.to_str().expect("utf-8 path"))
        .run();
    out.code(0)
        .stdout_has("written; unreachable: -1")
        .stderr_has("failed on 1 of 3 host(s): dead-1")
        .stderr_lacks("truncated");
    assert!(
        !out.path("group-dead-1.out").exists(),
        "an unreachable host left a file"
    );
    let expected = seq(LINES);
    assert!(expected.len() > KEPT);
    for file in [
        "local.out",
        "lab-1.out",
        "group-lab-2.out",
        "group-lab-3.out",
    ] {
        let written = std::fs::read(out.path(file)).expect("stdout_to file");
        assert!(
            written == expected,
            "{file} differs: {} bytes",
            written.len()
        );
    }
}

#[test]
fn a_group_needs_a_file_per_host_for_stdout_to() {
    Test::new()
        .file(
            "r.rhai",
            r#"ssh::group(["lab-1", "lab-2"]).run("echo hi", #{ stdout_to: "all.out" });"#,
        )
        .args(&["run", "r.rhai"])
        .lab()
        .run()
        .code(1)
        .stderr_has("group.run: option `stdout_to` must contain {host}");
}

#[test]
fn a_group_shares_the_capture_limit_and_names_each_cut_host() {
    // 8 MB each: under what one Result keeps, over a third of it.
    let script = r#"
        let rs = ssh::group(["lab-1", "lab-2", "lab-3"]).run("head -c 8000000 /dev/zero", #{ quiet: true });
        for r in rs { print(`${r.host} truncated=${r.truncated} kept=${r.stdout.len()}`); }
    "#;
    let out = Test::new()
        .file("r.rhai", script)
        .args(&["run", "r.rhai"])
        .lab()
        .run();
    out.code(0);
    for host in ["lab-1", "lab-2", "lab-3"] {
        out.stdout_has(&format!("{host} truncated=true kept={}", KEPT / 3))
            .stderr_has(&format!(
                "warning: {host}: `head -c 8000000 /dev/zero` printed 7.6 MiB on stdout; \
                 its Result keeps the first 5.3 MiB"
            ));
    }
}

#[test]
fn reading_a_file_over_the_limit_names_it_and_points_to_download() {
    let name = unique("opsh-big-read");
    let script = format!(
        r#"
        let h = ssh::connect("lab-1");
        h.run("head -c {} /dev/zero > /tmp/{name}");
        let text = h.read("/tmp/{name}");
        "#,
        KEPT + 1
    );
    let out = Test::new()
        .file("r.rhai", &script)
        .args(&["run", "r.rhai"])
        .lab()
        .run();
    Test::new()
        .file(
            "c.rhai",
            &format!(r#"ssh::connect("lab-1").run("rm -f /tmp/{name}");"#),
        )
        .args(&["run", "c.rhai"])
        .lab()
        .run()
        .code(0);
    out.code(1)
        .stderr_has(&format!(
            "read: lab-1:/tmp/{name} is larger than 16 MiB, the most read() returns"
        ))
        .stderr_has("download(")
        .stderr_lacks("killed by a signal");
}

/// A secret of three lines, none of which may be shown anywhere.
const SECRET_LINES: [&str; 3] = ["alpha-4711-key", "bravo-4711-key", "charlie-4711-key"];

#[test]
fn a_secret_spanning_lines_never_appears_in_any_output() {
    // Printed alone, inside a line, on stderr, as the tail of a failure,
    // locally and on a host; then the Result shown whole.
    let script = r#"
        let key = prompt("Deploy key?", #{ key: "deploy_key", secret: true });
        let opts = #{ env: #{ K: key } };
        local::run(`printf 'before\n%s\nafter\n'  "$K"; printf 'x%sy\n' "$K" >&2`, opts);
        let h = ssh::connect("lab-1");
        h.run(`printf 'before\n%s\nafter\n' "$K"; printf 'x%sy\n' "$K" >&2`, opts);
        let r = h.run(`printf '%s' "$K"`, opts);
        print(r.stdout);
        print(r);
        local::run(`printf '%s\n' "$K" >&2; exit 3`, opts);
    "#;
    let out = Test::new()
        .file("r.rhai", script)
        .args(&[
            "run",
            "r.rhai",
            "--var",
            &format!("deploy_key={}", SECRET_LINES.join("\n")),
        ])
        .lab()
        .run();
    out.code(1)
        .stdout_has("local | ***")
        .stdout_has("lab-1 | ***")
        .stderr_has("local | x***y")
        .stderr_has("lab-1 | x***y")
        .stderr_has("command failed on local with exit code 3");
    for line in SECRET_LINES {
        out.stdout_lacks(line).stderr_lacks(line);
    }
}

#[test]
fn a_large_group_keeps_only_its_share_of_one_result() {
    // 257 hosts: each one's share is just under the 64 KiB each prints, so
    // every Result is cut and all of them together keep at most one Result.
    let hosts = 257;
    let share = KEPT / hosts;
    let script = format!(
        r#"
        let targets = [];
        for i in 0..{hosts} {{ targets.push("lab-4"); }}
        let rs = ssh::group(targets, #{{ concurrency: 8 }}).run("head -c 65536 /dev/zero", #{{ quiet: true }});
        let cut = rs.filter(|r| r.truncated && r.stdout.len() == {share}).len();
        print(`${{cut}} of ${{rs.len()}} cut to {share}`);
        "#
    );
    Test::new()
        .file("r.rhai", &script)
        .args(&["run", "r.rhai"])
        .lab()
        .run()
        .code(0)
        .stdout_has(&format!("{hosts} of {hosts} cut to {share}"));
}
