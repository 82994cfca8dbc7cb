//! The client side of the helper process: spawn, handshake, bake, cancel, shut down.
//!
//! Used by the plugin's bridge thread and by the `faurge` CLI; never by an audio
//! thread (every call here allocates, blocks or makes system calls).
//!
//! Topology (ipc-channel's own): the client creates an `IpcOneShotServer`, starts
//! the helper with `--ipc <server name>` appended to its arguments, and the helper
//! connects and sends one [`Bootstrap`] holding its [`Hello`] and the request and
//! reply channels. Every failure on the way (no program, a program that exits or
//! never connects, a wrong protocol version, models that did not load, a helper
//! that dies or hangs mid-bake) is a [`ClientError`], not a hang or a panic, and
//! the child is always reaped: no zombie process and no file descriptor is left
//! behind.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ipc_channel::ipc::{IpcOneShotServer, IpcReceiver, IpcSender};
use ipc_channel::{IpcError, TryRecvError};
use thiserror::Error;

use crate::error::{BakeError, ErrorKind, ProtocolError};
use crate::messages::{BakeRequest, BakeResult, Bootstrap, Hello, Progress, Reply, Request};
use crate::PROTOCOL_VERSION;

/// A sensible handshake timeout: the helper reads its model manifest before it
/// says hello, which takes well under a second; 10 s leaves room for a cold disk.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`HelperClient::shutdown`] (and `Drop`) waits for the helper to exit
/// after `Shutdown` before it kills it.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// How long a bake waits for the helper to confirm a cancel before it kills it.
pub const CANCEL_GRACE: Duration = Duration::from_secs(2);
/// Polling slice of the loops that wait on the helper.
const POLL_SLICE: Duration = Duration::from_millis(20);
/// Bytes of the helper's stderr kept for error messages.
const STDERR_TAIL_BYTES: usize = 4096;

/// How to start the helper. `--ipc <server name>` is appended to `args`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperCommand {
    /// The `faurge-helper` executable.
    pub program: PathBuf,
    /// Arguments before `--ipc NAME` (e.g. `--models DIR`, `--memory-budget 4GiB`).
    pub args: Vec<OsString>,
    /// Environment variables set on top of the inherited environment.
    pub env: Vec<(OsString, OsString)>,
}

impl HelperCommand {
    /// `program` with no extra arguments or environment.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        HelperCommand {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }
}

/// Why talking to the helper failed. Converts into [`BakeError`] for display.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The program does not exist or is not executable.
    #[error("could not start the helper \"{}\": {source}", program.display())]
    HelperMissing {
        /// What was tried.
        program: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Creating the IPC server or channels failed.
    #[error("could not set up IPC with the helper: {0}")]
    Ipc(String),
    /// The helper exited before it connected.
    #[error(
        "the helper exited before it connected ({status}){}",
        tail(stderr_tail)
    )]
    HelperExited {
        /// Its exit status or signal.
        status: ExitStatus,
        /// The end of what it wrote to stderr.
        stderr_tail: String,
    },
    /// The helper did not connect in time; it was killed and reaped.
    #[error(
        "the helper did not connect within {after:?} and was stopped{}",
        tail(stderr_tail)
    )]
    HandshakeTimeout {
        /// The timeout.
        after: Duration,
        /// The end of what it wrote to stderr.
        stderr_tail: String,
    },
    /// The helper's first message is not a handshake this version can read.
    #[error("the helper's handshake could not be read ({detail}); it is probably from a different Faurge release{}", tail(stderr_tail))]
    Handshake {
        /// What failed.
        detail: String,
        /// The end of what it wrote to stderr.
        stderr_tail: String,
    },
    /// The helper speaks another protocol version.
    #[error(
        "the helper {helper_version} speaks protocol version {found}, this build speaks {expected}"
    )]
    Version {
        /// [`PROTOCOL_VERSION`].
        expected: u32,
        /// The helper's.
        found: u32,
        /// The helper's crate version.
        helper_version: String,
    },
    /// The helper started, but its models are unusable.
    #[error("the helper could not load its models from \"{dir}\": {message}")]
    ModelLoad {
        /// The models directory.
        dir: String,
        /// The helper's reason.
        message: String,
    },
    /// The request was refused before it was sent.
    #[error("bad bake request: {0}")]
    BadRequest(#[from] ProtocolError),
    /// The helper answered the bake with an error.
    #[error("{0}")]
    Helper(BakeError),
    /// The bake was cancelled.
    #[error("bake {id} was cancelled")]
    Cancelled {
        /// The bake.
        id: u64,
    },
    /// The bake took longer than its timeout; the helper was killed and reaped.
    #[error("bake {id} did not finish within {after:?}; the helper was stopped")]
    Timeout {
        /// The bake.
        id: u64,
        /// The timeout.
        after: Duration,
    },
    /// The helper process is gone (crashed, killed, or exited).
    #[error(
        "the helper process stopped ({}){}",
        status_text(status),
        tail(stderr_tail)
    )]
    HelperDied {
        /// Its exit status or signal, when it could be collected.
        status: Option<ExitStatus>,
        /// The end of what it wrote to stderr.
        stderr_tail: String,
    },
    /// The helper sent a reply that does not decode; it was stopped.
    #[error("the helper sent a reply that could not be decoded ({detail}); it was stopped")]
    Protocol {
        /// What failed.
        detail: String,
    },
}

