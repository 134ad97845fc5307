//! opsh: an ops shell. Runbooks in Rhai drive EC2, S3, SSH and local commands.

mod app;
mod aws;
mod command;
mod core;
mod global;
#[cfg(test)]
mod layers;
mod local;
mod script;
mod ssh;

use clap::{CommandFactory, Parser};

use crate::app::cli::{self, Cli, Command};
use crate::app::{definitions, doc, journal, list, repl, run};
use crate::core::context::Context;
use crate::core::{descriptors, exit, redact, runtime, stdout};
use crate::script::engine::Session;
use crate::script::error::Error;

/// Run opsh with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    cli.common.vars = cli::all_vars(std::env::args_os(), std::mem::take(&mut cli.common.vars));
    redact::add_env_credentials();
    init_tracing(cli.common.verbose);
    if let Command::Completions { shell } = cli.command {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "opsh", &mut script);
        stdout::write(&String::from_utf8_lossy(&script));
        return output_outcome(exit::OK);
    }
    let session = match start(&cli) {
        Ok(session) => session,
        Err(err) => {
            eprint!("{}", err.render(&Default::default()));
            return err.exit_code();
        }
    };
    let result = match &cli.command {
        Command::Run {
            file,
            function,
            args,
        } => run::run(&session, file, function.as_deref(), args),
        Command::Repl { file } => repl::repl(&session, file.as_deref()),
        Command::Check { files } => run::check_files(&session, files),
        Command::List { file } => list::list(&session, file),
        Command::Doc {
            definitions: Some(dir),
            ..
        } => definitions::write(&session, dir),
        Command::Doc { name, .. } => doc::doc(&session, name.as_deref()),
        Command::Journal { run, teardown } => journal::show(&session, run.as_deref(), *teardown),
        Command::Completions { .. } => Ok(()),
    };
    // Remote commands cut short by Ctrl-C are ended and masters closed
    // before the exit code is known to the shell.
    session.ctx.shutdown();
    match result {
        Ok(()) => output_outcome(exit::OK),
        Err(err) => {
            eprint!("{}", session.render_error(&err));
            err.exit_code()
        }
    }
}

/// `code`, unless stdout could not take what was written to it (a reader
/// that went away is not an error: see `stdout`).
fn output_outcome(code: i32) -> i32 {
    match stdout::failure() {
        Some(problem) => {
            eprintln!("error: cannot write to stdout: {problem}");
            exit::FAILED
        }
        None => code,
    }
}

fn start(cli: &Cli) -> Result<Session, Error> {
    descriptors::raise_limit();
    // Only a runbook uses sudo: `check`, `doc`, `list` and `journal` never ask.
    let runs_runbooks = matches!(cli.command, Command::Run { .. } | Command::Repl { .. });
    let settings = crate::app::config::settings(&cli.common, runs_runbooks)?;
    if let Some(path) = &settings.config_file {
        tracing::info!("settings from {}", path.display());
    }
    let runtime = runtime::Runtime::new()
        .map_err(|e| Error::usage(format!("cannot start the async runtime: {e}")))?;
    Session::new(Context::new(settings, runtime))
}

fn init_tracing(verbose: u8) {
    // The SDK's own warnings (a credential provider that found nothing, a
    // retried request) are for -v: by default only opsh's show.
    let level = match verbose {
        0 => "opsh=warn",
        1 => "opsh=info,warn",
        2 => "opsh=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| redact::LogWriter)
        .with_target(false)
        .init();
}
