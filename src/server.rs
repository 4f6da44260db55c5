//! Starting a server: the [`Builder`] (services on addresses, the served directory, limits, a
//! model), the bound [`Server`], and the three ways to run it: on the calling thread
//! ([`Server::run`]), on a thread of its own behind a [`Handle`] ([`Server::spawn`]), or a turn
//! at a time from the embedding program's own loop ([`Server::into_event_loop`]).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::{defaults, Config, Listen, Model};
use crate::driver::{Ending, Limits, Setup};
use crate::handlers::{metrics, Offer, Persistence, Service, Settings};
use crate::http::headers::Custom;
use crate::listen::{self, Listener};
use crate::logging::access;
use crate::metrics::Board;
use crate::models;
use crate::reactor::Reactor;
use crate::root::Root;
use crate::stats::Stats;
use crate::stop::{self, Stopper};
use crate::sys;
use crate::workers::{self, Relay};

/// Why a server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// A listener could not be bound.
    Bind {
        /// The service that was to listen there.
        service: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// Why not.
        error: io::Error,
    },
    /// The files service's directory is missing or not a directory.
    Root {
        /// The directory asked for.
        path: PathBuf,
        /// Why it cannot be served.
        error: io::Error,
    },
    /// The builder was asked for something no server can do; the text says what.
    Invalid(String),
    /// An error page or the single-page app's file ([`Builder::error_page`], [`Builder::spa`])
    /// cannot be served; the text says which and why.
    Page(String),
    /// A custom header ([`Builder::header`]) is malformed, or one the server writes itself.
    Header(crate::http::headers::HeaderError),
    /// The poll, the stop pipe, or another process resource could not be had.
    Setup(io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Bind {
                service,
                addr,
                error,
            } => {
                let why = match error.kind() {
                    io::ErrorKind::AddrInUse => "address already in use".to_string(),
                    io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                    io::ErrorKind::AddrNotAvailable => {
                        "no such address on this machine".to_string()
                    }
                    _ => error.to_string(),
                };
                write!(f, "{service}: cannot listen on {addr}: {why}")
            }
            StartError::Root { path, error } => {
                write!(f, "files: cannot serve {}: {error}", path.display())
            }
            StartError::Invalid(why) | StartError::Page(why) => f.write_str(why),
            StartError::Header(e) => write!(f, "header: {e}"),
            StartError::Setup(error) => write!(f, "cannot start: {error}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<io::Error> for StartError {
    fn from(error: io::Error) -> Self {
        StartError::Setup(error)
    }
}

/// What a server serves and how: each call adds a service on an address or sets a limit;
/// [`Builder::bind`] binds every address at once.
///
/// ```
/// use std::io::{Read, Write};
/// use tcpserve::Server;
///
/// let handle = Server::builder().echo(([127, 0, 0, 1], 0)).start()?;
/// let mut client = std::net::TcpStream::connect(handle.addr("echo").unwrap())?;
/// client.write_all(b"hello")?;
/// client.shutdown(std::net::Shutdown::Write)?;
/// let mut reply = String::new();
/// client.read_to_string(&mut reply)?;
/// assert_eq!(reply, "hello");
/// handle.stop();
/// handle.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    config: Config,
    /// A second, different root given to `files`: refused at bind.
    conflict: Option<PathBuf>,
}

impl Builder {
    /// Runs the echo service on `addr` (port 0 takes a free port; see [`Server::addr`]), or on
    /// a socket already listening (a `TcpListener`: see [`Listen`]).
    pub fn echo(mut self, addr: impl Into<Listen>) -> Builder {
        self.config.services.push((Offer::Echo, addr.into()));
        self
    }

    /// Runs the file-download service on `addr`, serving the directory `root` (raw names and
    /// HTTP/1.1 on the same port; see docs/PROTOCOL.md). A server has one root: every files
    /// listener serves the same one.
    pub fn files(mut self, addr: impl Into<Listen>, root: impl Into<PathBuf>) -> Builder {
        let root = root.into();
        match &self.config.root {
            Some(have) if *have != root => self.conflict = Some(root),
            _ => self.config.root = Some(root),
        }
        self.config.services.push((Offer::Files, addr.into()));
        self
    }