/// Most characters of the helper's stderr quoted in an error.
const STDERR_QUOTE_CHARS: usize = 600;

fn tail(stderr_tail: &str) -> String {
    let t = stderr_tail.trim();
    if t.is_empty() {
        return String::new();
    }
    let total = t.chars().count();
    let unreadable = t
        .chars()
        .filter(|c| {
            *c == char::REPLACEMENT_CHARACTER || (c.is_control() && !matches!(c, '\n' | '\t'))
        })
        .count();
    // Not text: a program that is not the helper, or a crash dump. Its bytes in a
    // message would only garble the terminal.
    if unreadable * 10 > total {
        return "; it wrote binary data to stderr (not shown)".into();
    }
    let clean: String = t
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    let n = clean.chars().count();
    if n > STDERR_QUOTE_CHARS {
        let end: String = clean.chars().skip(n - STDERR_QUOTE_CHARS).collect();
        format!("; its stderr ends with: …{end}")
    } else {
        format!("; its stderr ends with: {clean}")
    }
}

fn status_text(status: &Option<ExitStatus>) -> String {
    match status {
        Some(s) => s.to_string(),
        None => "status unknown".into(),
    }
}

impl ClientError {
    /// The category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::HelperMissing { .. } => ErrorKind::HelperMissing,
            ClientError::Ipc(_) => ErrorKind::Internal,
            ClientError::HelperExited { .. } => ErrorKind::HelperDied,
            ClientError::HandshakeTimeout { .. } => ErrorKind::Timeout,
            ClientError::Handshake { .. } => ErrorKind::Version,
            ClientError::Version { .. } => ErrorKind::Version,
            ClientError::ModelLoad { .. } => ErrorKind::ModelLoad,
            ClientError::BadRequest(_) => ErrorKind::BadRequest,
            ClientError::Helper(e) => e.kind,
            ClientError::Cancelled { .. } => ErrorKind::Cancelled,
            ClientError::Timeout { .. } => ErrorKind::Timeout,
            ClientError::HelperDied { .. } => ErrorKind::HelperDied,
            ClientError::Protocol { .. } => ErrorKind::Protocol,
        }
    }

    /// Whether this error means the helper process is gone (the next bake must
    /// respawn it). After [`ClientError::Cancelled`] it may be either (it is killed
    /// when it does not confirm within [`CANCEL_GRACE`]): ask [`HelperClient::is_alive`].
    pub fn helper_gone(&self) -> bool {
        !matches!(
            self,
            ClientError::BadRequest(_) | ClientError::Helper(_) | ClientError::Cancelled { .. }
        )
    }
}

