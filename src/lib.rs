//! opsh: an ops shell. Runbooks in Rhai drive EC2, S3, SSH and local commands.

mod abort;
mod api;
mod aws;
mod builtins;
mod check;
mod cli;
mod clock;
mod command;
mod completion;
mod config;
mod context;
mod descriptors;
mod doc;
mod ec2;
mod ec2_call;
mod ec2_images;
mod ec2_instances;
mod ec2_network;
mod ec2_rules;
mod ec2_storage;
mod ec2_types;
mod engine;
mod error;
mod group;
mod journal;
mod journal_view;
mod list;
mod local;
mod memory;
mod options;
mod output;
mod planned;
mod prompt;
mod quote;
mod redact;
mod remote;
mod remote_script;
mod repl;
mod run;
mod runtime;
mod s3;
mod sandbox;
mod sources;
mod ssh;
mod ssh_session;
mod ssh_target;
mod stdlib;
mod stdout;
mod transfer;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::config::Settings;
use crate::context::Context;
use crate::engine::Session;
use crate::error::{Error, exit};

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
        Command::Doc { name } => doc::doc(&session, name.as_deref()),
        Command::Journal { run, teardown } => {
            journal_view::show(&session, run.as_deref(), *teardown)
        }
        Command::Completions { .. } => Ok(()),
    };
    // Remote commands cut short by Ctrl-C are ended and masters closed
    // before the exit code is known to the shell.
    session.ctx.ssh.shutdown(&session.ctx.runtime);
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
    let settings = Settings::from_args(&cli.common)?;
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
