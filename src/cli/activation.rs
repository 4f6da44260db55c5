//! systemd socket activation (sd_listen_fds(3)): when `LISTEN_PID` is this process, the
//! `LISTEN_FDS` descriptors from 3 on are listening sockets made for it, and `LISTEN_FDNAMES`
//! names them (`FileDescriptorName=` in the socket unit): `echo`, or `files`, which an unnamed
//! socket is too. The variables are removed either way, so that no child ever takes them for
//! its own.

use std::net::TcpListener;
use std::os::fd::{FromRawFd, RawFd};

/// The first descriptor systemd passes.
const FIRST_FD: RawFd = 3;
/// More than any unit needs; a larger count is a broken environment.
const MOST_FDS: usize = 256;

/// Which service a passed socket is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Echo,
    Files,
}

/// The sockets passed to this process, by service, in order; none when not socket-activated.
/// Must run before any other thread starts, since it changes the environment.
pub fn take() -> Result<Vec<(Service, TcpListener)>, String> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let names = std::env::var("LISTEN_FDNAMES").ok();
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(var);
    }
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(Vec::new());
    };
    if pid.parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(Vec::new()); // meant for another process (a parent's)
    }
    let count: usize = match fds.parse() {
        Ok(n) if n <= MOST_FDS => n,
        _ => return Err(format!("LISTEN_FDS: '{fds}' is not a count of sockets")),
    };
    let names: Vec<&str> = names
        .as_deref()
        .map_or(Vec::new(), |n| n.split(':').collect());
    let mut sockets = Vec::with_capacity(count);
    for i in 0..count {
        let fd = FIRST_FD + i as RawFd;
        let service = match names.get(i).copied().unwrap_or("") {
            "echo" => Service::Echo,
            "files" | "" | "unknown" => Service::Files,
            other => {
                return Err(format!(
                    "LISTEN_FDNAMES: socket {fd} is named '{other}': name it echo or files"
                ))
            }
        };
        // SAFETY: systemd passed this descriptor to this process, for it to own; it is checked
        // to be a listening TCP socket before it is served.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) < 0 {
                return Err(format!("LISTEN_FDS: descriptor {fd} is not open"));
            }
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            sockets.push((service, TcpListener::from_raw_fd(fd)));
        }
    }
    Ok(sockets)
}
