//! Listening sockets, for every model: binding with a deep backlog, what an accept error
//! means, and the log lines of an accept pause or a full house (one per episode each).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::handlers::ServiceKind;

/// Listen backlog: deep enough for a burst of thousands of connections (the kernel caps it at
/// `net.core.somaxconn`); std and mio use 128.
const BACKLOG: libc::c_int = 4096;

/// After an accept error that is not about one client (EMFILE and the like), wait this long
/// before trying again, unless a connection closes first.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A bound listening socket and the service it offers.
#[derive(Debug)]
pub struct Listener {
    pub kind: ServiceKind,
    pub socket: TcpListener,
}

/// A listening socket on `addr` (SO_REUSEADDR, as std sets it), with a deep backlog.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    // Listening again on a listening socket only changes its backlog.
    // SAFETY: a plain call on a descriptor we own.
    if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(listener)
}

/// What a failed `accept` means for the accepting loop.
#[derive(Debug, PartialEq, Eq)]
pub enum AcceptFailure {
    /// About one client (it gave up) or a signal: carry on.
    Retry,
    /// About the server (out of descriptors or memory, or unknown): pause, then try again.
    Pause,
}

pub fn accept_failure(err: &io::Error) -> AcceptFailure {
    match err.kind() {
        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => AcceptFailure::Retry,
        _ => AcceptFailure::Pause,
    }
}

pub fn log_pause(kind: ServiceKind, error: &io::Error, open: usize) {
    log::warn!(
        "{}: cannot accept ({error}); {open} connections open; pausing until one closes",
        kind.name()
    );
}

pub fn log_resume(since: Instant, error: &io::Error, now: Instant) {
    log::info!(
        "accepting again after {} ms ({error} cleared)",
        now.duration_since(since).as_millis()
    );
}

pub fn log_full(open: usize) {
    log::warn!("{open} connections open (--max-conns): closing new clients at once until one ends");
}

pub fn log_below_cap(since: Instant, refused: u64, now: Instant) {
    log::info!(
        "below --max-conns again after {} ms; {refused} clients were refused",
        now.duration_since(since).as_millis()
    );
}

/// The accept episodes of a blocking acceptor: a pause for want of descriptors, and a full house
/// at `--max-conns`; each logged once when it starts and once when it ends.
#[derive(Debug, Default)]
pub struct Episodes {
    paused: Option<(Instant, io::Error)>,
    full: Option<(Instant, u64)>,
}

impl Episodes {
    /// `accept` failed for want of a resource.
    pub fn failed(&mut self, kind: ServiceKind, error: io::Error, open: usize) {
        if self.paused.is_none() {
            log_pause(kind, &error, open);
            self.paused = Some((Instant::now(), error));
        }
    }

    /// `accept` worked again.
    pub fn accepted(&mut self) {
        if let Some((since, error)) = self.paused.take() {
            log_resume(since, &error, Instant::now());
        }
    }

    /// A client was refused over the cap.
    pub fn refused(&mut self, open: usize) {
        match &mut self.full {
            Some((_, refused)) => *refused += 1,
            None => {
                log_full(open);
                self.full = Some((Instant::now(), 1));
            }
        }
    }

    /// A client was admitted under the cap.
    pub fn admitted(&mut self) {
        if let Some((since, refused)) = self.full.take() {
            log_below_cap(since, refused, Instant::now());
        }
    }
}
