//! One command on a host, over its master. The command runs under a small
//! `sh` wrapper that first reports its process group, so a timeout or a
//! Ctrl-C ends the remote processes too, not just the local channel.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use openssh::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::command::stream::{Captured, Live, Stream, pump};
use crate::core::failure::Failure;
use crate::core::output::Output;
use crate::core::quote::quote;
use crate::ssh::remote_script::{SUDO_ADMITTED, SUDO_PROMPT};
use crate::ssh::session::{HostSpec, Master, Pool, session_error};

/// Exit code reported for a command stopped by its timeout, as timeout(1).
pub const TIMED_OUT: i64 = 124;
/// The wrapper's first line: `opsh-pgid:<process group>`.
const MARKER: &[u8] = b"opsh-pgid:";
/// sshd starts every session as its own process group, led by the login
/// shell or by the shell that replaced it; the wrapper reports that group
/// and then runs the script itself, in the same shell as `sh -c` would (no
/// arguments, nothing of its own left set): a shell per command fewer, so
/// the exit code is the script's.
const WRAPPER: &str = r#"if kill -0 -$$ 2>/dev/null; then g=$$; elif kill -0 -$PPID 2>/dev/null; then g=$PPID; else g=$(ps -o pgid= -p $$ 2>/dev/null); fi
echo "opsh-pgid:$g"
eval "unset g; set --; $1""#;
/// Output a login shell prints before the wrapper runs is passed on, up to this.
const PREAMBLE_LIMIT: usize = 64 * 1024;
/// `read` returns at most this much: as much as a Result keeps.
pub const READ_LIMIT: usize = crate::command::CAPTURE_LIMIT;

/// What the command reads on stdin.
pub enum Input {
    Null,
    Bytes(Vec<u8>),
    /// Streamed from disk, any size.
    File(PathBuf),
}

/// What happens to the command's stdout.
pub enum Capture {
    /// Lines shown live with the host prefix (unless quiet) and captured.
    Lines { quiet: bool },
    /// Raw bytes, captured silently, up to READ_LIMIT.
    Bytes,
    /// Raw bytes, written to a local file; `name` is how errors call it.
    File { file: tokio::fs::File, name: String },
}

pub struct Job<'a> {
    /// The host name: the prefix of output lines.
    pub origin: &'a str,
    /// A POSIX sh script.
    pub script: String,
    pub input: Input,
    pub capture: Capture,
    pub quiet_stderr: bool,
    pub timeout: Option<Duration>,
    /// The most of stderr, and of stdout captured as Lines, to keep.
    pub capture_limit: usize,
    /// The script runs sudo with opsh's prompt (`sudo_with_password`):
    /// this password is written on stdin when sudo asks, the input once
    /// sudo admitted the command.
    pub sudo_password: Option<String>,
}

pub struct Finished {
    pub code: i64,
    pub stdout: Stdout,
    pub stderr: Captured,
    /// sudo asked again after the password: it was wrong.
    pub sudo_refused: bool,
}

/// What the stderr watcher tells the stdin feeder of a sudo with a password.
enum Gate {
    /// sudo asks: write the password.
    Password,
    /// sudo admitted the command: write its input.
    Admitted,
}

/// The command's stdout, as its Capture asked.
pub enum Stdout {
    Lines(Captured),
    Bytes(Vec<u8>),
    /// More than READ_LIMIT bytes: the command was stopped there.
    TooLarge,
    /// Written to the Capture's file, or lost to a timeout.
    NotKept,
}

