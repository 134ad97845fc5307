//! `ssh::connect` and the Host type: commands, sudo and files on one host.

pub mod group;
pub mod remote;
pub mod remote_script;
pub mod session;
pub mod target;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rhai::{Dynamic, Engine, Map, Module};
use serde::Serialize;

use crate::command::{CAPTURE_LIMIT, COMMAND_OPTIONS, CmdResult, HOST_PLACEHOLDER, stdout_path};
use crate::core::api::{func, func_with_options};
use crate::core::context::Context;
use crate::core::options::{Options, RhaiResult, runtime_error};
use crate::core::quote::check_no_nul;
use crate::ssh::remote::{Capture, Input, Job, Stdout};
use crate::ssh::session::{ConnectRequest, HostSpec};
use crate::ssh::target::{Prefer, check_word, ssh_target};

/// How to connect: options of `ssh::connect` and `ssh::group`.
pub const CONNECT_OPTIONS: &[&str] = &[
    "user",
    "port",
    "key",
    "jump",
    "address",
    "strict_host_keys",
    "connect_timeout",
];
pub const RUN_OPTIONS: &[&str] = COMMAND_OPTIONS;
/// RUN_OPTIONS and the user to run as (a test keeps the two in step).
pub const SUDO_OPTIONS: &[&str] = &[
    "user",
    "warn",
    "timeout",
    "env",
    "cwd",
    "stdin",
    "quiet",
    "stdout_to",
    "read",
];
pub const FILE_OPTIONS: &[&str] = &["mode", "owner", "sudo", "warn", "timeout"];
const READ_OPTIONS: &[&str] = &["sudo"];

/// A connected host. Its connection is the run's shared master for
/// user@address:port, reopened if it died.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    pub address: String,
    pub user: String,
    pub port: u16,
    #[serde(skip)]
    pub spec: Arc<HostSpec>,
}

impl Host {
    pub fn new(spec: Arc<HostSpec>) -> Self {
        let resolved = spec.resolved.as_ref();
        Self {
            name: spec.request.name.clone(),
            address: resolved
                .map_or_else(|| spec.request.destination.clone(), |r| r.hostname.clone()),
            user: resolved.map(|r| r.user.clone()).unwrap_or_default(),
            port: resolved.map_or(22, |r| r.port),
            spec,
        }
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}@{}:{})",
            self.name, self.user, self.address, self.port
        )
    }
}

impl crate::core::output::Record for Host {
    fn row(&self) -> Vec<(&'static str, String)> {
        vec![
            ("name", self.name.clone()),
            ("address", self.address.clone()),
            ("user", self.user.clone()),
            ("port", self.port.to_string()),
        ]
    }
}

/// Connection options with opsh.toml's `[ssh]` defaults applied.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    user: Option<String>,
    port: Option<u16>,
    key: Option<PathBuf>,
    jump: Option<String>,
    prefer: Prefer,
    strict: bool,
    timeout: Duration,
    /// Any option was given (a Host passed as a target is then re-resolved).
    given: bool,
}

impl ConnectOptions {
    pub fn parse(ctx: &Context, opts: &Options) -> RhaiResult<Self> {
        let settings = &ctx.settings.ssh;
        let user = opts.string("user")?;
        if let Some(user) = &user {
            check_word("user", user).map_err(runtime_error)?;
        }
        let port = match opts.value("port") {
            None => None,
            Some(v) => Some(
                v.as_int()
                    .ok()
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p > 0)
                    .ok_or_else(|| {
                        runtime_error("option `port` must be a port number (1-65535)")
                    })?,
            ),
        };
        let key = match opts.string("key")? {
            Some(key) => Some(PathBuf::from(key)),
            None => settings.key.clone(),
        };
        if let Some(key) = &key {
            check_word("key", &key.to_string_lossy()).map_err(runtime_error)?;
            if !key.is_file() {
                return Err(runtime_error(format!(
                    "key file {} not found",
                    key.display()
                )));
            }
        }
        let jump = opts.string("jump")?;
        if let Some(jump) = &jump {
            for hop in jump.split(',') {
                check_word("jump host", hop).map_err(runtime_error)?;
            }
        }
        let timeout = opts
            .seconds("connect_timeout")?
            .unwrap_or(Duration::from_secs(settings.connect_timeout_secs.max(1)));
        Ok(Self {
            user: user.or_else(|| settings.user.clone()),
            port,
            key,
            jump,
            prefer: Prefer::parse(opts.string("address")?.as_deref())?,
            strict: opts
                .bool("strict_host_keys")?
                .unwrap_or(settings.strict_host_keys),
            timeout,
            given: CONNECT_OPTIONS.iter().any(|k| opts.value(k).is_some()),
        })
    }
}

