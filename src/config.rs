//! What a server is asked to do: which services on which addresses, and its limits.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::handlers::ServiceKind;

pub const DEFAULT_ECHO_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
pub const DEFAULT_FILES_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8081);
pub const DEFAULT_NAME_WAIT: Duration = Duration::from_millis(100);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_BUFFER: usize = 64 * 1024;

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
