//! Every mutating action of a run, in one place. A real run appends each
//! action to a JSON-lines journal (flushed per line, so a crash or Ctrl-C
//! leaves it valid up to the last action); a dry run collects the same
//! actions as a numbered plan instead of doing them.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::Context;

/// The first line of a journal file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunHeader {
    pub run: String,
    pub runbook: String,
    pub function: Option<String>,
    pub started: String,
    pub user: String,
}

/// One action: what was done to what, with which arguments, and how it went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub n: usize,
    pub action: String,
    pub target: String,
    pub args: Value,
    /// Ids and other values the action produced (e.g. the instance ids a
    /// launch created).
    #[serde(default)]
    pub result: Value,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: String,
    pub duration_ms: u64,
}

#[derive(Default)]
struct State {
    header: Option<RunHeader>,
    file: Option<File>,
    count: usize,
    plan: Vec<Entry>,
}

pub struct Journal {
    dir: Option<PathBuf>,
    state: Mutex<State>,
}

pub fn now() -> String {
    aws_smithy_types::DateTime::from(SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// Where journals live: `$XDG_STATE_HOME/opsh/journal`.
pub fn journal_dir() -> Option<PathBuf> {
    Some(
        dirs::state_dir()
            .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))?
            .join("opsh")
            .join("journal"),
    )
}

impl Journal {
    pub fn new() -> Self {
        Self {
            dir: journal_dir(),
            state: Mutex::default(),
        }
    }

    /// Name the run before anything happens; the file is created with the
    /// first action, so a run that changes nothing leaves no journal.
    pub fn start(&self, runbook: &str, function: Option<&str>) {
        let started = SystemTime::now();
        let secs = started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let stamp = aws_smithy_types::DateTime::from_secs(secs as i64)
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default()
            .replace([':', '-'], "")
            .replace('T', "-")
            .trim_end_matches('Z')
            .to_string();
        let mut state = self.lock();
        state.header = Some(RunHeader {
            run: format!("{stamp}-{:05}", std::process::id() % 100_000),
            runbook: runbook.to_string(),
            function: function.map(str::to_string),
            started: now(),
            user: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| "unknown".into()),
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn plan(&self) -> Vec<Entry> {
        self.lock().plan.clone()
    }

    /// The run id and file, once an action has been written.
    pub fn written(&self) -> Option<(String, PathBuf)> {
        let state = self.lock();
        let header = state.header.as_ref()?;
        state.file.as_ref()?;
        Some((
            header.run.clone(),
            self.dir.as_ref()?.join(format!("{}.jsonl", header.run)),
        ))
    }

    fn append(&self, entry: &Entry) -> std::io::Result<()> {
        let mut state = self.lock();
        if state.file.is_none() {
            let Some(dir) = &self.dir else { return Ok(()) };
            let Some(header) = state.header.clone() else {
                return Ok(());
            };
            std::fs::create_dir_all(dir)?;
            let mut file = File::options()
                .create(true)
                .append(true)
                .open(dir.join(format!("{}.jsonl", header.run)))?;
            writeln!(
                file,
                "{}",
                serde_json::to_string(&header).unwrap_or_default()
            )?;
            state.file = Some(file);
        }
        if let Some(file) = state.file.as_mut() {
            writeln!(file, "{}", serde_json::to_string(entry).unwrap_or_default())?;
            file.flush()?;
        }
        Ok(())
    }
}

/// An action under way. Finish it with `done` or `failed`; dropped
/// unfinished (an error path, Ctrl-C) it is journaled as not completed.
pub struct Act<'a> {
    ctx: &'a Context,
    n: usize,
    action: String,
    target: String,
    args: Value,
    started: Instant,
    finished: bool,
}

impl Context {
    /// Begin a mutating action. In a dry run it becomes the next step of the
    /// plan (shown live) and the caller must not perform it: check
    /// `Act::dry_run`.
    pub fn act(&self, action: &str, target: &str, args: Value) -> Act<'_> {
        let target = self.output.redact(target);
        let args: Value =
            serde_json::from_str(&self.output.redact(&args.to_string())).unwrap_or(args);
        let n = {
            let mut state = self.journal.lock();
            state.count += 1;
            state.count
        };
        if self.settings.dry_run {
            let shown_args = match &args {
                Value::Object(map) if map.is_empty() => String::new(),
                Value::Null => String::new(),
                other => format!(" {other}"),
            };
            self.output
                .plan_line(&format!("{n:>3}. {action} {target}{shown_args}"));
            self.journal.lock().plan.push(Entry {
                n,
                action: action.to_string(),
                target: target.clone(),
                args: args.clone(),
                result: Value::Null,
                ok: true,
                error: None,
                at: now(),
                duration_ms: 0,
            });
        }
        Act {
            ctx: self,
            n,
            action: action.to_string(),
            target,
            args,
            started: Instant::now(),
            finished: self.settings.dry_run,
        }
    }
}

impl Act<'_> {
    pub fn dry_run(&self) -> bool {
        self.ctx.settings.dry_run
    }

    pub fn done(mut self, result: Value) {
        self.finish(result, None);
    }

    pub fn failed(mut self, error: &str) {
        self.finish(Value::Null, Some(error.to_string()));
    }

    fn finish(&mut self, result: Value, error: Option<String>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let entry = Entry {
            n: self.n,
            action: self.action.clone(),
            target: self.target.clone(),
            args: self.args.clone(),
            result,
            ok: error.is_none(),
            error: error.map(|e| self.ctx.output.redact(&e)),
            at: now(),
            duration_ms: self.started.elapsed().as_millis() as u64,
        };
        if let Err(e) = self.ctx.journal.append(&entry) {
            self.ctx
                .output
                .warn(&format!("cannot write the journal: {e}"));
        }
    }
}

impl Drop for Act<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.finish(
                Value::Null,
                Some("did not complete (interrupted or failed)".into()),
            );
        }
    }
}
