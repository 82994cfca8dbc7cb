//! The helper's side of the IPC session: connect to the client's one-shot
//! server, say hello, then serve bake requests one at a time until the client
//! sends `Shutdown` or goes away.
//!
//! Two threads: a reader that receives every request as it arrives (so a
//! `Cancel` or `Shutdown` reaches a running bake through the `AtomicBool` the
//! engine polls) and the calling thread, which runs the bakes in order and sends
//! the replies. A message that does not decode as a [`Request`] is answered with
//! [`ErrorKind::Protocol`] and the session goes on; a request that breaks a
//! limit is answered with [`ErrorKind::BadRequest`] without reaching the engine;
//! a panicking engine is answered with [`ErrorKind::Internal`].

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use faurge_protocol::ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use faurge_protocol::ipc_channel::IpcError;
use faurge_protocol::{
    BakeError, BakeRequest, BakeResult, Bootstrap, ErrorKind, Hello, ModelsInfo, Progress,
    ProtocolError, Reply, Request, PROTOCOL_VERSION,
};
use thiserror::Error;

/// What runs a bake. The helper binary implements it with the closed loop.
pub trait BakeEngine {
    /// Where the models are and whether they loaded; sent in the handshake.
    fn hello_models(&self) -> ModelsInfo;
    /// The inference backend's name, for the handshake and the report.
    fn backend(&self) -> String;
    /// Runs one bake on a request that has passed [`BakeRequest::validate`].
    ///
    /// Call `progress` at the start of every stage, in order. Poll `cancel` between
    /// (and if possible inside) stages; when it is set, return an error of kind
    /// [`ErrorKind::Cancelled`] as soon as possible.
    ///
    /// # Errors
    /// A [`BakeError`] for the client; its `id` is filled in if left `None`.
    fn bake(
        &mut self,
        req: &BakeRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<BakeResult, BakeError>;
}

/// Why the session could not start.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The one-shot server named on the command line is not there.
    #[error("could not connect to the IPC server \"{name}\" (is the plugin or the faurge CLI that started this helper still running?): {source}")]
    Connect {
        /// The server name from `--ipc`.
        name: String,
        /// The OS error.
        source: io::Error,
    },
    /// Creating the session channels failed.
    #[error("could not create the IPC channels: {0}")]
    Channel(io::Error),
    /// The handshake could not be sent.
    #[error("could not send the handshake to the client: {0}")]
    Handshake(String),
    /// The reader thread could not be started.
    #[error("could not start the request reader thread: {0}")]
    Thread(io::Error),
}

/// Which bake is running and which are cancelled before they started.
#[derive(Default)]
struct Schedule {
    running: Option<u64>,
    cancelled_early: Vec<u64>,
    stopping: bool,
}

