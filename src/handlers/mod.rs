//! The services, as state machines that any driver can run, and the contract they share.
//!
//! A [`Service`] is one connection's protocol. A driver hands it its socket (a [`Transport`]:
//! `Read + Write`, plus `sendfile`) and a [`Ctx`] (a scratch buffer, the settings, the time, the
//! peer); it does as much work as the socket allows and returns [`Next`]: wait, or close for a
//! [`Reason`]. It may also name a [`Service::deadline`], when the driver must call
//! [`Service::on_deadline`] even if the socket stays silent. The reactor maps all that to
//! readiness and timers; a blocking driver simply calls again. Nothing here knows about `mio`:
//! a nonblocking socket shows up only as `WouldBlock`.
//!
//! The built-in services (echo, files) implement the same trait as an embedding program's own.
//! [`AnyService`] holds any of them in a connection: the built-ins inline, a program's boxed.

pub mod echo;
pub mod files;
pub(crate) mod metrics;
mod pending;
mod proxied;
#[cfg(any(test, fuzzing))]
#[cfg_attr(fuzzing, allow(dead_code))] // the fuzz entry point uses only part of it
pub(crate) mod script;

use std::fmt;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use echo::Echo;
pub use files::Files;
use metrics::Metrics;
pub use pending::Pending;
use proxied::Proxied;

use crate::http::headers::Custom;
use crate::http::mime_types::MimeTypes;
use crate::http::pages::Pages;
use crate::logging::access;
use crate::metrics::counts::{Closed, Tally, Uncounted};
use crate::metrics::Board;
use crate::root::Root;
use crate::sys;

/// The size of the scratch buffer every driver gives its services (one per reactor, one per
/// serving thread).
pub(crate) const SCRATCH_SIZE: usize = 64 * 1024;

/// One connection's protocol: a state machine a driver runs a turn at a time.
///
/// Each turn must do what the socket allows now and return: a read or write that would block
/// returns `WouldBlock`, and the service then returns [`Next::Wait`]. Every model (the reactor,
/// the threaded and the iterative) drives a service through these methods alone, so a service
/// that keeps to them runs unchanged on every model. Output the socket does not take should be
/// kept in a bounded buffer ([`Pending`]) and reading should stop while it holds
/// [`Settings::buffer_limit`] bytes: that is backpressure, and what keeps a client that never reads
/// from growing the server's memory.
///
/// Under the blocking models, [`Next::Wait`] waits inside the read or write that said
/// `WouldBlock` (it blocked until the socket moved or the nearest deadline came): a service
/// must return `Wait` only after such a call, or with a [`Service::deadline`] to wait for. One
/// that returns it after [`Transport::discard_now`] alone, which never waits, is called again
/// at once.
pub trait Service: Send {
    /// Runs until the socket would block or the exchange is over.
    fn on_ready(&mut self, io: &mut dyn Transport, cx: &mut Ctx<'_>) -> Next;

    /// When the driver must call [`Service::on_deadline`] even if the socket stays silent;
    /// `None` (the default) waits for the socket, or the idle timeout. Drivers ask between
    /// turns: a turn that names a new deadline should end there (return [`Next::Wait`]), since
    /// under a blocking model a read later in the same turn waits by the deadline as it was.
    fn deadline(&self, _settings: &Settings) -> Option<Instant> {
        None
    }

    /// Called once the time has reached [`Service::deadline`]. By default, a turn like any other.
    fn on_deadline(&mut self, io: &mut dyn Transport, cx: &mut Ctx<'_>) -> Next {
        self.on_ready(io, cx)
    }

    /// Bytes of output held for the peer (counted in the server's `buffered` statistic).
    fn buffered(&self) -> usize {
        0
    }

    /// True while closing would lose nothing (no request in progress): a graceful shutdown
    /// closes such connections at once and waits for the others. By default: nothing buffered.
    fn at_rest(&self) -> bool {
        self.buffered() == 0
    }

    /// True while part-way through an answer: a driver that must close now (idle timeout, a
    /// forced shutdown) then resets the connection, so the peer cannot take what it got for all
    /// of it. By default: something buffered.
    fn mid_answer(&self) -> bool {
        self.buffered() > 0
    }

    /// The driver closes the connection for its own `reason` (idle, shutdown): the service may
    /// log what it had in progress. By default, nothing.
    fn abandon(&mut self, _reason: Reason, _cx: &mut Ctx<'_>) {}
}

/// Why a driver gives a service its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wakeup {
    /// The socket may have moved (readiness, a blocking call's return, or a turn that used up
    /// its budget).
    Ready,
    /// The service's deadline came.
    Deadline,
}

/// What a service waits for after a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Waiting for the socket (to bring input or take output) or the service's deadline.
    /// Every driver watches both directions, so a service need not say which.
    Wait,
    /// Finished; the driver closes the connection and logs the reason.
    Close(Reason),
}

