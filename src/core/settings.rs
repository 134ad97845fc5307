//! What one invocation runs with, validated: see app/config for where each
//! value comes from.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::core::output::OutputFormat;

/// The sudo password, when --ask-sudo-password is not given. Processes
/// opsh starts (ssh, local commands) never inherit it.
pub const SUDO_PASSWORD_ENV: &str = "OPSH_SUDO_PASSWORD";

#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub max_attempts: Option<u32>,
    /// How long to wait for a connection to an AWS endpoint.
    pub connect_timeout: Duration,
    /// How long one attempt of a call may take; retries add attempts.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct SshSettings {
    pub config: Option<PathBuf>,
    pub user: Option<String>,
    pub key: Option<PathBuf>,
    pub concurrency: usize,
    pub connect_timeout_secs: u64,
    pub strict_host_keys: bool,
    /// The password `sudo -S` is given (--ask-sudo-password,
    /// OPSH_SUDO_PASSWORD); none: `sudo -n`, which never asks.
    pub sudo_password: Option<String>,
}

/// What a runbook may spend before the sandbox stops it (script/sandbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Script operations per run; 0: no limit.
    pub operations: u64,
    /// Bytes of heap the process may hold; 0: no limit.
    pub memory: u64,
    pub call_depth: usize,
    pub expression_depth: usize,
    /// `import` statements one run may execute.
    pub imports: usize,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub vars: BTreeMap<String, String>,
    pub yes: bool,
    pub dry_run: bool,
    /// Keep a journal of the run's actions (`--no-journal` turns it off).
    pub journal: bool,
    pub output: OutputFormat,
    pub limits: Limits,
    pub aws: AwsSettings,
    pub ssh: SshSettings,
    /// The opsh.toml that was read, if any.
    pub config_file: Option<PathBuf>,
    /// `--limit` as given: globs and `@failed[:RUN]`, comma-separated.
    pub limit: Option<String>,
}

#[cfg(test)]
impl Settings {
    /// What a plain run with no flags and no opsh.toml is given.
    pub fn for_tests() -> Self {
        Self {
            vars: BTreeMap::new(),
            yes: false,
            dry_run: false,
            journal: false,
            output: OutputFormat::Text,
            limits: Limits {
                operations: 0,
                memory: 0,
                call_depth: 64,
                expression_depth: 256,
                imports: 256,
            },
            aws: AwsSettings {
                region: None,
                profile: None,
                endpoint_url: None,
                max_attempts: None,
                connect_timeout: Duration::from_secs(5),
                timeout: Duration::from_secs(30),
            },
            ssh: SshSettings {
                config: None,
                user: None,
                key: None,
                concurrency: 1,
                connect_timeout_secs: 10,
                strict_host_keys: false,
                sudo_password: None,
            },
            config_file: None,
            limit: None,
        }
    }
}
