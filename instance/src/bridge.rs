//! The bridge thread between one instance (any format) and the helper process: the
//! bake sequence `docs/ARCHITECTURE.md` follows from button to cross-fade.
//!
//! One [`Bridge`] per instance owns the [`HelperClient`]; the audio thread never
//! touches it. The audio thread only bumps a counter ([`AudioSide::request_bake`]);
//! the bridge polls it every [`POLL_INTERVAL`], and for each new request:
//!
//! 1. copies the snapshot ring ([`SessionSide::snapshot`]), waiting up to
//!    [`INPUT_WAIT`] for [`WANTED_SNAPSHOT_S`] of input while input keeps arriving
//!    (at least [`MIN_SNAPSHOT_S`]),
//! 2. spawns the helper if none is running (lazily; see [`BridgeConfig::helper`]),
//! 3. sends a `BakeRequest` with the prompt and the current `DspState`
//!    ([`BakeSettings`]),
//! 4. publishes every `Progress` into [`StatusCell`] (stage, round n/N, `S_C` vs
//!    threshold) for the editor or a log,
//! 5. prepares the result's IR kernel and queues it for the audio thread's
//!    cross-fade ([`SessionSide::queue_ir`]), then hands the parameters and the report
//!    to [`BakeSettings::apply`] ([`apply_result`]).
//!
//! If the helper is missing, dies, hangs past [`BridgeConfig::bake_timeout`] or sends
//! garbage, the error is published in words, nothing is applied (audio keeps the last
//! good state), and the next request spawns a new helper. Dropping the [`Bridge`]
//! stops the thread, cancels a running bake and shuts the helper down (reaped: no
//! zombie, no file descriptor left). The thread runs only while the instance is
//! active ([`Bridge::resume`], [`Bridge::pause`]): a plugin that is only instantiated
//! (a host's scan, a validator) starts no thread, and the thread ends by itself when
//! the host's main thread is gone ([`host_main_thread_exited`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use faurge_dsp::state::DspState;
use faurge_protocol::locate;
use faurge_protocol::{
    BakeError, BakeOptions, BakeRequest, BakeResult, ClientError, ErrorKind, HelperClient,
    HelperCommand, Progress, ProtocolError,
};

use crate::ir::{KernelError, StoredIr};
#[cfg(doc)]
use crate::session::AudioSide;
use crate::session::SessionSide;

/// How often the bridge thread looks at the request counter.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Default limit for one bake, helper start-up excluded; past it the helper is
/// killed and the next bake starts a new one.
pub const DEFAULT_BAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Shortest snapshot worth sending, seconds.
pub const MIN_SNAPSHOT_S: f32 = 0.5;
/// Snapshot length a bake waits for while input keeps arriving (up to [`INPUT_WAIT`],
/// and at most what the ring holds), seconds. The helper judges a voice only from
/// 1.5 s of active speech (`faurge_helper::orchestrator::snapshot::MIN_SPEECH_S`) and
/// otherwise changes nothing: a bake requested as input starts (a Bake trigger on from
/// the first block, as in the LV2 filter-chain example) must not go out with the first
/// [`MIN_SNAPSHOT_S`] of it. A host that stops feeding audio (offline, paused) gets
/// its bake with what was recorded, from [`MIN_SNAPSHOT_S`] on, without the wait.
pub const WANTED_SNAPSHOT_S: f32 = 3.0;
/// The prompt sent when the user typed none: the helper's sanitizer reads it as
/// vague and uses its anchor prompt (a clear, professional broadcast vocal).
pub const DEFAULT_PROMPT: &str = "fix my mic";
/// How long a bake requested before [`MIN_SNAPSHOT_S`] of input was recorded waits
/// for more input (e.g. a Bake trigger that is on from the first block).
pub const INPUT_WAIT: Duration = Duration::from_secs(10);
/// Every this many polls (0.5 s) the bridge checks [`host_main_thread_exited`].
pub const HOST_CHECK_POLLS: u32 = 25;

