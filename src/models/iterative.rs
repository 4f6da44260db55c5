//! The iterative model, as in the lesson: accept one client, serve it to the end, then accept
//! the next; the others wait in the kernel's backlog meanwhile. One thread serves (it waits on
//! every listener with `poll(2)`, then accepts from the ready one); the caller's thread is the
//! controller (stopping). `--max-conns` is moot: one connection at a time.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use super::blocking;
use super::control::{self, Control};
use crate::driver::{Ending, Limits, Setup};
use crate::handlers::{Settings, SCRATCH_SIZE};
use crate::listen::{self, AcceptFailure, Episodes, Listener, ACCEPT_BACKOFF};
use crate::metrics::counts::Cell;
use crate::sys;

pub fn run(setup: Setup) -> io::Result<Ending> {
    control::serve(setup, |listeners, settings, limits, control| {
        let control = Arc::clone(control);
        let worker = thread::Builder::new()
            .name("tcpserve-iterative".into())
            .spawn(move || serve_in_turn(&listeners, &settings, &limits, &control))?;
        Ok(vec![worker])
    })
}

/// Serves one client after another until the server stops. It never returns before that, so
/// the controller may shut the listeners down at any time.
fn serve_in_turn(
    listeners: &[Listener],
    settings: &Settings,
    limits: &Limits,
    control: &Arc<Control>,
) {
    // The listeners, then the halt pipe that says the server stops.
    let fds: Vec<RawFd> = listeners
        .iter()
        .map(|l| l.socket.as_raw_fd())
        .chain([control.halt_fd()])
        .collect();
    let mut scratch = vec![0u8; SCRATCH_SIZE];
    let mut episodes = Episodes::default();
    let mut skips = 0;
    loop {
        let ready = sys::wait_readable(&fds, None);
        if !control.phase().accepts() {
            return;
        }
        let ready = match ready {
            Ok(ready) => ready,
            Err(e) => {
                // Out of memory or the like: wait rather than spin.
                log::warn!("iterative: cannot wait for clients: {e}");
                thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        for (listener, _) in listeners.iter().zip(ready).filter(|(_, r)| *r) {
            match listener.socket.accept() {
                // Accepted sockets do not inherit O_NONBLOCK on Linux: this one blocks.
                Ok((stream, peer)) => {
                    skips = 0;
                    let peer = listen::client(peer);
                    episodes.resumed(Instant::now());
                    // One at a time: the cap is moot.
                    let Ok(reg) = control.register(&stream, listener.slot, usize::MAX) else {
                        return;
                    };
                    let (offer, idle) = (&listener.offer, limits.idle_timeout);
                    blocking::serve(&stream, peer, offer, settings, idle, &mut scratch, &reg);
                    drop(reg);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => match listen::accept_failure(&e) {
                    AcceptFailure::Interrupted => {}
                    AcceptFailure::Skip if skips < listen::SKIPS_BEFORE_PAUSE => {
                        skips += 1;
                        control.counts().accept_errors.add(1);
                        log::debug!("{}: accept: {e}: skipped", listener.offer.name());
                    }
                    AcceptFailure::Skip | AcceptFailure::Pause => {
                        skips = 0;
                        control.counts().accept_pauses.add(1);
                        episodes.failed(listener.offer.name(), e, 0, Instant::now());
                        thread::sleep(ACCEPT_BACKOFF);
                    }
                },
            }
        }
    }
}
