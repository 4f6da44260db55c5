//! `tcpserve`: a small TCP server on one hand-rolled `mio` event loop.
//!
//! The [`reactor`] polls listeners and a slab of [`conn`]ections; each connection runs a
//! service from [`handlers`] (a state machine that never names `mio`): echo, or file downloads
//! confined by [`root`]. [`server`] binds a [`Config`] and runs the reactor; [`clients`] are the
//! matching command-line clients. [`http`] holds the socket-free parts of HTTP/1.1 on the
//! files port (request parsing, targets, ranges, dates, response heads).

pub mod bench;
pub mod cache;
pub mod clients;
pub mod config;
pub mod conn;
pub mod content;
pub mod driver;
pub mod handlers;
pub mod http;
pub mod listen;
pub mod logging;
pub mod models;
pub mod reactor;
pub mod root;
pub mod server;
pub mod stats;
pub mod stop;
pub mod sys;

pub use config::{Config, Model};
pub use driver::Ending;
pub use handlers::ServiceKind;
pub use server::{Handle, Server, StartError};
pub use stats::Stats;
