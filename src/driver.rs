//! What every driver (the reactor, and the threads, pool and iterative models) shares with the
//! others and with whoever starts it: what it is handed to serve ([`Setup`], [`Limits`]), how it
//! counts a turn's bytes ([`Moved`]), when a connection is due ([`Progress`]: its service's
//! deadline, then the idle timeout), how a connection is ended ([`finish`]), and how serving
//! ended ([`Ending`]). The drivers are peers: each imports this module, none imports another
//! (the reactors model, `workers.rs`, runs several reactors: built on `reactor.rs`, not its
//! peer), and `server.rs`, which chooses one, imports them all.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::handlers::{AnyService, Ctx, Reason, Settings};
use crate::listen::Listener;
use crate::metrics::counts::{Cell, Counts, Refusal};
use crate::metrics::Board;
use crate::stop::StopSignal;
use crate::sys;

/// What every model needs to serve: built by `Server::bind`, consumed by the model's driver.
pub(crate) struct Setup {
    pub listeners: Vec<Listener>,
    pub settings: Settings,
    pub limits: Limits,
    pub stop: StopSignal,
    /// Where the driver publishes its counts, and says it is leaving.
    pub board: Arc<Board>,
    /// Which of the reactor workers this is (0 for every other model).
    pub worker: usize,
}

/// The limits every model enforces.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub idle_timeout: Duration,
    pub shutdown_timeout: Duration,
    /// How long a stop request keeps everything serving, the health check failing, before the
    /// drain begins (`--shutdown-delay`).
    pub shutdown_delay: Duration,
    pub max_conns: usize,
    /// Threads and pool models: each serving thread's stack.
    pub thread_stack: usize,
    /// Pool model: how many threads serve.
    pub pool_size: usize,
    /// With several reactor workers: the connections open over all of them, which
    /// `max_conns` bounds together (`None`: one driver, which counts its own).
    pub all_open: Option<Arc<AtomicUsize>>,
}

impl Limits {
    /// Takes a place for a new connection under `max_conns`, where the driver itself holds
    /// `mine`: false if there is none (over every worker, when several share the cap).
    pub fn take_place(&self, mine: usize) -> bool {
        match &self.all_open {
            None => mine < self.max_conns,
            Some(all) => {
                let taken = all.fetch_add(1, Ordering::Relaxed) < self.max_conns;
                if !taken {
                    all.fetch_sub(1, Ordering::Relaxed);
                }
                taken
            }
        }
    }

    /// Connections open now under the cap, where the driver itself holds `mine`.
    pub fn open(&self, mine: usize) -> usize {
        self.all_open
            .as_ref()
            .map_or(mine, |all| all.load(Ordering::Relaxed))
    }

    /// A connection that took a place has closed.
    pub fn give_place(&self) {
        if let Some(all) = &self.all_open {
            all.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// How the server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Stopped on request, after letting work in flight finish (or the shutdown timeout).
    Graceful,
    /// A second stop request arrived during shutdown; connections were cut.
    Forced,
}

/// Bytes one turn moved. Input a service reads only to drop it crossed the wire, so it is
/// counted, but it is no progress: it does not hold off the idle timeout.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Moved {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub dropped: u64,
}

impl Moved {
    /// Whether the turn moved a byte either way that counts as progress.
    pub fn progressed(&self) -> bool {
        self.bytes_in + self.bytes_out > 0
    }

    /// Everything the turn moved, dropped input included.
    pub fn total(&self) -> u64 {
        self.bytes_in + self.bytes_out + self.dropped
    }

    /// Input read since `bytes_in` was `before` was read only to be dropped.
    pub fn dropped_since(&mut self, before: u64) {
        self.dropped += self.bytes_in - before;
        self.bytes_in = before;
    }
}

/// What is due for a connection: its service's own deadline comes first, then the idle timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// The service's deadline: give it its `on_deadline` turn.
    Service,
    /// No byte moved for the idle timeout: close it.
    Idle,
}

/// When a connection last made progress, and what that makes due.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress {
    last: Instant,
}

impl Progress {
    pub fn new(now: Instant) -> Progress {
        Progress { last: now }
    }

    /// A turn that ended at `now` moved `moved`.
    pub fn record(&mut self, moved: &Moved, now: Instant) {
        if moved.progressed() {
            self.last = now;
        }
    }