    /// Runs a program's own service on `addr`: `make` makes one [`Service`] per connection.
    /// `name` stands for it in the log and in [`Server::addr`]. Its connections get
    /// TCP_NODELAY, as a request-reply protocol wants.
    pub fn service<S, F>(mut self, name: &'static str, addr: impl Into<Listen>, make: F) -> Builder
    where
        S: Service + 'static,
        F: Fn() -> S + Send + Sync + 'static,
    {
        let make = Arc::new(move || Box::new(make()) as Box<dyn Service>);
        self.config
            .services
            .push((Offer::User(name, make), addr.into()));
        self
    }

    /// Serves the operator's view on `addr`: `GET /metrics` (the Prometheus text format) and
    /// `GET /health` (`200 ok` while serving, `503 draining` from a stop request on). Served
    /// by the same model as the services, its connections count as the `metrics` service's.
    pub fn metrics(mut self, addr: impl Into<Listen>) -> Builder {
        self.config.metrics.push(addr.into());
        self
    }

    /// How connections are served (default: [`Model::Reactor`]).
    pub fn model(mut self, model: Model) -> Builder {
        self.config.model = model;
        self
    }

    /// Most bytes of output one connection may hold before its service stops reading
    /// (default [`defaults::BUFFER`](crate::defaults::BUFFER)).
    pub fn buffer(mut self, bytes: usize) -> Builder {
        self.config.buffer = bytes;
        self
    }

    /// A connection that moves no byte either way for this long is closed
    /// (default [`defaults::IDLE_TIMEOUT`](crate::defaults::IDLE_TIMEOUT)). Every timeout is
    /// at most [`defaults::LONGEST_TIMEOUT`](crate::defaults::LONGEST_TIMEOUT), and this one
    /// and the request timeout more than zero: [`Builder::bind`] refuses others.
    pub fn idle_timeout(mut self, timeout: Duration) -> Builder {
        self.config.idle_timeout = timeout;
        self
    }

    /// Files: how long a request may take to arrive
    /// (default [`defaults::REQUEST_TIMEOUT`](crate::defaults::REQUEST_TIMEOUT)).
    pub fn request_timeout(mut self, timeout: Duration) -> Builder {
        self.config.request_timeout = timeout;
        self
    }

    /// Files: a raw name sent without a newline is whole after this long without a byte; zero
    /// takes the first read as the name (default [`defaults::NAME_WAIT`](crate::defaults::NAME_WAIT)).
    pub fn name_wait(mut self, wait: Duration) -> Builder {
        self.config.name_wait = wait;
        self
    }

    /// How long a graceful stop waits for connections with work in flight
    /// (default [`defaults::SHUTDOWN_TIMEOUT`](crate::defaults::SHUTDOWN_TIMEOUT)).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Builder {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// How long a graceful stop keeps serving everything, with the health check failing,
    /// before it stops accepting and drains: time for a balancer to notice and send clients
    /// elsewhere (default: none). A second stop request cuts it short.
    pub fn shutdown_delay(mut self, delay: Duration) -> Builder {
        self.config.shutdown_delay = delay;
        self
    }

    /// The reactors model's workers, one reactor each (default: one per core, at least two);
    /// the reactor model with more than one is the reactors model. Each worker listens on every
    /// address with a socket of its own (`SO_REUSEPORT`), so the kernel spreads the clients.
    pub fn workers(mut self, reactors: usize) -> Builder {
        self.config.workers = Some(reactors);
        self
    }

    /// Most connections open at once; more are accepted and closed at once (default: derived
    /// from the open-file limit, which is raised to its hard limit).
    pub fn max_conns(mut self, conns: usize) -> Builder {
        self.config.max_conns = Some(conns);
        self
    }

    /// Threads and pool models: each serving thread's stack
    /// (default [`defaults::THREAD_STACK`](crate::defaults::THREAD_STACK), and at least
    /// [`defaults::MIN_THREAD_STACK`](crate::defaults::MIN_THREAD_STACK)).
    pub fn thread_stack(mut self, bytes: usize) -> Builder {
        self.config.thread_stack = bytes.max(crate::defaults::MIN_THREAD_STACK);
        self
    }

    /// Pool model: how many threads serve, each one connection at a time (default: four per
    /// core; at most [`defaults::MAX_POOL`](crate::defaults::MAX_POOL)).
    pub fn pool_size(mut self, threads: usize) -> Builder {
        self.config.pool_size = Some(threads);
        self
    }

    /// Files: how each request's access line is written (default: the common log format).
    pub fn access_format(mut self, format: AccessFormat) -> Builder {
        self.config.access_format = format;
        self
    }

    /// Serves from behind a load balancer: every connection, on every listener, must start
    /// with a PROXY protocol header (v1 or v2, told apart by their first bytes) within the
    /// request timeout; the client it names is the connection's peer for the service and in
    /// every log line. A connection without a valid header is closed, with a log line.
    pub fn proxy_protocol(mut self, on: bool) -> Builder {
        self.config.proxy_protocol = on;
        self
    }

    /// Files over HTTP: adds the field `name: value` to every response (CORS, `Cache-Control`,
    /// security headers); repeat for more, sent in the order given. With
    /// `Access-Control-Allow-Origin`, `OPTIONS` is answered as a CORS preflight (204 with these
    /// fields), and `Vary: Origin` is added unless the origin is `*`. [`Builder::bind`] refuses
    /// a malformed name, a value with a CR, LF, NUL or other control byte, and a field the
    /// server writes itself (`Content-Length`, `Connection`...; see docs/PROTOCOL.md).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Builder {
        self.config.headers.push((name.into(), value.into()));
        self
    }

