//! `opsh journal`: the runs on record, one run's actions and what it
//! created, and a teardown runbook for it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli::OutputFormat;
use crate::engine::Session;
use crate::error::{Error, Result};
use crate::journal::{Entry, RunHeader, journal_dir};
use crate::stdout::outln;

const RECENT_RUNS: usize = 20;

struct Run {
    header: RunHeader,
    entries: Vec<Entry>,
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

fn resources(entry: &Entry, field: &str) -> Vec<Resource> {
    entry.result[field]
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

impl Run {
    fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: RunHeader = lines
            .next()
            .and_then(|l| serde_json::from_str(l).ok())
            .ok_or_else(|| Error::usage(format!("{}: not an opsh journal", path.display())))?;
        // A line cut short by a crash is skipped, not fatal.
        let entries = lines.filter_map(|l| serde_json::from_str(l).ok()).collect();
        Ok(Self { header, entries })
    }

    /// What the run created and did not itself remove, in creation order.
    fn left_behind(&self) -> Vec<Resource> {
        let removed: Vec<Resource> = self
            .entries
            .iter()
            .flat_map(|e| resources(e, "removed"))
            .collect();
        let mut left: Vec<Resource> = Vec::new();
        for resource in self
            .entries
            .iter()
            .filter(|e| e.ok)
            .flat_map(|e| resources(e, "created"))
        {
            if !removed.contains(&resource) && !left.contains(&resource) {
                left.push(resource);
            }
        }
        left
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
    let json = session.ctx.output.format() == OutputFormat::Json;
    let Some(wanted) = run else {
        let runs: Vec<Run> = run_files()?
            .iter()
            .take(RECENT_RUNS)
            .filter_map(|p| Run::load(p).ok())
            .collect();
        if json {
            session
                .ctx
                .output
                .json(&Value::Array(runs.iter().map(summary).collect()));
        } else if runs.is_empty() {
            eprintln!("no runs are on record yet");
        } else {
            let mut table = comfy_table::Table::new();
            table
                .load_style(comfy_table::presets::UTF8_HORIZONTAL_ONLY)
                .set_header(["run", "started", "runbook", "function", "actions", "failed"]);
            for run in &runs {
                table.add_row([
                    run.header.run.clone(),
                    run.header.started.clone(),
                    run.header.runbook.clone(),
                    run.header.function.clone().unwrap_or_default(),
                    run.entries.len().to_string(),
                    run.entries.iter().filter(|e| !e.ok).count().to_string(),
                ]);
            }
            outln!("{table}");
        }
        return Ok(());
    };
    let run = Run::load(&find(wanted)?)?;
    if teardown {
        crate::stdout::write(&teardown_runbook(&run));
        return Ok(());
    }
    if json {
        let mut doc = summary(&run);
        doc["entries"] = serde_json::to_value(&run.entries).unwrap_or_default();
        session.ctx.output.json(&doc);
        return Ok(());
    }
    outln!(
        "run {} — {} {} — started {} by {}",
        run.header.run,
        run.header.runbook,
        run.header.function.as_deref().unwrap_or(""),
        run.header.started,
        run.header.user
    );
    let mut table = comfy_table::Table::new();
    table
        .load_style(comfy_table::presets::UTF8_HORIZONTAL_ONLY)
        .set_header(["#", "action", "target", "arguments", "ok", "ms", "result"]);
    for e in &run.entries {
        let outcome = match &e.error {
            Some(error) => error.lines().next().unwrap_or_default().to_string(),
            None if e.result.is_null() => String::new(),
            None => e.result.to_string(),
        };
        table.add_row([
            e.n.to_string(),
            e.action.clone(),
            e.target.clone(),
            shorten(&e.args.to_string(), 60),
            if e.ok { "yes" } else { "NO" }.to_string(),
            e.duration_ms.to_string(),
            outcome,
        ]);
    }
    outln!("{table}");
    let left = run.left_behind();
    if !left.is_empty() {
        outln!("created and still there (as far as this run knows):");
        for r in left {
            outln!("  {} {}", r.kind, r.id);
        }
    }
    Ok(())
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
        "actions": run.entries.len(),
        "failed": run.entries.iter().filter(|e| !e.ok).count(),
        "created": run.left_behind().iter().map(|r| serde_json::json!({"type": r.kind, "id": r.id})).collect::<Vec<_>>(),
    })
}

/// A runbook that removes what `run` created, newest first so dependants
/// (an address on an instance, a rule on a group) go before what they use.
fn teardown_runbook(run: &Run) -> String {
    let mut out = format!(
        "// Removes what run {} ({} {}) created.\n// Generated by `opsh journal {} --teardown`; review it, then: opsh run FILE\n\n",
        run.header.run,
        run.header.runbook,
        run.header.function.as_deref().unwrap_or(""),
        run.header.run
    );
    let left = run.left_behind();
    if left.is_empty() {
        out += "info(\"that run left nothing to remove\");\n";
        return out;
    }
    for r in left.iter().rev() {
        let id = format!("{:?}", r.id);
        out += &match r.kind.as_str() {
            "instance" => format!("ec2::terminate({id});\n"),
            "address" => format!("ec2::release_address({id});\n"),
            "volume" => format!("ec2::delete_volume({id});\n"),
            "snapshot" => format!("ec2::delete_snapshot({id});\n"),
            "image" => format!("ec2::deregister_image({id});\n"),
            "security_group" => format!("ec2::delete_security_group({id});\n"),
            "key_pair" => format!("ec2::delete_key_pair({id});\n"),
            "object" => match &r.parent {
                Some(bucket) => format!("s3::delete({bucket:?}, {id});\n"),
                None => format!("// object {id}: its bucket is not on record\n"),
            },
            other => format!("// {other} {id}: opsh cannot remove this kind by itself\n"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize, action: &str, result: Value) -> Entry {
        Entry {
            n,
            action: action.into(),
            target: String::new(),
            args: Value::Null,
            result,
            ok: true,
            error: None,
            at: String::new(),
            duration_ms: 0,
        }
    }

    #[test]
    fn teardown_skips_what_the_run_removed_and_goes_newest_first() {
        let run = Run {
            header: RunHeader {
                run: "r1".into(),
                runbook: "x.rhai".into(),
                function: None,
                started: String::new(),
                user: String::new(),
            },
            entries: vec![
                entry(
                    1,
                    "ec2::ensure_security_group",
                    serde_json::json!({"created": [{"type": "security_group", "id": "sg-1"}]}),
                ),
                entry(
                    2,
                    "ec2::launch",
                    serde_json::json!({"created": [{"type": "instance", "id": "i-1"}, {"type": "instance", "id": "i-2"}]}),
                ),
                entry(
                    3,
                    "s3::put",
                    serde_json::json!({"created": [{"type": "object", "id": "k", "bucket": "b"}]}),
                ),
                entry(
                    4,
                    "ec2::terminate",
                    serde_json::json!({"removed": [{"type": "instance", "id": "i-2"}]}),
                ),
            ],
        };
        let text = teardown_runbook(&run);
        let body: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("//") && !l.is_empty())
            .collect();
        assert_eq!(
            body,
            [
                "s3::delete(\"b\", \"k\");",
                "ec2::terminate(\"i-1\");",
                "ec2::delete_security_group(\"sg-1\");"
            ]
        );
    }
}
