//! `opsh journal`: the runs on record, one run's actions and what it
//! created, and a teardown runbook for it. Actions without an outcome (the
//! run was killed, or is still going) and lines that cannot be read are
//! shown as such, never dropped.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::core::journal::{Hosts, Line, Outcome, RunHeader, Status, Step, journal_dir};
use crate::core::output::OutputFormat;
use crate::core::stdout::outln;
use crate::script::engine::Session;
use crate::script::error::{Error, Result};

const RECENT_RUNS: usize = 20;
/// How much of an unreadable line is quoted.
const QUOTED_CHARS: usize = 80;
/// How many unreadable lines the list of runs names per run.
const NAMED_LINES: usize = 3;
const IN_FLIGHT: &str = "in flight / unknown outcome";

/// One action: its start, and its outcome once that was written.
struct Action {
    step: Step,
    outcome: Option<Outcome>,
}

/// A line that is not journal JSON: cut short by a crash or a full disk,
/// or edited by hand.
struct Unreadable {
    line: usize,
    error: String,
    text: String,
}

struct Run {
    path: PathBuf,
    header: RunHeader,
    actions: Vec<Action>,
    /// Each group call's and rollout's per-host outcomes.
    hosts: Vec<Hosts>,
    unreadable: Vec<Unreadable>,
}

/// A whole action on one line, as journals were written before they were
/// write-ahead.
#[derive(Deserialize)]
struct OneLineEntry {
    n: usize,
    action: String,
    target: String,
    #[serde(default)]
    args: Value,
    #[serde(default)]
    result: Value,
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    at: String,
    duration_ms: u64,
}

impl From<OneLineEntry> for Action {
    fn from(e: OneLineEntry) -> Self {
        Self {
            step: Step {
                n: e.n,
                action: e.action.clone(),
                target: e.target,
                args: e.args,
                at: e.at.clone(),
                read: false,
            },
            outcome: Some(Outcome {
                n: e.n,
                action: e.action,
                ok: e.ok,
                result: e.result,
                error: e.error,
                at: e.at,
                duration_ms: e.duration_ms,
            }),
        }
    }
}

/// A resource an action created or removed, as actions report them in
/// their result: `{"created": [{"type": "instance", "id": "i-..."}], "removed": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resource {
    kind: String,
    id: String,
    /// Extra identification some kinds need (an S3 object's bucket).
    parent: Option<String>,
}

