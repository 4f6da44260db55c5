//! Listening sockets, for every model: binding with a deep backlog, what an accept error
//! means, and the log lines of an accept pause or a full house: one start and one end per
//! episode, starts at most one a second of each kind (a server flapping at its cap must not
//! flood its log; see [`Said`]).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::handlers::Offer;
use crate::logging::{Held, Throttle};

/// Listen backlog: deep enough for a burst of thousands of connections (the kernel caps it at
/// `net.core.somaxconn`); std and mio use 128.
const BACKLOG: libc::c_int = 4096;

/// Skips in a row that make a pause after all: an error that names one client but comes back
/// for every try is about the listener, and must not spin the loop.
pub const SKIPS_BEFORE_PAUSE: u32 = 16;

/// After an accept error that is not about one client (EMFILE and the like), wait this long
/// before trying again, unless a connection closes first.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A bound listening socket and the service it offers.
#[derive(Debug)]
pub(crate) struct Listener {
    pub offer: Offer,
    pub socket: TcpListener,
    /// Bound elsewhere and passed to the server (by systemd): shared with its owner, so never
    /// shut down, only closed.
    pub passed: bool,
    /// Its service's place among the counts.
    pub slot: usize,
}

impl Listener {
    /// The same listener for another reactor worker: a socket of its own on the same address
    /// (SO_REUSEPORT), or, for a socket given to the server, a duplicate of it.
    pub fn twin(&self) -> io::Result<Listener> {
        let socket = match self.passed {
            true => self.socket.try_clone()?,
            false => bind(self.socket.local_addr()?, true)?,
        };
        Ok(Listener {
            offer: self.offer.clone(),
            socket,
            passed: self.passed,
            slot: self.slot,
        })
    }
}

/// Every accepted connection's small writes leave at once (TCP_NODELAY): echo replies and a
/// program's request-reply protocol must not wait on Nagle's algorithm, and neither must the
/// tail of an HTTP response on a kept connection, which no FIN follows to push it (1 MiB
/// downloads over keep-alive: 1.9 to 2.4 GB/s, 530 to 410 µs of CPU each; docs/BENCHMARKS.md).
/// Best effort: a socket that refuses it is served all the same.
pub fn no_delay(fd: std::os::fd::RawFd) {
    let _ = crate::sys::set_flag(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY);
}

/// A listening socket on `addr` (SO_REUSEADDR, as std sets it), with a deep backlog; with
/// `shared`, SO_REUSEPORT too, so that each reactor worker listens on the address with a
/// socket of its own and the kernel spreads the clients among them.
pub fn bind(addr: SocketAddr, shared: bool) -> io::Result<TcpListener> {
    crate::sys::listen_on(addr, shared, BACKLOG)
}