    /// When the connection is closed for making no progress.
    pub fn idle_deadline(&self, idle_timeout: Duration) -> Instant {
        self.last + idle_timeout
    }

    /// The nearer of the service's deadline and the idle deadline.
    pub fn deadline(&self, service: &AnyService, settings: &Settings, idle: Duration) -> Instant {
        let idle = self.idle_deadline(idle);
        service.deadline(settings).map_or(idle, |due| due.min(idle))
    }

    /// What is due at `now`, if anything.
    pub fn due(
        &self,
        service: &AnyService,
        settings: &Settings,
        idle: Duration,
        now: Instant,
    ) -> Option<Due> {
        if service.deadline(settings).is_some_and(|due| due <= now) {
            Some(Due::Service)
        } else if self.idle_deadline(idle) <= now {
            Some(Due::Idle)
        } else {
            None
        }
    }
}

/// Ends a connection's service for `reason`, before its socket `fd` closes, and counts it as
/// closed under the service in `slot` (what it held for its client too). For the driver's own reasons (idle, shutdown), a
/// service cut mid-answer gets a reset rather than a FIN, so the peer cannot take what it got
/// for all of it, and the service logs what it loses. Then the one line for the connection's
/// end.
pub(crate) fn finish<C: Cell>(
    service: &mut AnyService,
    reason: Reason,
    fd: RawFd,
    cx: &mut Ctx,
    counts: &Counts<C>,
    slot: usize,
) {
    // First: a service that ends its request forgets what it held.
    counts.rebuffered(slot, service.buffered(), 0);
    if matches!(reason, Reason::IdleTimeout | Reason::Shutdown) {
        if service.mid_answer() {
            sys::reset_on_close(fd);
        }
        service.abandon(reason, cx); // a proxied one tells its own the client
    }
    // A header refused, not a client gone quiet or a server stopping.
    if service.awaiting_proxy_header() && matches!(reason, Reason::Protocol(_)) {
        counts.refused(slot, Refusal::ProxyHeader);
    }
    counts.closed(slot, reason.counted_as());
    reason.log(service.name(), service.client().unwrap_or(cx.peer));
}

/// Where a server is in stopping; every driver goes through the same phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    Serving = 0,
    /// A stop was requested: everything is served as before, but the health check fails, so
    /// that balancers send their clients elsewhere, until the shutdown delay is over.
    Leaving = 1,
    /// No longer accepting; connections with work in flight may finish, until the shutdown
    /// timeout.
    Draining = 2,
    /// Every connection is being closed now.
    Cut = 3,
}

impl Phase {
    /// Whether new clients are still taken.
    pub fn accepts(self) -> bool {
        matches!(self, Phase::Serving | Phase::Leaving)
    }

    /// The phase stored as `n` (`phase as u8`), for the blocking models' shared copy.
    pub fn from_u8(n: u8) -> Phase {
        match n {
            0 => Phase::Serving,
            1 => Phase::Leaving,
            2 => Phase::Draining,
            _ => Phase::Cut,
        }
    }
}

/// How stop requests, the shutdown delay and the shutdown timeout move a server through its
/// [`Phase`]s, the same for every driver: the first request leaves (for the delay; none by
/// default) then drains, any later one cuts (a forced stop), and a drain that outlasts the
/// shutdown timeout cuts what is left (still a graceful stop).
#[derive(Debug)]
pub(crate) struct Shutdown {
    phase: Phase,
    /// When the phase under way (leaving, draining) is over.
    until: Option<Instant>,
    timeout: Duration,
    delay: Duration,
    ending: Ending,
}

