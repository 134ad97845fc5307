//! The Result of a command, local or remote, and the live streaming of its
//! output while it runs.

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::output::Output;

/// Captured output beyond this is dropped (the stream still shows it).
const CAPTURE_LIMIT: usize = 64 * 1024 * 1024;
/// How many stderr lines an error message quotes.
const STDERR_TAIL_LINES: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct CmdResult {
    pub host: String,
    pub command: String,
    pub code: i64,
    pub stdout: String,
    pub stderr: String,
    pub ok: bool,
}

impl CmdResult {
    pub fn new(host: &str, command: &str, code: i64, stdout: String, stderr: String) -> Self {
        Self {
            host: host.to_string(),
            command: command.to_string(),
            code,
            ok: code == 0,
            stdout,
            stderr,
        }
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

    pub fn register(engine: &mut rhai::Engine) {
        engine
            .register_type_with_name::<Self>("Result")
            .register_get("host", |r: &mut Self| r.host.clone())
            .register_get("command", |r: &mut Self| r.command.clone())
            .register_get("code", |r: &mut Self| r.code)
            .register_get("stdout", |r: &mut Self| r.stdout.clone())
            .register_get("stderr", |r: &mut Self| r.stderr.clone())
            .register_get("ok", |r: &mut Self| r.ok)
            .register_fn("to_string", |r: &mut Self| r.to_string())
            .register_fn("to_debug", |r: &mut Self| format!("{r:?}"));
    }
}

impl crate::output::Record for CmdResult {
    fn row(&self) -> Vec<(&'static str, String)> {
        vec![
            ("host", self.host.clone()),
            ("code", self.code.to_string()),
            (
                "stdout",
                self.stdout
                    .lines()
                    .next_back()
                    .unwrap_or_default()
                    .to_string(),
            ),
            (
                "stderr",
                self.stderr
                    .lines()
                    .next_back()
                    .unwrap_or_default()
                    .to_string(),
            ),
        ]
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

/// Show each line of `reader` live (unless `quiet`) and capture it all.
pub async fn pump(
    reader: impl AsyncRead + Unpin,
    origin: &str,
    is_stderr: bool,
    quiet: bool,
    output: &Output,
) -> String {
    let mut reader = BufReader::new(reader);
    let mut captured = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if !quiet {
                    let text = String::from_utf8_lossy(&line);
                    output.stream(origin, text.trim_end_matches(['\n', '\r']), is_stderr);
                }
                if captured.len() + line.len() <= CAPTURE_LIMIT {
                    captured.extend_from_slice(&line);
                }
            }
        }
    }
    String::from_utf8_lossy(&captured).into_owned()
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
}
