//! `ssh::group`: one action on many hosts in parallel. Every host runs to
//! the end whatever the others do; results come back in target order, and
//! one error afterwards lists every host that failed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rhai::{Array, Dynamic, Engine};

use crate::command::CmdResult;
use crate::core::api::{self, Functions};
use crate::core::context::Context;
use crate::core::failure::describe;
use crate::core::options::{Options, RhaiResult, runtime_error};
use crate::ssh::connect::{ConnectOptions, GROUP_OPTIONS, request};
use crate::ssh::session::{ConnectRequest, HostSpec};
use crate::ssh::task::{FILE_OPTIONS, RUN_OPTIONS, SUDO_OPTIONS, Source, Task, unreachable_result};

/// Hosts named in an interrupted or failed summary before "and N more".
const NAMES_SHOWN: usize = 20;

#[derive(Debug, Clone)]
pub struct Group {
    members: Arc<Vec<ConnectRequest>>,
    concurrency: usize,
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

fn create(ctx: &Context, targets: Dynamic, opts: Options) -> RhaiResult<Group> {
    let co = ConnectOptions::parse(ctx, &opts)?;
    let concurrency = match opts.value("concurrency") {
        None => ctx.settings.ssh.concurrency,
        Some(v) => v
            .as_int()
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| runtime_error("ssh::group: option `concurrency` must be at least 1"))?,
    };
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
            request(ctx, item, &co)
                .map_err(|e| runtime_error(format!("ssh::group: target {i}: {}", describe(&e))))?,
        );
    }
    Ok(Group {
        members: Arc::new(members),
        concurrency,
    })
}

/// Where each host of a running group is, for the progress line and the
/// Ctrl-C summary.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Done,
    Failed,
}

struct Tracker<'a> {
    names: Vec<String>,
    states: Mutex<Vec<State>>,
    bar: Option<indicatif::ProgressBar>,
    ctx: &'a Context,
}

impl<'a> Tracker<'a> {
    fn new(ctx: &'a Context, names: Vec<String>, label: &str) -> Self {
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

    fn set(&self, i: usize, state: State) {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        states[i] = state;
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
    fn report_interrupted(&self, label: &str) {
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

fn shown(names: &[String]) -> String {
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

/// One host's Result, and why it failed if it did.
struct Outcome {
    result: CmdResult,
    failure: Option<String>,
}

async fn on_host(
    ctx: &Context,
    member: &ConnectRequest,
    task: &Task,
    capture_limit: usize,
) -> Outcome {
    let unreachable = |reason: String| Outcome {
        result: unreachable_result(&member.name, &task.describe(), &reason),
        failure: Some(reason),
    };
    let spec = HostSpec::new(member.clone());
    match task.perform(ctx, &spec, capture_limit).await {
        Ok(result) if result.ok => Outcome {
            result,
            failure: None,
        },
        Ok(result) => Outcome {
            failure: Some(task.failure(ctx, &spec, &result).await.to_string()),
            result,
        },
        Err(reason) => unreachable(reason.to_string()),
    }
}

fn fan_out(ctx: &Context, group: &Group, verb: &str, task: RhaiResult<Task>) -> RhaiResult<Array> {
    let task = task?;
    if group.members.len() > 1 {
        task.refuse_shared_stdout_file(&format!("group.{verb}"))?;
    }
    // The group's Results together keep what one Result would.
    let capture_limit = crate::command::capture_limit(group.members.len());
    let label = format!("group.{verb} `{}`", task.describe());
    let tracker = Tracker::new(ctx, group.names(), &label);
    // More permits than hosts change nothing, and the semaphore refuses
    // counts near usize::MAX (`#{ concurrency: 9223372036854775807 }`).
    let limit = tokio::sync::Semaphore::new(group.concurrency.clamp(1, group.members.len().max(1)));
    let outcomes = ctx.runtime.block_on(async {
        let work = group.members.iter().enumerate().map(|(i, member)| {
            let (task, tracker, limit) = (&task, &tracker, &limit);
            async move {
                // The semaphore is never closed, so acquiring cannot fail.
                let _permit = limit.acquire().await.ok();
                tracker.set(i, State::Running);
                let outcome = on_host(ctx, member, task, capture_limit).await;
                let state = if outcome.failure.is_some() {
                    State::Failed
                } else {
                    State::Done
                };
                tracker.set(i, state);
                outcome
            }
        });
        crate::core::runtime::join_all(work.collect()).await
    });
    let outcomes = match outcomes {
        Ok(outcomes) => outcomes,
        Err(interrupted) => {
            tracker.report_interrupted(&label);
            return Err(interrupted);
        }
    };
    drop(tracker);
    ctx.journal.check()?;
    let failures: Vec<(String, String)> = outcomes
        .iter()
        .filter_map(|o| o.failure.clone().map(|f| (o.result.host.clone(), f)))
        .collect();
    let results: Array = outcomes
        .into_iter()
        .map(|o| Dynamic::from(o.result))
        .collect();
    if failures.is_empty() {
        return Ok(results);
    }
    let mut report = format!(
        "{label} failed on {} of {} host(s): {}",
        failures.len(),
        results.len(),
        shown(&failures.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>())
    );
    if task.warn {
        ctx.output.warn(&report);
        return Ok(results);
    }
    for (name, why) in &failures {
        let why = why
            .lines()
            .filter(|l| !l.starts_with("(pass #{ warn: true }"))
            .collect::<Vec<_>>()
            .join("\n    ");
        report += &format!("\n  {name}: {why}");
    }
    report += "\n(the other hosts completed; pass #{ warn: true } to get every Result back instead of an error)";
    Err(runtime_error(report))
}

pub fn register_constructor(ssh: &mut Functions) {
    ssh.add("group", &["targets: Dynamic", "Group"], "A group of hosts for running one action on all of them in parallel.\n\
        `targets`: an array of anything ssh::connect takes (names, addresses, aliases, Hosts, instances).\n\
        Options: concurrency (hosts at once; default --concurrency / [ssh] concurrency), and the\n\
        connection options of ssh::connect (user, port, key, jump, address, strict_host_keys, connect_timeout).\n\
        Hosts are connected when the group first acts, in parallel.\n\
        Example: let web = ssh::group(ec2::instances(#{ tags: #{ role: \"web\" } }), #{ user: \"deploy\" });")
        .options(GROUP_OPTIONS, create);
}

pub fn register(engine: &mut Engine, ctx: &Arc<Context>) {
    engine
        .register_type_with_name::<Group>("Group")
        .register_get("hosts", |g: &mut Group| {
            g.names().into_iter().map(Dynamic::from).collect::<Array>()
        })
        .register_get("len", |g: &mut Group| g.members.len() as rhai::INT)
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
