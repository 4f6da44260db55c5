//! The reactors model: one reactor per core, side by side, sharing nothing on the hot path.
//!
//! Each worker is a whole [`Reactor`] on a thread of its own, with its own listening socket on
//! every address (`SO_REUSEPORT`: the kernel hashes each new connection to one of them), its
//! own slab, timers, root cache and counts (published to its own place on the board, summed by
//! whoever reads). What they share: `--max-conns`, counted over all of them with one atomic per
//! accepted and per closed connection (never per request); and the stop requests, which this
//! module relays from the server's stop pipe to each worker's own, so that the first request
//! drains every worker and a second cuts them all.
//!
//! Why SO_REUSEPORT rather than one listener shared with `EPOLLEXCLUSIVE`: no lock or wake-up
//! is shared between workers, and each accept queue is a worker's own. What it costs: a worker
//! that stalls keeps its share of new connections, which wait in its backlog (with one shared
//! listener the others would take them). A socket given to the server (by systemd, or an
//! embedding program) cannot be split so: each worker then polls a duplicate of it, every
//! worker wakes for each client, and one takes it.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::thread;

use crate::driver::{Ending, Setup};
use crate::reactor::Reactor;
use crate::stop::{StopSignal, Stopper};
use crate::sys;

/// The server's own stop pipe, and each worker's, to relay its requests to.
pub(crate) struct Relay {
    pub signal: StopSignal,
    pub workers: Vec<Stopper>,
}

/// Runs a reactor per setup, each on its own thread, until all have ended; relays stop
/// requests meanwhile. The ending is forced if any worker's was.
pub(crate) fn run(setups: Vec<Setup>, mut relay: Relay) -> io::Result<Ending> {
    let (ended_tx, ended_rx) = UnixStream::pair()?;
    ended_rx.set_nonblocking(true)?;
    // Everything that can fail is had before the first worker starts: none is left running.
    let reactors = setups
        .into_iter()
        .map(|setup| Ok((Reactor::new(setup)?, Ended(ended_tx.try_clone()?))))
        .collect::<io::Result<Vec<_>>>()?;
    let mut threads = Vec::with_capacity(reactors.len());
    for (i, (reactor, ended)) in reactors.into_iter().enumerate() {
        let thread = thread::Builder::new()
            .name(format!("tcpserve-reactor-{i}"))
            .spawn(move || {
                // Dropped however the worker ends, a panic included: the relay hears of it.
                let _ended = ended;
                reactor.run()
            });
        match thread {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                // The workers already running must not be left behind.
                relay.workers.iter().for_each(Stopper::stop_now);
                let _ = join(threads);
                return Err(e);
            }
        }
    }
    let fds = [relay.signal.0.as_raw_fd(), ended_rx.as_raw_fd()];
    let (mut ended, mut requests) = (0, 0);
    while ended < threads.len() {
        let _ = sys::wait_readable(&fds, None);
        // Passed on as they came, two at once as two at once (`stop_now`): a worker with nothing
        // in flight would end gracefully on the first of two separate ones.
        let taken = relay.signal.take();
        match taken {
            0 => {}
            1 => relay.workers.iter().for_each(Stopper::stop),
            _ => relay.workers.iter().for_each(Stopper::stop_now),
        }
        requests += taken;
        ended += (&ended_rx).read(&mut [0u8; 64]).unwrap_or(0);
        if ended > 0 && requests == 0 {
            // A worker failed unasked: the server cannot go on short of it.
            requests = 2;
            relay.workers.iter().for_each(Stopper::stop_now);
        }
    }
    join(threads)
}

/// A worker's end, said to the relay when dropped.
struct Ended(UnixStream);

impl Drop for Ended {
    fn drop(&mut self) {
        sys::poke(self.0.as_raw_fd());
    }
}

/// Waits for every worker: the first error if any failed, else forced if any stop was.
fn join(threads: Vec<thread::JoinHandle<io::Result<Ending>>>) -> io::Result<Ending> {
    let mut ending = Ending::Graceful;
    let mut failure = None;
    for thread in threads {
        match thread.join() {
            Ok(Ok(Ending::Forced)) => ending = Ending::Forced,
            Ok(Ok(Ending::Graceful)) => {}
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(_) => failure = failure.or(Some(io::Error::other("a reactor worker panicked"))),
        }
    }
    failure.map_or(Ok(ending), Err)
}
