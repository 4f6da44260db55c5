//! Thin wrappers over the libc calls std does not offer: the open-file limit, `sendfile(2)`,
//! `openat(2)` and `openat2(2)`, and reading a directory from a descriptor (`Dir`, `lstat_at`).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Raises the soft open-file limit to the hard one, as most servers do, and returns the limit
/// now in force.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid rlimit to fill in and then pass back.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    Ok(lim.rlim_cur)
}

/// Makes the next close of `fd` reset the connection (SO_LINGER 0) instead of ending it with
/// a FIN: the peer then sees an error, not a clean end-of-stream it could take for the whole
/// answer.
pub fn reset_on_close(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a live linger struct of the size given.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
}

/// `shutdown(2)` both ways on a descriptor another thread may be blocked on: its `accept`,
/// `read` or `write` returns at once. The caller must know the descriptor is still open.
pub fn shutdown_both(fd: RawFd) {
    // SAFETY: a plain call; errors (not connected, already shut) are of no interest.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}

/// `poll(2)` for readability on `fds` for at most `timeout` (forever if `None`): which are
/// readable (or hung up, or in error).
pub fn wait_readable(fds: &[RawFd], timeout: Option<std::time::Duration>) -> io::Result<Vec<bool>> {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    poll(&mut polls, timeout)?;
    Ok(polls.iter().map(|p| p.revents != 0).collect())
}

/// `poll(2)` for writability on `fd` for at most `timeout`: whether it is writable (or hung up,
/// or in error, when a write will say why).
pub fn wait_writable(fd: RawFd, timeout: std::time::Duration) -> io::Result<bool> {
    let mut polls = [libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    }];
    poll(&mut polls, Some(timeout))?;
    Ok(polls[0].revents != 0)
}

