//! The Host type `ssh::connect` returns: commands, sudo and files on one host.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::Engine;

use crate::command::{CAPTURE_LIMIT, CmdResult};
use crate::core::api::{self, Functions};
use crate::core::context::Context;
use crate::core::failure::Failure;
use crate::core::options::{Options, RhaiResult, runtime_error};
use crate::core::planned::is_planned;
use crate::core::quote::check_no_nul;
use crate::core::record::record;
use crate::ssh::remote::{self, Capture, Input, Job, Stdout};
use crate::ssh::remote_script;
use crate::ssh::session::{HostSpec, pool};
use crate::ssh::task::{FILE_OPTIONS, RUN_OPTIONS, SUDO_OPTIONS, Source, Task, sudo_user};

const READ_OPTIONS: &[&str] = &["sudo"];

record! {
    /// A connected host. Its connection is the run's shared master for
    /// user@address:port, reopened if it died.
    pub struct Host as "Host" {
        /// What it was connected as: a name from ssh_config, an address, or an instance's.
        pub name: String,
        /// The address ssh dials, after ssh_config.
        pub address: String,
        /// The remote user.
        pub user: String,
        /// The SSH port.
        pub port: u16,
    }
    hidden {
        pub spec: Arc<HostSpec>,
    }
    row(h) [
        "name" => h.name.clone(),
        "address" => h.address.clone(),
        "user" => h.user.clone(),
        "port" => h.port.to_string(),
    ]
    debug(h) => format!("Host({h})");
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
) -> Result<Vec<u8>, Failure> {
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
        sudo_password: None,
    };
    let done = remote::exec(&pool(ctx), &host.spec, job, &ctx.output).await?;
    if let Stdout::TooLarge = done.stdout {
        return Err(format!(
            "read: {}:{remote} is larger than {}, the most read() returns; \
             copy it to a local file with download({remote:?}, LOCAL_PATH) instead",
            host.name,
            crate::core::output::size(u64::try_from(remote::READ_LIMIT).unwrap_or(u64::MAX)),
        )
        .into());
    }
    if done.code != 0 {
        return Err(format!(
            "cannot read {}:{remote} (exit code {}): {}",
            host.name,
            done.code,
            done.stderr.text.trim()
        )
        .into());
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
        .block_on(async { fetch(ctx, host, remote, sudo.as_deref(), Capture::Bytes).await })??;
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
        .block_on(async { fetch(ctx, host, remote, sudo.as_deref(), capture).await })??;
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
            sudo_password: None,
        };
        remote::exec(&pool(ctx), &host.spec, job, &ctx.output).await
    })?;
    match done? {
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
        .block_on(async { pool(ctx).master(&host.spec).await })?
        .map_err(Failure::from)?;
    let mut cmd = std::process::Command::new("ssh");
    cmd.env_remove(crate::core::settings::SUDO_PASSWORD_ENV)
        .arg("-S")
        .arg(master.session.control_socket())
        .args(["-o", "ControlMaster=no", "-t"]);
    if let Some(config) = pool(ctx).config() {
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
    ctx.add_record::<Host>(engine);
    let mut methods = api::global(engine, ctx);
    register_commands(&mut methods);
    register_files(&mut methods);
}

fn register_commands(host: &mut Functions) {
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
    host.add("run", &["host: Host", "cmd: String", "Result"], run_doc)
        .options(
            RUN_OPTIONS,
            |c: &Context, h: &mut Host, cmd: &str, opts: Options| {
                on_host(c, h, Task::run(cmd, &opts))
            },
        );

    let sudo_doc = "Run `cmd` as root (or option `user`) with `sudo -n -u USER -- sh -c cmd`. sudo never prompts:\n\
        a host where sudo wants a password is an error that says so (allow NOPASSWD for the login user).\n\
        With a sudo password (--ask-sudo-password, OPSH_SUDO_PASSWORD, or option sudo_password of\n\
        ssh::connect / ssh::group / ssh::rollout) it is `sudo -S` with opsh's own prompt: the password goes\n\
        on stdin when sudo asks, never on a command line; a wrong one fails at once with\n\
        \"sudo on HOST: incorrect password\".\n\
        Options: user, warn, timeout, env, cwd, stdin, quiet, stdout_to, read (as for run; a read that\n\
        needs privileges, e.g. psql as postgres, is a read too).\n\
        Example: db.sudo(\"createdb shop\", #{ user: \"postgres\" })";
    host.add("sudo", &["host: Host", "cmd: String", "Result"], sudo_doc)
        .options(
            SUDO_OPTIONS,
            |c: &Context, h: &mut Host, cmd: &str, opts: Options| {
                on_host(c, h, Task::sudo(cmd, &opts))
            },
        );

    host.add(
        "shell",
        &["host: Host", "()"],
        "An interactive terminal session on the host, over its shared connection (needs a terminal).\n\
         Example (REPL): ssh::connect(\"web-1\").shell()",
    )
    .native(|c: &Context, h: &mut Host| shell(c, h));
}

fn register_files(host: &mut Functions) {
    let upload_doc = "Copy the local file `local` to `remote` on the host, streamed (any size, binary-safe).\n\
        The file is written beside `remote`, checked for size, given its mode/owner, then renamed over\n\
        `remote`: a failed transfer leaves the old file. Without `mode`, a replaced file keeps its mode.\n\
        Options: mode (\"0644\"), owner (\"user\" or \"user:group\"), sudo (true, or a user: install as\n\
        that user, staging the data in /tmp; with a sudo password, the whole install runs under sudo -S),\n\
        warn, timeout.\n\
        Example: web.upload(\"files/nginx.conf\", \"/etc/nginx/nginx.conf\", #{ sudo: true, mode: \"0644\" })";
    host.add(
        "upload",
        &["host: Host", "local: String", "remote: String", "Result"],
        upload_doc,
    )
    .options(
        FILE_OPTIONS,
        |c: &Context, h: &mut Host, local: &str, remote: &str, opts: Options| {
            let source = Source::File(PathBuf::from(local));
            on_host(c, h, Task::install(source, remote, &opts))
        },
    );

    let write_doc = "Write `text` to the file `remote` on the host, atomically (as upload).\n\
        Options: mode, owner, sudo, warn, timeout.\n\
        Example: db.write(\"/etc/app/env\", `DB=${name}\\n`, #{ mode: \"0600\", sudo: true })";
    host.add(
        "write",
        &["host: Host", "remote: String", "text: String", "Result"],
        write_doc,
    )
    .options(
        FILE_OPTIONS,
        |c: &Context, h: &mut Host, remote: &str, text: &str, opts: Options| {
            let source = Source::Text(text.to_string());
            on_host(c, h, Task::install(source, remote, &opts))
        },
    );

    let download_doc = "Copy the file `remote` from the host to `local` (a file, or a directory to put it in).\n\
        Streamed to a temporary file beside `local`, renamed into place when complete.\n\
        Options: sudo (true, or a user: read the file as that user).\n\
        Example: db.download(\"/var/backups/shop.sql\", \"backups/\")";
    host.add(
        "download",
        &["host: Host", "remote: String", "local: String", "()"],
        download_doc,
    )
    .options(
        READ_OPTIONS,
        |c: &Context, h: &mut Host, remote: &str, local: &str, opts: Options| {
            download(c, h, remote, local, &opts)
        },
    );

    let read_doc = "The contents of the file `remote` on the host, as a string; a file over 16 MiB is an\n\
        error (copy it with download instead).\n\
        Options: sudo (true, or a user).\n\
        Example: let version = web.read(\"/srv/app/VERSION\");";
    host.add(
        "read",
        &["host: Host", "remote: String", "String"],
        read_doc,
    )
    .options(
        READ_OPTIONS,
        |c: &Context, h: &mut Host, remote: &str, opts: Options| read(c, h, remote, &opts),
    );

    host.add(
        "exists",
        &["host: Host", "path: String", "bool"],
        "Whether `path` exists on the host (a file, directory or symlink).\n\
         Example: if !web.exists(\"/srv/app/current\") { ... }",
    )
    .native(|c: &Context, h: &mut Host, path: &str| exists(c, h, path));
}
