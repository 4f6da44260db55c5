//! One client connection as the reactor sees it: the socket, the service state machine, what
//! is known of the socket's readiness, and when it last made progress.
//!
//! Sockets are registered once, readable and writable, edge-triggered. An edge says "something
//! changed", so the connection remembers readiness itself: `EdgeIo` skips a read or write it
//! knows would block and forgets readiness when the kernel says so (`WouldBlock`), or when a
//! read comes back short: for a stream socket that means the receive queue is drained and new
//! data will bring a new edge (epoll(7)), which saves a system call per round trip. Two cases
//! break that rule, and the poll reports both: after the peer's FIN a read returns what is left
//! and then 0; and TCP urgent data makes a read stop short at the urgent mark with more queued.
//! Either turns the shortcut off until a read comes back `WouldBlock` or 0.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;

use crate::driver::{self, Due, Moved, Progress};
use crate::handlers::{AnyService, Ctx, Next, Reason, Settings, Transport, Wakeup};
use crate::metrics::counts::Local;
use crate::sys;

/// Bytes a connection may move in one turn before others get theirs; the rest waits for the
/// next turn of the loop, so one fast client cannot starve the others. 256 KiB, lighttpd's own
/// figure: with 1 MiB, 50 downloads of 1 MiB under BBR (Linux's congestion control that paces
/// each socket) fell into a state of low bandwidth estimates and heavy pacing on the reactor's
/// core, 0.35x lighttpd's GB/s; with 256 KiB they reach its level (0.90 to 1.11x over five
/// rounds, p99 alike), and more under cubic too (docs/BENCHMARKS.md, "1 MiB downloads against
/// lighttpd").
pub(crate) const TURN_BUDGET: u64 = 256 * 1024;

/// Readiness the connection has been told of and not yet used up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Ready(u8);

impl Ready {
    const READ: u8 = 1;
    const WRITE: u8 = 2;
    /// A FIN, an error or urgent data arrived: a short read does not mean drained; read on
    /// until `WouldBlock` or end-of-stream.
    const DRAIN: u8 = 4;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    fn set(&mut self, bit: u8) {
        self.0 |= bit;
    }
    fn clear(&mut self, bit: u8) {
        self.0 &= !bit;
    }
}

#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    service: AnyService,
    /// Its service's place among the counts (a server has few: bind checks they fit).
    slot: u16,
    ready: Ready,
    /// Tells a reused slab slot's timers apart from its previous owner's.
    serial: u32,
    peer: SocketAddr,
    progress: Progress,
    /// When this connection's live timer entry fires; entries at other times are stale.
    armed_at: Instant,
}

/// What one turn of a connection came to.
pub(crate) struct Turn {
    pub next: Next,
    /// The turn stopped on the budget, not because the socket would block: run it again soon.
    pub yielded: bool,
}

impl Conn {
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        service: AnyService,
        slot: usize,
        serial: u32,
        now: Instant,
    ) -> Conn {
        Conn {
            stream,
            service,
            slot: slot as u16,
            ready: Ready::default(),
            serial,
            peer,
            progress: Progress::new(now),
            armed_at: now,
        }
    }

    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
    pub fn serial(&self) -> u32 {
        self.serial
    }
    pub fn slot(&self) -> usize {
        usize::from(self.slot)
    }
    pub fn at_rest(&self) -> bool {
        self.service.at_rest()
    }

    /// When the service wants to be called back, if it does.
    pub fn service_deadline(&self, settings: &Settings) -> Option<Instant> {
        self.service.deadline(settings)
    }

    /// The nearest of the service's deadline and the idle deadline.
    pub fn deadline(&self, idle_timeout: Duration, settings: &Settings) -> Instant {
        self.progress
            .deadline(&self.service, settings, idle_timeout)
    }

    /// What is due at `now`, if anything.
    pub fn due(&self, idle_timeout: Duration, settings: &Settings, now: Instant) -> Option<Due> {
        self.progress
            .due(&self.service, settings, idle_timeout, now)
    }

    pub fn armed_at(&self) -> Instant {
        self.armed_at
    }

    /// Records the time of the connection's one live timer entry.
    pub fn arm(&mut self, at: Instant) {
        self.armed_at = at;
    }

    /// Ends the service before the socket closes (see [`driver::finish`]).
    pub fn finish(
        &mut self,
        reason: Reason,
        scratch: &mut [u8],
        settings: &Settings,
        counts: &Local,
        now: Instant,
    ) {
        let (fd, slot) = (self.stream.as_raw_fd(), self.slot());
        let mut cx = Ctx::at(scratch, settings, self.peer, now, counts);
        driver::finish(&mut self.service, reason, fd, &mut cx, counts, slot);
    }

    /// Records what a poll event says of the socket.
    pub fn on_event(&mut self, event: &Event) {
        // Errors and hang-ups are only hints: let the next read or write report them.
        if event.is_error() || event.is_read_closed() || event.is_priority() {
            self.ready.set(Ready::READ | Ready::DRAIN);
        }
        if event.is_readable() {
            self.ready.set(Ready::READ);
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            self.ready.set(Ready::WRITE);
        }
    }

    /// Runs the service as far as the socket and the turn's budget allow: on readiness, or
    /// at the service's deadline.
    pub fn turn(
        &mut self,
        scratch: &mut [u8],
        settings: &Settings,
        counts: &Local,
        now: Instant,
        wakeup: Wakeup,
    ) -> Turn {
        let before = self.service.buffered();
        let mut io = EdgeIo {
            stream: &mut self.stream,
            ready: &mut self.ready,
            moved: Moved::default(),
            yielded: false,
        };
        let mut ctx = Ctx::at(scratch, settings, self.peer, now, counts);
        let next = self.service.turn(wakeup, &mut io, &mut ctx);
        let (moved, yielded) = (io.moved, io.yielded);
        self.progress.record(&moved, now);
        let slot = self.slot();
        counts.moved(slot, moved.bytes_in + moved.dropped, moved.bytes_out);
        counts.rebuffered(slot, before, self.service.buffered());
        Turn { next, yielded }
    }
}

