//! `ssh::rollout`: every step for one host in a closure, hosts of a wave
//! (see waves.rs) in parallel, waves one after another. A throw fails only
//! that host; the outcomes come back in target order, and the rollout
//! throws (unless `warn`) naming the hosts that failed, were unreachable or
//! were skipped.
//!
//! Each host's closure runs on a thread of its own: the script's calls
//! block until their remote work is done, so parallel hosts need parallel
//! callers. Their prompts are asked one at a time, naming the host.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rhai::{Array, Dynamic, EvalAltResult, FnPtr, Map, NativeCallContext};

use crate::core::api::Functions;
use crate::core::context::Context;
use crate::core::failure::{Failure, describe};
use crate::core::journal::{HostOutcome, Status};
use crate::core::options::{Options, RhaiResult, runtime_error};
use crate::core::planned::is_planned;
use crate::core::prompt::on_behalf_of;
use crate::ssh::connect::{ConnectOptions, connect_options};
use crate::ssh::group::{State, Tracker, concurrency, members};
use crate::ssh::host::Host;
use crate::ssh::outcome::{self, shown};
use crate::ssh::session::{ConnectRequest, pool};
use crate::ssh::waves::Waves;

/// A group's options, `warn` and `name` (the summary line's label).
pub const ROLLOUT_OPTIONS: &[&str] =
    connect_options!("concurrency", "batch", "max_fail", "pause", "warn", "name");

/// The stack of each host's thread: a closure's script may nest deeply,
/// as the runbook's own thread allows (reserved, not used up front).
const HOST_STACK: usize = 256 << 20;

/// One host's outcome and the closure's value.
struct Done {
    outcome: HostOutcome,
    value: Dynamic,
    /// An error that stops the whole rollout (Ctrl-C, a declined
    /// confirmation, a journal that cannot be written), not just this host.
    stop: Option<Box<EvalAltResult>>,
}

fn stops_everything(error: &EvalAltResult) -> bool {
    matches!(error, EvalAltResult::ErrorTerminated(..))
}

/// Why the closure failed, as the runbook said it: the innermost error,
/// with its line.
fn reason(error: &EvalAltResult) -> String {
    match error {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => reason(inner),
        EvalAltResult::ErrorRuntime(value, at) if Failure::of(error).is_none() => {
            if at.is_none() {
                value.to_string()
            } else {
                format!("{value} ({at})")
            }
        }
        EvalAltResult::ErrorRuntime(..) => match Failure::of(error) {
            Some(failure) => failure.to_string(),
            None => describe(error),
        },
        other => describe(other),
    }
}

/// Connect to `member` and run the closure with its Host.
fn on_host(ctx: &Context, call: &NativeCallContext, f: &FnPtr, member: &ConnectRequest) -> Done {
    let started = Instant::now();
    let done = |status, error: Option<String>, value, stop| Done {
        outcome: HostOutcome {
            host: member.name.clone(),
            status,
            error,
            seconds: started.elapsed().as_secs_f64(),
        },
        value,
        stop,
    };
    let planned = is_planned(&member.name);
    let spec = ctx.runtime.block_on(async {
        if planned {
            pool(ctx).spec(member.clone()).await
        } else {
            pool(ctx).connect(member.clone()).await
        }
    });
    let spec = match spec {
        Err(interrupted) => {
            return done(
                Status::Failed,
                Some("interrupted".into()),
                Dynamic::UNIT,
                Some(interrupted),
            );
        }
        Ok(Err(e)) => {
            let failure: Failure = e.into();
            return done(
                Status::Unreachable,
                Some(failure.to_string()),
                Dynamic::UNIT,
                None,
            );
        }
        Ok(Ok(spec)) => spec,
    };
    let host = Dynamic::from(Host::new(spec));
    match on_behalf_of(&member.name, || {
        f.call_within_context::<Dynamic>(call, (host,))
    }) {
        Ok(value) => done(Status::Ok, None, value, None),
        Err(error) => {
            let message = reason(&error);
            let stop = stops_everything(&error).then_some(error);
            done(Status::Failed, Some(message), Dynamic::UNIT, stop)
        }
    }
}

/// Run the closure for the hosts of one wave, `at_once` in parallel.
fn run_wave(
    ctx: &Context,
    call: &NativeCallContext,
    f: &FnPtr,
    wave: &[(usize, &ConnectRequest)],
    at_once: usize,
    tracker: &Tracker<'_>,
) -> Vec<(usize, Done)> {
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(wave.len()));
    // Each worker takes the wave's next host until none is left.
    let work = || {
        while let Some((i, member)) = wave.get(next.fetch_add(1, Ordering::SeqCst)) {
            tracker.set(*i, State::Running);
            let outcome = on_host(ctx, call, f, member);
            let state = if outcome.outcome.status == Status::Ok {
                State::Done
            } else {
                State::Failed
            };
            tracker.set(*i, state);
            done.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((*i, outcome));
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..at_once.clamp(1, wave.len().max(1)) {
            let spawned = std::thread::Builder::new()
                .name("rollout".into())
                .stack_size(HOST_STACK)
                .spawn_scoped(scope, work);
            // No thread to be had: this one works through what is left.
            if spawned.is_err() {
                work();
            }
        }
    });
    done.into_inner().unwrap_or_else(|p| p.into_inner())
}

