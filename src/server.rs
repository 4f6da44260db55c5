//! Starting a server: binding the configured listeners, choosing limits, and running the
//! reactor here or on a thread of its own behind a [`Handle`] (what tests and embedders use).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::config::{Config, Model};
use crate::driver::{Ending, Limits, Setup};
use crate::handlers::{Persistence, ServiceKind, Settings};
use crate::listen::{self, Listener};
use crate::models;
use crate::reactor::Reactor;
use crate::root::Root;
use crate::stats::{SharedStats, Stats};
use crate::stop::{self, Stopper};
use crate::sys;

/// Why a server could not start.
#[derive(Debug)]
pub enum StartError {
    /// A listener could not be bound.
    Bind {
        service: ServiceKind,
        addr: SocketAddr,
        error: io::Error,
    },
    /// The files service's root is missing or not a directory.
    Root { path: PathBuf, error: io::Error },
    /// The poll, the stop pipe, or another process resource could not be had.
    Setup(io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Bind {
                service,
                addr,
                error,
            } => {
                let why = match error.kind() {
                    io::ErrorKind::AddrInUse => "address already in use".to_string(),
                    io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                    io::ErrorKind::AddrNotAvailable => {
                        "no such address on this machine".to_string()
                    }
                    _ => error.to_string(),
                };
                write!(f, "{}: cannot listen on {addr}: {why}", service.name())
            }
            StartError::Root { path, error } => {
                write!(f, "files: cannot serve {}: {error}", path.display())
            }
            StartError::Setup(error) => write!(f, "cannot start: {error}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<io::Error> for StartError {
    fn from(error: io::Error) -> Self {
        StartError::Setup(error)
    }
}

/// A bound server, not yet serving.
pub struct Server {
    model: Model,
    setup: Setup,
    addrs: Vec<(ServiceKind, SocketAddr)>,
    stopper: Stopper,
}

impl Server {
    /// Binds every configured service. Where each listens is logged when it starts serving,
    /// so whoever waits for that line may signal the server at once.
    pub fn bind(config: &Config) -> Result<Server, StartError> {
        let root = match config.files {
            Some(_) => Some(Root::new(&config.root).map_err(|error| StartError::Root {
                path: config.root.clone(),
                error,
            })?),
            None => None,
        };
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for (service, addr) in config.services() {
            let socket = listen::bind(addr).map_err(|error| StartError::Bind {
                service,
                addr,
                error,
            })?;
            addrs.push((service, socket.local_addr()?));
            listeners.push(Listener {
                kind: service,
                socket,
            });
        }
        let max_conns = match config.max_conns {
            Some(n) => n,
            None => {
                let fd_limit = sys::raise_fd_limit()?;
                // A download holds its file open beside its socket.
                let fds_per_conn = if root.is_some() { 2 } else { 1 };
                let n = sys::default_max_conns(fd_limit, fds_per_conn);
                log::debug!("open-file limit {fd_limit}: --max-conns {n}");
                n
            }
        };
        let (stopper, stop) = stop::channel()?;
        let setup = Setup {
            listeners,
            settings: Settings {
                buffer: config.buffer,
                name_wait: config.name_wait,
                request_timeout: config.request_timeout,
                root,
                persistence: match config.model {
                    Model::Iterative => Persistence::Pipelined,
                    Model::Reactor | Model::Threads => Persistence::Idle,
                },
                access_format: config.access_format,
            },
            limits: Limits {
                idle_timeout: config.idle_timeout,
                shutdown_timeout: config.shutdown_timeout,
                max_conns,
                thread_stack: config.thread_stack,
            },
            stop,
            stats: Arc::new(SharedStats::default()),
        };
        Ok(Server {
            model: config.model,
            setup,
            addrs,
            stopper,
        })
    }

    /// The bound address of a service (with port 0 resolved).
    pub fn addr(&self, service: ServiceKind) -> Option<SocketAddr> {
        find_addr(&self.addrs, service)
    }

    /// Something that can ask this server to stop, from any thread or a signal handler.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Serves on this thread until stopped.
    pub fn run(self) -> io::Result<Ending> {
        // Holding a stopper while serving keeps the stop pipe open: its end is never mistaken
        // for a request.
        let Server {
            model,
            setup,
            stopper: _keep_open,
            ..
        } = self;
        announce(model, &setup);
        let stats = Arc::clone(&setup.stats);
        let ending = match model {
            Model::Reactor => Reactor::new(setup)?.run(),
            Model::Threads => models::threads::run(setup),
            Model::Iterative => models::iterative::run(setup),
        }?;
        log::info!("stopped: {}", stats.snapshot());
        Ok(ending)
    }

    /// Serves on a new thread.
    pub fn spawn(self) -> io::Result<Handle> {
        let addrs = self.addrs.clone();
        let stopper = self.stopper.clone();
        let stats = Arc::clone(&self.setup.stats);
        let thread = std::thread::Builder::new()
            .name(format!("tcpserve-{}", self.model.name()))
            .spawn(move || self.run())?;
        Ok(Handle {
            addrs,
            stopper,
            stats,
            thread: Some(thread),
        })
    }
}

/// The model, then one line per listener with its real address (port 0 resolved).
fn announce(model: Model, setup: &Setup) {
    log::info!("serving with the {} model", model.name());
    for listener in &setup.listeners {
        let Ok(addr) = listener.socket.local_addr() else {
            continue;
        };
        match (listener.kind, &setup.settings.root) {
            (ServiceKind::Files, Some(root)) => {
                log::info!(
                    "files listening on {addr}, serving {}",
                    root.path().display()
                )
            }
            (kind, _) => log::info!("{} listening on {addr}", kind.name()),
        }
    }
}

fn find_addr(addrs: &[(ServiceKind, SocketAddr)], service: ServiceKind) -> Option<SocketAddr> {
    addrs.iter().find(|(s, _)| *s == service).map(|(_, a)| *a)
}

/// A server running on its own thread. Dropping it stops the server at once.
pub struct Handle {
    addrs: Vec<(ServiceKind, SocketAddr)>,
    stopper: Stopper,
    stats: Arc<SharedStats>,
    thread: Option<JoinHandle<io::Result<Ending>>>,
}

impl Handle {
    /// Binds and starts a server from `config` on a thread of its own.
    pub fn start(config: &Config) -> Result<Handle, StartError> {
        Ok(Server::bind(config)?.spawn()?)
    }

    pub fn addr(&self, service: ServiceKind) -> Option<SocketAddr> {
        find_addr(&self.addrs, service)
    }

    /// The echo service's address; panics if the server runs none (a test's mistake).
    pub fn echo_addr(&self) -> SocketAddr {
        self.addr(ServiceKind::Echo).expect("no echo service")
    }

    /// The files service's address; panics if the server runs none (a test's mistake).
    pub fn files_addr(&self) -> SocketAddr {
        self.addr(ServiceKind::Files).expect("no files service")
    }

    /// The counters as last published (once per turn of the loop).
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    /// Asks for a graceful shutdown (a second call forces it).
    pub fn stop(&self) {
        self.stopper.stop();
    }

    /// Waits for the server to end.
    pub fn wait(mut self) -> io::Result<Ending> {
        let thread = self.thread.take().expect("joined once");
        thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the server thread panicked")))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stopper.stop();
            self.stopper.stop();
            let _ = thread.join();
        }
    }
}
