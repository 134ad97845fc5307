//! What a runbook asks of a host, the same for one Host and for every host
//! of a Group: run a command (as a user, with sudo) or install a file. A
//! task checks its options up front, is journaled or planned as one action,
//! and turns its outcome into a Result or an error.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::command::{AS_USER_OPTIONS, COMMAND_OPTIONS, CmdResult, HOST_PLACEHOLDER, stdout_path};
use crate::core::context::Context;
use crate::core::failure::{Failure, describe};
use crate::core::options::{Options, RhaiResult, runtime_error};
use crate::core::planned::is_planned;
use crate::core::quote::check_no_nul;
use crate::ssh::remote::{self, Capture, Input, Job, Stdout};
use crate::ssh::remote_script;
use crate::ssh::session::{HostSpec, pool};

pub const RUN_OPTIONS: &[&str] = COMMAND_OPTIONS;
/// RUN_OPTIONS and the user to run as.
pub const SUDO_OPTIONS: &[&str] = AS_USER_OPTIONS;
pub const FILE_OPTIONS: &[&str] = &["mode", "owner", "sudo", "warn", "timeout"];

/// Something to do on a host: the same for one Host and for a Group.
pub enum Action {
    Run {
        /// The runbook's command, as the Result shows it.
        cmd: String,
        /// What runs on the host, before sudo (if any) wraps it.
        script: String,
        sudo: Option<String>,
        /// The environment values, then the runbook's `stdin`.
        stdin: Option<Vec<u8>>,
        timeout: Option<Duration>,
        quiet: bool,
        /// A local path (`{host}` for the host's name) that gets stdout.
        stdout_to: Option<String>,
        /// Changes nothing (`read: true`): a dry run runs it too.
        read: bool,
    },
    Install {
        /// The local file, or the text to write.
        source: Source,
        remote: String,
        mode: Option<String>,
        owner: Option<String>,
        sudo: Option<String>,
        timeout: Option<Duration>,
    },
}

pub enum Source {
    File(PathBuf),
    Text(String),
}

/// An action and whether failures come back as Results (`warn`).
pub struct Task {
    pub action: Action,
    pub warn: bool,
}

impl Task {
    pub fn run(cmd: &str, opts: &Options) -> RhaiResult<Self> {
        Self::command(opts, cmd, None)
    }

    pub fn sudo(cmd: &str, opts: &Options) -> RhaiResult<Self> {
        let user = opts.string("user")?.unwrap_or_else(|| "root".into());
        remote_script::check_account("sudo user", &user).map_err(runtime_error)?;
        Self::command(opts, cmd, Some(user))
    }

    fn command(opts: &Options, cmd: &str, sudo: Option<String>) -> RhaiResult<Self> {
        let env = opts.string_map("env")?;
        let cwd = opts.string("cwd")?;
        let stdin = opts.string("stdin")?;
        let prepared = remote_script::command(cmd, &env, cwd.as_deref(), stdin.as_deref())
            .map_err(runtime_error)?;
        let script = prepared.script;
        let stdout_to = opts.string("stdout_to")?;
        // A read that writes its stdout to a local file changes this
        // machine: a dry run plans it.
        let read = opts.bool("read")?.unwrap_or(false) && stdout_to.is_none();
        Ok(Self {
            action: Action::Run {
                cmd: cmd.to_string(),
                script,
                sudo,
                stdin: prepared.stdin,
                timeout: opts.seconds("timeout")?,
                quiet: opts.bool("quiet")?.unwrap_or(false),
                stdout_to,
                read,
            },
            warn: opts.bool("warn")?.unwrap_or(false),
        })
    }