/// What to connect to for `target`: a name, a Host, or a machine with addresses.
pub fn request(target: &Dynamic, co: &ConnectOptions) -> RhaiResult<ConnectRequest> {
    if let Some(host) = target.read_lock::<Host>()
        && !co.given
    {
        return Ok(host.spec.request.clone());
    }
    let (destination, name) = if target.is_string() {
        let name = target.to_string();
        (name.clone(), name)
    } else if let Some(host) = target.read_lock::<Host>() {
        (host.spec.request.destination.clone(), host.name.clone())
    } else if let Some(addresses) = ssh_target(target) {
        match (addresses.pick(co.prefer), addresses.id.as_deref()) {
            (Ok(picked), _) => picked,
            // A dry run's placeholder instance has no address yet: it is
            // named by its id, and nothing ever connects to it.
            (Err(_), Some(id)) if is_planned(id) => (id.to_string(), id.to_string()),
            (Err(e), _) => return Err(e),
        }
    } else {
        return Err(runtime_error(format!(
            "an SSH target is a host name, an address, an ssh_config alias, a Host or an instance, not {}",
            target.type_name()
        )));
    };
    check_word("destination", &destination).map_err(runtime_error)?;
    Ok(ConnectRequest {
        name,
        destination,
        user: co.user.clone(),
        port: co.port,
        key: co.key.clone(),
        jump: co.jump.clone(),
        strict: co.strict,
        connect_timeout: co.timeout,
    })
}

/// Something to do on a host: the same for one Host and for a Group.
pub enum Action {
    Run {
        /// The runbook's command, as the Result shows it.
        cmd: String,
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
    pub fn run(function: &str, cmd: &str, map: Map) -> RhaiResult<Self> {
        let opts = Options::new(function, map, RUN_OPTIONS)?;
        Self::command(&opts, cmd, None)
    }

    pub fn sudo(function: &str, cmd: &str, map: Map) -> RhaiResult<Self> {
        let opts = Options::new(function, map, SUDO_OPTIONS)?;
        let user = opts.string("user")?.unwrap_or_else(|| "root".into());
        remote_script::check_account("sudo user", &user).map_err(runtime_error)?;
        Self::command(&opts, cmd, Some(user))
    }

    fn command(opts: &Options, cmd: &str, sudo: Option<String>) -> RhaiResult<Self> {
        let env = opts.string_map("env")?;
        let cwd = opts.string("cwd")?;
        let stdin = opts.string("stdin")?;
        let prepared = remote_script::command(cmd, &env, cwd.as_deref(), stdin.as_deref())
            .map_err(runtime_error)?;
        let script = match &sudo {
            Some(user) => remote_script::sudo(user, &prepared.script),
            None => prepared.script,
        };
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

    pub fn install(function: &str, source: Source, remote: &str, map: Map) -> RhaiResult<Self> {
        let opts = Options::new(function, map, FILE_OPTIONS)?;
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
                sudo: sudo_user(&opts)?,
                timeout: opts.seconds("timeout")?,
            },
            warn: opts.bool("warn")?.unwrap_or(false),
        };
        // Refuse a bad path, mode or owner before anything runs.
        task.install_script(0, "check")?;
        Ok(task)
    }

