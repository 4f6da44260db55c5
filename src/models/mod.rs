//! The serving models besides the reactor: blocking drivers of the very same services, so the
//! event loop can be compared fairly with threaded designs. Nothing here names `mio`.
//!
//! - [`threads`]: one blocking OS thread per connection.
//! - [`pool`]: a fixed pool of threads, each serving one connection at a time.
//! - [`iterative`]: the lesson's server: one client at a time, served to the end.
//! - [`serial`]: one thread serving clients one after another (the pool's and iterative's).
//! - [`blocking`]: the loop that drives one connection's service over a blocking socket.
//! - [`control`]: the registry of live connections, and stopping.

pub mod blocking;
pub mod control;
pub mod iterative;
pub mod pool;
pub mod serial;
pub mod threads;
