//! Where the settings of one invocation come from: the command line on top
//! of `opsh.toml` on top of built-in defaults. Everything here is validated
//! once, up front.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::app::cli::CommonArgs;
use crate::core::memory;
use crate::core::output::OutputFormat;
use crate::core::settings::{AwsSettings, Limits, SUDO_PASSWORD_ENV, Settings, SshSettings};
use crate::core::size::parse_size;
use crate::script::error::{Error, Result};
use crate::script::sandbox::{CALL_DEPTH_CEILING, EXPRESSION_DEPTH_CEILING};

pub const CONFIG_FILE: &str = "opsh.toml";
const DEFAULT_CONCURRENCY: usize = 32;
const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;
const DEFAULT_MAX_OPERATIONS: u64 = 50_000_000;
/// Nested calls of script functions. Deeper recursion is possible (scripts
/// run on a large stack) but rarely meant.
const DEFAULT_MAX_CALL_DEPTH: usize = 64;
/// Rhai's defaults (64, 32) reject ordinary runbook nesting such as a
/// `for` in a `for` in a function.
const DEFAULT_MAX_EXPRESSION_DEPTH: usize = 256;
const DEFAULT_MAX_IMPORTS: usize = 256;
/// Without a way to read the machine's memory: a ceiling most hosts have.
const FALLBACK_MAX_MEMORY: u64 = 4 << 30;
/// With the SDK's three attempts, a mute AWS endpoint fails a call within
/// about 100 s instead of never.
const DEFAULT_AWS_CONNECT_TIMEOUT_SECS: f64 = 5.0;
const DEFAULT_AWS_TIMEOUT_SECS: f64 = 30.0;
/// The accepted range for `[aws]` timeouts, in seconds.
const AWS_TIMEOUT_RANGE: std::ops::RangeInclusive<f64> = 0.001..=3600.0;
/// The SDK reads this itself, and quietly ignores a value it cannot parse
/// (sending the calls to AWS instead): opsh checks it like its own.
const ENDPOINT_URL_ENV: &str = "AWS_ENDPOINT_URL";

/// `opsh.toml`, found in the current directory or a parent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    aws: FileAws,
    #[serde(default)]
    ssh: FileSsh,
    max_operations: Option<u64>,
    max_memory: Option<FileSize>,
    max_call_depth: Option<usize>,
    max_expression_depth: Option<usize>,
    max_imports: Option<usize>,
    output: Option<OutputFormat>,
}