/// Why a connection ended. The driver logs it once, at the level [`Reason::is_fault`] suggests.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
#[non_exhaustive]
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
    /// The peer broke the service's protocol; the text says how.
    Protocol(&'static str),
    /// Any other socket error.
    Io(io::ErrorKind),
}

impl Reason {
    /// A fault worth a warning, rather than the ordinary end of a connection.
    pub fn is_fault(self) -> bool {
        matches!(self, Reason::Io(_))
    }

    /// How the metrics count a connection that ended this way.
    pub(crate) fn counted_as(self) -> Closed {
        match self {
            Reason::Done => Closed::Done,
            Reason::Reset => Closed::Reset,
            Reason::IdleTimeout => Closed::IdleTimeout,
            Reason::RequestTimeout => Closed::RequestTimeout,
            Reason::Shutdown => Closed::Shutdown,
            Reason::Protocol(_) => Closed::Protocol,
            Reason::Io(_) => Closed::Socket,
        }
    }

    /// The one log line for a connection of service `name` that ended this way.
    pub(crate) fn log(self, name: &str, peer: SocketAddr) {
        if self.is_fault() {
            log::warn!("{name} {peer}: closed: {self}");
        } else {
            log::debug!("{name} {peer}: closed: {self}");
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
            Reason::Protocol(why) => write!(f, "protocol error: {why}"),
            Reason::Io(kind) => write!(f, "socket error: {kind}"),
        }
    }
}

/// Makes a program's service for each new connection.
pub(crate) type MakeService = dyn Fn() -> Box<dyn Service> + Send + Sync;

/// What a listener offers.
#[derive(Clone)]
pub(crate) enum Offer {
    Echo,
    Files,
    /// An embedding program's own service, by its name.
    User(&'static str, Arc<MakeService>),
    /// The operator's view: the metrics and the health check of the server posting on the
    /// board.
    Metrics(Arc<Board>),
}

impl fmt::Debug for Offer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Offer {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Offer::Echo => "echo",
            Offer::Files => "files",
            Offer::User(name, _) => name,
            Offer::Metrics(_) => metrics::NAME,
        }
    }

    /// A new connection's service; behind a load balancer, first the PROXY header.
    pub(crate) fn start(&self, settings: &Settings, now: Instant) -> AnyService {
        let service = match self {
            Offer::Echo => AnyService::Echo(Echo::new()),
            Offer::Files => AnyService::Files(Files::new(settings, now)),
            Offer::User(name, make) => AnyService::User(name, make()),
            // The balancer's health checks and the scraper come straight, not through it.
            Offer::Metrics(board) => {
                return AnyService::Metrics(Box::new(Metrics::new(Arc::clone(board))))
            }
        };
        if settings.proxy_protocol {
            AnyService::Proxied(Box::new(Proxied::new(service, settings, now)))
        } else {
            service
        }
    }
}

