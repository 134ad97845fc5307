//! ssh:: against the lab's sshd fleet: commands, sudo, files, groups,
//! timeouts, connection failures and Ctrl-C, through the built binary.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::common;
use crate::common::lab::{host_dir, lab, unique};
use crate::common::records::RecordsMark;
use crate::common::{HANG, Test};

fn lab_dir() -> PathBuf {
    PathBuf::from(lab().var("OPSH_LAB_DIR"))
}

/// A Rhai array literal of lab host names lab-1..lab-n.
fn names(n: usize) -> String {
    let list: Vec<String> = (1..=n).map(|i| format!("\"lab-{i}\"")).collect();
    format!("[{}]", list.join(", "))
}

/// An ssh_config that adds test aliases to the lab's: a dead host, hosts
/// checked against known_hosts files of the test's own.
fn ssh_config(dir: &Path) -> String {
    let port = lab().ssh_port();
    let lab = lab_dir();
    format!(
        "Include {lab}/ssh_config\n\
         Host dead-1\n    HostName 127.0.0.1\n    Port {dead}\n\
         Host silent\n    HostName 127.0.0.1\n    ProxyCommand none\n\
         Host stranger changed\n    HostName 127.0.0.3\n    Port {port}\n    User opsh-lab\n    ProxyCommand none\n    \
         IdentityFile {lab}/keys/client_ed25519\n    IdentitiesOnly yes\n\
         Host keyless\n    HostName 127.0.0.3\n    Port {port}\n    User opsh-lab\n    ProxyCommand none\n    \
         UserKnownHostsFile {lab}/known_hosts\n\
         Host stranger\n    UserKnownHostsFile {dir}/stranger_known_hosts\n\
         Host changed\n    UserKnownHostsFile {dir}/changed_known_hosts\n\
         Host picky\n    HostName 127.0.0.3\n    Port {port}\n    User opsh-lab\n    ProxyCommand none\n    \
         IdentityFile {lab}/keys/client_ed25519\n    IdentitiesOnly yes\n    StrictHostKeyChecking yes\n    \
         UserKnownHostsFile {dir}/picky_known_hosts\n",
        lab = lab.display(),
        dir = dir.display(),
        dead = common::ports::refused_port(),
    )
}

/// A lab test whose ssh_config also knows the test aliases.
fn with_aliases(test: Test) -> Test {
    let config = test.path().join("ssh_config");
    let text = ssh_config(test.path());
    let test = test.file("ssh_config", &text);
    test.lab()
        .env("OPSH_SSH_CONFIG", config.to_str().expect("utf-8 path"))
}

fn run_script(script: &str) -> common::Outcome {
    Test::new()
        .file("r.rhai", script)
        .args(&["run", "r.rhai"])
        .lab()
        .run()
}

