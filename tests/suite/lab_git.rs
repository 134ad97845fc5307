//! Real git, pip and venvs on the lab hosts, driven through opsh: the lab's
//! git server (a bare repository over ssh on loopback, reachable only with
//! the deploy key), the system python that refuses installs outside a venv,
//! and the shop deploy that gives each release a venv of its own. Each test
//! works in a directory and unit of its own on its lab host and looks only at
//! what it caused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::lab::{lab, unique};
use crate::common::{Test, repo};

/// Long enough that only a hang reaches it: git and pip must fail at once.
const HANG: Duration = Duration::from_secs(300);

fn lab_root() -> PathBuf {
    PathBuf::from(lab().var("OPSH_LAB_DIR"))
}

fn host_dir(host: &str) -> PathBuf {
    lab_root().join("hosts").join(host)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines `host` records from now on (the lab keeps earlier ones).
struct Records {
    log: PathBuf,
    skip: usize,
}

impl Records {
    fn start(host: &str) -> Self {
        let log = host_dir(host).join("records.log");
        let skip = std::fs::read_to_string(&log)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        Self { log, skip }
    }

    fn since(&self) -> Vec<String> {
        read(&self.log)
            .lines()
            .skip(self.skip)
            .map(str::to_string)
            .collect()
    }
}

/// Paths on the lab hosts a test made (its app directory, its unit),
/// removed when the test ends, so the lab does not fill up with venvs.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_dir_all(path).or_else(|_| std::fs::remove_file(path));
        }
    }
}

/// opsh against the lab, with the shop runbook beside `script` so that it
/// can `import "shop"`, and the unit template from the repository.
fn shop_test(script: &str) -> Test {
    Test::new()
        .lab()
        .file("shop.rhai", &read(&repo().join("runbooks/shop.rhai")))
        .file("t.rhai", script)
}

fn files_var() -> String {
    format!("files={}", repo().join("runbooks/files").display())
}

/// The commit `branch` names in the lab's bare shop repository.
fn lab_commit(branch: &str) -> String {
    git(&[
        &format!("--git-dir={}", lab_root().join("git/shop.git").display()),
        "rev-parse",
        branch,
    ])
}