/// State the reader thread and the baking thread share.
#[derive(Default)]
struct Shared {
    cancel: AtomicBool,
    schedule: Mutex<Schedule>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Schedule> {
        // A poisoned lock only means a thread panicked while holding it; the data is plain.
        self.schedule.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Cancel { id }` arrived.
    fn cancel(&self, id: u64) {
        let mut s = self.lock();
        if s.running == Some(id) {
            self.cancel.store(true, Ordering::Relaxed);
        } else if !s.cancelled_early.contains(&id) {
            // Bounded: a client only cancels bakes it sent, and each is consumed below.
            if s.cancelled_early.len() >= 1024 {
                s.cancelled_early.remove(0);
            }
            s.cancelled_early.push(id);
        }
    }

    /// `Shutdown` arrived or the client is gone: stop the running bake, start no more.
    fn stop(&self) {
        let mut s = self.lock();
        s.stopping = true;
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Marks bake `id` as running; false when it was cancelled before it started.
    fn begin(&self, id: u64) -> bool {
        let mut s = self.lock();
        if let Some(i) = s.cancelled_early.iter().position(|&c| c == id) {
            s.cancelled_early.swap_remove(i);
            return false;
        }
        if s.stopping {
            return false;
        }
        s.running = Some(id);
        self.cancel.store(false, Ordering::Relaxed);
        true
    }

    fn end(&self) {
        self.lock().running = None;
    }
}

enum Event {
    Bake(Box<BakeRequest>),
    Stop,
}

/// Receives requests until `Shutdown` or disconnection; answers garbage itself.
fn read_requests(
    requests: IpcReceiver<Request>,
    replies: IpcSender<Reply>,
    shared: Arc<Shared>,
    events: mpsc::Sender<Event>,
) {
    loop {
        match requests.recv() {
            Ok(Request::Bake(req)) => {
                if events.send(Event::Bake(Box::new(req))).is_err() {
                    return;
                }
            }
            Ok(Request::Cancel { id }) => shared.cancel(id),
            Ok(Request::Shutdown) => break,
            Err(IpcError::SerializationError(e)) => {
                let err = ProtocolError::Decode {
                    expected: "Request",
                    detail: e.to_string(),
                };
                eprintln!("faurge-helper: {err}");
                let reply =
                    Reply::Error(BakeError::new(None, ErrorKind::Protocol, err.to_string()));
                if replies.send(reply).is_err() {
                    break;
                }
            }
            Err(IpcError::Disconnected) => break,
            Err(IpcError::Io(e)) => {
                eprintln!("faurge-helper: reading requests failed, stopping: {e}");
                break;
            }
        }
    }
    shared.stop();
    let _ = events.send(Event::Stop);
}

/// Serves one client: connects to the one-shot server `server_name`, sends the
/// [`Bootstrap`] (protocol version, helper version, `engine`'s backend and
/// models), then runs bakes one at a time until `Shutdown` arrives or the client
/// goes away (its request channel disconnects). Returns `Ok(())` in both cases,
/// so the process can exit with status 0.
///
/// # Errors
/// [`ServeError`] when the session cannot be set up (no server by that name, no
/// channels, handshake not sent). Failures after that are replies, not errors.
pub fn serve(server_name: &str, engine: &mut dyn BakeEngine) -> Result<(), ServeError> {
    let bootstrap_tx =
        IpcSender::<Bootstrap>::connect(server_name.to_owned()).map_err(|source| {
            ServeError::Connect {
                name: server_name.to_owned(),
                source,
            }
        })?;
    let (request_tx, request_rx) = ipc::channel::<Request>().map_err(ServeError::Channel)?;
    let (reply_tx, reply_rx) = ipc::channel::<Reply>().map_err(ServeError::Channel)?;
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        helper_version: env!("CARGO_PKG_VERSION").to_owned(),
        backend: engine.backend(),
        models: engine.hello_models(),
    };
    bootstrap_tx
        .send(Bootstrap {
            hello,
            requests: request_tx,
            replies: reply_rx,
        })
        .map_err(|e| ServeError::Handshake(e.to_string()))?;
    drop(bootstrap_tx);

    let shared = Arc::new(Shared::default());
    let (event_tx, event_rx) = mpsc::channel();
    {
        let replies = reply_tx.clone();
        let shared = Arc::clone(&shared);
        // Detached: it ends when the client disconnects or shuts down.
        thread::Builder::new()
            .name("faurge-helper-requests".into())
            .spawn(move || read_requests(request_rx, replies, shared, event_tx))
            .map_err(ServeError::Thread)?;
    }

    for event in event_rx {
        let req = match event {
            Event::Stop => break,
            Event::Bake(req) => req,
        };
        let id = req.id;
        let reply = if let Err(e) = req.validate() {
            Reply::Error(BakeError::new(
                Some(id),
                ErrorKind::BadRequest,
                e.to_string(),
            ))
        } else if !shared.begin(id) {
            Reply::Error(BakeError::new(
                Some(id),
                ErrorKind::Cancelled,
                "cancelled before it started",
            ))
        } else {
            let outcome = run_engine(engine, &req, &reply_tx, &shared.cancel);
            shared.end();
            match outcome {
                Ok(mut r) => {
                    r.id = id;
                    Reply::Result(r)
                }
                Err(mut e) => {
                    e.id.get_or_insert(id);
                    Reply::Error(e)
                }
            }
        };
        if reply_tx.send(reply).is_err() {
            // The client is gone.
            break;
        }
    }
    Ok(())
}

/// Runs the engine, forwarding progress; a panic becomes an `Internal` error.
fn run_engine(
    engine: &mut dyn BakeEngine,
    req: &BakeRequest,
    replies: &IpcSender<Reply>,
    cancel: &AtomicBool,
) -> Result<BakeResult, BakeError> {
    let mut progress = |p: Progress| {
        let _ = replies.send(Reply::Progress(p));
    };
    match panic::catch_unwind(AssertUnwindSafe(|| engine.bake(req, &mut progress, cancel))) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(BakeError::new(
                Some(req.id),
                ErrorKind::Internal,
                format!("the bake panicked: {what}"),
            ))
        }
    }
}
