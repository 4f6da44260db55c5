//! Process-wide limits read or set through libc.

use std::io;

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

/// Descriptors kept back from connections: listeners, the poll, the stop pipe, logging, and
/// room to accept (and refuse) one more client.
pub const FD_RESERVE: u64 = 32;

/// The default connection cap for an open-file limit.
pub fn default_max_conns(fd_limit: u64) -> usize {
    fd_limit.saturating_sub(FD_RESERVE).max(1) as usize
}
