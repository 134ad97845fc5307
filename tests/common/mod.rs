//! A small builder that drives the built `opsh` binary like a user would:
//! files in a scratch directory, arguments, stdin, environment; then checks
//! on the exit code and output that print everything when they fail.

#![allow(dead_code)]

pub mod lab;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    stdin: Option<String>,
    env: Vec<(String, String)>,
}

impl Test {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("scratch directory"),
            args: Vec::new(),
            stdin: None,
            env: Vec::new(),
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

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_opsh"));
        cmd.current_dir(self.dir.path())
            .args(&self.args)
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("OPSH_SSH_CONFIG")
            .env_remove("RUST_LOG");
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd
    }

    /// `run`, but an opsh still running after `limit` is killed and the
    /// test fails, showing the end of what it printed: for tests whose
    /// point is that nothing hangs.
    pub fn run_within(self, limit: std::time::Duration) -> Outcome {
        use std::sync::{Arc, Mutex};
        let mut cmd = self.command();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start opsh");
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let sink = seen.clone();
            let reader = std::thread::spawn(move || {
                let Some(mut pipe) = pipe else { return };
                let mut chunk = [0u8; 64 * 1024];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    sink.lock()
                        .expect("output buffer")
                        .extend_from_slice(&chunk[..n]);
                }
            });
            (seen, reader)
        };
        let (stdout, out_reader) = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let (stderr, err_reader) = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let text = |buf: &Arc<Mutex<Vec<u8>>>| {
            String::from_utf8_lossy(&buf.lock().expect("output buffer")).into_owned()
        };
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("poll opsh") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                let tail = |t: String| {
                    t.chars()
                        .rev()
                        .take(2000)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<String>()
                };
                panic!(
                    "opsh did not finish within {limit:?}\n--- stdout (end) ---\n{}\n--- stderr (end) ---\n{}",
                    tail(text(&stdout)),
                    tail(text(&stderr))
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        out_reader.join().expect("stdout reader");
        err_reader.join().expect("stderr reader");
        Outcome {
            code: status.code().unwrap_or(-1),
            stdout: text(&stdout),
            stderr: text(&stderr),
            dir: self.dir,
        }
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
}