fn resources(outcome: &Outcome, field: &str) -> Vec<Resource> {
    outcome.result[field]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    Some(Resource {
                        kind: item["type"].as_str()?.to_string(),
                        id: item["id"].as_str()?.to_string(),
                        parent: item["bucket"].as_str().map(str::to_string),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A journal line as text; journals are UTF-8, so anything else was
/// damaged.
fn text_of(line: &[u8]) -> std::result::Result<&str, String> {
    std::str::from_utf8(line).map_err(|e| {
        format!(
            "not UTF-8 text (a bad byte at column {})",
            e.valid_up_to().saturating_add(1)
        )
    })
}

impl Action {
    fn state(&self) -> &'static str {
        match &self.outcome {
            Some(o) if o.ok => "ok",
            Some(_) => "failed",
            None => "in_flight",
        }
    }
}

impl Run {
    fn load(path: &Path) -> Result<Self> {
        // Bytes, not a string: one bad byte costs its line, not the run.
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let mut lines = bytes
            .split(|&b| b == b'\n')
            .enumerate()
            .map(|(i, l)| (i.saturating_add(1), l))
            .filter(|(_, l)| !l.trim_ascii().is_empty());
        let header: RunHeader = match lines.next() {
            Some((number, first)) => text_of(first)
                .and_then(|first| serde_json::from_str(first).map_err(|e| e.to_string()))
                .map_err(|e| {
                    Error::usage(format!(
                        "{}:{number}: not an opsh journal ({e})",
                        path.display()
                    ))
                })?,
            None => {
                return Err(Error::usage(format!(
                    "{}: an empty journal file",
                    path.display()
                )));
            }
        };
        let mut run = Self {
            path: path.to_path_buf(),
            header,
            actions: Vec::new(),
            hosts: Vec::new(),
            unreadable: Vec::new(),
        };
        for (number, line) in lines {
            if let Err(error) = text_of(line).and_then(|text| run.read_line(text)) {
                run.unreadable.push(Unreadable {
                    line: number,
                    error,
                    text: shorten(&String::from_utf8_lossy(line), QUOTED_CHARS),
                });
            }
        }
        Ok(run)
    }

    fn read_line(&mut self, line: &str) -> std::result::Result<(), String> {
        let parsed = serde_json::from_str::<Line>(line).map_err(|e| within_line(&e));
        match parsed {
            Ok(Line::Started(step)) => {
                self.actions.push(Action {
                    step,
                    outcome: None,
                });
                Ok(())
            }
            Ok(Line::Hosts(hosts)) => {
                self.hosts.push(hosts);
                Ok(())
            }
            Ok(Line::Finished(outcome)) => {
                let n = outcome.n;
                match self.actions.iter_mut().rev().find(|a| a.step.n == n) {
                    Some(action) if action.outcome.is_none() => {
                        action.outcome = Some(outcome);
                        Ok(())
                    }
                    Some(_) => Err(format!("a second outcome for action {n}")),
                    None => Err(format!(
                        "the outcome of action {n}, whose start is not on record"
                    )),
                }
            }
            Err(error) => match serde_json::from_str::<OneLineEntry>(line) {
                Ok(entry) => {
                    self.actions.push(entry.into());
                    Ok(())
                }
                Err(_) => Err(error),
            },
        }
    }

    fn count(&self, state: &str) -> usize {
        self.actions.iter().filter(|a| a.state() == state).count()
    }

    fn in_flight(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter().filter(|a| a.outcome.is_none())
    }

    /// What the run created and did not itself remove, in creation order.
    fn left_behind(&self) -> Vec<Resource> {
        let outcomes = || self.actions.iter().filter_map(|a| a.outcome.as_ref());
        let removed: Vec<Resource> = outcomes().flat_map(|o| resources(o, "removed")).collect();
        let mut left: Vec<Resource> = Vec::new();
        for resource in outcomes()
            .filter(|o| o.ok)
            .flat_map(|o| resources(o, "created"))
        {
            if !removed.contains(&resource) && !left.contains(&resource) {
                left.push(resource);
            }
        }
        left
    }

    fn location(&self, line: usize) -> String {
        format!("{}:{line}", self.path.display())
    }
}

/// A parse error placed within its line: the file's line number is shown
/// beside it, serde's "line 1" would only confuse.
fn within_line(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&suffix) {
        Some(message) => format!("{message} (column {})", error.column()),
        None => text,
    }
}

fn run_files() -> Result<Vec<PathBuf>> {
    let Some(dir) = journal_dir() else {
        return Ok(Vec::new());
    };
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(dir, e)),
    };
    // Run ids start with a UTC timestamp: name order is time order.
    files.sort();
    files.reverse();
    Ok(files)
}

fn find(wanted: &str) -> Result<PathBuf> {
    let files = run_files()?;
    if wanted == "last" {
        return files
            .into_iter()
            .next()
            .ok_or_else(|| Error::usage("no runs are on record yet"));
    }
    let matching: Vec<PathBuf> = files
        .into_iter()
        .filter(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .is_some_and(|s| s.starts_with(wanted))
        })
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::usage(format!(
            "no run `{wanted}` on record (`opsh journal` lists them)"
        ))),
        _ => Err(Error::usage(format!(
            "`{wanted}` matches {} runs: give more of the id",
            matching.len()
        ))),
    }
}

