//! The load generator: `threads` event loops (one `mio` poll each), each driving its share of
//! client connections as small state machines, closed loop, until the run ends.
//!
//! - Echo: send a message, wait for all of it back, compare every byte, send again.
//! - File: connect, send the bare name and half-close, read to end-of-stream, count the bytes,
//!   reconnect. Each download comes from the next of the source addresses, since every
//!   connection the server closes first leaves a TIME_WAIT entry that holds its port for a minute.
//! - Idle: one 1-byte round trip per connection, then hold it until the run ends.
//!
//! Nothing is allocated per message: each thread has one payload and one read buffer. Reads
//! that come back short are taken as draining the socket (edge-triggered, as in the server).
//! The first `warmup` of a run is not counted.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::ops::Range;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use super::fairness::Fairness;
use super::histogram::Histogram;
use tcpserve::sys;

/// The largest echo message: a client writes a whole message before reading its echo, which
/// the sockets' buffers on both sides must be able to hold meanwhile.
pub const MAX_ECHO_MESSAGE: usize = 1 << 20;

/// What each connection does.
#[derive(Clone, Debug)]
pub enum Load {
    Echo {
        size: usize,
    },
    /// Downloads of `name`; `size`, if known, is what a whole download must measure.
    File {
        name: Vec<u8>,
        size: Option<u64>,
    },
    Idle,
}

/// One run of the generator.
#[derive(Clone, Debug)]
pub struct Plan {
    pub target: SocketAddr,
    pub load: Load,
    pub conns: usize,
    pub threads: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Source addresses to spread connections over; empty lets the kernel choose.
    pub sources: Vec<IpAddr>,
}

/// What a run measured (merged over its threads), counting only the measured window.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Round trips (echo, idle) or whole downloads (file) completed.
    pub ops: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Connections refused, reset or closed early.
    pub errors: u64,
    /// Echo: bytes that came back different. File: downloads of the wrong length.
    pub mismatched: u64,
    /// Per op: an echo round trip, or a whole download from connect to end-of-stream.
    pub latency: Histogram,
    /// File: from connect to the first byte of the file.
    pub first_byte: Histogram,
    pub connect: Histogram,
    /// Connections that never completed an op (still waiting at the end: a server serving one
    /// client at a time, or one that stopped answering).
    pub stalled: u64,
    /// Ops each connection (a file load: each client, over its reconnections) completed in the
    /// measured window, 0 for one that completed none: how evenly the server served them.
    pub per_conn: Vec<u64>,
    pub window: Duration,
}

impl Tally {
    fn merge(&mut self, other: &Tally) {
        self.ops += other.ops;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.mismatched += other.mismatched;
        self.latency.merge(&other.latency);
        self.first_byte.merge(&other.first_byte);
        self.connect.merge(&other.connect);
        self.stalled += other.stalled;
        self.per_conn.extend_from_slice(&other.per_conn);
        self.window = self.window.max(other.window);
    }

    /// Forgets the warm-up, but for connect times: connections are opened at the start.
    fn reset_counts(&mut self) {
        let connect = std::mem::take(&mut self.connect);
        *self = Tally::default();
        self.connect = connect;
    }

    /// Ops per second over the measured window.
    pub fn rate(&self) -> f64 {
        self.ops as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// Payload bytes per second over the measured window.
    pub fn throughput(&self) -> f64 {
        self.bytes as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// How evenly the ops were spread over the connections (`None` without connections).
    pub fn fairness(&self) -> Option<Fairness> {
        Fairness::of(&self.per_conn)
    }
}

/// Runs `plan`; for an idle load, calls `measure` once every connection holds (or the run's
/// time is up), while they are all still open. Returns the tally and what `measure` returned.
pub fn run_then<T>(plan: &Plan, measure: impl FnOnce() -> T) -> io::Result<(Tally, T)> {
    let threads = plan.threads.clamp(1, plan.conns.max(1));
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let end = measure_from + plan.duration;
    let per = plan.conns.div_ceil(threads);
    // Idle: workers meet here when their connections hold, wait for the measurement, then go.
    let settled = Barrier::new(threads + 1);
    let measured = Barrier::new(threads + 1);
    let (results, value) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let ids = (t * per).min(plan.conns)..((t + 1) * per).min(plan.conns);
                let (settled, measured) = (&settled, &measured);
                scope.spawn(move || match Worker::new(plan, ids) {
                    Ok(worker) => worker.run(measure_from, end, settled, measured),
                    Err(e) => {
                        // Still meet the others, or they would wait forever.
                        settled.wait();
                        measured.wait();
                        Err(e)
                    }
                })
            })
            .collect();
        settled.wait();
        let value = measure();
        measured.wait();
        let results: Vec<io::Result<Tally>> = workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(io::Error::other("a load thread panicked")))
            })
            .collect();
        (results, value)
    });
    let mut total = Tally::default();
    for result in results {
        total.merge(&result?);
    }
    Ok((total, value))
}