fn git(args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "safe.directory=*"])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_release_is_cloned_over_ssh_with_the_deploy_key_and_git_s_own_errors_fail() {
    let host = "lab-4";
    let dir = unique("gitclone");
    let _cleanup = Cleanup(vec![host_dir(host).join("home").join(&dir)]);
    let records = Records::start(host);
    let out = shop_test(&format!(
        r#"
fn t() {{
import "shop" as shop;
let app = shop::settings().app;
app.dir = "{dir}";
let h = ssh::connect("{host}");
install_deploy_key(h, app);
checkout_release(h, app, "r-main");
app.branch = "next";
checkout_release(h, app, "r-next");
app.branch = "nosuchbranch";
let missing = "cloned";
try {{ checkout_release(h, app, "r-missing"); }} catch (e) {{ missing = `${{e}}`; }}
let https = h.run(`git clone --quiet https://git.example.com/shop.git ${{app_dir(app)}}/https`, #{{ warn: true }});
#{{ missing: missing, https_code: https.code, https_stderr: https.stderr }}
}}
"#
    ))
    .args(&["run", "t.rhai", "t", "--output", "json"])
    .run_within(HANG);
    out.code(0);
    let result: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON result");

    // Real clones of the lab's repository, each at its branch's commit.
    let releases = host_dir(host).join("home").join(&dir).join("releases");
    for (release, branch) in [("r-main", "main"), ("r-next", "next")] {
        let checkout = releases.join(release);
        assert!(
            checkout.join("manage.py").is_file(),
            "{release}: no manage.py"
        );
        assert!(checkout.join("requirements.txt").is_file());
        let head = git(&[
            &format!("--git-dir={}", checkout.join(".git").display()),
            "rev-parse",
            "HEAD",
        ]);
        assert_eq!(head, lab_commit(branch), "{release} is not at {branch}");
    }
    assert_ne!(lab_commit("main"), lab_commit("next"));
    // The key went on as a file only its owner reads.
    use std::os::unix::fs::PermissionsExt;
    let key = host_dir(host).join("home/.ssh/shop_deploy");
    assert_eq!(
        std::fs::metadata(&key)
            .expect("the deploy key")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(
        read(&key),
        read(Path::new(lab().var("SHOP_DEPLOY_KEY"))),
        "not the deploy key"
    );

    // git's own errors: an unknown branch, and https with no credentials (at once).
    let missing = result["missing"].as_str().unwrap_or_default();
    assert!(
        missing.contains("Remote branch nosuchbranch not found in upstream origin"),
        "{missing}"
    );
    assert!(!releases.join("r-missing").exists());
    assert_eq!(result["https_code"], 128, "{result}");
    assert!(
        result["https_stderr"]
            .as_str()
            .unwrap_or_default()
            .contains("fatal: "),
        "{result}"
    );
    // Every call is recorded, the failing ones too.
    let since = records.since();
    for wanted in [
        "git\topsh-lab\tclone --quiet --branch main ",
        "git\topsh-lab\tclone --quiet --branch next ",
        "git\topsh-lab\tclone --quiet --branch nosuchbranch ",
        "git\topsh-lab\tclone --quiet https://git.example.com/shop.git ",
    ] {
        assert!(
            since.iter().any(|l| l.starts_with(wanted)),
            "no {wanted:?} in {since:#?}"
        );
    }
}

#[test]
fn only_the_deploy_key_reaches_the_git_server_and_only_for_git() {
    let host = "lab-5";
    let port = lab().var("OPSH_LAB_SSH_PORT");
    let out = Test::new()
        .lab()
        .file(
            "t.rhai",
            &format!(
                r#"
fn t() {{
let h = ssh::connect("{host}");
h.run("mkdir -p .ssh && chmod 700 .ssh");
h.upload(env("SHOP_DEPLOY_KEY"), ".ssh/shop_deploy", #{{ mode: "0600" }});
h.upload(env("SHOP_GIT_KNOWN_HOSTS"), ".ssh/shop_known_hosts", #{{ mode: "0644" }});
let key = "ssh -i .ssh/shop_deploy -o IdentitiesOnly=yes -o UserKnownHostsFile=.ssh/shop_known_hosts -o BatchMode=yes";
let ssh = `${{key}} -p {port} opsh-lab@127.0.0.1`;
let refs = h.run(`GIT_SSH_COMMAND=${{quote(key)}} git ls-remote ssh://opsh-lab@127.0.0.1:{port}/shop.git`, #{{ quiet: true }});
let command = h.run(`${{ssh}} id`, #{{ warn: true, quiet: true }});
let shell = h.run(`${{ssh}} < /dev/null`, #{{ warn: true, quiet: true }});
let elsewhere = h.run(`${{ssh}} "git-upload-pack '/etc'"`, #{{ warn: true, quiet: true }});
#{{ refs: refs.stdout, command: [command.code, command.stderr], shell: [shell.code, shell.stderr], elsewhere: [elsewhere.code, elsewhere.stderr] }}
}}
"#
            ),
        )
        .args(&["run", "t.rhai", "t", "--output", "json"])
        .run_within(HANG);
    out.code(0);
    let r: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON result");
    let refs = r["refs"].as_str().unwrap_or_default();
    assert!(
        refs.contains(&format!("{}\trefs/heads/main", lab_commit("main"))),
        "{refs}"
    );
    assert!(refs.contains("refs/heads/next"), "{refs}");
    for (what, wanted) in [
        ("command", "may only run git-upload-pack"),
        ("shell", "cannot open a shell"),
        (
            "elsewhere",
            "'etc.git' does not appear to be a git repository",
        ),
    ] {
        assert_eq!(r[what][0], 128, "{what}: {r}");
        assert!(
            r[what][1].as_str().unwrap_or_default().contains(wanted),
            "{what}: {r}"
        );
    }

    // The login key (what opsh logs in to the hosts with) is no deploy key.
    let login = Command::new("ssh")
        .args([
            "-i",
            &format!("{}/keys/client_ed25519", lab_root().display()),
        ])
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-F",
            "/dev/null",
        ])
        .args([
            "-o",
            &format!("UserKnownHostsFile={}", lab().var("SHOP_GIT_KNOWN_HOSTS")),
        ])
        .args([
            "-p",
            port,
            "opsh-lab@127.0.0.1",
            "git-upload-pack 'shop.git'",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ssh");
    assert_eq!(login.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&login.stderr).contains("Permission denied (publickey)"),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
}

#[test]
fn pip_outside_a_venv_is_refused_and_a_missing_requirements_file_fails() {
    let host = "lab-6";
    let dir = unique("pipvenv");
    let _cleanup = Cleanup(vec![host_dir(host).join("home").join(&dir)]);
    let records = Records::start(host);
    let out = Test::new()
        .lab()
        .file(
            "t.rhai",
            &format!(
                r#"
fn t() {{
let h = ssh::connect("{host}");
let refused = [];
for cmd in ["pip install Django", "pip3 install gunicorn", "python3 -m pip install Django", "pip install -r no-such-file.txt"] {{
    let r = h.run(cmd, #{{ warn: true, quiet: true }});
    refused.push([cmd, r.code, r.stderr]);
}}
let r = h.sudo("pip install Django", #{{ warn: true, quiet: true }});
refused.push(["sudo pip install Django", r.code, r.stderr]);
h.run("python3 -m venv {dir}/venv");
let missing = h.run("{dir}/venv/bin/pip install -r no-such-file.txt", #{{ warn: true, quiet: true }});
let pinned = h.run("{dir}/venv/bin/pip install 'Django<5'", #{{ quiet: true }});
#{{ refused: refused, missing: [missing.code, missing.stderr], pinned: pinned.stdout }}
}}
"#
            ),
        )
        .args(&["run", "t.rhai", "t", "--output", "json"])
        .run_within(HANG);
    out.code(0);
    let r: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON result");
    let refused = r["refused"].as_array().expect("refused");
    assert_eq!(refused.len(), 5);
    for each in refused {
        assert_eq!(each[1], 1, "{each}");
        assert!(
            each[2]
                .as_str()
                .unwrap_or_default()
                .contains("error: externally-managed-environment"),
            "{each}"
        );
    }
    assert_eq!(r["missing"][0], 1, "{r}");
    assert!(
        r["missing"][1]
            .as_str()
            .unwrap_or_default()
            .contains("Could not open requirements file"),
        "{r}"
    );
    // In a venv, pip installs from the lab's wheelhouse, and honours the pin.
    assert!(
        r["pinned"]
            .as_str()
            .unwrap_or_default()
            .contains("Successfully installed Django-4.2.11"),
        "{r}"
    );
    let since = records.since();
    for wanted in [
        "pip\topsh-lab\tinstall Django",
        "pip3\topsh-lab\tinstall gunicorn",
        "pip\troot\tinstall Django",
    ] {
        assert!(
            since.iter().any(|l| l == wanted),
            "no {wanted:?} in {since:#?}"
        );
    }
    // The venv's own pip is the real one, not the recording stand-in.
    assert!(
        !since.iter().any(|l| l.contains("'Django<5'")),
        "{since:#?}"
    );
}

/// A deploy's app directory and unit on `host`.
fn cleanup(host: &str, dir: &str, service: &str) -> Cleanup {
    Cleanup(vec![
        host_dir(host).join("home").join(dir),
        host_dir(host)
            .join("root/etc/systemd/system")
            .join(format!("{service}.service")),
    ])
}

/// The site-packages directory of a venv (its python version in the path).
fn site_packages(venv: &Path) -> PathBuf {
    let lib = venv.join("lib");
    let python = std::fs::read_dir(&lib)
        .unwrap_or_else(|e| panic!("{}: {e}", lib.display()))
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("python"))
        .unwrap_or_else(|| panic!("no python in {}", lib.display()));
    python.path().join("site-packages")
}

#[test]
fn each_deploy_gets_a_release_with_its_own_venv_and_manage_py_runs_under_it() {
    let host = "lab-7";
    let dir = unique("deploy");
    let service = unique("shop");
    let _cleanup = cleanup(host, &dir, &service);
    let records = Records::start(host);
    let out = shop_test(&format!(
        r#"
fn t() {{
import "shop" as shop;
let settings = shop::settings();
settings.app.dir = "{dir}";
settings.app.service = "{service}";
let h = ssh::connect("{host}");
let first = shop::deploy_app(h, settings, true, false);
let second = shop::deploy_app(h, settings, false, true);
let system = h.run(`cd ${{app_dir(settings.app)}}/current && python3 manage.py check`, #{{ warn: true, quiet: true }});
#{{ releases: [first, second], system: [system.code, system.stderr] }}
}}
"#
    ))
    .args(&["run", "t.rhai", "t", "--output", "json", "--var", &files_var()])
    .run_within(HANG);
    out.code(0);
    let r: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON result");
    let app = host_dir(host).join("home").join(&dir);
    let releases: Vec<String> = r["releases"]
        .as_array()
        .expect("two releases")
        .iter()
        .map(|v| v.as_str().expect("a release id").to_string())
        .collect();
    assert_ne!(releases[0], releases[1]);
    assert_eq!(
        std::fs::read_link(app.join("current")).expect("current"),
        app.join("releases").join(&releases[1])
    );
    for release in &releases {
        let venv = app.join("releases").join(release).join("venv");
        assert!(venv.join("pyvenv.cfg").is_file(), "{release} has no venv");
        assert!(
            venv.join("bin/gunicorn").is_file(),
            "{release}: no gunicorn"
        );
        // the pin held, the upgrade included: the wheelhouse also has Django 5
        let site = site_packages(&venv);
        assert!(site.join("Django-4.2.11.dist-info").is_dir(), "{release}");
        assert!(!site.join("Django-5.0.3.dist-info").exists(), "{release}");
        // migrations ran with this release's own python
        let ran = format!(
            "migrate: Django 4.2.11 (opsh lab) under {}",
            venv.join("bin/python").display()
        );
        assert!(out.stderr.contains(&ran), "no {ran:?} in\n{}", out.stderr);
    }
    // The system python has no Django: only the venv runs the app.
    assert_eq!(r["system"][0], 1, "{r}");
    assert!(
        r["system"][1]
            .as_str()
            .unwrap_or_default()
            .contains("Couldn't import Django"),
        "{r}"
    );

    // The unit runs the live release from its venv, as the login user.
    let unit = read(
        &host_dir(host)
            .join("root/etc/systemd/system")
            .join(format!("{service}.service")),
    );
    for line in [
        "User=opsh-lab".to_string(),
        format!("WorkingDirectory={}/current", app.display()),
        format!(
            "ExecStart={}/current/venv/bin/gunicorn --bind 0.0.0.0:8000",
            app.display()
        ),
    ] {
        assert!(unit.contains(&line), "no {line:?} in\n{unit}");
    }
    assert!(!unit.contains('@'), "a placeholder was left:\n{unit}");
    // installed, reloaded, enabled and restarted, in that order, once per deploy
    let since = records.since();
    let systemctl: Vec<&str> = since
        .iter()
        .filter_map(|l| l.strip_prefix("systemctl\troot\t"))
        .collect();
    let once = [
        "daemon-reload".to_string(),
        format!("enable --now {service}"),
        format!("restart {service}"),
    ];
    let twice: Vec<&str> = once.iter().chain(once.iter()).map(String::as_str).collect();
    assert_eq!(systemctl, twice, "{since:#?}");
    assert!(
        !since.iter().any(|l| l.starts_with("pip")),
        "a deploy used the system pip: {since:#?}"
    );
}

#[test]
fn the_deploy_key_never_shows_in_a_plan_the_journal_or_the_output() {
    let host = "lab-8";
    let dir = unique("secret");
    let service = unique("shop");
    let _cleanup = cleanup(host, &dir, &service);
    let key = read(Path::new(lab().var("SHOP_DEPLOY_KEY")));
    let body: Vec<&str> = key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .collect();
    assert!(!body.is_empty(), "the deploy key has no body");
    let script = format!(
        r#"
fn t() {{
import "shop" as shop;
let settings = shop::settings();
settings.app.dir = "{dir}";
settings.app.service = "{service}";
shop::deploy_app(ssh::connect("{host}"), settings, true, false)
}}
"#
    );
    let mut outputs = Vec::new();
    for extra in [&["--dry-run"][..], &["-v"][..]] {
        let mut args = vec!["run", "t.rhai", "t", "--var"];
        let files = files_var();
        args.push(&files);
        args.extend_from_slice(extra);
        let out = shop_test(&script).args(&args).run_within(HANG);
        out.code(0);
        let journal = out.dir.path().join(".local/state/opsh/journal");
        let mut journal_text = String::new();
        if let Ok(entries) = std::fs::read_dir(&journal) {
            for entry in entries.flatten() {
                journal_text += &read(&entry.path());
            }
        }
        if extra.contains(&"-v") {
            assert!(
                journal_text.contains("shop_deploy"),
                "the journal has no upload of the key: {journal_text}"
            );
        }
        outputs.push((format!("{extra:?} stdout"), out.stdout.clone()));
        outputs.push((format!("{extra:?} stderr"), out.stderr.clone()));
        outputs.push((format!("{extra:?} journal"), journal_text));
    }
    assert!(
        outputs[0].1.contains("Plan (dry run, nothing was changed)"),
        "{}",
        outputs[0].1
    );
    for (what, text) in &outputs {
        for line in &body {
            assert!(!text.contains(line), "{what} shows the deploy key:\n{text}");
        }
    }
    // The real run did put it on the host.
    assert_eq!(read(&host_dir(host).join("home/.ssh/shop_deploy")), key);
}
