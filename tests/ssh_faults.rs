//! SSH under hostile input, through the built binary: env values kept off
//! every command line, paths that look like options, NUL bytes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Test;
use common::lab::{lab, unique};

/// The lab's state directory for one host (its home is `home/`).
fn host_dir(name: &str) -> PathBuf {
    PathBuf::from(lab().var("OPSH_LAB_DIR"))
        .join("hosts")
        .join(name)
}

/// Command lines (arguments joined by spaces) of every process on this
/// machine that mention `needle`. Lab hosts are local processes, so this is
/// what `ps` shows any user of a host.
fn command_lines_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
    {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(cmdline);
        }
    }
    found
}

/// Wait (bounded) until `path` holds `expected`.
fn wait_for_file(path: &Path, expected: &str, child: &mut Child) {
    let start = Instant::now();
    while std::fs::read_to_string(path).ok().as_deref() != Some(expected) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "opsh exited ({status}) before {} was written",
                path.display()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} never held {expected:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn env_values_stay_off_every_command_line() {
    let value = unique("env-value");
    let tag = unique("opsh-env");
    let files: Vec<PathBuf> = ["run", "sudo", "local"]
        .iter()
        .map(|step| PathBuf::from(format!("/tmp/{tag}-{step}")))
        .collect();
    // Each step writes what it sees, then sleeps while the test reads the
    // process list; the step name in the command finds its processes.
    let step = |n: usize| {
        format!(
            "printf %s \"$OPSH_T\" > {}; sleep 3; : {tag}-step-{n}",
            files[n].display()
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
    let mut child = test
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start opsh");
    for (n, file) in files.iter().enumerate() {
        // The command sees the value...
        wait_for_file(file, &value, &mut child);
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
    }
    let out = child.wait_with_output().expect("wait for opsh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("all steps ran"), "{stdout}");
    for file in &files {
        let _ = std::fs::remove_file(file);
    }
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
    assert_eq!(refused, 11, "{}", out.stdout);
    assert!(!Path::new(&marker).exists(), "a command with a NUL ran");
}
