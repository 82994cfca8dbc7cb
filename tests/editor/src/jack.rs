//! [`Jackd`]: a private JACK server on the dummy driver; [`Player`]: a JACK client
//! process that loops a recording into two output ports ([`run_player`] is its body).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::process::{run_command, Daemon};
use crate::HarnessError;

/// The player's output ports, in order (`<client>:out_1`, `<client>:out_2`).
pub const PLAYER_OUT_PORTS: [&str; 2] = ["out_1", "out_2"];

/// How long jackd may take to accept clients, s.
const JACKD_START_S: u32 = 15;

/// A running `jackd` with the dummy driver (no audio hardware) under a unique server
/// name, stopped (SIGTERM, so it removes its sockets and shared memory) and reaped
/// when dropped.
///
/// Clients reach it through `JACK_DEFAULT_SERVER`; [`Jackd::command`] sets it.
pub struct Jackd {
    daemon: Daemon,
    name: String,
    sample_rate: u32,
    period: u32,
}

impl Jackd {
    /// Starts `jackd -n NAME --no-realtime -d dummy -r RATE -p PERIOD` with
    /// `JACK_NO_AUDIO_RESERVATION=1` (no D-Bus device reservation) and waits (at most
    /// 15 s, with `jack_wait -w`) until it accepts clients. `sample_rate` in Hz,
    /// `period` in frames. The name is `faurge-test-<pid>-<n>`.
    ///
    /// # Errors
    /// [`HarnessError::Spawn`] if jackd is missing, [`HarnessError::Exited`] if it
    /// fails, [`HarnessError::Timeout`]/[`HarnessError::Command`] if it never
    /// becomes available.
    pub fn start(sample_rate: u32, period: u32) -> Result<Jackd, HarnessError> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "faurge-test-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let mut cmd = Command::new("jackd");
        cmd.args(["-n", &name, "--no-realtime", "-d", "dummy"])
            .args(["-r", &sample_rate.to_string(), "-p", &period.to_string()])
            .env("JACK_NO_AUDIO_RESERVATION", "1");
        let mut jackd = Jackd {
            daemon: Daemon::spawn("jackd", cmd)?.stop_with(libc::SIGTERM, Duration::from_secs(5)),
            name,
            sample_rate,
            period,
        };
        let mut wait = jackd.command("jack_wait");
        wait.args(["--wait", "--timeout", &JACKD_START_S.to_string()]);
        let waited = run_command(
            "jack_wait",
            wait,
            Duration::from_secs(u64::from(JACKD_START_S) + 5),
        );
        jackd.daemon.check_running()?;
        waited?;
        Ok(jackd)
    }

    /// The server's process id.
    pub fn id(&self) -> u32 {
        self.daemon.id()
    }

    /// The server name (`-n`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sample rate, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The period (block size), frames.
    pub fn period(&self) -> u32 {
        self.period
    }

    /// A command whose JACK clients talk to this server only
    /// (`JACK_DEFAULT_SERVER`, `JACK_NO_AUDIO_RESERVATION=1`, never starting a
    /// server of their own: `JACK_NO_START_SERVER=1`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("JACK_DEFAULT_SERVER", &self.name)
            .env("JACK_NO_AUDIO_RESERVATION", "1")
            .env("JACK_NO_START_SERVER", "1");
        cmd
    }

    /// `Ok` while the server runs.
    ///
    /// # Errors
    /// [`HarnessError::Exited`] with its log once it has exited.
    pub fn check_running(&mut self) -> Result<(), HarnessError> {
        self.daemon.check_running()
    }

    /// The connections of every port, from `jack_lsp -c`: `(port, [connected
    /// ports])`, in the server's order.
    ///
    /// # Errors
    /// [`HarnessError::Command`] or [`HarnessError::Timeout`] if `jack_lsp` fails.
    pub fn connections(&self) -> Result<Vec<(String, Vec<String>)>, HarnessError> {
        let mut cmd = self.command("jack_lsp");
        cmd.arg("-c");
        let text = run_command("jack_lsp", cmd, Duration::from_secs(10))?;
        let mut ports: Vec<(String, Vec<String>)> = Vec::new();
        for line in text.lines() {
            // Connections are indented under their port.
            match (line.strip_prefix("   "), ports.last_mut()) {
                (Some(peer), Some((_, peers))) => peers.push(peer.trim().to_string()),
                _ if !line.trim().is_empty() => ports.push((line.trim().to_string(), Vec::new())),
                _ => {}
            }
        }
        Ok(ports)
    }

    /// What jackd logged so far.
    pub fn output(&self) -> String {
        self.daemon.output()
    }
}

/// The player process ([`run_player`] in the `faurge-jack-player` binary), stopped
/// and reaped when dropped: its stdin is closed (it deactivates its client and
/// exits); SIGKILL if it has not exited within 3 s.
pub struct Player {
    daemon: Daemon,
    client: String,
}

