//! `local::run`: a command on this machine, through `sh -c`.

use std::process::Stdio;
use std::time::Duration;

use rhai::{Map, Module};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::api::{func, func_with_options};
use crate::command::{CmdResult, pump};
use crate::context::Context;
use crate::options::{Options, RhaiResult, runtime_error};

const ORIGIN: &str = "local";
const OPTIONS: &[&str] = &["warn", "timeout", "env", "cwd", "stdin", "quiet"];
/// Exit code reported for a command stopped by its timeout, as timeout(1).
const TIMED_OUT: i64 = 124;

pub fn module(ctx: &std::sync::Arc<Context>) -> Module {
    let mut module = Module::new();
    let doc = "Run `cmd` with `sh -c` on this machine; output streams live, prefixed `local |`.\n\
        Options: warn (return the Result instead of throwing on a non-zero exit), timeout (seconds),\n\
        env (#{ NAME: value }), cwd, stdin (text fed to the command), quiet (do not stream).\n\
        Returns a Result {host, command, code, stdout, stderr, ok}.\n\
        Example: let r = local::run(\"git status --short\", #{ warn: true });";
    let c = ctx.clone();
    func("run", &["cmd: String", "Result"], doc).set_into_module(&mut module, move |cmd: &str| {
        run(&c, cmd, Options::empty("local::run"))
    });
    let c = ctx.clone();
    func_with_options(
        "run",
        &["cmd: String", "options: Map", "Result"],
        OPTIONS,
        doc,
    )
    .set_into_module(&mut module, move |cmd: &str, opts: Map| {
        run(&c, cmd, Options::new("local::run", opts, OPTIONS)?)
    });
    module
}

fn run(ctx: &Context, cmd: &str, opts: Options) -> RhaiResult<CmdResult> {
    let warn = opts.bool("warn")?.unwrap_or(false);
    let quiet = opts.bool("quiet")?.unwrap_or(false);
    let timeout = opts.seconds("timeout")?;
    let stdin = opts.string("stdin")?;
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .envs(opts.string_map("env")?)
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
    if let Some(cwd) = opts.string("cwd")? {
        command.current_dir(cwd);
    }
    let act = ctx.act("local::run", ORIGIN, serde_json::json!({ "command": cmd }));
    if act.dry_run() {
        return Ok(CmdResult::new(ORIGIN, cmd, 0, String::new(), String::new()));
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
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(runtime_error("internal: command pipes missing"));
    };
    let output = &ctx.output;
    let work = async {
        let (stdout, stderr) = tokio::join!(
            pump(out, ORIGIN, false, quiet, output),
            pump(err, ORIGIN, true, quiet, output)
        );
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
            stderr += &format!("killed by signal {}\n", status.signal().unwrap_or(0));
            128 + i64::from(status.signal().unwrap_or(0))
        }
    };
    Ok(CmdResult::new(ORIGIN, cmd, code, stdout, stderr))
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
