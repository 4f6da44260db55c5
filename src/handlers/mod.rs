//! The services, as state machines that any driver can run.
//!
//! A service is handed its socket (a [`Transport`]: `Read + Write`, plus `sendfile`) and a
//! [`Ctx`] (the driver's scratch buffer, settings, the time, the peer), does as much work as the
//! socket allows, and returns [`Next`]: what it waits for, or why it is finished. It may also
//! name a [`Service::deadline`], when the driver must call [`Service::on_deadline`]. The reactor
//! maps all that to readiness and timers; a blocking driver simply calls again. Nothing here
//! knows about `mio`: a nonblocking socket shows up only as `WouldBlock`.

pub mod echo;
pub mod files;
mod pending;
#[cfg(test)]
pub(crate) mod script;

use std::fmt;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

pub use echo::Echo;
pub use files::Files;

use crate::logging::access;
use crate::root::Root;
use crate::sys;

/// The size of the scratch buffer every driver gives its services (one per reactor, one per
/// serving thread).
pub const SCRATCH_SIZE: usize = 64 * 1024;

/// Which service a listener offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    Echo,
    Files,
}

impl ServiceKind {
    /// Whether the service's small writes must leave at once (TCP_NODELAY): echo replies must
    /// not wait on Nagle's algorithm. A file download needs no such call: its FIN pushes the tail.
    pub fn wants_nodelay(self) -> bool {
        matches!(self, ServiceKind::Echo)
    }

    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Echo => "echo",
            ServiceKind::Files => "files",
        }
    }
}

/// Why a driver gives a service its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeup {
    /// The socket may have moved (readiness, a blocking call's return, or a turn that used up
    /// its budget).
    Ready,
    /// The service's deadline came.
    Deadline,
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
    /// The request did not arrive whole within the request timeout.
    RequestTimeout,
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

impl Reason {
    /// The one log line for a connection that ended this way.
    pub fn log(self, kind: ServiceKind, peer: SocketAddr) {
        if self.is_fault() {
            log::warn!("{} {peer}: closed: {self}", kind.name());
        } else {
            log::debug!("{} {peer}: closed: {self}", kind.name());
        }
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
            Reason::RequestTimeout => f.write_str("request timeout"),
            Reason::Shutdown => f.write_str("server shutting down"),
            Reason::Io(kind) => write!(f, "socket error: {kind}"),
        }
    }
}

/// Settings every service may consult; owned by the driver, shared by all connections.
#[derive(Debug)]
pub struct Settings {
    /// Most bytes of unsent output one connection may hold before the service stops reading;
    /// also the largest chunk a file is copied in when `sendfile` cannot be used.
    pub buffer: usize,
    /// Files: how long after the last byte of a name with no terminator it counts as whole;
    /// zero takes the first read as the whole name.
    pub name_wait: Duration,
    /// Files: how long the whole request may take to arrive.
    pub request_timeout: Duration,
    /// Files: the served directory (`None` when no files service runs).
    pub root: Option<Root>,
    /// Files over HTTP: how long a connection is kept between requests.
    pub persistence: Persistence,
    /// Files: how an access line is written.
    pub access_format: access::Format,
}

/// How long an HTTP connection is kept open between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Until the client closes it, or the idle timeout.
    Idle,
    /// Only while the client's next request has already arrived (pipelined): the iterative
    /// model serves one client at a time, and an idle connection would keep the rest waiting.
    Pipelined,
}

/// Most unsent bytes a connection holds by default (`--buffer`).
pub const DEFAULT_BUFFER: usize = 64 * 1024;
/// A raw name's quiet period by default (`--name-wait`).
pub const DEFAULT_NAME_WAIT: Duration = Duration::from_millis(100);
/// How long a request may take to arrive by default (`--request-timeout`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for Settings {
    fn default() -> Self {
        Settings {
            buffer: DEFAULT_BUFFER,
            name_wait: DEFAULT_NAME_WAIT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            root: None,
            persistence: Persistence::Idle,
            access_format: access::Format::default(),
        }
    }
}

/// What a driver hands a service for one turn, besides the socket.
pub struct Ctx<'a> {
    /// Where reads land; owned by the driver, shared by every connection it runs.
    pub scratch: &'a mut [u8],
    pub settings: &'a Settings,
    pub clock: Clock,
    /// The client, for the access log.
    pub peer: SocketAddr,
}

impl Ctx<'_> {
    /// The time, as the driver keeps it.
    pub fn now(&self) -> Instant {
        match self.clock {
            Clock::Turn(now) => now,
            Clock::Live => Instant::now(),
        }
    }
}