pub fn show(session: &Session, run: Option<&str>, teardown: bool) -> Result<()> {
    match run {
        None => list(session),
        Some(wanted) => {
            let run = Run::load(&find(wanted)?)?;
            if teardown {
                crate::core::stdout::write(&teardown_runbook(&run));
            } else {
                show_run(session, &run);
            }
            Ok(())
        }
    }
}

/// The recent runs, newest first; a file that is not a journal is named,
/// not skipped.
fn list(session: &Session) -> Result<()> {
    let output = &session.ctx.output;
    let mut runs = Vec::new();
    let files = run_files()?;
    for path in files.iter().take(RECENT_RUNS) {
        match Run::load(path) {
            Ok(run) => runs.push(run),
            Err(err) => output.warn(&format!("unreadable: {}", render(&err))),
        }
    }
    for run in runs.iter().filter(|r| !r.unreadable.is_empty()) {
        let mut named: Vec<String> = run
            .unreadable
            .iter()
            .take(NAMED_LINES)
            .map(|u| run.location(u.line))
            .collect();
        if run.unreadable.len() > NAMED_LINES {
            named.push(format!("{} more", run.unreadable.len() - NAMED_LINES));
        }
        output.warn(&format!(
            "run {} has {} unreadable line(s): {} (`opsh journal {}` shows them)",
            run.header.run,
            run.unreadable.len(),
            named.join(", "),
            run.header.run
        ));
    }
    if output.format() == OutputFormat::Json {
        output.json(&Value::Array(runs.iter().map(summary).collect()));
        return Ok(());
    }
    if runs.is_empty() {
        if files.is_empty() {
            eprintln!("no runs are on record yet");
        } else {
            eprintln!(
                "none of the {} most recent journal file(s) could be read (see the warnings above)",
                files.len().min(RECENT_RUNS)
            );
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            vec![
                run.header.run.clone(),
                run.header.started.clone(),
                run.header.runbook.clone(),
                run.header.function.clone().unwrap_or_default(),
                run.actions.len().to_string(),
                run.count("failed").to_string(),
                run.count("in_flight").to_string(),
                run.unreadable.len().to_string(),
            ]
        })
        .collect();
    let header = [
        "run",
        "started",
        "runbook",
        "function",
        "actions",
        "failed",
        "in flight",
        "unreadable",
    ];
    out_table(&header, &rows);
    Ok(())
}

fn out_table(header: &[&str], rows: &[Vec<String>]) {
    let table = crate::core::table::render(header, rows, crate::core::table::stdout_width());
    crate::core::stdout::write(&table);
}

fn render(err: &Error) -> String {
    match err {
        Error::Usage(message) => message.clone(),
        other => other.render(&Default::default()).trim().to_string(),
    }
}

fn show_run(session: &Session, run: &Run) {
    if session.ctx.output.format() == OutputFormat::Json {
        let mut doc = summary(run);
        doc["entries"] = run.actions.iter().map(entry_json).collect();
        doc["hosts"] = serde_json::to_value(&run.hosts).unwrap_or_default();
        doc["unreadable"] = run
            .unreadable
            .iter()
            .map(|u| {
                serde_json::json!({
                    "file": run.path.display().to_string(),
                    "line": u.line,
                    "error": u.error,
                    "text": u.text,
                })
            })
            .collect();
        session.ctx.output.json(&doc);
        return;
    }
    outln!(
        "run {} — {} {} — started {} by {}",
        run.header.run,
        run.header.runbook,
        run.header.function.as_deref().unwrap_or(""),
        run.header.started,
        run.header.user
    );
    let mut rows = Vec::new();
    for a in &run.actions {
        let (ok, ms, outcome) = match &a.outcome {
            Some(o) => (
                if o.ok { "yes" } else { "NO" },
                o.duration_ms.to_string(),
                match &o.error {
                    Some(error) => error.lines().next().unwrap_or_default().to_string(),
                    None if o.result.is_null() => String::new(),
                    None => o.result.to_string(),
                },
            ),
            None => ("?", String::new(), IN_FLIGHT.to_string()),
        };
        rows.push(vec![
            a.step.n.to_string(),
            a.step.action.clone(),
            a.step.target.clone(),
            shorten(&a.step.args.to_string(), 60),
            ok.to_string(),
            ms,
            outcome,
        ]);
    }
    out_table(
        &["#", "action", "target", "arguments", "ok", "ms", "result"],
        &rows,
    );
    show_hosts(run);
    let in_flight: Vec<&Action> = run.in_flight().collect();
    if !in_flight.is_empty() {
        outln!(
            "{IN_FLIGHT}: {} action(s) started and have no outcome on record (the run was killed, or is still going); \
             check what they did:",
            in_flight.len()
        );
        for a in in_flight {
            outln!("  {}. {} {}", a.step.n, a.step.action, a.step.target);
        }
    }
    let left = run.left_behind();
    if !left.is_empty() {
        outln!("created and still there (as far as this run knows):");
        for r in left {
            outln!("  {} {}", r.kind, r.id);
        }
    }
    if !run.unreadable.is_empty() {
        outln!("unreadable lines (cut short by a crash or a full disk, or edited):");
        for u in &run.unreadable {
            outln!("  {}: {}: {}", run.location(u.line), u.error, u.text);
        }
    }
}

