//! The raw command line, as clap parses it. `config` turns it into settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::core::output::OutputFormat;

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    the runbook failed (a command, an AWS call, a `throw`)
  2    usage or compile error (nothing ran)
  3    a confirmation was declined, or was needed with no terminal and no --yes
  130  interrupted (Ctrl-C)

Examples:
  opsh run runbooks/db_node.rhai whip_up_db_node --var db_name=shop
  opsh check runbooks/*.rhai
  opsh repl runbooks/quick_update.rhai";

#[derive(Debug, Parser)]
#[command(
    name = "opsh",
    version = env!("OPSH_VERSION"),
    about = "An ops shell: runbooks in Rhai that drive EC2, S3, SSH and local commands",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate FILE, then call FUNCTION(ARG...) if given
    #[command(after_help = "\
Examples:
  opsh run runbooks/full_system.rhai whip_up_full_system
  opsh run runbooks/quick_update.rhai quick_update --var component=web --var reinstall=no
  opsh run deploy.rhai deploy v1.4.2 --yes

ARGs that look like integers or true/false are passed as such; all others as strings.
Flags may follow the ARGs; put ARGs that begin with `-` after `--`:
  opsh run ops.rhai scale -- -1")]
    Run {
        /// The runbook to run
        file: PathBuf,
        /// A function of the runbook to call after its top level ran
        function: Option<String>,
        /// Arguments for FUNCTION (after `--` when one begins with `-`)
        args: Vec<String>,
    },
    /// Interactive shell; FILE's functions are preloaded
    #[command(after_help = "\
Examples:
  opsh repl
  opsh repl runbooks/db_node.rhai
  echo 'info(quote(\"it'\\''s\"))' | opsh repl")]
    Repl {
        /// A runbook whose functions are loaded first
        file: Option<PathBuf>,
    },
    /// Compile runbooks with strict variables and known functions; runs nothing
    #[command(after_help = "\
Examples:
  opsh check runbooks/*.rhai stdlib/*.rhai examples/*.rhai
  opsh check --output json deploy.rhai")]
    Check {
        /// Runbooks to check
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List a runbook's functions with their /// doc comments
    #[command(after_help = "\
Examples:
  opsh list runbooks/quick_update.rhai
  opsh list runbooks/full_system.rhai --output json")]
    List {
        /// The runbook to list
        file: PathBuf,
    },
    /// Reference of built-in functions and types (signature and doc)
    #[command(after_help = "\
Examples:
  opsh doc                       every function and type, one line each
  opsh doc confirm               one function in full
  opsh doc ec2::                 every function in the ec2 module
  opsh doc Instance              a type's fields and methods
  opsh doc --definitions defs    Rhai definition files for an editor")]
    Doc {
        /// A function name, a module prefix such as `ec2::`, or a type such as `Host`
        #[arg(conflicts_with = "definitions")]
        name: Option<String>,
        /// Write Rhai definition files (*.d.rhai) for every module, function and type to DIR
        #[arg(long, value_name = "DIR")]
        definitions: Option<PathBuf>,
    },
    /// What earlier runs changed: list runs, show one, or write its teardown
    #[command(after_help = "\
Examples:
  opsh journal                       recent runs, newest first
  opsh journal last                  the newest run's actions and what it created
  opsh journal 20261122-093001-01234 --teardown > teardown.rhai
  opsh run teardown.rhai             remove what that run created (asks first)")]
    Journal {
        /// A run id (or a unique prefix of one), or `last`
        run: Option<String>,
        /// Print a runbook that removes what RUN created; nothing is deleted
        #[arg(long, requires = "run")]
        teardown: bool,
    },
    /// Print a shell completion script
    #[command(after_help = "\
Examples:
  opsh completions bash > /etc/bash_completion.d/opsh
  opsh completions zsh > \"${fpath[1]}/_opsh\"")]
    Completions {
        /// The shell to generate completions for
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Set a value read by param("KEY"); also answers the prompt whose key is KEY
    #[arg(long = "var", value_name = "KEY=VALUE", global = true, value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Answer yes to every confirmation
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// Show what would change without changing anything
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// AWS region (default: AWS_REGION, the profile, then opsh.toml)
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// AWS profile from ~/.aws/config
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Send AWS calls to this endpoint (e.g. a local emulator)
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// An ssh_config file used instead of ~/.ssh/config
    #[arg(long, global = true, value_name = "FILE", env = "OPSH_SSH_CONFIG")]
    pub ssh_config: Option<PathBuf>,
    /// How many hosts a group works on at once
    #[arg(long, global = true, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Only these hosts: globs matched against a target's name, address, instance id or
    /// Name tag, comma-separated; `@failed` (or `@failed:RUN`) takes the hosts that failed,
    /// were unreachable or skipped in the last run (or RUN) of the same runbook and function
    #[arg(long, global = true, value_name = "PATTERN[,PATTERN]")]
    pub limit: Option<String>,
    /// Ask for the sudo password once at the start (read from stdin when it is not a
    /// terminal); otherwise OPSH_SUDO_PASSWORD, or none (sudo -n never asks)
    #[arg(long, global = true)]
    pub ask_sudo_password: bool,
    /// Stop a runbook after this many script operations (0 = no limit; default 50000000)
    #[arg(long, global = true, value_name = "N")]
    pub max_operations: Option<u64>,
    /// Stop a runbook whose data takes opsh's memory past SIZE, e.g. 8GiB (0 = no limit; default: half the machine's)
    #[arg(long, global = true, value_name = "SIZE", value_parser = crate::core::size::parse_size)]
    pub max_memory: Option<u64>,
    /// Run without a journal (otherwise a journal that cannot be written stops the run)
    #[arg(long, global = true)]
    pub no_journal: bool,
    /// Output format for results, listings and errors
    #[arg(long, global = true, value_enum)]
    pub output: Option<OutputFormat>,
    /// More logging (-v info, -vv debug, -vvv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Every `--var` of the command line, before and after the subcommand, in
/// order. clap hands a global option's values from the deepest level that
/// has any to every level, so `opsh --var a=1 run f --var b=2` would lose
/// `a`; the raw arguments still hold both. Values clap parsed already passed
/// `parse_var`, so only those are looked for; nothing after `--` is an option.
pub fn all_vars(
    raw: impl IntoIterator<Item = std::ffi::OsString>,
    parsed: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut raw = raw.into_iter().skip(1);
    while let Some(arg) = raw.next() {
        let Some(arg) = arg.to_str() else { continue };
        let value = match arg {
            "--" => break,
            "--var" => raw.next().and_then(|v| v.into_string().ok()),
            _ => arg.strip_prefix("--var=").map(str::to_string),
        };
        if let Some(var) = value.and_then(|v| parse_var(&v).ok()) {
            found.push(var);
        }
    }
    if found.len() > parsed.len() {
        found
    } else {
        parsed
    }
}

fn parse_var(raw: &str) -> Result<(String, String), String> {
    let (key, value) = raw
        .split_once('=')
        .ok_or_else(|| format!("`{raw}` is not KEY=VALUE (e.g. --var component=web)"))?;
    let key = key.trim();
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(format!(
            "`{key}` is not a valid key: use letters, digits, `_`, `-` or `.`"
        ));
    }
    Ok((key.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn var_needs_key_and_value() {
        assert_eq!(parse_var("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_var("a="), Ok(("a".into(), String::new())));
        assert!(parse_var("novalue").is_err());
        assert!(parse_var("=x").is_err());
        assert!(parse_var("a b=x").is_err());
    }

    #[test]
    fn vars_before_and_after_the_subcommand_are_all_kept() {
        let raw = [
            "opsh",
            "--var",
            "a=1",
            "run",
            "f.rhai",
            "--var=b=2",
            "--",
            "--var",
            "c=3",
        ]
        .map(std::ffi::OsString::from);
        let parsed = vec![("b".to_string(), "2".to_string())];
        assert_eq!(
            all_vars(raw, parsed),
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
    }
}
