//! Settings for one invocation: the command line on top of `opsh.toml` on
//! top of built-in defaults. Everything here is validated once, up front.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::{CommonArgs, OutputFormat};
use crate::error::{Error, Result};

pub const CONFIG_FILE: &str = "opsh.toml";
const DEFAULT_CONCURRENCY: usize = 32;
const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;
const DEFAULT_MAX_OPERATIONS: u64 = 50_000_000;

/// `opsh.toml`, found in the current directory or a parent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    aws: FileAws,
    #[serde(default)]
    ssh: FileSsh,
    max_operations: Option<u64>,
    output: Option<OutputFormat>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAws {
    region: Option<String>,
    profile: Option<String>,
    endpoint_url: Option<String>,
    max_attempts: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSsh {
    user: Option<String>,
    key: Option<PathBuf>,
    config: Option<PathBuf>,
    concurrency: Option<usize>,
    connect_timeout: Option<u64>,
    strict_host_keys: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub max_attempts: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct SshSettings {
    pub config: Option<PathBuf>,
    pub user: Option<String>,
    pub key: Option<PathBuf>,
    pub concurrency: usize,
    pub connect_timeout_secs: u64,
    pub strict_host_keys: bool,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub vars: BTreeMap<String, String>,
    pub yes: bool,
    pub dry_run: bool,
    pub output: OutputFormat,
    pub max_operations: u64,
    pub aws: AwsSettings,
    pub ssh: SshSettings,
    /// The opsh.toml that was read, if any.
    pub config_file: Option<PathBuf>,
}

impl Settings {
    pub fn from_args(args: &CommonArgs) -> Result<Self> {
        let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
        let (file, config_file) = match find_config(&cwd) {
            Some(path) => (load_config(&path)?, Some(path)),
            None => (FileConfig::default(), None),
        };
        // Relative paths in opsh.toml are relative to the file, not the cwd.
        let base = config_file
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let concurrency = args
            .concurrency
            .or(file.ssh.concurrency)
            .unwrap_or(DEFAULT_CONCURRENCY);
        if concurrency == 0 {
            return Err(Error::usage("--concurrency must be at least 1"));
        }
        let connect_timeout_secs = file
            .ssh
            .connect_timeout
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECS);
        // Deadlines are computed from it: bounded like a runbook's timeouts.
        if connect_timeout_secs as f64 > crate::options::MAX_SECONDS {
            return Err(Error::usage(format!(
                "{}: [ssh] connect_timeout must be at most {} seconds (365 days), not {connect_timeout_secs}",
                config_file
                    .as_deref()
                    .unwrap_or(Path::new(CONFIG_FILE))
                    .display(),
                crate::options::MAX_SECONDS
            )));
        }
        let mut vars = BTreeMap::new();
        for (key, value) in &args.vars {
            vars.insert(key.clone(), value.clone());
        }
        Ok(Self {
            vars,
            yes: args.yes,
            dry_run: args.dry_run,
            output: args.output.or(file.output).unwrap_or_default(),
            max_operations: args
                .max_operations
                .or(file.max_operations)
                .unwrap_or(DEFAULT_MAX_OPERATIONS),
            aws: AwsSettings {
                region: args.region.clone().or(file.aws.region),
                profile: args.profile.clone().or(file.aws.profile),
                endpoint_url: args.endpoint_url.clone().or(file.aws.endpoint_url),
                max_attempts: file.aws.max_attempts,
            },
            ssh: SshSettings {
                config: args
                    .ssh_config
                    .clone()
                    .or(file.ssh.config.map(|p| base.join(p))),
                user: file.ssh.user,
                key: file.ssh.key.map(|p| base.join(p)),
                concurrency,
                connect_timeout_secs,
                strict_host_keys: file.ssh.strict_host_keys.unwrap_or(false),
            },
            config_file,
        })
    }
}

fn find_config(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(CONFIG_FILE))
        .find(|path| path.is_file())
}

fn load_config(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    toml::from_str(&text).map_err(|e| Error::usage(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_in_opsh_toml_are_errors() {
        let err = toml::from_str::<FileConfig>("[ssh]\nconcurency = 3\n").unwrap_err();
        assert!(err.to_string().contains("concurency"), "{err}");
    }

    #[test]
    fn full_file_parses() {
        let cfg: FileConfig = toml::from_str(
            "max_operations = 10\noutput = \"json\"\n[aws]\nregion = \"eu-west-1\"\nmax_attempts = 5\n[ssh]\nuser = \"deploy\"\nconcurrency = 8\n",
        )
        .unwrap();
        assert_eq!(cfg.aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(cfg.ssh.concurrency, Some(8));
        assert_eq!(cfg.output, Some(OutputFormat::Json));
    }
}
