//! The server's own logger: diagnostics (`--log`) and the access log (`--access-log`), each to
//! stderr, a file, or nowhere, written by a thread of their own so that no serving thread ever
//! waits for a log, and no log failure ever stops the server.
//!
//! - [`init`] opens the destinations and installs a `log::Log` that formats each record on the
//!   calling thread, into a buffer that thread keeps, and queues the line (`sink.rs`).
//! - [`access`]: what an access line holds and its three formats; it reaches this logger
//!   through the `log` facade, under its own target.
//! - [`Escaped`]: client bytes made safe to print; [`Throttle`]: one line a second for a
//!   warning that repeats.
//! - [`reopen_on_signals`]: SIGHUP and SIGUSR1 reopen the files (log rotation).
//!
//! The interactive commands (`send`, `get`, `bench`) do not use this logger: they want their
//! few lines on stderr at once, in order with what they print themselves.

pub mod access;
mod escape;
mod sink;
mod throttle;

use std::cell::RefCell;
use std::fmt;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use log::{LevelFilter, Log, Metadata, Record};

pub use escape::{is_hidden_format, Escaped, EscapedText, JsonText};
pub(crate) use escape::{is_markup, write_json_text, JsonEscapes};
pub use sink::{dropped_in_process, Dest};
use sink::{Left, Output, Sink};
pub use throttle::{Held, Throttle};

use crate::http::date;
use crate::sys;

/// Where each log goes and how much is logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Diagnostics: start, stop, faults; `None` is `off`.
    pub log: Option<Dest>,
    /// One line per request; `None` is `off`.
    pub access: Option<Dest>,
    /// The most detailed level written, in both logs.
    pub level: LevelFilter,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            log: Some(Dest::Stderr),
            access: Some(Dest::Stderr),
            level: LevelFilter::Info,
        }
    }
}

/// A destination as the command line gives it: `-` for stderr, `off`, or a file's path.
pub fn parse_dest(value: &str) -> Option<Dest> {
    match value {
        "-" => Some(Dest::Stderr),
        "off" => None,
        path => Some(Dest::File(PathBuf::from(path))),
    }
}

/// A log file that could not be opened at start.
#[derive(Debug)]
pub struct InitError {
    /// The option that named it.
    pub option: &'static str,
    pub dest: Dest,
    pub error: io::Error,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dest {
            Dest::File(path) => write!(
                f,
                "{}: cannot open {}: {}",
                self.option,
                path.display(),
                self.error
            ),
            Dest::Stderr => write!(f, "{}: cannot log to stderr: {}", self.option, self.error),
        }
    }
}

impl std::error::Error for InitError {}

/// The installed logger's destinations, to finish with at exit.
#[derive(Debug)]
pub struct Guard {
    /// Each destination once, diagnostics first.
    sinks: Vec<Arc<Sink>>,
    /// The file behind each of `sinks`.
    identities: Vec<(u64, u64)>,
    diag: Option<Arc<Sink>>,
}

/// Set once a logger of ours is installed: the process has one.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Opens the destinations and installs the logger for the rest of the process. Fails, having
/// started nothing, if a file cannot be opened or a logger is already installed.
pub fn init(options: &Options) -> Result<Guard, InitError> {
    let already = |option| InitError {
        option,
        dest: Dest::Stderr,
        error: io::Error::other("a logger is already installed"),
    };
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return Err(already("--log"));
    }
    let mut guard = Guard {
        sinks: Vec::new(),
        identities: Vec::new(),
        diag: None,
    };
    let opened = guard
        .open("--log", options.log.as_ref())
        .and_then(|diag| Ok((diag, guard.open("--access-log", options.access.as_ref())?)));
    let (diag, access) = match opened {
        Ok(sinks) => sinks,
        Err(e) => {
            guard.abandon();
            return Err(e);
        }
    };
    guard.diag = diag.clone();
    let logger = Logger { diag, access };
    if log::set_logger(Box::leak(Box::new(logger))).is_err() {
        guard.abandon();
        return Err(already("--log"));
    }
    log::set_max_level(options.level);
    // A file-size limit (systemd's LimitFSIZE) must cost log lines, not the process.
    sys::ignore_signal(libc::SIGXFSZ);
    Ok(guard)
}