    pub fn install(source: Source, remote: &str, opts: &Options) -> RhaiResult<Self> {
        let function = opts.function();
        if let Source::File(path) = &source {
            check_no_nul("the local path", &path.to_string_lossy()).map_err(runtime_error)?;
        }
        if let Source::File(path) = &source
            && !path.is_file()
        {
            return Err(runtime_error(format!(
                "{function}: {} is not a file here",
                path.display()
            )));
        }
        if opts.value("mode").is_some_and(|m| m.is_int()) {
            return Err(runtime_error(format!(
                "{function}: option `mode` must be a string such as \"0644\" (a number is ambiguous: 644 is not 0o644)"
            )));
        }
        let mode = opts.string("mode")?;
        let task = Self {
            action: Action::Install {
                source,
                remote: remote.to_string(),
                mode,
                owner: opts.string("owner")?,
                sudo: sudo_user(opts)?,
                timeout: opts.seconds("timeout")?,
            },
            warn: opts.bool("warn")?.unwrap_or(false),
        };
        // Refuse a bad path, mode or owner before anything runs.
        task.install_script(0, "check", false)?;
        Ok(task)
    }

    /// The install script; with a sudo password, its sudo is `sudo -S`
    /// (the password first on stdin, then the data).
    fn install_script(&self, size: u64, token: &str, password: bool) -> RhaiResult<String> {
        let Action::Install {
            remote,
            mode,
            owner,
            sudo,
            ..
        } = &self.action
        else {
            return Err(runtime_error("internal: not an install"));
        };
        remote_script::install(&remote_script::Install {
            remote,
            size,
            mode: mode.as_deref(),
            owner: owner.as_deref(),
            sudo: sudo.as_deref(),
            token,
            sudo_asks: password && sudo.is_some(),
        })
        .map_err(runtime_error)
    }

    /// What the Result's `command` says.
    pub fn describe(&self) -> String {
        match &self.action {
            Action::Run {
                cmd, sudo: None, ..
            } => cmd.clone(),
            Action::Run {
                cmd,
                sudo: Some(user),
                ..
            } => format!("sudo -u {user}: {cmd}"),
            Action::Install {
                source: Source::File(path),
                remote,
                ..
            } => format!("upload {} -> {remote}", path.display()),
            Action::Install {
                source: Source::Text(text),
                remote,
                ..
            } => format!("write {} bytes -> {remote}", text.len()),
        }
    }

    /// The error a failed Result raises, with advice for sudo passwords.
    pub async fn failure(&self, ctx: &Context, spec: &HostSpec, result: &CmdResult) -> Failure {
        let sudo = match &self.action {
            Action::Run { sudo, .. } | Action::Install { sudo, .. } => sudo,
        };
        let refused = remote_script::incorrect_password(&result.host);
        match sudo {
            Some(_) if result.stderr.trim_end() == refused => Failure::new(refused),
            Some(user) if remote_script::sudo_wants_password(&result.stderr) => Failure::new(format!(
                "sudo on {} wants a password for `{}`: opsh runs sudo without a terminal (sudo -n) so it never hangs on a prompt",
                result.host,
                self.describe(),
            ))
            .hint(format!(
                "allow the login user passwordless sudo for this, e.g. `{} ALL=({user}) NOPASSWD: ALL` in /etc/sudoers.d/",
                pool(ctx).login_user(spec).await,
            )),
            _ => Failure::new(result.failure_message()),
        }
    }

    /// Refuse a `stdout_to` that would send every host of a group to one file.
    pub fn refuse_shared_stdout_file(&self, function: &str) -> RhaiResult<()> {
        match &self.action {
            Action::Run {
                stdout_to: Some(path),
                ..
            } if !path.contains(HOST_PLACEHOLDER) => Err(runtime_error(format!(
                "{function}: option `stdout_to` must contain {HOST_PLACEHOLDER} so that each host \
                 writes its own file (e.g. \"out/{HOST_PLACEHOLDER}.log\"), not {path:?}"
            ))),
            _ => Ok(()),
        }
    }

