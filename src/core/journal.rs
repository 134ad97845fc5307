//! The actions of a run, in one place: every action that changes
//! something, and the commands a runbook marks `read: true` (they change
//! nothing, so are recorded without the cost of a sync). A real run keeps a
//! write-ahead JSON-lines journal: before each side effect a `started` line
//! (written and synced to disk), after it a `finished` line with the same
//! number and the outcome. An opsh killed mid-action so leaves the action
//! on record as in flight, and a journal that cannot be written stops the
//! run before its next action. A dry run collects the same actions as a
//! numbered plan instead of doing them (reads it does too).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::abort::Abort;
use crate::core::options::RhaiResult;
use crate::core::output::Output;
use crate::core::redact::{redact, redact_json};

/// The first line of a journal file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunHeader {
    pub run: String,
    pub runbook: String,
    pub function: Option<String>,
    pub started: String,
    pub user: String,
}

/// An action about to be done: what, to what, with which arguments. It is
/// also one step of a dry run's plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub n: usize,
    pub action: String,
    pub target: String,
    #[serde(default)]
    pub args: Value,
    pub at: String,
    /// A command that changes nothing (`read: true`): a dry run runs it and
    /// shows it as a read, not as a planned action.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read: bool,
}

impl Step {
    /// How the plan shows this step: `read` marks what a dry run ran.
    pub fn describe(&self) -> String {
        let args = match &self.args {
            Value::Object(map) if map.is_empty() => String::new(),
            Value::Null => String::new(),
            other => format!(" {other}"),
        };
        let kind = if self.read { "read " } else { "" };
        format!("{:>3}. {kind}{} {}{args}", self.n, self.action, self.target)
    }
}

/// How action `n` ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub n: usize,
    /// Repeated from the start line so the raw file reads on its own.
    pub action: String,
    pub ok: bool,
    /// Ids and other values the action produced (e.g. the instance ids a
    /// launch created).
    #[serde(default)]
    pub result: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: String,
    pub duration_ms: u64,
}

/// How one host came out of a group call or a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    Unreachable,
    /// Never touched: an earlier wave failed more than `max_fail` allows.
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Unreachable => "unreachable",
            Self::Skipped => "skipped",
        }
    }
}

/// One host's outcome of a group call or a rollout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostOutcome {
    pub host: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub seconds: f64,
}

/// The per-host outcomes of one group call or rollout, as the journal keeps
/// them (`--limit @failed` reads them back).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hosts {
    /// What ran: `group.run `cmd``, `rollout`.
    pub label: String,
    pub hosts: Vec<HostOutcome>,
    pub at: String,
}

/// A journal line after the header.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "lowercase")]
pub enum Line {
    Started(Step),
    Finished(Outcome),
    Hosts(Hosts),
}

/// What `opsh run` says when the journal fails, besides what failed.
const HINT: &str = "opsh writes each action to the journal before doing it; make the journal \
                    directory writable (or free some space), or pass --no-journal to run without a journal";

struct OpenFile {
    file: File,
    path: PathBuf,
}

#[derive(Default)]
struct State {
    header: Option<RunHeader>,
    file: Option<OpenFile>,
    count: usize,
    plan: Vec<Step>,
    /// Why the journal can no longer be written: every later action stops.
    broken: Option<String>,
}

pub struct Journal {
    /// False with `--no-journal`.
    enabled: bool,
    /// A dry run plans its actions instead of journaling them.
    dry_run: bool,
    dir: Option<PathBuf>,
    state: Mutex<State>,
}

