//! What a server is asked to do: which services where ([`Listen`]), the served directory, its
//! limits and model ([`Config`], filled in by the public `Builder`), and the defaults it starts
//! from ([`defaults`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use crate::handlers::Offer;
use crate::http::mime_types::MimeTypes;
use crate::http::pages::Pages;
use crate::logging::access;

/// The defaults a [`Builder`](crate::Builder) starts from, as the command line shows them.
pub mod defaults {
    use std::time::Duration;

    pub use crate::handlers::{
        DEFAULT_BUFFER as BUFFER, DEFAULT_NAME_WAIT as NAME_WAIT,
        DEFAULT_REQUEST_TIMEOUT as REQUEST_TIMEOUT,
    };
    /// A connection that moves no byte either way for this long is closed.
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// How long a graceful shutdown waits for connections with work in flight.
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
    /// The threads model's stack per connection thread.
    pub const THREAD_STACK: usize = 64 * 1024;
    /// The reactors model's workers: one per core, at least two.
    pub fn workers() -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
    }
    /// The most reactor workers a server may have.
    pub const MAX_WORKERS: usize = 1024;
    /// The most threads a pool may have: past this, the threads model is the design meant.
    pub const MAX_POOL: usize = 10_000;
    /// Below this a connection thread cannot run its service: a smaller stack is raised to it.
    pub const MIN_THREAD_STACK: usize = 16 * 1024;
    /// The pool model's threads: four per core, as the machine reports its cores.
    pub fn pool_size() -> usize {
        4 * std::thread::available_parallelism().map_or(1, |n| n.get())
    }
    /// The longest any timeout may be (about 31 years): a deadline past it could not be told.
    pub const LONGEST_TIMEOUT: Duration = Duration::from_secs(1_000_000_000);
}

/// How connections are served. All run the same services, through the same
/// [`Service`](crate::Service) contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Model {
    /// One thread, one `mio` poll, every connection (src/reactor.rs).
    Reactor,
    /// One reactor per core, each with its own listening socket on every address
    /// (`SO_REUSEPORT`: the kernel spreads the clients) and its own connections, timers and
    /// counts (src/workers.rs; [`Builder::workers`](crate::Builder::workers)).
    Reactors,
    /// One blocking OS thread per connection (src/models/threads.rs).
    Threads,
    /// A fixed pool of threads started with the server, each serving one connection at a time
    /// to its end; further clients wait in the kernel's backlog (src/models/pool.rs;
    /// [`Builder::pool_size`](crate::Builder::pool_size)).
    Pool,
    /// One client at a time, served to the end before the next is accepted, as in the lesson
    /// (src/models/iterative.rs).
    Iterative,
}

impl Model {
    /// Every model, in the order the comparison shows them.
    pub const ALL: [Model; 5] = [
        Model::Reactor,
        Model::Reactors,
        Model::Threads,
        Model::Pool,
        Model::Iterative,
    ];

    /// The model's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Model::Reactor => "reactor",
            Model::Reactors => "reactors",
            Model::Threads => "threads",
            Model::Pool => "pool",
            Model::Iterative => "iterative",
        }
    }

    /// The model of that name, if any.
    pub fn from_name(name: &str) -> Option<Model> {
        Model::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Where a service listens: an address to bind, or a socket already listening (one passed by
/// systemd's socket activation, say), which is served as it is.
#[derive(Debug)]
pub enum Listen {
    /// Bound at start, with a deep backlog; port 0 takes a free port.
    Addr(SocketAddr),
    /// Already bound and listening.
    Socket(TcpListener),
}

impl From<TcpListener> for Listen {
    fn from(socket: TcpListener) -> Listen {
        Listen::Socket(socket)
    }
}

/// Every form `std` turns into a `SocketAddr`.
macro_rules! listen_at {
    ($($from:ty),*) => {$(
        impl From<$from> for Listen {
            fn from(addr: $from) -> Listen {
                Listen::Addr(addr.into())
            }
        }
    )*};
}
listen_at!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16),
    ([u8; 4], u16),
    ([u16; 8], u16)
);

