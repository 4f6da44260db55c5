//! What every driver (the reactor, the threaded and the iterative models) shares with the
//! others and with whoever starts it: what it is handed to serve ([`Setup`], [`Limits`]) and
//! how serving ended ([`Ending`]). The drivers are peers: each imports this module, none imports
//! another, and `server.rs`, which chooses one, imports them all.

use std::sync::Arc;
use std::time::Duration;

use crate::handlers::Settings;
use crate::listen::Listener;
use crate::stats::SharedStats;
use crate::stop::StopSignal;

/// What every model needs to serve: built by `Server::bind`, consumed by the model's driver.
pub struct Setup {
    pub listeners: Vec<Listener>,
    pub settings: Settings,
    pub limits: Limits,
    pub stop: StopSignal,
    pub stats: Arc<SharedStats>,
}

/// The limits every model enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    pub idle_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub max_conns: usize,
    /// Threads model: each connection thread's stack.
    pub thread_stack: usize,
}

/// How the server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Stopped on request, after letting work in flight finish (or the shutdown timeout).
    Graceful,
    /// A second stop request arrived during shutdown; connections were cut.
    Forced,
}
