//! [`Xvfb`]: a private virtual X server on a display number it picks itself.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::Daemon;
use crate::HarnessError;

/// How long Xvfb may take to start.
const START_LIMIT: Duration = Duration::from_secs(20);

/// A running `Xvfb` with one screen, stopped and reaped when dropped.
///
/// It is started with `-displayfd`: Xvfb chooses a free display number itself and
/// writes it to a pipe once it accepts connections, so parallel tests never race
/// for a number and no lock file is guessed at.
pub struct Xvfb {
    daemon: Daemon,
    display: u32,
}

impl Xvfb {
    /// Starts `Xvfb -displayfd FD -screen 0 WxHx24 -nolisten tcp -noreset` and waits
    /// until it is ready (at most 20 s). `width`/`height` in pixels; 24-bit colour.
    ///
    /// # Errors
    /// [`HarnessError::Spawn`] if Xvfb is missing, [`HarnessError::Exited`] if it
    /// fails to start, [`HarnessError::Timeout`] if it never reports a display.
    pub fn start(width: u32, height: u32) -> Result<Xvfb, HarnessError> {
        let (read_end, write_end) = pipe()?;
        let write_fd = write_end.as_raw_fd();
        let mut cmd = Command::new("Xvfb");
        cmd.args(["-displayfd", &write_fd.to_string()])
            .args(["-screen", "0", &format!("{width}x{height}x24")])
            .args(["-nolisten", "tcp", "-noreset"]);
        // SAFETY: fcntl(2) is async-signal-safe; it only clears FD_CLOEXEC on the
        // pipe's write end in the forked child, so Xvfb inherits it.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(write_fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut daemon = Daemon::spawn("Xvfb", cmd)?;
        // Only Xvfb holds the write end now: end of file means it died.
        drop(write_end);
        let display = read_display(&read_end, &mut daemon)?;
        Ok(Xvfb { daemon, display })
    }

    /// The server's process id.
    pub fn id(&self) -> u32 {
        self.daemon.id()
    }

    /// The display number (`3` for `:3`).
    pub fn number(&self) -> u32 {
        self.display
    }

    /// The display name for `DISPLAY` (`":3"`).
    pub fn display(&self) -> String {
        format!(":{}", self.display)
    }

    /// `Ok` while the server runs.
    ///
    /// # Errors
    /// [`HarnessError::Exited`] with its log once it has exited.
    pub fn check_running(&mut self) -> Result<(), HarnessError> {
        self.daemon.check_running()
    }

    /// What the server logged so far.
    pub fn output(&self) -> String {
        self.daemon.output()
    }
}

/// A pipe, both ends close-on-exec.
fn pipe() -> Result<(OwnedFd, OwnedFd), HarnessError> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2(2) fills two new descriptors that we own from here on.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if rc != 0 {
        return Err(HarnessError::Spawn {
            what: "Xvfb".into(),
            program: "pipe2".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: both descriptors were just created and are not owned elsewhere.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Reads the display number Xvfb writes (decimal, newline) to `fd`.
fn read_display(fd: &OwnedFd, daemon: &mut Daemon) -> Result<u32, HarnessError> {
    let start = Instant::now();
    let mut text = Vec::new();
    loop {
        let left = START_LIMIT.saturating_sub(start.elapsed());
        let mut poll = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one valid descriptor.
        let ready = unsafe { libc::poll(&mut poll, 1, left.as_millis() as libc::c_int) };
        if ready == 0 {
            return Err(HarnessError::Timeout {
                what: "Xvfb to report its display number".into(),
                after: START_LIMIT,
                output: daemon.output_tail(),
            });
        }
        let mut buf = [0u8; 32];
        // SAFETY: read(2) into a local buffer of the given length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(HarnessError::Spawn {
                what: "Xvfb".into(),
                program: "read(displayfd)".into(),
                source: e,
            });
        }
        if n == 0 {
            // End of file without a number: Xvfb exited.
            daemon.check_running()?;
            std::thread::sleep(Duration::from_millis(200));
            daemon.check_running()?;
            return Err(HarnessError::Exited {
                what: "Xvfb".into(),
                status: "closed -displayfd without a display number".into(),
                output: daemon.output_tail(),
            });
        }
        text.extend_from_slice(&buf[..n as usize]);
        if text.ends_with(b"\n") {
            let s = String::from_utf8_lossy(&text);
            return s.trim().parse().map_err(|_| HarnessError::Exited {
                what: "Xvfb".into(),
                status: format!("wrote {s:?} instead of a display number"),
                output: daemon.output_tail(),
            });
        }
    }
}