    /// Files over HTTP: for `a.js`, sends `a.js.br`, `a.js.zst` or `a.js.gz` to a client
    /// whose `Accept-Encoding` takes that coding, if it is a regular file under the root (the
    /// same confinement as any name) no older than `a.js`; with `Content-Encoding`, `Vary` and
    /// an `ETag` of its own. The server never compresses (default: off).
    pub fn precompressed(mut self, on: bool) -> Builder {
        self.config.precompressed = on;
        self
    }

    /// Files over HTTP: answers an error of `status` (400, 403, 404, 414 or 500) with the file
    /// `page` under the root, named as a client would name it, keeping the status. The page is
    /// checked at bind: a regular file reached through the root's confinement.
    pub fn error_page(mut self, status: u16, page: impl AsRef<Path>) -> Builder {
        let page = page.as_ref().as_os_str().as_bytes();
        self.config.pages.add_error(status, page);
        self
    }

    /// Files over HTTP: a single-page app. A GET or HEAD for a path not found whose last
    /// segment has no extension gets the file `page` under the root, with 200 (checked at bind
    /// as [`Builder::error_page`]'s are).
    pub fn spa(mut self, page: impl AsRef<Path>) -> Builder {
        self.config
            .pages
            .set_spa(page.as_ref().as_os_str().as_bytes());
        self
    }

    /// Files: `Content-Type`s by extension (from a `mime.types` file:
    /// [`MimeTypes::read`](crate::MimeTypes::read)) that come before the built-in table.
    pub fn mime_types(mut self, types: crate::MimeTypes) -> Builder {
        self.config.types = types;
        self
    }

    /// Files over HTTP: answers a directory without `index.html` with a listing of its
    /// entries, HTML or (for `Accept: application/json`) JSON, instead of 404 (default: off).
    /// What is listed and what bounds it: [`crate::http::listing`], [`crate::root::Root::list`].
    pub fn listing(mut self, on: bool) -> Builder {
        self.config.listing = on;
        self
    }

    /// Binds every service's address; where each listens is logged when it starts serving.
    pub fn bind(self) -> Result<Server, StartError> {
        Server::bind(self)
    }

    /// Binds, then serves on a thread of its own ([`Server::spawn`]).
    pub fn start(self) -> Result<Handle, StartError> {
        Ok(self.bind()?.spawn()?)
    }
}

/// How an access line is written: `common` and `combined` are Apache's formats, `json` one
/// object per line with every field.
pub type AccessFormat = access::Format;

/// A bound server, not yet serving.
pub struct Server {
    model: Model,
    /// What each driver serves: one, but for the reactors model's workers.
    setups: Vec<Setup>,
    /// The reactors model: from the server's stop pipe to each worker's.
    relay: Option<Relay>,
    addrs: Addrs,
    stopper: Stopper,
}

