//! `ssh::group`: one action on many hosts in parallel, wave by wave (see
//! waves.rs). Every host of a wave runs to the end whatever the others do;
//! results come back in target order, a summary line says how the hosts
//! came out, and one error afterwards lists every host that failed, was
//! unreachable or was skipped.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rhai::{Array, Dynamic, Engine};

use crate::command::CmdResult;
use crate::core::api::{self, Functions};
use crate::core::context::Context;
use crate::core::failure::describe;
use crate::core::journal::{HostOutcome, Status};
use crate::core::options::{Options, RhaiResult, runtime_error};
use crate::core::record::{self, FieldDoc, TypeDoc};
use crate::ssh::connect::{ConnectOptions, GROUP_OPTIONS, request};
use crate::ssh::outcome::{self, shown};
use crate::ssh::session::{ConnectRequest, HostSpec};
use crate::ssh::task::{FILE_OPTIONS, RUN_OPTIONS, SUDO_OPTIONS, Source, Task, unreachable_result};
use crate::ssh::waves::Waves;

#[derive(Debug, Clone)]
pub struct Group {
    members: Arc<Vec<ConnectRequest>>,
    concurrency: usize,
    waves: Waves,
}

impl Group {
    fn names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.name.clone()).collect()
    }
}

impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Group of {} host(s): {}",
            self.members.len(),
            shown(&self.names())
        )
    }
}

/// How many hosts at once: option `concurrency`, else --concurrency.
pub fn concurrency(ctx: &Context, opts: &Options) -> RhaiResult<usize> {
    match opts.value("concurrency") {
        None => Ok(ctx.settings.ssh.concurrency),
        Some(v) => v
            .as_int()
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                runtime_error(format!(
                    "{}: option `concurrency` must be at least 1",
                    opts.function()
                ))
            }),
    }
}

/// The connection requests for `targets` (one target or an array; a Group
/// counts as its hosts), narrowed to `--limit`.
pub fn members(
    ctx: &Context,
    function: &str,
    targets: Dynamic,
    co: &ConnectOptions,
) -> RhaiResult<Vec<ConnectRequest>> {
    let mut members = Vec::new();
    let items = if targets.is_array() {
        targets.into_array().unwrap_or_default()
    } else {
        vec![targets]
    };
    for (i, item) in items.iter().enumerate() {
        if let Some(group) = item.read_lock::<Group>() {
            members.extend(group.members.iter().cloned());
            continue;
        }
        members.push(
            request(ctx, item, co)
                .map_err(|e| runtime_error(format!("{function}: target {i}: {}", describe(&e))))?,
        );
    }
    if let Some(limit) = ctx.limit.get() {
        let before = members.len();
        members.retain(|m| limit.allows(m.names()));
        if members.is_empty() && before > 0 {
            ctx.output.warn(&format!(
                "{function}: --limit {} leaves none of its {before} host(s)",
                limit.shown()
            ));
        }
    }
    Ok(members)
}

fn create(ctx: &Context, targets: Dynamic, opts: Options) -> RhaiResult<Group> {
    let co = ConnectOptions::parse(ctx, &opts)?;
    Ok(Group {
        members: Arc::new(members(ctx, "ssh::group", targets, &co)?),
        concurrency: concurrency(ctx, &opts)?,
        waves: Waves::parse(&opts)?,
    })
}

/// Where each host of a running group is, for the progress line and the
/// Ctrl-C summary.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum State {
    Waiting,
    Running,
    Done,
    Failed,
}

pub struct Tracker<'a> {
    names: Vec<String>,
    states: Mutex<Vec<State>>,
    bar: Option<indicatif::ProgressBar>,
    ctx: &'a Context,
}

