//! The Result of a command, local or remote, and what a runbook is told
//! when a Result keeps only part of a command's output.

pub mod stream;

use std::path::PathBuf;

use rhai::ImmutableString;

use crate::core::context::Context;
use crate::core::output::{Output, size};
use crate::core::record::record;
use stream::Captured;

/// The most of each stream (stdout, stderr) a Result keeps: what is beyond
/// is still shown live, and `stdout_to` keeps all of stdout. Small enough
/// that a command's Result fits in ~100 MB. The docs of local::run,
/// host.run, group.run and read() name it.
pub const CAPTURE_LIMIT: usize = 16 * 1024 * 1024;
/// The options of a command run as another user (sudo): the user, then
/// those of every command.
pub const AS_USER_OPTIONS: &[&str] = &[
    "user",
    "warn",
    "timeout",
    "env",
    "cwd",
    "stdin",
    "quiet",
    "stdout_to",
    "read",
];
/// The options of a command, local or on a host.
pub const COMMAND_OPTIONS: &[&str] = AS_USER_OPTIONS.split_at(1).1;
/// How many stderr lines an error message quotes.
const STDERR_TAIL_LINES: usize = 10;
/// In a `stdout_to` path, replaced by the host's name.
pub const HOST_PLACEHOLDER: &str = "{host}";

/// What each host of a group of `hosts` keeps of each stream: an equal
/// share of CAPTURE_LIMIT, with no floor, so the group's Results together
/// keep no more than one Result does, however many hosts it has.
pub fn capture_limit(hosts: usize) -> usize {
    CAPTURE_LIMIT / hosts.max(1)
}

/// The local file `stdout_to` names for the command on `host`.
pub fn stdout_path(template: &str, host: &str) -> PathBuf {
    PathBuf::from(template.replace(HOST_PLACEHOLDER, host))
}

/// The Result type, shared by local and remote commands.
pub fn register(engine: &mut rhai::Engine, ctx: &std::sync::Arc<Context>) {
    ctx.add_record::<CmdResult>(engine);
}

record! {
    pub struct CmdResult as "Result" {
        pub host: String,
        pub command: String,
        pub code: i64,
        /// Shared, not copied, when a runbook reads it or copies the Result.
        #[serde(serialize_with = "as_str")]
        pub stdout: ImmutableString,
        #[serde(serialize_with = "as_str")]
        pub stderr: ImmutableString,
        pub ok: bool,
        /// stdout or stderr was cut at the capture limit.
        pub truncated: bool,
    }
    row(r) [
        "host" => r.host.clone(),
        "code" => r.code.to_string(),
        "stdout" => r.stdout.lines().next_back().unwrap_or_default().to_string(),
        "stderr" => r.stderr.lines().next_back().unwrap_or_default().to_string(),
    ]
    // A Result reads as its output, not as its fields.
    text(r) => r.to_string();
    debug(r) => format!("{r:?}");
}

/// The stdout of a command a dry run planned instead of running: text that
/// flows into names and commands built from it, recognisable in the plan
/// (`db-<planned>.sql`), never an empty string that reads as real output.
pub const PLANNED_OUTPUT: &str = "<planned>";

impl CmdResult {
    /// The Result of a command a dry run did not run: it succeeds, and its
    /// stdout is PLANNED_OUTPUT, or "" when `stdout_to` took stdout, as in
    /// the real run.
    pub fn planned(host: &str, command: &str, stdout_to_file: bool) -> Self {
        let stdout = if stdout_to_file { "" } else { PLANNED_OUTPUT };
        Self::new(host, command, 0, stdout.to_string(), String::new())
    }

    pub fn new(host: &str, command: &str, code: i64, stdout: String, stderr: String) -> Self {
        Self {
            host: host.to_string(),
            command: command.to_string(),
            code,
            ok: code == 0,
            stdout: stdout.into(),
            stderr: stderr.into(),
            truncated: false,
        }
    }