#[derive(Debug)]
pub(crate) struct Config {
    /// The services to run, each with where it listens, in the order given.
    pub services: Vec<(Offer, Listen)>,
    /// Where the metrics and the health check are served.
    pub metrics: Vec<Listen>,
    /// The directory the files service serves (resolved to an absolute path at start).
    pub root: Option<PathBuf>,
    /// Files: a name with no terminator is whole after this long without a byte; zero takes
    /// the first read as the whole name.
    pub name_wait: Duration,
    /// Files: how long the whole request may take to arrive.
    pub request_timeout: Duration,
    /// A connection that moves no byte either way for this long is closed.
    pub idle_timeout: Duration,
    /// Most connections open at once; `None` derives it from the open-file limit.
    pub max_conns: Option<usize>,
    /// Most bytes of unsent output held per connection.
    pub buffer: usize,
    /// How long a graceful shutdown waits for connections with work in flight.
    pub shutdown_timeout: Duration,
    /// How long a stop request keeps everything serving, the health check failing, first.
    pub shutdown_delay: Duration,
    /// How connections are served.
    pub model: Model,
    /// Threads and pool models: each serving thread's stack size.
    pub thread_stack: usize,
    /// Pool model: how many threads serve (`None`: four per core).
    pub pool_size: Option<usize>,
    /// Reactors: how many (`None`: one per core, at least two).
    pub workers: Option<usize>,
    /// Files: the access log's line format.
    pub access_format: access::Format,
    /// Every connection starts with a PROXY protocol header.
    pub proxy_protocol: bool,
    /// Files over HTTP: fields added to every response, as given (checked at bind).
    pub headers: Vec<(String, String)>,
    /// Files over HTTP: serve a file's precompressed neighbours to clients that accept them.
    pub precompressed: bool,
    /// Files over HTTP: error pages and the single-page app (checked at bind).
    pub pages: Pages,
    /// Files: `Content-Type`s before the built-in table.
    pub types: MimeTypes,
    /// Files over HTTP: directories without `index.html` are listed.
    pub listing: bool,
}

impl Config {
    /// What no server can do with these values, if anything: a timeout of zero or past
    /// [`defaults::LONGEST_TIMEOUT`], a zero buffer or connection cap.
    pub fn fault(&self) -> Option<String> {
        let timeouts = [
            ("idle_timeout", self.idle_timeout, false),
            ("request_timeout", self.request_timeout, false),
            ("shutdown_timeout", self.shutdown_timeout, true),
            ("shutdown_delay", self.shutdown_delay, true),
            ("name_wait", self.name_wait, true),
        ];
        for (name, value, zero_ok) in timeouts {
            if value > defaults::LONGEST_TIMEOUT || (value.is_zero() && !zero_ok) {
                let least = if zero_ok { "0" } else { "more than 0" };
                return Some(format!(
                    "{name}: {value:?} is out of range ({least} to 1e9 s)"
                ));
            }
        }
        match (self.buffer, self.max_conns, self.pool_size) {
            (0, _, _) => Some("buffer: 0 bytes would hold no output at all".into()),
            (_, Some(0), _) => Some("max_conns: 0 would refuse every client".into()),
            (_, _, Some(0)) => Some("pool_size: 0 threads would serve no client".into()),
            (_, _, Some(n)) if n > defaults::MAX_POOL => Some(format!(
                "pool_size: {n} is more threads than a pool is for (at most {})",
                defaults::MAX_POOL
            )),
            _ => self.workers_fault(),
        }
    }

    /// What is wrong with the number of reactor workers asked for, if anything.
    fn workers_fault(&self) -> Option<String> {
        match (self.workers, self.model) {
            (Some(0), _) => Some("workers: 0 reactors would serve no client".into()),
            (Some(n), _) if n > defaults::MAX_WORKERS => Some(format!(
                "workers: {n} reactors is more than a machine has cores for (at most {})",
                defaults::MAX_WORKERS
            )),
            (Some(n), model) if n > 1 && !matches!(model, Model::Reactor | Model::Reactors) => {
                Some(format!(
                    "workers: only the reactor model has workers, not the {} model",
                    model.name()
                ))
            }
            _ => None,
        }
    }

    /// The model the server runs, and its reactors: a reactor with several workers is the
    /// reactors model.
    pub fn design(&self) -> (Model, usize) {
        match (self.model, self.workers) {
            (Model::Reactor, Some(n)) if n > 1 => (Model::Reactors, n),
            (Model::Reactors, n) => (Model::Reactors, n.unwrap_or_else(defaults::workers)),
            (model, _) => (model, 1),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            services: Vec::new(),
            metrics: Vec::new(),
            root: None,
            name_wait: defaults::NAME_WAIT,
            request_timeout: defaults::REQUEST_TIMEOUT,
            idle_timeout: defaults::IDLE_TIMEOUT,
            max_conns: None,
            buffer: defaults::BUFFER,
            shutdown_timeout: defaults::SHUTDOWN_TIMEOUT,
            shutdown_delay: Duration::ZERO,
            model: Model::Reactor,
            thread_stack: defaults::THREAD_STACK,
            pool_size: None,
            workers: None,
            access_format: access::Format::Common,
            proxy_protocol: false,
            headers: Vec::new(),
            precompressed: false,
            pages: Pages::default(),
            types: MimeTypes::default(),
            listing: false,
        }
    }
}