/// The reactor's nonblocking socket, under `EdgeIo`.
impl Transport for mio::net::TcpStream {
    fn send_file(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        sys::sendfile(self.as_raw_fd(), file.as_raw_fd(), offset, len)
    }

    fn discard_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(self, buf)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }

    fn write_more(&mut self, buf: &[u8]) -> io::Result<usize> {
        sys::send_more(self.as_raw_fd(), buf)
    }
}

/// The socket as a service sees it during one turn: `Read + Write` with the readiness rules
/// above, the turn's budget, and byte counts for the reactor.
struct EdgeIo<'a, S> {
    stream: &'a mut S,
    ready: &'a mut Ready,
    moved: Moved,
    yielded: bool,
}

impl<S> EdgeIo<'_, S> {
    /// What the turn may still move; at 0, says it yielded.
    fn budget_left(&mut self) -> usize {
        let left = TURN_BUDGET.saturating_sub(self.moved.total());
        if left == 0 {
            self.yielded = true;
        }
        left as usize
    }

    fn within_budget(&mut self) -> bool {
        self.budget_left() > 0
    }

    /// Writes `asked` bytes with `write` unless the socket is known full or the budget spent.
    fn send(
        &mut self,
        asked: usize,
        write: impl FnOnce(&mut S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if !self.ready.has(Ready::WRITE) || !self.within_budget() {
            return Err(would_block());
        }
        let result = write(self.stream);
        self.wrote(asked, result)
    }

    /// Accounts for an attempt to send `asked` bytes that sent `result`; a result short of
    /// `asked` means the send buffer is full.
    fn wrote(&mut self, asked: usize, result: io::Result<usize>) -> io::Result<usize> {
        match result {
            Ok(n) => {
                // A short write means the send buffer filled; the kernel signals when it has
                // room again, so the next write need not be tried now.
                if n < asked {
                    self.ready.clear(Ready::WRITE);
                }
                self.moved.bytes_out += n as u64;
                Ok(n)
            }
            Err(e) => {
                if e.kind() == io::ErrorKind::WouldBlock {
                    self.ready.clear(Ready::WRITE);
                }
                Err(e)
            }
        }
    }
}

fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

impl<S: Read> Read for EdgeIo<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.ready.has(Ready::READ) || !self.within_budget() {
            return Err(would_block());
        }
        match self.stream.read(buf) {
            Ok(n) => {
                if n > 0 && n < buf.len() && !self.ready.has(Ready::DRAIN) {
                    self.ready.clear(Ready::READ);
                }
                self.moved.bytes_in += n as u64;
                Ok(n)
            }
            Err(e) => {
                if e.kind() == io::ErrorKind::WouldBlock {
                    self.ready.clear(Ready::READ | Ready::DRAIN);
                }
                Err(e)
            }
        }
    }
}

