//! SSH (and local files) under hostile input and scarce resources, through
//! the built binary: env values kept off every command line, paths that
//! look like options, NUL bytes, and a fan-out that runs out of file
//! descriptors.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::Test;
use common::lab::{host_dir, lab, unique};
use common::running::Running;

/// Command lines of every process on this machine that mention `needle`.
fn command_lines_with(needle: &str) -> Vec<String> {
    common::command_lines()
        .into_iter()
        .filter(|cmdline| cmdline.contains(needle))
        .collect()
}

/// Wait (bounded) until `path` holds `expected`.
fn wait_for_file(path: &Path, expected: &str, opsh: &mut Running) {
    opsh.wait_until(&format!("{} to hold {expected:?}", path.display()), |_| {
        std::fs::read_to_string(path).ok().as_deref() == Some(expected)
    });
}

/// Files removed when the test ends, passed or failed.
struct Scratch(Vec<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        for file in &self.0 {
            let _ = std::fs::remove_file(file);
        }
    }
}

#[test]
fn env_values_stay_off_every_command_line() {
    let value = unique("env-value");
    let tag = unique("opsh-env");
    let steps = ["run", "sudo", "local"];
    let seen = |step: &str| PathBuf::from(format!("/tmp/{tag}-{step}"));
    let released = |step: &str| PathBuf::from(format!("/tmp/{tag}-{step}-done"));
    let _scratch = Scratch(
        steps
            .iter()
            .flat_map(|step| [seen(step), released(step)])
            .collect(),
    );
    // Each step writes what it sees, then waits (bounded) until the test
    // has read the process list and says so with a file; the step name in
    // the command finds its processes.
    let step = |n: usize| {
        format!(
            "printf %s \"$OPSH_T\" > {seen}; i=0; \
             while [ ! -e {released} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; \
             : {tag}-step-{n}",
            seen = seen(steps[n]).display(),
            released = released(steps[n]).display(),
        )
    };
    let script = format!(
        r#"
        let env = #{{ env: #{{ OPSH_T: secret("{value}") }} }};
        let h = ssh::connect("lab-9");
        h.run("{run}", env);
        h.sudo("{sudo}", env);
        local::run("{local}", env);
        print("all steps ran");
        "#,
        run = step(0).replace('"', "\\\""),
        sudo = step(1).replace('"', "\\\""),
        local = step(2).replace('"', "\\\""),
    );
    let test = Test::new()
        .file("r.rhai", &script)
        .args(&["run", "r.rhai"])
        .lab();
    let mut opsh = test.spawn();
    for (n, name) in steps.iter().enumerate() {
        // The command sees the value...
        wait_for_file(&seen(name), &value, &mut opsh);
        // ...its processes are in the list...
        let running = command_lines_with(&format!("{tag}-step-{n}"));
        assert!(
            !running.is_empty(),
            "step {n}: no process of the command found"
        );
        // ...and none shows the value.
        let leaks = command_lines_with(&value);
        assert!(
            leaks.is_empty(),
            "step {n}: the env value is on a command line: {leaks:?}"
        );
        std::fs::write(released(name), "").expect("let the step end");
    }
    opsh.finish().code(0).stdout_has("all steps ran");
}

