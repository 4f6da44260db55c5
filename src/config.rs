//! What a server is asked to do: which services on which addresses, and its limits.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::handlers::ServiceKind;
use crate::logging::access;

pub const DEFAULT_ECHO_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
pub const DEFAULT_FILES_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8081);
/// The services' own defaults, as the command line shows them.
pub use crate::handlers::{DEFAULT_BUFFER, DEFAULT_NAME_WAIT, DEFAULT_REQUEST_TIMEOUT};
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_THREAD_STACK: usize = 64 * 1024;

/// How connections are served. All three run the same services (src/handlers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// One thread, one `mio` poll, every connection (src/reactor.rs).
    Reactor,
    /// One blocking OS thread per connection (src/models/threads.rs).
    Threads,
    /// One client at a time, served to the end before the next is accepted, as in the lesson
    /// (src/models/iterative.rs).
    Iterative,
}

impl Model {
    pub const ALL: [Model; 3] = [Model::Reactor, Model::Threads, Model::Iterative];

    pub fn name(self) -> &'static str {
        match self {
            Model::Reactor => "reactor",
            Model::Threads => "threads",
            Model::Iterative => "iterative",
        }
    }

    pub fn from_name(name: &str) -> Option<Model> {
        Model::ALL.into_iter().find(|m| m.name() == name)
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    /// Where the echo service listens; `None` runs no echo service.
    pub echo: Option<SocketAddr>,
    /// Where the file-download service listens; `None` runs none.
    pub files: Option<SocketAddr>,
    /// The directory the files service serves (resolved to an absolute path at start).
    pub root: PathBuf,
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
    /// How connections are served.
    pub model: Model,
    /// Threads model: each connection thread's stack size.
    pub thread_stack: usize,
    /// Files: the access log's line format.
    pub access_format: access::Format,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            echo: Some(DEFAULT_ECHO_ADDR),
            files: Some(DEFAULT_FILES_ADDR),
            root: PathBuf::from("."),
            name_wait: DEFAULT_NAME_WAIT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_conns: None,
            buffer: DEFAULT_BUFFER,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            model: Model::Reactor,
            thread_stack: DEFAULT_THREAD_STACK,
            access_format: access::Format::Common,
        }
    }
}

impl Config {
    /// The services to run, each with the address it asked for.
    pub fn services(&self) -> Vec<(ServiceKind, SocketAddr)> {
        let echo = self.echo.map(|addr| (ServiceKind::Echo, addr));
        let files = self.files.map(|addr| (ServiceKind::Files, addr));
        echo.into_iter().chain(files).collect()
    }
}