impl From<ClientError> for BakeError {
    fn from(e: ClientError) -> Self {
        let id = match &e {
            ClientError::Helper(b) => return b.clone(),
            ClientError::Cancelled { id } | ClientError::Timeout { id, .. } => Some(*id),
            _ => None,
        };
        BakeError::new(id, e.kind(), e.to_string())
    }
}

/// The last bytes the helper wrote to stderr, collected by a thread.
struct StderrTail {
    buf: Arc<Mutex<VecDeque<u8>>>,
    done: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl StderrTail {
    fn start(mut pipe: impl Read + Send + 'static) -> Self {
        let buf = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL_BYTES)));
        let (tx, done) = mpsc::channel();
        let shared = Arc::clone(&buf);
        let thread = thread::Builder::new()
            .name("faurge-helper-stderr".into())
            .spawn(move || {
                let mut chunk = [0u8; 1024];
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut b) = shared.lock() {
                        b.extend(&chunk[..n]);
                        let excess = b.len().saturating_sub(STDERR_TAIL_BYTES);
                        b.drain(..excess);
                    }
                }
                drop(pipe);
                let _ = tx.send(());
            })
            .ok();
        StderrTail { buf, done, thread }
    }

    /// Waits (at most `SHUTDOWN_GRACE`) for the pipe to close, then returns the tail.
    fn finish(&mut self) -> String {
        if let Some(t) = self.thread.take() {
            // A grandchild could keep the pipe open; never wait for it forever.
            if self.done.recv_timeout(SHUTDOWN_GRACE).is_ok() {
                let _ = t.join();
            }
        }
        self.text()
    }

    fn text(&self) -> String {
        let b = self
            .buf
            .lock()
            .map(|b| b.iter().copied().collect::<Vec<u8>>());
        String::from_utf8_lossy(&b.unwrap_or_default()).into_owned()
    }
}

/// A running helper process and its channels.
///
/// Dropping it shuts the helper down like [`HelperClient::shutdown`].
pub struct HelperClient {
    child: Option<Child>,
    exit: Option<ExitStatus>,
    requests: IpcSender<Request>,
    replies: IpcReceiver<Reply>,
    hello: Hello,
    stderr: StderrTail,
}

impl fmt::Debug for HelperClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HelperClient")
            .field("pid", &self.pid())
            .field("exit", &self.exit)
            .field("hello", &self.hello)
            .finish_non_exhaustive()
    }
}

/// Process ids of the helpers this process started and has not reaped yet; each
/// leads its own process group (see [`HelperClient::spawn`]).
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Takes `pid` off [`RUNNING`] (it was reaped).
fn unlist(pid: u32) {
    if let Ok(mut v) = RUNNING.lock() {
        v.retain(|p| *p != pid);
    }
}

/// Starts `command` and lists it in [`RUNNING`] under one lock, so that
/// [`kill_running_helpers`], called at any moment, either waits for the listing
/// or finds the helper: none starts unlisted.
fn spawn_registered(command: &mut Command) -> io::Result<Child> {
    let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
    let child = command.spawn()?;
    running.push(child.id());
    Ok(child)
}

/// Kills every helper this process started and has not reaped, with whatever
/// they started in turn (their process groups), without waiting. For a program
/// that is about to exit on a signal: its `HelperClient`s will never be dropped.
pub fn kill_running_helpers() {
    let pids = RUNNING
        .lock()
        .map(|v| v.clone())
        .unwrap_or_else(|p| p.into_inner().clone());
    for pid in pids {
        kill_group(pid);
    }
}

/// SIGKILL to the process group `pid` leads (the helper and anything it started).
fn kill_group(pid: u32) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory
        // is touched. A group that no longer exists gives ESRCH, which is fine.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// Kills (if still running) and reaps `child`, and whatever it started.
