//! The server's totals as a program sees them ([`Stats`], from `Handle::stats`), summed over
//! the services from the counts on the board (`metrics/`).

use std::fmt;

/// A snapshot of the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections open now.
    pub open: u64,
    /// Connections accepted and served since start.
    pub accepted: u64,
    /// Served connections that have closed.
    pub closed: u64,
    /// Connections accepted and closed at once because `--max-conns` was reached.
    pub refused: u64,
    /// Accepts that failed for one client's reason (it was gone: a network error, a firewall
    /// rule), skipped at once.
    pub accept_errors: u64,
    /// Bytes received from clients.
    pub bytes_in: u64,
    /// Bytes sent to clients.
    pub bytes_out: u64,
    /// Bytes held in server memory now, waiting for a client to read them.
    pub buffered: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} open, {} accepted, {} closed, {} refused over the cap, {} accepts failed, {} bytes in, {} bytes out, {} bytes buffered",
            self.open, self.accepted, self.closed, self.refused, self.accept_errors, self.bytes_in, self.bytes_out, self.buffered
        )
    }
}