/// True when the host process's main thread has ended with the plain `exit` system
/// call while other threads live on (Linux: its state in `/proc/self/stat` is `Z`).
/// lv2lint ends the child process it instantiates and activates a plugin in exactly
/// so, without `deactivate`: a bridge thread that kept running would keep that child
/// alive and lv2lint waiting forever, so the bridge thread ends then. A host whose
/// main thread returns or calls `exit()` ends every thread at once and never gets
/// here. Always false elsewhere.
pub fn host_main_thread_exited() -> bool {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false)
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Environment variable overriding [`DEFAULT_BAKE_TIMEOUT`], seconds (tests, slow machines).
pub const BAKE_TIMEOUT_ENV: &str = "FAURGE_BAKE_TIMEOUT_S";

/// What the bridge needs from a format's instance besides its [`SessionSide`]: the
/// prompt, the current settings, and how a finished bake's settings are applied.
/// Called from the bridge thread only (implementations may allocate and lock, never
/// wait on the audio thread).
pub trait BakeSettings: Send + Sync + 'static {
    /// The chain's settings now (the loop's starting point).
    fn current_state(&self) -> DspState;
    /// The user's sentence (may be empty: [`DEFAULT_PROMPT`] is sent then).
    fn prompt(&self) -> String;
    /// Applies a finished bake: its parameters and report, and keeps `ir` (the
    /// result's impulse response, already validated, its kernel already queued for the
    /// cross-fade) where the format stores it.
    ///
    /// # Errors
    /// [`ApplyError`]; the instance keeps what it could not change.
    fn apply(&self, result: &BakeResult, ir: Option<&StoredIr>)
        -> Result<ApplySummary, ApplyError>;
}

/// Why a finished bake could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The helper's impulse response could not be read.
    #[error("Could not read the impulse response: {0}")]
    IrAudio(#[from] ProtocolError),
    /// The impulse response could not be prepared for the running session.
    #[error(transparent)]
    Kernel(#[from] KernelError),
}

/// What applying a bake did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplySummary {
    /// Parameters changed.
    pub params_set: usize,
    /// Parameters left alone because the user or the host was holding them.
    pub params_held: usize,
    /// Whether a new IR kernel was queued for the cross-fade.
    pub ir_queued: bool,
}

/// Called on the bridge thread when a bake ends (applied or failed), e.g. to log it.
pub type StatusHook = Arc<dyn Fn(&BakeStatus) + Send + Sync>;

/// How the bridge starts the helper and runs bakes.
#[derive(Clone)]
pub struct BridgeConfig {
    /// The helper binary; `None` when it could not be found (every bake then
    /// reports [`ErrorKind::HelperMissing`]).
    pub helper: Option<PathBuf>,
    /// Arguments before `--ipc NAME` (e.g. `--models DIR`).
    pub helper_args: Vec<String>,
    /// Limit for one bake (after the helper is up).
    pub bake_timeout: Duration,
    /// Limit for the helper's start-up handshake.
    pub handshake_timeout: Duration,
    /// Loop options (threshold, round limit).
    pub options: BakeOptions,
    /// Told about every finished bake; `None`: nobody.
    pub on_finish: Option<StatusHook>,
}

impl fmt::Debug for BridgeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BridgeConfig")
            .field("helper", &self.helper)
            .field("helper_args", &self.helper_args)
            .field("bake_timeout", &self.bake_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl BridgeConfig {
    /// The helper and the models found for a plugin binary in `dir`
    /// ([`locate::find_helper`], [`locate::find_models`]), with the defaults of
    /// [`BridgeConfig::new`].
    pub fn located(dir: Option<&Path>) -> Self {
        Self::new(locate::find_helper(dir), locate::find_models(dir))
    }

    /// `helper` with `--models DIR` when `models` is known, the default timeouts
    /// (the bake timeout read from [`BAKE_TIMEOUT_ENV`] when set) and loop options.
    pub fn new(helper: Option<PathBuf>, models: Option<PathBuf>) -> Self {
        let mut helper_args = Vec::new();
        if let Some(m) = models {
            helper_args.push("--models".to_string());
            helper_args.push(m.to_string_lossy().into_owned());
        }
        let bake_timeout = std::env::var(BAKE_TIMEOUT_ENV)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(DEFAULT_BAKE_TIMEOUT, Duration::from_secs_f64);
        BridgeConfig {
            helper,
            helper_args,
            bake_timeout,
            handshake_timeout: faurge_protocol::DEFAULT_HANDSHAKE_TIMEOUT,
            options: BakeOptions::default(),
            on_finish: None,
        }
    }
}

/// Where a bake stands.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum BakePhase {
    /// No bake has run yet.
    #[default]
    Idle,
    /// Copying the snapshot, starting the helper.
    Starting,
    /// The helper is working; the last progress report.
    Baking(Progress),
    /// The last bake was applied.
    Applied(ApplySummary),
    /// The last bake failed; see [`BakeStatus::last_error`].
    Failed,
    /// The user cancelled the last bake; nothing was changed.
    Cancelled,
}

