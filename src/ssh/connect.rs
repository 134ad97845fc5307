//! Where and how to connect: the options `ssh::connect` and `ssh::group`
//! share, and the target a runbook names (a name, a Host, or a machine).

use std::path::PathBuf;
use std::time::Duration;

use rhai::Dynamic;

use crate::core::context::Context;
use crate::core::failure::Failure;
use crate::core::options::{Options, RhaiResult, runtime_error};
use crate::core::planned::is_planned;
use crate::ssh::host::Host;
use crate::ssh::session::{ConnectRequest, Secret, pool};
use crate::ssh::target::{Prefer, check_word, pick};

/// The options of `ssh::connect` (how to connect), followed by `more`: the
/// options of `ssh::group` and `ssh::rollout` that take them too.
macro_rules! connect_options {
    ($($more:literal),* $(,)?) => {
        &[
            "user",
            "port",
            "key",
            "jump",
            "address",
            "strict_host_keys",
            "connect_timeout",
            "sudo_password",
            $($more),*
        ]
    };
}
pub(crate) use connect_options;

pub const CONNECT_OPTIONS: &[&str] = connect_options!();
/// The options of `ssh::group`: how to connect, how many hosts at once, and
/// the waves (see waves.rs).
pub const GROUP_OPTIONS: &[&str] = connect_options!("concurrency", "batch", "max_fail", "pause");

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
    sudo_password: Option<Secret>,
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
        let sudo_password = match opts.string("sudo_password")? {
            Some(p) if p.is_empty() || p.contains(['\n', '\r', '\0']) => {
                return Err(runtime_error(
                    "option `sudo_password` must be one line of text, not empty",
                ));
            }
            Some(p) => {
                ctx.output.add_secret(&p);
                Some(Secret(p))
            }
            None => ctx.settings.ssh.sudo_password.clone().map(Secret),
        };
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
            sudo_password,
            given: CONNECT_OPTIONS.iter().any(|k| opts.value(k).is_some()),
        })
    }
}

/// What to connect to for `target`: a name, a Host, or a machine with addresses.
pub fn request(ctx: &Context, target: &Dynamic, co: &ConnectOptions) -> RhaiResult<ConnectRequest> {
    if let Some(host) = target.read_lock::<Host>()
        && !co.given
    {
        return Ok(host.spec.request.clone());
    }
    let mut label = None;
    let (destination, name) = if target.is_string() {
        let name = target.to_string();
        (name.clone(), name)
    } else if let Some(host) = target.read_lock::<Host>() {
        label.clone_from(&host.spec.request.label);
        (host.spec.request.destination.clone(), host.name.clone())
    } else if let Some(addresses) = ctx.machines.addresses(target) {
        label.clone_from(&addresses.label);
        match (pick(&addresses, co.prefer), addresses.id.as_deref()) {
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
        label,
        sudo_password: co.sudo_password.clone(),
    })
}

/// Refuse a host outside `--limit`.
pub fn within_limit(ctx: &Context, request: &ConnectRequest) -> RhaiResult<()> {
    match ctx.limit.get() {
        Some(limit) if !limit.allows(request.names()) => Err(runtime_error(format!(
            "ssh::connect: {} is outside --limit {}: the run may not touch it",
            request.name,
            limit.shown()
        ))),
        _ => Ok(()),
    }
}

/// `ssh::connect`: the Host for `target`, connected (a planned one is
/// only resolved: there is nothing to reach yet).
pub fn connect(ctx: &Context, target: Dynamic, opts: Options) -> RhaiResult<Host> {
    let co = ConnectOptions::parse(ctx, &opts)?;
    let request = request(ctx, &target, &co)?;
    within_limit(ctx, &request)?;
    let planned = is_planned(&request.name);
    let spec = ctx
        .runtime
        .block_on(async {
            if planned {
                pool(ctx).spec(request).await
            } else {
                pool(ctx).connect(request).await
            }
        })?
        .map_err(Failure::from)?;
    Ok(Host::new(spec))
}