/// Run `job` on the host of `spec`, over its master. A master found gone
/// as the command starts (killed, or its idle limit struck just then) is
/// reopened and the command started on the new one: it never ran on the
/// old. `Err` means the command's outcome is unknown (the connection
/// failed) or a local file could not be read or written.
pub async fn exec(
    pool: &Pool,
    spec: &HostSpec,
    job: Job<'_>,
    output: &Output,
) -> Result<Finished, Failure> {
    let origin = job.origin;
    let line = format!("exec sh -c {} opsh {}", quote(WRAPPER), quote(&job.script));
    let stdin = !matches!(job.input, Input::Null) || job.sudo_password.is_some();
    let first = pool.master(spec).await?;
    let reopened;
    let (master, mut child) = match start(&first, &line, stdin).await {
        Ok(child) => (&first, child),
        Err(e) => {
            tracing::debug!(host = origin, error = %e, "no session on the master");
            reopened = pool.reopen(spec, &first, &e).await?;
            let child = start(&reopened, &line, stdin)
                .await
                .map_err(|e| session_error(origin, &e))?;
            (&reopened, child)
        }
    };
    let pgid = Arc::new(AtomicI64::new(0));
    let guard = KillGuard {
        master: master.clone(),
        pgid: pgid.clone(),
        armed: true,
    };
    let stdin = child.stdin().take();
    let (Some(stdout), Some(stderr)) = (child.stdout().take(), child.stderr().take()) else {
        return Err(Failure::new("internal: command pipes missing"));
    };

    let refused = AtomicBool::new(false);
    let (gate, gates) = tokio::sync::mpsc::unbounded_channel();
    let sudo = job.sudo_password.is_some();
    let feed = async {
        match job.sudo_password {
            Some(password) => feed_with_sudo(stdin, job.input, password, gates).await,
            None => feed(stdin, job.input).await,
        }
    };
    let limit = job.capture_limit;
    let out = async {
        let mut reader = BufReader::new(stdout);
        let (group, preamble) = read_marker(&mut reader).await;
        if let Some(group) = group {
            pgid.store(group, Ordering::SeqCst);
        }
        collect(reader, preamble, job.capture, origin, limit, output).await
    };
    let live = (!job.quiet_stderr).then_some(Live {
        output,
        origin,
        is_stderr: true,
    });
    let err = async {
        let mut reader = BufReader::new(stderr);
        let mut stream = Stream::new(live, limit);
        if sudo {
            watch_sudo(&mut reader, gate, &refused, &mut stream).await;
        } else {
            drop(gate);
        }
        pump(reader, stream).await
    };
    let work = async {
        let (fed, out, err) = tokio::join!(feed, out, err);
        (fed, out, err, child.wait().await)
    };
    let (fed, out, mut stderr, status) = match job.timeout {
        None => work.await,
        Some(limit) => match tokio::time::timeout(limit, work).await {
            Ok(done) => done,
            Err(_) => {
                guard.disarm();
                let group = pgid.load(Ordering::SeqCst);
                let mut note = format!("timed out after {}s", limit.as_secs_f64());
                if group > 1 {
                    kill_group(&master.session, group).await;
                    note += " and was stopped on the host";
                } else {
                    note += "; its remote processes could not be found to stop them";
                }
                return Ok(Finished {
                    code: TIMED_OUT,
                    stdout: Stdout::NotKept,
                    stderr: Captured::note(note + "\n"),
                    sudo_refused: refused.load(Ordering::SeqCst),
                });
            }
        },
    };
    guard.disarm();
    let stdout = out?;
    fed?;
    let code = match status {
        Ok(status) => status.code().map_or(-1, i64::from),
        // openssh reports exit code 127 as an error of its own.
        Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => 127,
        Err(openssh::Error::RemoteProcessTerminated) if master.session.check().await.is_ok() => {
            stderr.text += "the remote command was killed by a signal\n";
            -1
        }
        Err(openssh::Error::RemoteProcessTerminated | openssh::Error::Disconnected) => {
            return Err(format!("the connection to {origin} was lost").into());
        }
        Err(e) => return Err(format!("the connection to {origin} failed: {e}").into()),
    };
    Ok(Finished {
        code,
        stdout,
        stderr,
        sudo_refused: refused.load(Ordering::SeqCst),
    })
}

/// Read sudo's stderr until it admits the command: its prompt asks for the
/// password (once; a second prompt means the password was wrong, and stdin
/// is closed so sudo gives up at once). Lines of sudo's own that are no
/// prompt go on to `stream`.
async fn watch_sudo<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    gate: tokio::sync::mpsc::UnboundedSender<Gate>,
    refused: &AtomicBool,
    stream: &mut Stream<'_>,
) {
    let prompt = SUDO_PROMPT.trim_end_matches('\n');
    let mut asked = false;
    loop {
        let mut line = Vec::new();
        let limit = u64::try_from(PREAMBLE_LIMIT).unwrap_or(u64::MAX);
        match (&mut *reader)
            .take(limit)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim_end() == SUDO_ADMITTED {
            let _ = gate.send(Gate::Admitted);
            return;
        }
        match text.find(prompt) {
            Some(at) if !asked => {
                asked = true;
                stream.push(&line[..at]);
                let _ = gate.send(Gate::Password);
            }
            Some(_) => {
                // Dropping the gate closes stdin: sudo stops asking.
                refused.store(true, Ordering::SeqCst);
                return;
            }
            None if text.trim_end() == "Sorry, try again." => {}
            None => stream.push(&line),
        }
    }
}

/// Write the password when sudo asks, then the input once sudo admitted
/// the command. If sudo neither asks nor admits (it refused, or is
/// missing), stdin is closed.
async fn feed_with_sudo(
    pipe: Option<openssh::ChildStdin>,
    input: Input,
    password: String,
    mut gates: tokio::sync::mpsc::UnboundedReceiver<Gate>,
) -> Result<(), String> {
    let Some(mut pipe) = pipe else {
        return Ok(());
    };
    let mut input = Some(input);
    while let Some(gate) = gates.recv().await {
        match gate {
            Gate::Password => {
                let mut line = password.as_bytes().to_vec();
                line.push(b'\n');
                let _ = pipe.write_all(&line).await;
                let _ = pipe.flush().await;
            }
            Gate::Admitted => {
                if let Some(rest) = input.take() {
                    write_input(&mut pipe, rest).await?;
                }
                break;
            }
        }
    }
    let _ = pipe.shutdown().await;
    Ok(())
}

