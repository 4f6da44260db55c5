//! What a server is asked to do: which services on which addresses, and its limits.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::handlers::ServiceKind;

pub const DEFAULT_ECHO_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_BUFFER: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct Config {
    /// Where the echo service listens; `None` runs no echo service.
    pub echo: Option<SocketAddr>,
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
        self.echo
            .map(|addr| (ServiceKind::Echo, addr))
            .into_iter()
            .collect()
    }
}