impl<'a> Tracker<'a> {
    pub fn new(ctx: &'a Context, names: Vec<String>, label: &str) -> Self {
        let bar = (ctx.terminal && !names.is_empty()).then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(names.len() as u64),
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} {prefix} [{bar:30}] {pos}/{len} done {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(label.to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            ctx.output.set_progress(Some(bar.clone()));
            bar
        });
        Self {
            states: Mutex::new(vec![State::Waiting; names.len()]),
            names,
            bar,
            ctx,
        }
    }

    pub fn set(&self, i: usize, state: State) {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = states.get_mut(i) {
            *slot = state;
        }
        if let Some(bar) = &self.bar {
            if state == State::Failed {
                let failed = states.iter().filter(|s| **s == State::Failed).count();
                bar.set_message(format!("({failed} failed)"));
            }
            if matches!(state, State::Done | State::Failed) {
                bar.inc(1);
            }
        }
    }

    fn with(&self, state: State) -> Vec<String> {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        self.names
            .iter()
            .zip(states.iter())
            .filter(|(_, s)| **s == state)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// What finished and what was stopped when Ctrl-C cut the group short.
    pub fn report_interrupted(&self, label: &str) {
        let finished: Vec<String> = [self.with(State::Done), self.with(State::Failed)].concat();
        let running = self.with(State::Running);
        let waiting = self.with(State::Waiting);
        let mut text = format!(
            "interrupted {label}: finished on {} of {} host(s)",
            finished.len(),
            self.names.len()
        );
        if !finished.is_empty() {
            text += &format!(" ({})", shown(&finished));
        }
        if !running.is_empty() {
            text += &format!(
                "; stopped on {} ({}): their remote commands are ended",
                running.len(),
                shown(&running)
            );
        }
        if !waiting.is_empty() {
            text += &format!("; not started on {}", waiting.len());
        }
        self.ctx.output.warn(&text);
    }
}

impl Drop for Tracker<'_> {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            self.ctx.output.set_progress(None);
        }
    }
}

/// One host's Result, how it came out and why.
struct Outcome {
    result: CmdResult,
    status: Status,
    failure: Option<String>,
    seconds: f64,
}