#[derive(Debug)]
enum State {
    Connecting,
    /// Echo: `sent` bytes of the message are out. File: the name is being sent.
    Sending {
        sent: usize,
    },
    /// Echo: `got` bytes of the reply are in. File: `got` bytes of the file.
    Receiving {
        got: u64,
    },
    /// Idle: the round trip is done; the connection is held open.
    Holding,
    /// Refused, reset or closed early: counted, and left alone.
    Failed,
}

struct Client {
    stream: TcpStream,
    state: State,
    /// When the current op (round trip, download) or connect began.
    since: Instant,
    done_any: bool,
    /// Ops completed in the measured window (kept across a file client's reconnections).
    ops: u64,
}

struct Worker<'a> {
    plan: &'a Plan,
    poll: Poll,
    clients: Slab<Client>,
    /// The message (echo), or the request line (file).
    payload: Vec<u8>,
    buf: Vec<u8>,
    next_source: usize,
    tally: Tally,
}

impl<'a> Worker<'a> {
    fn new(plan: &'a Plan, ids: Range<usize>) -> io::Result<Worker<'a>> {
        let payload = match &plan.load {
            Load::Echo { size } => pattern(*size, ids.start as u64),
            // The bare name, then a half-close: the lesson's own server reads exactly this.
            Load::File { name, .. } => name.clone(),
            Load::Idle => vec![b'.'],
        };
        let mut worker = Worker {
            plan,
            poll: Poll::new()?,
            clients: Slab::with_capacity(ids.len()),
            payload,
            buf: vec![0; 256 * 1024],
            next_source: ids.start,
            tally: Tally::default(),
        };
        for _ in ids {
            let key = worker.clients.vacant_key();
            let client = worker.connect(key)?;
            worker.clients.insert(client);
        }
        Ok(worker)
    }

    /// A new connection for slot `key`, registered once for both directions.
    fn connect(&mut self, key: usize) -> io::Result<Client> {
        let source = match self.plan.sources.len() {
            0 => None,
            n => Some(self.plan.sources[self.next_source % n]),
        };
        self.next_source += 1;
        let mut stream = TcpStream::from_std(sys::connect_from(source, self.plan.target)?);
        self.poll.registry().register(
            &mut stream,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        Ok(Client {
            stream,
            state: State::Connecting,
            since: Instant::now(),
            done_any: false,
            ops: 0,
        })
    }

    /// Drives the connections until `end` (an idle load: until they all hold), meets the
    /// others at `settled`, and returns after `measured`.
    fn run(
        mut self,
        measure_from: Instant,
        end: Instant,
        settled: &Barrier,
        measured: &Barrier,
    ) -> io::Result<Tally> {
        let result = self.drive(measure_from, end);
        settled.wait();
        measured.wait();
        result?;
        let end = end.min(Instant::now());
        self.tally.window = end.saturating_duration_since(measure_from);
        self.tally.stalled = self.clients.iter().filter(|(_, c)| !c.done_any).count() as u64;
        self.tally.per_conn = self.clients.iter().map(|(_, c)| c.ops).collect();
        Ok(self.tally)
    }

    fn drive(&mut self, measure_from: Instant, end: Instant) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut measuring = false;
        let idle = matches!(self.plan.load, Load::Idle);
        loop {
            let now = Instant::now();
            if !measuring && now >= measure_from {
                self.tally.reset_counts();
                self.clients.iter_mut().for_each(|(_, c)| c.ops = 0);
                measuring = true;
            }
            let settled = || {
                self.clients
                    .iter()
                    .all(|(_, c)| matches!(c.state, State::Holding | State::Failed))
            };
            if now >= end || (idle && settled()) {
                return Ok(());
            }
            let until = if measuring { end } else { measure_from };
            if let Err(e) = self.poll.poll(&mut events, Some(until - now)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            for event in events.iter() {
                let key = event.token().0;
                if self.clients.contains(key) {
                    self.step(key, event.is_read_closed() || event.is_error())?;
                }
            }
        }
    }

    /// Advances one client as far as its socket allows.
    fn step(&mut self, key: usize, hung_up: bool) -> io::Result<()> {
        loop {
            let now = Instant::now();
            let client = &mut self.clients[key];
            match client.state {
                State::Connecting => {
                    // Writable (or in error) means the connect finished, one way or the other.
                    match client.stream.take_error() {
                        Ok(None) if client.stream.peer_addr().is_ok() => {}
                        Ok(None) => return Ok(()), // still in progress
                        _ => return self.fail(key),
                    }
                    self.tally.connect.record(nanos(now - client.since));
                    if !matches!(self.plan.load, Load::File { .. }) {
                        client.since = now;
                    }
                    client.state = State::Sending { sent: 0 };
                }
                State::Sending { sent } => match client.stream.write(&self.payload[sent..]) {
                    Ok(n) if sent + n == self.payload.len() => {
                        if matches!(self.plan.load, Load::File { .. }) {
                            // The name is whole: tell the server, so it need not linger.
                            let _ = client.stream.shutdown(Shutdown::Write);
                        }
                        client.state = State::Receiving { got: 0 };
                        // The reply cannot be there yet: wait for it rather than try a read.
                        return Ok(());
                    }
                    Ok(n) => client.state = State::Sending { sent: sent + n },
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return self.fail(key),
                },
                State::Receiving { got } => return self.receive(key, got, hung_up, now),
                State::Holding | State::Failed => return Ok(()),
            }
        }
    }

    fn receive(&mut self, key: usize, mut got: u64, hung_up: bool, now: Instant) -> io::Result<()> {
        let file = matches!(self.plan.load, Load::File { .. });
        loop {
            let client = &mut self.clients[key];
            let want = match &self.plan.load {
                Load::Echo { size } => (*size as u64 - got).min(self.buf.len() as u64) as usize,
                Load::Idle => 1,
                Load::File { .. } => self.buf.len(),
            };
            match client.stream.read(&mut self.buf[..want]) {
                Ok(0) if file => return self.downloaded(key, got, now),
                Ok(0) => return self.fail(key),
                Ok(n) => {
                    if file && got == 0 {
                        self.tally.first_byte.record(nanos(now - client.since));
                    }
                    if !file {
                        let expected = &self.payload[got as usize..got as usize + n];
                        let differ = expected.iter().zip(&self.buf[..n]).filter(|(a, b)| a != b);
                        self.tally.mismatched += differ.count() as u64;
                    }
                    got += n as u64;
                    self.tally.bytes += n as u64;
                    if !file && got == self.payload.len() as u64 {
                        return self.round_trip_done(key, now);
                    }
                    client.state = State::Receiving { got };
                    // Short: drained, unless the server hung up (then read on to the end).
                    if n < want && !hung_up {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    client.state = State::Receiving { got };
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(key),
            }
        }
    }

    fn round_trip_done(&mut self, key: usize, now: Instant) -> io::Result<()> {
        let client = &mut self.clients[key];
        self.tally.latency.record(nanos(now - client.since));
        self.tally.ops += 1;
        client.ops += 1;
        client.done_any = true;
        client.since = now;
        client.state = match self.plan.load {
            Load::Idle => State::Holding,
            _ => State::Sending { sent: 0 },
        };
        if matches!(client.state, State::Sending { .. }) {
            return self.step(key, false);
        }
        Ok(())
    }

    fn downloaded(&mut self, key: usize, got: u64, now: Instant) -> io::Result<()> {
        let Load::File { size, .. } = &self.plan.load else {
            return Ok(());
        };
        if got == 0 && !self.clients[key].done_any {
            // Refused from the start (an empty answer): as a reset would be.
            return self.fail(key);
        }
        if size.is_some_and(|s| s != got) || got == 0 {
            self.tally.mismatched += 1;
        } else {
            self.tally.ops += 1;
            self.clients[key].ops += 1;
            let since = self.clients[key].since;
            self.tally.latency.record(nanos(now - since));
        }
        self.clients[key].done_any = true;
        self.reconnect(key)
    }

    /// Replaces slot `key`'s connection with a new one (the old one is closed and forgotten);
    /// the client's counts carry over, since it is the same client trying again.
    fn reconnect(&mut self, key: usize) -> io::Result<()> {
        let (done_any, ops) = (self.clients[key].done_any, self.clients[key].ops);
        match self.connect(key) {
            Ok(mut client) => {
                client.done_any = done_any;
                client.ops = ops;
                self.clients[key] = client;
            }
            Err(_) => {
                self.tally.errors += 1;
                self.clients[key].state = State::Failed;
            }
        }
        Ok(())
    }

    /// Counts an error. A file client that has downloaded before tries again with a new
    /// connection, as a client would, whether the failure came as a reset or an early end;
    /// any other client (and one refused from the start) stays failed, so a server that
    /// refuses everyone is not met with a storm of reconnections.
    fn fail(&mut self, key: usize) -> io::Result<()> {
        self.tally.errors += 1;
        if matches!(self.plan.load, Load::File { .. }) && self.clients[key].done_any {
            return self.reconnect(key);
        }
        self.clients[key].state = State::Failed;
        Ok(())
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

/// `len` bytes that differ from one position to the next, so a reordering shows.
pub(crate) fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
