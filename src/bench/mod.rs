//! `tcpserve bench`: load generators for each service, and a side-by-side comparison of the
//! serving models with a report and charts.
//!
//! - [`load`]: the generator (event loops of client state machines).
//! - [`histogram`]: latency percentiles, log-linear buckets, written here.
//! - [`fairness`]: how evenly a load's operations were spread over its connections.
//! - [`proc`]: a server's memory, threads and CPU time, from `/proc`.
//! - [`perf`]: a server's system calls over a window, counted by `perf stat`, and judged.
//! - [`report`]: the text report of a run.
//! - [`svg`]: line charts, written directly as SVG.
//! - [`compare`]: every design (a model, with its workers or pool size) under the same loads,
//!   with a report and charts.

pub mod compare;
pub mod fairness;
pub mod histogram;
pub mod load;
pub mod perf;
pub mod proc;
pub mod report;
pub mod svg;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use load::{Load, Plan, Tally};

/// Connections one source address can hold to one server: a little under the ephemeral port
/// range (about 28,000 here), leaving room for everything else on the machine.
const CONNS_PER_SOURCE: usize = 20_000;
/// File loads reconnect for every download, and each closed connection holds its port for a
/// minute (TIME_WAIT): rotate over this many loopback sources.
const FILE_SOURCES: usize = 64;
/// Descriptors the generator keeps for itself beside its connections.
const OWN_FDS: u64 = 64;

/// Source addresses to spread a load over: none (the kernel chooses) unless the target is on
/// loopback and the load needs more ports than one address has.
pub fn sources(target: SocketAddr, load: &Load, conns: usize) -> Vec<IpAddr> {
    if !target.ip().is_loopback() || !target.is_ipv4() {
        return Vec::new();
    }
    let n = match load {
        Load::File { .. } => FILE_SOURCES,
        _ => conns.div_ceil(CONNS_PER_SOURCE),
    };
    if n <= 1 {
        return Vec::new();
    }
    (0..n as u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 1)) + i)))
        .collect()
}

/// Raises the open-file limit for `conns` connections; says why not if they cannot fit.
pub fn fit_descriptors(conns: usize) -> Result<u64, String> {
    let limit = tcpserve::sys::raise_fd_limit().map_err(|e| format!("open-file limit: {e}"))?;
    if conns as u64 + OWN_FDS > limit {
        return Err(format!(
            "{conns} connections need about {} descriptors, and the hard open-file limit is \
             {limit}: use fewer connections, or raise the hard limit",
            conns as u64 + OWN_FDS
        ));
    }
    Ok(limit)
}

/// What an idle load cost the server, read from `/proc` around the run.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdleCost {
    /// Server memory growth per held connection, bytes.
    pub bytes_per_conn: f64,
    pub threads: u64,
    pub held: u64,
}

impl IdleCost {
    /// The cost of an idle load between two readings of the server: its memory growth spread
    /// over the connections it held (those neither stalled nor failed), and its threads then.
    pub fn between(
        before: proc::Reading,
        after: proc::Reading,
        conns: usize,
        tally: &Tally,
    ) -> Self {
        let held = (conns as u64).saturating_sub(tally.stalled + tally.errors);
        IdleCost {
            bytes_per_conn: after.rss.saturating_sub(before.rss) as f64 / held.max(1) as f64,
            threads: after.threads,
            held,
        }
    }
}

/// Runs one load and returns its tally, and for an idle load with the server's `pid`, its cost.
pub fn single(plan: &Plan, pid: Option<u32>) -> io::Result<(Tally, Option<IdleCost>)> {
    let before = pid.map(proc::read).transpose()?;
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        if tcpserve::sys::stderr_is_terminal() {
            scope.spawn(|| progress(plan.warmup + plan.duration, &done));
        }
        let result = load::run_then(plan, || pid.map(proc::read).transpose());
        done.store(true, Ordering::Relaxed);
        let (tally, after) = result?;
        let cost = match (before, after?) {
            (Some(before), Some(after)) if matches!(plan.load, Load::Idle) => {
                Some(IdleCost::between(before, after, plan.conns, &tally))
            }
            _ => None,
        };
        Ok((tally, cost))
    })
}

/// A line on stderr, redrawn every second, until `done`.
fn progress(total: Duration, done: &AtomicBool) {
    let start = Instant::now();
    while !done.load(Ordering::Relaxed) {
        let elapsed = start.elapsed().as_secs_f64();
        eprint!(
            "\r  bench: {elapsed:.0} s of {:.0} s   ",
            total.as_secs_f64()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprint!("\r{:40}\r", "");
}
