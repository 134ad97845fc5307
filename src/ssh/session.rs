//! SSH connections: one multiplexed OpenSSH master per destination, shared
//! by every later call and group of the run, reopened when it died, and
//! closed at exit. Masters persist at most `MASTER_IDLE_SECS` idle, so a
//! killed opsh leaves none behind for long.
//!
//! A master is one `ssh` process and nothing else runs locally per host:
//! ssh_config is applied by that process (opsh's defaults come after the
//! user's settings in a generated config that includes them), and `ssh -G`
//! runs only when a Host's address is shown or an error needs it.

use std::collections::HashMap;
use std::ffi::OsString;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::core::context::Context;
use crate::core::descriptors;
use crate::core::failure::Failure;
use crate::core::runtime::Runtime;
use crate::core::services::Service;
use crate::core::settings::{SUDO_PASSWORD_ENV, SshSettings};

/// A master exits after this long without a session.
const MASTER_IDLE_SECS: usize = 60;
/// Keepalives notice a peer that vanished (3 missed = gone).
const SERVER_ALIVE: Duration = Duration::from_secs(15);
/// Unix socket paths are limited to ~107 bytes; openssh adds
/// `/.ssh-connectionXXXXXX/master` and ssh a random suffix while binding.
const MAX_CONTROL_DIR_LEN: usize = 100 - 50;
/// How long exit waits for remote commands to be ended.
const CLEANUP_LIMIT: Duration = Duration::from_secs(10);
/// How long a master may take to answer whether it is alive.
const CHECK_LIMIT: Duration = Duration::from_secs(10);
const NO_SSH_HINT: &str =
    "opsh drives the OpenSSH client: install it (e.g. apt-get install openssh-client)";

/// Where and how to connect, as the runbook asked.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// Shown as the host's name and as the prefix of its output lines.
    pub name: String,
    /// What ssh is given: an address, a DNS name or an ssh_config alias.
    pub destination: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub key: Option<PathBuf>,
    pub jump: Option<String>,
    pub strict: bool,
    pub connect_timeout: Duration,
    /// The target's Name tag, if it has one: `--limit` matches it too.
    pub label: Option<String>,
    /// The password for `sudo -S`; none: `sudo -n`.
    pub sudo_password: Option<Secret>,
}

/// A password that never shows in Debug output.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl ConnectRequest {
    /// Every name the target goes by, for `--limit`.
    pub fn names(&self) -> Vec<&str> {
        let mut names = vec![self.name.as_str(), self.destination.as_str()];
        names.extend(self.label.as_deref());
        names
    }
}

impl ConnectRequest {
    /// What ssh is told of the request: the options the runbook gave, then
    /// the destination.
    fn ssh_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if let Some(user) = &self.user {
            args.extend(["-l".into(), user.into()]);
        }
        if let Some(port) = self.port {
            args.extend(["-p".into(), port.to_string().into()]);
        }
        if let Some(key) = &self.key {
            // Only the given key, not the agent's or the config's as well.
            args.extend(["-o".into(), "IdentitiesOnly=yes".into(), "-i".into()]);
            args.push(key.into());
        }
        if let Some(jump) = &self.jump {
            args.extend(["-J".into(), jump.into()]);
        }
        args.extend(["--".into(), (&self.destination).into()]);
        args
    }

    /// Requests with the same key share a master.
    fn key(&self) -> String {
        format!(
            "{}\0{:?}\0{:?}\0{:?}\0{:?}",
            self.destination, self.user, self.port, self.key, self.jump
        )
    }
}

/// What OpenSSH makes of a request once ssh_config is applied.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub hostname: String,
    pub user: String,
    pub port: u16,
}

/// A request, and its resolution when it was needed: everything needed to
/// reach the host again, and what a Host shows.
#[derive(Debug)]
pub struct HostSpec {
    pub request: ConnectRequest,
    pub resolved: Option<Resolved>,
}

impl HostSpec {
    /// A request not (yet) resolved: groups connect without `ssh -G`.
    pub fn new(request: ConnectRequest) -> Self {
        Self {
            request,
            resolved: None,
        }
    }

    pub fn destination(&self) -> String {
        match &self.resolved {
            Some(r) => format!("{}@{}:{}", r.user, r.hostname, r.port),
            None => self.request.destination.clone(),
        }
    }
}

/// A connection that could not be made, with the reason ssh gave and what
/// to try.
#[derive(Debug, Clone)]
pub struct ConnectError {
    pub name: String,
    pub message: String,
    pub hint: Option<String>,
}

