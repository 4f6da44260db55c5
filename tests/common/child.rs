//! The `tcpserve` binary as a child process: started, bounded in time, killed and reaped
//! whatever happens, its output collected on threads of their own.

use std::io::{BufRead, BufReader, Read};
use std::ops::Deref;
use std::process::{Child, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use super::{wait_until, PATIENCE};

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tcpserve")
}

/// A child process that is killed and reaped when dropped.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    pub fn pid(&self) -> libc::pid_t {
        self.0.id() as libc::pid_t
    }

    /// Waits for the child to exit; fails the test after [`super::PATIENCE`].
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = &mut self.0;
        let mut status = None;
        wait_until("the child to exit", || {
            status = child.try_wait().expect("try_wait");
            status.is_some()
        });
        status.expect("exited")
    }

    pub fn is_running(&mut self) -> bool {
        self.0.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a finished command printed and how it exited.
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn describe(&self) -> String {
        format!(
            "status {:?}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Reads `r` to its end on a thread of its own (so a child never blocks on a full pipe).
pub fn read_all_on_thread(mut r: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// The project's rule for a test that needs what a machine may lack: one line saying what is
/// missing, and the caller returns; under `CI=true` nothing may be missing, so the test fails.
pub fn skip(why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why} (CI=true: this test may not be skipped)");
    }
    eprintln!("skipped: {why}");
}

/// Whether `tool` is on the PATH; if not, says so naming its Debian package, and the test
/// skips (or fails, under CI=true).
pub fn have(tool: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).exists()));
    if !found {
        skip(&format!(
            "{tool} not found: install Debian's {package} package"
        ));
    }
    found
}

/// A port free now on `ip`: bound, then let go. Only where another program must be told a
/// port before it binds it itself.
pub fn free_port(ip: &str) -> u16 {
    let socket = std::net::TcpListener::bind((ip, 0)).unwrap();
    socket.local_addr().unwrap().port()
}

/// A child's stderr, line by line as a thread reads it, and every line received so far.
pub struct Lines {
    rx: Receiver<String>,
    seen: Vec<String>,
}

impl Deref for Lines {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.seen
    }
}

impl Lines {
    /// Lines that another thread sends on `rx`, ending when it drops its sender.
    pub fn new(rx: Receiver<String>) -> Lines {
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// Follows `pipe` to its end on a thread of its own.
    pub fn follow(pipe: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines::new(rx)
    }

    pub fn text(&self) -> String {
        self.seen.join("\n")
    }

    pub fn count(&self, needle: &str) -> usize {
        self.seen.iter().filter(|l| l.contains(needle)).count()
    }

    /// The first line seen so far containing `needle`.
    pub fn first(&self, needle: &str) -> Option<String> {
        self.seen.iter().find(|l| l.contains(needle)).cloned()
    }

    /// Takes the lines that have already arrived, without waiting.
    pub fn take_arrived(&mut self) {
        while let Ok(line) = self.rx.try_recv() {
            self.seen.push(line);
        }
    }

    /// Waits until `n` lines contain `needle` (counting those seen before); fails the test
    /// after [`PATIENCE`].
    pub fn wait_for_count(&mut self, needle: &str, n: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.count(needle) < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => panic!(
                    "not {n} lines with {needle:?} within {PATIENCE:?}; so far:\n{}",
                    self.text()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the stream ended before {n} lines with {needle:?}:\n{}",
                    self.text()
                ),
            }
        }
    }

    /// The first line (seen before or arriving within [`PATIENCE`]) containing `needle`.
    pub fn wait_for(&mut self, needle: &str) -> String {
        self.wait_for_count(needle, 1);
        self.first(needle).expect("counted")
    }

    /// Takes every line that arrives during `window` (a measurement window, not a wait for
    /// anything in particular).
    pub fn collect_for(&mut self, window: Duration) {
        let deadline = Instant::now() + window;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.rx.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => return,
            }
        }
    }

    /// Takes the rest once the child has exited: its end of the pipe is closed, so the reading
    /// thread ends the stream; fails the test if that takes [`PATIENCE`].
    pub fn take_rest(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => panic!("stderr still open after exit"),
            }
        }
    }
}

/// HAProxy (Debian's haproxy package) in the foreground with the configuration `config`,
/// written to `dir`/haproxy.cfg, and what it says on stderr (its alerts and server state).
pub fn haproxy(dir: &std::path::Path, config: &str) -> (ChildGuard, Lines) {
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let mut child = ChildGuard(
        std::process::Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let said = Lines::follow(child.0.stderr.take().unwrap());
    (child, said)
}
