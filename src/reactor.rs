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
use crate::driver::{Due, Ending, Limits, Phase, Setup, Shutdown};
use crate::handlers::{AnyService, Next, Offer, Reason, Settings, Wakeup, SCRATCH_SIZE};
use crate::listen::{self, AcceptFailure, Episodes, Listener, ACCEPT_BACKOFF};
use crate::metrics::counts::{Cell, Local, Refusal};
use crate::metrics::Board;
use crate::stop::StopSignal;

const STOP: Token = Token(0);
const FIRST_LISTENER: usize = 1;
const FIRST_CONN: usize = 1024;
const EVENTS_PER_POLL: usize = 1024;

/// A listening socket in the poll.
#[derive(Debug)]
struct Watched {
    offer: Offer,
    socket: TcpListener,
    slot: usize,
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

impl Accepting {
    /// Whether an accept may be tried now (not during a pause's back-off).
    fn open(self) -> bool {
        !matches!(self, Accepting::Paused { .. })
    }

    /// Whether a pause's back-off is over at `now`.
    fn retry_due(self, now: Instant) -> bool {
        matches!(self, Accepting::Paused { retry_at } if retry_at <= now)
    }

    /// Starts a retry if accepting is paused; false if it was not.
    fn begin_retry(&mut self) -> bool {
        let paused = !self.open();
        if paused {
            *self = Accepting::Retrying;
        }
        paused
    }

    /// A retry took a client, or drained every backlog: accepting is open again. True if
    /// that ended a pause (a retry was under way).
    fn took_client(&mut self) -> bool {
        let retrying = *self == Accepting::Retrying;
        if retrying {
            *self = Accepting::Open;
        }
        retrying
    }
}

/// A new connection's service, and what the listener it came from says of it.
struct Admitted {
    service: AnyService,
    slot: usize,
}

/// A timer entry: when, and for which connection (slab key, serial).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry(Instant, usize, u32);

/// Whether `entry` is its connection's live one: not closed since, not superseded.
fn is_live(conns: &Slab<Conn>, Entry(at, key, serial): Entry) -> bool {
    conns
        .get(key)
        .is_some_and(|c| c.serial() == serial && c.armed_at() == at)
}

/// The timer heap, kept lazily: entries are never removed when a connection closes or its
/// deadline moves; whether an entry still stands is asked (`live`) when it comes up.
#[derive(Debug, Default)]
struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
}

impl Timers {
    fn arm(&mut self, entry: Entry) {
        self.heap.push(Reverse(entry));
    }

    /// When the nearest live entry is due; dead ones at the top are dropped on the way, so a
    /// closed connection's entry never wakes the loop.
    fn next(&mut self, live: impl Fn(Entry) -> bool) -> Option<Instant> {
        while let Some(&Reverse(entry)) = self.heap.peek() {
            if live(entry) {
                return Some(entry.0);
            }
            self.heap.pop();
        }
        None
    }

    /// Takes the nearest live entry due by `now`, skipping dead ones.
    fn pop_due(&mut self, now: Instant, live: impl Fn(Entry) -> bool) -> Option<Entry> {
        while let Some(&Reverse(entry)) = self.heap.peek() {
            if entry.0 > now {
                return None;
            }
            self.heap.pop();
            if live(entry) {
                return Some(entry);
            }
        }
        None
    }

