//! What the blocking models share around their connections: the registry of live connections
//! and stopping. A blocked thread cannot poll a stop flag, so the controller reaches it through
//! a descriptor: the acceptors wait in `poll(2)` on their listeners and a halt pipe that the
//! controller makes readable when it stops; a connection's thread blocked in `read` or `write`
//! is ended by `shutdown(2)` on its socket. The server's own listeners are shut down at once,
//! so the kernel refuses new clients even while an acceptor is busy (the iterative model's
//! serving a client); one passed by systemd is systemd's too, and must go on listening for the
//! next start: it is only closed, when its acceptor returns.
//!
//! The controller runs on the caller's thread: it sleeps on the stop pipe until the first stop
//! request, lets everything serve on for the shutdown delay (if any: the health check fails
//! meanwhile), then closes the listeners, closes the connections at rest, and waits (on the
//! stop pipe and a wake pipe that connection threads write to as they end) until every
//! connection has ended, the shutdown timeout cuts the rest, or a second request cuts them at
//! once.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::driver::{Ending, Limits, Phase, Setup, Shutdown};
use crate::handlers::Settings;
use crate::listen::Listener;
use crate::metrics::counts::Shared;
use crate::metrics::Board;
use crate::stop::StopSignal;
use crate::sys;

/// Serves a blocking model: `start` gets the listeners (made nonblocking) and settings and
/// starts the model's threads, which wait on their listeners and [`Control::halt_fd`] and
/// return once it is readable, closing their listeners; the caller's thread is the controller
/// until then.
pub fn serve(
    setup: Setup,
    start: impl FnOnce(
        Vec<Listener>,
        Settings,
        Limits,
        &Arc<Control>,
    ) -> io::Result<Vec<JoinHandle<()>>>,
) -> io::Result<Ending> {
    let Setup {
        listeners,
        settings,
        limits,
        mut stop,
        board,
        ..
    } = setup;
    let control = Control::new(board)?;
    let shutdown = Shutdown::new(limits.shutdown_timeout, limits.shutdown_delay);
    let own: Vec<RawFd> = listeners
        .iter()
        .filter(|l| !l.passed)
        .map(|l| l.socket.as_raw_fd())
        .collect();
    for listener in &listeners {
        // Acceptors wait in poll(2): a client may leave between it and the accept.
        listener.socket.set_nonblocking(true)?;
    }
    let workers = match start(listeners, settings, limits, &control) {
        Ok(workers) => workers,
        Err(e) => {
            // Threads that did start must not serve on, unstoppable.
            control.halt();
            return Err(e);
        }
    };
    let ending = control.run(&mut stop, &own, shutdown);
    for worker in workers {
        let _ = worker.join();
    }
    Ok(ending)
}

/// How long threads cut at the end of a shutdown get to notice before the server returns.
const CUT_GRACE: Duration = Duration::from_secs(1);

/// One live connection as the controller sees it.
struct Live {
    fd: RawFd,
    state: Arc<ConnState>,
}

/// Where a connection is, in one atomic, so the controller's "at rest? then cut" and the
/// connection's "a byte came: busy" cannot interleave: whichever changes it from `RESTING`
/// first wins, and the other sees that it lost. Sequentially consistent, with the phase: the
/// controller sets the phase then looks at the state, a connection going to rest sets the
/// state then looks at the phase, and one of the two must see the other's write.
#[derive(Debug)]
pub struct ConnState(AtomicU8);

impl ConnState {
    const RESTING: u8 = 0;
    const BUSY: u8 = 1;
    const CUT: u8 = 2;

    fn new() -> ConnState {
        ConnState(AtomicU8::new(ConnState::RESTING))
    }

    /// The connection has work in flight; false if the controller cut it first.
    fn busy(&self) -> bool {
        // Most reads find it busy already: no locked instruction then.
        if self.0.load(Ordering::SeqCst) == ConnState::BUSY {
            return true;
        }
        let from = ConnState::RESTING;
        match self
            .0
            .compare_exchange(from, ConnState::BUSY, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(now) => now == ConnState::BUSY,
        }
    }

