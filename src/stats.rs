//! The server's counters: kept as plain integers by the loop that serves, published to atomics
//! once per turn so tests and the shutdown log can read them without slowing the hot path.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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

/// The published copy, readable from any thread.
#[derive(Debug, Default)]
pub struct SharedStats {
    open: AtomicU64,
    accepted: AtomicU64,
    closed: AtomicU64,
    refused: AtomicU64,
    accept_errors: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    buffered: AtomicU64,
}

impl SharedStats {
    pub fn publish(&self, s: &Stats) {
        self.open.store(s.open, Relaxed);
        self.accepted.store(s.accepted, Relaxed);
        self.closed.store(s.closed, Relaxed);
        self.refused.store(s.refused, Relaxed);
        self.accept_errors.store(s.accept_errors, Relaxed);
        self.bytes_in.store(s.bytes_in, Relaxed);
        self.bytes_out.store(s.bytes_out, Relaxed);
        self.buffered.store(s.buffered, Relaxed);
    }

    // Counting as it happens, for drivers that serve from many threads (the blocking models).

    pub fn opened(&self) {
        self.accepted.fetch_add(1, Relaxed);
        self.open.fetch_add(1, Relaxed);
    }

    pub fn closed(&self) {
        self.open.fetch_sub(1, Relaxed);
        self.closed.fetch_add(1, Relaxed);
    }

    pub fn refused(&self) {
        self.refused.fetch_add(1, Relaxed);
    }

    pub fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Relaxed);
    }

    pub fn moved(&self, bytes_in: u64, bytes_out: u64) {
        if bytes_in > 0 {
            self.bytes_in.fetch_add(bytes_in, Relaxed);
        }
        if bytes_out > 0 {
            self.bytes_out.fetch_add(bytes_out, Relaxed);
        }
    }

    /// One connection's buffered bytes went from `before` to `after`.
    pub fn rebuffered(&self, before: usize, after: usize) {
        if after > before {
            self.buffered.fetch_add((after - before) as u64, Relaxed);
        } else if before > after {
            self.buffered.fetch_sub((before - after) as u64, Relaxed);
        }
    }

    pub fn open_now(&self) -> u64 {
        self.open.load(Relaxed)
    }

    pub fn snapshot(&self) -> Stats {
        Stats {
            open: self.open.load(Relaxed),
            accepted: self.accepted.load(Relaxed),
            closed: self.closed.load(Relaxed),
            refused: self.refused.load(Relaxed),
            accept_errors: self.accept_errors.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            buffered: self.buffered.load(Relaxed),
        }
    }
}