/// One connection's service, whichever it is: the built-ins inline, so a connection to them
/// needs no allocation of its own; a program's boxed.
pub(crate) enum AnyService {
    Echo(Echo),
    Files(Files),
    User(&'static str, Box<dyn Service>),
    /// Any of them behind a load balancer (`--proxy-protocol`).
    Proxied(Box<Proxied>),
    /// Boxed: a connection holding a built-in service stays small.
    Metrics(Box<Metrics>),
}

impl fmt::Debug for AnyService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl AnyService {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            AnyService::Echo(_) => "echo",
            AnyService::Files(_) => "files",
            AnyService::User(name, _) => name,
            AnyService::Proxied(proxied) => proxied.name(),
            AnyService::Metrics(_) => metrics::NAME,
        }
    }

    /// The client a PROXY header named, which stands for the connection's peer once known.
    pub(crate) fn client(&self) -> Option<SocketAddr> {
        match self {
            AnyService::Proxied(proxied) => proxied.client(),
            _ => None,
        }
    }

    /// Still waiting for the PROXY header that must come first: a connection that ends now
    /// was refused.
    pub(crate) fn awaiting_proxy_header(&self) -> bool {
        matches!(self, AnyService::Proxied(proxied) if proxied.awaiting_header())
    }

    fn get(&self) -> &dyn Service {
        match self {
            AnyService::Echo(echo) => echo,
            AnyService::Files(files) => files,
            AnyService::User(_, service) => service.as_ref(),
            AnyService::Proxied(proxied) => proxied.as_ref(),
            AnyService::Metrics(metrics) => metrics.as_ref(),
        }
    }

    fn get_mut(&mut self) -> &mut dyn Service {
        match self {
            AnyService::Echo(echo) => echo,
            AnyService::Files(files) => files,
            AnyService::User(_, service) => service.as_mut(),
            AnyService::Proxied(proxied) => proxied.as_mut(),
            AnyService::Metrics(metrics) => metrics.as_mut(),
        }
    }

    /// One turn, for the reason the driver gives.
    pub(crate) fn turn(&mut self, wakeup: Wakeup, io: &mut dyn Transport, cx: &mut Ctx) -> Next {
        match wakeup {
            Wakeup::Ready => self.get_mut().on_ready(io, cx),
            Wakeup::Deadline => self.get_mut().on_deadline(io, cx),
        }
    }

    pub(crate) fn deadline(&self, settings: &Settings) -> Option<Instant> {
        self.get().deadline(settings)
    }

    pub(crate) fn abandon(&mut self, reason: Reason, cx: &mut Ctx) {
        self.get_mut().abandon(reason, cx)
    }

    pub(crate) fn buffered(&self) -> usize {
        self.get().buffered()
    }

    pub(crate) fn mid_answer(&self) -> bool {
        self.get().mid_answer()
    }

    pub(crate) fn at_rest(&self) -> bool {
        self.get().at_rest()
    }
}

/// Settings every service may consult; owned by the driver, shared by all connections.
/// `Settings::default()` holds the defaults, for a service's own unit tests.
#[derive(Debug)]
pub struct Settings {
    /// Most bytes of unsent output one connection may hold before the service stops reading;
    /// also the largest chunk a file is copied in when `sendfile` cannot be used.
    pub(crate) buffer: usize,
    /// Files: how long after the last byte of a name with no terminator it counts as whole;
    /// zero takes the first read as the whole name.
    pub(crate) name_wait: Duration,
    /// Files: how long the whole request may take to arrive.
    pub(crate) request_timeout: Duration,
    /// Files: the served directory (`None` when no files service runs).
    pub(crate) root: Option<Root>,
    /// Files over HTTP: how long a connection is kept between requests.
    pub(crate) persistence: Persistence,
    /// Files: how an access line is written.
    pub(crate) access_format: access::Format,
    /// Every connection starts with a PROXY protocol header (`--proxy-protocol`).
    pub(crate) proxy_protocol: bool,
    /// Files over HTTP: the operator's fields on every response (`--header`).
    pub(crate) headers: Custom,
    /// Files over HTTP: serve `a.js.br`, `.zst`, `.gz` for `a.js` (`--precompressed`).
    pub(crate) precompressed: bool,
    /// Files over HTTP: the operator's error pages and single-page app.
    pub(crate) pages: Arc<Pages>,
    /// Files: `Content-Type`s from `--mime-types`, before the built-in table.
    pub(crate) types: Arc<MimeTypes>,
    /// Files over HTTP: a directory without `index.html` gets its listing (`--listing`).
    pub(crate) listing: bool,
}

impl Settings {
    /// The same settings for another reactor worker (its own root cache).
    pub(crate) fn twin(&self) -> io::Result<Settings> {
        Ok(Settings {
            root: self.root.as_ref().map(Root::twin).transpose()?,
            access_format: self.access_format,
            headers: self.headers.clone(),
            pages: Arc::clone(&self.pages),
            types: Arc::clone(&self.types),
            ..*self
        })
    }

    /// Most bytes of output one connection may hold (`--buffer`, [`Builder::buffer`]): a
    /// service stops reading while it holds this much for its peer.
    ///
    /// [`Builder::buffer`]: crate::Builder::buffer
    pub fn buffer_limit(&self) -> usize {
        self.buffer
    }