/// `max_memory = "8GiB"`, or a number of bytes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FileSize {
    Bytes(u64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAws {
    region: Option<String>,
    profile: Option<String>,
    endpoint_url: Option<String>,
    max_attempts: Option<u32>,
    connect_timeout: Option<f64>,
    timeout: Option<f64>,
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

/// The settings `args` and the opsh.toml found from the current directory give.
/// `runs_runbooks`: the command runs a runbook, so a sudo password it asks
/// for is needed.
pub fn settings(args: &CommonArgs, runs_runbooks: bool) -> Result<Settings> {
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
    let config_name = config_file
        .as_deref()
        .map_or_else(|| CONFIG_FILE.to_string(), |p| p.display().to_string());
    let endpoint_url = match (&args.endpoint_url, &file.aws.endpoint_url) {
        (Some(url), _) => Some(endpoint_url("--endpoint-url", url)?),
        (None, Some(url)) => Some(endpoint_url(
            &format!("{config_name}: [aws] endpoint_url"),
            url,
        )?),
        (None, None) => {
            endpoint_from_env()?;
            None
        }
    };
    let aws_seconds = |key: &str, value: Option<f64>, default: f64| {
        aws_timeout(&config_name, key, value.unwrap_or(default))
    };
    let connect_timeout = aws_seconds(
        "connect_timeout",
        file.aws.connect_timeout,
        DEFAULT_AWS_CONNECT_TIMEOUT_SECS,
    )?;
    let timeout = aws_seconds("timeout", file.aws.timeout, DEFAULT_AWS_TIMEOUT_SECS)?;
    let connect_timeout_secs = file
        .ssh
        .connect_timeout
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECS);
    // Deadlines are computed from it: bounded like a runbook's timeouts.
    if connect_timeout_secs as f64 > crate::core::options::MAX_SECONDS {
        return Err(Error::usage(format!(
            "{}: [ssh] connect_timeout must be at most {} seconds (365 days), not {connect_timeout_secs}",
            config_name,
            crate::core::options::MAX_SECONDS
        )));
    }
    let limits = limits(args, &file, &config_name)?;
    let mut vars = BTreeMap::new();
    for (key, value) in &args.vars {
        vars.insert(key.clone(), value.clone());
    }
    Ok(Settings {
        vars,
        yes: args.yes,
        dry_run: args.dry_run,
        journal: !args.no_journal,
        output: args.output.or(file.output).unwrap_or_default(),
        limits,
        aws: AwsSettings {
            region: args.region.clone().or(file.aws.region),
            profile: args.profile.clone().or(file.aws.profile),
            endpoint_url,
            max_attempts: file.aws.max_attempts,
            connect_timeout,
            timeout,
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
            sudo_password: sudo_password(args.ask_sudo_password && runs_runbooks)?,
        },
        config_file,
        limit: limit(args.limit.as_deref())?,
    })
}

/// The sandbox's limits: flags, then opsh.toml, then the defaults.
fn limits(args: &CommonArgs, file: &FileConfig, config_name: &str) -> Result<Limits> {
    let memory = match (args.max_memory, &file.max_memory) {
        (Some(bytes), _) => bytes,
        (None, Some(FileSize::Bytes(bytes))) => *bytes,
        (None, Some(FileSize::Text(text))) => {
            parse_size(text).map_err(|e| Error::usage(format!("{config_name}: max_memory {e}")))?
        }
        (None, None) => default_max_memory(),
    };
    let depth = |key: &str, value: Option<usize>, default: usize, most: usize| match value {
        None => Ok(default),
        Some(n) if (1..=most).contains(&n) => Ok(n),
        Some(n) if most == usize::MAX => Err(Error::usage(format!(
            "{config_name}: {key} = {n} is out of range: give at least 1"
        ))),
        Some(n) => Err(Error::usage(format!(
            "{config_name}: {key} = {n} is out of range: give 1 to {most}"
        ))),
    };
    Ok(Limits {
        operations: args
            .max_operations
            .or(file.max_operations)
            .unwrap_or(DEFAULT_MAX_OPERATIONS),
        memory,
        call_depth: depth(
            "max_call_depth",
            file.max_call_depth,
            DEFAULT_MAX_CALL_DEPTH,
            CALL_DEPTH_CEILING,
        )?,
        expression_depth: depth(
            "max_expression_depth",
            file.max_expression_depth,
            DEFAULT_MAX_EXPRESSION_DEPTH,
            EXPRESSION_DEPTH_CEILING,
        )?,
        imports: depth(
            "max_imports",
            file.max_imports,
            DEFAULT_MAX_IMPORTS,
            usize::MAX,
        )?,
    })
}

/// Half of what the machine has, or of the limit of the cgroup opsh runs
/// in (a container's), whichever is less.
fn default_max_memory() -> u64 {
    memory::available_memory().map_or(FALLBACK_MAX_MEMORY, |total| total / 2)
}

/// Where the sudo password comes from: asked (`--ask-sudo-password`), then
/// OPSH_SUDO_PASSWORD. It is a secret from then on: never shown or logged.
fn sudo_password(ask: bool) -> Result<Option<String>> {
    let password = if ask {
        crate::core::prompt::read_secret("sudo password:").map_err(Error::usage)?
    } else {
        match std::env::var(SUDO_PASSWORD_ENV) {
            Ok(password) => password,
            Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Error::usage(format!(
                    "{SUDO_PASSWORD_ENV} is not UTF-8 text"
                )));
            }
        }
    };
    if password.is_empty() {
        return Err(Error::usage(if ask {
            "--ask-sudo-password: no password was given".to_string()
        } else {
            format!("{SUDO_PASSWORD_ENV} is set but empty: unset it for sudo without a password")
        }));
    }
    if password.contains(['\n', '\r', '\0']) {
        return Err(Error::usage(
            "the sudo password contains a line break or NUL, which sudo cannot read",
        ));
    }
    crate::core::redact::add(&password);
    Ok(Some(password))
}

/// `--limit`, checked: no empty pattern.
fn limit(raw: Option<&str>) -> Result<Option<String>> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.split(',').any(|p| p.trim().is_empty()) {
        return Err(Error::usage(format!(
            "--limit `{raw}` has an empty pattern: give globs separated by commas, e.g. --limit 'web-*,db-1'"
        )));
    }
    Ok(Some(raw.to_string()))
}