impl From<ConnectError> for Failure {
    fn from(e: ConnectError) -> Self {
        Self {
            message: format!("cannot connect to {}: {}", e.name, e.message),
            hint: e.hint,
        }
    }
}

/// One OpenSSH control master.
pub struct Master {
    pub session: openssh::Session,
    pub reaper: Arc<Reaper>,
}

/// Work that must finish before opsh exits, even after Ctrl-C: ending
/// remote commands whose futures were dropped.
#[derive(Default)]
pub struct Reaper {
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Reaper {
    /// Start `work` now (from a `Drop`, inside the runtime); exit waits for it.
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
            // A long REPL session must not collect handles of finished work.
            tasks.retain(|task| !task.is_finished());
            tasks.push(handle.spawn(work));
        }
    }

    async fn wait(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Master>>>>;

pub struct Pool {
    config: Option<PathBuf>,
    control_dir: Mutex<Option<PathBuf>>,
    master_config: Mutex<Option<PathBuf>>,
    resolved: Mutex<HashMap<String, Resolved>>,
    masters: Mutex<HashMap<String, Slot>>,
    reaper: Arc<Reaper>,
    launched: AtomicUsize,
}

impl Pool {
    pub fn new(settings: &SshSettings) -> Self {
        Self {
            config: settings.config.clone(),
            control_dir: Mutex::new(None),
            master_config: Mutex::new(None),
            resolved: Mutex::new(HashMap::new()),
            masters: Mutex::new(HashMap::new()),
            reaper: Arc::new(Reaper::default()),
            launched: AtomicUsize::new(0),
        }
    }

    /// The ssh_config file in use, as ssh would read it.
    pub fn config(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// Resolve `request` and make sure a master to it is up.
    pub async fn connect(&self, request: ConnectRequest) -> Result<Arc<HostSpec>, ConnectError> {
        let spec = self.spec(request).await?;
        self.master(&spec).await?;
        Ok(spec)
    }

    /// Resolve `request` through ssh_config, without connecting.
    pub async fn spec(&self, request: ConnectRequest) -> Result<Arc<HostSpec>, ConnectError> {
        let resolved = self.resolve(&request).await?;
        Ok(Arc::new(HostSpec {
            request,
            resolved: Some(resolved),
        }))
    }

    /// The user ssh logs in as on `spec`'s host (resolved now if it was not).
    pub async fn login_user(&self, spec: &HostSpec) -> String {
        if let Some(r) = &spec.resolved {
            return r.user.clone();
        }
        match self.resolve(&spec.request).await {
            Ok(r) => r.user,
            Err(_) => spec
                .request
                .user
                .clone()
                .unwrap_or_else(|| "the login user".into()),
        }
    }

    /// The master for `spec`, reconnecting if it exited (its idle limit,
    /// `ssh -O exit`): a master that exits removes its socket, so a look at
    /// the file is all it takes, not a round trip per command. One that was
    /// killed is found when a command cannot start on it: see `reopen`.
    pub async fn master(&self, spec: &HostSpec) -> Result<Arc<Master>, ConnectError> {
        self.live_master(spec, None).await
    }

    /// The master to try again on after a session could not be opened on
    /// `master` (failing with `cause`). Only a master that is really gone
    /// (its socket refuses or has vanished) is replaced, unless another
    /// caller replaced it already: one that still answers is kept, since
    /// replacing it would leave its ssh running with nobody to close it.
    /// `Err` is the message for the runbook.
    pub async fn reopen(
        &self,
        spec: &HostSpec,
        master: &Arc<Master>,
        cause: &openssh::Error,
    ) -> Result<Arc<Master>, Failure> {
        let name = &spec.request.name;
        if descriptors::exhausted(cause) {
            return Err(session_error(name, cause));
        }
        match tokio::time::timeout(CHECK_LIMIT, master.session.check()).await {
            Ok(Ok(())) => Ok(master.clone()),
            Ok(Err(openssh::Error::Disconnected)) => self
                .live_master(spec, Some(master))
                .await
                .map_err(Failure::from),
            Ok(Err(e)) => Err(session_error(name, &e)),
            Err(_) => Err(format!(
                "cannot start a command on {name}: its connection does not answer within {}s",
                CHECK_LIMIT.as_secs()
            )
            .into()),
        }
    }

    async fn live_master(
        &self,
        spec: &HostSpec,
        dead: Option<&Arc<Master>>,
    ) -> Result<Arc<Master>, ConnectError> {
        let slot = self
            .masters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(spec.request.key())
            .or_default()
            .clone();
        // Concurrent callers for one destination wait for a single connect.
        let mut slot = slot.lock().await;
        if let Some(master) = slot.as_ref() {
            let known_dead = dead.is_some_and(|dead| Arc::ptr_eq(dead, master));
            if !known_dead && master.session.control_socket().exists() {
                return Ok(master.clone());
            }
            // A killed master leaves its socket behind.
            let _ = std::fs::remove_file(master.session.control_socket());
            tracing::info!(host = %spec.request.name, "connection lost; reconnecting");
            *slot = None;
        }
        let master = Arc::new(self.launch(spec).await?);
        *slot = Some(master.clone());
        Ok(master)
    }

    /// Start `ssh -M -f -N` for `spec`; it returns once the master is
    /// authenticated and has gone to the background.
    async fn launch(&self, spec: &HostSpec) -> Result<Master, ConnectError> {
        let req = &spec.request;
        let fail = |message: String, hint: Option<String>| ConnectError {
            name: format!("{} ({})", req.name, spec.destination()),
            hint: hint.or_else(|| descriptors::exhausted_text(&message).then(descriptors::hint)),
            message,
        };
        let dir = self.control_dir().map_err(|e| fail(e, None))?;
        let config = self.master_config(&dir).map_err(|e| fail(e, None))?;
        let id = format!(
            "m{}-{}",
            std::process::id(),
            self.launched.fetch_add(1, Ordering::Relaxed)
        );
        let ctl = dir.join(&id);
        let log = dir.join(format!("{id}.log"));
        let mut ssh = tokio::process::Command::new("ssh");
        ssh.env_remove(SUDO_PASSWORD_ENV)
            .arg("-F")
            .arg(&config)
            .arg("-E")
            .arg(&log)
            .arg("-S")
            .arg(&ctl)
            .args(["-M", "-f", "-N", "-o", "BatchMode=yes", "-o"])
            .arg(format!("ControlPersist={MASTER_IDLE_SECS}s"))
            .arg("-o")
            .arg(format!(
                "ConnectTimeout={}",
                req.connect_timeout.as_secs().max(1)
            ))
            .arg("-o")
            .arg(format!("ServerAliveInterval={}", SERVER_ALIVE.as_secs()));
        if req.strict {
            ssh.args(["-o", "StrictHostKeyChecking=yes"]);
        }
        ssh.args(req.ssh_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Ctrl-C while connecting ends the ssh that has not forked yet.
            .kill_on_drop(true);
        tracing::info!(host = %req.name, destination = %spec.destination(), "connecting");
        // ConnectTimeout covers TCP and the banner; this also bounds a peer
        // that stalls during key exchange or authentication.
        let limit = req.connect_timeout * 2 + Duration::from_secs(5);
        let status = tokio::time::timeout(limit, ssh.status()).await;
        // The master keeps writing to the open log; the name is not needed.
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        let failure = match status {
            Ok(Ok(status)) if status.success() => None,
            Ok(Ok(status)) => Some(match relevant_lines(&said) {
                text if text.is_empty() => format!("ssh exited with {status}"),
                text => text,
            }),
            Ok(Err(e)) => return Err(fail(format!("cannot run ssh: {e}"), spawn_hint(&e))),
            Err(_) => {
                let port = self.resolve(req).await.map_or(22, |r| r.port);
                return Err(fail(
                    format!("no answer within {}s", limit.as_secs()),
                    Some(timeout_hint(port)),
                ));
            }
        };
        if let Some(message) = failure {
            let resolved = match &spec.resolved {
                Some(r) => Some(r.clone()),
                None => self.resolve(req).await.ok(),
            };
            let hint = hint_for(&message, req, resolved.as_ref(), self.config.as_deref());
            return Err(fail(message, hint));
        }
        Ok(Master {
            session: openssh::Session::resume_mux(ctl.into_boxed_path(), None),
            reaper: self.reaper.clone(),
        })
    }

    /// The ssh_config every master reads: the configuration in use first, so
    /// whatever it sets wins, then opsh's defaults for what it leaves unset.
    /// Written once per content, in the private control directory.
    fn master_config(&self, dir: &Path) -> Result<PathBuf, String> {
        let mut cached = self.master_config.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(path) = cached.as_ref() {
            return Ok(path.clone());
        }
        let text = master_config_text(self.config.as_deref())?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut hasher);
        let path = dir.join(format!("ssh_config-{:016x}", hasher.finish()));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            let tmp = dir.join(format!("ssh_config.{}", std::process::id()));
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
                .and_then(|()| std::fs::rename(&tmp, &path));
            written.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        *cached = Some(path.clone());
        Ok(path)
    }

    /// Apply ssh_config to `request` with `ssh -G`, which prints the
    /// effective settings without connecting.
    async fn resolve(&self, request: &ConnectRequest) -> Result<Resolved, ConnectError> {
        let cache_key = request.key();
        if let Some(hit) = self
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&cache_key)
        {
            return Ok(hit.clone());
        }
        let fail = |message: String, hint: Option<String>| ConnectError {
            name: request.name.clone(),
            message,
            hint,
        };
        let mut cmd = tokio::process::Command::new("ssh");
        cmd.env_remove(SUDO_PASSWORD_ENV).arg("-G");
        if let Some(config) = &self.config {
            cmd.arg("-F").arg(config);
        }
        cmd.args(request.ssh_args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let out = cmd
            .output()
            .await
            .map_err(|e| fail(format!("cannot run ssh: {e}"), spawn_hint(&e)))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(fail(
                format!("ssh rejects the settings: {}", relevant_lines(&stderr)),
                Some(format!(
                    "check the ssh_config file ({})",
                    self.config
                        .as_deref()
                        .map_or("~/.ssh/config".into(), |p| p.display().to_string())
                )),
            ));
        }
        let resolved = parse_ssh_g(&String::from_utf8_lossy(&out.stdout))
            .ok_or_else(|| fail("`ssh -G` printed no hostname, user or port".into(), None))?;
        self.resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cache_key, resolved.clone());
        Ok(resolved)
    }

    /// A private directory for control sockets, with a short path.
    fn control_dir(&self) -> Result<PathBuf, String> {
        let mut cached = self.control_dir.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(dir) = cached.as_ref() {
            return Ok(dir.clone());
        }
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        let mut candidates = Vec::new();
        if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
            && runtime.is_absolute()
            && runtime.is_dir()
        {
            candidates.push(runtime.join("opsh"));
        }
        candidates.push(std::env::temp_dir().join(format!("opsh-{uid}")));
        candidates.push(PathBuf::from(format!("/tmp/opsh-{uid}")));
        let mut problems = Vec::new();
        for dir in candidates {
            if dir.as_os_str().len() > MAX_CONTROL_DIR_LEN {
                problems.push(format!("{}: path too long for a socket", dir.display()));
                continue;
            }
            match private_dir(&dir, uid) {
                Ok(()) => {
                    *cached = Some(dir.clone());
                    return Ok(dir);
                }
                Err(e) => problems.push(format!("{}: {e}", dir.display())),
            }
        }
        Err(format!(
            "no private directory for ssh control sockets ({})",
            problems.join("; ")
        ))
    }
}