/// Open a session on `master` running `line`, with its output piped.
async fn start<'a>(
    master: &'a Master,
    line: &str,
    stdin: bool,
) -> Result<openssh::Child<&'a openssh::Session>, openssh::Error> {
    let mut cmd = master.session.raw_command(line);
    cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().await
}

/// Write `input` to the command's stdin, then close it. A command that
/// exits without reading its input is not an error; a local file that
/// cannot be read is.
async fn feed(pipe: Option<openssh::ChildStdin>, input: Input) -> Result<(), String> {
    let Some(mut pipe) = pipe else {
        return Ok(());
    };
    write_input(&mut pipe, input).await?;
    let _ = pipe.shutdown().await;
    Ok(())
}

/// Write `input` to the command's stdin, leaving it open.
async fn write_input(pipe: &mut openssh::ChildStdin, input: Input) -> Result<(), String> {
    match input {
        Input::Null => {}
        Input::Bytes(bytes) => {
            let _ = pipe.write_all(&bytes).await;
        }
        Input::File(path) => {
            let mut file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let mut buf = vec![0; 256 * 1024];
            loop {
                let n = file
                    .read(&mut buf)
                    .await
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if n == 0 || pipe.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Lines before the wrapper's marker come from the login shell; the marker
/// carries the process group. Reads at most about PREAMBLE_LIMIT, newline
/// or not.
async fn read_marker<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> (Option<i64>, Vec<u8>) {
    let mut preamble = Vec::new();
    let mut line = Vec::new();
    while preamble.len().saturating_add(line.len()) <= PREAMBLE_LIMIT {
        let buf = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(buf) => buf,
        };
        let (taken, ended) = match buf.iter().position(|&b| b == b'\n') {
            Some(end) => (end + 1, true),
            None => (buf.len(), false),
        };
        line.extend_from_slice(&buf[..taken]);
        reader.consume(taken);
        if !ended {
            continue;
        }
        if let Some(rest) = line.strip_prefix(MARKER) {
            let group = String::from_utf8_lossy(rest).trim().parse().ok();
            return (group, preamble);
        }
        preamble.append(&mut line);
    }
    preamble.append(&mut line);
    (None, preamble)
}

async fn collect<R: AsyncRead + Unpin>(
    mut reader: BufReader<R>,
    preamble: Vec<u8>,
    capture: Capture,
    origin: &str,
    limit: usize,
    output: &Output,
) -> Result<Stdout, String> {
    match capture {
        Capture::Lines { quiet } => {
            let live = (!quiet).then_some(Live {
                output,
                origin,
                is_stderr: false,
            });
            let mut stream = Stream::new(live, limit);
            stream.push(&preamble);
            Ok(Stdout::Lines(pump(reader, stream).await))
        }
        Capture::Bytes => {
            if !preamble.is_empty() {
                tracing::debug!(
                    host = origin,
                    "dropped login shell output before the command"
                );
            }
            let mut bytes = Vec::new();
            let most = u64::try_from(READ_LIMIT).unwrap_or(u64::MAX);
            // A read error means the connection broke: the exit status says so.
            let _ = (&mut reader)
                .take(most.saturating_add(1))
                .read_to_end(&mut bytes)
                .await;
            if bytes.len() > READ_LIMIT {
                // Dropping the reader stops the command (SIGPIPE).
                return Ok(Stdout::TooLarge);
            }
            Ok(Stdout::Bytes(bytes))
        }
        Capture::File { mut file, name } => {
            let mut buf = vec![0; 256 * 1024];
            loop {
                let n = match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                file.write_all(&buf[..n])
                    .await
                    .map_err(|e| format!("cannot write {name}: {e}"))?;
            }
            file.flush()
                .await
                .map_err(|e| format!("cannot write {name}: {e}"))?;
            Ok(Stdout::NotKept)
        }
    }
}

/// Ends the remote process group if the command's future is dropped
/// (Ctrl-C) before it finished; exit waits for that to complete.
struct KillGuard {
    master: Arc<Master>,
    pgid: Arc<AtomicI64>,
    armed: bool,
}

impl KillGuard {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for KillGuard {
    fn drop(&mut self) {
        let group = self.pgid.load(Ordering::SeqCst);
        if !self.armed || group <= 1 {
            return;
        }
        let master = self.master.clone();
        self.master.reaper.spawn(async move {
            kill_group(&master.session, group).await;
        });
    }
}

/// TERM the remote process group, then KILL what is left after ~2 s.
/// `group` is never 0 or 1 here: `kill -TERM -1` would signal everything.
async fn kill_group(session: &openssh::Session, group: i64) {
    let script = format!(
        "g={group}; kill -TERM -$g 2>/dev/null || exit 0; i=0; \
         while kill -0 -$g 2>/dev/null; do i=$((i+1)); \
         if [ $i -gt 20 ]; then kill -KILL -$g 2>/dev/null; exit 0; fi; sleep 0.1; done"
    );
    let mut cmd = session.raw_command(format!("exec sh -c {}", quote(&script)));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _ = tokio::time::timeout(Duration::from_secs(10), cmd.status()).await;
}