/// `poll(2)`, retried on EINTR with the whole timeout (the callers only bound a wait).
fn poll(polls: &mut [libc::pollfd], timeout: Option<std::time::Duration>) -> io::Result<()> {
    let ms = timeout.map_or(-1, |t| {
        t.as_millis().clamp(1, i32::MAX as u128) as libc::c_int
    });
    loop {
        // SAFETY: polls is a live array of the length passed.
        let n = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, ms) };
        if n >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Runs `handler` for each of `signals`, for the life of the process (`SA_RESTART`: a system
/// call the signal interrupts goes on). The handler must be async-signal-safe.
pub fn on_signals(signals: &[libc::c_int], handler: extern "C" fn(libc::c_int)) -> io::Result<()> {
    for &signal in signals {
        // SAFETY: a zeroed sigaction is valid; we set the handler and flags before installing.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Writes one byte to `fd`, ignoring any failure: a wake-up for whoever polls the other end
/// of a pipe. Async-signal-safe.
pub fn poke(fd: RawFd) {
    poke_times(fd, 1);
}

/// Writes `n` (1 or 2) bytes to `fd` in one `write(2)`, so a reader takes them together;
/// async-signal-safe, errors ignored.
pub fn poke_times(fd: RawFd, n: usize) {
    let bytes = [1u8; 2];
    // SAFETY: writes at most two bytes from a live local to a descriptor the caller owns.
    unsafe { libc::write(fd, bytes.as_ptr().cast(), n.min(bytes.len())) };
}

/// Runs `f` with errno kept as it was: a signal handler must not change what the code it
/// interrupted sees.
pub fn keeping_errno(f: impl FnOnce()) {
    // SAFETY: __errno_location returns this thread's errno slot.
    let saved = unsafe { *libc::__errno_location() };
    f();
    unsafe { *libc::__errno_location() = saved };
}

/// Clears `O_NONBLOCK` on `fd`.
pub fn set_blocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL and F_SETFL only read and set the descriptor's flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags == -1 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Ignores `signal` for the life of the process.
pub fn ignore_signal(signal: libc::c_int) {
    // SAFETY: SIG_IGN is a valid disposition for any catchable signal.
    unsafe { libc::signal(signal, libc::SIG_IGN) };
}

/// Opens `/dev/null` on any of descriptors 0, 1 and 2 that is closed (a program started with
/// `2>&-`): otherwise the next socket or file opened would take that number, and log lines
/// meant for stderr would go to a client or into a served file's place.
pub fn keep_std_fds_open() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD only inspects the descriptor.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // open(2) takes the lowest free number: this one, the lower ones being open.
            // SAFETY: a constant NUL-terminated path; the descriptor is kept for the process.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

/// Whether stderr is a terminal (progress lines are drawn only there).
pub fn stderr_is_terminal() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(libc::STDERR_FILENO) == 1 }
}

/// Descriptors kept back from connections: listeners, the poll, the stop pipe, logging, and
/// room to accept (and refuse) one more client.
pub const FD_RESERVE: u64 = 32;

/// The default connection cap for an open-file limit, when each connection may hold
/// `fds_per_conn` descriptors (a socket, and a file while downloading).
pub fn default_max_conns(fd_limit: u64, fds_per_conn: u64) -> usize {
    (fd_limit.saturating_sub(FD_RESERVE) / fds_per_conn).max(1) as usize
}

/// `sendfile(2)`: up to `len` bytes of `file` from `offset` straight to `socket`, without
/// passing through user memory. Returns how many went; 0 means `offset` is at or past the file's
/// end (it shrank).
pub fn sendfile(socket: RawFd, file: RawFd, offset: u64, len: usize) -> io::Result<usize> {
    let mut off = offset as libc::off64_t;
    // SAFETY: plain descriptors and a live offset; the kernel validates everything else.
    let n = unsafe { libc::sendfile64(socket, file, &mut off, len) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `send(2)` with `MSG_MORE`: more data follows at once (a response's body after its head), so
/// the kernel holds a partial segment for it instead of sending it alone; without this, Nagle's
/// algorithm would hold the body's small tail until the client's delayed ACK of the head.
pub fn send_more(socket: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: reads at most buf.len() bytes from a live buffer.
    let n = unsafe {
        libc::send(
            socket,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_MORE | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `recv(2)` with `MSG_DONTWAIT`: what has arrived, without waiting even on a blocking socket.
pub fn recv_now(socket: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: writes at most buf.len() bytes into a live buffer.
    let n = unsafe {
        libc::recv(
            socket,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`: opens `path` relative to `dir`,
/// failing with EXDEV if any step (`..`, an absolute symlink, a symlink escaping) would leave
/// `dir`. ENOSYS on kernels before 5.6.
pub fn openat2_beneath(dir: RawFd, path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: open_how is plain data; zeroed is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: a valid C string and a live open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    owned(fd as libc::c_int)
}

/// `openat(2)`: opens `path` relative to `dir`, following symlinks wherever they lead.
pub fn openat(dir: RawFd, path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: a valid C string; the kernel validates the rest.
    owned(unsafe { libc::openat(dir, path.as_ptr(), flags) })
}

/// A directory being read with `readdir(3)`, from a descriptor it owns; closed when dropped.
pub struct Dir(std::ptr::NonNull<libc::DIR>);

impl Dir {
    /// Reads the directory open at `fd` (`fdopendir(3)`).
    pub fn new(fd: OwnedFd) -> io::Result<Dir> {
        let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
        // SAFETY: `raw` is an open descriptor we own; on success the stream owns it.
        match std::ptr::NonNull::new(unsafe { libc::fdopendir(raw) }) {
            Some(dir) => Ok(Dir(dir)),
            None => {
                let err = io::Error::last_os_error();
                // SAFETY: fdopendir failed, so `raw` is still ours to close.
                unsafe { libc::close(raw) };
                Err(err)
            }
        }
    }

    /// The directory's descriptor, for `*at` calls on its entries.
    pub fn fd(&self) -> RawFd {
        // SAFETY: the stream is open until `self` is dropped.
        unsafe { libc::dirfd(self.0.as_ptr()) }
    }

    /// The next entry's name and `d_type` (`DT_UNKNOWN` where the file system does not say);
    /// `None` at the end. The name lives until the next call.
    pub fn next_entry(&mut self) -> Option<io::Result<(&CStr, u8)>> {
        // SAFETY: errno is this thread's; readdir sets it only on failure, so it is cleared
        // first. The entry it returns stays valid until the next readdir on this stream, which
        // the borrow of `self` prevents.
        unsafe {
            *libc::__errno_location() = 0;
            let entry = libc::readdir(self.0.as_ptr());
            if entry.is_null() {
                let err = io::Error::last_os_error();
                return (err.raw_os_error() != Some(0)).then_some(Err(err));
            }
            let name = CStr::from_ptr((*entry).d_name.as_ptr());
            Some(Ok((name, (*entry).d_type)))
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: the stream is open, and closed only here.
        unsafe { libc::closedir(self.0.as_ptr()) };
    }
}

/// `fstatat(2)` without following a symlink: what `name` in the directory `dir` is itself.
pub fn lstat_at(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: a zeroed stat is valid plain data for the kernel to fill in.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a live stat.
    let rc = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if rc == 0 {
        Ok(st)
    } else {
        Err(io::Error::last_os_error())
    }
}

fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: the kernel just handed us this descriptor; nobody else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// A nonblocking TCP connect to `remote`, from `local` if given (an address of this machine,
/// e.g. another 127.x.y.z, each of which has its own ephemeral ports). The port is chosen at
/// connect time (`IP_BIND_ADDRESS_NO_PORT`), so ports are shared across destinations as an
/// unbound connect would. The connection is usually still in progress when this returns.
pub fn connect_from(
    local: Option<std::net::IpAddr>,
    remote: std::net::SocketAddr,
) -> io::Result<std::net::TcpStream> {
    use std::net::SocketAddr;
    let family = if remote.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let kind = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: a plain call; the descriptor is owned at once below.
    let fd = owned(unsafe { libc::socket(family, kind, 0) })?;
    let stream = std::net::TcpStream::from(fd);
    let raw = stream.as_raw_fd();
    if let Some(ip) = local {
        // Best effort: without it the port is only chosen earlier.
        let _ = set_flag(raw, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT);
        let (addr, len) = sockaddr(SocketAddr::new(ip, 0));
        // SAFETY: addr is a live sockaddr of length len.
        if unsafe { libc::bind(raw, (&addr as *const libc::sockaddr_storage).cast(), len) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let (addr, len) = sockaddr(remote);
    // SAFETY: addr is a live sockaddr of length len.
    if unsafe { libc::connect(raw, (&addr as *const libc::sockaddr_storage).cast(), len) } != 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(err);
        }
    }
    Ok(stream)
}

/// A TCP socket bound to `addr` and listening with `backlog`, with SO_REUSEADDR (as std sets
/// it) and, if `reuse_port`, SO_REUSEPORT: several such sockets on one address, each in its
/// own process or thread, share the clients the kernel hands out.
pub fn listen_on(
    addr: std::net::SocketAddr,
    reuse_port: bool,
    backlog: libc::c_int,
) -> io::Result<std::net::TcpListener> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: a plain call; the descriptor is owned at once below.
    let fd = owned(unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    let raw = fd.as_raw_fd();
    set_flag(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR)?;
    if reuse_port {
        set_flag(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT)?;
    }
    let (storage, len) = sockaddr(addr);
    // SAFETY: storage is a live sockaddr of length len.
    if unsafe { libc::bind(raw, (&storage as *const libc::sockaddr_storage).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a plain call on a descriptor we own.
    if unsafe { libc::listen(raw, backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(std::net::TcpListener::from(fd))
}

/// Sets the boolean socket option `name` at `level`.
pub fn set_flag(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: a live int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn sockaddr(addr: std::net::SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid; the family's fields are set below.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        std::net::SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        std::net::SocketAddr::V6(v6) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_scope_id = v6.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}