impl Server {
    /// A builder with nothing to serve yet and every limit at its default.
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn bind(builder: Builder) -> Result<Server, StartError> {
        let Builder { config, conflict } = builder;
        if config.services.is_empty() {
            return Err(StartError::Invalid(
                "nothing to serve: no service was added".into(),
            ));
        }
        if let Some(fault) = config.fault() {
            return Err(StartError::Invalid(fault));
        }
        let headers = Custom::new(&config.headers).map_err(StartError::Header)?;
        if let (Some(have), Some(other)) = (&config.root, conflict) {
            return Err(StartError::Invalid(format!(
                "files: one directory per server: {} and {}",
                have.display(),
                other.display()
            )));
        }
        let root = match &config.root {
            Some(path) => Some(Root::new(path).map_err(|error| StartError::Root {
                path: path.clone(),
                error,
            })?),
            None => None,
        };
        if let Err(why) = config.pages.check(root.as_ref()) {
            return Err(StartError::Page(why));
        }
        // One slot among the counts per service name, in the order first given.
        let mut names: Vec<&'static str> = Vec::new();
        for name in config.services.iter().map(|(offer, _)| offer.name()) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        if names.contains(&metrics::NAME) {
            return Err(StartError::Invalid(format!(
                "a program's service may not be named '{}': the metrics listener's name",
                metrics::NAME
            )));
        }
        if !config.metrics.is_empty() {
            names.push(metrics::NAME);
        }
        if names.len() > usize::from(u16::MAX) {
            return Err(StartError::Invalid(format!(
                "{} services by name: at most 65535",
                names.len()
            )));
        }
        let (model, workers) = config.design();
        let board = Arc::new(Board::new(&names, model.name(), workers));
        let offers = config.services.into_iter().chain(
            config
                .metrics
                .into_iter()
                .map(|listen| (Offer::Metrics(Arc::clone(&board)), listen)),
        );
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for (offer, listen) in offers {
            let service = offer.name();
            let passed = matches!(listen, Listen::Socket(_));
            let socket = match listen {
                Listen::Addr(addr) => {
                    listen::bind(addr, workers > 1).map_err(|error| StartError::Bind {
                        service,
                        addr,
                        error,
                    })?
                }
                Listen::Socket(socket) => listen::adopt(socket).map_err(|error| {
                    StartError::Invalid(format!("{service}: a socket given to serve: {error}"))
                })?,
            };
            addrs.push((service, socket.local_addr()?));
            let slot = names.iter().position(|&n| n == service);
            let slot = slot.expect("every service's name has a slot");
            listeners.push(Listener {
                offer,
                socket,
                passed,
                slot,
            });
        }
        let max_conns = match config.max_conns {
            Some(n) => n,
            None => {
                let fd_limit = sys::raise_fd_limit()?;
                // A download holds its file open beside its socket.
                let fds_per_conn = if root.is_some() { 2 } else { 1 };
                let n = sys::default_max_conns(fd_limit, fds_per_conn);
                log::debug!("open-file limit {fd_limit}: --max-conns {n}");
                n
            }
        };
        let (stopper, stop) = stop::channel()?;
        let setup = Setup {
            listeners,
            settings: Settings {
                buffer: config.buffer,
                name_wait: config.name_wait,
                request_timeout: config.request_timeout,
                root,
                persistence: match model {
                    Model::Iterative => Persistence::Pipelined,
                    // A pool keeps idle connections as the threads model does: its threads
                    // held by keep-alive clients is what the design shows.
                    _ => Persistence::Idle,
                },
                access_format: config.access_format,
                proxy_protocol: config.proxy_protocol,
                headers,
                precompressed: config.precompressed,
                pages: Arc::new(config.pages),
                types: Arc::new(config.types),
                listing: config.listing,
            },
            limits: Limits {
                idle_timeout: config.idle_timeout,
                shutdown_timeout: config.shutdown_timeout,
                shutdown_delay: config.shutdown_delay,
                max_conns,
                thread_stack: config.thread_stack,
                pool_size: config.pool_size.unwrap_or_else(defaults::pool_size),
                all_open: (workers > 1).then(Arc::default),
            },
            stop,
            board,
            worker: 0,
        };
        let (setups, relay) = if workers > 1 {
            let (setups, relay) = side_by_side(setup, workers)?;
            (setups, Some(relay))
        } else {
            (vec![setup], None)
        };
        Ok(Server {
            model,
            setups,
            relay,
            addrs: Addrs(addrs),
            stopper,
        })
    }

    /// Every listener's service and bound address (port 0 resolved), in the order added.
    pub fn addrs(&self) -> &[(&'static str, SocketAddr)] {
        &self.addrs.0
    }

    /// The first bound address of the service called `name` ("echo", "files", or a program's).
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.addrs.find(name)
    }

