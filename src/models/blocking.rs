//! One connection's service driven over a blocking socket: the loop the threads, pool and
//! iterative models share. The service is the reactor's, unchanged; only the waiting differs.
//!
//! Each turn, the first read may block, for at most the socket timeout (`SO_RCVTIMEO`, and
//! `SO_SNDTIMEO` for writes): the idle timeout, or less when the service names a sooner
//! deadline. After a read that came back short, the next read of the turn reports `WouldBlock`
//! without a system call (the socket is drained), and the service hands back control; after a
//! full one, the next read takes only what is there (`MSG_DONTWAIT`). So a threaded echo round
//! trip costs a read and a write, like the reactor's, and the service's deadlines (a file
//! name's quiet period) are honoured between turns.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::control::Registration;
use crate::driver::{self, Due, Moved, Phase, Progress};
use crate::handlers::{Clock, Ctx, Next, Offer, Reason, Settings, Transport, Wakeup};
use crate::listen;
use crate::metrics::counts::{Closed, Shared};
use crate::sys;

/// A socket timeout of zero means "none" to the kernel: never ask for less than this.
const SHORTEST_WAIT: Duration = Duration::from_millis(1);

/// What a turn's next read may do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// Nothing read yet this turn: the read may block.
    Wait,
    /// The last read filled its buffer: more may be queued; take it without waiting.
    Ready,
    /// The last read came back short, or timed out: nothing is queued.
    Drained,
}

/// The socket as a service sees it during one turn.
struct BlockingIo<'a> {
    stream: &'a TcpStream,
    /// Told the connection is busy as soon as a byte arrives (and told if the controller cut it
    /// first): a turn can be a whole download, and a shutdown must not take it for a
    /// connection at rest meanwhile.
    reg: &'a Registration,
    reads: Reads,
    moved: Moved,
}

/// The socket timeout expired: to the service, the socket would block.
fn timed_out(err: io::Error) -> io::Error {
    match err.kind() {
        io::ErrorKind::TimedOut => io::ErrorKind::WouldBlock.into(),
        _ => err,
    }
}

impl BlockingIo<'_> {
    fn after_read(&mut self, result: io::Result<usize>, asked: usize) -> io::Result<usize> {
        match result.map_err(timed_out) {
            Ok(n) => {
                if n > 0 && !self.reg.busy() {
                    // The controller cut the connection as at rest just before this input
                    // came: it is not served (the socket is already shut down).
                    return Err(io::ErrorKind::ConnectionAborted.into());
                }
                self.moved.bytes_in += n as u64;
                self.reads = if n > 0 && n < asked {
                    Reads::Drained
                } else {
                    Reads::Ready
                };
                Ok(n)
            }
            Err(e) => {
                if e.kind() == io::ErrorKind::WouldBlock {
                    self.reads = Reads::Drained;
                }
                Err(e)
            }
        }
    }
}

impl Read for BlockingIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = match self.reads {
            Reads::Drained => return Err(io::ErrorKind::WouldBlock.into()),
            Reads::Wait => self.stream.read(buf),
            Reads::Ready => sys::recv_now(self.stream.as_raw_fd(), buf),
        };
        self.after_read(result, buf.len())
    }
}

impl BlockingIo<'_> {
    fn wrote(&mut self, result: io::Result<usize>) -> io::Result<usize> {
        let n = result.map_err(timed_out)?;
        self.moved.bytes_out += n as u64;
        Ok(n)
    }
}

impl Write for BlockingIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.stream.write(buf);
        self.wrote(result)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let result = self.stream.write_vectored(bufs);
        self.wrote(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for BlockingIo<'_> {
    fn send_file(&mut self, file: &std::fs::File, offset: u64, len: usize) -> io::Result<usize> {
        let result = sys::sendfile(self.stream.as_raw_fd(), file.as_raw_fd(), offset, len);
        self.wrote(result)
    }

    fn discard_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.reads == Reads::Drained {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let before = self.moved.bytes_in;
        let result = sys::recv_now(self.stream.as_raw_fd(), buf);
        let result = self.after_read(result, buf.len());
        self.moved.dropped_since(before);
        result
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Write)
    }

    fn write_more(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = sys::send_more(self.stream.as_raw_fd(), buf);
        self.wrote(result)
    }
}