    /// Do it on the host of `spec`, keeping at most `capture_limit` of
    /// each output stream. `Err` is a host that could not be reached, a
    /// connection that broke (the outcome is unknown) or a local file that
    /// could not be read or written.
    pub async fn perform(
        &self,
        ctx: &Context,
        spec: &HostSpec,
        capture_limit: usize,
    ) -> Result<CmdResult, Failure> {
        let name = spec.request.name.as_str();
        let (action, args) = self.journal_entry();
        // The journal's error stops the run: `check` after this call says so.
        let read = matches!(self.action, Action::Run { read: true, .. });
        let entry = if read {
            ctx.read(action, name, args)
        } else {
            ctx.act(action, name, args)
        }
        .map_err(|e| Failure::new(e.to_string()))?;
        let planned = is_planned(name);
        if entry.dry_run() || (planned && ctx.settings.dry_run) {
            // A dry run still connects to real hosts, so an unreachable one
            // shows up in the plan run; a planned one has nothing to reach,
            // so even a read there has only a placeholder to give.
            if !planned {
                pool(ctx).master(spec).await?;
            }
            let to_file = matches!(
                self.action,
                Action::Run {
                    stdout_to: Some(_),
                    ..
                } | Action::Install { .. }
            );
            return Ok(CmdResult::planned(name, &self.describe(), to_file));
        }
        if planned {
            return Err(format!("{name} exists only in a dry run's plan").into());
        }
        let done = match self.job(ctx, spec, capture_limit).await {
            Ok(job) => remote::exec(&pool(ctx), spec, job, &ctx.output).await,
            Err(reason) => Err(reason),
        };
        let done = match done {
            Ok(done) => done,
            Err(reason) => {
                entry.failed(&reason.to_string());
                return Err(reason);
            }
        };
        if done.sudo_refused {
            let refused = remote_script::incorrect_password(name);
            entry.failed(&refused);
            return Ok(CmdResult::new(
                name,
                &self.describe(),
                done.code.max(1),
                String::new(),
                refused + "\n",
            ));
        }
        if done.code == 0 {
            entry.done(serde_json::json!({ "code": done.code }));
        } else {
            entry.failed(&format!("exit code {}", done.code));
        }
        let stdout = match done.stdout {
            Stdout::Lines(captured) => captured,
            // In the file of `stdout_to`; bytes are never asked of a command.
            Stdout::Bytes(_) | Stdout::TooLarge | Stdout::NotKept => Default::default(),
        };
        Ok(CmdResult::from_streams(
            name,
            &self.describe(),
            done.code,
            stdout,
            done.stderr,
            &ctx.output,
        ))
    }