    /// Something that can ask this server to stop, from any thread or a signal handler.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Serves on this thread until stopped.
    pub fn run(self) -> io::Result<Ending> {
        // Holding a stopper while serving keeps the stop pipe open: its end is never mistaken
        // for a request.
        let Server {
            model,
            mut setups,
            relay,
            stopper: _keep_open,
            ..
        } = self;
        announce(model, &setups);
        let board = Arc::clone(&setups[0].board);
        let ending = match (model, relay) {
            (Model::Reactors, Some(relay)) => workers::run(setups, relay),
            (model, _) => {
                let setup = setups.swap_remove(0);
                match model {
                    Model::Reactor | Model::Reactors => Reactor::new(setup)?.run(),
                    Model::Threads => models::threads::run(setup),
                    Model::Pool => models::pool::run(setup),
                    Model::Iterative => models::iterative::run(setup),
                }
            }
        }?;
        log::info!("stopped: {}", board.stats());
        Ok(ending)
    }

    /// Serves on a new thread.
    pub fn spawn(self) -> io::Result<Handle> {
        let addrs = self.addrs.clone();
        let stopper = self.stopper.clone();
        let board = Arc::clone(&self.setups[0].board);
        let thread = std::thread::Builder::new()
            .name(format!("tcpserve-{}", self.model.name()))
            .spawn(move || self.run())?;
        Ok(Handle {
            addrs,
            stopper,
            board,
            thread: Some(thread),
        })
    }

    /// The event loop, to be driven a turn at a time by the calling program
    /// ([`EventLoop::poll`]); only the reactor model has one.
    pub fn into_event_loop(mut self) -> Result<EventLoop, StartError> {
        if self.model != Model::Reactor {
            return Err(StartError::Invalid(format!(
                "the {} model has no event loop to drive: only the reactor (one worker) does",
                self.model.name()
            )));
        }
        announce(self.model, &self.setups);
        let setup = self.setups.swap_remove(0);
        let board = Arc::clone(&setup.board);
        Ok(EventLoop {
            reactor: Reactor::new(setup)?,
            addrs: self.addrs,
            stopper: self.stopper,
            board,
            ended: None,
        })
    }
}

/// `first` and `workers - 1` more like it, each with listeners of its own on the same addresses
/// (SO_REUSEPORT; a socket given to the server is shared), its own root cache and its own stop
/// pipe; and the relay from the server's stop pipe (which `first` had) to every worker's.
fn side_by_side(mut first: Setup, workers: usize) -> io::Result<(Vec<Setup>, Relay)> {
    let (stopper, stop) = stop::channel()?;
    let mut relay = Relay {
        signal: std::mem::replace(&mut first.stop, stop),
        workers: vec![stopper],
    };
    let mut setups = vec![first];
    for worker in 1..workers {
        let first = &setups[0];
        let listeners = first
            .listeners
            .iter()
            .map(Listener::twin)
            .collect::<io::Result<_>>()?;
        let (stopper, stop) = stop::channel()?;
        relay.workers.push(stopper);
        setups.push(Setup {
            listeners,
            settings: first.settings.twin()?,
            limits: first.limits.clone(),
            stop,
            board: Arc::clone(&first.board),
            worker,
        });
    }
    Ok((setups, relay))
}

/// The model, then one line per listener with its real address (port 0 resolved).
fn announce(model: Model, setups: &[Setup]) {
    match setups.len() {
        1 => log::info!("serving with the {} model", model.name()),
        n => log::info!("serving with the {} model ({n} workers)", model.name()),
    }
    let setup = &setups[0];
    for listener in &setup.listeners {
        let Ok(addr) = listener.socket.local_addr() else {
            continue;
        };
        match (&listener.offer, &setup.settings.root) {
            (Offer::Files, Some(root)) => {
                log::info!(
                    "files listening on {addr}, serving {}",
                    root.path().display()
                )
            }
            (offer, _) => log::info!("{} listening on {addr}", offer.name()),
        }
    }
}

