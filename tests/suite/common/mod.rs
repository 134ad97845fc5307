//! A small builder that drives the built `opsh` binary like a user would:
//! files in a scratch directory, arguments, stdin, environment; then checks
//! on the exit code and output that print everything when they fail.

pub mod lab;
pub mod ports;
pub mod records;
pub mod running;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    stdin: Option<String>,
    env: Vec<(String, String)>,
    env_removed: Vec<String>,
    /// Where opsh runs, when not the scratch directory.
    cwd: Option<PathBuf>,
}

impl Test {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("scratch directory"),
            args: Vec::new(),
            stdin: None,
            env: Vec::new(),
            env_removed: Vec::new(),
            cwd: None,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file into the scratch directory (parents created).
    pub fn file(self, name: &str, contents: &str) -> Self {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(path, contents).expect("write file");
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(ToString::to_string));
        self
    }

    pub fn stdin(mut self, input: &str) -> Self {
        self.stdin = Some(input.to_string());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Run opsh in `dir` (e.g. the repository, for its runbooks) instead of
    /// the scratch directory, which stays HOME.
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// Leave `key` out of opsh's environment (the test's own may have it).
    pub fn env_remove(mut self, key: &str) -> Self {
        self.env_removed.push(key.to_string());
        self
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_opsh"));
        cmd.current_dir(self.dir.path())
            .args(&self.args)
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("OPSH_SSH_CONFIG")
            .env_remove("RUST_LOG")
            // tables fit $COLUMNS: a test that wants a width sets it
            .env_remove("COLUMNS");
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        for key in &self.env_removed {
            cmd.env_remove(key);
        }
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd
    }

    /// Like `run` (without stdin), but opsh is killed and the test fails
    /// if it has not ended within `limit` (usually [`HANG`]): for faults
    /// that used to hang. A bound on hanging, not a claim about speed.
    pub fn run_within(self, limit: Duration) -> Outcome {
        self.spawn().finish_within(limit)
    }

    pub fn run(self) -> Outcome {
        let mut cmd = self.command();
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start opsh");
        if let Some(input) = &self.stdin {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        let out = child.wait_with_output().expect("wait for opsh");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            dir: self.dir,
        }
    }
}

pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub dir: tempfile::TempDir,
}

impl Outcome {
    fn dump(&self) -> String {
        format!(
            "exit code {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(self.code, expected, "unexpected exit code\n{}", self.dump());
        self
    }

    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.dump()
        );
        self
    }

    pub fn stdout_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stdout.contains(needle),
            "stdout has {needle:?}\n{}",
            self.dump()
        );
        self
    }

    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.dump()
        );
        self
    }

    pub fn stderr_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stderr.contains(needle),
            "stderr has {needle:?}\n{}",
            self.dump()
        );
        self
    }

    pub fn stdout_is(&self, expected: &str) -> &Self {
        assert_eq!(self.stdout, expected, "stdout differs\n{}", self.dump());
        self
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What the run started on `target` (an instance id or host name), from
    /// its journal in the scratch HOME (so XDG_STATE_HOME must not be set):
    /// the commands (`ssh::run`, `ssh::sudo`) and the files written
    /// (`ssh::write`, `ssh::upload`, as "write PATH"), in order. Unlike a lab
    /// host's records, these are the run's own, whatever shared the host.
    pub fn commands_on(&self, target: &str) -> Vec<String> {
        let dir = self.path(".local/state/opsh/journal");
        let mut out = Vec::new();
        let files = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for file in files {
            let path = file.expect("journal entry").path();
            let text = std::fs::read_to_string(&path).expect("journal file");
            for line in text.lines() {
                let entry: serde_json::Value =
                    serde_json::from_str(line).expect("a journal line is JSON");
                if entry["phase"] != "started" || entry["target"] != target {
                    continue;
                }
                let args = &entry["args"];
                let text = |key: &str| args[key].as_str().unwrap_or_default().to_string();
                match entry["action"].as_str().unwrap_or_default() {
                    "ssh::run" | "ssh::sudo" => out.push(text("command")),
                    "ssh::write" | "ssh::upload" => out.push(format!("write {}", text("remote"))),
                    _ => {}
                }
            }
        }
        out
    }
}

/// The command line (arguments joined by spaces) of every process on this
/// machine. Lab hosts are local processes, so this is what `ps` shows any
/// user of a host.
pub fn command_lines() -> Vec<String> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .collect()
}

/// How long a test waits for opsh to end, or for something it caused to
/// happen, before calling it hung. Far above what any step needs even on a
/// loaded machine: reaching it means "never", not "slow". How fast things
/// are is bench/'s business.
pub const HANG: Duration = Duration::from_secs(120);

/// Poll `condition` until it holds. Fails, naming `what`, when it still
/// does not after `limit` (usually [`HANG`]): the condition itself is the
/// synchronisation, never a fixed sleep.
pub fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}: it never happened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `pid` runs: a zombie waiting for its (re)parent counts as gone.
pub fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ")?.1.chars().next())
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// Wait (bounded by [`HANG`]) until `pid` no longer runs.
pub fn wait_gone(pid: i32, what: &str) {
    wait_for(&format!("{what} (pid {pid}) to end"), HANG, || {
        !running(pid)
    });
}

/// The repository's root: where runbooks/, stdlib/ and scripts/ are.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Each of `files` holds the pid of a remote command a test started: wait
/// (bounded) until each has ended, and remove the files.
pub fn wait_pid_files_gone<P: AsRef<Path>>(files: &[P], what: &str) {
    for file in files {
        let file = file.as_ref();
        let pid: i32 = std::fs::read_to_string(file)
            .expect("pid")
            .trim()
            .parse()
            .expect("pid number");
        wait_gone(pid, what);
        let _ = std::fs::remove_file(file);
    }
}

impl Outcome {
    /// `commands_on`, for a run whose journal is in `state` (XDG_STATE_HOME).
    pub fn commands_on_in(&self, state: &Path, target: &str) -> Vec<String> {
        let dir = state.join("opsh/journal");
        let mut out = Vec::new();
        let Ok(files) = std::fs::read_dir(&dir) else {
            return out;
        };
        for file in files {
            let text =
                std::fs::read_to_string(file.expect("journal entry").path()).expect("journal file");
            for line in text.lines() {
                let entry: serde_json::Value =
                    serde_json::from_str(line).expect("a journal line is JSON");
                if entry["phase"] == "started" && entry["target"] == target {
                    out.push(entry["args"]["command"].as_str().unwrap_or("").to_string());
                }
            }
        }
        out
    }
}
