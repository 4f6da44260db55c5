//! How a server is told to stop: a nonblocking socket pair (the self-pipe trick).
//!
//! Each stop request is one byte written to the pipe, by a signal handler (SIGINT, SIGTERM) or
//! by a [`Stopper`] held in code. The serving loop polls the read end and counts: the first
//! request starts a graceful shutdown, the second ends the server at once. Writing one byte
//! with `write(2)` is async-signal-safe, which is why a pipe and not anything smarter. A Unix
//! socket pair rather than `pipe(2)`, because `mio` can poll it with only its `net` feature.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use crate::sys;

/// Asks a server to stop: cheap to clone, usable from any thread.
#[derive(Clone, Debug)]
pub struct Stopper(Arc<UnixStream>);

/// The read end, owned by the serving loop, which registers it with its poll.
#[derive(Debug)]
pub(crate) struct StopSignal(pub mio::net::UnixStream);

pub(crate) fn channel() -> io::Result<(Stopper, StopSignal)> {
    let (write, read) = UnixStream::pair()?;
    write.set_nonblocking(true)?;
    read.set_nonblocking(true)?;
    Ok((
        Stopper(Arc::new(write)),
        StopSignal(mio::net::UnixStream::from_std(read)),
    ))
}

impl Stopper {
    /// Asks for a graceful shutdown; a second call ends the server at once.
    pub fn stop(&self) {
        // A full pipe already holds more requests than the loop needs: a failure is nothing.
        sys::poke(self.0.as_raw_fd());
    }

    /// Stops at once: two requests in one write, which the serving loop takes together (two
    /// writes could be taken one at a time, and a server with nothing in flight would end
    /// gracefully on the first).
    pub fn stop_now(&self) {
        sys::poke_times(self.0.as_raw_fd(), 2);
    }

    /// Turns SIGINT and SIGTERM into stop requests on this stopper, for the life of the
    /// process (a second signal forces the stop). For a program whose server is its main work;
    /// one that handles those signals itself calls [`Stopper::stop`] from its own handler.
    pub fn stop_on_signals(&self) -> io::Result<()> {
        forward_signals(self)
    }
}

impl StopSignal {
    /// Takes every request written since the last call and returns how many there were.
    pub(crate) fn take(&mut self) -> usize {
        let mut buf = [0u8; 64];
        let mut count = 0;
        loop {
            match self.0.read(&mut buf) {
                Ok(0) => return count,
                Ok(n) => count += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return count, // WouldBlock: all taken
            }
        }
    }
}

/// Where the signal handler writes; -1 until [`forward_signals`] is called.
static SIGNAL_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_signal: libc::c_int) {
    sys::keeping_errno(|| {
        let fd = SIGNAL_FD.load(Ordering::Relaxed);
        if fd >= 0 {
            sys::poke(fd);
        }
    });
}

/// Turns SIGINT and SIGTERM into stop requests on `stopper`'s pipe, for the life of the process.
fn forward_signals(stopper: &Stopper) -> io::Result<()> {
    // The descriptor must outlive every signal: keep one reference to it forever.
    let fd = Arc::clone(&stopper.0);
    SIGNAL_FD.store(fd.as_raw_fd(), Ordering::Relaxed);
    std::mem::forget(fd);
    sys::on_signals(&[libc::SIGINT, libc::SIGTERM], on_signal)
}