#[test]
fn a_command_gets_both_its_env_and_its_stdin() {
    let script = r#"
        let value = "it's \"quoted\" $(not run) \\ and\n  a second line \n";
        let opts = #{ env: #{ A: value, B: "", opsh_n: "mine" }, stdin: "first\nrest\n", quiet: true };
        let cmd = "IFS= read -r line; printf '%s|%s|%s|%s|' \"$A\" \"$B\" \"$opsh_n\" \"$line\"; cat";
        let expected = value + "||mine|first|rest\n";
        let h = ssh::connect("lab-9");
        let r = h.run(cmd, opts);
        if r.stdout != expected { throw `run: ${r.stdout}`; }
        let r = h.sudo(cmd, opts);
        if r.stdout != expected { throw `sudo: ${r.stdout}`; }
        for r in ssh::group(["lab-9", "lab-10"]).run(cmd, opts) {
            if r.stdout != expected { throw `group on ${r.host}: ${r.stdout}`; }
        }
        let r = h.run("printf '%s|' \"$A\"; cat", #{ env: #{ A: "no stdin" }, quiet: true });
        if r.stdout != "no stdin|" { throw `env alone: ${r.stdout}`; }
        let r = h.run("cat", #{ cwd: "/", stdin: "stdin alone", quiet: true });
        if r.stdout != "stdin alone" { throw `stdin alone: ${r.stdout}`; }
        print("env and stdin ok");
    "#;
    Test::new()
        .file("r.rhai", script)
        .args(&["run", "r.rhai"])
        .lab()
        .run()
        .code(0)
        .stdout_has("env and stdin ok");
}

#[test]
fn paths_that_begin_with_a_dash_are_files_remote_and_local() {
    let host = "lab-19";
    let names = ["-rf", "--help", "-t"];
    let script = format!(
        r#"
        let h = ssh::connect("{host}");
        for name in {names:?} {{
            h.write(name, "written " + name);
            if h.read(name) != "written " + name {{ throw `read ${{name}}: ${{h.read(name)}}`; }}
            if !h.exists(name) {{ throw `exists ${{name}}`; }}
            h.upload("-payload", name, #{{ mode: "0640" }});
            h.download(name, "-got" + name);
            h.write(name + "-sudo", "as root", #{{ sudo: true }});
            if h.read(name + "-sudo", #{{ sudo: true }}) != "as root" {{ throw `sudo ${{name}}`; }}
        }}
        if h.exists("-nothing-here") {{ throw "exists: a missing file"; }}
        let listing = h.run("ls -a", #{{ quiet: true }}).stdout;
        h.run("rm -f ./-rf ./--help ./-t ./-rf-sudo ./--help-sudo ./-t-sudo", #{{ quiet: true }});
        print(listing);
        "#
    );
    let out = Test::new()
        .file("r.rhai", &script)
        .file("-payload", "the payload\n")
        .args(&["run", "r.rhai"])
        .lab()
        .run();
    out.code(0);
    let listed: Vec<&str> = out.stdout.lines().collect();
    for name in names {
        let sudo = format!("{name}-sudo");
        assert!(
            listed.contains(&name) && listed.contains(&sudo.as_str()),
            "{name} missing: {listed:?}"
        );
        out.stdout_lacks(&format!(".{name}.opsh-"));
        let got = std::fs::read_to_string(out.path(&format!("-got{name}"))).expect("download");
        assert_eq!(got, "the payload\n", "{name}");
        assert!(
            !host_dir(host).join("home").join(name).exists(),
            "{name} was not cleaned up"
        );
    }
}

#[test]
fn nul_bytes_are_refused_before_anything_runs() {
    let marker = format!("/tmp/{}", unique("opsh-nul"));
    let script = format!(
        r#"
        let nul = "\x00";
        let h = ssh::connect("lab-20");
        let cases = [
            || h.run("touch {marker}; echo a" + nul),
            || h.run("touch {marker}", #{{ env: #{{ A: "a" + nul + "b" }} }}),
            || h.sudo("touch {marker}", #{{ cwd: "/tmp" + nul }}),
            || h.write("{marker}" + nul, "x"),
            || h.upload("r.rhai" + nul, "{marker}"),
            || h.read("{marker}" + nul),
            || h.download("{marker}" + nul, "here"),
            || h.exists("{marker}" + nul),
            || ssh::group(["lab-20", "lab-21"]).run("touch {marker}" + nul),
            || local::run("touch {marker}; echo a" + nul),
            || local::run("touch {marker}", #{{ env: #{{ A: nul }} }}),
            || s3::upload("no-such-bucket", "k", "r.rhai" + nul),
            || s3::download("no-such-bucket", "k", "here" + nul),
        ];
        for attempt in cases {{
            try {{
                attempt.call();
                print("case ran");
            }} catch (e) {{
                print(`refused: ${{e}}`);
            }}
        }}
        h.run("echo still connected");
        h.run("echo" + nul);
        "#
    );
    let out = Test::new()
        .file("r.rhai", &script)
        .args(&["run", "r.rhai"])
        .lab()
        .run();
    out.code(1)
        .stdout_lacks("case ran")
        .stdout_has("lab-20 | still connected")
        .stdout_lacks("connection")
        .stderr_lacks("connection")
        .stderr_has("the command contains a NUL byte (at byte 4)");
    let refused = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("refused: ") && l.contains("contains a NUL byte"))
        .count();
    assert_eq!(refused, 13, "{}", out.stdout);
    assert!(!Path::new(&marker).exists(), "a command with a NUL ran");
}

/// The lab hosts twice, by alias and by address: two masters per host.
fn many_targets() -> (String, usize) {
    let hosts: usize = lab().var("OPSH_LAB_HOSTS").parse().expect("OPSH_LAB_HOSTS");
    let mut targets: Vec<String> = (1..=hosts).map(|i| format!("\"lab-{i}\"")).collect();
    targets.extend((1..=hosts).map(|i| format!("\"127.0.0.{}\"", i + 1)));
    let n = targets.len();
    (format!("[{}]", targets.join(", ")), n)
}

/// What a run under a lowered open-file limit printed.
struct Limited {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Limited {
    fn check(&self, ok: bool, what: &str) -> &Self {
        assert!(
            ok,
            "{what}\nexit code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// Run `script` with the open-file limit set to `soft` and `hard`, and its
/// control sockets in a directory of its own; then wait (bounded) until no
/// process mentions that directory, and fail naming any that stay.
fn run_with_fd_limit(script: &str, soft: u64, hard: u64) -> Limited {
    let test = Test::new().file("r.rhai", script);
    let runtime = test.path().join("run");
    std::fs::create_dir(&runtime).expect("runtime dir");
    let runtime = runtime.to_str().expect("utf-8").to_string();
    let test = test
        .args(&["run", "r.rhai", "--concurrency", "100"])
        .lab()
        .env("XDG_RUNTIME_DIR", &runtime);
    let mut cmd = test.command();
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit is async-signal-safe and `limit` is a copy owned
    // by the closure.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run opsh");
    common::wait_for(
        "the ssh masters to close after opsh exited",
        common::HANG,
        || command_lines_with(&runtime).is_empty(),
    );
    Limited {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn running_out_of_file_descriptors_says_so_and_orphans_no_master() {
    let (targets, n) = many_targets();
    let script = format!(
        r#"
        let g = ssh::group({targets});
        g.run("sleep 1; echo done");
        "#
    );
    let out = run_with_fd_limit(&script, 64, 64);
    let hint = "too many open files: raise `ulimit -n` (now 64) or lower --concurrency";
    out.check(out.code == Some(1), "exit code 1")
        .check(
            out.stderr.contains(&format!("of {n} host(s)")),
            "the failed hosts are reported",
        )
        .check(out.stderr.contains(hint), "the hint names the limit")
        .check(
            !out.stderr.contains("openssh-client"),
            "no hint to install ssh",
        )
        .check(
            !out.stderr.contains("connection to"),
            "no connection taken for lost",
        );
}

#[test]
fn a_low_soft_limit_is_raised_to_the_hard_one() {
    let (targets, n) = many_targets();
    let hard = {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the rlimit it is given.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        limit.rlim_max
    };
    assert!(hard >= 1024, "the hard open-file limit here is only {hard}");
    let script = format!(
        r#"
        let rs = ssh::group({targets}).run("sleep 1; echo done", #{{ quiet: true }});
        let ok = rs.filter(|r| r.ok && r.stdout == "done\n").len();
        print(`ok on ${{ok}} host(s)`);
        print(`soft limit ${{local::run("ulimit -Sn", #{{ quiet: true }}).stdout}}`);
        "#
    );
    let out = run_with_fd_limit(&script, 64, hard);
    out.check(out.code == Some(0), "exit code 0")
        .check(
            out.stdout.contains(&format!("ok on {n} host(s)")),
            "every host ran",
        )
        .check(
            out.stdout.contains(&format!("soft limit {hard}\n")),
            "the soft limit is the hard one",
        );
}
