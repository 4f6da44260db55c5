//! The process's own figures, under the names every Prometheus client library uses
//! (`process_open_fds`...), read from `/proc/self` when a scrape asks: nothing is kept.

use std::fs;

/// What `/proc` says of this process; `None` where it could not be read.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Process {
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    /// Seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

impl Process {
    pub fn read() -> Process {
        let stat = fs::read_to_string("/proc/self/stat").ok();
        let stat = stat.as_deref().and_then(Stat::parse);
        let ticks = sysconf(libc::_SC_CLK_TCK).map(|t| t as f64);
        let page = sysconf(libc::_SC_PAGESIZE);
        let boot = fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| boot_time(&text));
        Process {
            open_fds: fs::read_dir("/proc/self/fd")
                .ok()
                .map(|dir| dir.count() as u64),
            max_fds: max_fds(),
            resident_bytes: stat.and_then(|s| Some(s.rss_pages * page?)),
            virtual_bytes: stat.map(|s| s.vsize),
            cpu_seconds: stat.and_then(|s| Some((s.utime + s.stime) as f64 / ticks?)),
            start_time_seconds: stat.and_then(|s| Some(boot? as f64 + s.start as f64 / ticks?)),
        }
    }
}

/// The fields of `/proc/self/stat` used here (proc(5)), in their units: clock ticks, bytes,
/// pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    utime: u64,
    stime: u64,
    start: u64,
    vsize: u64,
    rss_pages: u64,
}

impl Stat {
    fn parse(text: &str) -> Option<Stat> {
        // The command name, field 2, is in parentheses and may hold spaces or parentheses:
        // the fields that follow start after the last `)`. They begin with field 3.
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(Stat {
            utime: field(14)?,
            stime: field(15)?,
            start: field(22)?,
            vsize: field(23)?,
            rss_pages: field(24)?,
        })
    }
}

/// The `btime` line of `/proc/stat`: when the machine booted, in seconds since the epoch.
fn boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf reads a constant.
    let value = unsafe { libc::sysconf(name) };
    u64::try_from(value).ok().filter(|&v| v > 0)
}

/// The soft limit on open files.
fn max_fds() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a live struct of the right type.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0).then_some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_found_after_a_command_name_with_spaces_and_parentheses() {
        let text = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 50 0 0 20 0 1 0 777 123456789 300 18446744073709551615 1 1 0 0 0";
        let stat = Stat::parse(text).unwrap();
        assert_eq!(
            stat,
            Stat {
                utime: 250,
                stime: 50,
                start: 777,
                vsize: 123456789,
                rss_pages: 300
            }
        );
        for broken in [
            "",
            "4242 (cut",
            "4242 (x) S 1 2",
            "1 (x) S z z z z z z z z z z z z",
        ] {
            assert_eq!(Stat::parse(broken), None, "{broken:?}");
        }
    }

    #[test]
    fn the_boot_time_is_the_btime_line() {
        assert_eq!(
            boot_time("cpu 1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1700000000)
        );
        assert_eq!(boot_time("cpu 1 2 3\n"), None);
    }

    #[test]
    fn this_process_reads_as_alive() {
        let me = Process::read();
        assert!(me.open_fds.unwrap() >= 3);
        assert!(me.max_fds.unwrap() >= me.open_fds.unwrap());
        assert!(me.resident_bytes.unwrap() > 0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = me.start_time_seconds.unwrap();
        assert!(started <= now + 1.0 && started > now - 86_400.0 * 365.0);
    }
}