fn rollout(
    ctx: &Context,
    call: &NativeCallContext,
    targets: Dynamic,
    opts: Options,
    f: FnPtr,
) -> RhaiResult<Array> {
    let co = ConnectOptions::parse(ctx, &opts)?;
    let members = members(ctx, "ssh::rollout", targets, &co)?;
    let waves = Waves::parse(&opts)?;
    // A dry run plans host after host, so the plan reads one host at a time.
    let concurrency = concurrency(ctx, &opts)?;
    let at_once = if ctx.settings.dry_run { 1 } else { concurrency };
    let warn = opts.bool("warn")?.unwrap_or(false);
    let label = opts.string("name")?.unwrap_or_else(|| "rollout".into());
    let started = Instant::now();
    let total = members.len();
    let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    let tracker = Tracker::new(ctx, names, &label);
    let mut finished: Vec<Option<Done>> = (0..total).map(|_| None).collect();
    let mut failed = 0usize;
    let mut skipped = None;
    let split = waves.split(total);
    for (n, range) in split.iter().enumerate() {
        if n > 0
            && let Some(pause) = waves.pause()
        {
            ctx.runtime
                .block_on(async { tokio::time::sleep(pause).await })
                .inspect_err(|_| tracker.report_interrupted(&label))?;
        }
        let wave: Vec<(usize, &ConnectRequest)> = range
            .clone()
            .filter_map(|i| Some((i, members.get(i)?)))
            .collect();
        let mut stop = None;
        for (i, mut done) in run_wave(ctx, call, &f, &wave, at_once, &tracker) {
            if done.outcome.status != Status::Ok {
                failed = failed.saturating_add(1);
            }
            if stop.is_none() {
                stop = done.stop.take();
            }
            if let Some(slot) = finished.get_mut(i) {
                *slot = Some(done);
            }
        }
        // Every host in flight has finished: now the rollout stops.
        if let Some(error) = stop {
            if ctx.runtime.interrupt().is_set() {
                tracker.report_interrupted(&label);
            }
            return Err(error);
        }
        if n + 1 < split.len() && waves.exceeded(failed, total) {
            skipped = Some(waves.reason(failed));
            break;
        }
    }
    drop(tracker);
    let done: Vec<(HostOutcome, Dynamic)> = finished
        .into_iter()
        .zip(members.iter())
        .map(|(done, member)| match done {
            Some(done) => (done.outcome, done.value),
            None => (
                HostOutcome {
                    host: member.name.clone(),
                    status: Status::Skipped,
                    error: skipped.clone(),
                    seconds: 0.0,
                },
                Dynamic::UNIT,
            ),
        })
        .collect();
    let hosts: Vec<HostOutcome> = done.iter().map(|(o, _)| o.clone()).collect();
    outcome::report(ctx, &label, &hosts, started.elapsed().as_secs_f64());
    ctx.journal.check()?;
    let bad: Vec<String> = hosts
        .iter()
        .filter(|h| h.status != Status::Ok)
        .map(|h| h.host.clone())
        .collect();
    let outcomes: Array = done
        .into_iter()
        .map(|(o, value)| outcome_map(o, value))
        .collect();
    if bad.is_empty() {
        return Ok(outcomes);
    }
    let report = format!(
        "{label} did not complete on {} of {total} host(s): {}",
        bad.len(),
        shown(&bad)
    );
    if warn {
        ctx.output.warn(&report);
        return Ok(outcomes);
    }
    Err(runtime_error(format!(
        "{report}{}\n(pass #{{ warn: true }} to get every host's outcome back instead of an error)",
        outcome::problems(&hosts)
    )))
}

/// An outcome as the script sees it: #{ host, status, error, seconds, value }.
fn outcome_map(outcome: HostOutcome, value: Dynamic) -> Dynamic {
    let mut map = Map::new();
    map.insert("host".into(), outcome.host.into());
    map.insert("status".into(), outcome.status.as_str().into());
    map.insert(
        "error".into(),
        outcome.error.map_or(Dynamic::UNIT, Dynamic::from),
    );
    map.insert("seconds".into(), Dynamic::from_float(outcome.seconds));
    map.insert("value".into(), value);
    Dynamic::from_map(map)
}

pub fn register(ssh: &mut Functions) {
    ssh.add(
        "rollout",
        &["targets: Dynamic", "f: FnPtr", "Array"],
        "Run the closure `f` for every host of `targets`, given the connected Host: every step for one\n\
        host inside it. Hosts of a wave run in parallel (up to `concurrency`), waves one after another;\n\
        a throw fails only that host. Returns the outcomes in target order, each\n\
        #{ host, status: \"ok\"|\"failed\"|\"unreachable\"|\"skipped\", error, seconds, value } (value: what\n\
        the closure returned), and ends with one summary line. Throws, unless warn, naming the hosts that\n\
        failed, were unreachable or were skipped. A prompt in the closure names its host and is asked\n\
        one at a time. A dry run plans every host's steps, host after host.\n\
        Options: batch, max_fail, pause (as for ssh::group), concurrency, warn, name (the summary's label,\n\
        default \"rollout\"), and the connection options of ssh::connect. --limit narrows the targets.\n\
        Example: ssh::rollout(app, #{ batch: \"25%\" }, |host| { host.sudo(\"systemctl restart app\") });",
    )
    .callback(ROLLOUT_OPTIONS, rollout);
}