/// Serves one connection to its end. `reg` must be dropped after this returns, before
/// `stream` (see [`Registration`]).
pub(crate) fn serve(
    stream: &TcpStream,
    peer: SocketAddr,
    offer: &Offer,
    settings: &Settings,
    idle_timeout: Duration,
    scratch: &mut [u8],
    reg: &Registration,
) {
    listen::no_delay(stream.as_raw_fd());
    let (counts, slot) = (reg.counts(), reg.slot());
    let mut counted = Counted::new(counts, slot);
    let mut now = Instant::now();
    let mut service = offer.start(settings, now);
    let mut progress = Progress::new(now);
    let mut timeout = None;
    let mut wakeup = Wakeup::Ready;
    let reason = loop {
        // Wait at most until the nearest deadline. Without a service deadline the idle timeout
        // is measured per blocking call (README: Serving models), so the constant is set once.
        let wait = match service.deadline(settings) {
            Some(_) => progress
                .deadline(&service, settings, idle_timeout)
                .saturating_duration_since(now),
            None => idle_timeout,
        }
        .max(SHORTEST_WAIT);
        if timeout != Some(wait) {
            if let Err(e) = stream
                .set_read_timeout(Some(wait))
                .and_then(|()| stream.set_write_timeout(Some(wait)))
            {
                break Reason::from(e);
            }
            timeout = Some(wait);
        }
        if service.at_rest() {
            reg.rest();
            // A stop that began while this connection was busy found it so and left it:
            // now at rest, it ends rather than wait in a read for the idle timeout.
            if !reg.phase().accepts() {
                break Reason::Shutdown;
            }
        } else if !reg.busy() {
            break Reason::Shutdown;
        }
        let before = service.buffered();
        let mut io = BlockingIo {
            stream,
            reg,
            reads: Reads::Wait,
            moved: Moved::default(),
        };
        let mut ctx = Ctx {
            scratch: &mut *scratch,
            settings,
            clock: Clock::Live,
            peer,
            tally: counts,
        };
        let next = service.turn(wakeup, &mut io, &mut ctx);
        let moved = io.moved;
        counts.moved(slot, moved.bytes_in + moved.dropped, moved.bytes_out);
        counted.rebuffered(before, service.buffered());
        now = Instant::now();
        progress.record(&moved, now);
        if reg.was_cut() {
            break Reason::Shutdown;
        }
        if let Next::Close(reason) = next {
            break reason;
        }
        if reg.phase() == Phase::Draining && service.at_rest() {
            break Reason::Shutdown;
        }
        wakeup = match progress.due(&service, settings, idle_timeout, now) {
            Some(Due::Service) => Wakeup::Deadline,
            Some(Due::Idle) => break Reason::IdleTimeout,
            None => Wakeup::Ready,
        };
    };
    let fd = stream.as_raw_fd();
    let mut cx = Ctx::at(scratch, settings, peer, now, counts);
    driver::finish(&mut service, reason, fd, &mut cx, counts, slot);
    counted.finished();
}

/// One connection in the counts, from its accept to its end: if its thread unwinds before
/// `finish` counts the end (a program's service that panicked), dropping this counts it, so
/// the open and buffered gauges come back down.
struct Counted<'a> {
    counts: &'a Shared,
    slot: usize,
    /// What the connection held for its client after its last turn.
    held: usize,
    finished: bool,
}

impl<'a> Counted<'a> {
    fn new(counts: &'a Shared, slot: usize) -> Counted<'a> {
        counts.opened(slot);
        Counted {
            counts,
            slot,
            held: 0,
            finished: false,
        }
    }

    fn rebuffered(&mut self, before: usize, after: usize) {
        self.counts.rebuffered(self.slot, before, after);
        self.held = after;
    }

    fn finished(mut self) {
        self.finished = true;
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.counts.rebuffered(self.slot, self.held, 0);
            self.counts.closed(self.slot, Closed::Panic);
        }
    }
}
