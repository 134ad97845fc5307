//! `local::run`: a command on this machine, through `sh -c`.

use std::process::Stdio;
use std::time::Duration;

use rhai::Engine;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::command::stream::{Captured, Live, Stream, pump};
use crate::command::{CAPTURE_LIMIT, COMMAND_OPTIONS, CmdResult, stdout_path};
use crate::core::api;
use crate::core::context::Context;
use crate::core::options::{Options, RhaiResult, runtime_error};
use crate::core::quote::check_no_nul;

const ORIGIN: &str = "local";
const OPTIONS: &[&str] = COMMAND_OPTIONS;
/// Exit code reported for a command stopped by its timeout, as timeout(1).
const TIMED_OUT: i64 = 124;

/// `local::`.
pub fn register(engine: &mut Engine, ctx: &std::sync::Arc<Context>) {
    api::module(engine, ctx, "local", |local| {
        let doc = "Run `cmd` with `sh -c` on this machine; output streams live, prefixed `local |`.\n\
            Options: warn (return the Result instead of throwing on a non-zero exit), timeout (seconds),\n\
            env (#{ NAME: value }), cwd, stdin (text fed to the command), quiet (do not stream),\n\
            stdout_to (a local file that gets all of stdout, instead of the Result and the stream; relative\n\
            to where opsh runs), read (true: the command changes nothing, so a dry run runs it too and its\n\
            plan shows it as a read, unless stdout_to writes a file; otherwise a dry run plans it and its Result's stdout is \"<planned>\").\n\
            Returns a Result {host, command, code, stdout, stderr, ok, truncated}. A Result keeps the first\n\
            16 MiB of stdout and of stderr; truncated is true (and a warning says so) when more was printed.\n\
            Example: let r = local::run(\"git status --short\", #{ warn: true });";
        local
            .add("run", &["cmd: String", "Result"], doc)
            .options(OPTIONS, run);
    });
}

fn run(ctx: &Context, cmd: &str, opts: Options) -> RhaiResult<CmdResult> {
    let warn = opts.bool("warn")?.unwrap_or(false);
    let quiet = opts.bool("quiet")?.unwrap_or(false);
    let timeout = opts.seconds("timeout")?;
    let stdin = opts.string("stdin")?;
    let env = opts.string_map("env")?;
    let cwd = opts.string("cwd")?;
    // Refused here, not by spawn: its error would be unclear and print the NUL.
    check_no_nul("local::run: the command", cmd).map_err(runtime_error)?;
    check_no_nul("local::run: cwd", cwd.as_deref().unwrap_or("")).map_err(runtime_error)?;
    for (name, value) in &env {
        check_no_nul(
            &format!("local::run: env {name:?}"),
            &format!("{name}={value}"),
        )
        .map_err(runtime_error)?;
    }
    let stdout_to = opts.string("stdout_to")?.map(|t| stdout_path(&t, ORIGIN));
    let mut command = Command::new("sh");
    command.env_remove(crate::core::settings::SUDO_PASSWORD_ENV);
    command
        .arg("-c")
        .arg(cmd)
        .envs(env)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout or Ctrl-C ends the whole
        // pipeline the command started, not just `sh`.
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let mut args = serde_json::json!({ "command": cmd });
    if let Some(path) = &stdout_to {
        args["stdout_to"] = path.display().to_string().into();
    }
    // A read that writes its stdout to a file changes this machine: planned.
    let read = opts.bool("read")?.unwrap_or(false) && stdout_to.is_none();
    let act = if read {
        ctx.read("local::run", ORIGIN, args)?
    } else {
        ctx.act("local::run", ORIGIN, args)?
    };
    if act.dry_run() {
        return Ok(CmdResult::planned(ORIGIN, cmd, stdout_to.is_some()));
    }
    if let Some(path) = &stdout_to {
        match std::fs::File::create(path) {
            Ok(file) => command.stdout(file),
            Err(e) => {
                let message = format!(
                    "local::run: stdout_to: cannot create {}: {e}",
                    path.display()
                );
                act.failed(&message);
                return Err(runtime_error(message));
            }
        };
    }
    tracing::info!(command = %ctx.output.redact(cmd), "local::run");
    let result = ctx
        .runtime
        .block_on(execute(ctx, command, cmd, stdin, timeout, quiet))??;
    if !result.ok && !warn {
        act.failed(&format!("exit code {}", result.code));
        return Err(runtime_error(result.failure_message()));
    }
    act.done(serde_json::json!({ "code": result.code }));
    Ok(result)
}

async fn execute(
    ctx: &Context,
    mut command: Command,
    cmd: &str,
    stdin: Option<String>,
    timeout: Option<Duration>,
    quiet: bool,
) -> RhaiResult<CmdResult> {
    let mut child = command
        .spawn()
        .map_err(|e| runtime_error(format!("cannot start `sh -c {cmd}`: {e}")))?;
    let group = GroupGuard(child.id());
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        tokio::spawn(async move {
            // A command that exits without reading its input is fine.
            let _ = pipe.write_all(text.as_bytes()).await;
        });
    }
    // No stdout pipe: it goes to the file of `stdout_to`.
    let out = child.stdout.take();
    let Some(err) = child.stderr.take() else {
        return Err(runtime_error("internal: command pipes missing"));
    };
    let output = &ctx.output;
    let stream = |is_stderr| {
        let live = (!quiet).then_some(Live {
            output,
            origin: ORIGIN,
            is_stderr,
        });
        Stream::new(live, CAPTURE_LIMIT)
    };
    let work = async {
        let stdout = async {
            match out {
                Some(out) => pump(out, stream(false)).await,
                None => Captured::default(),
            }
        };
        let (stdout, stderr) = tokio::join!(stdout, pump(err, stream(true)));
        let status = child.wait().await;
        (status, stdout, stderr)
    };
    let (status, stdout, mut stderr) = match timeout {
        Some(limit) => match tokio::time::timeout(limit, work).await {
            Ok(done) => done,
            Err(_) => {
                drop(group);
                let note = format!("timed out after {}s and was stopped\n", limit.as_secs_f64());
                return Ok(CmdResult::new(ORIGIN, cmd, TIMED_OUT, String::new(), note));
            }
        },
        None => work.await,
    };
    group.disarm();
    let status = status.map_err(|e| runtime_error(format!("waiting for `{cmd}`: {e}")))?;
    let code = match status.code() {
        Some(code) => i64::from(code),
        None => {
            use std::os::unix::process::ExitStatusExt;
            let signal = status.signal().unwrap_or(0);
            stderr.text += &format!("killed by signal {signal}\n");
            128 + i64::from(signal)
        }
    };
    Ok(CmdResult::from_streams(
        ORIGIN,
        cmd,
        code,
        stdout,
        stderr,
        &ctx.output,
    ))
}

/// Ends the command's process group if the wait is abandoned (timeout,
/// Ctrl-C); disarmed once the command has exited on its own.
struct GroupGuard(Option<u32>);

impl GroupGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: signals the process group this guard's child leads.
            unsafe {
                libc::kill(-pid, libc::SIGTERM);
            }
        }
    }
}