/// The current time in UTC, RFC 3339 (`2024-05-01T12:00:00Z`), as every
/// record of a run writes it.
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
    pub fn new(enabled: bool, dry_run: bool) -> Self {
        Self {
            enabled,
            dry_run,
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
        let stamp = aws_smithy_types::DateTime::from_secs(i64::try_from(secs).unwrap_or_default())
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

    pub fn plan(&self) -> Vec<Step> {
        self.lock().plan.clone()
    }

    /// The run id and file, once an action has been written.
    pub fn written(&self) -> Option<(String, PathBuf)> {
        let state = self.lock();
        let header = state.header.as_ref()?;
        let file = state.file.as_ref()?;
        Some((header.run.clone(), file.path.clone()))
    }

    /// Stop the runbook if the journal could no longer be written. For
    /// callers that turn an action's error into a host's failure, so that
    /// the run still stops.
    pub fn check(&self) -> RhaiResult<()> {
        match &self.lock().broken {
            Some(reason) => Err(Abort::failed(
                format!("{reason}; the run stopped before its next action"),
                Some(HINT.into()),
            )),
            None => Ok(()),
        }
    }

    fn next_number(&self) -> usize {
        let mut state = self.lock();
        state.count = state.count.saturating_add(1);
        state.count
    }

    /// Record `step` as started, on disk, before it is done.
    fn begin(&self, step: &Step) -> RhaiResult<()> {
        let stopped = |reason: &str| {
            Abort::failed(
                format!(
                    "{reason}; stopped before action {} ({} {}), which was not done",
                    step.n, step.action, step.target
                ),
                Some(HINT.into()),
            )
        };
        let mut state = self.lock();
        if let Some(reason) = &state.broken {
            return Err(stopped(reason));
        }
        if !self.enabled || state.header.is_none() {
            return Ok(());
        }
        let written = self
            .open(&mut state)
            // A read's line lost in a crash loses nothing: it changed
            // nothing. Not syncing it keeps polling loops cheap.
            .and_then(|file| append(file, &Line::Started(step.clone()), !step.read));
        written.map_err(|reason| {
            let error = stopped(&reason);
            state.broken = Some(reason);
            error
        })
    }

    /// Record how an action ended. The side effect has happened by now, so
    /// a failure cannot undo it: it stops the actions after it.
    fn end(&self, outcome: Outcome) -> Result<(), String> {
        let mut state = self.lock();
        if state.broken.is_some() || !self.enabled || state.header.is_none() {
            return Ok(());
        }
        let written = self
            .open(&mut state)
            .and_then(|file| append(file, &Line::Finished(outcome), false));
        if let Err(reason) = &written {
            state.broken = Some(reason.clone());
        }
        written
    }

    /// Record how each host of a group call or rollout came out. Like an
    /// action's outcome, a failure to write it stops the actions after it.
    pub fn hosts(&self, label: &str, hosts: &[HostOutcome]) {
        let mut state = self.lock();
        if self.dry_run || state.broken.is_some() || !self.enabled || state.header.is_none() {
            return;
        }
        let line = Line::Hosts(Hosts {
            label: redact(label),
            hosts: hosts
                .iter()
                .map(|h| HostOutcome {
                    host: redact(&h.host),
                    error: h.error.as_deref().map(redact),
                    ..h.clone()
                })
                .collect(),
            at: now(),
        });
        let written = self
            .open(&mut state)
            .and_then(|file| append(file, &line, true));
        if let Err(reason) = written {
            state.broken = Some(reason);
        }
    }

    /// The run's file, created with its header line on first use.
    fn open<'s>(&self, state: &'s mut State) -> Result<&'s mut OpenFile, String> {
        if state.file.is_none() {
            let dir = self.dir.as_deref().ok_or(
                "cannot find where to keep the journal: neither XDG_STATE_HOME nor HOME is set",
            )?;
            let header = state
                .header
                .as_ref()
                .ok_or("internal: journal written before the run started")?;
            state.file = Some(create(dir, header)?);
        }
        state
            .file
            .as_mut()
            .ok_or_else(|| "internal: journal file missing".to_string())
    }
}

/// A new journal file holding the header line, its directory entry on disk.
fn create(dir: &Path, header: &RunHeader) -> Result<OpenFile, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the journal directory {}: {e}", dir.display()))?;
    let path = dir.join(format!("{}.jsonl", header.run));
    let file = File::options()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("cannot create the journal {}: {e}", path.display()))?;
    let mut open = OpenFile { file, path };
    let text = serde_json::to_string(header).unwrap_or_default();
    write_line(&mut open, &text, true)?;
    // Best effort: some file systems cannot sync a directory.
    let _ = File::open(dir).and_then(|d| d.sync_all());
    Ok(open)
}