/// The last error, for the user.
#[derive(Clone, Debug, PartialEq)]
pub struct LastError {
    /// The category (decides what the user can do).
    pub kind: ErrorKind,
    /// Details and advice in words.
    pub message: String,
}

/// What the editor (or a log) shows about bakes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BakeStatus {
    /// Where the current or last bake stands.
    pub phase: BakePhase,
    /// Bakes started.
    pub started: u64,
    /// Bakes applied.
    pub applied: u64,
    /// Bakes failed.
    pub failed: u64,
    /// The last failure, kept until the next success.
    pub last_error: Option<LastError>,
    /// The running helper's pid (`None` when none runs).
    pub helper_pid: Option<u32>,
    /// Helpers started so far (a respawn increments it).
    pub helpers_spawned: u64,
}

impl fmt::Display for BakeStatus {
    /// One line for the editor: e.g. "Round 2/4: choosing EQ and compressor (Ursula), S_C 0.71 / 0.85".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.phase {
            BakePhase::Idle => f.write_str("Ready to bake"),
            BakePhase::Starting => f.write_str("Starting the bake"),
            BakePhase::Baking(p) => {
                write!(f, "Round {}/{}: {}", p.round, p.max_rounds, p.stage)?;
                if let Some(s) = p.similarity {
                    write!(f, ", S_C {s:.2} / {:.2}", p.threshold)?;
                }
                Ok(())
            }
            BakePhase::Applied(a) => {
                write!(f, "Baked: {} parameters set", a.params_set)?;
                if a.params_held > 0 {
                    write!(f, ", {} held by you left alone", a.params_held)?;
                }
                if a.ir_queued {
                    f.write_str(", new impulse response")?;
                }
                Ok(())
            }
            BakePhase::Cancelled => f.write_str("Bake cancelled; the settings are unchanged"),
            BakePhase::Failed => match &self.last_error {
                Some(e) => write!(f, "Bake failed: {}", e.message),
                None => f.write_str("Bake failed"),
            },
        }
    }
}

/// The shared [`BakeStatus`]: written by the bridge thread, read by anyone. Readers on
/// a thread that must not wait (an editor's frame) use [`StatusCell::try_get`].
#[derive(Debug, Default)]
pub struct StatusCell {
    inner: Mutex<BakeStatus>,
}

