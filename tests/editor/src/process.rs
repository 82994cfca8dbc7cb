//! [`Daemon`]: a long-running child process whose output is collected in memory and
//! which is stopped and reaped when dropped.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::HarnessError;

/// Lines of output shown in error messages.
const TAIL_LINES: usize = 40;

/// Everything a child wrote to stdout and stderr (interleaved by line), its stdout
/// alone, and a condition variable signalled on each new line.
#[derive(Default)]
struct Output {
    text: Mutex<String>,
    stdout: Mutex<String>,
    changed: Condvar,
}

/// A child process started in its own process group, its stdout and stderr read
/// line by line into memory by two threads.
///
/// Dropping it sends the stop signal (SIGTERM unless [`Daemon::stop_with`] says
/// otherwise) to the child, waits up to the grace period, then SIGKILLs the whole
/// process group (so grandchildren, such as the standalone's helper, go too) and
/// reaps the child and, since the test process is made a child subreaper, the
/// grandchildren it orphaned: no zombie, nothing left running.
pub struct Daemon {
    what: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    output: Arc<Output>,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
    stop_signal: libc::c_int,
    grace: Duration,
}

impl Daemon {
    /// Starts `cmd` as `what` (a role used in messages, e.g. "jackd"). Its stdout and
    /// stderr are captured; stdin is a pipe that [`Daemon::close_stdin`] closes.
    ///
    /// # Errors
    /// [`HarnessError::Spawn`] if the program cannot be started.
    pub fn spawn(what: &str, mut cmd: Command) -> Result<Daemon, HarnessError> {
        become_subreaper();
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().map_err(|source| HarnessError::Spawn {
            what: what.to_string(),
            program: cmd.get_program().to_string_lossy().into_owned(),
            source,
        })?;
        let output = Arc::new(Output::default());
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let readers = vec![
            spawn_reader(what, true, stdout, &output),
            spawn_reader(what, false, stderr, &output),
        ];
        Ok(Daemon {
            what: what.to_string(),
            stdin: child.stdin.take(),
            child: Some(child),
            output,
            readers,
            status: None,
            stop_signal: libc::SIGTERM,
            grace: Duration::from_secs(5),
        })
    }

    /// Sets the signal sent first when the daemon is stopped (e.g. SIGINT for a
    /// program that exits cleanly on Ctrl-C; 0 sends none, for a program that exits
    /// when its stdin closes) and how long it may take to exit before it is killed.
    pub fn stop_with(mut self, signal: libc::c_int, grace: Duration) -> Daemon {
        self.stop_signal = signal;
        self.grace = grace;
        self
    }

    /// The process id (also its process group id).
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The role given at start.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Everything the process wrote so far.
    pub fn output(&self) -> String {
        self.output.text.lock().unwrap().clone()
    }

    /// The last lines the process wrote.
    pub fn output_tail(&self) -> String {
        tail(&self.output(), TAIL_LINES)
    }

    /// Closes the child's stdin (a program that reads it until end of file then
    /// exits).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// `Ok` while the process runs.
    ///
    /// # Errors
    /// [`HarnessError::Exited`] with its status and output once it has exited (it is
    /// reaped then, with whatever it left in its process group).
    pub fn check_running(&mut self) -> Result<(), HarnessError> {
        match self.wait_exit(Duration::ZERO) {
            None => Ok(()),
            Some(status) => {
                Err(self.exited(status.map_or_else(|| "status unknown".into(), |s| s.to_string())))
            }
        }
    }