impl Guard {
    /// Opens `dest` and starts its writer, or finds it among those already open: one
    /// destination under two names (`-` and `/dev/stderr`) is one queue, so lines stay whole
    /// and in order.
    fn open(
        &mut self,
        option: &'static str,
        dest: Option<&Dest>,
    ) -> Result<Option<Arc<Sink>>, InitError> {
        let Some(dest) = dest else {
            return Ok(None);
        };
        let failed = |error| InitError {
            option,
            dest: dest.clone(),
            error,
        };
        let out = Output::open(dest.clone()).map_err(failed)?;
        let id = out.identity().map_err(failed)?;
        if let Some((_, sink)) = self.ids().find(|(other, _)| *other == id) {
            return Ok(Some(sink));
        }
        let (sink, wake) = Sink::start(out, &REOPEN).map_err(failed)?;
        if let Some(slot) = WAKE_FDS.get(self.sinks.len()) {
            slot.store(wake, Ordering::Relaxed);
        }
        let sink = Arc::new(sink);
        self.sinks.push(Arc::clone(&sink));
        self.identities.push(id);
        Ok(Some(sink))
    }

    fn ids(&self) -> impl Iterator<Item = ((u64, u64), Arc<Sink>)> + '_ {
        self.identities
            .iter()
            .copied()
            .zip(self.sinks.iter().cloned())
    }

    /// Stops what [`init`] started before it failed.
    fn abandon(self) {
        for fd in &WAKE_FDS {
            fd.store(-1, Ordering::Relaxed);
        }
        for sink in &self.sinks {
            sink.finish(Instant::now());
        }
        INSTALLED.store(false, Ordering::SeqCst);
    }

    /// Lines lost so far, over every destination.
    pub fn dropped(&self) -> u64 {
        self.sinks.iter().map(|s| s.dropped()).sum()
    }

    /// Writes out everything queued, waiting until `deadline` at most: the access log first,
    /// so that a loss its writer reports still reaches the diagnostics. What no log could say
    /// (lines a destination did not take in time, a loss in the diagnostics themselves) is
    /// said on stderr, unless stderr is what failed. Returns how many lines were lost so.
    pub fn finish(self, deadline: Instant) -> u64 {
        let diag_ok = |diag: &Option<Arc<Sink>>, lefts: &[(Arc<Sink>, Left)]| {
            diag.as_ref().is_some_and(|d| {
                lefts
                    .iter()
                    .any(|(s, left)| Arc::ptr_eq(s, d) && *left == Left::default())
            })
        };
        let lefts: Vec<(Arc<Sink>, Left)> = self
            .sinks
            .iter()
            .rev()
            .map(|sink| (Arc::clone(sink), sink.finish(deadline)))
            .collect();
        let said_in_diag = diag_ok(&self.diag, &lefts);
        let mut lost = 0;
        let mut text = String::new();
        let mut stderr_failed = false;
        for (sink, left) in &lefts {
            let is_diag = self.diag.as_ref().is_some_and(|d| Arc::ptr_eq(d, sink));
            let unsaid = match is_diag || !said_in_diag {
                true => left.unreported,
                false => 0,
            };
            if left.unwritten + unsaid == 0 {
                continue;
            }
            lost += left.unwritten + unsaid;
            stderr_failed |= *sink.dest() == Dest::Stderr;
            text.push_str(&format!(
                "tcpserve: {}: {} log lines lost ({} not taken before exit)\n",
                sink.dest(),
                left.unwritten + unsaid,
                left.unwritten
            ));
        }
        if !text.is_empty() && !stderr_failed {
            say_on_stderr(text, EXIT_REPORT_WAIT);
        }
        lost
    }
}

