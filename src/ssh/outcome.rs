//! How the hosts of a group call or a rollout came out: one summary line
//! ("app: 48 ok, 1 failed, 1 unreachable, 0 skipped in 3.2 s"), a JSON
//! document with every host's outcome under `--output json`, and the
//! journal's record of them (which `--limit @failed` reads back).

use crate::core::context::Context;
use crate::core::journal::{HostOutcome, Status};
use crate::core::output::OutputFormat;

/// Hosts named in a summary before "and N more".
pub const NAMES_SHOWN: usize = 20;

pub fn count(outcomes: &[HostOutcome], status: Status) -> usize {
    outcomes.iter().filter(|o| o.status == status).count()
}

/// The names of the hosts with `status`.
pub fn with(outcomes: &[HostOutcome], status: Status) -> Vec<String> {
    outcomes
        .iter()
        .filter(|o| o.status == status)
        .map(|o| o.host.clone())
        .collect()
}

/// Say how `label` went, on every channel that keeps it.
pub fn report(ctx: &Context, label: &str, outcomes: &[HostOutcome], seconds: f64) {
    let line = format!(
        "{label}: {} ok, {} failed, {} unreachable, {} skipped in {seconds:.1} s",
        count(outcomes, Status::Ok),
        count(outcomes, Status::Failed),
        count(outcomes, Status::Unreachable),
        count(outcomes, Status::Skipped),
    );
    ctx.output.info(&line);
    // A dry run's one JSON document is its plan.
    if ctx.output.format() == OutputFormat::Json && !ctx.settings.dry_run {
        ctx.output.json(&serde_json::json!({
            "summary": label,
            "ok": count(outcomes, Status::Ok),
            "failed": count(outcomes, Status::Failed),
            "unreachable": count(outcomes, Status::Unreachable),
            "skipped": count(outcomes, Status::Skipped),
            "seconds": seconds,
            "hosts": outcomes,
        }));
    }
    ctx.journal.hosts(label, outcomes);
}

/// The hosts that did not come out ok, by status, each with its reason:
/// the body of the error a group call or rollout throws.
pub fn problems(outcomes: &[HostOutcome]) -> String {
    let mut text = String::new();
    for status in [Status::Failed, Status::Unreachable, Status::Skipped] {
        let hosts: Vec<&HostOutcome> = outcomes.iter().filter(|o| o.status == status).collect();
        if hosts.is_empty() {
            continue;
        }
        text += &format!(
            "\n  {} {}: {}",
            hosts.len(),
            status.as_str(),
            shown(&hosts.iter().map(|o| o.host.clone()).collect::<Vec<_>>())
        );
        if status == Status::Skipped {
            if let Some(why) = hosts.first().and_then(|o| o.error.as_deref()) {
                text += &format!(" ({why})");
            }
            continue;
        }
        for host in hosts.iter().take(NAMES_SHOWN) {
            let why = host
                .error
                .as_deref()
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.starts_with("(pass #{ warn: true }"))
                .collect::<Vec<_>>()
                .join("\n      ");
            text += &format!("\n    {}: {why}", host.host);
        }
    }
    text
}

pub fn shown(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(NAMES_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > NAMES_SHOWN {
        text += &format!(" and {} more", names.len() - NAMES_SHOWN);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(host: &str, status: Status, error: Option<&str>) -> HostOutcome {
        HostOutcome {
            host: host.into(),
            status,
            error: error.map(str::to_string),
            seconds: 0.1,
        }
    }

    #[test]
    fn problems_name_each_host_by_status() {
        let outcomes = [
            outcome("a", Status::Ok, None),
            outcome("b", Status::Failed, Some("exit code 1")),
            outcome("c", Status::Unreachable, Some("cannot connect")),
            outcome("d", Status::Skipped, Some("max_fail")),
        ];
        let text = problems(&outcomes);
        assert!(text.contains("1 failed: b\n    b: exit code 1"), "{text}");
        assert!(text.contains("1 unreachable: c"), "{text}");
        assert!(text.contains("1 skipped: d (max_fail)"), "{text}");
        assert!(!text.contains(" a"), "{text}");
    }
}