impl<S: Write> Write for EdgeIo<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf.len(), |s| s.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let asked = bufs.iter().map(|b| b.len()).sum();
        self.send(asked, |s| s.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S: Transport> Transport for EdgeIo<'_, S> {
    /// The reactor's sockets are nonblocking: a read never waits anyway. Counted, but not
    /// as progress.
    fn discard_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let before = self.moved.bytes_in;
        let result = self.read(buf);
        self.moved.dropped_since(before);
        result
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown_write()
    }

    fn write_more(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf.len(), |s| s.write_more(buf))
    }

    fn send_file(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        let len = len.min(self.budget_left());
        if !self.ready.has(Ready::WRITE) || len == 0 {
            return Err(would_block());
        }
        // Unlike a write, a short sendfile may mean the file ended early (it shrank), not that
        // the socket is full: only EAGAIN says the latter, so readiness is kept until then.
        let result = self.stream.send_file(file, offset, len);
        self.wrote(0, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::script::Script;

    fn io<'a>(stream: &'a mut Script, ready: &'a mut Ready) -> EdgeIo<'a, Script> {
        EdgeIo {
            stream,
            ready,
            moved: Moved::default(),
            yielded: false,
        }
    }

    fn kind<T>(r: io::Result<T>) -> io::ErrorKind {
        r.err().map(|e| e.kind()).expect("an error")
    }

    /// README quotes this size; idle connections cost little more than this struct.
    #[test]
    fn a_connection_stays_small() {
        assert!(
            std::mem::size_of::<Conn>() <= 144,
            "{}",
            std::mem::size_of::<Conn>()
        );
    }

    #[test]
    fn a_short_read_means_drained_and_skips_the_next_call() {
        let mut script = Script::new(0).then_bytes(b"abc").then_bytes(b"late");
        let mut ready = Ready(Ready::READ);
        let mut edge = io(&mut script, &mut ready);
        assert_eq!(edge.read(&mut [0; 16]).unwrap(), 3);
        assert_eq!(kind(edge.read(&mut [0; 16])), io::ErrorKind::WouldBlock);
        assert_eq!(script.unread(), 1, "no read was made after the short one");
    }

    #[test]
    fn after_a_hang_up_reads_go_on_until_end_of_stream() {
        let mut script = Script::new(0).then_bytes(b"abc").then_eof();
        let mut ready = Ready(Ready::READ | Ready::DRAIN);
        let mut edge = io(&mut script, &mut ready);
        assert_eq!(edge.read(&mut [0; 16]).unwrap(), 3);
        assert_eq!(edge.read(&mut [0; 16]).unwrap(), 0);
    }

    #[test]
    fn after_urgent_data_reads_go_on_until_they_would_block() {
        let mut script = Script::new(0).then_bytes(b"abc").then_bytes(b"def");
        let mut ready = Ready(Ready::READ | Ready::DRAIN);
        let mut edge = io(&mut script, &mut ready);
        assert_eq!(edge.read(&mut [0; 16]).unwrap(), 3, "stops at the mark");
        assert_eq!(edge.read(&mut [0; 16]).unwrap(), 3, "the rest is read too");
        assert_eq!(kind(edge.read(&mut [0; 16])), io::ErrorKind::WouldBlock);
        assert_eq!(ready, Ready::default(), "and the shortcut is back on");
    }

    #[test]
    fn a_short_write_means_full_and_skips_the_next_call() {
        let mut script = Script::new(2);
        let mut ready = Ready(Ready::WRITE);
        let mut edge = io(&mut script, &mut ready);
        assert_eq!(edge.write(b"abcd").unwrap(), 2);
        script.room = 10;
        let mut edge = io(&mut script, &mut ready);
        assert_eq!(kind(edge.write(b"cd")), io::ErrorKind::WouldBlock);
        assert_eq!(script.written, b"ab");
    }

    #[test]
    fn unready_directions_are_not_tried() {
        let mut script = Script::new(10).then_bytes(b"abc");
        let mut ready = Ready::default();
        let mut edge = io(&mut script, &mut ready);
        assert_eq!(kind(edge.read(&mut [0; 16])), io::ErrorKind::WouldBlock);
        assert_eq!(kind(edge.write(b"x")), io::ErrorKind::WouldBlock);
        assert_eq!((script.unread(), script.written.len()), (1, 0));
    }

    #[test]
    fn the_turn_budget_yields_without_forgetting_readiness() {
        let big = vec![1u8; TURN_BUDGET as usize];
        let mut script = Script::new(0).then_bytes(&big).then_bytes(b"more");
        let mut ready = Ready(Ready::READ);
        let mut edge = io(&mut script, &mut ready);
        assert_eq!(edge.read(&mut vec![0; big.len()]).unwrap(), big.len());
        assert_eq!(kind(edge.read(&mut [0; 16])), io::ErrorKind::WouldBlock);
        assert!(edge.yielded);
        assert!(ready.has(Ready::READ), "still readable next turn");
    }
}
