//! A key-value store: a line protocol of its own, served by tcpserve beside its echo service.
//!
//! ```text
//! SET key value   ->  OK
//! GET key         ->  VALUE value   (or NONE)
//! DEL key         ->  OK            (or NONE)
//! anything else   ->  ERR unknown command
//! ```
//!
//! Lines end in `\n` (a `\r` before it is dropped) and may be pipelined. Replies wait in a
//! bounded buffer: while it holds `--buffer` bytes the connection reads no further, so a client
//! that sends requests and never reads the replies cannot grow the server's memory
//! (backpressure). A line longer than [`MAX_LINE`] is answered `ERR line too long` and the
//! connection is closed.
//!
//! `cargo run --example kv -- [--model reactor|threads|iterative] [--buffer BYTES]` prints one
//! line per service with its address, serves until its standard input closes, then stops
//! gracefully and prints how it ended.

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tcpserve::{Ctx, Model, Next, Pending, Reason, Server, Service, Settings, Transport};

/// The longest request line, and so the most input a connection holds.
const MAX_LINE: usize = 64 * 1024;
/// How long a connection closing after a protocol error waits for the client to close.
const LINGER: Duration = Duration::from_secs(2);

type Store = Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>>;

/// One connection's state: the start of a line not yet whole, and replies not yet sent.
struct Kv {
    store: Store,
    input: Vec<u8>,
    /// How much of `input` is known to hold no newline: each byte is searched once.
    scanned: usize,
    replies: Pending,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading requests and answering them.
    Serving,
    /// No more requests will be read (the client finished, or broke the protocol): sending
    /// what is owed, then closing for this reason.
    Ending(Reason),
    /// The client broke the protocol and got its last reply and our FIN: what it still sends
    /// is dropped until it closes, or `until`, since closing with input unread would reset the
    /// connection, and a reset destroys the reply before the client reads it.
    Draining { reason: Reason, until: Instant },
}

impl Kv {
    fn new(store: Store) -> Kv {
        Kv {
            store,
            input: Vec::new(),
            scanned: 0,
            replies: Pending::default(),
            state: State::Serving,
        }
    }

    /// Answers the whole lines in `input` while the replies stay under `limit`.
    fn answer_lines(&mut self, limit: usize) {
        let mut start = 0;
        while self.replies.len() < limit {
            let Some(end) = self.line_end(start) else {
                break;
            };
            let line = &self.input[start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let reply = answer(&self.store, line);
            self.replies.push(&reply);
            start = end + 1;
        }
        self.input.drain(..start);
        self.scanned -= start.min(self.scanned);
    }

    /// Where the line that starts at `start` ends (its newline), if it has ended.
    fn line_end(&mut self, start: usize) -> Option<usize> {
        let from = start.max(self.scanned);
        let found = self.input[from..].iter().position(|&b| b == b'\n');
        self.scanned = found.map_or(self.input.len(), |at| from + at);
        found.map(|at| from + at)
    }

    fn has_line(&mut self) -> bool {
        self.line_end(0).is_some()
    }
}

/// The reply to one request line.
fn answer(store: &Store, line: &[u8]) -> Vec<u8> {
    let mut words = line.splitn(3, |&b| b == b' ');
    let (command, key, value) = (words.next(), words.next(), words.next());
    let mut store = store
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match (command, key, value) {
        (Some(b"SET"), Some(key), Some(value)) => {
            store.insert(key.to_vec(), value.to_vec());
            b"OK\n".to_vec()
        }
        (Some(b"GET"), Some(key), None) => match store.get(key) {
            Some(value) => [b"VALUE ", &value[..], b"\n"].concat(),
            None => b"NONE\n".to_vec(),
        },
        (Some(b"DEL"), Some(key), None) => match store.remove(key) {
            Some(_) => b"OK\n".to_vec(),
            None => b"NONE\n".to_vec(),
        },
        _ => b"ERR unknown command\n".to_vec(),
    }
}

impl Service for Kv {
    fn on_ready(&mut self, io: &mut dyn Transport, cx: &mut Ctx) -> Next {
        let limit = cx.settings().buffer_limit();
        loop {
            self.answer_lines(limit);
            let owed = self.replies.len();
            if let Err(e) = self.replies.flush(io) {
                return Next::Close(e.into());
            }
            if self.has_line() {
                // Backpressure: the replies are full, lines wait unanswered and nothing more is
                // read until the client takes some of them.
                if self.replies.len() < owed {
                    continue;
                }
                return Next::Wait;
            }
            match self.state {
                State::Serving => {}
                State::Ending(_) if !self.replies.is_empty() => return Next::Wait,
                State::Ending(Reason::Done) => return Next::Close(Reason::Done),
                State::Ending(reason) => {
                    if let Err(e) = io.shutdown_write() {
                        return Next::Close(e.into());
                    }
                    let until = cx.now() + LINGER;
                    self.state = State::Draining { reason, until };
                    // A new deadline ends the turn (see `Service::deadline`).
                    return Next::Wait;
                }
                State::Draining { reason, .. } => return drain(io, cx.scratch(), reason),
            }
            let room = (MAX_LINE + 1 - self.input.len()).min(cx.scratch().len());
            match io.read(&mut cx.scratch()[..room]) {
                Ok(0) => {
                    // The client finished: a last line without its newline is a line too.
                    if !self.input.is_empty() {
                        self.input.push(b'\n');
                    }
                    self.state = State::Ending(Reason::Done);
                }
                Ok(n) => {
                    self.input.extend_from_slice(&cx.scratch()[..n]);
                    if self.input.len() > MAX_LINE && !self.has_line() {
                        (self.input, self.scanned) = (Vec::new(), 0);
                        self.replies.push(b"ERR line too long\n");
                        self.state = State::Ending(Reason::Protocol("line too long"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Next::Close(e.into()),
            }
        }
    }

    /// A closing connection gives the client `LINGER` to close first.
    fn deadline(&self, _: &Settings) -> Option<Instant> {
        match self.state {
            State::Draining { until, .. } => Some(until),
            _ => None,
        }
    }

    fn on_deadline(&mut self, io: &mut dyn Transport, cx: &mut Ctx) -> Next {
        match self.state {
            State::Draining { reason, until } if until <= cx.now() => Next::Close(reason),
            _ => self.on_ready(io, cx),
        }
    }

    fn buffered(&self) -> usize {
        self.replies.len()
    }

    fn at_rest(&self) -> bool {
        self.input.is_empty() && self.replies.is_empty()
    }
}

/// Drops what the client sends until it closes. With `read`, not `discard_now`, which never
/// waits: under a blocking model `Wait` must follow a read that could (see `Service`).
fn drain(io: &mut dyn Transport, scratch: &mut [u8], reason: Reason) -> Next {
    loop {
        match io.read(scratch) {
            Ok(0) => return Next::Close(reason),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Next::Close(e.into()),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = Server::builder();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        builder = match arg.as_str() {
            "--model" => builder.model(Model::from_name(&value).ok_or("no such model")?),
            "--buffer" => builder.buffer(value.parse()?),
            _ => return Err(format!("unknown option {arg}").into()),
        };
    }
    let store = Store::default();
    let server = builder
        .service("kv", ([127, 0, 0, 1], 0), move || {
            Kv::new(Arc::clone(&store))
        })
        .echo(([127, 0, 0, 1], 0))
        .start()?;
    for (name, addr) in server.addrs() {
        println!("{name} listening on {addr}");
    }
    // Serves until standard input closes.
    io::stdin().read_to_end(&mut Vec::new())?;
    server.stop();
    println!("stopped: {:?}", server.join()?);
    Ok(())
}