async fn on_host(
    ctx: &Context,
    member: &ConnectRequest,
    task: &Task,
    capture_limit: usize,
) -> Outcome {
    let started = Instant::now();
    let spec = HostSpec::new(member.clone());
    let (result, status, failure) = match task.perform(ctx, &spec, capture_limit).await {
        Ok(result) if result.ok => (result, Status::Ok, None),
        Ok(result) => {
            let failure = task.failure(ctx, &spec, &result).await.to_string();
            (result, Status::Failed, Some(failure))
        }
        Err(reason) => {
            let reason = reason.to_string();
            let result = unreachable_result(&member.name, &task.describe(), &reason);
            (result, Status::Unreachable, Some(reason))
        }
    };
    Outcome {
        result,
        status,
        failure,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Run the hosts of `wave` (indexes into the group), `limit` at once.
async fn run_wave(
    ctx: &Context,
    group: &Group,
    wave: std::ops::Range<usize>,
    task: &Task,
    tracker: &Tracker<'_>,
    capture_limit: usize,
) -> Vec<Outcome> {
    // More permits than hosts change nothing, and the semaphore refuses
    // counts near usize::MAX (`#{ concurrency: 9223372036854775807 }`).
    let limit = tokio::sync::Semaphore::new(group.concurrency.clamp(1, wave.len().max(1)));
    let work = wave
        .filter_map(|i| Some((i, group.members.get(i)?)))
        .map(|(i, member)| {
            let limit = &limit;
            async move {
                // The semaphore is never closed, so acquiring cannot fail.
                let _permit = limit.acquire().await.ok();
                tracker.set(i, State::Running);
                let outcome = on_host(ctx, member, task, capture_limit).await;
                let state = if outcome.status == Status::Ok {
                    State::Done
                } else {
                    State::Failed
                };
                tracker.set(i, state);
                outcome
            }
        });
    crate::core::runtime::join_all(work.collect()).await
}

fn fan_out(ctx: &Context, group: &Group, verb: &str, task: RhaiResult<Task>) -> RhaiResult<Array> {
    let task = task?;
    if group.members.len() > 1 {
        task.refuse_shared_stdout_file(&format!("group.{verb}"))?;
    }
    let started = Instant::now();
    // The group's Results together keep what one Result would.
    let capture_limit = crate::command::capture_limit(group.members.len());
    let label = format!("group.{verb} `{}`", task.describe());
    let tracker = Tracker::new(ctx, group.names(), &label);
    let total = group.members.len();
    let waves = group.waves.split(total);
    let mut outcomes: Vec<Option<Outcome>> = (0..total).map(|_| None).collect();
    let mut failed = 0usize;
    let mut skipped = None;
    for (n, wave) in waves.iter().enumerate() {
        if n > 0
            && let Some(pause) = group.waves.pause()
        {
            ctx.runtime
                .block_on(async { tokio::time::sleep(pause).await })
                .inspect_err(|_| tracker.report_interrupted(&label))?;
        }
        let done = ctx
            .runtime
            .block_on(run_wave(
                ctx,
                group,
                wave.clone(),
                &task,
                &tracker,
                capture_limit,
            ))
            .inspect_err(|_| tracker.report_interrupted(&label))?;
        for (i, outcome) in wave.clone().zip(done) {
            if outcome.status != Status::Ok {
                failed = failed.saturating_add(1);
            }
            if let Some(slot) = outcomes.get_mut(i) {
                *slot = Some(outcome);
            }
        }
        if group.waves.batched() && n + 1 < waves.len() && group.waves.exceeded(failed, total) {
            skipped = Some(group.waves.reason(failed));
            break;
        }
    }
    drop(tracker);
    let outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .zip(group.members.iter())
        .map(|(done, member)| {
            done.unwrap_or_else(|| {
                let why = format!("skipped: {}", skipped.as_deref().unwrap_or("not run"));
                Outcome {
                    result: unreachable_result(&member.name, &task.describe(), &why),
                    status: Status::Skipped,
                    failure: skipped.clone(),
                    seconds: 0.0,
                }
            })
        })
        .collect();
    let hosts: Vec<HostOutcome> = outcomes
        .iter()
        .map(|o| HostOutcome {
            host: o.result.host.clone(),
            status: o.status,
            error: o.failure.clone(),
            seconds: o.seconds,
        })
        .collect();
    outcome::report(ctx, &label, &hosts, started.elapsed().as_secs_f64());
    ctx.journal.check()?;
    let results: Array = outcomes
        .into_iter()
        .map(|o| Dynamic::from(o.result))
        .collect();
    let failures: Vec<String> = hosts
        .iter()
        .filter(|h| matches!(h.status, Status::Failed | Status::Unreachable))
        .map(|h| h.host.clone())
        .collect();
    if failures.is_empty() {
        return Ok(results);
    }
    let mut report = format!(
        "{label} failed on {} of {} host(s): {}",
        failures.len(),
        results.len(),
        shown(&failures)
    );
    let skipped_hosts = outcome::with(&hosts, Status::Skipped);
    if !skipped_hosts.is_empty() {
        report += &format!(
            "; {} host(s) skipped: {}",
            skipped_hosts.len(),
            shown(&skipped_hosts)
        );
    }
    if task.warn {
        ctx.output.warn(&report);
        return Ok(results);
    }
    report += &outcome::problems(&hosts);
    report += if skipped_hosts.is_empty() {
        "\n(the other hosts completed; pass #{ warn: true } to get every Result back instead of an error)"
    } else {
        "\n(pass #{ warn: true } to get every Result back instead of an error)"
    };
    Err(runtime_error(report))
}

pub fn register_constructor(ssh: &mut Functions) {
    ssh.add("group", &["targets: Dynamic", "Group"], "A group of hosts for running one action on all of them in parallel.\n\
        `targets`: an array of anything ssh::connect takes (names, addresses, aliases, Hosts, instances).\n\
        Options: concurrency (hosts at once; default --concurrency / [ssh] concurrency), batch (hosts per\n\
        wave: a number or \"25%\" rounded up; without it every host runs in one wave), max_fail (failed +\n\
        unreachable hosts tolerated before the remaining waves are skipped: a number or \"10%\"; default 0),\n\
        pause (seconds between waves), and the connection options of ssh::connect (user, port, key, jump,\n\
        address, strict_host_keys, connect_timeout, sudo_password). --limit narrows the targets.\n\
        Hosts are connected when the group first acts, in parallel. Every group call ends with one summary\n\
        line (ok / failed / unreachable / skipped, seconds); with --output json, a document of each host's outcome.\n\
        Example: ssh::group(web, #{ batch: \"25%\", max_fail: 1, pause: 5 }).run(\"deploy\")\n\
        Example: let web = ssh::group(ec2::instances(#{ tags: #{ role: \"web\" } }), #{ user: \"deploy\" });")
        .options(GROUP_OPTIONS, create);
}

pub fn register(engine: &mut Engine, ctx: &Arc<Context>) {
    engine.register_type_with_name::<Group>("Group");
    let hosts = FieldDoc::new(
        "hosts",
        "Array of String",
        "The targets' names, in target order.",
    );
    record::getter(engine, &hosts, |g: &mut Group| {
        g.names().into_iter().map(Dynamic::from).collect::<Array>()
    });
    let len = FieldDoc::new("len", "int", "How many hosts the group has.");
    record::getter(engine, &len, |g: &mut Group| g.members.len() as rhai::INT);
    ctx.add_type(TypeDoc {
        name: "Group".into(),
        doc: "Hosts that act together: each method runs on all of them in parallel.".into(),
        fields: vec![hosts, len],
    });
    engine
        .register_fn("to_string", |g: &mut Group| g.to_string())
        .register_fn("to_debug", |g: &mut Group| g.to_string());
    let mut group = api::global(engine, ctx);
    group
        .add(
            "len",
            &["group: Group", "int"],
            "How many hosts the group has.",
        )
        .native(|_: &Context, g: &mut Group| -> RhaiResult<rhai::INT> {
            Ok(g.members.len() as rhai::INT)
        });

    group
        .add("run", &["group: Group", "cmd: String", "Array"], "Run `cmd` on every host of the group in parallel (see Host run); output lines are prefixed\n\
        with each host's name. Returns the Results in target order. If any host failed or was unreachable,\n\
        throws one error listing each failed host and why, after every host finished; with warn: true,\n\
        returns every Result instead (code -1 and the reason in stderr for an unreachable host).\n\
        Options: warn, timeout, env, cwd, stdin, quiet, stdout_to (a local path containing {host}: one\n\
        file per host gets its stdout), read (true: changes nothing, so a dry run runs it too; see Host run).\n\
        The group's Results share the 16 MiB a Result keeps of each stream: each host keeps\n\
        16 MiB divided by the number of hosts (1 MiB for 16 hosts, about 8 KiB for 2,000);\n\
        truncated is true on each Result that was cut.\n\
        Example: web.run(\"systemctl reload nginx\")")
        .options(
            RUN_OPTIONS,
            |c: &Context, g: &mut Group, cmd: &str, opts: Options| {
                fan_out(c, g, "run", Task::run(cmd, &opts))
            },
        );

    group
        .add("sudo", &["group: Group", "cmd: String", "Array"], "Run `cmd` with sudo on every host of the group in parallel (see Host sudo and group run).\n\
        Options: user, warn, timeout, env, cwd, stdin, quiet, stdout_to, read.")
        .options(
            SUDO_OPTIONS,
            |c: &Context, g: &mut Group, cmd: &str, opts: Options| {
                fan_out(c, g, "sudo", Task::sudo(cmd, &opts))
            },
        );

    group
        .add(
            "upload",
            &["group: Group", "local: String", "remote: String", "Array"],
            "Upload the local file to `remote` on every host of the group in parallel (see Host upload).\n\
        Options: mode, owner, sudo, warn, timeout.",
        )
        .options(
            FILE_OPTIONS,
            |c: &Context, g: &mut Group, local: &str, remote: &str, opts: Options| {
                let source = Source::File(PathBuf::from(local));
                fan_out(c, g, "upload", Task::install(source, remote, &opts))
            },
        );

    group
        .add(
            "write",
            &["group: Group", "remote: String", "text: String", "Array"],
            "Write `text` to `remote` on every host of the group in parallel (see Host write).\n\
        Options: mode, owner, sudo, warn, timeout.",
        )
        .options(
            FILE_OPTIONS,
            |c: &Context, g: &mut Group, remote: &str, text: &str, opts: Options| {
                let source = Source::Text(text.to_string());
                fan_out(c, g, "write", Task::install(source, remote, &opts))
            },
        );
}