impl StatusCell {
    fn lock(&self) -> MutexGuard<'_, BakeStatus> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the status (waits for the bridge's short critical sections).
    pub fn get(&self) -> BakeStatus {
        self.lock().clone()
    }

    /// A copy of the status, or `None` if the bridge is writing it right now. Never blocks.
    pub fn try_get(&self) -> Option<BakeStatus> {
        match self.inner.try_lock() {
            Ok(g) => Some(g.clone()),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner().clone()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    fn update(&self, f: impl FnOnce(&mut BakeStatus)) {
        f(&mut self.lock());
    }
}

/// The bridge of one plugin instance: its status, its Cancel handle, and the thread
/// that runs bakes while the instance is active.
///
/// No thread runs until [`Bridge::resume`] (a format calls it when it activates, so
/// instantiating, scanning or validating a plugin starts none); [`Bridge::pause`] (a
/// format's deactivation) stops the thread and shuts the helper down, and a later
/// `resume` starts both again. The [`StatusCell`] and the [`Canceller`] stay the same
/// across pauses, so an editor keeps its handles. Dropping the bridge pauses it.
pub struct Bridge {
    session: Arc<SessionSide>,
    settings: Arc<dyn BakeSettings>,
    config: BridgeConfig,
    stop: Arc<AtomicBool>,
    cancel: Arc<AtomicBool>,
    status: Arc<StatusCell>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("status", &self.status.get())
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// The bridge of the instance whose sides are `session` and `settings`, with no
    /// thread yet ([`Bridge::resume`] starts it). Allocates, starts nothing.
    pub fn new(
        session: Arc<SessionSide>,
        settings: Arc<dyn BakeSettings>,
        config: BridgeConfig,
    ) -> Bridge {
        Bridge {
            session,
            settings,
            config,
            stop: Arc::new(AtomicBool::new(false)),
            cancel: Arc::new(AtomicBool::new(false)),
            status: Arc::new(StatusCell::default()),
            thread: None,
        }
    }

    /// [`Bridge::new`] followed by [`Bridge::resume`].
    ///
    /// # Errors
    /// The OS refused to start a thread.
    pub fn start(
        session: Arc<SessionSide>,
        settings: Arc<dyn BakeSettings>,
        config: BridgeConfig,
    ) -> std::io::Result<Bridge> {
        let mut bridge = Bridge::new(session, settings, config);
        bridge.resume()?;
        Ok(bridge)
    }

    /// Starts the bridge thread (thread name `faurge-bridge`) unless it runs already.
    /// Requests counted before this call are not baked (a session that loads with
    /// Bake on does not bake by itself). The helper is not started until the first
    /// request. Not for the audio thread.
    ///
    /// # Errors
    /// The OS refused to start a thread; bakes do nothing until a later `resume`.
    pub fn resume(&mut self) -> std::io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        // A thread that ended by itself (it never does) is reaped before a new one starts.
        self.pause();
        self.stop.store(false, Ordering::Release);
        self.cancel.store(false, Ordering::Release);
        // Read here, not on the new thread: a request made right after `resume`
        // returns must not be mistaken for an old one.
        let handled = self.session.audio().bake_requests();
        let worker = Worker {
            session: self.session.clone(),
            settings: self.settings.clone(),
            config: self.config.clone(),
            status: self.status.clone(),
            stop: self.stop.clone(),
            cancel: self.cancel.clone(),
            client: None,
            next_id: 1,
        };
        let thread = thread::Builder::new()
            .name("faurge-bridge".into())
            .spawn(move || worker.run(handled))?;
        self.thread = Some(thread);
        Ok(())
    }

    /// Whether the bridge thread runs.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// The status the bridge publishes (the same cell for the bridge's whole life).
    pub fn status(&self) -> Arc<StatusCell> {
        self.status.clone()
    }

    /// A handle that cancels the running bake (an editor's Cancel button). Lock-free.
    pub fn canceller(&self) -> Canceller {
        Canceller(self.cancel.clone())
    }

    /// Stops the thread: a running bake is cancelled (the helper is killed if it
    /// does not confirm within 2 s), the helper is shut down and reaped. Does nothing
    /// when no thread runs. Also done by `Drop`.
    pub fn pause(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.store(true, Ordering::Release);
            self.cancel.store(true, Ordering::Release);
            let _ = t.join();
        }
    }

    /// The same as [`Bridge::pause`].
    pub fn stop(&mut self) {
        self.pause();
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.pause();
    }
}

/// Cancels the bake that is running when [`Canceller::cancel`] is called (the helper
/// confirms within 2 s or is killed); nothing is applied. Does nothing when no bake
/// runs.
#[derive(Clone, Debug)]
pub struct Canceller(Arc<AtomicBool>);

impl Canceller {
    /// Asks the bridge to cancel the running bake. Lock-free.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }
}