/// How a driver tells a service the time.
#[derive(Clone, Copy, Debug)]
pub enum Clock {
    /// One reading per turn: a nonblocking turn is short (the reactor reads the clock once per
    /// pass of its loop).
    Turn(Instant),
    /// Read when asked: a blocking turn may wait for seconds (a read, a whole download), and a
    /// deadline set after it must count from when the wait ended.
    Live,
}

/// A connection's socket as a service sees it.
pub trait Transport: io::Read + io::Write {
    /// Sends up to `len` bytes of `file` from `offset` without copying them through user
    /// memory (`sendfile(2)`); 0 means `offset` is past the file's end.
    fn send_file(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize>;

    /// Reads into `buf`, to be dropped, what has already arrived, never waiting even on a
    /// blocking socket (`WouldBlock` if nothing has). Input a service does not want is not
    /// progress: it does not hold off the idle timeout.
    fn discard_now(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Sends FIN after what was written; reading goes on.
    fn shutdown_write(&mut self) -> io::Result<()>;

    /// Writes `buf`, telling the kernel more follows at once (`MSG_MORE`): a response head
    /// before its body, which then leaves in the same segment.
    fn write_more(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write(buf)
    }
}

/// A blocking socket, as the threaded and iterative drivers use.
impl Transport for std::net::TcpStream {
    fn send_file(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        sys::sendfile(self.as_raw_fd(), file.as_raw_fd(), offset, len)
    }

    fn discard_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        sys::recv_now(self.as_raw_fd(), buf)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }

    fn write_more(&mut self, buf: &[u8]) -> io::Result<usize> {
        sys::send_more(self.as_raw_fd(), buf)
    }
}

/// A nonblocking socket, as the reactor uses.
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

/// One connection's service, whichever it is. An enum rather than a trait object, so a
/// connection needs no allocation of its own.
#[derive(Debug)]
pub enum Service {
    Echo(Echo),
    Files(Files),
}

impl Service {
    pub fn new(kind: ServiceKind, settings: &Settings, now: Instant) -> Service {
        match kind {
            ServiceKind::Echo => Service::Echo(Echo::new()),
            ServiceKind::Files => Service::Files(Files::new(settings, now)),
        }
    }

    pub fn kind(&self) -> ServiceKind {
        match self {
            Service::Echo(_) => ServiceKind::Echo,
            Service::Files(_) => ServiceKind::Files,
        }
    }

    /// Runs the service until the socket would block or the service is finished.
    pub fn drive<T: Transport>(&mut self, io: &mut T, ctx: &mut Ctx) -> Next {
        match self {
            Service::Echo(echo) => echo.drive(io, ctx),
            Service::Files(files) => files.drive(io, ctx),
        }
    }

    /// When the service must be called back even if the socket stays silent.
    pub fn deadline(&self, settings: &Settings) -> Option<Instant> {
        match self {
            Service::Echo(_) => None,
            Service::Files(files) => files.deadline(settings),
        }
    }

    /// Called once `ctx.now` has reached [`Service::deadline`].
    pub fn on_deadline<T: Transport>(&mut self, io: &mut T, ctx: &mut Ctx) -> Next {
        match self {
            Service::Echo(echo) => echo.drive(io, ctx),
            Service::Files(files) => files.on_deadline(io, ctx),
        }
    }

    /// One turn, for the reason the driver gives: [`Service::drive`] or
    /// [`Service::on_deadline`].
    pub fn turn<T: Transport>(&mut self, wakeup: Wakeup, io: &mut T, ctx: &mut Ctx) -> Next {
        match wakeup {
            Wakeup::Ready => self.drive(io, ctx),
            Wakeup::Deadline => self.on_deadline(io, ctx),
        }
    }

    /// The driver is closing the connection for its own `reason` (idle, shutdown): the
    /// service logs what it had in progress.
    pub fn abandon(&mut self, reason: Reason, peer: SocketAddr, now: Instant, settings: &Settings) {
        match self {
            Service::Echo(_) => {}
            Service::Files(files) => files.abandon(reason, peer, now, settings),
        }
    }

    /// Bytes of output held for this connection.
    pub fn buffered(&self) -> usize {
        match self {
            Service::Echo(echo) => echo.buffered(),
            Service::Files(files) => files.buffered(),
        }
    }

    /// True while the service is part-way through an answer (a file being sent, echo bytes
    /// owed): closing now would cut it short, which the driver then signals with a reset.
    pub fn mid_answer(&self) -> bool {
        match self {
            Service::Echo(echo) => echo.buffered() > 0,
            Service::Files(files) => files.sending(),
        }
    }

    /// True while no request is in progress, so closing now loses nothing (used at shutdown).
    pub fn at_rest(&self) -> bool {
        match self {
            Service::Echo(echo) => echo.at_rest(),
            Service::Files(files) => files.at_rest(),
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
