//! sudo with a password, against Debian's real sudo in the lab: the lab's
//! login user may run commands as a second unprivileged account with its
//! own password (scripts/lab ensure_real_sudo).

use std::path::PathBuf;

use crate::common;
use crate::common::lab::{lab, unique};
use crate::common::{HANG, Test, command_lines};

fn password() -> String {
    let file = lab().var("OPSH_LAB_SUDO_PASSWORD_FILE");
    std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .trim()
        .to_string()
}

fn target() -> &'static str {
    lab().var("OPSH_LAB_SUDO_USER")
}

/// Every journal line the runs in `state` wrote.
fn journal_text(state: &std::path::Path) -> String {
    let dir = state.join("opsh/journal");
    let mut text = String::new();
    for file in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        text += &std::fs::read_to_string(file.expect("journal file").path()).expect("journal");
    }
    text
}

fn sudo_test(script: &str, state: &std::path::Path) -> Test {
    Test::new()
        .file("r.rhai", script)
        .lab()
        .env("XDG_STATE_HOME", state.to_str().expect("utf-8 path"))
}

#[test]
fn host_sudo_with_the_right_password_runs_as_the_user_and_keeps_its_input() {
    let state = tempfile::tempdir().expect("state");
    let pw = password();
    let script = format!(
        "let h = ssh::connect(\"lab-5\");\n\
         let r = h.sudo(\"id -un; cat; echo \\\"$X\\\"\", #{{ user: \"{u}\", stdin: \"from stdin\\n\", env: #{{ X: \"from env\" }}, quiet: true }});\n\
         print(r.stdout);\n",
        u = target()
    );
    let out = sudo_test(&script, state.path())
        .env("OPSH_SUDO_PASSWORD", &pw)
        .args(&["run", "r.rhai", "-vv"])
        .run_within(HANG);
    out.code(0)
        .stdout_has(&format!("{}\nfrom stdin\nfrom env\n", target()))
        .stdout_lacks(&pw)
        .stderr_lacks(&pw)
        .stderr_lacks("[opsh: sudo");
    assert!(!journal_text(state.path()).contains(&pw));
}

#[test]
fn a_wrong_password_fails_the_host_at_once_and_no_password_says_sudo_wants_one() {
    let state = tempfile::tempdir().expect("state");
    let script = format!(
        "ssh::connect(\"lab-6\").sudo(\"id -un\", #{{ user: \"{}\" }});\n",
        target()
    );
    let started = std::time::Instant::now();
    sudo_test(&script, state.path())
        .env("OPSH_SUDO_PASSWORD", "not-the-password")
        .args(&["run", "r.rhai"])
        .run_within(HANG)
        .code(1)
        .stderr_has("sudo on lab-6: incorrect password")
        .stderr_lacks("not-the-password");
    // One refused attempt, not sudo's three.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(!journal_text(state.path()).contains("not-the-password"));

    sudo_test(&script, state.path())
        .env_remove("OPSH_SUDO_PASSWORD")
        .args(&["run", "r.rhai"])
        .run_within(HANG)
        .code(1)
        .stderr_has("sudo on lab-6 wants a password");

    // The same for a group: every host fails alone, with the same reasons.
    let group = format!(
        "ssh::group([\"lab-6\", \"lab-13\"]).sudo(\"id -un\", #{{ user: \"{}\" }});\n",
        target()
    );
    let g = |password: Option<&str>| {
        let test = sudo_test(&group, state.path()).args(&["run", "r.rhai"]);
        match password {
            Some(pw) => test.env("OPSH_SUDO_PASSWORD", pw),
            None => test.env_remove("OPSH_SUDO_PASSWORD"),
        }
        .run_within(HANG)
    };
    g(Some("not-the-password"))
        .code(1)
        .stderr_has("lab-6: sudo on lab-6: incorrect password")
        .stderr_has("lab-13: sudo on lab-13: incorrect password")
        .stderr_lacks("not-the-password");
    g(None)
        .code(1)
        .stderr_has("sudo on lab-6 wants a password")
        .stderr_has("sudo on lab-13 wants a password");
    g(Some(&password())).code(0).stderr_has(": 2 ok, 0 failed");
}

