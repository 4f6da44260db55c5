//! The event loop: one thread, one `mio::Poll`, every listener and connection.
//!
//! The reactor owns readiness, tokens, timers, accepting and closing; it knows no protocol.
//! Each turn it waits for events (or the nearest deadline), hands each connection event to
//! that connection, fires due timers, and publishes its counters.
//!
//! Tokens: `STOP` is the stop pipe, listeners follow it, and a connection's token is its
//! slab key plus `FIRST_CONN`. Timers are a min-heap of `(when, key, serial)` kept lazily: a
//! connection has one live entry (at its `armed_at`), and moving its idle deadline costs nothing
//! until the entry comes due, when it is acted on or pushed back to the real deadline. A service
//! deadline sooner than the live entry (a file name's quiet period) pushes a new live entry; the
//! old one is skipped when it comes up.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::conn::{Conn, Turn};
use crate::driver::{Ending, Limits, Setup};
use crate::handlers::{Next, Reason, ServiceKind, Settings, Wakeup, SCRATCH_SIZE};
use crate::listen::{self, AcceptFailure, Episodes, Listener, ACCEPT_BACKOFF};
use crate::stats::{SharedStats, Stats};
use crate::stop::StopSignal;
use crate::sys;

const STOP: Token = Token(0);
const FIRST_LISTENER: usize = 1;
const FIRST_CONN: usize = 1024;
const EVENTS_PER_POLL: usize = 1024;

/// A listening socket in the poll.
#[derive(Debug)]
struct Watched {
    kind: ServiceKind,
    socket: TcpListener,
}

/// Whether new clients are being taken. What is logged of a pause or a full house is kept by
/// the reactor's [`Episodes`], as by the blocking acceptors'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accepting {
    Open,
    /// Accepting failed for want of a resource (EMFILE...): wait for a close or the back-off.
    Paused {
        retry_at: Instant,
    },
    /// Trying again during a pause: a failure returns to `Paused` (the same episode), draining
    /// every backlog ends the episode.
    Retrying,
}

#[derive(Debug)]
enum Phase {
    Serving,
    /// Listeners closed; waiting for connections with work in flight, until `until`.
    Draining {
        until: Instant,
    },
    Ended(Ending),
}

pub struct Reactor {
    poll: Poll,
    listeners: Vec<Watched>,
    conns: Slab<Conn>,
    timers: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    /// Connections that used up their turn's budget with work left, to run again before
    /// sleeping; `again_now` is the batch being run, kept to reuse its allocation.
    again: Vec<(usize, u32)>,
    again_now: Vec<(usize, u32)>,
    scratch: Box<[u8]>,
    settings: Settings,
    limits: Limits,
    accepting: Accepting,
    episodes: Episodes,
    phase: Phase,
    stop: StopSignal,
    stops_seen: usize,
    next_serial: u32,
    stats: Stats,
    shared: Arc<SharedStats>,
}

impl Reactor {
    pub fn new(setup: Setup) -> io::Result<Reactor> {
        let Setup {
            listeners,
            settings,
            limits,
            mut stop,
            stats: shared,
        } = setup;
        let poll = Poll::new()?;
        let registry = poll.registry();
        registry.register(&mut stop.0, STOP, Interest::READABLE)?;
        let mut watched = Vec::with_capacity(listeners.len());
        for (i, Listener { kind, socket }) in listeners.into_iter().enumerate() {
            socket.set_nonblocking(true)?;
            let mut socket = TcpListener::from_std(socket);
            registry.register(&mut socket, Token(FIRST_LISTENER + i), Interest::READABLE)?;
            watched.push(Watched { kind, socket });
        }
        let listeners = watched;
        assert!(listeners.len() < FIRST_CONN - FIRST_LISTENER);
        Ok(Reactor {
            poll,
            listeners,
            conns: Slab::new(),
            timers: BinaryHeap::new(),
            again: Vec::new(),
            again_now: Vec::new(),
            scratch: vec![0; SCRATCH_SIZE].into_boxed_slice(),
            settings,
            limits,
            accepting: Accepting::Open,
            episodes: Episodes::default(),
            phase: Phase::Serving,
            stop,
            stops_seen: 0,
            next_serial: 0,
            stats: Stats::default(),
            shared,
        })
    }

