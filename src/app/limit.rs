//! `--limit`: its globs, and `@failed[:RUN]` read from the journal, become
//! the run's limit before anything runs.

use crate::core::context::Context;
use crate::core::limit::Limit;
use crate::script::error::{Error, Result};

/// The prefix of a pattern that names the hosts an earlier run left failed.
const FAILED: &str = "@failed";

/// Set the run's limit from `--limit`, if given. `runbook` and `function`
/// say which earlier runs `@failed` looks at (none: the REPL).
pub fn apply(ctx: &Context, runbook: Option<&str>, function: Option<&str>) -> Result<()> {
    let Some(raw) = ctx.settings.limit.as_deref() else {
        return Ok(());
    };
    let mut patterns = Vec::new();
    for pattern in raw.split(',').map(str::trim) {
        let Some(rest) = pattern.strip_prefix(FAILED) else {
            patterns.push(pattern.to_string());
            continue;
        };
        let wanted = match rest {
            "" => None,
            _ => Some(rest.strip_prefix(':').filter(|r| !r.is_empty()).ok_or_else(|| {
                Error::usage(format!(
                    "--limit {pattern}: write @failed or @failed:RUN (a run id from `opsh journal`)"
                ))
            })?),
        };
        let runbook = runbook.ok_or_else(|| {
            Error::usage(format!(
                "--limit {pattern} needs `opsh run FILE [FUNCTION]`: it retries the hosts an earlier run of that runbook left failed"
            ))
        })?;
        let (run, hosts) = crate::app::journal::failed_hosts(runbook, function, wanted)?;
        ctx.output.info(&format!(
            "--limit {pattern}: {} host(s) from run {run}: {}",
            hosts.len(),
            hosts.join(", ")
        ));
        patterns.extend(hosts.into_iter().map(|h| escape(&h)));
    }
    ctx.limit.set(Limit::new(patterns, raw));
    Ok(())
}

/// `name` as a glob that matches only itself (`*` and `?` are no name's
/// characters in practice, but a journal is a file anyone may edit).
fn escape(name: &str) -> String {
    name.replace(['*', '?'], "_")
}