/// How long the exit report may wait for a stderr that does not take it.
const EXIT_REPORT_WAIT: Duration = Duration::from_millis(500);

/// Writes `text` to stderr from a thread of its own and waits for it at most `wait`: a stderr
/// nobody reads must not keep the process from exiting.
fn say_on_stderr(text: String, wait: Duration) {
    let (done, written) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new().spawn(move || {
        let _ = io::stderr().write_all(text.as_bytes());
        let _ = done.send(());
    });
    if spawned.is_ok() {
        let _ = written.recv_timeout(wait);
    }
}

/// Reopen requests so far; each writer reopens its file when this changes.
static REOPEN: AtomicU64 = AtomicU64::new(0);
/// Each writer's wake-up descriptor (at most two destinations), -1 where none.
static WAKE_FDS: [AtomicI32; 2] = [AtomicI32::new(-1), AtomicI32::new(-1)];

extern "C" fn on_reopen_signal(_signal: libc::c_int) {
    sys::keeping_errno(|| {
        REOPEN.fetch_add(1, Ordering::Relaxed);
        for fd in &WAKE_FDS {
            let fd = fd.load(Ordering::Relaxed);
            if fd >= 0 {
                sys::poke(fd);
            }
        }
    });
}

/// Makes SIGHUP (lighttpd's convention) and SIGUSR1 (nginx's) reopen the log files, for the
/// rest of the process. Without this, either signal would end the server.
pub fn reopen_on_signals() -> io::Result<()> {
    sys::on_signals(&[libc::SIGHUP, libc::SIGUSR1], on_reopen_signal)
}

/// The installed `log::Log`: routes access records to the access log, the rest to
/// diagnostics.
struct Logger {
    diag: Option<Arc<Sink>>,
    access: Option<Arc<Sink>>,
}

/// A line buffer kept above this after a long line is given back.
const KEPT_LINE: usize = 16 * 1024;

thread_local! {
    /// Each thread's line buffer: once grown, formatting a line allocates nothing.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Logger {
    fn sink(&self, target: &str) -> Option<&Sink> {
        if target == access::TARGET {
            self.access.as_deref()
        } else {
            self.diag.as_deref()
        }
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.sink(metadata.target()).is_some()
    }

    fn log(&self, record: &Record) {
        let Some(sink) = self.sink(record.target()) else {
            return;
        };
        let queue = |buf: &mut Vec<u8>| {
            buf.clear();
            format_line(buf, record);
            sink.push(buf);
        };
        // A record logged while this thread formats another (a `Display` that logs), or while
        // the thread is being torn down, gets a buffer of its own.
        let queued = LINE.try_with(|line| match line.try_borrow_mut() {
            Ok(mut buf) => {
                queue(&mut buf);
                if buf.capacity() > KEPT_LINE {
                    *buf = Vec::new();
                }
                true
            }
            Err(_) => false,
        });
        if queued != Ok(true) {
            queue(&mut Vec::new());
        }
    }

    fn flush(&self) {}
}

/// One line: an access record as its format made it; a diagnostic with its time, level and
/// target, as `2026-11-24T09:41:21.813Z INFO  [tcpserve::server] message`. A `Display` that
/// fails leaves its line short, never a panic.
fn format_line(buf: &mut Vec<u8>, record: &Record) {
    let mut out = Utf8Sink(buf);
    if record.target() != access::TARGET {
        out.0
            .extend_from_slice(&date::format_rfc3339_millis(SystemTime::now()));
        let _ = write!(out, " {:<5} [{}] ", record.level(), record.target());
    }
    let _ = write!(out, "{}", record.args());
    buf.push(b'\n');
}

/// Formatting straight into a byte buffer (`io::Write::write_fmt` would panic on a failing
/// `Display`; this only stops).
struct Utf8Sink<'a>(&'a mut Vec<u8>);

impl fmt::Write for Utf8Sink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