/// An `[aws]` timeout from opsh.toml as a duration, if it is in range.
fn aws_timeout(config_name: &str, key: &str, seconds: f64) -> Result<Duration> {
    // The range check also refuses NaN, infinities and negatives, which
    // `Duration::from_secs_f64` would panic on.
    if AWS_TIMEOUT_RANGE.contains(&seconds) {
        return Ok(Duration::from_secs_f64(seconds));
    }
    Err(Error::usage(format!(
        "{config_name}: [aws] {key} = {seconds} is out of range: give seconds from {} to {}",
        AWS_TIMEOUT_RANGE.start(),
        AWS_TIMEOUT_RANGE.end()
    )))
}

/// Checks `url` (named by `origin` in errors) the way the SDK will need it:
/// http or https, a host, nothing after the path.
fn endpoint_url(origin: &str, url: &str) -> Result<String> {
    let problem = if url.is_empty() {
        "it is empty".to_string()
    } else if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "it contains whitespace".to_string()
    } else {
        match url::Url::parse(url) {
            Err(err) => err.to_string(),
            Ok(parsed) if !matches!(parsed.scheme(), "http" | "https") => {
                format!("the scheme is `{}`, not http or https", parsed.scheme())
            }
            Ok(parsed) if parsed.host_str().is_none_or(str::is_empty) => "it has no host".into(),
            Ok(parsed) if parsed.query().is_some() || parsed.fragment().is_some() => {
                "it has a query or fragment (`?` or `#`)".into()
            }
            Ok(_) => return Ok(url.to_string()),
        }
    };
    Err(Error::usage(format!(
        "{origin} `{url}` is not an endpoint URL: {problem}\n\
         help: give one such as http://127.0.0.1:4566 or https://ec2.eu-west-1.amazonaws.com, \
         or none to use AWS's own endpoints"
    )))
}

/// A set `AWS_ENDPOINT_URL` must be usable, unless the SDK is told to ignore it.
fn endpoint_from_env() -> Result<()> {
    let ignored = std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    match std::env::var_os(ENDPOINT_URL_ENV) {
        Some(url) if !ignored => endpoint_url(ENDPOINT_URL_ENV, &url.to_string_lossy()).map(drop),
        _ => Ok(()),
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
            "max_operations = 10\nmax_memory = \"2GiB\"\nmax_call_depth = 200\noutput = \"json\"\n[aws]\nregion = \"eu-west-1\"\nmax_attempts = 5\n[ssh]\nuser = \"deploy\"\nconcurrency = 8\n",
        )
        .unwrap();
        assert_eq!(cfg.aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(cfg.ssh.concurrency, Some(8));
        assert_eq!(cfg.output, Some(OutputFormat::Json));
        assert!(matches!(cfg.max_memory, Some(FileSize::Text(ref t)) if t == "2GiB"));
        assert_eq!(cfg.max_call_depth, Some(200));
        let cfg: FileConfig = toml::from_str("max_memory = 1073741824\n").unwrap();
        assert!(matches!(cfg.max_memory, Some(FileSize::Bytes(1073741824))));
    }

    #[test]
    fn the_default_memory_limit_is_a_share_of_the_machine() {
        let limit = default_max_memory();
        let machine = memory::available_memory().expect("sysinfo works here");
        assert!(limit > 0 && limit <= machine / 2, "{limit} of {machine}");
    }

    fn usage_message(result: Result<impl std::fmt::Debug>) -> String {
        match result {
            Err(Error::Usage(message)) => message,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn aws_timeouts_are_seconds_in_range() {
        let cfg: FileConfig =
            toml::from_str("[aws]\ntimeout = 2\nconnect_timeout = 0.5\n").unwrap();
        assert_eq!(cfg.aws.timeout, Some(2.0));
        assert_eq!(
            aws_timeout("opsh.toml", "connect_timeout", 0.5).unwrap(),
            Duration::from_millis(500)
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300] {
            let message = usage_message(aws_timeout("/p/opsh.toml", "timeout", bad));
            assert!(message.contains("/p/opsh.toml: [aws] timeout"), "{message}");
        }
    }

    #[test]
    fn endpoint_urls_must_be_http_with_a_host() {
        for good in [
            "http://127.0.0.1:4566",
            "https://ec2.eu-west-1.amazonaws.com/",
        ] {
            assert_eq!(endpoint_url("--endpoint-url", good).unwrap(), good);
        }
        for bad in [
            "",
            "not a url",
            "ftp://x",
            "http://",
            "http://h:1/?a=b",
            "127.0.0.1:4566",
        ] {
            let message = usage_message(endpoint_url("--endpoint-url", bad));
            assert!(
                message.starts_with(&format!("--endpoint-url `{bad}`")),
                "{message}"
            );
        }
    }
}