fn append(file: &mut OpenFile, line: &Line, sync: bool) -> Result<(), String> {
    let text = serde_json::to_string(line).unwrap_or_default();
    write_line(file, &text, sync)
}

/// One whole line in one write, so lines of parallel actions never mix.
fn write_line(file: &mut OpenFile, text: &str, sync: bool) -> Result<(), String> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(b'\n');
    file.file
        .write_all(&bytes)
        .and_then(|()| if sync { file.file.sync_data() } else { Ok(()) })
        .map_err(|e| format!("cannot write the journal {}: {e}", file.path.display()))
}

/// An action under way. Finish it with `done` or `failed`; dropped
/// unfinished (an error path, Ctrl-C) it is journaled as not completed.
pub struct Act<'a> {
    journal: &'a Journal,
    output: &'a Output,
    n: usize,
    action: String,
    target: String,
    started: Instant,
    finished: bool,
    /// A dry run's planned action: the caller must not do it.
    skipped: bool,
}

impl Journal {
    /// The next action of the run, begun: journaled as started before the
    /// caller does it (see `Context::act` and `Context::read`). In a dry run
    /// it becomes the next step of the plan, shown live on `output`.
    pub fn step<'a>(
        &'a self,
        output: &'a Output,
        action: &str,
        target: &str,
        args: Value,
        read: bool,
    ) -> RhaiResult<Act<'a>> {
        let step = Step {
            n: self.next_number(),
            action: action.to_string(),
            target: redact(target),
            args: redact_json(&args),
            at: now(),
            read,
        };
        if self.dry_run {
            output.plan_line(&step.describe());
        } else {
            self.begin(&step)?;
        }
        let act = Act {
            journal: self,
            output,
            n: step.n,
            action: step.action.clone(),
            target: step.target.clone(),
            started: Instant::now(),
            finished: self.dry_run,
            skipped: self.dry_run && !read,
        };
        if self.dry_run {
            self.lock().plan.push(step);
        }
        Ok(act)
    }
}

impl Act<'_> {
    /// Whether this is a dry run's planned action, which the caller must
    /// not do. False for a read: a dry run does it too.
    pub fn dry_run(&self) -> bool {
        self.skipped
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
        let outcome = Outcome {
            n: self.n,
            action: self.action.clone(),
            ok: error.is_none(),
            result: redact_json(&result),
            error: error.map(|e| redact(&e)),
            at: now(),
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        if let Err(reason) = self.journal.end(outcome) {
            self.output.warn(&format!(
                "{reason}: action {} ({} {}) was done, but its outcome is not on record; \
                 the run stops before its next action",
                self.n, self.action, self.target
            ));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_their_phase() {
        let line = Line::Started(Step {
            n: 1,
            action: "local::run".into(),
            target: "local".into(),
            args: serde_json::json!({ "command": "true" }),
            at: "t".into(),
            read: false,
        });
        let text = serde_json::to_string(&line).unwrap();
        assert!(text.starts_with(r#"{"phase":"started","n":1,"#), "{text}");
        let back: Line = serde_json::from_str(&text).unwrap();
        assert!(matches!(back, Line::Started(step) if step.action == "local::run"));
    }

    #[test]
    fn a_broken_journal_stops_every_later_action() {
        let journal = Journal {
            enabled: true,
            dry_run: false,
            dir: Some(PathBuf::from("/proc/opsh-no-such-dir/journal")),
            state: Mutex::default(),
        };
        journal.start("r.rhai", None);
        let step = Step {
            n: 1,
            action: "local::run".into(),
            target: "local".into(),
            args: Value::Null,
            at: String::new(),
            read: false,
        };
        assert!(journal.begin(&step).is_err());
        let reason = journal.lock().broken.clone().unwrap_or_default();
        assert!(
            reason.contains("/proc/opsh-no-such-dir/journal"),
            "{reason}"
        );
        assert!(journal.begin(&step).is_err());
        assert!(journal.check().is_err());
    }
}
