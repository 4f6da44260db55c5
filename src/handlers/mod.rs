//! The services, as state machines that any driver can run.
//!
//! A service is handed its socket (anything `Read + Write`) and a scratch buffer, does as much
//! work as the socket allows, and returns [`Next`]: what it waits for, or why it is finished.
//! The reactor maps that to readiness and timers; a blocking driver simply calls again. Nothing
//! here knows about `mio`: a nonblocking socket shows up only as `WouldBlock`.

pub mod echo;
mod pending;
#[cfg(test)]
pub(crate) mod script;

use std::fmt;
use std::io;

pub use echo::Echo;

/// Which service a listener offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    Echo,
}

impl ServiceKind {
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Echo => "echo",
        }
    }
}

/// What the service waits for after a turn.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Waiting for the peer to send.
    Read,
    /// Holding output the socket would not take yet.
    Write,
    /// Finished; the driver closes the connection.
    Close(Reason),
}

/// Why a connection ended. The driver logs it once, at the level [`Reason::is_fault`] suggests.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Reason {
    /// The service completed its exchange (for echo: the peer finished and got everything back).
    Done,
    /// The peer reset the connection or stopped reading (ECONNRESET, EPIPE).
    Reset,
    /// No byte moved either way for the idle timeout.
    IdleTimeout,
    /// The server is shutting down and this connection had no work in flight, or ran out of time.
    Shutdown,
    /// Any other socket error.
    Io(io::ErrorKind),
}

impl Reason {
    /// A fault worth a warning, rather than the ordinary end of a connection.
    pub fn is_fault(self) -> bool {
        matches!(self, Reason::Io(_))
    }
}

impl From<io::Error> for Reason {
    fn from(err: io::Error) -> Reason {
        match err.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Reason::Reset,
            kind => Reason::Io(kind),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Done => f.write_str("done"),
            Reason::Reset => f.write_str("reset by peer"),
            Reason::IdleTimeout => f.write_str("idle timeout"),
            Reason::Shutdown => f.write_str("server shutting down"),
            Reason::Io(kind) => write!(f, "socket error: {kind}"),
        }
    }
}

/// Settings every service may consult; owned by the driver, shared by all connections.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Most bytes of unsent output one connection may hold before the service stops reading.
    pub buffer: usize,
}

/// One connection's service, whichever it is. An enum rather than a trait object, so a
/// connection needs no allocation of its own.
#[derive(Debug)]
pub enum Service {
    Echo(Echo),
}

impl Service {
    pub fn new(kind: ServiceKind) -> Service {
        match kind {
            ServiceKind::Echo => Service::Echo(Echo::new()),
        }
    }

    /// Runs the service until the socket would block or the service is finished.
    pub fn drive<S: io::Read + io::Write>(
        &mut self,
        io: &mut S,
        scratch: &mut [u8],
        settings: &Settings,
    ) -> Next {
        match self {
            Service::Echo(echo) => echo.drive(io, scratch, settings),
        }
    }

    pub fn kind(&self) -> ServiceKind {
        match self {
            Service::Echo(_) => ServiceKind::Echo,
        }
    }

    /// Bytes of output held for this connection.
    pub fn buffered(&self) -> usize {
        match self {
            Service::Echo(echo) => echo.buffered(),
        }
    }

    /// True while no request is in progress, so closing now loses nothing (used at shutdown).
    pub fn at_rest(&self) -> bool {
        match self {
            Service::Echo(echo) => echo.at_rest(),
        }
    }
}

/// Writes as much of `buf` as the socket takes now: stops at `WouldBlock`, retries
/// `Interrupted`, and returns how many bytes went out.
pub(crate) fn write_some<W: io::Write>(io: &mut W, buf: &[u8]) -> io::Result<usize> {
    let mut sent = 0;
    while sent < buf.len() {
        match io.write(&buf[sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}
