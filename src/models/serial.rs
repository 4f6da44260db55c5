//! One thread serving clients one after another, each to its end: the iterative model is one
//! such thread, the pool model several over the same listeners, taking turns to accept
//! ([`Acceptor`]). The thread waits on every listener and the halt pipe with `poll(2)`, accepts
//! from a ready listener, and serves that client
//! with the blocking driver before it takes another (a service that panics loses that client,
//! not the thread); meanwhile clients wait in the kernel's backlog. `--max-conns` is moot: the threads bound how many are served at once.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use super::blocking;
use super::control::Control;
use crate::driver::Limits;
use crate::handlers::{Settings, SCRATCH_SIZE};
use crate::listen::{self, AcceptFailure, Episodes, Listener, ACCEPT_BACKOFF};
use crate::metrics::counts::Cell;
use crate::sys;

/// What the threads serving in turn share: taking the next client is one thread's job at a
/// time (the locking around `accept` of Stevens' prethreaded server). Only the thread holding it
/// waits on the listeners, so a client wakes one thread, not all; and running out of
/// descriptors is one back-off and one logged episode for the whole pool, not one per thread.
#[derive(Default)]
pub struct Acceptor {
    episodes: Episodes,
    /// One-client accept errors skipped in a row.
    skips: u32,
    /// Which listener is tried first next time, so that a busy one cannot starve the others.
    first: usize,
}

impl Acceptor {
    /// Waits for a client on `listeners` (whose descriptors, then the halt pipe's, are `fds`)
    /// and takes it, with the listener it came to; `None` once the server takes no more.
    fn next<'l>(
        &mut self,
        listeners: &'l [Listener],
        fds: &[RawFd],
        control: &Control,
    ) -> Option<(TcpStream, SocketAddr, &'l Listener)> {
        loop {
            let ready = sys::wait_readable(fds, None);
            if !control.phase().accepts() {
                return None;
            }
            let ready = match ready {
                Ok(ready) => ready,
                Err(e) => {
                    // Out of memory or the like: wait rather than spin.
                    log::warn!("cannot wait for clients: {e}");
                    thread::sleep(ACCEPT_BACKOFF);
                    continue;
                }
            };
            let n = listeners.len();
            let first = (self.first + 1) % n.max(1);
            self.first = first;
            for i in (0..n).map(|k| (first + k) % n).filter(|&i| ready[i]) {
                let listener = &listeners[i];
                match listener.socket.accept() {
                    Ok((stream, peer)) => {
                        self.skips = 0;
                        self.episodes.resumed(Instant::now());
                        return Some((stream, listen::client(peer), listener));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => self.failed(listener, e, control),
                }
            }
        }
    }

    /// An accept failed: skipped if it concerns one client, else a pause (every thread's, as
    /// the lock is held through it).
    fn failed(&mut self, listener: &Listener, e: io::Error, control: &Control) {
        let name = listener.offer.name();
        match listen::accept_failure(&e) {
            AcceptFailure::Interrupted => {}
            AcceptFailure::Skip if self.skips < listen::SKIPS_BEFORE_PAUSE => {
                self.skips += 1;
                control.counts().accept_errors.add(1);
                log::debug!("{name}: accept: {e}: skipped");
            }
            AcceptFailure::Skip | AcceptFailure::Pause => {
                self.skips = 0;
                control.counts().accept_pauses.add(1);
                self.episodes
                    .failed(name, e, control.open_now(), Instant::now());
                thread::sleep(ACCEPT_BACKOFF);
            }
        }
    }
}

/// Serves one client after another until the server stops, taking each from `acceptor` in its
/// turn among the threads that share it. It never returns before the server stops, so the
/// controller may shut the listeners down at any time.
pub fn serve_in_turn(
    listeners: &[Listener],
    settings: &Settings,
    limits: &Limits,
    control: &Arc<Control>,
    acceptor: &Mutex<Acceptor>,
) {
    // The listeners, then the halt pipe that says the server stops.
    let fds: Vec<RawFd> = listeners
        .iter()
        .map(|l| l.socket.as_raw_fd())
        .chain([control.halt_fd()])
        .collect();
    let mut scratch = vec![0u8; SCRATCH_SIZE];
    loop {
        let taken = acceptor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .next(listeners, &fds, control);
        let Some((stream, peer, listener)) = taken else {
            return;
        };
        // Accepted sockets do not inherit O_NONBLOCK on Linux: this one blocks. The threads
        // bound how many are served: the cap is moot.
        let Ok(reg) = control.register(&stream, listener.slot, usize::MAX) else {
            return;
        };
        let (offer, idle) = (&listener.offer, limits.idle_timeout);
        // A service that panics (a program's own) loses its client, not the thread: the next
        // client is served as ever. The registration still drops before the socket.
        let served = panic::catch_unwind(AssertUnwindSafe(|| {
            blocking::serve(&stream, peer, offer, settings, idle, &mut scratch, &reg)
        }));
        if served.is_err() {
            log::error!("{} {peer}: the service panicked; closed", offer.name());
        }
        drop(reg);
    }
}