    /// Dead entries wait in the heap until they come up; when they outnumber the `open`
    /// connections' live ones, sweep them out so the heap stays proportional to those.
    fn sweep(&mut self, open: usize, live: impl Fn(Entry) -> bool) {
        if self.heap.len() > 2 * open + 64 {
            self.heap.retain(|&Reverse(entry)| live(entry));
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap.len()
    }
}

pub(crate) struct Reactor {
    poll: Poll,
    listeners: Vec<Watched>,
    conns: Slab<Conn>,
    timers: Timers,
    /// Connections that used up their turn's budget with work left, to run again before
    /// sleeping; `again_now` is the batch being run, kept to reuse its allocation.
    again: Vec<(usize, u32)>,
    again_now: Vec<(usize, u32)>,
    scratch: Box<[u8]>,
    settings: Settings,
    limits: Limits,
    accepting: Accepting,
    episodes: Episodes,
    shutdown: Shutdown,
    stop: StopSignal,
    next_serial: u32,
    /// Counted here, published to the board once per turn.
    counts: Local,
    board: Arc<Board>,
    /// Which of the reactor workers this is: where it publishes its counts.
    worker: usize,
    events: Events,
    /// The time as read after the last poll.
    now: Instant,
}

impl Reactor {
    pub fn new(setup: Setup) -> io::Result<Reactor> {
        let Setup {
            listeners,
            settings,
            limits,
            mut stop,
            board,
            worker,
        } = setup;
        let poll = Poll::new()?;
        let registry = poll.registry();
        registry.register(&mut stop.0, STOP, Interest::READABLE)?;
        let mut watched = Vec::with_capacity(listeners.len());
        for (i, listener) in listeners.into_iter().enumerate() {
            let Listener {
                offer,
                socket,
                slot,
                ..
            } = listener;
            socket.set_nonblocking(true)?;
            let mut socket = TcpListener::from_std(socket);
            registry.register(&mut socket, Token(FIRST_LISTENER + i), Interest::READABLE)?;
            watched.push(Watched {
                offer,
                socket,
                slot,
            });
        }
        let listeners = watched;
        let shutdown = Shutdown::new(limits.shutdown_timeout, limits.shutdown_delay);
        assert!(listeners.len() < FIRST_CONN - FIRST_LISTENER);
        Ok(Reactor {
            poll,
            listeners,
            conns: Slab::new(),
            timers: Timers::default(),
            again: Vec::new(),
            again_now: Vec::new(),
            scratch: vec![0; SCRATCH_SIZE].into_boxed_slice(),
            settings,
            limits,
            accepting: Accepting::Open,
            episodes: Episodes::default(),
            shutdown,
            stop,
            next_serial: 0,
            counts: Local::new(&board.counts(worker).names),
            board,
            worker,
            events: Events::with_capacity(EVENTS_PER_POLL),
            now: Instant::now(),
        })
    }

    /// Serves until stopped.
    pub fn run(mut self) -> io::Result<Ending> {
        loop {
            if let Some(ending) = self.turn(None)? {
                return Ok(ending);
            }
        }
    }

    /// One pass of the loop: waits for events, for at most `most` if given, but never past
    /// the nearest deadline; hands each event to its connection; runs again the connections
    /// that used up their budget, fires due timers, and publishes the counters. `Some` once
    /// the server has ended.
    pub fn turn(&mut self, most: Option<Duration>) -> io::Result<Option<Ending>> {
        let timeout = match (self.poll_timeout(self.now), most) {
            (Some(due), Some(most)) => Some(due.min(most)),
            (due, most) => due.or(most),
        };
        // Taken out for the turn so the loop may borrow the reactor; an empty `Events` holds
        // no allocation, so this costs nothing.
        let mut events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        let polled = self.poll.poll(&mut events, timeout);
        let now = Instant::now();
        self.now = now;
        if let Err(err) = polled {
            self.events = events;
            return match err.kind() {
                io::ErrorKind::Interrupted => Ok(None),
                _ => Err(err),
            };
        }
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
        self.events = events;
        self.run_again(now);
        self.expire(now);
        self.counts.publish(self.board.counts(self.worker));
        Ok(self.ending())
    }

    /// Takes the time afresh, for a turn that does not follow the last at once (the embedding
    /// program's loop ran in between).
    pub fn read_clock(&mut self) {
        self.now = Instant::now();
    }