impl Shutdown {
    pub fn new(timeout: Duration, delay: Duration) -> Shutdown {
        Shutdown {
            phase: Phase::Serving,
            until: None,
            timeout,
            delay,
            ending: Ending::Graceful,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// `count` stop requests arrived at `now`: the phase they move to, if they move it.
    pub fn requested(&mut self, count: usize, now: Instant) -> Option<Phase> {
        match (self.phase, count) {
            (_, 0) | (Phase::Cut, _) => None,
            (Phase::Serving, 1) if !self.delay.is_zero() => {
                Some(self.enter(Phase::Leaving, Some(now + self.delay)))
            }
            (Phase::Serving, 1) => Some(self.enter(Phase::Draining, Some(now + self.timeout))),
            (_, _) => {
                self.ending = Ending::Forced;
                Some(self.enter(Phase::Cut, None))
            }
        }
    }

    fn enter(&mut self, phase: Phase, until: Option<Instant>) -> Phase {
        self.phase = phase;
        self.until = until;
        phase
    }

    /// When the phase under way ends by itself (leaving gives way to draining, a drain to the
    /// cut), if it does.
    pub fn deadline(&self) -> Option<Instant> {
        self.until
    }

    /// The phase the time moves to at `now`, if it moves: the delay is over (draining), or a
    /// drain has outlasted the shutdown timeout (the rest is cut, gracefully).
    pub fn timed_out(&mut self, now: Instant) -> Option<Phase> {
        if self.until.is_none_or(|until| until > now) {
            return None;
        }
        Some(match self.phase {
            Phase::Leaving => self.enter(Phase::Draining, Some(now + self.timeout)),
            _ => self.enter(Phase::Cut, None),
        })
    }

    /// How serving ended, once it has: cut, or drained with `empty` connections left.
    pub fn ending(&self, empty: bool) -> Option<Ending> {
        match self.phase {
            Phase::Cut => Some(self.ending),
            Phase::Draining if empty => Some(Ending::Graceful),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_stop_drains_until_the_timeout_and_a_second_cuts() {
        let now = Instant::now();
        let second = Duration::from_secs(1);
        let mut shutdown = Shutdown::new(10 * second, Duration::ZERO);
        assert_eq!(shutdown.requested(0, now), None);
        assert_eq!(shutdown.ending(true), None, "serving");
        assert_eq!(shutdown.requested(1, now), Some(Phase::Draining));
        assert_eq!(shutdown.deadline(), Some(now + 10 * second));
        assert_eq!(shutdown.ending(false), None, "still draining");
        assert_eq!(shutdown.ending(true), Some(Ending::Graceful));
        assert_eq!(shutdown.requested(1, now + second), Some(Phase::Cut));
        assert_eq!(shutdown.ending(false), Some(Ending::Forced));
        assert_eq!(shutdown.requested(1, now + second), None, "cut is the end");
    }

    #[test]
    fn two_requests_at_once_cut_and_a_drain_that_lasts_too_long_is_cut_gracefully() {
        let now = Instant::now();
        let second = Duration::from_secs(1);
        let mut shutdown = Shutdown::new(second, Duration::ZERO);
        assert_eq!(shutdown.requested(2, now), Some(Phase::Cut));
        assert_eq!(shutdown.ending(false), Some(Ending::Forced));

        let mut shutdown = Shutdown::new(second, Duration::ZERO);
        assert_eq!(
            shutdown.timed_out(now + 5 * second),
            None,
            "no drain, no timeout"
        );
        shutdown.requested(1, now);
        assert_eq!(shutdown.timed_out(now + second / 2), None);
        assert_eq!(shutdown.timed_out(now + second), Some(Phase::Cut));
        assert_eq!(shutdown.ending(false), Some(Ending::Graceful));
    }

    #[test]
    fn a_shutdown_delay_keeps_serving_then_drains_for_the_whole_timeout() {
        let now = Instant::now();
        let second = Duration::from_secs(1);
        let mut shutdown = Shutdown::new(10 * second, 2 * second);
        assert_eq!(shutdown.requested(1, now), Some(Phase::Leaving));
        assert!(shutdown.phase().accepts());
        assert_eq!(
            shutdown.ending(true),
            None,
            "leaving is not the end, even empty"
        );
        assert_eq!(shutdown.deadline(), Some(now + 2 * second));
        assert_eq!(shutdown.timed_out(now + second), None);
        assert_eq!(shutdown.timed_out(now + 3 * second), Some(Phase::Draining));
        assert_eq!(shutdown.deadline(), Some(now + 13 * second));
        assert!(!shutdown.phase().accepts());
        assert_eq!(shutdown.ending(true), Some(Ending::Graceful));

        let mut shutdown = Shutdown::new(10 * second, 2 * second);
        shutdown.requested(1, now);
        assert_eq!(
            shutdown.requested(1, now + second),
            Some(Phase::Cut),
            "a second request cuts"
        );
        assert_eq!(shutdown.ending(false), Some(Ending::Forced));
    }
}