    /// The Result of a command whose output streams were captured, with a
    /// warning for each one it keeps only the start of.
    pub fn from_streams(
        host: &str,
        command: &str,
        code: i64,
        stdout: Captured,
        stderr: Captured,
        output: &Output,
    ) -> Self {
        for (name, stream) in [("stdout", &stdout), ("stderr", &stderr)] {
            if stream.truncated {
                output.warn(&cut_warning(host, command, name, stream));
            }
        }
        let mut result = Self::new(host, command, code, stdout.text, stderr.text);
        result.truncated = stdout.truncated || stderr.truncated;
        result
    }

    /// The error a failed command raises unless `warn: true`.
    pub fn failure_message(&self) -> String {
        let mut message = format!(
            "command failed on {} with exit code {}: {}",
            self.host, self.code, self.command
        );
        let tail = tail_lines(&self.stderr, STDERR_TAIL_LINES);
        if !tail.is_empty() {
            message += "\nstderr (last lines):";
            for line in tail {
                message += "\n  ";
                message += line;
            }
        }
        message += "\n(pass #{ warn: true } to get the Result back instead of an error)";
        message
    }
}

impl std::fmt::Display for CmdResult {
    /// What a Result reads like in the REPL: its output, trimmed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.stdout.trim_end())
    }
}

fn tail_lines(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

fn as_str<S: serde::Serializer>(text: &ImmutableString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(text)
}

/// Why a Result's `stream` ("stdout" or "stderr") is incomplete, and how
/// to keep all of it.
fn cut_warning(host: &str, command: &str, stream: &str, captured: &Captured) -> String {
    let keep = match stream {
        "stdout" => format!(
            "pass #{{ stdout_to: \"FILE\" }} to write all of stdout to a local file \
             (in a group, with {HOST_PLACEHOLDER} in the name: one file per host)"
        ),
        _ => "redirect it in the command (`2>FILE`, or `2>&1` together with #{ stdout_to: \"FILE\" })"
            .to_string(),
    };
    format!(
        "{host}: `{command}` printed {} on {stream}; its Result keeps the first {} \
         (the capture limit; Result.truncated is true). To keep all of it, {keep}",
        size(captured.printed),
        size(u64::try_from(captured.limit).unwrap_or(u64::MAX)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_host_command_code_and_stderr_tail() {
        let stderr = (1..=20).map(|i| format!("line {i}\n")).collect::<String>();
        let r = CmdResult::new("web-1", "make test", 2, String::new(), stderr);
        let msg = r.failure_message();
        assert!(msg.contains("web-1") && msg.contains("make test") && msg.contains("exit code 2"));
        assert!(
            msg.contains("line 20") && !msg.contains("line 10\n"),
            "{msg}"
        );
        assert!(!r.ok);
    }

    #[test]
    fn a_group_keeps_no_more_than_one_result_whatever_its_size() {
        assert_eq!(capture_limit(1), CAPTURE_LIMIT);
        assert_eq!(capture_limit(0), CAPTURE_LIMIT);
        assert_eq!(capture_limit(4), CAPTURE_LIMIT / 4);
        for hosts in [2_000, 10_000, 1_000_000, usize::MAX] {
            assert!(capture_limit(hosts).saturating_mul(hosts) <= CAPTURE_LIMIT);
        }
    }

    #[test]
    fn a_cut_stream_is_named_with_the_limit_and_the_way_to_keep_it() {
        let stdout = Captured {
            text: "x".into(),
            printed: 150_000_000,
            truncated: true,
            limit: CAPTURE_LIMIT,
        };
        let text = cut_warning("local", "make dump", "stdout", &stdout);
        assert!(
            text.contains("143.1 MiB") && text.contains("first 16 MiB"),
            "{text}"
        );
        assert!(text.contains("stdout_to"), "{text}");
        let text = cut_warning("web-1", "make dump", "stderr", &stdout);
        assert!(text.contains("2>FILE"), "{text}");
    }
}