/// A socket bound and listening elsewhere (by systemd, by the embedding program), checked and
/// made blocking, as `bind` leaves its own: each model sets the mode it needs.
pub fn adopt(socket: TcpListener) -> io::Result<TcpListener> {
    let fd = socket.as_raw_fd();
    let flag = |level, name| -> io::Result<libc::c_int> {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a live int and its length.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                level,
                name,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(value)
    };
    if flag(libc::SOL_SOCKET, libc::SO_TYPE)? != libc::SOCK_STREAM {
        return Err(io::Error::other("not a stream socket"));
    }
    if flag(libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? == 0 {
        return Err(io::Error::other("not listening"));
    }
    if !matches!(
        flag(libc::SOL_SOCKET, libc::SO_DOMAIN)?,
        libc::AF_INET | libc::AF_INET6
    ) {
        return Err(io::Error::other("not a TCP socket (IPv4 or IPv6)"));
    }
    socket.set_nonblocking(false)?;
    Ok(socket)
}

/// A client's address as the logs and services see it: an IPv4 client of a dual-stack `[::]`
/// listener as the IPv4 address it is, not `::ffff:a.b.c.d`.
pub fn client(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(peer.ip().to_canonical(), peer.port())
}

/// What a failed `accept` means for the accepting loop.
#[derive(Debug, PartialEq, Eq)]
pub enum AcceptFailure {
    /// A signal came: try again.
    Interrupted,
    /// About one client, which is gone (it gave up, or its network failed: accept(2) passes on
    /// a new connection's pending error): skip it at once, counted and logged at debug.
    Skip,
    /// About the server: out of descriptors or memory, or an error about the listener itself.
    /// Pause, then try again, so the loop cannot spin on it.
    Pause,
}

pub fn accept_failure(err: &io::Error) -> AcceptFailure {
    match err.raw_os_error() {
        Some(libc::EINTR) => AcceptFailure::Interrupted,
        // accept(2): "treat ENETDOWN, EPROTO, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH,
        // EOPNOTSUPP, and ENETUNREACH as if EAGAIN"; ECONNABORTED, a client gone before the
        // accept. (Not EPERM or EACCES: a seccomp filter or a security module refuses before
        // the connection leaves the queue, so the same error would come back at once, forever.)
        Some(
            libc::ECONNABORTED
            | libc::EPROTO
            | libc::ENETDOWN
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
            | libc::ETIMEDOUT,
        ) => AcceptFailure::Skip,
        _ => AcceptFailure::Pause,
    }
}

/// Whether an episode's first line has been written. An episode's start is throttled (at most
/// one a second of each kind, with a count of those held back) and tried again at each event of
/// the episode (a failed accept, a refused client) until it is written; its end is written
/// exactly when its start was, so the log never says a state has ended that it did not say had
/// begun, nor leaves one unsaid that lasts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Said(bool);

static PAUSES: Throttle = Throttle::new();
static FULL: Throttle = Throttle::new();

/// An accept failed for want of a resource, in an episode that has `said` so far.
fn log_pause(said: &mut Said, name: &str, error: &io::Error, open: usize, now: Instant) {
    if said.0 {
        return;
    }
    if let Some(held) = PAUSES.admit(now) {
        said.0 = true;
        log::warn!(
            "{name}: cannot accept ({error}); {open} connections open; pausing until one \
             closes{}",
            Held(held)
        );
    }
}

fn log_resume(said: Said, since: Instant, error: &io::Error, now: Instant) {
    if said.0 {
        log::info!(
            "accepting again after {} ms ({error} cleared)",
            now.duration_since(since).as_millis()
        );
    }
}

/// A client was refused at `--max-conns`, in an episode that has `said` so far.
fn log_full(said: &mut Said, open: usize, now: Instant) {
    if said.0 {
        return;
    }
    if let Some(held) = FULL.admit(now) {
        said.0 = true;
        log::warn!(
            "{open} connections open (--max-conns): closing new clients at once until one \
             ends{}",
            Held(held)
        );
    }
}

fn log_below_cap(said: Said, since: Instant, refused: u64, now: Instant) {
    if said.0 {
        log::info!(
            "below --max-conns again after {} ms; {refused} clients were refused",
            now.duration_since(since).as_millis()
        );
    }
}

/// The accept episodes of every driver: a pause for want of descriptors, and a full house at
/// `--max-conns`; each logged once when it starts and once when it ends (see [`Said`]). The
/// driver says when each happens: the reactor ends a pause when a retry drained every backlog
/// and finds room when a connection closes; a blocking acceptor ends a pause at its next
/// accept and finds room when it admits a client.
#[derive(Debug, Default)]
pub struct Episodes {
    paused: Option<(Instant, io::Error, Said)>,
    full: Option<(Instant, u64, Said)>,
}

impl Episodes {
    /// `accept` failed for want of a resource: a pause starts, or goes on (its start and first
    /// error stand).
    pub fn failed(&mut self, name: &str, error: io::Error, open: usize, now: Instant) {
        let (_, error, said) = self.paused.get_or_insert((now, error, Said::default()));
        log_pause(said, name, error, open, now);
    }

    /// `accept` works again: a pause ends.
    pub fn resumed(&mut self, now: Instant) {
        if let Some((since, error, said)) = self.paused.take() {
            log_resume(said, since, &error, now);
        }
    }

    /// A client was refused over the cap.
    pub fn refused(&mut self, open: usize, now: Instant) {
        let (_, refused, said) = self.full.get_or_insert((now, 0, Said::default()));
        *refused += 1;
        log_full(said, open, now);
    }

    /// There is room under the cap again.
    pub fn room(&mut self, now: Instant) {
        if let Some((since, refused, said)) = self.full.take() {
            log_below_cap(said, since, refused, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_clients_accept_errors_are_skipped_and_only_exhaustion_pauses() {
        let rows = [
            (libc::EINTR, AcceptFailure::Interrupted),
            (libc::ECONNABORTED, AcceptFailure::Skip),
            (libc::EPROTO, AcceptFailure::Skip),
            (libc::ENETDOWN, AcceptFailure::Skip),
            (libc::ENOPROTOOPT, AcceptFailure::Skip),
            (libc::EHOSTDOWN, AcceptFailure::Skip),
            (libc::ENONET, AcceptFailure::Skip),
            (libc::EHOSTUNREACH, AcceptFailure::Skip),
            (libc::EOPNOTSUPP, AcceptFailure::Skip),
            (libc::ENETUNREACH, AcceptFailure::Skip),
            (libc::EPERM, AcceptFailure::Pause),
            (libc::EACCES, AcceptFailure::Pause),
            (libc::ETIMEDOUT, AcceptFailure::Skip),
            (libc::EMFILE, AcceptFailure::Pause),
            (libc::ENFILE, AcceptFailure::Pause),
            (libc::ENOBUFS, AcceptFailure::Pause),
            (libc::ENOMEM, AcceptFailure::Pause),
            (libc::EBADF, AcceptFailure::Pause),
            (libc::EINVAL, AcceptFailure::Pause),
        ];
        for (errno, want) in rows {
            let err = io::Error::from_raw_os_error(errno);
            assert_eq!(accept_failure(&err), want, "{err}");
        }
    }
}