    /// Serves until stopped.
    pub fn run(mut self) -> io::Result<Ending> {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        let mut now = Instant::now();
        loop {
            let timeout = self.poll_timeout(now);
            if let Err(err) = self.poll.poll(&mut events, timeout) {
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    STOP => self.on_stop(now),
                    Token(t) if t < FIRST_CONN => self.accept(t - FIRST_LISTENER, now),
                    Token(t) => {
                        let key = t - FIRST_CONN;
                        // A token whose connection closed earlier in this batch is skipped.
                        if let Some(conn) = self.conns.get_mut(key) {
                            conn.on_event(event);
                            self.drive(key, now);
                        }
                    }
                }
            }
            self.run_again(now);
            self.expire(now);
            self.shared.publish(&self.stats);
            if let Some(ending) = self.ending() {
                return Ok(ending);
            }
        }
    }

    /// Sleep until the nearest deadline; forever when nothing is due (an idle server makes no
    /// wake-ups); not at all when connections wait to run again.
    fn poll_timeout(&mut self, now: Instant) -> Option<Duration> {
        if !self.again.is_empty() {
            return Some(Duration::ZERO);
        }
        // A closed connection's entry must not wake the loop.
        while let Some(&Reverse(entry)) = self.timers.peek() {
            if self.is_live(entry) {
                break;
            }
            self.timers.pop();
        }
        let mut next = self.timers.peek().map(|Reverse((at, _, _))| *at);
        if let Accepting::Paused { retry_at, .. } = &self.accepting {
            next = Some(next.map_or(*retry_at, |t| t.min(*retry_at)));
        }
        if let Phase::Draining { until } = self.phase {
            next = Some(next.map_or(until, |t| t.min(until)));
        }
        next.map(|at| at.saturating_duration_since(now))
    }

    fn drive(&mut self, key: usize, now: Instant) {
        let conn = &mut self.conns[key];
        let turn = conn.turn(
            &mut self.scratch,
            &self.settings,
            &mut self.stats,
            now,
            Wakeup::Ready,
        );
        self.after_turn(key, turn, now);
    }

    /// Acts on what a connection's turn came to.
    fn after_turn(&mut self, key: usize, turn: Turn, now: Instant) {
        let conn = &mut self.conns[key];
        match turn.next {
            Next::Close(reason) => self.close(key, reason, now),
            _ if matches!(self.phase, Phase::Draining { .. }) && conn.at_rest() => {
                self.close(key, Reason::Shutdown, now)
            }
            _ => {
                if turn.yielded {
                    self.again.push((key, conn.serial()));
                }
                // A service deadline sooner than the armed timer gets an entry of its own; the
                // later one goes stale.
                if let Some(due) = conn.service_deadline(&self.settings) {
                    if due < conn.armed_at() {
                        conn.arm(due);
                        self.timers.push(Reverse((due, key, conn.serial())));
                    }
                }
            }
        }
    }

    fn run_again(&mut self, now: Instant) {
        std::mem::swap(&mut self.again, &mut self.again_now);
        for i in 0..self.again_now.len() {
            let (key, serial) = self.again_now[i];
            if self.conns.get(key).is_some_and(|c| c.serial() == serial) {
                self.drive(key, now);
            }
        }
        self.again_now.clear();
    }

    /// Takes every waiting client from listener `index` until the backlog is empty.
    fn accept(&mut self, index: usize, now: Instant) {
        loop {
            if matches!(self.accepting, Accepting::Paused { .. }) {
                return;
            }
            // Listeners are gone once shutdown starts; their late events are stale.
            let Some(listener) = self.listeners.get(index) else {
                return;
            };
            let kind = listener.kind;
            match listener.socket.accept() {
                Ok((stream, peer)) => self.admit(kind, stream, peer, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => match listen::accept_failure(&e) {
                    AcceptFailure::Retry => log::debug!("{}: accept: {e}", kind.name()),
                    AcceptFailure::Pause => return self.pause_accepting(kind, e, now),
                },
            }
        }
    }

    fn admit(
        &mut self,
        kind: ServiceKind,
        stream: TcpStream,
        peer: std::net::SocketAddr,
        now: Instant,
    ) {
        if self.conns.len() >= self.limits.max_conns {
            self.stats.refused += 1;
            if self.accepting == Accepting::Retrying {
                // The retry took a client: the pause is over, whatever the cap says.
                self.episodes.resumed(now);
                self.accepting = Accepting::Open;
            }
            self.episodes.refused(self.conns.len(), now);
            return; // dropping the stream closes it: the client reads end-of-stream
        }
        if kind.wants_nodelay() {
            let _ = stream.set_nodelay(true);
        }
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let mut conn = Conn::new(stream, peer, kind, serial, &self.settings, now);
        let due = conn.deadline(self.limits.idle_timeout, &self.settings);
        conn.arm(due);
        if let Err(e) = self.poll.registry().register(
            conn.stream_mut(),
            Token(FIRST_CONN + key),
            // PRIORITY: urgent data must be seen, or a read cut short at its mark would look
            // like a drained socket (see conn.rs).
            Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY,
        ) {
            log::warn!(
                "{} {peer}: cannot watch the new connection: {e}",
                kind.name()
            );
            return;
        }
        entry.insert(conn);
        self.stats.accepted += 1;
        self.stats.open += 1;
        self.timers.push(Reverse((due, key, serial)));
        log::debug!("{} {peer}: accepted", kind.name());
    }

    /// A failed retry goes on with the same episode (its start and first error stand).
    fn pause_accepting(&mut self, kind: ServiceKind, error: io::Error, now: Instant) {
        self.episodes.failed(kind, error, self.conns.len(), now);
        self.accepting = Accepting::Paused {
            retry_at: now + ACCEPT_BACKOFF,
        };
    }

    /// Tries again during a pause, taking whatever waited in every backlog meanwhile.
    fn resume_accepting(&mut self, now: Instant) {
        if !matches!(self.accepting, Accepting::Paused { .. }) {
            return;
        }
        self.accepting = Accepting::Retrying;
        for index in 0..self.listeners.len() {
            self.accept(index, now);
        }
        if self.accepting == Accepting::Retrying {
            self.episodes.resumed(now);
            self.accepting = Accepting::Open;
        }
    }

    fn close(&mut self, key: usize, reason: Reason, now: Instant) {
        // Closing the descriptor also removes it from the poll: no deregister call needed.
        let mut conn = self.conns.remove(key);
        self.stats.open -= 1;
        self.stats.closed += 1;
        // Before abandon: a service that ends its request forgets what it held.
        self.stats.buffered -= conn.buffered() as u64;
        if matches!(reason, Reason::IdleTimeout | Reason::Shutdown) {
            if conn.mid_answer() {
                // Cut mid-answer: a reset, so the client cannot take what it got for all of it.
                sys::reset_on_close(conn.stream_mut().as_raw_fd());
            }
            conn.abandon(reason, now, &self.settings);
        }
        reason.log(conn.kind(), conn.peer());
        drop(conn);
        self.forget_stale_timers();
        match self.accepting {
            Accepting::Paused { .. } => self.resume_accepting(now),
            Accepting::Open | Accepting::Retrying => self.episodes.room(now),
        }
    }

    /// Whether a timer entry is its connection's live one (not closed since, not superseded).
    fn is_live(&self, (at, key, serial): (Instant, usize, u32)) -> bool {
        self.conns
            .get(key)
            .is_some_and(|c| c.serial() == serial && c.armed_at() == at)
    }

    /// Entries of closed connections wait in the heap until they come up; when they outnumber
    /// the live ones, sweep them out so the heap stays proportional to the open connections.
    fn forget_stale_timers(&mut self) {
        if self.timers.len() > 2 * self.conns.len() + 64 {
            let conns = &self.conns;
            self.timers.retain(|&Reverse((at, key, serial))| {
                conns
                    .get(key)
                    .is_some_and(|c| c.serial() == serial && c.armed_at() == at)
            });
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&Reverse((at, key, serial))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if !self.is_live((at, key, serial)) {
                continue; // closed since, or superseded by a sooner entry
            }
            let conn = &mut self.conns[key];
            if conn
                .service_deadline(&self.settings)
                .is_some_and(|due| due <= now)
            {
                let (scratch, stats) = (&mut self.scratch, &mut self.stats);
                let turn = conn.turn(scratch, &self.settings, stats, now, Wakeup::Deadline);
                self.after_turn(key, turn, now);
            } else if conn.idle_deadline(self.limits.idle_timeout) <= now {
                self.close(key, Reason::IdleTimeout, now);
            }
            // Still open: its one live entry moves to its next deadline.
            if let Some(conn) = self.conns.get_mut(key).filter(|c| c.serial() == serial) {
                let due = conn.deadline(self.limits.idle_timeout, &self.settings);
                conn.arm(due);
                self.timers.push(Reverse((due, key, serial)));
            }
        }
        if let Accepting::Paused { retry_at, .. } = &self.accepting {
            if *retry_at <= now {
                self.resume_accepting(now);
            }
        }
        if let Phase::Draining { until } = self.phase {
            if until <= now && !self.conns.is_empty() {
                let left = self.conns.len();
                log::warn!("shutdown timeout: closing {left} connections still in flight");
                self.close_all(Reason::Shutdown, now);
                self.phase = Phase::Ended(Ending::Graceful);
            }
        }
    }

    fn on_stop(&mut self, now: Instant) {
        self.stops_seen += self.stop.take();
        match self.phase {
            _ if self.stops_seen == 0 => {}
            Phase::Serving if self.stops_seen == 1 => self.begin_drain(now),
            Phase::Ended(_) => {}
            _ => {
                log::warn!(
                    "second stop request: closing {} connections now",
                    self.conns.len()
                );
                self.stop_listening();
                self.close_all(Reason::Shutdown, now);
                self.phase = Phase::Ended(Ending::Forced);
            }
        }
    }

    /// Stops accepting, closes connections with nothing in flight, and gives the rest until the
    /// shutdown timeout.
    fn begin_drain(&mut self, now: Instant) {
        self.stop_listening();
        let resting: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.at_rest())
            .map(|(key, _)| key)
            .collect();
        for key in resting {
            self.close(key, Reason::Shutdown, now);
        }
        log::info!(
            "shutting down: no longer accepting; waiting up to {:?} for {} connections in flight",
            self.limits.shutdown_timeout,
            self.conns.len()
        );
        self.phase = Phase::Draining {
            until: now + self.limits.shutdown_timeout,
        };
    }

    /// Closes the listeners: new clients are refused by the kernel from now on, and closing a
    /// connection no longer resumes a paused accept.
    fn stop_listening(&mut self) {
        for mut listener in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut listener.socket);
        }
        self.accepting = Accepting::Open;
        // What was logged of an episode stays: shutting down is no end of it to report.
        self.episodes = Episodes::default();
    }

    fn close_all(&mut self, reason: Reason, now: Instant) {
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.close(key, reason, now);
        }
    }

    fn ending(&self) -> Option<Ending> {
        match self.phase {
            Phase::Ended(ending) => Some(ending),
            Phase::Draining { .. } if self.conns.is_empty() => Some(Ending::Graceful),
            _ => None,
        }
    }
}