impl Player {
    /// Starts `exe` (the `faurge-jack-player` binary, `CARGO_BIN_EXE_faurge-jack-player`
    /// in this crate's tests) as JACK client `client` of `jackd`, looping `wav`, and
    /// waits (at most 15 s) until its ports exist and it runs.
    ///
    /// # Errors
    /// [`HarnessError::Spawn`], or [`HarnessError::Exited`] (with its output) if it
    /// fails, [`HarnessError::Timeout`] if it never reports ready.
    pub fn start(
        jackd: &Jackd,
        exe: &Path,
        wav: &Path,
        client: &str,
    ) -> Result<Player, HarnessError> {
        let mut cmd = jackd.command(exe);
        cmd.arg(wav).arg(client);
        let mut daemon =
            // Stopping only closes its stdin (signal 0 sends nothing): it deactivates
            // its client and exits by itself.
            Daemon::spawn("player", cmd)?.stop_with(0, Duration::from_secs(3));
        daemon.wait_output("the player to start", Duration::from_secs(15), |text| {
            text.lines().any(|l| l.starts_with("READY")).then_some(())
        })?;
        Ok(Player {
            daemon,
            client: client.to_string(),
        })
    }

    /// The full names of its output ports (`client:out_1`, `client:out_2`).
    pub fn ports(&self) -> [String; 2] {
        PLAYER_OUT_PORTS.map(|p| format!("{}:{p}", self.client))
    }

    /// `Ok` while it runs.
    ///
    /// # Errors
    /// [`HarnessError::Exited`] with its output once it has exited.
    pub fn check_running(&mut self) -> Result<(), HarnessError> {
        self.daemon.check_running()
    }

    /// Stops it: closes its stdin so it deactivates its client and exits, waits for
    /// that, and returns everything it printed (its last line says how many frames it
    /// played).
    pub fn stop(mut self) -> String {
        self.finish();
        self.daemon.output()
    }

    fn finish(&mut self) {
        self.daemon.close_stdin();
        self.daemon.stop();
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The realtime part of the player: copies the recording, looped, to both ports.
struct Loop {
    samples: Vec<f32>,
    pos: usize,
    out: [jack::Port<jack::AudioOut>; 2],
    frames: Arc<AtomicU64>,
}

impl jack::ProcessHandler for Loop {
    /// Fills both outputs from `samples[pos..]`, wrapping around; no allocation, no
    /// lock, no system call.
    fn process(&mut self, _: &jack::Client, ps: &jack::ProcessScope) -> jack::Control {
        let [left, right] = &mut self.out;
        let (left, right) = (left.as_mut_slice(ps), right.as_mut_slice(ps));
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let s = self.samples[self.pos];
            *l = s;
            *r = s;
            self.pos += 1;
            if self.pos == self.samples.len() {
                self.pos = 0;
            }
        }
        self.frames
            .fetch_add(ps.n_frames() as u64, Ordering::Relaxed);
        jack::Control::Continue
    }
}

/// The player's body: reads `wav` (mono mix, resampled to the server's rate when it
/// differs), opens JACK client `client` on the server named by
/// `JACK_DEFAULT_SERVER`, registers `out_1` and `out_2`, activates, prints
/// `READY <client>:out_1 <client>:out_2` on stdout, then plays the recording in a
/// loop until its stdin reaches end of file. Returns the number of frames played.
///
/// # Errors
/// [`HarnessError::Audio`] if the file cannot be read or is empty,
/// [`HarnessError::Jack`] if no server answers or a JACK call fails.
pub fn run_player(wav: &Path, client: &str) -> Result<u64, HarnessError> {
    let audio_error = |message: String| HarnessError::Audio {
        path: wav.to_path_buf(),
        message,
    };
    let audio = faurge_io::read(wav).map_err(|e| audio_error(e.to_string()))?;
    let jack_error = |what: &str, e: jack::Error| HarnessError::Jack(format!("{what}: {e}"));
    let (c, _status) = jack::Client::new(client, jack::ClientOptions::NO_START_SERVER)
        .map_err(|e| jack_error("could not open a client", e))?;
    let rate = c.sample_rate();
    let audio = if audio.sample_rate == rate {
        audio
    } else {
        audio
            .resampled(rate)
            .map_err(|e| audio_error(e.to_string()))?
    };
    let samples = audio.to_mono();
    if samples.is_empty() {
        return Err(audio_error("no samples".into()));
    }
    let register = |name: &str| {
        c.register_port(name, jack::AudioOut::default())
            .map_err(|e| jack_error(&format!("could not register {name}"), e))
    };
    let out = [
        register(PLAYER_OUT_PORTS[0])?,
        register(PLAYER_OUT_PORTS[1])?,
    ];
    let frames = Arc::new(AtomicU64::new(0));
    let name = c.name().to_string();
    let active = c
        .activate_async(
            (),
            Loop {
                samples,
                pos: 0,
                out,
                frames: Arc::clone(&frames),
            },
        )
        .map_err(|e| jack_error("could not activate", e))?;
    println!(
        "READY {name}:{} {name}:{}",
        PLAYER_OUT_PORTS[0], PLAYER_OUT_PORTS[1]
    );
    // Play until the parent closes our stdin (or goes away).
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    active
        .deactivate()
        .map_err(|e| jack_error("could not deactivate", e))?;
    let played = frames.load(Ordering::Relaxed);
    println!("played {played} frames");
    Ok(played)
}