/// The run's connections, opened on first use.
pub fn pool(ctx: &Context) -> Arc<Pool> {
    let Ok(pool) =
        ctx.service(|ctx| Ok::<_, std::convert::Infallible>(Pool::new(&ctx.settings.ssh)));
    pool
}

impl Service for Pool {
    /// End the remote commands still being stopped, then close every master.
    fn shutdown(&self, runtime: &Runtime) {
        // Past the limit, stragglers are left to the hosts' own cleanup.
        let _ = runtime
            .cleanup(async { tokio::time::timeout(CLEANUP_LIMIT, self.reaper.wait()).await });
        let slots: Vec<Slot> = self
            .masters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, slot)| slot)
            .collect();
        let masters: Vec<Master> = slots
            .iter()
            .filter_map(|slot| slot.try_lock().ok()?.take())
            .filter_map(Arc::into_inner)
            .collect();
        // Asked together, masters stop in parallel. One still shared (a
        // command that outlived the reaper) ends at its idle limit instead.
        let closing = masters.into_iter().map(|m| m.session.close()).collect();
        let _ = runtime.cleanup(async {
            tokio::time::timeout(CLEANUP_LIMIT, crate::core::runtime::join_all(closing)).await
        });
    }
}

/// The text of the ssh_config masters read, for the configuration `user`
/// (None: ssh's own, ~/.ssh/config then /etc/ssh/ssh_config).
fn master_config_text(user: Option<&Path>) -> Result<String, String> {
    let includes = match user {
        None => "Include ~/.ssh/config\nInclude /etc/ssh/ssh_config\n".to_string(),
        Some(path) => {
            let path = std::path::absolute(path)
                .map_err(|e| format!("ssh_config {}: {e}", path.display()))?;
            let text = path.to_string_lossy();
            // Include takes glob patterns and quoted words.
            if text.contains(['"', '*', '?', '[', '\n']) {
                return Err(format!(
                    "ssh_config path {text:?} has a character ssh's Include cannot take (\" * ? [): rename or move the file"
                ));
            }
            format!("Include \"{text}\"\n")
        }
    };
    Ok(format!(
        "# Written by opsh for its ssh masters: the ssh_config in use first, so\n\
         # whatever it sets wins, then opsh's defaults for what it leaves unset.\n\
         {includes}\n\
         Host *\n    StrictHostKeyChecking accept-new\n"
    ))
}

