//! The threads model: one blocking OS thread per connection, on `std::net` (no `mio` on this
//! path). An acceptor thread per listener waits for clients in `poll(2)` (beside the halt pipe
//! that says the server stops), takes them and starts a thread for each, with a small stack
//! (`--thread-stack`); the caller's thread is the controller (stopping).

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use super::blocking;
use super::control::{self, Control, Refused, Registration};
use crate::driver::{Ending, Limits, Setup};
use crate::handlers::{Settings, SCRATCH_SIZE};
use crate::listen::{self, AcceptFailure, Episodes, Listener, ACCEPT_BACKOFF};
use crate::logging::{Held, Throttle};
use crate::metrics::counts::{Cell, Refusal};
use crate::sys;

/// What every connection thread reads.
struct Shared {
    settings: Settings,
    limits: Limits,
}

/// A connection and its registration, dropped in this order (see [`Registration`]).
struct Served {
    reg: Registration,
    stream: TcpStream,
}

pub fn run(setup: Setup) -> io::Result<Ending> {
    control::serve(setup, |listeners, settings, limits, control| {
        let shared = Arc::new(Shared { settings, limits });
        listeners
            .into_iter()
            .map(|listener| {
                let (control, shared) = (Arc::clone(control), Arc::clone(&shared));
                thread::Builder::new()
                    .name(format!("accept-{}", listener.offer.name()))
                    .spawn(move || accept_loop(&listener, &shared, &control))
            })
            .collect()
    })
}

/// Takes clients until the server stops: waits on the listener and the halt pipe, and returns
/// once the server no longer takes clients (its listener closes as it goes).
fn accept_loop(listener: &Listener, shared: &Arc<Shared>, control: &Arc<Control>) {
    let offer = &listener.offer;
    let fds = [listener.socket.as_raw_fd(), control.halt_fd()];
    let mut episodes = Episodes::default();
    let mut skips = 0;
    loop {
        let ready = sys::wait_readable(&fds, None);
        if !control.phase().accepts() {
            return;
        }
        if let Err(e) = ready {
            // Out of memory or the like: wait rather than spin.
            let open = control.open_now();
            episodes.failed(offer.name(), e, open, Instant::now());
            thread::sleep(ACCEPT_BACKOFF);
            continue;
        }
        match listener.socket.accept() {
            Ok((stream, peer)) => {
                skips = 0;
                let peer = listen::client(peer);
                episodes.resumed(Instant::now());
                // Accepted sockets do not inherit O_NONBLOCK on Linux: this one blocks.
                match control.register(&stream, listener.slot, shared.limits.max_conns) {
                    Ok(reg) => {
                        episodes.room(Instant::now());
                        start(listener, control, Served { reg, stream }, peer, shared);
                    }
                    // Dropping the stream closes it: the client reads end-of-stream.
                    Err(Refused::Full(open)) => {
                        control.counts().refused(listener.slot, Refusal::MaxConns);
                        episodes.refused(open, Instant::now());
                    }
                    Err(Refused::Stopping) => return,
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => match listen::accept_failure(&e) {
                AcceptFailure::Interrupted => {}
                AcceptFailure::Skip if skips < listen::SKIPS_BEFORE_PAUSE => {
                    skips += 1;
                    control.counts().accept_errors.add(1);
                    log::debug!("{}: accept: {e}: skipped", offer.name());
                }
                AcceptFailure::Skip | AcceptFailure::Pause => {
                    skips = 0;
                    control.counts().accept_pauses.add(1);
                    let open = control.open_now();
                    episodes.failed(offer.name(), e, open, Instant::now());
                    thread::sleep(ACCEPT_BACKOFF);
                }
            },
        }
    }
}

/// Starts the thread that serves one client; if none can be had, refuses that client.
fn start(
    listener: &Listener,
    control: &Control,
    served: Served,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) {
    let offer = &listener.offer;
    let thread_shared = Arc::clone(shared);
    let thread_offer = offer.clone();
    let spawned = thread::Builder::new()
        .stack_size(shared.limits.thread_stack)
        .spawn(move || {
            // Kept whole: its fields drop in order, the registration before the socket, on
            // every path (a panic included).
            let served = served;
            let mut scratch = vec![0u8; SCRATCH_SIZE];
            let Shared { settings, limits } = &*thread_shared;
            let (stream, reg) = (&served.stream, &served.reg);
            let idle = limits.idle_timeout;
            blocking::serve(
                stream,
                peer,
                &thread_offer,
                settings,
                idle,
                &mut scratch,
                reg,
            );
        });
    if let Err(e) = spawned {
        control.counts().refused(listener.slot, Refusal::NoThread);
        static NO_THREAD: Throttle = Throttle::new();
        if let Some(held) = NO_THREAD.admit(std::time::Instant::now()) {
            log::warn!(
                "{} {peer}: cannot start a thread ({e}); refusing this client{}",
                offer.name(),
                Held(held)
            );
        }
    }
}