struct Worker {
    session: Arc<SessionSide>,
    settings: Arc<dyn BakeSettings>,
    config: BridgeConfig,
    status: Arc<StatusCell>,
    stop: Arc<AtomicBool>,
    /// Set by [`Canceller::cancel`] and by [`Bridge::stop`]; cleared when a bake starts.
    cancel: Arc<AtomicBool>,
    client: Option<HelperClient>,
    next_id: u64,
}

impl Worker {
    fn run(mut self, mut handled: u64) {
        let mut polls = 0u32;
        while !self.stop.load(Ordering::Acquire) {
            polls = polls.wrapping_add(1);
            if polls.is_multiple_of(HOST_CHECK_POLLS) && host_main_thread_exited() {
                // Nobody can call the instance again; ending lets the process end.
                break;
            }
            let requested = self.session.audio().bake_requests();
            if requested != handled {
                // Requests that pile up during a bake make one more bake, not many.
                handled = requested;
                self.bake_once();
                if let Some(hook) = &self.config.on_finish {
                    hook(&self.status.get());
                }
                continue;
            }
            thread::sleep(POLL_INTERVAL);
        }
        self.drop_client();
    }

    fn drop_client(&mut self) {
        if let Some(c) = self.client.take() {
            c.shutdown();
        }
        self.status.update(|s| s.helper_pid = None);
    }

    fn fail(&self, error: BakeError) {
        self.status.update(|s| {
            s.phase = BakePhase::Failed;
            s.failed += 1;
            s.last_error = Some(LastError {
                kind: error.kind,
                message: error.to_string(),
            });
        });
    }

    /// The running helper, spawning one if needed.
    fn client(&mut self) -> Result<&mut HelperClient, BakeError> {
        if let Some(c) = self.client.as_mut() {
            if !c.is_alive() {
                self.client = None;
            }
        }
        if self.client.is_none() {
            let Some(program) = self.config.helper.clone() else {
                return Err(BakeError::new(
                    None,
                    ErrorKind::HelperMissing,
                    "no faurge-helper next to the plugin and FAURGE_HELPER is not set",
                ));
            };
            let mut cmd = HelperCommand::new(program);
            for a in &self.config.helper_args {
                cmd = cmd.arg(a);
            }
            let (client, _hello) = HelperClient::spawn(&cmd, self.config.handshake_timeout)
                .map_err(BakeError::from)?;
            let pid = client.pid();
            self.status.update(|s| {
                s.helper_pid = pid;
                s.helpers_spawned += 1;
            });
            self.client = Some(client);
        }
        self.client
            .as_mut()
            .ok_or_else(|| BakeError::new(None, ErrorKind::Internal, "the helper client vanished"))
    }

