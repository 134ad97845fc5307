//! Standard output, for a reader that may go away: `opsh doc | head -1`
//! must end quietly, not panic as `println!` does.
//!
//! SIGPIPE stays ignored (Rust's default) rather than restored to its
//! default action, which would kill opsh on the spot: in the middle of an
//! action, before remote commands are ended, ssh masters closed and the
//! journal written — and on a write to the stdin of a child that has exited,
//! too. Instead a write that finds the pipe closed marks stdout as gone and
//! later writes are dropped: a listing ends early with exit 0, and a running
//! runbook goes on (its outcome is still in the exit code and the journal).

use std::io::{ErrorKind, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write failed: nothing more is written.
static CLOSED: AtomicBool = AtomicBool::new(false);
/// The first failure other than the reader going away (a full disk, say).
static FAILURE: Mutex<Option<String>> = Mutex::new(None);

/// Write `text` to stdout, whole, unless stdout is gone.
pub fn write(text: &str) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    // Flushed here so a failure is seen now, not lost at exit.
    if let Err(err) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        CLOSED.store(true, Ordering::Relaxed);
        if err.kind() != ErrorKind::BrokenPipe {
            let mut failure = FAILURE.lock().unwrap_or_else(|p| p.into_inner());
            failure.get_or_insert_with(|| err.to_string());
        }
    }
}

/// Why output was lost, if it was for any reason but a closed pipe.
pub fn failure() -> Option<String> {
    FAILURE.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// `println!` through `write`.
macro_rules! outln {
    () => {
        $crate::core::stdout::write("\n")
    };
    ($($arg:tt)*) => {
        $crate::core::stdout::write(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;