/// Each group call's and rollout's hosts, one line per host.
fn show_hosts(run: &Run) {
    for record in &run.hosts {
        outln!("{} (at {}):", record.label, record.at);
        for h in &record.hosts {
            let why = h
                .error
                .as_deref()
                .and_then(|e| e.lines().next())
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            outln!(
                "  {:<12} {} ({:.1} s){why}",
                h.status.as_str(),
                h.host,
                h.seconds
            );
        }
    }
}

/// The hosts `--limit @failed[:RUN]` retries: those that failed, were
/// unreachable or were skipped in the last run (or `wanted`) of `runbook`
/// and `function`, in the order the run met them.
pub fn failed_hosts(
    runbook: &str,
    function: Option<&str>,
    wanted: Option<&str>,
) -> Result<(String, Vec<String>)> {
    let what = format!(
        "{runbook}{}",
        function.map(|f| format!(" {f}")).unwrap_or_default()
    );
    let same = |run: &Run| {
        run.header.function.as_deref() == function && same_runbook(&run.header.runbook, runbook)
    };
    let run = match wanted {
        Some(wanted) => {
            let run = Run::load(&find(wanted)?)?;
            if !same(&run) {
                return Err(Error::usage(format!(
                    "--limit @failed:{wanted}: run {} was of {} {}, not of {what}",
                    run.header.run,
                    run.header.runbook,
                    run.header.function.as_deref().unwrap_or("")
                )));
            }
            run
        }
        None => newest_first(run_files()?)
            .iter()
            .filter_map(|path| Run::load(path).ok())
            .find(|run| same(run))
            .ok_or_else(|| {
                Error::usage(format!(
                    "--limit @failed: no earlier run of {what} is on record (`opsh journal` lists the runs)"
                ))
            })?,
    };
    let mut hosts: Vec<String> = Vec::new();
    let mut add = |host: &str| {
        if !hosts.iter().any(|h| h == host) {
            hosts.push(host.to_string());
        }
    };
    for record in &run.hosts {
        for h in record.hosts.iter().filter(|h| h.status != Status::Ok) {
            add(&h.host);
        }
    }
    // A single host's command that failed (ssh::connect, not a group).
    for a in &run.actions {
        if a.step.action.starts_with("ssh::") && a.state() != "ok" {
            add(&a.step.target);
        }
    }
    if hosts.is_empty() {
        return Err(Error::usage(format!(
            "--limit @failed: no host failed, was unreachable or was skipped in run {} of {what}: nothing to retry",
            run.header.run
        )));
    }
    Ok((run.header.run.clone(), hosts))
}