    /// Closes everything now, as a forced stop does.
    pub fn cut(&mut self) {
        let now = Instant::now();
        if self.shutdown.requested(2, now).is_some() {
            self.board.leave();
            self.stop_listening();
            self.close_all(Reason::Shutdown, now);
            self.counts.publish(self.board.counts(self.worker));
        }
    }

    /// Sleep until the nearest deadline; forever when nothing is due (an idle server makes no
    /// wake-ups); not at all when connections wait to run again.
    fn poll_timeout(&mut self, now: Instant) -> Option<Duration> {
        if !self.again.is_empty() {
            return Some(Duration::ZERO);
        }
        let conns = &self.conns;
        let mut next = self.timers.next(|entry| is_live(conns, entry));
        if let Accepting::Paused { retry_at } = self.accepting {
            next = Some(next.map_or(retry_at, |t| t.min(retry_at)));
        }
        if let Some(until) = self.shutdown.deadline() {
            next = Some(next.map_or(until, |t| t.min(until)));
        }
        next.map(|at| at.saturating_duration_since(now))
    }

    fn drive(&mut self, key: usize, now: Instant) {
        let conn = &mut self.conns[key];
        let turn = conn.turn(
            &mut self.scratch,
            &self.settings,
            &self.counts,
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
            _ if self.shutdown.phase() == Phase::Draining && conn.at_rest() => {
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
                        self.timers.arm(Entry(due, key, conn.serial()));
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
        let mut skips = 0;
        loop {
            if !self.accepting.open() {
                return;
            }
            // Listeners are gone once shutdown starts; their late events are stale.
            let Some(listener) = self.listeners.get(index) else {
                return;
            };
            let (name, slot) = (listener.offer.name(), listener.slot);
            match listener.socket.accept() {
                Ok((stream, peer)) if !self.limits.take_place(self.conns.len()) => {
                    drop((stream, peer)); // the client reads end-of-stream
                    self.refuse(slot, now);
                }
                Ok((stream, peer)) => {
                    let peer = listen::client(peer);
                    let service = listener.offer.start(&self.settings, now);
                    self.admit(Admitted { service, slot }, stream, peer, now)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => match listen::accept_failure(&e) {
                    AcceptFailure::Interrupted => {}
                    AcceptFailure::Skip if skips < listen::SKIPS_BEFORE_PAUSE => {
                        skips += 1;
                        self.counts.accept_errors.add(1);
                        log::debug!("{name}: accept: {e}: skipped");
                    }
                    AcceptFailure::Skip => return self.pause_accepting(name, e, now),
                    AcceptFailure::Pause => return self.pause_accepting(name, e, now),
                },
            }
        }
    }

    /// A client of the service in `slot` came over `--max-conns`, and was closed at once.
    fn refuse(&mut self, slot: usize, now: Instant) {
        self.counts.refused(slot, Refusal::MaxConns);
        if self.accepting.took_client() {
            // The retry took a client: the pause is over, whatever the cap says.
            self.episodes.resumed(now);
        }
        self.episodes
            .refused(self.limits.open(self.conns.len()), now);
    }

    fn admit(
        &mut self,
        Admitted { service, slot }: Admitted,
        stream: TcpStream,
        peer: std::net::SocketAddr,
        now: Instant,
    ) {
        listen::no_delay(stream.as_raw_fd());
        let name = service.name();
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let mut conn = Conn::new(stream, peer, service, slot, serial, now);
        let due = conn.deadline(self.limits.idle_timeout, &self.settings);
        conn.arm(due);
        if let Err(e) = self.poll.registry().register(
            conn.stream_mut(),
            Token(FIRST_CONN + key),
            // PRIORITY: urgent data must be seen, or a read cut short at its mark would look
            // like a drained socket (see conn.rs).
            Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY,
        ) {
            log::warn!("{name} {peer}: cannot watch the new connection: {e}");
            self.limits.give_place();
            return;
        }
        entry.insert(conn);
        self.counts.opened(slot);
        self.timers.arm(Entry(due, key, serial));
        log::debug!("{name} {peer}: accepted");
    }

    /// A failed retry goes on with the same episode (its start and first error stand).
    fn pause_accepting(&mut self, name: &str, error: io::Error, now: Instant) {
        self.counts.accept_pauses.add(1);
        self.episodes.failed(name, error, self.conns.len(), now);
        self.accepting = Accepting::Paused {
            retry_at: now + ACCEPT_BACKOFF,
        };
    }

    /// Tries again during a pause, taking whatever waited in every backlog meanwhile.
    fn resume_accepting(&mut self, now: Instant) {
        if !self.accepting.begin_retry() {
            return;
        }
        for index in 0..self.listeners.len() {
            self.accept(index, now);
        }
        if self.accepting.took_client() {
            // Every backlog drained without a failure: the pause is over.
            self.episodes.resumed(now);
        }
    }

    fn close(&mut self, key: usize, reason: Reason, now: Instant) {
        // Closing the descriptor also removes it from the poll: no deregister call needed.
        let mut conn = self.conns.remove(key);
        self.limits.give_place();
        conn.finish(reason, &mut self.scratch, &self.settings, &self.counts, now);
        drop(conn);
        self.forget_stale_timers();
        match self.accepting {
            Accepting::Paused { .. } => self.resume_accepting(now),
            Accepting::Open | Accepting::Retrying => self.episodes.room(now),
        }
    }

    fn forget_stale_timers(&mut self) {
        let conns = &self.conns;
        self.timers
            .sweep(conns.len(), |entry| is_live(conns, entry));
    }

    fn expire(&mut self, now: Instant) {
        loop {
            let conns = &self.conns;
            let Some(Entry(_, key, serial)) = self.timers.pop_due(now, |e| is_live(conns, e))
            else {
                break;
            };
            let conn = &mut self.conns[key];
            match conn.due(self.limits.idle_timeout, &self.settings, now) {
                Some(Due::Service) => {
                    let (scratch, counts) = (&mut self.scratch, &self.counts);
                    let turn = conn.turn(scratch, &self.settings, counts, now, Wakeup::Deadline);
                    self.after_turn(key, turn, now);
                }
                Some(Due::Idle) => self.close(key, Reason::IdleTimeout, now),
                None => {}
            }
            // Still open: its one live entry moves to its next deadline.
            if let Some(conn) = self.conns.get_mut(key).filter(|c| c.serial() == serial) {
                let due = conn.deadline(self.limits.idle_timeout, &self.settings);
                conn.arm(due);
                self.timers.arm(Entry(due, key, serial));
            }
        }
        if self.accepting.retry_due(now) {
            self.resume_accepting(now);
        }
        match self.shutdown.timed_out(now) {
            Some(Phase::Draining) => self.begin_drain(now),
            Some(_) if !self.conns.is_empty() => {
                let left = self.conns.len();
                log::warn!("shutdown timeout: closing {left} connections still in flight");
                self.close_all(Reason::Shutdown, now);
            }
            _ => {}
        }
    }

    fn on_stop(&mut self, now: Instant) {
        let phase = self.shutdown.requested(self.stop.take(), now);
        if phase.is_some() {
            self.board.leave();
        }
        match phase {
            Some(Phase::Leaving) => log::info!(
                "stop requested: the health check fails from now; draining in {:?}",
                self.limits.shutdown_delay
            ),
            Some(Phase::Draining) => self.begin_drain(now),
            Some(Phase::Cut) => {
                // Said by whoever has something to close (one of several workers may not).
                if !self.conns.is_empty() {
                    let open = self.conns.len();
                    log::warn!("second stop request: closing {open} connections now");
                }
                self.stop_listening();
                self.close_all(Reason::Shutdown, now);
            }
            Some(Phase::Serving) | None => {}
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
        // One of several workers says which it is: each counts only its own connections.
        let worker = match self.limits.all_open {
            Some(_) => format!("worker {}: ", self.worker),
            None => String::new(),
        };
        log::info!(
            "{worker}shutting down: no longer accepting; waiting up to {:?} for {} connections in flight",
            self.limits.shutdown_timeout,
            self.conns.len()
        );
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
        self.shutdown.ending(self.conns.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::Offer;
    use crate::stop;

    const IDLE: Duration = Duration::from_secs(60);

    /// A reactor serving echo on a free loopback port, and that port.
    fn reactor() -> (Reactor, std::net::SocketAddr) {
        let socket = listen::bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
        let addr = socket.local_addr().unwrap();
        let (stopper, stop) = stop::channel().unwrap();
        std::mem::forget(stopper); // an open write end: the pipe never reads as closed
        let setup = Setup {
            listeners: vec![Listener {
                offer: Offer::Echo,
                socket,
                passed: false,
                slot: 0,
            }],
            settings: Settings::default(),
            limits: Limits {
                idle_timeout: IDLE,
                shutdown_timeout: Duration::from_secs(1),
                shutdown_delay: Duration::ZERO,
                max_conns: 10,
                thread_stack: 0,
                pool_size: 0,
                all_open: None,
            },
            stop,
            board: Arc::new(Board::new(&["echo"], "reactor", 1)),
            worker: 0,
        };
        (Reactor::new(setup).unwrap(), addr)
    }

    /// The counts as they are now, published as a turn's end would.
    fn counted(reactor: &Reactor) -> crate::Stats {
        reactor.counts.publish(reactor.board.counts(0));
        reactor.board.stats()
    }

    /// Turns the loop (each waiting at most a second) until `done`, at most 20 times.
    fn turn_until(reactor: &mut Reactor, done: impl Fn(&Reactor) -> bool) {
        for _ in 0..20 {
            if done(reactor) {
                return;
            }
            reactor.turn(Some(Duration::from_secs(1))).unwrap();
        }
        panic!("not done after 20 turns: {}", counted(reactor));
    }

    #[test]
    fn the_loop_closes_an_idle_connection_at_its_deadline_and_not_before() {
        let (mut reactor, addr) = reactor();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        turn_until(&mut reactor, |r| counted(r).open == 1);
        let now = reactor.now;
        let wait = reactor.poll_timeout(now).expect("a deadline");
        assert!(
            wait <= IDLE && wait > IDLE - Duration::from_secs(5),
            "{wait:?}"
        );
        reactor.expire(now + IDLE - Duration::from_secs(5));
        assert_eq!(counted(&reactor).open, 1, "not idle long enough");
        reactor.expire(now + IDLE);
        assert_eq!((counted(&reactor).open, counted(&reactor).closed), (0, 1));
        assert_eq!(
            reactor.poll_timeout(now + IDLE),
            None,
            "nothing left to wake for"
        );
        let mut buf = [0u8; 1];
        assert_eq!(
            std::io::Read::read(&mut client, &mut buf).unwrap(),
            0,
            "closed"
        );
    }

    #[test]
    fn the_loop_waits_out_an_accept_pause_then_takes_the_waiting_clients() {
        let (mut reactor, addr) = reactor();
        let now = reactor.now;
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        reactor.pause_accepting("echo", emfile, now);
        assert_eq!(reactor.poll_timeout(now), Some(ACCEPT_BACKOFF));
        let _clients: Vec<_> = (0..3)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        // The listener's event comes, and is not acted on during the pause.
        reactor.turn(Some(Duration::ZERO)).unwrap();
        reactor.accept(0, now);
        assert_eq!(counted(&reactor).accepted, 0);
        reactor.expire(now + ACCEPT_BACKOFF - Duration::from_millis(1));
        assert_eq!(counted(&reactor).accepted, 0, "still backing off");
        reactor.expire(now + ACCEPT_BACKOFF);
        assert_eq!(
            counted(&reactor).accepted,
            3,
            "the retry drained the backlog"
        );
        assert_eq!(reactor.accepting, Accepting::Open);
    }

    /// Time as the test says: `at(ms)` is that many milliseconds after one fixed instant.
    fn clock() -> impl Fn(u64) -> Instant {
        let start = Instant::now();
        move |ms| start + Duration::from_millis(ms)
    }

    #[test]
    fn timers_come_due_in_order_and_only_when_due() {
        let at = clock();
        let mut timers = Timers::default();
        for (ms, key) in [(30, 3), (10, 1), (20, 2)] {
            timers.arm(Entry(at(ms), key, 0));
        }
        let all = |_| true;
        assert_eq!(timers.next(all), Some(at(10)));
        assert_eq!(timers.pop_due(at(5), all), None, "nothing due yet");
        assert_eq!(timers.pop_due(at(25), all), Some(Entry(at(10), 1, 0)));
        assert_eq!(timers.pop_due(at(25), all), Some(Entry(at(20), 2, 0)));
        assert_eq!(timers.pop_due(at(25), all), None);
        assert_eq!(timers.next(all), Some(at(30)));
    }

    #[test]
    fn dead_entries_never_wake_the_loop_nor_come_due() {
        let at = clock();
        let mut timers = Timers::default();
        // Key 1 closed; key 2's deadline moved from 20 to 40 (its entry at 20 is superseded).
        timers.arm(Entry(at(10), 1, 0));
        timers.arm(Entry(at(20), 2, 0));
        timers.arm(Entry(at(40), 2, 0));
        let live = |Entry(when, key, _): Entry| key == 2 && when == at(40);
        assert_eq!(
            timers.next(live),
            Some(at(40)),
            "the loop sleeps until the live one"
        );
        assert_eq!(timers.pop_due(at(30), live), None);
        assert_eq!(timers.pop_due(at(40), live), Some(Entry(at(40), 2, 0)));
    }

    #[test]
    fn a_reused_slot_does_not_inherit_its_predecessors_timer() {
        let at = clock();
        let mut timers = Timers::default();
        timers.arm(Entry(at(10), 7, 1)); // the old connection in slot 7
        timers.arm(Entry(at(10), 7, 2)); // the new one, same slot, same time
        let live = |Entry(_, _, serial): Entry| serial == 2;
        assert_eq!(timers.pop_due(at(10), live), Some(Entry(at(10), 7, 2)));
        assert_eq!(timers.pop_due(at(10), live), None);
    }

    #[test]
    fn the_heap_is_swept_when_dead_entries_outnumber_live_ones() {
        let at = clock();
        let mut timers = Timers::default();
        for key in 0..1000 {
            timers.arm(Entry(at(1000), key, 0));
        }
        let live = |Entry(_, key, _): Entry| key < 10;
        timers.sweep(500, live);
        assert_eq!(
            timers.len(),
            1000,
            "no sweep while the open connections could hold them"
        );
        timers.sweep(10, live);
        assert_eq!(timers.len(), 10, "only the live entries are left");
    }

    #[test]
    fn an_accept_pause_retries_after_its_back_off() {
        let at = clock();
        let mut accepting = Accepting::Open;
        assert!(
            accepting.open() && !accepting.begin_retry(),
            "nothing to retry when open"
        );
        accepting = Accepting::Paused {
            retry_at: at(0) + ACCEPT_BACKOFF,
        };
        assert!(!accepting.open(), "no accept during the back-off");
        assert!(!accepting.retry_due(at(99)));
        assert!(accepting.retry_due(at(100)));
        assert!(accepting.begin_retry());
        assert!(accepting.open(), "a retry accepts");
        assert!(accepting.took_client(), "and a client taken ends the pause");
        assert_eq!(accepting, Accepting::Open);
        assert!(!accepting.took_client(), "once");
    }
}