#[test]
fn groups_and_rollouts_take_the_password_as_an_option_and_write_and_upload_use_it() {
    let state = tempfile::tempdir().expect("state");
    let pw = password();
    // A directory only the sudo account may write in.
    let dir = PathBuf::from(format!("/tmp/{}", unique("opsh-sudo")));
    std::fs::create_dir(&dir).expect("mkdir");
    let status = std::process::Command::new("chown")
        .args([target(), dir.to_str().expect("utf-8")])
        .status()
        .expect("chown");
    assert!(status.success());
    let script = format!(
        "let opts = #{{ sudo_password: secret(env(\"LAB_PW\")) }};\n\
         let g = ssh::group([\"lab-7\", \"lab-8\"], opts);\n\
         for r in g.sudo(\"id -un\", #{{ user: \"{u}\", quiet: true }}) {{ print(`${{r.host}}=${{r.stdout.trim_end_matches()}}`); }}\n\
         g.write(\"{d}/written\", \"text\\n\", #{{ sudo: \"{u}\" }});\n\
         ssh::rollout([\"lab-9\"], opts, |host| {{\n\
           host.upload(\"r.rhai\", \"{d}/uploaded\", #{{ sudo: \"{u}\" }});\n\
         }});\n\
         let bad = ssh::group([\"lab-7\", \"lab-8\"], #{{ sudo_password: \"wrong\" }}).sudo(\"true\", #{{ user: \"{u}\", warn: true }});\n\
         print(bad.map(|r| r.stderr));\n",
        u = target(),
        d = dir.display()
    )
    .replace(".trim_end_matches()", "");
    let out = sudo_test(&script, state.path())
        .env("LAB_PW", &pw)
        .env_remove("OPSH_SUDO_PASSWORD")
        .args(&["run", "r.rhai"])
        .run_within(HANG);
    let owner = |name: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(dir.join(name)).map(|m| m.uid())
    };
    let uid = std::process::Command::new("id")
        .args(["-u", target()])
        .output()
        .expect("id");
    let uid: u32 = String::from_utf8_lossy(&uid.stdout)
        .trim()
        .parse()
        .expect("uid");
    let written = std::fs::read_to_string(dir.join("written"));
    let (written_owner, uploaded_owner) = (owner("written"), owner("uploaded"));
    let _ = std::fs::remove_dir_all(&dir);
    out.code(0)
        .stdout_has(&format!("lab-7={}", target()))
        .stdout_has(&format!("lab-8={}", target()))
        .stdout_has("sudo on lab-7: incorrect password")
        .stdout_has("sudo on lab-8: incorrect password")
        .stderr_has("rollout: 1 ok")
        .stdout_lacks(&pw)
        .stderr_lacks(&pw);
    assert_eq!(written.expect("the file written with sudo"), "text\n");
    assert_eq!(written_owner.expect("written"), uid);
    assert_eq!(uploaded_owner.expect("uploaded"), uid);
    assert!(!journal_text(state.path()).contains(&pw));
}

#[test]
fn ask_sudo_password_reads_it_once_and_it_is_never_on_a_command_line() {
    let state = tempfile::tempdir().expect("state");
    let pw = password();
    let tag = unique("opsh-sudo-ps");
    let started = PathBuf::from(format!("/tmp/{tag}"));
    let script = format!(
        "ssh::group([\"lab-10\", \"lab-11\"]).sudo(\"touch {f}-$(hostname); sleep 3\", #{{ user: \"{u}\" }});\n",
        f = started.display(),
        u = target()
    );
    let mut running = Test::new()
        .file("r.rhai", &script)
        .lab()
        .env("XDG_STATE_HOME", state.path().to_str().expect("utf-8 path"))
        .env_remove("OPSH_SUDO_PASSWORD")
        .args(&["run", "r.rhai", "--ask-sudo-password"])
        .spawn_with_stdin(&format!("{pw}\n"));
    let mut seen = false;
    running.wait_until("the sudo commands to start", |_| {
        // While they run, no process on this machine (the lab's hosts
        // included) shows the password in its command line.
        seen |= command_lines().iter().any(|line| line.contains(&pw));
        std::fs::read_dir("/tmp").is_ok_and(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(&tag))
                .count()
                >= 1
        })
    });
    seen |= command_lines().iter().any(|line| line.contains(&pw));
    let out = running.finish();
    for entry in std::fs::read_dir("/tmp")
        .expect("/tmp")
        .filter_map(Result::ok)
    {
        if entry.file_name().to_string_lossy().starts_with(&tag) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    out.code(0).stdout_lacks(&pw).stderr_lacks(&pw);
    assert!(!seen, "the password was on a command line");
    assert!(!journal_text(state.path()).contains(&pw));
}

#[test]
fn with_a_password_a_sudo_that_does_not_ask_still_gets_the_input() {
    // sudo to root on a lab host is the recording stand-in, which never asks:
    // the command and the file still get their input.
    let state = tempfile::tempdir().expect("state");
    let name = unique("opsh-sudo-root");
    let script = format!(
        "let h = ssh::connect(\"lab-12\");\n\
         print(h.sudo(\"cat\", #{{ stdin: \"piped\\n\", quiet: true }}).stdout);\n\
         h.write(\"/etc/{name}\", \"as root\\n\", #{{ sudo: true }});\n"
    );
    let out = sudo_test(&script, state.path())
        .env("OPSH_SUDO_PASSWORD", &password())
        .args(&["run", "r.rhai"])
        .run_within(HANG);
    let file = common::lab::host_dir("lab-12").join(format!("root/etc/{name}"));
    let written = std::fs::read_to_string(&file);
    let _ = std::fs::remove_file(&file);
    out.code(0).stdout_has("piped\n");
    assert_eq!(written.expect("the file sudo wrote"), "as root\n");
}

#[test]
fn commands_that_run_no_runbook_never_ask_for_the_sudo_password() {
    // With nothing on stdin an asking opsh would fail: no password given.
    for args in [
        &["doc", "confirm", "--ask-sudo-password"][..],
        &["check", "r.rhai", "--ask-sudo-password"],
        &["list", "r.rhai", "--ask-sudo-password"],
    ] {
        let out = Test::new()
            .file("r.rhai", "/// Says hi.\nfn main() { print(\"hi\"); }\n")
            .args(args)
            .run();
        out.code(0).stderr_lacks("sudo password");
    }
}