/// Each listener's service name and bound address.
#[derive(Debug, Clone)]
struct Addrs(Vec<(&'static str, SocketAddr)>);

impl Addrs {
    fn find(&self, name: &str) -> Option<SocketAddr> {
        self.0.iter().find(|(s, _)| *s == name).map(|(_, a)| *a)
    }
}

/// A server running on its own thread. Dropping it stops the server at once and waits for it.
#[derive(Debug)]
pub struct Handle {
    addrs: Addrs,
    stopper: Stopper,
    board: Arc<Board>,
    thread: Option<JoinHandle<io::Result<Ending>>>,
}

impl Handle {
    /// Every listener's service and bound address, in the order added.
    pub fn addrs(&self) -> &[(&'static str, SocketAddr)] {
        &self.addrs.0
    }

    /// The first bound address of the service called `name`.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.addrs.find(name)
    }

    /// The counters as last published (once per turn of the loop).
    pub fn stats(&self) -> Stats {
        self.board.stats()
    }

    /// Something that can ask the server to stop, from any thread or a signal handler.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Asks for a graceful stop: no new clients; connections at rest close now, the rest may
    /// finish until the shutdown timeout. Calling it again forces the stop.
    pub fn stop(&self) {
        self.stopper.stop();
    }

    /// Stops at once: every connection is closed now (a download in progress is reset; under
    /// a blocking model, one whose thread is blocked in a write may first get a FIN: README,
    /// "Serving models").
    pub fn stop_now(&self) {
        self.stopper.stop_now();
    }

    /// Waits for the server to end, and says how it ended.
    pub fn join(mut self) -> io::Result<Ending> {
        let thread = self.thread.take().expect("joined once");
        thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the server thread panicked")))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stopper.stop_now();
            let _ = thread.join();
        }
    }
}

/// The reactor, driven a turn at a time from the embedding program's own loop (as Mongoose's
/// `mg_mgr_poll`).
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use tcpserve::{Ending, Server};
///
/// let mut server = Server::builder().echo(([127, 0, 0, 1], 0)).bind()?.into_event_loop()?;
/// let mut client = std::net::TcpStream::connect(server.addr("echo").unwrap())?;
/// client.write_all(b"ping")?;
/// client.set_nonblocking(true)?;
/// let mut reply = Vec::new();
/// for _ in 0..1000 {
///     // ... the program's own work, then at most 10 ms serving clients ...
///     server.poll(Some(Duration::from_millis(10)))?;
///     let mut buf = [0; 4];
///     if let Ok(n) = client.read(&mut buf) {
///         reply.extend_from_slice(&buf[..n]);
///     }
///     if reply.len() == 4 {
///         break;
///     }
/// }
/// assert_eq!(reply, b"ping");
/// drop(client);
/// server.stopper().stop();
/// let mut ended = None;
/// while ended.is_none() {
///     ended = server.poll(None)?;
/// }
/// assert_eq!(ended, Some(Ending::Graceful));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EventLoop {
    reactor: Reactor,
    addrs: Addrs,
    stopper: Stopper,
    board: Arc<Board>,
    ended: Option<Ending>,
}

impl EventLoop {
    /// One turn: waits for events for at most `timeout` (`None`: until something happens),
    /// serves every connection that is ready, fires due timers, and returns. `Some` once the
    /// server has ended (after a stop request and its shutdown), and at every call after that.
    pub fn poll(&mut self, timeout: Option<Duration>) -> io::Result<Option<Ending>> {
        if self.ended.is_none() {
            // The program's own work ran since the last turn: deadlines count from now.
            self.reactor.read_clock();
            self.ended = self.reactor.turn(timeout)?;
            if self.ended.is_some() {
                log::info!("stopped: {}", self.board.stats());
            }
        }
        Ok(self.ended)
    }

    /// Every listener's service and bound address, in the order added.
    pub fn addrs(&self) -> &[(&'static str, SocketAddr)] {
        &self.addrs.0
    }

    /// The first bound address of the service called `name`.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.addrs.find(name)
    }

    /// The counters, as of the last turn.
    pub fn stats(&self) -> Stats {
        self.board.stats()
    }

    /// Something that can ask the loop to stop, from any thread or a signal handler; the stop
    /// takes effect in the following turns.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }
}

/// Dropped before it ended, the loop closes what it holds as a forced stop would: a
/// download cut short is reset and logged.
impl Drop for EventLoop {
    fn drop(&mut self) {
        if self.ended.is_none() {
            self.reactor.cut();
        }
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("addrs", &self.addrs)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("model", &self.model)
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}