    fn bake_once(&mut self) {
        if !self.stop.load(Ordering::Acquire) {
            self.cancel.store(false, Ordering::Release);
        }
        self.status.update(|s| {
            s.phase = BakePhase::Starting;
            s.started += 1;
        });
        let waited = std::time::Instant::now();
        let mut last_frames = None;
        let (snapshot, frames) = loop {
            let ring = self.session.snapshot_ring();
            let snapshot = match self.session.snapshot() {
                Ok(s) => s,
                Err(e) => {
                    return self.fail(BakeError::new(None, ErrorKind::BadRequest, e.to_string()))
                }
            };
            let frames = snapshot.channels.first().map_or(0, Vec::len);
            let rate = snapshot.sample_rate;
            let minimum = (frames as f32) >= MIN_SNAPSHOT_S * rate;
            // Enough to judge a voice: the wanted length, or a full ring.
            let capacity = ring.map_or(frames, |r| r.capacity());
            let wanted = (frames as f32) >= (WANTED_SNAPSHOT_S * rate).min(capacity as f32);
            // No new input since the last look: the host is not feeding audio now.
            let stalled = last_frames == Some(frames);
            last_frames = Some(frames);
            if wanted
                || (minimum && stalled)
                || waited.elapsed() >= INPUT_WAIT
                || self.cancel.load(Ordering::Acquire)
            {
                break (snapshot, frames);
            }
            thread::sleep(POLL_INTERVAL * 5);
        };
        if self.cancel.load(Ordering::Acquire) && !self.stop.load(Ordering::Acquire) {
            self.status.update(|s| s.phase = BakePhase::Cancelled);
            return;
        }
        if (frames as f32) < MIN_SNAPSHOT_S * snapshot.sample_rate {
            return self.fail(BakeError::new(
                None,
                ErrorKind::BadRequest,
                format!(
                    "only {:.2} s of input recorded; play at least {MIN_SNAPSHOT_S} s of audio through the plugin first",
                    frames as f32 / snapshot.sample_rate.max(1.0)
                ),
            ));
        }
        let prompt = self.settings.prompt();
        let prompt = if prompt.trim().is_empty() {
            DEFAULT_PROMPT.to_string()
        } else {
            prompt
        };
        let id = self.next_id;
        self.next_id += 1;
        let refs: Vec<&[f32]> = snapshot.channels.iter().map(Vec::as_slice).collect();
        let request = match BakeRequest::new(
            id,
            prompt,
            snapshot.sample_rate.round() as u32,
            &refs,
            self.settings.current_state(),
            self.config.options.clone(),
        ) {
            Ok(r) => r,
            Err(e) => {
                return self.fail(BakeError::new(
                    Some(id),
                    ErrorKind::BadRequest,
                    e.to_string(),
                ))
            }
        };
        drop(snapshot);
        let timeout = self.config.bake_timeout;
        let status = self.status.clone();
        let cancel = self.cancel.clone();
        let result = match self.client() {
            Ok(client) => client.bake(
                request,
                timeout,
                |p| status.update(|s| s.phase = BakePhase::Baking(p.clone())),
                &cancel,
            ),
            Err(e) => return self.fail(e),
        };
        match result {
            Ok(result) => match apply_result(&self.session, self.settings.as_ref(), &result) {
                Ok(summary) => self.status.update(|s| {
                    s.phase = BakePhase::Applied(summary);
                    s.applied += 1;
                    s.last_error = None;
                }),
                Err(e) => self.fail(BakeError::new(Some(id), ErrorKind::Internal, e.to_string())),
            },
            Err(e) => {
                if e.helper_gone() {
                    // Reaped already by the client; the next bake spawns a new one.
                    self.client = None;
                    self.status.update(|s| s.helper_pid = None);
                }
                if matches!(e, ClientError::Cancelled { .. }) {
                    let stopping = self.stop.load(Ordering::Acquire);
                    self.status.update(|s| {
                        s.phase = if stopping {
                            BakePhase::Idle
                        } else {
                            BakePhase::Cancelled
                        };
                    });
                } else {
                    self.fail(BakeError::from(e));
                }
            }
        }
    }
}

/// Step 5 of a bake, what the bridge thread does with a finished result: the IR first
/// (its kernel prepared here, off the audio thread, and queued for the running
/// session, so it cross-fades in while the parameters glide), then the settings
/// ([`BakeSettings::apply`]). Also frees kernels the audio thread retired. Not for the
/// audio thread.
///
/// # Errors
/// [`ApplyError`]: the IR could not be read or prepared; nothing was applied.
pub fn apply_result(
    session: &SessionSide,
    settings: &dyn BakeSettings,
    result: &BakeResult,
) -> Result<ApplySummary, ApplyError> {
    session.collect_garbage();
    let ir = match &result.ir {
        Some(ir) => {
            let ir = StoredIr {
                sample_rate: ir.sample_rate as f32,
                channels: vec![ir.samples_f32()?],
            };
            ir.validate().map_err(KernelError::from)?;
            Some(ir)
        }
        None => None,
    };
    let ir_queued = match &ir {
        Some(ir) => session.queue_ir(Some(ir))?,
        None => false,
    };
    let mut summary = settings.apply(result, ir.as_ref())?;
    summary.ir_queued = ir_queued;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_process_main_thread_is_not_gone() {
        assert!(!host_main_thread_exited());
        // Asked from another thread too, as the bridge thread asks.
        assert!(!thread::spawn(host_main_thread_exited).join().unwrap());
    }
}
