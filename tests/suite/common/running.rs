//! opsh started in the background, its output collected as it comes, for
//! tests that act while it runs (Ctrl-C once it has printed something) and
//! then check how it ended. Every wait is bounded by [`HANG`].

use std::io::Read;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::{HANG, Outcome, Test, wait_for};

/// What one pipe has delivered so far, and whether it has closed.
#[derive(Clone, Default)]
struct Collected {
    text: Arc<Mutex<String>>,
    closed: Arc<AtomicBool>,
}

impl Collected {
    fn start(mut pipe: impl Read + Send + 'static) -> Self {
        let collected = Self::default();
        let shared = collected.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                shared
                    .text
                    .lock()
                    .expect("output lock")
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
            shared.closed.store(true, Ordering::SeqCst);
        });
        collected
    }

    fn text(&self) -> String {
        self.text.lock().expect("output lock").clone()
    }

    fn closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

pub struct Running {
    child: Child,
    stdout: Collected,
    stderr: Collected,
    dir: tempfile::TempDir,
}

impl Test {
    /// Start opsh (stdin empty) without waiting for it.
    pub fn spawn(self) -> Running {
        self.start(None)
    }

    /// Start opsh with `input` on its stdin (then closed), without waiting.
    pub fn spawn_with_stdin(self, input: &str) -> Running {
        self.start(Some(input))
    }

    fn start(self, input: Option<&str>) -> Running {
        use std::io::Write;
        let mut child = self
            .command()
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start opsh");
        if let (Some(input), Some(mut pipe)) = (input, child.stdin.take()) {
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        let stdout = Collected::start(child.stdout.take().expect("stdout pipe"));
        let stderr = Collected::start(child.stderr.take().expect("stderr pipe"));
        Running {
            child,
            stdout,
            stderr,
            dir: self.dir,
        }
    }
}

impl Running {
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("a pid fits in i32")
    }

    pub fn stdout(&self) -> String {
        self.stdout.text()
    }

    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Wait until `condition` holds while opsh runs; fail if opsh ends first
    /// or the condition never comes.
    pub fn wait_until(&mut self, what: &str, mut condition: impl FnMut(&Self) -> bool) {
        let mut ended = None;
        wait_for(what, HANG, || {
            if condition(self) {
                return true;
            }
            ended = self.child.try_wait().expect("poll opsh");
            ended.is_some()
        });
        if let Some(status) = ended {
            panic!(
                "opsh ended ({status}) before {what}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.stdout(),
                self.stderr()
            );
        }
    }

    /// Wait until opsh's stderr shows `needle`.
    pub fn wait_for_stderr(&mut self, needle: &str) {
        self.wait_until(&format!("{needle:?} on opsh's stderr"), |r| {
            r.stderr().contains(needle)
        });
    }

    /// Ctrl-C, as a terminal sends it.
    pub fn interrupt(&self) {
        // SAFETY: kill(2) on the opsh process this value started (and has
        // not reaped yet, so the pid is still its own).
        let rc = unsafe { libc::kill(self.pid(), libc::SIGINT) };
        assert_eq!(rc, 0, "SIGINT: {}", std::io::Error::last_os_error());
    }

    /// Wait for opsh to end and its output to close; kill it and fail the
    /// test, saying it hangs, after `limit` (usually [`HANG`]).
    pub fn finish_within(mut self, limit: std::time::Duration) -> Outcome {
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for opsh") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "opsh was still running after {limit:?}: it hangs\n--- stderr ---\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        // A process opsh started and left behind would hold the pipes open.
        wait_for(
            "opsh's stdout and stderr to close after it ended (does a process it started still run?)",
            HANG,
            || self.stdout.closed() && self.stderr.closed(),
        );
        Outcome {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout(),
            stderr: self.stderr(),
            dir: self.dir,
        }
    }

    /// [`Running::finish_within`] the generous [`HANG`].
    pub fn finish(self) -> Outcome {
        self.finish_within(HANG)
    }
}
