//! `tcpserve`: a small TCP server on one hand-rolled `mio` event loop, as a library.
//!
//! A program builds a [`Server`] from services on addresses: the built-in echo and file
//! downloads (raw names and HTTP/1.1 on one port, with `sendfile`, backpressure and
//! confinement to one directory), and its own protocols, each a [`Service`]: a per-connection
//! state machine handed its socket and returning what it waits for. The same services run on
//! any [`Model`]: the event loop, a thread per connection, or one client at a time. Then it
//! runs the server on the calling thread ([`Server::run`]), on a thread of its own behind a
//! [`Handle`] ([`Server::spawn`]), or a turn at a time from its own loop ([`EventLoop::poll`]).
//!
//! ```no_run
//! use tcpserve::{Model, Server};
//!
//! let handle = Server::builder()
//!     .files(([127, 0, 0, 1], 8081), "/srv/www")
//!     .echo(([127, 0, 0, 1], 8080))
//!     .model(Model::Reactor)
//!     .start()?;
//! println!("serving files on {}", handle.addr("files").unwrap());
//! handle.stopper().stop_on_signals()?;
//! handle.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A program's own protocol implements [`Service`]; `examples/kv.rs` is a complete one, and
//! README's "Embedding" section walks through it. Log lines go through the `log` facade (the
//! access log under the target `tcpserve::access`), so the program's own logger receives them.
#![warn(missing_docs)]

mod cache;
mod config;
mod conn;
mod content;
mod driver;
mod handlers;
mod listen;
mod metrics;
mod models;
mod reactor;
mod server;
mod sort;
mod stats;
mod stop;
mod workers;

// Not API: the `tcpserve` command (its clients, `bench`, its logger) and the integration tests
// use these parts of the library; nothing about them is promised to a program that embeds it.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
#[doc(hidden)]
pub mod http;
#[doc(hidden)]
pub mod logging;
#[doc(hidden)]
pub mod proxy;
#[doc(hidden)]
pub mod root;
#[doc(hidden)]
pub mod sys;

pub use config::{defaults, Listen, Model};
pub use driver::Ending;
pub use handlers::{Ctx, Echo, Next, Pending, Reason, Service, Settings, Transport};
pub use http::mime_types::MimeTypes;
pub use server::{AccessFormat, Builder, EventLoop, Handle, Server, StartError};
pub use stats::Stats;
pub use stop::Stopper;