    /// The connection is at rest again (unless cut meanwhile).
    fn rest(&self) {
        if self.0.load(Ordering::SeqCst) != ConnState::BUSY {
            return;
        }
        let from = ConnState::BUSY;
        let _ =
            self.0
                .compare_exchange(from, ConnState::RESTING, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The controller cuts the connection if it is at rest; true if it did.
    fn cut_if_resting(&self) -> bool {
        let from = ConnState::RESTING;
        self.0
            .compare_exchange(from, ConnState::CUT, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// The controller cuts the connection whatever it is doing.
    fn cut(&self) {
        self.0.store(ConnState::CUT, Ordering::SeqCst);
    }

    fn was_cut(&self) -> bool {
        self.0.load(Ordering::SeqCst) == ConnState::CUT
    }
}

/// Why a connection was not entered.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Stopping,
    /// At the cap; how many connections are open.
    Full(usize),
}

pub struct Control {
    live: Mutex<Slab<Live>>,
    phase: AtomicU8,
    /// Connection threads ending during a shutdown poke `wake_tx`; the controller polls
    /// `wake_rx`.
    wake_tx: UnixStream,
    wake_rx: UnixStream,
    /// Written once when the server stops taking clients, never read: readable from then on,
    /// it wakes every acceptor (`halt_fd`).
    halt_tx: UnixStream,
    halt_rx: UnixStream,
    board: Arc<Board>,
}

/// A connection's place in the registry; dropping it leaves the registry. Drop it before the
/// socket: the controller may `shutdown` a registered descriptor at any time, which is safe
/// only while it is still open.
pub struct Registration {
    control: Arc<Control>,
    key: usize,
    state: Arc<ConnState>,
    /// The connection's service's place among the counts.
    slot: usize,
}

impl Control {
    pub fn new(board: Arc<Board>) -> io::Result<Arc<Control>> {
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_tx.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        let (halt_tx, halt_rx) = UnixStream::pair()?;
        Ok(Arc::new(Control {
            live: Mutex::new(Slab::new()),
            phase: AtomicU8::new(Phase::Serving as u8),
            wake_tx,
            wake_rx,
            halt_tx,
            halt_rx,
            board,
        }))
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::SeqCst))
    }

    /// The counts, where the connection threads count as they go.
    pub fn counts(&self) -> &Shared {
        self.board.counts(0)
    }

    /// How many connections are registered now.
    pub fn open_now(&self) -> usize {
        self.lock().len()
    }

    /// Readable once the server stops taking clients: acceptors wait on it beside their
    /// listeners.
    pub fn halt_fd(&self) -> RawFd {
        self.halt_rx.as_raw_fd()
    }

    fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slab<Live>> {
        // A connection thread that panicked cannot leave the slab half-changed: recover it.
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Enters a new connection of the service in `slot`, unless the server is stopping or
    /// already holds `cap` connections (checked under the registry's lock, so acceptors racing
    /// each other cannot both take the last place).
    pub fn register(
        self: &Arc<Self>,
        stream: &TcpStream,
        slot: usize,
        cap: usize,
    ) -> Result<Registration, Refused> {
        let mut live = self.lock();
        if !self.phase().accepts() {
            return Err(Refused::Stopping);
        }
        if live.len() >= cap {
            return Err(Refused::Full(live.len()));
        }
        let state = Arc::new(ConnState::new());
        let key = live.insert(Live {
            fd: stream.as_raw_fd(),
            state: Arc::clone(&state),
        });
        Ok(Registration {
            control: Arc::clone(self),
            key,
            state,
            slot,
        })
    }

    /// Serves as controller until the server has stopped, moving through the phases as
    /// [`Shutdown`] says.
    pub fn run(&self, stop: &mut StopSignal, own: &[RawFd], mut shutdown: Shutdown) -> Ending {
        let stop_fd = stop.0.as_raw_fd();
        let mut phase = loop {
            let _ = sys::wait_readable(&[stop_fd], None);
            if let Some(phase) = shutdown.requested(stop.take(), Instant::now()) {
                break phase;
            }
        };
        self.board.leave();
        if phase == Phase::Leaving {
            // Serving on as before, until the delay is over or a second request cuts.
            self.set_phase(Phase::Leaving);
            log::info!("stop requested: the health check fails from now; draining after the delay");
            phase = loop {
                let now = Instant::now();
                if let Some(next) = shutdown.timed_out(now) {
                    break next;
                }
                let left = shutdown
                    .deadline()
                    .map(|until| until.saturating_duration_since(now));
                let _ = sys::wait_readable(&[stop_fd], left);
                if let Some(next) = shutdown.requested(stop.take(), Instant::now()) {
                    break next;
                }
            };
        }
        let timeout = shutdown
            .deadline()
            .map(|until| until.saturating_duration_since(Instant::now()));
        // The phase first, so an accept that slips through is not served; then the kernel
        // refuses new clients on the server's own listeners, and the halt pipe wakes the
        // acceptors, which return and close theirs.
        self.set_phase(Phase::Draining);
        for &fd in own {
            sys::shutdown_both(fd);
        }
        let _ = (&self.halt_tx).write(&[1]);
        if phase == Phase::Cut {
            return self.cut("second stop request", Ending::Forced);
        }
        let in_flight = {
            let live = self.lock();
            for (_, conn) in live.iter() {
                if conn.state.cut_if_resting() {
                    sys::shutdown_both(conn.fd);
                }
            }
            live.iter().filter(|(_, c)| !c.state.was_cut()).count()
        };
        log::info!(
            "shutting down: no longer accepting; waiting up to {:?} for {in_flight} connections in flight",
            timeout.unwrap_or_default()
        );
        loop {
            let now = Instant::now();
            if let Some(ending) = shutdown.ending(self.lock().is_empty()) {
                return ending;
            }
            if shutdown.timed_out(now).is_some() {
                return self.cut("shutdown timeout", Ending::Graceful);
            }
            let until = shutdown.deadline().expect("draining");
            let wake_fd = self.wake_rx.as_raw_fd();
            let left = until.saturating_duration_since(now);
            let _ = sys::wait_readable(&[stop_fd, wake_fd], Some(left));
            let _ = (&self.wake_rx).read(&mut [0u8; 64]);
            if shutdown.requested(stop.take(), Instant::now()) == Some(Phase::Cut) {
                return self.cut("second stop request", Ending::Forced);
            }
        }
    }

    /// The server cannot start after all: every thread that did start returns (the acceptors
    /// and the serving threads wait on the halt pipe).
    fn halt(&self) {
        self.set_phase(Phase::Cut);
        let _ = (&self.halt_tx).write(&[1]);
    }

    /// Closes every connection now, and gives their threads a moment to see it.
    fn cut(&self, why: &str, ending: Ending) -> Ending {
        self.set_phase(Phase::Cut);
        {
            let live = self.lock();
            if !live.is_empty() {
                log::warn!("{why}: closing {} connections now", live.len());
            }
            for (_, conn) in live.iter() {
                conn.state.cut();
                sys::shutdown_both(conn.fd);
            }
        }
        let until = Instant::now() + CUT_GRACE;
        while !self.lock().is_empty() && Instant::now() < until {
            let left = until.saturating_duration_since(Instant::now());
            let _ = sys::wait_readable(&[self.wake_rx.as_raw_fd()], Some(left));
            let _ = (&self.wake_rx).read(&mut [0u8; 64]);
        }
        ending
    }
}

impl Registration {
    /// Input came: the connection has work in flight. False if the controller cut it first,
    /// when the input must not be served.
    pub fn busy(&self) -> bool {
        self.state.busy()
    }

    /// The connection's service is at rest again.
    pub fn rest(&self) {
        self.state.rest()
    }

    /// The controller shut this connection down (shutdown at rest, or cut).
    pub fn was_cut(&self) -> bool {
        self.state.was_cut()
    }

    pub fn phase(&self) -> Phase {
        self.control.phase()
    }

    /// Where the connection's thread counts.
    pub fn counts(&self) -> &Shared {
        self.control.counts()
    }

    /// The connection's service's place among the counts.
    pub fn slot(&self) -> usize {
        self.slot
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.control.lock().remove(self.key);
        if !self.control.phase().accepts() {
            let _ = (&self.control.wake_tx).write(&[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_cut_at_rest_cannot_then_become_busy() {
        let state = ConnState::new();
        assert!(state.cut_if_resting(), "at rest: cut");
        assert!(!state.busy(), "input after the cut is not served");
        state.rest();
        assert!(state.was_cut(), "and it stays cut");
    }

    #[test]
    fn a_busy_connection_is_not_cut_as_at_rest() {
        let state = ConnState::new();
        assert!(state.busy());
        assert!(state.busy(), "busy twice is busy");
        assert!(!state.cut_if_resting(), "in flight: left to finish");
        state.rest();
        assert!(state.cut_if_resting(), "at rest again: cut");
        let forced = ConnState::new();
        assert!(forced.busy());
        forced.cut();
        assert!(
            forced.was_cut() && !forced.busy(),
            "a forced cut takes even a busy one"
        );
    }

    #[test]
    fn of_a_cut_and_a_byte_racing_exactly_one_wins() {
        for _ in 0..2000 {
            let state = Arc::new(ConnState::new());
            let other = Arc::clone(&state);
            let controller = std::thread::spawn(move || other.cut_if_resting());
            let served = state.busy();
            let cut = controller.join().unwrap();
            assert!(served != cut, "served {served}, cut {cut}");
        }
    }
}