/// Journal files by when they were last written, newest first: run ids
/// order runs by the second they started, not within it.
fn newest_first(mut files: Vec<PathBuf>) -> Vec<PathBuf> {
    let written = |path: &PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    files.sort_by_key(|path| std::cmp::Reverse(written(path)));
    files
}

/// The same runbook file, however its path was written.
fn same_runbook(recorded: &str, given: &str) -> bool {
    recorded == given
        || matches!(
            (std::fs::canonicalize(recorded), std::fs::canonicalize(given)),
            (Ok(a), Ok(b)) if a == b
        )
}

fn entry_json(a: &Action) -> Value {
    let o = a.outcome.as_ref();
    serde_json::json!({
        "n": a.step.n,
        "action": a.step.action,
        "target": a.step.target,
        "args": a.step.args,
        "at": a.step.at,
        "state": a.state(),
        "ok": o.map(|o| o.ok),
        "result": o.map_or(Value::Null, |o| o.result.clone()),
        "error": o.and_then(|o| o.error.clone()),
        "finished": o.map(|o| o.at.clone()),
        "duration_ms": o.map(|o| o.duration_ms),
    })
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

fn summary(run: &Run) -> Value {
    serde_json::json!({
        "run": run.header.run,
        "runbook": run.header.runbook,
        "function": run.header.function,
        "started": run.header.started,
        "user": run.header.user,
        "file": run.path.display().to_string(),
        "actions": run.actions.len(),
        "failed": run.count("failed"),
        "in_flight": run.count("in_flight"),
        "unreadable": run.unreadable.len(),
        "created": run.left_behind().iter().map(|r| serde_json::json!({"type": r.kind, "id": r.id})).collect::<Vec<_>>(),
    })
}

/// One line of the teardown runbook's comments: journal text may hold
/// anything, a line break included.
fn comment(text: &str) -> String {
    format!("// {}\n", text.replace(['\n', '\r'], " "))
}

/// The kinds of resources in the order AWS lets them go: what uses
/// something before what it uses (an instance holds its addresses, volumes
/// and groups; an image holds its snapshots; a bucket must be empty).
const REMOVAL_ORDER: &[&str] = &[
    "instance",
    "address",
    "volume",
    "image",
    "snapshot",
    "security_group",
    "key_pair",
    "object",
    "bucket",
];

/// What a run left behind, in the order it can be removed: by kind as
/// REMOVAL_ORDER has it (kinds it does not know last), newest first within
/// a kind.
fn removal_order(left: &[Resource]) -> Vec<&Resource> {
    let rank = |r: &Resource| {
        REMOVAL_ORDER
            .iter()
            .position(|kind| *kind == r.kind)
            .unwrap_or(REMOVAL_ORDER.len())
    };
    let mut ordered: Vec<&Resource> = left.iter().rev().collect();
    ordered.sort_by_key(|r| rank(r));
    ordered
}

/// A runbook that removes what `run` created, in dependency order
/// (`removal_order`): the instances first, then a wait until they are
/// terminated, so that what they held can go. Actions that were in flight
/// may have created something the journal cannot name: the runbook lists
/// them and warns when it runs.
fn teardown_runbook(run: &Run) -> String {
    let mut out = comment(&format!(
        "Removes what run {} ({} {}) created.",
        run.header.run,
        run.header.runbook,
        run.header.function.as_deref().unwrap_or("")
    ));
    out += &comment(&format!(
        "Generated by `opsh journal {} --teardown`; review it, then: opsh run FILE",
        run.header.run
    ));
    out += "\n";
    let in_flight: Vec<&Action> = run.in_flight().collect();
    if !in_flight.is_empty() {
        out += &comment(&format!(
            "{IN_FLIGHT}: these actions started and have no outcome on record; what they created, if anything, is not listed below:"
        ));
        for a in &in_flight {
            out += &comment(&format!(
                "  {}. {} {} {}",
                a.step.n, a.step.action, a.step.target, a.step.args
            ));
        }
        let numbers: Vec<String> = in_flight.iter().map(|a| a.step.n.to_string()).collect();
        out += &format!(
            "warn({:?});\n\n",
            format!(
                "run {}: action(s) {} were in flight (unknown outcome) and may have created resources this teardown does not remove; see its comments",
                run.header.run,
                numbers.join(", ")
            )
        );
    }
    let left = run.left_behind();
    if left.is_empty() {
        out += "info(\"that run left nothing to remove\");\n";
        return out;
    }
    let ordered = removal_order(&left);
    let instances: Vec<String> = ordered
        .iter()
        .filter(|r| r.kind == "instance")
        .map(|r| format!("{:?}", r.id))
        .collect();
    if !instances.is_empty() {
        let ids = format!("[{}]", instances.join(", "));
        out += &format!("ec2::terminate({ids});\nec2::wait_until({ids}, \"terminated\");\n");
    }
    for r in ordered.into_iter().filter(|r| r.kind != "instance") {
        let id = format!("{:?}", r.id);
        out += &match r.kind.as_str() {
            "address" => format!("ec2::release_address({id});\n"),
            "volume" => format!("ec2::delete_volume({id});\n"),
            "snapshot" => format!("ec2::delete_snapshot({id});\n"),
            "image" => format!("ec2::deregister_image({id});\n"),
            "security_group" => format!("ec2::delete_security_group({id});\n"),
            "key_pair" => format!("ec2::delete_key_pair({id});\n"),
            "object" => match &r.parent {
                Some(bucket) => format!("s3::delete({bucket:?}, {id});\n"),
                None => comment(&format!("object {id}: its bucket is not on record")),
            },
            other => comment(&format!(
                "{other} {id}: opsh cannot remove this kind by itself"
            )),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_of(lines: &[&str]) -> Run {
        let mut run = Run {
            path: PathBuf::from("r1.jsonl"),
            header: RunHeader {
                run: "r1".into(),
                runbook: "x.rhai".into(),
                function: None,
                started: String::new(),
                user: String::new(),
            },
            actions: Vec::new(),
            hosts: Vec::new(),
            unreadable: Vec::new(),
        };
        for (i, line) in lines.iter().enumerate() {
            if let Err(error) = run.read_line(line) {
                run.unreadable.push(Unreadable {
                    line: i + 2,
                    error,
                    text: line.to_string(),
                });
            }
        }
        run
    }

    fn started(n: usize, action: &str) -> String {
        serde_json::json!({"phase": "started", "n": n, "action": action, "target": "t", "args": {}, "at": ""})
            .to_string()
    }

    fn finished(n: usize, action: &str, result: Value) -> String {
        serde_json::json!({"phase": "finished", "n": n, "action": action, "ok": true, "result": result, "at": "", "duration_ms": 1})
            .to_string()
    }

    #[test]
    fn teardown_skips_what_the_run_removed_and_waits_for_its_instances() {
        let lines = [
            started(1, "ec2::ensure_security_group"),
            finished(
                1,
                "ec2::ensure_security_group",
                serde_json::json!({"created": [{"type": "security_group", "id": "sg-1"}]}),
            ),
            started(2, "ec2::launch"),
            started(3, "s3::put"),
            finished(
                2,
                "ec2::launch",
                serde_json::json!({"created": [{"type": "instance", "id": "i-1"}, {"type": "instance", "id": "i-2"}]}),
            ),
            finished(
                3,
                "s3::put",
                serde_json::json!({"created": [{"type": "object", "id": "k", "bucket": "b"}]}),
            ),
            // Written by opsh before the journal was write-ahead.
            r#"{"n":4,"action":"ec2::terminate","target":"i-2","args":null,"result":{"removed":[{"type":"instance","id":"i-2"}]},"ok":true,"at":"","duration_ms":3}"#.to_string(),
        ];
        let run = run_of(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(run.unreadable.is_empty());
        let text = teardown_runbook(&run);
        let body: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("//") && !l.is_empty())
            .collect();
        assert_eq!(
            body,
            [
                "ec2::terminate([\"i-1\"]);",
                "ec2::wait_until([\"i-1\"], \"terminated\");",
                "ec2::delete_security_group(\"sg-1\");",
                "s3::delete(\"b\", \"k\");",
            ]
        );
    }

    fn resource(kind: &str, id: &str) -> Resource {
        Resource {
            kind: kind.into(),
            id: id.into(),
            parent: None,
        }
    }

    #[test]
    fn removals_go_by_dependency_then_newest_first() {
        // In creation order, as a run that builds a whole system leaves them.
        let left = [
            resource("key_pair", "ops"),
            resource("security_group", "sg-web"),
            resource("security_group", "sg-app"),
            resource("instance", "i-1"),
            resource("address", "eipalloc-1"),
            resource("volume", "vol-1"),
            resource("image", "ami-1"),
            resource("snapshot", "snap-1"),
            resource("instance", "i-2"),
            resource("bucket", "b"),
            resource("object", "k"),
            resource("queue", "q-1"),
        ];
        let order: Vec<&str> = removal_order(&left).iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            order,
            [
                "i-2",
                "i-1",
                "eipalloc-1",
                "vol-1",
                "ami-1",
                "snap-1",
                "sg-app",
                "sg-web",
                "ops",
                "k",
                "b",
                "q-1"
            ]
        );
    }

    #[test]
    fn a_line_break_in_the_header_stays_inside_a_comment() {
        let mut run = run_of(&[]);
        run.header.run = "r1\ninjected_run();".into();
        run.header.runbook = "evil\nlocal::run(\"rm -rf ~\");\r//.rhai".into();
        run.header.function = Some("f\nalso_injected();".into());
        let text = teardown_runbook(&run);
        let code: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("//") && !l.is_empty())
            .collect();
        assert_eq!(
            code,
            ["info(\"that run left nothing to remove\");"],
            "{text}"
        );
        assert!(text.starts_with("// Removes what run r1 injected_run(); (evil local::run"));
    }

    #[test]
    fn a_line_that_is_not_utf8_is_unreadable_and_the_rest_is_kept() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("r1.jsonl");
        let header = r#"{"run":"r1","runbook":"x.rhai","function":null,"started":"","user":""}"#;
        let mut bad = started(2, "s3::put").into_bytes();
        bad.insert(10, 0xff);
        let mut bytes = Vec::new();
        for line in [
            header.as_bytes(),
            started(1, "ec2::launch").as_bytes(),
            &bad,
        ] {
            bytes.extend_from_slice(line);
            bytes.push(b'\n');
        }
        std::fs::write(&path, &bytes).expect("write the journal");
        let run = Run::load(&path).expect("the run loads");
        assert_eq!(run.actions.len(), 1);
        assert_eq!(run.unreadable.len(), 1);
        assert_eq!(run.unreadable[0].line, 3);
        assert!(
            run.unreadable[0]
                .error
                .contains("not UTF-8 text (a bad byte at column 11)"),
            "{}",
            run.unreadable[0].error
        );
        assert!(run.unreadable[0].text.contains('\u{fffd}'));
    }

    #[test]
    fn in_flight_and_unreadable_lines_are_kept() {
        let lines = [
            started(1, "ec2::launch"),
            "{\"phase\":\"finished\",\"n\":1,\"act".to_string(),
            finished(7, "s3::put", Value::Null),
        ];
        let run = run_of(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(run.count("in_flight"), 1);
        assert_eq!(run.unreadable.len(), 2);
        assert_eq!(run.unreadable[0].line, 3);
        assert!(run.unreadable[1].error.contains("action 7"));
        let text = teardown_runbook(&run);
        assert!(text.contains("// in flight / unknown outcome"), "{text}");
        assert!(text.contains("//   1. ec2::launch t {}"), "{text}");
        assert!(
            text.contains("warn(\"run r1: action(s) 1 were in flight"),
            "{text}"
        );
    }
}