    /// The remote job that does this task on the host of `spec`.
    async fn job<'a>(
        &self,
        ctx: &Context,
        spec: &'a HostSpec,
        capture_limit: usize,
    ) -> Result<Job<'a>, Failure> {
        let name = spec.request.name.as_str();
        let password = spec.request.sudo_password.as_ref().map(|p| p.0.clone());
        match &self.action {
            Action::Run {
                cmd,
                script,
                sudo,
                stdin,
                timeout,
                quiet,
                stdout_to,
                ..
            } => {
                tracing::info!(host = name, command = %ctx.output.redact(cmd), "run");
                let capture = match stdout_to {
                    None => Capture::Lines { quiet: *quiet },
                    Some(template) => {
                        // Connected first, so an unreachable host leaves no
                        // empty file that reads as "printed nothing".
                        pool(ctx).master(spec).await?;
                        let path = stdout_path(template, name);
                        let file = tokio::fs::File::create(&path).await.map_err(|e| {
                            format!("stdout_to: cannot create {}: {e}", path.display())
                        })?;
                        Capture::File {
                            file,
                            name: path.display().to_string(),
                        }
                    }
                };
                let (script, sudo_password) = match (sudo, password) {
                    (Some(user), Some(password)) => (
                        remote_script::sudo_with_password(user, script),
                        Some(password),
                    ),
                    (Some(user), None) => (remote_script::sudo(user, script), None),
                    (None, _) => (script.clone(), None),
                };
                Ok(Job {
                    origin: name,
                    script,
                    input: stdin
                        .as_ref()
                        .map_or(Input::Null, |s| Input::Bytes(s.clone())),
                    capture,
                    quiet_stderr: *quiet,
                    timeout: *timeout,
                    capture_limit,
                    sudo_password,
                })
            }
            Action::Install {
                source,
                timeout,
                sudo,
                ..
            } => {
                let (input, size) = match source {
                    Source::File(path) => {
                        let size = std::fs::metadata(path)
                            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                            .len();
                        (Input::File(path.clone()), size)
                    }
                    Source::Text(text) => {
                        (Input::Bytes(text.clone().into_bytes()), text.len() as u64)
                    }
                };
                let sudo_password = password.filter(|_| sudo.is_some());
                let script = self
                    .install_script(size, &token(), sudo_password.is_some())
                    .map_err(|e| Failure::new(describe(&e)))?;
                tracing::info!(host = name, what = %ctx.output.redact(&self.describe()), "install");
                Ok(Job {
                    origin: name,
                    script,
                    input,
                    capture: Capture::Lines { quiet: true },
                    quiet_stderr: true,
                    timeout: *timeout,
                    capture_limit,
                    sudo_password,
                })
            }
        }
    }

    /// How the plan and the journal record this task.
    fn journal_entry(&self) -> (&'static str, serde_json::Value) {
        use serde_json::json;
        match &self.action {
            Action::Run {
                cmd,
                sudo,
                stdout_to,
                ..
            } => {
                let (action, mut args) = match sudo {
                    None => ("ssh::run", json!({ "command": cmd })),
                    Some(user) => ("ssh::sudo", json!({ "command": cmd, "user": user })),
                };
                if let Some(path) = stdout_to {
                    args["stdout_to"] = json!(path);
                }
                (action, args)
            }
            Action::Install {
                source,
                remote,
                mode,
                owner,
                sudo,
                ..
            } => {
                let (action, mut args) = match source {
                    Source::File(path) => (
                        "ssh::upload",
                        json!({ "local": path.display().to_string(), "remote": remote }),
                    ),
                    Source::Text(text) => (
                        "ssh::write",
                        json!({ "remote": remote, "bytes": text.len() }),
                    ),
                };
                for (key, value) in [("mode", mode), ("owner", owner), ("sudo", sudo)] {
                    if let Some(value) = value {
                        args[key] = json!(value);
                    }
                }
                (action, args)
            }
        }
    }

    /// The runbook's view of an outcome: a Result, or an error unless `warn`.
    pub async fn finish(
        &self,
        ctx: &Context,
        spec: &HostSpec,
        outcome: Result<CmdResult, Failure>,
    ) -> RhaiResult<CmdResult> {
        let name = &spec.request.name;
        match outcome {
            Ok(result) if result.ok || self.warn => Ok(result),
            Ok(result) => Err(self.failure(ctx, spec, &result).await.into()),
            Err(reason) if self.warn => Ok(unreachable_result(
                name,
                &self.describe(),
                &reason.to_string(),
            )),
            Err(reason) => Err(reason.into()),
        }
    }
}

/// The Result standing for a host that could not be reached (`warn: true`).
pub fn unreachable_result(name: &str, command: &str, reason: &str) -> CmdResult {
    CmdResult::new(name, command, -1, String::new(), format!("{reason}\n"))
}

/// `sudo: true` (root), `sudo: "user"`, or no sudo.
pub fn sudo_user(opts: &Options) -> RhaiResult<Option<String>> {
    let Some(value) = opts.value("sudo") else {
        return Ok(None);
    };
    if let Ok(yes) = value.as_bool() {
        return Ok(yes.then(|| "root".to_string()));
    }
    if value.is_string() {
        let user = value.to_string();
        remote_script::check_account("sudo user", &user).map_err(runtime_error)?;
        return Ok(Some(user));
    }
    Err(runtime_error(
        "option `sudo` must be true, false or a user name",
    ))
}

/// Unique enough for temporary file names on a host.
fn token() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{:x}{:x}{:x}",
        std::process::id(),
        nanos & 0xffff_ffff_ffff,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_takes_the_run_options_and_a_user() {
        assert_eq!(SUDO_OPTIONS.first(), Some(&"user"));
        assert_eq!(SUDO_OPTIONS.get(1..), Some(RUN_OPTIONS));
    }
}