    fn install_script(&self, size: u64, token: &str) -> RhaiResult<String> {
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
    pub async fn failure(&self, ctx: &Context, spec: &HostSpec, result: &CmdResult) -> String {
        let sudo = match &self.action {
            Action::Run { sudo, .. } | Action::Install { sudo, .. } => sudo,
        };
        match sudo {
            Some(user) if remote_script::sudo_wants_password(&result.stderr) => format!(
                "sudo on {} wants a password for `{}`: opsh runs sudo without a terminal (sudo -n) so it never hangs on a prompt\n\
                 hint: allow the login user passwordless sudo for this, e.g. `{} ALL=({user}) NOPASSWD: ALL` in /etc/sudoers.d/",
                result.host,
                self.describe(),
                ctx.ssh.login_user(spec).await,
            ),
            _ => result.failure_message(),
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
    ) -> Result<CmdResult, String> {
        let name = spec.request.name.as_str();
        let (action, args) = self.journal_entry();
        // The journal's error stops the run: `check` after this call says so.
        let read = matches!(self.action, Action::Run { read: true, .. });
        let entry = if read {
            ctx.read(action, name, args)
        } else {
            ctx.act(action, name, args)
        }
        .map_err(|e| e.to_string())?;
        let planned = is_planned(name);
        if entry.dry_run() || (planned && ctx.settings.dry_run) {
            // A dry run still connects to real hosts, so an unreachable one
            // shows up in the plan run; a planned one has nothing to reach,
            // so even a read there has only a placeholder to give.
            if !planned {
                ctx.ssh.master(spec).await.map_err(|e| e.to_string())?;
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
            return Err(format!("{name} exists only in a dry run's plan"));
        }
        let done = match self.job(ctx, spec, capture_limit).await {
            Ok(job) => remote::exec(&ctx.ssh, spec, job, &ctx.output).await,
            Err(reason) => Err(reason),
        };
        let done = match done {
            Ok(done) => done,
            Err(reason) => {
                entry.failed(&reason);
                return Err(reason);
            }
        };
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
    ) -> Result<Job<'a>, String> {
        let name = spec.request.name.as_str();
        match &self.action {
            Action::Run {
                cmd,
                script,
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
                        ctx.ssh.master(spec).await.map_err(|e| e.to_string())?;
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
                Ok(Job {
                    origin: name,
                    script: script.clone(),
                    input: stdin
                        .as_ref()
                        .map_or(Input::Null, |s| Input::Bytes(s.clone())),
                    capture,
                    quiet_stderr: *quiet,
                    timeout: *timeout,
                    capture_limit,
                })
            }
            Action::Install {
                source, timeout, ..
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
                let script = self
                    .install_script(size, &token())
                    .map_err(|e| e.to_string())?;
                tracing::info!(host = name, what = %ctx.output.redact(&self.describe()), "install");
                Ok(Job {
                    origin: name,
                    script,
                    input,
                    capture: Capture::Lines { quiet: true },
                    quiet_stderr: true,
                    timeout: *timeout,
                    capture_limit,
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
        outcome: Result<CmdResult, String>,
    ) -> RhaiResult<CmdResult> {
        let name = &spec.request.name;
        match outcome {
            Ok(result) if result.ok || self.warn => Ok(result),
            Ok(result) => Err(runtime_error(self.failure(ctx, spec, &result).await)),
            Err(reason) if self.warn => Ok(unreachable_result(name, &self.describe(), &reason)),
            Err(reason) => Err(runtime_error(reason)),
        }
    }
}

/// The Result standing for a host that could not be reached (`warn: true`).
pub fn unreachable_result(name: &str, command: &str, reason: &str) -> CmdResult {
    CmdResult::new(name, command, -1, String::new(), format!("{reason}\n"))
}

/// `sudo: true` (root), `sudo: "user"`, or no sudo.
fn sudo_user(opts: &Options) -> RhaiResult<Option<String>> {
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

fn connect(ctx: &Context, target: Dynamic, opts: &Options) -> RhaiResult<Host> {
    let co = ConnectOptions::parse(ctx, opts)?;
    let request = request(&target, &co)?;
    let planned = is_planned(&request.name);
    let spec = ctx
        .runtime
        .block_on(async {
            if planned {
                ctx.ssh.spec(request).await
            } else {
                ctx.ssh.connect(request).await
            }
        })?
        .map_err(|e| runtime_error(e.to_string()))?;
    Ok(Host::new(spec))
}

/// A host that exists only in a dry run's plan (an instance it would
/// launch): commands on it are planned, reads find nothing.
fn is_planned(name: &str) -> bool {
    crate::aws::ec2::call::is_planned(name)
}

fn on_host(ctx: &Context, host: &Host, task: RhaiResult<Task>) -> RhaiResult<CmdResult> {
    let task = task?;
    ctx.runtime.block_on(async {
        let outcome = task.perform(ctx, &host.spec, CAPTURE_LIMIT).await;
        ctx.journal.check()?;
        task.finish(ctx, &host.spec, outcome).await
    })?
}

/// Read or fetch a remote file's bytes, into memory or a local file.
async fn fetch(
    ctx: &Context,
    host: &Host,
    remote: &str,
    sudo: Option<&str>,
    capture: Capture,
) -> Result<Vec<u8>, String> {
    if is_planned(&host.name) {
        return Ok(Vec::new());
    }
    let job = Job {
        origin: &host.name,
        script: remote_script::cat(remote, sudo)?,
        input: Input::Null,
        capture,
        quiet_stderr: true,
        timeout: None,
        capture_limit: CAPTURE_LIMIT,
    };
    let done = remote::exec(&ctx.ssh, &host.spec, job, &ctx.output).await?;
    if let Stdout::TooLarge = done.stdout {
        return Err(format!(
            "read: {}:{remote} is larger than {}, the most read() returns; \
             copy it to a local file with download({remote:?}, LOCAL_PATH) instead",
            host.name,
            crate::command::size(u64::try_from(remote::READ_LIMIT).unwrap_or(u64::MAX)),
        ));
    }
    if done.code != 0 {
        return Err(format!(
            "cannot read {}:{remote} (exit code {}): {}",
            host.name,
            done.code,
            done.stderr.text.trim()
        ));
    }
    Ok(match done.stdout {
        Stdout::Bytes(bytes) => bytes,
        Stdout::Lines(captured) => captured.text.into_bytes(),
        Stdout::TooLarge | Stdout::NotKept => Vec::new(),
    })
}

fn read(ctx: &Context, host: &Host, remote: &str, opts: &Options) -> RhaiResult<String> {
    let sudo = sudo_user(opts)?;
    let bytes = ctx
        .runtime
        .block_on(async { fetch(ctx, host, remote, sudo.as_deref(), Capture::Bytes).await })?
        .map_err(runtime_error)?;
    // No copy of a large file when it is valid UTF-8.
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Stream a remote file to a temporary file beside `local`, then rename it
/// into place: `local` is never left half-written.
fn download(
    ctx: &Context,
    host: &Host,
    remote: &str,
    local: &str,
    opts: &Options,
) -> RhaiResult<()> {
    let sudo = sudo_user(opts)?;
    check_no_nul("the local path", local).map_err(runtime_error)?;
    let mut local = PathBuf::from(local);
    if local.is_dir() {
        let base = Path::new(remote)
            .file_name()
            .ok_or_else(|| runtime_error(format!("download: {remote} does not name a file")))?;
        local = local.join(base);
    }
    let dir = match local.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let fail = |e: std::io::Error| {
        runtime_error(format!("download: cannot write in {}: {e}", dir.display()))
    };
    let tmp = tempfile::Builder::new()
        .prefix(".opsh-download-")
        .tempfile_in(&dir)
        .map_err(fail)?;
    let capture = Capture::File {
        file: tokio::fs::File::from_std(tmp.reopen().map_err(fail)?),
        name: local.display().to_string(),
    };
    ctx.runtime
        .block_on(async { fetch(ctx, host, remote, sudo.as_deref(), capture).await })?
        .map_err(runtime_error)?;
    tmp.persist(&local).map_err(|e| {
        runtime_error(format!(
            "download: cannot move the file to {}: {}",
            local.display(),
            e.error
        ))
    })?;
    Ok(())
}

fn exists(ctx: &Context, host: &Host, path: &str) -> RhaiResult<bool> {
    if is_planned(&host.name) {
        return Ok(false);
    }
    let script = remote_script::exists(path).map_err(runtime_error)?;
    let done = ctx.runtime.block_on(async {
        let job = Job {
            origin: &host.name,
            script,
            input: Input::Null,
            capture: Capture::Bytes,
            quiet_stderr: true,
            timeout: None,
            capture_limit: CAPTURE_LIMIT,
        };
        remote::exec(&ctx.ssh, &host.spec, job, &ctx.output).await
    })?;
    match done.map_err(runtime_error)? {
        d if d.code == 0 => Ok(true),
        d if d.code == 1 => Ok(false),
        d => Err(runtime_error(format!(
            "exists: cannot check {}:{path} (exit code {}): {}",
            host.name,
            d.code,
            d.stderr.text.trim()
        ))),
    }
}

/// An interactive terminal session through the host's master.
fn shell(ctx: &Context, host: &Host) -> RhaiResult<()> {
    if !ctx.terminal {
        return Err(runtime_error(
            "shell() needs a terminal: call it from `opsh repl` or a runbook run in a terminal",
        ));
    }
    let master = ctx
        .runtime
        .block_on(async { ctx.ssh.master(&host.spec).await })?
        .map_err(|e| runtime_error(e.to_string()))?;
    let mut cmd = std::process::Command::new("ssh");
    cmd.arg("-S")
        .arg(master.session.control_socket())
        .args(["-o", "ControlMaster=no", "-t"]);
    if let Some(config) = ctx.ssh.config() {
        cmd.arg("-F").arg(config);
    }
    cmd.arg("-l")
        .arg(&host.user)
        .arg("-p")
        .arg(host.port.to_string())
        .arg(&host.spec.request.destination);
    let status = cmd
        .status()
        .map_err(|e| runtime_error(format!("cannot start ssh: {e}")))?;
    tracing::info!(host = %host.name, %status, "shell ended");
    Ok(())
}

pub fn register(engine: &mut Engine, ctx: &Arc<Context>) {
    engine
        .register_type_with_name::<Host>("Host")
        .register_get("name", |h: &mut Host| h.name.clone())
        .register_get("address", |h: &mut Host| h.address.clone())
        .register_get("user", |h: &mut Host| h.user.clone())
        .register_get("port", |h: &mut Host| h.port as rhai::INT)
        .register_fn("to_string", |h: &mut Host| h.to_string())
        .register_fn("to_debug", |h: &mut Host| format!("Host({h})"));
    engine.register_static_module("ssh", module(ctx).into());
    register_commands(engine, ctx);
    register_files(engine, ctx);
    crate::ssh::group::register(engine, ctx);
}

fn module(ctx: &Arc<Context>) -> Module {
    let mut module = Module::new();
    let doc = "Connect to `target` and return a Host. The target is an address, a DNS name, an ssh_config alias,\n\
        a Host, or an instance (anything with public_ip/private_ip/public_dns/private_dns, e.g. an ec2 Instance).\n\
        Options: user, port, key (private key file), jump (ProxyJump hosts, comma-separated),\n\
        address (\"public\" or \"private\": which address of an instance), strict_host_keys (refuse hosts\n\
        not in known_hosts; default: new hosts are added, changed keys always refused), connect_timeout (seconds).\n\
        ssh_config (--ssh-config, or ~/.ssh/config) and ssh-agent apply; opsh.toml [ssh] user/key are defaults.\n\
        One connection per user@host:port is shared by every later call of the run.\n\
        Example: let web = ssh::connect(\"web-1\", #{ user: \"deploy\" });";
    let c = ctx.clone();
    func("connect", &["target: Dynamic", "Host"], doc)
        .set_into_module(&mut module, move |target: Dynamic| {
            connect(&c, target, &Options::empty("ssh::connect"))
        });
    let c = ctx.clone();
    func_with_options(
        "connect",
        &["target: Dynamic", "options: Map", "Host"],
        CONNECT_OPTIONS,
        doc,
    )
    .set_into_module(&mut module, move |target: Dynamic, opts: Map| {
        connect(
            &c,
            target,
            &Options::new("ssh::connect", opts, CONNECT_OPTIONS)?,
        )
    });
    crate::ssh::group::register_constructor(&mut module, ctx);
    module
}

fn register_commands(engine: &mut Engine, ctx: &Arc<Context>) {
    let run_doc = "Run `cmd` on the host with `sh -c`; output streams live, each line prefixed with the host name.\n\
        Options: warn (return the Result instead of throwing on a non-zero exit), timeout (seconds; the\n\
        remote command is stopped too, exit code 124), env (#{ NAME: value }), cwd, stdin (text), quiet,\n\
        stdout_to (a local file that gets all of stdout, instead of the Result and the stream; {host} in\n\
        the path is replaced by the host's name), read (true: the command changes nothing, so a dry run\n\
        runs it too and its plan shows it as a read, unless stdout_to writes a file; otherwise a dry run\n\
        plans it and its Result's stdout is \"<planned>\", as on a host the plan would launch).\n\
        Returns a Result {host, command, code, stdout, stderr, ok, truncated}. A Result keeps the first\n\
        16 MiB of stdout and of stderr; truncated is true (and a warning says so) when more was printed.\n\
        Example: web.run(\"systemctl is-active nginx\", #{ warn: true })";
    let c = ctx.clone();
    func("run", &["host: Host", "cmd: String", "Result"], run_doc)
        .register_into_engine(engine, move |host: &mut Host, cmd: &str| {
            on_host(&c, host, Task::run("run", cmd, Map::new()))
        });
    let c = ctx.clone();
    func_with_options(
        "run",
        &["host: Host", "cmd: String", "options: Map", "Result"],
        RUN_OPTIONS,
        run_doc,
    )
    .register_into_engine(engine, move |host: &mut Host, cmd: &str, opts: Map| {
        on_host(&c, host, Task::run("run", cmd, opts))
    });

    let sudo_doc = "Run `cmd` as root (or option `user`) with `sudo -n -u USER -- sh -c cmd`. sudo never prompts:\n\
        a host where sudo wants a password is an error that says so (allow NOPASSWD for the login user).\n\
        Options: user, warn, timeout, env, cwd, stdin, quiet, stdout_to, read (as for run; a read that\n\
        needs privileges, e.g. psql as postgres, is a read too).\n\
        Example: db.sudo(\"createdb shop\", #{ user: \"postgres\" })";
    let c = ctx.clone();
    func("sudo", &["host: Host", "cmd: String", "Result"], sudo_doc)
        .register_into_engine(engine, move |host: &mut Host, cmd: &str| {
            on_host(&c, host, Task::sudo("sudo", cmd, Map::new()))
        });
    let c = ctx.clone();
    func_with_options(
        "sudo",
        &["host: Host", "cmd: String", "options: Map", "Result"],
        SUDO_OPTIONS,
        sudo_doc,
    )
    .register_into_engine(engine, move |host: &mut Host, cmd: &str, opts: Map| {
        on_host(&c, host, Task::sudo("sudo", cmd, opts))
    });

    let c = ctx.clone();
    func(
        "shell",
        &["host: Host", "()"],
        "An interactive terminal session on the host, over its shared connection (needs a terminal).\n\
         Example (REPL): ssh::connect(\"web-1\").shell()",
    )
    .register_into_engine(engine, move |host: &mut Host| shell(&c, host));
}

fn register_files(engine: &mut Engine, ctx: &Arc<Context>) {
    let upload_doc = "Copy the local file `local` to `remote` on the host, streamed (any size, binary-safe).\n\
        The file is written beside `remote`, checked for size, given its mode/owner, then renamed over\n\
        `remote`: a failed transfer leaves the old file. Without `mode`, a replaced file keeps its mode.\n\
        Options: mode (\"0644\"), owner (\"user\" or \"user:group\"), sudo (true, or a user: install as\n\
        that user, staging the data in /tmp), warn, timeout.\n\
        Example: web.upload(\"files/nginx.conf\", \"/etc/nginx/nginx.conf\", #{ sudo: true, mode: \"0644\" })";
    let c = ctx.clone();
    func(
        "upload",
        &["host: Host", "local: String", "remote: String", "Result"],
        upload_doc,
    )
    .register_into_engine(engine, move |host: &mut Host, local: &str, remote: &str| {
        let source = Source::File(PathBuf::from(local));
        on_host(
            &c,
            host,
            Task::install("upload", source, remote, Map::new()),
        )
    });
    let c = ctx.clone();
    func_with_options(
        "upload",
        &[
            "host: Host",
            "local: String",
            "remote: String",
            "options: Map",
            "Result",
        ],
        FILE_OPTIONS,
        upload_doc,
    )
    .register_into_engine(
        engine,
        move |host: &mut Host, local: &str, remote: &str, opts: Map| {
            let source = Source::File(PathBuf::from(local));
            on_host(&c, host, Task::install("upload", source, remote, opts))
        },
    );

    let write_doc = "Write `text` to the file `remote` on the host, atomically (as upload).\n\
        Options: mode, owner, sudo, warn, timeout.\n\
        Example: db.write(\"/etc/app/env\", `DB=${name}\\n`, #{ mode: \"0600\", sudo: true })";
    let c = ctx.clone();
    func(
        "write",
        &["host: Host", "remote: String", "text: String", "Result"],
        write_doc,
    )
    .register_into_engine(engine, move |host: &mut Host, remote: &str, text: &str| {
        let source = Source::Text(text.to_string());
        on_host(&c, host, Task::install("write", source, remote, Map::new()))
    });
    let c = ctx.clone();
    func_with_options(
        "write",
        &[
            "host: Host",
            "remote: String",
            "text: String",
            "options: Map",
            "Result",
        ],
        FILE_OPTIONS,
        write_doc,
    )
    .register_into_engine(
        engine,
        move |host: &mut Host, remote: &str, text: &str, opts: Map| {
            let source = Source::Text(text.to_string());
            on_host(&c, host, Task::install("write", source, remote, opts))
        },
    );

    let download_doc = "Copy the file `remote` from the host to `local` (a file, or a directory to put it in).\n\
        Streamed to a temporary file beside `local`, renamed into place when complete.\n\
        Options: sudo (true, or a user: read the file as that user).\n\
        Example: db.download(\"/var/backups/shop.sql\", \"backups/\")";
    let c = ctx.clone();
    func(
        "download",
        &["host: Host", "remote: String", "local: String", "()"],
        download_doc,
    )
    .register_into_engine(engine, move |host: &mut Host, remote: &str, local: &str| {
        download(&c, host, remote, local, &Options::empty("download"))
    });
    let c = ctx.clone();
    func_with_options(
        "download",
        &[
            "host: Host",
            "remote: String",
            "local: String",
            "options: Map",
            "()",
        ],
        READ_OPTIONS,
        download_doc,
    )
    .register_into_engine(
        engine,
        move |host: &mut Host, remote: &str, local: &str, opts: Map| {
            download(
                &c,
                host,
                remote,
                local,
                &Options::new("download", opts, READ_OPTIONS)?,
            )
        },
    );

    let read_doc = "The contents of the file `remote` on the host, as a string; a file over 16 MiB is an\n\
        error (copy it with download instead).\n\
        Options: sudo (true, or a user).\n\
        Example: let version = web.read(\"/srv/app/VERSION\");";
    let c = ctx.clone();
    func(
        "read",
        &["host: Host", "remote: String", "String"],
        read_doc,
    )
    .register_into_engine(engine, move |host: &mut Host, remote: &str| {
        read(&c, host, remote, &Options::empty("read"))
    });
    let c = ctx.clone();
    func_with_options(
        "read",
        &["host: Host", "remote: String", "options: Map", "String"],
        READ_OPTIONS,
        read_doc,
    )
    .register_into_engine(engine, move |host: &mut Host, remote: &str, opts: Map| {
        read(&c, host, remote, &Options::new("read", opts, READ_OPTIONS)?)
    });

    let c = ctx.clone();
    func(
        "exists",
        &["host: Host", "path: String", "bool"],
        "Whether `path` exists on the host (a file, directory or symlink).\n\
         Example: if !web.exists(\"/srv/app/current\") { ... }",
    )
    .register_into_engine(engine, move |host: &mut Host, path: &str| {
        exists(&c, host, path)
    });
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