#[test]
fn a_group_of_every_lab_host_keeps_target_order_and_prefixes_lines() {
    let n = lab().named_hosts();
    assert!(n >= 20, "the lab should have at least 20 hosts, has {n}");
    let script = format!(
        r#"
        let targets = {targets};
        let g = ssh::group(targets, #{{ concurrency: 8 }});
        if g.len != {n} {{ throw `len ${{g.len}}`; }}
        if g.hosts != targets {{ throw `hosts ${{g.hosts}}`; }}
        // Later hosts answer first, so order must come from the targets.
        let rs = g.run("n=${{OPSH_LAB_HOST#lab-}}; sleep 0.$(( ({n} - n) % 4 )); echo out-$OPSH_LAB_HOST; echo err-$OPSH_LAB_HOST >&2");
        for i in 0..{n} {{
            let r = rs[i];
            if r.host != targets[i] || r.stdout != "out-" + targets[i] + "\n" || r.stderr != "err-" + targets[i] + "\n" || !r.ok {{
                throw `result ${{i}}: ${{r.host}} ${{r.stdout}}`;
            }}
        }}
        print(`order ok: ${{rs.len()}}`);
        "#,
        targets = names(n)
    );
    let out = run_script(&script);
    out.code(0).stdout_has(&format!("order ok: {n}"));
    for i in 1..=n {
        out.stdout_has(&format!("lab-{i} | out-lab-{i}\n"))
            .stderr_has(&format!("lab-{i} | err-lab-{i}\n"));
    }
}

#[test]
fn a_dead_host_fails_alone_and_is_named() {
    let script = r#"
        let g = ssh::group(["lab-1", "dead-1", "lab-2"]);
        g.run("echo alive-$OPSH_LAB_HOST");
    "#;
    let out = with_aliases(Test::new().file("r.rhai", script))
        .args(&["run", "r.rhai"])
        .run();
    out.code(1)
        .stdout_has("lab-1 | alive-lab-1")
        .stdout_has("lab-2 | alive-lab-2")
        .stderr_has("failed on 1 of 3 host(s): dead-1")
        .stderr_has("cannot connect to dead-1")
        .stderr_has("Connection refused")
        .stderr_has("is sshd running there");

    let script = r#"
        let rs = ssh::group(["lab-1", "dead-1", "lab-2"]).run("echo ok", #{ warn: true });
        for r in rs { print(`${r.host} ${r.code} ${r.ok}`); }
        if !rs[1].stderr.contains("Connection refused") { throw rs[1].stderr; }
    "#;
    with_aliases(Test::new().file("r.rhai", script))
        .args(&["run", "r.rhai"])
        .run()
        .code(0)
        .stdout_has("lab-1 0 true\ndead-1 -1 false\nlab-2 0 true\n")
        .stderr_has("failed on 1 of 3 host(s): dead-1");
}

#[test]
fn authentication_failures_say_what_to_check() {
    run_script(r#"ssh::connect("lab-1", #{ user: "nobody-here" });"#)
        .code(1)
        .stderr_has("cannot connect to lab-1")
        .stderr_has("Permission denied")
        .stderr_has("authentication as `nobody-here` failed");

    let test = Test::new();
    let key = test.path().join("wrong_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    // The alias has no IdentityFile: ssh_config keys add to `key`, not replace it.
    let script = format!(
        r#"ssh::connect("keyless", #{{ key: "{}" }});"#,
        key.display()
    );
    with_aliases(test.file("r.rhai", &script))
        .args(&["run", "r.rhai"])
        .run()
        .code(1)
        .stderr_has("Permission denied")
        .stderr_has("check the user");
}

#[test]
fn host_keys_are_accepted_when_new_and_refused_when_changed_or_strict() {
    let strict = r#"ssh::connect("stranger", #{ strict_host_keys: true }).run("true");"#;
    with_aliases(Test::new().file("r.rhai", strict))
        .args(&["run", "r.rhai"])
        .run()
        .code(1)
        .stderr_has("Host key verification failed")
        .stderr_has("strict host key checking is on");
    // ssh_config's own StrictHostKeyChecking wins over opsh's accept-new,
    // for one host and for a group alike.
    let picky = r#"ssh::group(["picky"]).run("true");"#;
    with_aliases(Test::new().file("r.rhai", picky))
        .args(&["run", "r.rhai"])
        .run()
        .code(1)
        .stderr_has("Host key verification failed");

    let test = with_aliases(Test::new().file(
        "r.rhai",
        r#"print(ssh::connect("stranger").run("echo in").stdout);"#,
    ));
    let known = test.path().join("stranger_known_hosts");
    let out = test.args(&["run", "r.rhai"]).run();
    out.code(0).stdout_has("in\n");
    let added = std::fs::read_to_string(&known).expect("accept-new wrote known_hosts");
    assert!(added.contains("ssh-ed25519"), "{added}");

    let test = Test::new();
    let other = test.path().join("other_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    let public = std::fs::read_to_string(other.with_extension("pub")).expect("public key");
    let fields: Vec<&str> = public.split_whitespace().take(2).collect();
    let port = lab().ssh_port();
    let line = format!("[127.0.0.3]:{port} {}\n", fields.join(" "));
    with_aliases(
        test.file("changed_known_hosts", &line)
            .file("r.rhai", r#"ssh::connect("changed").run("true");"#),
    )
    .args(&["run", "r.rhai"])
    .run()
    .code(1)
    .stderr_has("the host key differs")
    .stderr_has(&format!("ssh-keygen -R '[127.0.0.3]:{port}'"));
}

#[test]
fn command_failure_throws_unless_warn() {
    run_script(r#"ssh::connect("lab-3").run("echo doomed >&2; exit 3");"#)
        .code(1)
        .stderr_has("command failed on lab-3 with exit code 3")
        .stderr_has("doomed")
        .stderr_has("warn: true");
    run_script(
        r#"let r = ssh::connect("lab-3").run("echo partial; exit 3", #{ warn: true });
           print(`${r.code} ${r.ok} ${r.host} ${r.stdout}`);"#,
    )
    .code(0)
    .stdout_has("3 false lab-3 partial");
    run_script(
        r#"print(ssh::connect("lab-3").run("no-such-command-here", #{ warn: true }).code);"#,
    )
    .code(0)
    .stdout_has("127\n");
}

#[test]
fn timeout_ends_the_remote_processes() {
    let file = format!("/tmp/{}.pid", unique("opsh-timeout"));
    let script = format!(
        r#"
        let h = ssh::connect("lab-4");
        let r = h.run("sleep 300 & echo $! > {file}; wait", #{{ timeout: 1, warn: true }});
        print(`code ${{r.code}}`);
        print(r.stderr);
        let alive = h.run("kill -0 $(cat {file})", #{{ warn: true, quiet: true }});
        print(`alive ${{alive.ok}}`);
        "#
    );
    let out = run_script(&script);
    out.code(0)
        .stdout_has("code 124")
        .stdout_has("stopped on the host")
        .stdout_has("alive false");
    let pid: i32 = std::fs::read_to_string(&file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    common::wait_gone(pid, "the timed-out remote sleep");
    let _ = std::fs::remove_file(&file);

    run_script(r#"ssh::connect("lab-4").run("sleep 30", #{ timeout: 0.5 });"#)
        .code(1)
        .stderr_has("exit code 124")
        .stderr_has("timed out after 0.5s");
}

#[test]
fn a_binary_file_survives_upload_and_download() {
    let mut data = vec![0u8; 3 * 1024 * 1024];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut data))
        .expect("random bytes");
    let remote = format!("/tmp/{}.bin", unique("opsh-transfer"));
    let script = format!(
        r#"
        let h = ssh::connect("lab-5");
        let r = h.upload("data.bin", "{remote}");
        if !r.ok {{ throw r; }}
        h.download("{remote}", "back.bin");
        h.download("{remote}", "sub/");
        print(h.run("wc -c < {remote}", #{{ quiet: true }}).stdout);
        "#
    );
    let test = Test::new().file("r.rhai", &script);
    std::fs::write(test.path().join("data.bin"), &data).expect("write data");
    std::fs::create_dir(test.path().join("sub")).expect("mkdir");
    let out = test.args(&["run", "r.rhai"]).lab().run();
    out.code(0).stdout_has(&format!("{}\n", data.len()));
    assert!(
        std::fs::read(&remote).expect("remote copy") == data,
        "remote copy differs"
    );
    assert!(std::fs::read(out.path("back.bin")).expect("download") == data);
    let base = Path::new(&remote).file_name().expect("name");
    assert!(std::fs::read(out.path("sub").join(base)).expect("download into dir") == data);
    let leftovers: Vec<_> = std::fs::read_dir(out.dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("opsh-download"))
        .collect();
    assert!(leftovers.is_empty(), "temporary download files left behind");
    let _ = std::fs::remove_file(&remote);

    run_script(r#"ssh::connect("lab-5").download("/no/such/file", "x");"#)
        .code(1)
        .stderr_has("cannot read lab-5:/no/such/file");
}

#[test]
fn write_is_atomic_and_applies_the_mode() {
    let dir = format!("/tmp/{}", unique("opsh-write"));
    let script = format!(
        r#"
        let h = ssh::connect("lab-6");
        h.run("mkdir -p {dir}");
        h.write("{dir}/app.conf", "first\n", #{{ mode: "0600" }});
        print(h.run("stat -c %a {dir}/app.conf", #{{ quiet: true }}).stdout);
        h.write("{dir}/app.conf", "second\n");
        print(h.read("{dir}/app.conf"));
        print(h.run("stat -c %a {dir}/app.conf; ls -A {dir}", #{{ quiet: true }}).stdout);
        print(h.exists("{dir}/app.conf"));
        print(h.exists("{dir}/nope"));
        let r = h.write("{dir}", "x", #{{ warn: true }});
        print(`dir ${{r.code}} ${{r.stderr}}`);
        "#
    );
    let out = run_script(&script);
    out.code(0)
        .stdout_has("600\n\nsecond\n\n600\napp.conf\n\ntrue\nfalse\n")
        .stdout_has("dir 1 opsh:")
        .stdout_has("is a directory");
    assert_eq!(
        std::fs::read_to_string(format!("{dir}/app.conf")).expect("file"),
        "second\n"
    );
    let _ = std::fs::remove_dir_all(&dir);

    run_script(r#"ssh::connect("lab-6").write("/tmp/x", "y", #{ mode: 644 });"#)
        .code(1)
        .stderr_has("must be a string such as \"0644\"");
}

#[test]
fn quoted_hostile_strings_round_trip_remotely() {
    let script = r#"
        let h = ssh::connect("lab-7");
        let hostile = ["it's", "a\"b", "$(id)", "`id`", "x;y", "new\nline", "\\", "*", "-n", "'", "a'\"'b", "  spaced  "];
        for s in hostile {
            let r = h.run(`printf %s ${quote(s)}`, #{ quiet: true });
            if r.stdout != s { throw `round trip: ${s} -> ${r.stdout}`; }
            let e = h.run(`printf %s "$V"`, #{ env: #{ V: s }, quiet: true });
            if e.stdout != s { throw `env: ${s} -> ${e.stdout}`; }
        }
        let dir = "/tmp/opsh it's UNIQUE";
        h.run(`mkdir -p ${quote(dir)}`);
        print(h.run("pwd", #{ cwd: dir, quiet: true }).stdout);
        h.run(`rm -rf ${quote(dir)}`);
        print(h.run("cat", #{ stdin: "fed\n$(id)\n", quiet: true }).stdout);
        print("all round trips ok");
    "#;
    let unique = unique("dir");
    run_script(&script.replace("UNIQUE", &unique))
        .code(0)
        .stdout_has(&format!("/tmp/opsh it's {unique}\n"))
        .stdout_has("fed\n$(id)\n")
        .stdout_has("all round trips ok");
}

#[test]
fn sudo_runs_as_the_requested_user() {
    let marker = unique("sudo-marker");
    let dest = format!("/etc/{}.conf", unique("opsh-sudo"));
    // www-data is on every Ubuntu host; postgres only once PostgreSQL is installed (the lab
    // refuses unknown users, as sudo does)
    let script = format!(
        r#"
        let h = ssh::connect("lab-8");
        print(h.sudo("echo {marker}; whoami").stdout);
        print(h.sudo("whoami", #{{ user: "www-data" }}).stdout);
        h.write("{dest}", "listen 80;\n", #{{ sudo: true, mode: "0640", owner: "www-data:www-data" }});
        print(h.read("{dest}", #{{ sudo: true }}));
        "#
    );
    let mark = RecordsMark::now();
    run_script(&script)
        .code(0)
        .stdout_has(&format!("{marker}\nroot\n"))
        .stdout_has("www-data\n")
        .stdout_has("listen 80;\n");
    let records = mark.since(&host_dir("lab-8"));
    assert!(
        records
            .iter()
            .any(|r| r.tool == "sudo" && r.user == "root" && r.args.contains(&marker)),
        "{records:#?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r.tool == "sudo" && r.user == "www-data"),
        "{records:#?}"
    );
    let installed = host_dir("lab-8")
        .join("root")
        .join(dest.trim_start_matches('/'));
    assert_eq!(
        std::fs::read_to_string(&installed).expect("installed"),
        "listen 80;\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&installed)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    // The owner is set on the temporary file before the rename, so the
    // lab's chown stand-in records that name.
    let owners = std::fs::read_to_string(host_dir("lab-8").join("owners")).expect("owners");
    let base = dest.trim_start_matches("/etc/");
    assert!(
        owners
            .lines()
            .any(|l| l.starts_with(&format!("/etc/.{base}.opsh-"))
                && l.ends_with("\twww-data:www-data")),
        "{owners}"
    );
    assert!(!Path::new(&dest).exists(), "the real /etc was touched");
}

#[test]
fn ctrl_c_stops_a_group_and_ends_remote_commands() {
    let tag = unique("opsh-int");
    // lab-1 finishes at once; the others start a sleep longer than the hang
    // guard and write its pid. The command is a file (the lab's hosts share
    // this machine's /tmp), so the progress bar's label stays short.
    let command = PathBuf::from(format!("/tmp/{tag}.sh"));
    std::fs::write(
        &command,
        format!(
            "case $OPSH_LAB_HOST in lab-1) exit 0;; esac\n\
             sleep 300 & echo $! > /tmp/{tag}-$OPSH_LAB_HOST; wait\n"
        ),
    )
    .expect("write the command");
    let script = format!(
        r#"
        let g = ssh::group({targets});
        g.run("sh \"$RUN\"", #{{ env: #{{ RUN: "{command}" }} }});
        print("not reached");
        "#,
        targets = names(6),
        command = command.display(),
    );
    let test = Test::new()
        .file("r.rhai", &script)
        .args(&["run", "r.rhai"])
        .lab();
    // In a terminal, where the group's progress bar counts finished hosts.
    let hang = u64::try_from(HANG.as_millis()).expect("HANG in ms fits u64");
    let mut opsh =
        rexpect::session::spawn_command(test.command(), Some(hang)).expect("start opsh in a pty");
    let files: Vec<PathBuf> = (2..=6)
        .map(|i| PathBuf::from(format!("/tmp/{tag}-lab-{i}")))
        .collect();
    common::wait_for("the remote commands on lab-2..lab-6 to start", HANG, || {
        files
            .iter()
            .all(|f| std::fs::read_to_string(f).is_ok_and(|s| s.ends_with('\n')))
    });
    opsh.exp_string("1/6 done")
        .expect("the progress bar counts lab-1 as finished");
    opsh.process_mut()
        .signal(rexpect::process::Signal::SIGINT)
        .expect("Ctrl-C");
    let shown = opsh.exp_eof().expect("opsh ends after Ctrl-C");
    let status = opsh.process().wait().expect("wait for opsh");
    let _ = std::fs::remove_file(&command);
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 130)),
        "{status:?}\n{shown}"
    );
    assert!(
        shown.contains("finished on 1 of 6 host(s) (lab-1)"),
        "{shown}"
    );
    assert!(
        shown.contains("stopped on 5 (lab-2, lab-3, lab-4, lab-5, lab-6)"),
        "{shown}"
    );
    assert!(!shown.contains("not reached"), "{shown}");
    common::wait_pid_files_gone(&files, "a remote sleep Ctrl-C should have ended");
}

#[test]
fn dry_run_connects_and_reads_but_changes_nothing() {
    let file = format!("/tmp/{}", unique("opsh-dry"));
    let script = format!(
        r#"
        let h = ssh::connect("lab-9");
        let r = h.run("touch {file}");
        print(`code ${{r.code}} out '${{r.stdout}}'`);
        h.write("{file}", "x");
        h.sudo("touch {file}");
        ssh::group(["lab-9", "lab-10"]).run("touch {file}");
        print(h.exists("/etc/passwd"));
        "#
    );
    Test::new()
        .file("r.rhai", &script)
        .args(&["run", "r.rhai", "--dry-run"])
        .lab()
        .run()
        .code(0)
        .stdout_has("code 0 out '<planned>'")
        .stdout_has("true\n")
        .stderr_has(&format!(r#". ssh::run lab-9 {{"command":"touch {file}"}}"#))
        .stderr_has(&format!(
            r#". ssh::run lab-10 {{"command":"touch {file}"}}"#
        ))
        .stderr_has(&format!(
            r#". ssh::write lab-9 {{"remote":"{file}","bytes":1}}"#
        ))
        .stderr_has(&format!(
            r#". ssh::sudo lab-9 {{"command":"touch {file}","user":"root"}}"#
        ));
    assert!(!Path::new(&file).exists(), "dry run touched {file}");
}

#[test]
fn destinations_that_look_like_options_are_refused() {
    for target in ["-oProxyCommand=touch /tmp/x", "lab-1 -v", "a\tb"] {
        let script = format!("ssh::connect({target:?});");
        run_script(&script).code(1).stderr_has("destination");
    }
    run_script(r#"ssh::connect("lab-1", #{ jump: "-J evil" });"#)
        .code(1)
        .stderr_has("jump host");
    run_script(r#"ssh::connect(#{ id: "i-1", public_ip: (), private_ip: () });"#)
        .code(1)
        .stderr_has("i-1 has no address");
}

#[test]
fn instances_and_maps_connect_by_their_addresses() {
    let script = r#"
        let inst = #{ id: "i-lab11", public_ip: "127.0.0.12", private_ip: "127.0.0.13" };
        let h = ssh::connect(inst);
        print(`${h.name} ${h.address} ${h.user} ${h.port}`);
        print(h.run("echo $OPSH_LAB_HOST", #{ quiet: true }).stdout);
        let p = ssh::connect(inst, #{ address: "private" });
        print(p.run("echo $OPSH_LAB_HOST", #{ quiet: true }).stdout);
        let g = ssh::group([inst, h, "lab-3"]);
        print(g.hosts);
        print(h);
    "#;
    let port = lab().ssh_port();
    run_script(script)
        .code(0)
        .stdout_has(&format!(
            "i-lab11 127.0.0.12 opsh-lab {port}\nlab-11\n\nlab-12\n"
        ))
        .stdout_has(r#"["i-lab11", "i-lab11", "lab-3"]"#)
        .stdout_has(&format!("i-lab11 (opsh-lab@127.0.0.12:{port})"));
}

#[test]
fn check_accepts_method_calls_and_doc_lists_them() {
    let script = r#"
        fn deploy(hosts) {
            let g = ssh::group(hosts, #{ concurrency: 4 });
            g.run("true");
            g.sudo("true", #{ user: "postgres" });
            g.upload("a", "/b", #{ mode: "0644" });
            g.write("/c", "d");
            let h = ssh::connect("web-1", #{ user: "deploy" });
            h.run("true", #{ warn: true });
            h.sudo("true");
            h.upload("a", "/b");
            h.write("/c", "d", #{ sudo: true });
            h.download("/c", "d");
            let text = h.read("/c");
            if h.exists("/c") { h.shell(); }
            g.len + h.port
        }
    "#;
    Test::new()
        .file("r.rhai", script)
        .args(&["check", "r.rhai"])
        .run()
        .code(0);
    Test::new()
        .file("r.rhai", r#"let h = ssh::connect("x"); h.runn("true");"#)
        .args(&["check", "r.rhai"])
        .run()
        .code(2)
        .stderr_has("unknown function `runn`");
    Test::new()
        .args(&["doc"])
        .run()
        .code(0)
        .stdout_has("run(host: Host, cmd: String, options: #{ warn, ")
        .stdout_has("run(group: Group, cmd: String) -> Array")
        .stdout_has("ssh::connect(target: Dynamic, options: #{ user, ")
        .stdout_has("ssh::group(targets: Dynamic) -> Group");
}

#[test]
fn one_master_serves_every_call_to_a_destination() {
    // Every call, from either Host or a group naming the host twice, comes
    // over one connection: sshd gives each connection its own client port
    // in SSH_CONNECTION. (What that saves in time is bench/run's `steps`.)
    let script = r#"
        let h = ssh::connect("lab-12");
        let again = ssh::connect("lab-12");
        let seen = [];
        for i in 0..10 { seen.push(again.run("echo $SSH_CONNECTION", #{ quiet: true }).stdout); }
        seen.push(h.run("echo $SSH_CONNECTION", #{ quiet: true }).stdout);
        for r in ssh::group(["lab-12", "lab-12"]).run("echo $SSH_CONNECTION", #{ quiet: true }) {
            seen.push(r.stdout);
        }
        print(`calls: ${seen.len()}`);
        seen.dedup();
        print(`connections: ${seen.len()}: ${seen}`);
    "#;
    run_script(script)
        .code(0)
        .stdout_has("calls: 13\n")
        .stdout_has("connections: 1: ");
}

/// ssh processes whose command line mentions `needle`.
fn ssh_processes_with(needle: &str) -> Vec<String> {
    common::command_lines()
        .into_iter()
        .filter(|cmdline| cmdline.starts_with("ssh ") && cmdline.contains(needle))
        .collect()
}

#[test]
fn a_dead_master_is_reopened_and_masters_close_at_exit() {
    let test = Test::new();
    let runtime = test.path().join("run");
    std::fs::create_dir(&runtime).expect("runtime dir");
    let script = r#"
        let h = ssh::connect("lab-13");
        print(h.run("echo first", #{ quiet: true }).stdout);
        local::run("for s in \"$XDG_RUNTIME_DIR\"/opsh/m*; do [ -S \"$s\" ] && ssh -S \"$s\" -O exit x; done", #{ quiet: true });
        print(h.run("echo second", #{ quiet: true }).stdout);
        // A killed master leaves its socket behind: the next command finds
        // it dead as it starts, and runs on a new master.
        local::run("for s in \"$XDG_RUNTIME_DIR\"/opsh/m*; do [ -S \"$s\" ] || continue; p=$(ssh -S \"$s\" -O check x 2>&1 | sed -n 's/.*pid=\\([0-9]*\\).*/\\1/p'); kill -KILL \"$p\"; done", #{ quiet: true });
        print(h.run("echo third", #{ quiet: true }).stdout);
    "#;
    let runtime_str = runtime.to_str().expect("utf-8").to_string();
    let out = test
        .file("r.rhai", script)
        .args(&["run", "r.rhai", "-v"])
        .lab()
        .env("XDG_RUNTIME_DIR", &runtime_str)
        .run();
    out.code(0)
        .stdout_has("first\n\nsecond\n\nthird\n")
        .stderr_has("reconnecting");
    let meta = std::fs::metadata(runtime.join("opsh")).expect("control dir");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    common::wait_for("the ssh masters to close after opsh exited", HANG, || {
        ssh_processes_with(&runtime_str).is_empty()
    });
}

#[test]
fn opsh_toml_defaults_and_the_ssh_config_flag_apply() {
    let test = Test::new();
    let config = test.path().join("ssh_config");
    let text = ssh_config(test.path());
    let config_arg = config.to_str().expect("utf-8").to_string();
    // [ssh] user overrides ssh_config's User; the option overrides both.
    test.file("ssh_config", &text)
        .file("opsh.toml", "[ssh]\nuser = \"nobody-here\"\nconnect_timeout = 3\n")
        .file(
            "r.rhai",
            r#"
            print(ssh::connect("lab-14", #{ user: "opsh-lab" }).run("whoami", #{ quiet: true }).stdout);
            ssh::connect("stranger");
            "#,
        )
        .args(&["run", "r.rhai", "--ssh-config", &config_arg])
        .run()
        .code(1)
        .stdout_has("opsh-lab\n")
        .stderr_has(&format!(
            "cannot connect to stranger (nobody-here@127.0.0.3:{})",
            lab().ssh_port()
        ))
        .stderr_has("authentication as `nobody-here` failed");
}

#[test]
fn concurrency_bounds_how_many_hosts_work_at_once() {
    // Each host logs its start and end in one file (the lab's hosts share
    // this machine's /tmp) and holds its slot a while: more than 2 at once
    // would show as overlapping starts.
    let log = PathBuf::from(format!("/tmp/{}.log", unique("opsh-concurrency")));
    let script = format!(
        r#"ssh::group({targets}).run("echo + >> {log}; sleep 0.5; echo - >> {log}");"#,
        targets = names(6),
        log = log.display(),
    );
    Test::new()
        .file("r.rhai", &script)
        .args(&["run", "r.rhai", "--concurrency", "2"])
        .lab()
        .run()
        .code(0);
    let events = std::fs::read_to_string(&log).expect("the hosts' log");
    let _ = std::fs::remove_file(&log);
    let (mut now, mut most) = (0, 0);
    for event in events.lines() {
        now += if event == "+" { 1 } else { -1 };
        most = most.max(now);
    }
    assert_eq!(events.lines().filter(|e| *e == "+").count(), 6, "{events}");
    assert!(most <= 2, "{most} hosts worked at once:\n{events}");
}

#[test]
fn shell_needs_a_terminal() {
    run_script(r#"ssh::connect("lab-15").shell();"#)
        .code(1)
        .stderr_has("shell() needs a terminal");
}

#[test]
fn a_host_that_never_answers_times_out_with_a_hint() {
    // Accepted by the kernel, never served: ssh waits for a banner.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    // Without the timeout ssh would wait for the banner forever: the hang
    // guard catches that.
    let script = format!(
        r#"let r = ssh::group(["silent"], #{{ port: {port}, connect_timeout: 1 }}).run("true", #{{ warn: true }});
           print(`code ${{r[0].code}}`);
           ssh::connect("silent", #{{ port: {port}, connect_timeout: 1 }});"#
    );
    let out = with_aliases(Test::new().file("r.rhai", &script))
        .args(&["run", "r.rhai"])
        .run_within(HANG);
    drop(listener);
    out.code(1)
        .stdout_has("code -1\n")
        .stderr_has("cannot connect to silent")
        .stderr_has("timed out")
        .stderr_has("a firewall or security group");
}
