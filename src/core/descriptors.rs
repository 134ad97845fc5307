//! The open-file limit. A fan-out holds a few descriptors per host (the
//! session's socket and pipes, the ssh being started), so opsh raises its
//! soft limit to the hard one at start; when it still runs out, the error
//! says so instead of blaming ssh or the connection.

use std::error::Error;
use std::io;

/// Raise the soft RLIMIT_NOFILE to the hard limit. Where the hard limit is
/// unlimited and the kernel refuses that as a soft limit (macOS), a large
/// finite value is tried instead. Failing leaves the limit as it was.
pub fn raise_limit() {
    let Some(mut limit) = get() else {
        return;
    };
    let before = limit.rlim_cur;
    if before >= limit.rlim_max {
        return;
    }
    for target in [limit.rlim_max, FALLBACK] {
        if target <= before || target > limit.rlim_max {
            continue;
        }
        limit.rlim_cur = target;
        // SAFETY: `limit` is a valid rlimit; setrlimit only reads it.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0 {
            tracing::debug!(from = before, to = target, "raised the open-file limit");
            return;
        }
    }
    tracing::debug!(
        soft = before,
        hard = limit.rlim_max,
        "cannot raise the open-file limit"
    );
}

/// Open files macOS allows a process (OPEN_MAX) when its hard limit is unlimited.
const FALLBACK: libc::rlim_t = 10240;

fn get() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid rlimit it is given.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit)
}

/// `err`, or an error it was caused by, is EMFILE or ENFILE.
pub fn exhausted(err: &(dyn Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if matches!(io.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                return true;
            }
            // An io::Error wrapping another reports the inner one's source,
            // not the inner one itself.
            if io.get_ref().is_some_and(|inner| exhausted(inner)) {
                return true;
            }
        }
        cause = e.source();
    }
    false
}

/// A message (such as ssh's own) that tells of EMFILE or ENFILE; strerror
/// says "Too many open files" and "Too many open files in system".
pub fn exhausted_text(message: &str) -> bool {
    message.contains("Too many open files")
}

/// What to do about it, with the limit in force.
pub fn hint() -> String {
    match get() {
        Some(limit) => format!(
            "too many open files: raise `ulimit -n` (now {}) or lower --concurrency",
            limit.rlim_cur
        ),
        None => "too many open files: raise `ulimit -n` or lower --concurrency".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emfile_is_found_behind_wrappers() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(exhausted(&emfile));
        let wrapped = io::Error::other(io::Error::from_raw_os_error(libc::ENFILE));
        assert!(exhausted(&wrapped));
        assert!(!exhausted(&io::Error::from_raw_os_error(libc::ENOENT)));
        assert!(exhausted_text(&emfile.to_string()));
    }

    #[test]
    fn the_hint_names_the_limit_in_force() {
        let soft = get().unwrap().rlim_cur;
        assert!(hint().contains(&format!("(now {soft})")), "{}", hint());
    }
}
