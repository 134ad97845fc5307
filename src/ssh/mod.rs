//! `ssh::`: connections to hosts (one shared OpenSSH master per host), the
//! Host type and groups of hosts worked in parallel.

pub mod connect;
pub mod group;
pub mod host;
pub mod outcome;
pub mod remote;
pub mod remote_script;
pub mod rollout;
pub mod session;
pub mod target;
pub mod task;
pub mod waves;

use std::sync::Arc;

use rhai::Engine;

use crate::core::api;
use crate::core::context::Context;
use crate::ssh::connect::{CONNECT_OPTIONS, connect};

/// Everything `ssh::` adds to the engine.
pub fn register(engine: &mut Engine, ctx: &Arc<Context>) {
    api::module(engine, ctx, "ssh", |ssh| {
        ssh.add("connect", &["target: Dynamic", "Host"], "Connect to `target` and return a Host. The target is an address, a DNS name, an ssh_config alias,\n\
        a Host, or an instance (anything with public_ip/private_ip/public_dns/private_dns, e.g. an ec2 Instance).\n\
        Options: user, port, key (private key file), jump (ProxyJump hosts, comma-separated),\n\
        address (\"public\" or \"private\": which address of an instance), strict_host_keys (refuse hosts\n\
        not in known_hosts; default: new hosts are added, changed keys always refused), connect_timeout (seconds),\n\
        sudo_password (for sudo on this host, e.g. secret(env(\"SUDO_PW\")); default --ask-sudo-password or\n\
        OPSH_SUDO_PASSWORD; see Host sudo). A host outside --limit is refused.\n\
        ssh_config (--ssh-config, or ~/.ssh/config) and ssh-agent apply; opsh.toml [ssh] user/key are defaults.\n\
        One connection per user@host:port is shared by every later call of the run.\n\
        Example: let web = ssh::connect(\"web-1\", #{ user: \"deploy\" });")
            .options(CONNECT_OPTIONS, connect);
        group::register_constructor(ssh);
        rollout::register(ssh);
    });
    host::register(engine, ctx);
    group::register(engine, ctx);
}