    /// Waits up to `limit` for the process to exit by itself. `None` while it still
    /// runs (it is left running); once it has exited, `Some` of its status (`None`
    /// inside if that could not be read), after SIGKILLing and reaping what it left
    /// in its process group.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<Option<ExitStatus>> {
        let Some(child) = &self.child else {
            return Some(self.status);
        };
        if wait_exit_unreaped(child.id() as libc::pid_t, limit) {
            Some(self.reap())
        } else {
            None
        }
    }

    /// SIGKILLs the process group, then reaps the child and the group's orphans;
    /// records and returns the child's status.
    fn reap(&mut self) -> Option<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            return self.status;
        };
        self.stdin = None;
        let pid = child.id() as libc::pid_t;
        // Whatever is left in its group (grandchildren); the unreaped child keeps
        // the group id from being reused.
        // SAFETY: killpg(2) on the process group our (unreaped) child leads.
        unsafe { libc::killpg(pid, libc::SIGKILL) };
        self.status = child.wait().ok();
        reap_group(pid, Duration::from_secs(2));
        self.status
    }

    /// Waits until `found` returns something for the output so far, polling on each
    /// new line (and every 100 ms), for at most `limit`.
    ///
    /// # Errors
    /// [`HarnessError::Exited`] if the process exits first (after a last look at its
    /// output), [`HarnessError::Timeout`] after `limit`.
    pub fn wait_output<T>(
        &mut self,
        what: &str,
        limit: Duration,
        mut found: impl FnMut(&str) -> Option<T>,
    ) -> Result<T, HarnessError> {
        let start = Instant::now();
        loop {
            let exited = self.check_running().err();
            {
                let text = self.output.text.lock().unwrap();
                if let Some(v) = found(&text) {
                    return Ok(v);
                }
                if exited.is_none() && start.elapsed() < limit {
                    // Wake on the next line or after 100 ms.
                    let _ = self
                        .output
                        .changed
                        .wait_timeout(text, Duration::from_millis(100))
                        .unwrap();
                    continue;
                }
            }
            if let Some(e) = exited {
                // Its last lines may still be in the pipe.
                std::thread::sleep(Duration::from_millis(200));
                if let Some(v) = found(&self.output()) {
                    return Ok(v);
                }
                return Err(e);
            }
            return Err(HarnessError::Timeout {
                what: what.to_string(),
                after: limit,
                output: self.output_tail(),
            });
        }
    }

    /// Stops the process now: closes its stdin, sends the stop signal, waits up to
    /// the grace period, then SIGKILLs its process group; reaps it. Returns how it ended (`None` if it had to be
    /// killed). Idempotent.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let Some(child) = &self.child else {
            return self.status;
        };
        self.stdin = None;
        let pid = child.id() as libc::pid_t;
        if self.stop_signal != 0 {
            // SAFETY: kill(2) on our own child, not reaped yet (so the pid is ours).
            unsafe { libc::kill(pid, self.stop_signal) };
        }
        let exited = wait_exit_unreaped(pid, self.grace);
        let status = self.reap();
        if exited {
            status
        } else {
            None
        }
    }

    fn exited(&self, status: String) -> HarnessError {
        HarnessError::Exited {
            what: self.what.clone(),
            status,
            output: self.output_tail(),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Makes this process a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`, Linux
/// ≥ 3.4), once: a grandchild orphaned when its parent (a daemon) exits is
/// reparented to us instead of to init, so [`reap_group`] can reap it. Without that,
/// a container whose init does not reap would keep it as a zombie.
fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: prctl(2) with an integer flag; no pointers.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    });
}

/// Reaps every remaining (already SIGKILLed) child in process group `pgid` (the
/// daemon's orphaned descendants), waiting up to `limit` for them to die.
fn reap_group(pgid: libc::pid_t, limit: Duration) {
    let start = Instant::now();
    loop {
        // SAFETY: waitpid(2) on our own children in one process group.
        let rc = unsafe { libc::waitpid(-pgid, std::ptr::null_mut(), libc::WNOHANG) };
        match rc {
            // One reaped: look for more at once.
            r if r > 0 => continue,
            // Some still dying.
            0 if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(10)),
            // None left (ECHILD), an error, or out of time.
            _ => return,
        }
    }
}

/// Waits up to `limit` for `pid` (our child) to exit without reaping it
/// (`waitid(…, WNOWAIT)`), so its pid and process group stay reserved.
fn wait_exit_unreaped(pid: libc::pid_t, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        // SAFETY: waitid(2) with a zeroed siginfo_t it fills; WNOWAIT leaves the child
        // waitable for std's Child::wait.
        let exited = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let rc = libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            rc == 0 && info.si_pid() != 0
        };
        if exited {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads `pipe` line by line into `output` until end of file, on a thread of its own.
fn spawn_reader(
    what: &str,
    is_stdout: bool,
    pipe: impl Read + Send + 'static,
    output: &Arc<Output>,
) -> JoinHandle<()> {
    let output = Arc::clone(output);
    let stream = if is_stdout { "stdout" } else { "stderr" };
    std::thread::Builder::new()
        .name(format!("{what} {stream}"))
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            while let Ok(n) = reader.read_until(b'\n', &mut line) {
                if n == 0 {
                    break;
                }
                let mut piece = String::from_utf8_lossy(&line).into_owned();
                if !piece.ends_with('\n') {
                    piece.push('\n');
                }
                if is_stdout {
                    output.stdout.lock().unwrap().push_str(&piece);
                }
                output.text.lock().unwrap().push_str(&piece);
                output.changed.notify_all();
                line.clear();
            }
        })
        .expect("spawn an output reader thread")
}

/// The processes (running or zombie) in process group `pgid`, from `/proc/*/stat`:
/// `(pid, state, command)`. Empty once a [`Daemon`] (its own group) is stopped.
pub fn processes_in_group(pgid: u32) -> Vec<(u32, char, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
            let (head, rest) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1.to_string();
            let mut fields = rest.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let pgrp: u32 = fields.nth(1)?.parse().ok()?;
            (pgrp == pgid).then_some((pid, state, comm))
        })
        .collect()
}

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs a short command to completion with a time limit; returns its stdout (its
/// stderr goes into error messages only).
///
/// # Errors
/// [`HarnessError::Spawn`], [`HarnessError::Timeout`] (the command is killed), or
/// [`HarnessError::Command`] if it exits with an error.
pub(crate) fn run_command(
    what: &str,
    cmd: Command,
    limit: Duration,
) -> Result<String, HarnessError> {
    let line = format!("{cmd:?}");
    let mut d = Daemon::spawn(what, cmd)?.stop_with(libc::SIGKILL, Duration::ZERO);
    d.close_stdin();
    let Some(status) = d.wait_exit(limit) else {
        return Err(HarnessError::Timeout {
            what: line,
            after: limit,
            output: d.output_tail(),
        });
    };
    let success = status.is_some_and(|s| s.success());
    let status = status.map_or_else(|| "status unknown".into(), |s| s.to_string());
    // The pipes close when it exits: read them to the end.
    for reader in d.readers.drain(..) {
        let _ = reader.join();
    }
    if success {
        Ok(d.output.stdout.lock().unwrap().clone())
    } else {
        Err(HarnessError::Command {
            command: line,
            status,
            output: d.output(),
        })
    }
}
