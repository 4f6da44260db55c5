//! The server's own logger: diagnostics (`--log`) and the access log (`--access-log`), each to
//! stderr, a file, or nowhere, written by a thread of their own so that no serving thread ever
//! waits for a log, and no log failure ever stops the server.
//!
//! - [`init`] opens the destinations and installs a `log::Log` that formats each record on the
//!   calling thread, into a buffer that thread keeps, and queues the line ([`sink`]).
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
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use log::{LevelFilter, Log, Metadata, Record};

pub use escape::{is_hidden_format, Escaped, JsonText};
pub use sink::Dest;
use sink::Sink;
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
    sinks: Vec<(Dest, Arc<Sink>)>,
}

/// Opens the destinations and installs the logger for the rest of the process. Fails if a file
/// cannot be opened; installing twice keeps the first logger (and says so in the error).
pub fn init(options: &Options) -> Result<Guard, InitError> {
    let mut sinks: Vec<(Dest, Arc<Sink>)> = Vec::new();
    let mut open = |option, dest: &Option<Dest>| -> Result<Option<Arc<Sink>>, InitError> {
        let Some(dest) = dest else {
            return Ok(None);
        };
        // The same destination twice (stderr, usually) is one queue: lines stay in order.
        if let Some((_, sink)) = sinks.iter().find(|(d, _)| d == dest) {
            return Ok(Some(Arc::clone(sink)));
        }
        let (sink, wake) = Sink::open(dest.clone(), &REOPEN).map_err(|error| InitError {
            option,
            dest: dest.clone(),
            error,
        })?;
        if let Some(slot) = WAKE_FDS.get(sinks.len()) {
            slot.store(wake, Ordering::Relaxed);
        }
        let sink = Arc::new(sink);
        sinks.push((dest.clone(), Arc::clone(&sink)));
        Ok(Some(sink))
    };
    let diag = open("--log", &options.log)?;
    let access = open("--access-log", &options.access)?;
    let logger = Logger { diag, access };
    log::set_logger(Box::leak(Box::new(logger))).map_err(|_| InitError {
        option: "--log",
        dest: Dest::Stderr,
        error: io::Error::other("a logger is already installed"),
    })?;
    log::set_max_level(options.level);
    Ok(Guard { sinks })
}

impl Guard {
    /// Lines lost so far, over every destination.
    pub fn dropped(&self) -> u64 {
        self.sinks.iter().map(|(_, s)| s.dropped()).sum()
    }

    /// Writes out everything queued, waiting until `deadline` at most. A destination that has
    /// not taken its lines by then loses them, which is said on stderr if stderr is not that
    /// destination. Returns how many lines were lost that way.
    pub fn finish(self, deadline: Instant) -> u64 {
        let unwritten: Vec<(Dest, u64)> = self
            .sinks
            .iter()
            .map(|(dest, sink)| (dest.clone(), sink.finish(deadline)))
            .filter(|(_, lines)| *lines > 0)
            .collect();
        let stderr_stuck = unwritten.iter().any(|(d, _)| *d == Dest::Stderr);
        let mut lost = 0;
        for (dest, lines) in unwritten {
            lost += lines;
            if !stderr_stuck {
                let _ = writeln!(
                    io::stderr(),
                    "tcpserve: {lines} log lines not written at exit: {} took nothing in time",
                    match &dest {
                        Dest::File(path) => path.display().to_string(),
                        Dest::Stderr => "stderr".to_string(),
                    }
                );
            }
        }
        lost
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
/// target, as `2026-11-24T09:41:21.813Z INFO  [tcpserve::server] message`.
fn format_line(buf: &mut Vec<u8>, record: &Record) {
    if record.target() != access::TARGET {
        buf.extend_from_slice(&date::format_rfc3339_millis(SystemTime::now()));
        let _ = write!(buf, " {:<5} [{}] ", record.level(), record.target());
    }
    let _ = write!(buf, "{}", record.args());
    buf.push(b'\n');
}