fn private_dir(dir: &Path, uid: u32) -> std::io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    let problem = |what: &str| std::io::Error::other(what.to_string());
    if !meta.file_type().is_dir() {
        return Err(problem("not a directory"));
    }
    if meta.uid() != uid {
        return Err(problem("owned by another user"));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn parse_ssh_g(text: &str) -> Option<Resolved> {
    let mut fields: HashMap<&str, &str> = HashMap::new();
    for line in text.lines() {
        if let Some((key, value)) = line.split_once(' ') {
            fields.entry(key).or_insert(value.trim());
        }
    }
    let hostname = fields.get("hostname")?.to_string();
    let user = fields.get("user")?.to_string();
    let port: u16 = fields.get("port")?.parse().ok()?;
    Some(Resolved {
        hostname,
        user,
        port,
    })
}

/// ssh's messages without the banner noise, joined on one line. The long
/// "host identification has changed" warning is cut to its facts.
fn relevant_lines(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("Warning: Permanently added")
                && !l.starts_with("Pseudo-terminal will not")
                && !l.chars().all(|c| c == '@')
        })
        .collect();
    let changed = lines
        .iter()
        .any(|l| l.contains("IDENTIFICATION HAS CHANGED"));
    lines
        .into_iter()
        .filter(|l| {
            !changed
                || l.starts_with("Host key for")
                || l.starts_with("Offending")
                || l.starts_with("remove with")
                || l.starts_with("ssh-keygen")
                || l.starts_with("Host key verification failed")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why ssh could not be started: not installed, or no descriptors left.
fn spawn_hint(e: &std::io::Error) -> Option<String> {
    if descriptors::exhausted(e) {
        Some(descriptors::hint())
    } else if e.kind() == std::io::ErrorKind::NotFound {
        Some(NO_SSH_HINT.into())
    } else {
        None
    }
}

/// The message for a session that could not be opened on a master, with
/// what openssh's error wraps (its own text alone names no cause).
pub fn session_error(name: &str, e: &openssh::Error) -> Failure {
    if descriptors::exhausted(e) {
        return Failure::new(format!(
            "cannot start a command on {name}: no file descriptor left"
        ))
        .hint(descriptors::hint());
    }
    let mut message = format!("cannot start a command on {name}: {e}");
    let mut cause = std::error::Error::source(e);
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !message.contains(&text) {
            message += &format!(": {text}");
        }
        cause = inner.source();
    }
    message.into()
}

fn timeout_hint(port: u16) -> String {
    format!(
        "check the address, that the machine is running, and that a firewall or security group lets this machine reach port {port}"
    )
}

fn hint_for(
    message: &str,
    req: &ConnectRequest,
    resolved: Option<&Resolved>,
    config: Option<&Path>,
) -> Option<String> {
    let guess = Resolved {
        hostname: req.destination.clone(),
        user: req.user.clone().unwrap_or_else(|| "the login user".into()),
        port: req.port.unwrap_or(22),
    };
    let r = resolved.unwrap_or(&guess);
    let m = message.to_lowercase();
    let hint = if descriptors::exhausted_text(message) {
        descriptors::hint()
    } else if m.contains("connection refused") {
        format!(
            "nothing accepts connections on {}:{}: is sshd running there, and is the port right?",
            r.hostname, r.port
        )
    } else if m.contains("timed out") {
        timeout_hint(r.port)
    } else if m.contains("permission denied") || m.contains("too many authentication failures") {
        format!(
            "authentication as `{}` failed: check the user (option `user`, [ssh] user in opsh.toml, User in ssh_config) and the key (option `key`, IdentityFile, ssh-agent)",
            r.user
        )
    } else if m.contains("identification has changed")
        || m.contains("host key for") && m.contains("has changed")
    {
        let known_as = if r.port == 22 {
            r.hostname.clone()
        } else {
            format!("[{}]:{}", r.hostname, r.port)
        };
        format!(
            "the host key differs from the one in known_hosts: if {} was rebuilt, remove the old key (`ssh-keygen -R '{known_as}'`, with -f FILE for another known_hosts file) and connect again; otherwise the connection may be intercepted",
            r.hostname
        )
    } else if m.contains("host key verification failed") {
        format!(
            "strict host key checking is on and {} is not in known_hosts: add its key first (e.g. ssh-keyscan), or connect once without `strict_host_keys`",
            r.hostname
        )
    } else if m.contains("could not resolve hostname") {
        format!(
            "`{}` is neither an alias in {} nor a name DNS knows",
            req.destination,
            config.map_or("~/.ssh/config".into(), |p| p.display().to_string())
        )
    } else if m.contains("no route to host") || m.contains("network is unreachable") {
        "this machine cannot route to that address: a private address needs a jump host (option `jump`, or ProxyJump in ssh_config)".into()
    } else if m.contains("configuration option") {
        format!(
            "check the ssh_config file ({})",
            config.map_or("~/.ssh/config".into(), |p| p.display().to_string())
        )
    } else {
        return None;
    };
    Some(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_g_output_gives_where_ssh_goes() {
        let text = "host web\nuser deploy\nhostname 10.0.0.5\nport 2222\nproxyjump bastion\n";
        let r = parse_ssh_g(text).unwrap();
        assert_eq!(
            (r.user.as_str(), r.hostname.as_str(), r.port),
            ("deploy", "10.0.0.5", 2222)
        );
        assert!(parse_ssh_g("host x\n").is_none());
    }

    #[test]
    fn masters_read_the_users_config_before_opsh_defaults() {
        let text = master_config_text(Some(Path::new("/etc/opsh lab/ssh_config"))).unwrap();
        let include = text.find("Include \"/etc/opsh lab/ssh_config\"").unwrap();
        let default = text.find("StrictHostKeyChecking accept-new").unwrap();
        assert!(include < default);
        let text = master_config_text(None).unwrap();
        assert!(text.contains("Include ~/.ssh/config\nInclude /etc/ssh/ssh_config\n"));
        let err = master_config_text(Some(Path::new("/tmp/conf*"))).unwrap_err();
        assert!(err.contains("Include cannot take"), "{err}");
    }

    #[test]
    fn control_dir_is_private_and_short() {
        let pool = Pool::new(&SshSettings {
            config: None,
            user: None,
            key: None,
            concurrency: 1,
            connect_timeout_secs: 1,
            strict_host_keys: false,
            sudo_password: None,
        });
        let dir = pool.control_dir().unwrap();
        let meta = std::fs::metadata(&dir).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700);
        assert!(dir.as_os_str().len() <= MAX_CONTROL_DIR_LEN);
    }

    #[test]
    fn a_changed_host_key_is_told_briefly() {
        let text = "@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\nOffending ED25519 key in /k:1\n  remove with:\n  ssh-keygen -f \"/k\" -R \"[h]:2\"\nHost key for [h]:2 has changed and you have requested strict checking.\nHost key verification failed.\n";
        assert_eq!(
            relevant_lines(text),
            "Offending ED25519 key in /k:1 remove with: ssh-keygen -f \"/k\" -R \"[h]:2\" Host key for [h]:2 has changed and you have requested strict checking. Host key verification failed."
        );
    }

    #[test]
    fn a_session_error_names_its_cause_and_what_to_do() {
        let emfile = openssh::Error::ChildIo(std::io::Error::from_raw_os_error(libc::EMFILE));
        let failure = session_error("web-1", &emfile);
        assert_eq!(
            failure.message,
            "cannot start a command on web-1: no file descriptor left"
        );
        let hint = failure.hint.unwrap_or_default();
        assert!(
            hint.starts_with("too many open files: raise `ulimit -n`"),
            "{hint}"
        );
        let epipe = openssh::Error::ChildIo(std::io::Error::from_raw_os_error(libc::EPIPE));
        assert_eq!(
            session_error("web-1", &epipe),
            Failure::new(
                "cannot start a command on web-1: failure while accessing standard i/o of remote process: Broken pipe (os error 32)"
            )
        );
    }

    #[test]
    fn banner_noise_is_dropped() {
        let text = "Warning: Permanently added 'x' (ED25519) to the list of known hosts.\r\nuser@x: Permission denied (publickey).\n";
        assert_eq!(
            relevant_lines(text),
            "user@x: Permission denied (publickey)."
        );
    }
}
