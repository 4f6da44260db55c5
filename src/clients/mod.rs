//! The command-line clients, blocking and simple, as in the lesson they grew from.

pub mod get;
pub mod http;
pub mod send;
pub mod stats;

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Why a client failed; printed as one line.
#[derive(Debug)]
pub enum ClientError {
    Resolve {
        addr: String,
        error: io::Error,
    },
    Connect {
        addr: String,
        error: io::Error,
    },
    /// A socket or terminal operation failed; `what` says which.
    Io {
        what: &'static str,
        error: io::Error,
    },
    /// The server closed before answering in full.
    ShortReply {
        got: usize,
        want: usize,
    },
    /// The destination exists and `--force` was not given.
    Exists(PathBuf),
    /// The output file could not be created, written or put in place.
    Output {
        path: PathBuf,
        error: io::Error,
    },
    /// An HTTP download failed: a bad URL's host, the server's answer, a partial file.
    Http(http::HttpError),
    /// A download failed after the partial file at `path` came to hold `bytes` bytes, which
    /// are kept for `--continue`.
    Kept {
        error: Box<ClientError>,
        path: PathBuf,
        bytes: u64,
    },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Resolve { addr, error } => write!(f, "cannot resolve {addr}: {error}"),
            ClientError::Connect { addr, error } => write!(f, "cannot connect to {addr}: {error}"),
            ClientError::Io { what, error } if is_timeout(error) => {
                write!(f, "{what}: timed out")
            }
            ClientError::Io { what, error } => write!(f, "{what}: {error}"),
            ClientError::Exists(path) => write!(
                f,
                "{} exists; not overwriting it without --force",
                path.display()
            ),
            ClientError::Output { path, error } => write!(f, "{}: {error}", path.display()),
            ClientError::ShortReply { got, want } => write!(
                f,
                "the server closed the connection after {got} of {want} bytes"
            ),
            ClientError::Http(error) => error.fmt(f),
            ClientError::Kept { error, path, bytes } => write!(
                f,
                "{error}; kept {} ({bytes} bytes): --continue resumes it, --force starts over",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ClientError {}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Connects to `addr` (`host:port`), trying each address it resolves to, with `timeout` for the
/// connection and for every later read and write.
pub fn connect(addr: &str, timeout: Duration) -> Result<TcpStream, ClientError> {
    let candidates: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|error| ClientError::Resolve {
            addr: addr.to_string(),
            error,
        })?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for candidate in candidates {
        match TcpStream::connect_timeout(&candidate, timeout) {
            Ok(stream) => {
                let io_err = |error| ClientError::Io {
                    what: "socket setup",
                    error,
                };
                stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
                stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
                return Ok(stream);
            }
            Err(error) => last = error,
        }
    }
    Err(ClientError::Connect {
        addr: addr.to_string(),
        error: last,
    })
}