    /// How long a request may take to arrive (`--request-timeout`,
    /// [`Builder::request_timeout`]).
    ///
    /// [`Builder::request_timeout`]: crate::Builder::request_timeout
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
}

/// How long an HTTP connection is kept open between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persistence {
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
            proxy_protocol: false,
            headers: Custom::default(),
            precompressed: false,
            pages: Arc::default(),
            types: Arc::default(),
            listing: false,
        }
    }
}

/// What a driver hands a service for one turn, besides the socket.
pub struct Ctx<'a> {
    /// Where reads land; owned by the driver, shared by every connection it runs.
    pub(crate) scratch: &'a mut [u8],
    pub(crate) settings: &'a Settings,
    pub(crate) clock: Clock,
    /// The client, for the access log.
    pub(crate) peer: SocketAddr,
    /// Where what the service answered is counted.
    pub(crate) tally: &'a dyn Tally,
}

impl<'a> Ctx<'a> {
    /// A context outside any driver, for a service's own unit tests: it reads the clock when
    /// asked, as a blocking driver's does.
    pub fn new(scratch: &'a mut [u8], settings: &'a Settings, peer: SocketAddr) -> Ctx<'a> {
        Ctx {
            scratch,
            settings,
            clock: Clock::Live,
            peer,
            tally: &Uncounted,
        }
    }

    /// A context whose time is `now` for the whole turn (a nonblocking turn is short), counting
    /// into `tally`.
    pub(crate) fn at(
        scratch: &'a mut [u8],
        settings: &'a Settings,
        peer: SocketAddr,
        now: Instant,
        tally: &'a dyn Tally,
    ) -> Ctx<'a> {
        Ctx {
            scratch,
            settings,
            clock: Clock::Turn(now),
            peer,
            tally,
        }
    }

    /// The same context for another peer (the client a PROXY header named).
    pub(crate) fn for_peer(&mut self, peer: SocketAddr) -> Ctx<'_> {
        Ctx {
            scratch: &mut *self.scratch,
            settings: self.settings,
            clock: self.clock,
            peer,
            tally: self.tally,
        }
    }

    /// The time, as the driver keeps it: read once per turn of the event loop, and when asked
    /// by a blocking driver (whose turn may have waited).
    pub fn now(&self) -> Instant {
        match self.clock {
            Clock::Turn(now) => now,
            Clock::Live => Instant::now(),
        }
    }

    /// A buffer to read into, shared by every connection of the driver: what a turn leaves in
    /// it is gone by the next.
    pub fn scratch(&mut self) -> &mut [u8] {
        self.scratch
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The server's settings.
    pub fn settings(&self) -> &Settings {
        self.settings
    }
}

/// How a driver tells a service the time.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Clock {
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
    /// progress: it does not hold off the idle timeout. Since it never waits, a service that
    /// means to wait for more input to drop reads it with `read` (see [`Service`]).
    fn discard_now(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Sends FIN after what was written; reading goes on.
    fn shutdown_write(&mut self) -> io::Result<()>;

    /// Writes `buf`, telling the kernel more follows at once (`MSG_MORE`): a response head
    /// before its body, which then leaves in the same segment.
    fn write_more(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write(buf)
    }
}

/// A blocking socket, as the blocking drivers (threads, pool, iterative) use.
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

/// How long a service that has answered and closed its side waits for the client to close
/// (a lingering close): long enough for the client to read the answer, after which a reset
/// cannot destroy it.
pub(crate) const LINGER: Duration = Duration::from_secs(2);

/// Lingering: reads and drops until the client closes; any error ends it too. A plain read,
/// which may wait (on a blocking socket): lingering is bounded by its own deadline, not by
/// progress.
pub(crate) fn linger(io: &mut dyn Transport, scratch: &mut [u8]) -> Next {
    loop {
        match io.read(scratch) {
            Ok(0) => return Next::Close(Reason::Done),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Next::Close(Reason::Done),
        }
    }
}

/// Writes as much of `buf` as the socket takes now: stops at `WouldBlock`, retries
/// `Interrupted`, and returns how many bytes went out.
pub(crate) fn write_some<W: io::Write + ?Sized>(io: &mut W, buf: &[u8]) -> io::Result<usize> {
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