fn kill_and_reap(child: &mut Child) -> Option<ExitStatus> {
    // Its group first: a helper's own children (a wrapper script's, say) must not
    // outlive it, even when the helper itself has already exited.
    kill_group(child.id());
    if let Ok(Some(s)) = child.try_wait() {
        unlist(child.id());
        return Some(s);
    }
    let _ = child.kill();
    let status = child.wait().ok();
    unlist(child.id());
    status
}

/// Waits up to `grace` for `child` to exit by itself, then kills it; always reaps.
fn reap_within(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + grace;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => {
                kill_group(child.id());
                unlist(child.id());
                return Some(s);
            }
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            _ => return kill_and_reap(child),
        }
    }
}

impl HelperClient {
    /// Starts `cmd` with `--ipc <name>` appended and waits up to `handshake_timeout`
    /// for its [`Bootstrap`].
    ///
    /// # Errors
    /// - [`ClientError::HelperMissing`]: the program cannot be executed.
    /// - [`ClientError::HelperExited`]: it exited before connecting (status, stderr tail).
    /// - [`ClientError::HandshakeTimeout`]: it never connected; it was killed and reaped.
    /// - [`ClientError::Handshake`] / [`ClientError::Version`]: a different release.
    /// - [`ClientError::ModelLoad`]: its models are unusable (`hello.models.error`).
    ///
    /// In every error case the child has been reaped.
    pub fn spawn(
        cmd: &HelperCommand,
        handshake_timeout: Duration,
    ) -> Result<(HelperClient, Hello), ClientError> {
        let (server, name) =
            IpcOneShotServer::<Bootstrap>::new().map_err(|e| ClientError::Ipc(e.to_string()))?;
        let mut command = Command::new(&cmd.program);
        // Its own process group: stopping it stops whatever it started too, and a
        // terminal's Ctrl-C goes to the program that started it, which stops it.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
            .args(&cmd.args)
            .arg("--ipc")
            .arg(&name)
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child =
            spawn_registered(&mut command).map_err(|source| ClientError::HelperMissing {
                program: cmd.program.clone(),
                source,
            })?;
        let mut stderr = match child.stderr.take() {
            Some(pipe) => StderrTail::start(pipe),
            None => StderrTail::start(io::empty()),
        };

        // `accept` blocks until a connection delivers one message; run it on a
        // thread and watch the child and the clock meanwhile.
        let (tx, rx) = mpsc::channel();
        let acceptor = thread::Builder::new()
            .name("faurge-helper-accept".into())
            .spawn(move || {
                // ipc-channel asserts on some malformed first messages (a process
                // other than the helper that connected and wrote garbage): that is
                // a failed handshake, not a reason to leave the caller waiting.
                let accepted =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.accept()))
                        .unwrap_or_else(|_| {
                            Err(IpcError::Io(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "the first message on the socket was malformed",
                            )))
                        });
                let _ = tx.send(accepted);
            })
            .map_err(|e| ClientError::Ipc(e.to_string()));
        let acceptor = match acceptor {
            Ok(a) => a,
            Err(e) => {
                kill_and_reap(&mut child);
                stderr.finish();
                return Err(e);
            }
        };
        // Unblocks a pending `accept` with a connection that closes at once.
        let unblock_and_join = |acceptor: JoinHandle<()>| {
            let _ = IpcSender::<Bootstrap>::connect(name.clone());
            let _ = acceptor.join();
        };

        let started = Instant::now();
        let accepted = loop {
            match rx.recv_timeout(POLL_SLICE) {
                Ok(r) => {
                    let _ = acceptor.join();
                    break r;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = acceptor.join();
                    break Err(IpcError::Disconnected);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if let Ok(Some(status)) = child.try_wait() {
                // Whatever it started goes with it.
                kill_group(child.id());
                unlist(child.id());
                unblock_and_join(acceptor);
                return Err(ClientError::HelperExited {
                    status,
                    stderr_tail: stderr.finish(),
                });
            }
            if started.elapsed() >= handshake_timeout {
                kill_and_reap(&mut child);
                unblock_and_join(acceptor);
                return Err(ClientError::HandshakeTimeout {
                    after: handshake_timeout,
                    stderr_tail: stderr.finish(),
                });
            }
        };

        let boot = match accepted {
            Ok((_bootstrap_rx, boot)) => boot,
            Err(e) => {
                let status = reap_within(&mut child, Duration::from_millis(200));
                let stderr_tail = stderr.finish();
                return Err(match (e, status) {
                    (IpcError::SerializationError(e), _) => ClientError::Handshake {
                        detail: e.to_string(),
                        stderr_tail,
                    },
                    (IpcError::Io(e), _) if e.kind() == io::ErrorKind::InvalidData => {
                        ClientError::Handshake {
                            detail: e.to_string(),
                            stderr_tail,
                        }
                    }
                    (_, Some(status)) => ClientError::HelperExited {
                        status,
                        stderr_tail,
                    },
                    (e, None) => ClientError::Handshake {
                        detail: e.to_string(),
                        stderr_tail,
                    },
                });
            }
        };

        let hello = boot.hello.clone();
        let mut client = HelperClient {
            child: Some(child),
            exit: None,
            requests: boot.requests,
            replies: boot.replies,
            hello: boot.hello,
            stderr,
        };
        if hello.protocol_version != PROTOCOL_VERSION {
            client.stop();
            return Err(ClientError::Version {
                expected: PROTOCOL_VERSION,
                found: hello.protocol_version,
                helper_version: hello.helper_version,
            });
        }
        if let Some(message) = &hello.models.error {
            client.stop();
            return Err(ClientError::ModelLoad {
                dir: hello.models.dir.clone(),
                message: message.clone(),
            });
        }
        Ok((client, hello))
    }

    /// The helper's handshake.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// The helper's process id while it has not been reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the helper process is still running (reaps it if it has exited).
    pub fn is_alive(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(s))) => {
                if let Some(c) = self.child.take() {
                    kill_group(c.id());
                    unlist(c.id());
                }
                self.exit = Some(s);
                self.stderr.finish();
                false
            }
            Some(Err(_)) => {
                self.reap_now();
                false
            }
            None => false,
        }
    }

    /// Kills and reaps the helper now (if not yet reaped).
    fn reap_now(&mut self) {
        if let Some(mut c) = self.child.take() {
            self.exit = kill_and_reap(&mut c);
            self.stderr.finish();
        }
    }

    /// Waits up to `grace` for the helper to exit, then kills it; reaps it.
    fn reap_within(&mut self, grace: Duration) {
        if let Some(mut c) = self.child.take() {
            self.exit = reap_within(&mut c, grace);
            self.stderr.finish();
        }
    }

    /// The error for a helper that is gone, collecting its status first.
    fn died(&mut self) -> ClientError {
        self.reap_within(SHUTDOWN_GRACE);
        ClientError::HelperDied {
            status: self.exit,
            stderr_tail: self.stderr.text(),
        }
    }

    /// Sends one request; a helper that is gone becomes [`ClientError::HelperDied`].
    fn send(&mut self, req: Request) -> Result<(), ClientError> {
        if self.child.is_none() {
            return Err(self.died());
        }
        send_request(&self.requests, req).map_err(|_| self.died())
    }

    /// Runs one bake: sends `req`, calls `on_progress` for each progress report of
    /// this bake (in the order the helper sent them), and returns the result.
    ///
    /// While waiting it reads replies in short slices: when `cancel` becomes true
    /// it sends [`Request::Cancel`] once and waits up to [`CANCEL_GRACE`] for the
    /// helper to confirm; when `timeout` passes it kills the helper.
    ///
    /// # Errors
    /// - [`ClientError::BadRequest`]: `req` fails [`BakeRequest::validate`]; nothing was sent.
    /// - [`ClientError::Helper`]: the helper answered with a [`BakeError`].
    /// - [`ClientError::Cancelled`]: cancelled (the helper is killed if it did not confirm in time).
    /// - [`ClientError::Timeout`]: no answer within `timeout`; the helper was killed and reaped.
    /// - [`ClientError::HelperDied`]: the process is gone (status and stderr tail included).
    /// - [`ClientError::Protocol`]: an undecodable reply; the helper was killed and reaped.
    pub fn bake(
        &mut self,
        req: BakeRequest,
        timeout: Duration,
        mut on_progress: impl FnMut(&Progress),
        cancel: &AtomicBool,
    ) -> Result<BakeResult, ClientError> {
        req.validate()?;
        let id = req.id;
        let started = Instant::now();
        self.send(Request::Bake(req))?;
        let mut cancel_sent: Option<Instant> = None;
        loop {
            if cancel_sent.is_none() && cancel.load(Ordering::Relaxed) {
                self.send(Request::Cancel { id })?;
                cancel_sent = Some(Instant::now());
            }
            if cancel_sent.is_some_and(|t| t.elapsed() >= CANCEL_GRACE) {
                self.reap_now();
                return Err(ClientError::Cancelled { id });
            }
            let elapsed = started.elapsed();
            if elapsed >= timeout {
                self.reap_now();
                return Err(ClientError::Timeout { id, after: timeout });
            }
            let slice = POLL_SLICE.min(timeout - elapsed);
            // A malformed fragment makes ipc-channel assert; that is a protocol error.
            let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.replies.try_recv_timeout(slice)
            }));
            let Ok(reply) = reply else {
                self.reap_now();
                return Err(ClientError::Protocol {
                    detail: "a malformed message on the socket".into(),
                });
            };
            match reply {
                Ok(Reply::Progress(p)) if p.id == id => on_progress(&p),
                Ok(Reply::Result(r)) if r.id == id => return Ok(r),
                Ok(Reply::Error(e)) if e.id == Some(id) || e.id.is_none() => {
                    return Err(if e.kind == ErrorKind::Cancelled && e.id == Some(id) {
                        ClientError::Cancelled { id }
                    } else {
                        ClientError::Helper(e)
                    });
                }
                // Late replies to an earlier bake.
                Ok(_) => {}
                Err(TryRecvError::Empty) => {
                    if !self.is_alive() {
                        return Err(self.died());
                    }
                }
                Err(TryRecvError::IpcError(IpcError::SerializationError(e))) => {
                    self.reap_now();
                    return Err(ClientError::Protocol {
                        detail: e.to_string(),
                    });
                }
                Err(TryRecvError::IpcError(_)) => return Err(self.died()),
            }
        }
    }

    /// Sends `Shutdown`, waits up to [`SHUTDOWN_GRACE`] for the helper to exit,
    /// kills it otherwise, and reaps it. Returns its exit status (`None` only when
    /// it could not be collected, or the helper had already been reaped).
    pub fn shutdown(mut self) -> Option<ExitStatus> {
        self.stop();
        self.exit
    }

    fn stop(&mut self) {
        if self.child.is_some() {
            let _ = send_request(&self.requests, Request::Shutdown);
            self.reap_within(SHUTDOWN_GRACE);
        }
    }
}

impl Drop for HelperClient {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `sender.send(msg)`.
///
/// A write to a helper that died cannot raise SIGPIPE (whose default action would
/// kill a DAW that does not ignore it, unlike Rust binaries): on Linux
/// ipc-channel uses `SOCK_SEQPACKET` Unix sockets, whose `sendmsg` returns
/// `EPIPE` without a signal (the kernel sends them through the datagram path).
/// `helper/tests/serve.rs` checks this with SIGPIPE at its default disposition.
fn send_request(sender: &IpcSender<Request>, msg: Request) -> Result<(), IpcError> {
    sender.send(msg)
}
