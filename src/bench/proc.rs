//! What the benchmark reads of a server process from `/proc`: memory, threads, CPU time.

use std::io;

/// A reading of one process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    /// Resident memory (`VmRSS`), bytes.
    pub rss: u64,
    /// Threads: the entries of `/proc/PID/task`, one per live thread.
    pub threads: u64,
    /// User plus system CPU time so far, in clock ticks (`/proc/PID/stat` fields 14 and 15,
    /// over all the process's threads).
    pub cpu_ticks: u64,
}

/// Clock ticks per second, for `cpu_ticks`.
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a constant.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 {
        n as u64
    } else {
        100
    }
}

pub fn read(pid: u32) -> io::Result<Reading> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Field 14 (utime) is the 12th after the name (state is field 3).
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(Reading {
        rss: field("VmRSS:") * 1024,
        threads: std::fs::read_dir(format!("/proc/{pid}/task"))?.count() as u64,
        cpu_ticks: tick(11) + tick(12),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_read() {
        let me = read(std::process::id()).unwrap();
        assert!(me.rss > 0 && me.threads >= 1, "{me:?}");
    }
}
