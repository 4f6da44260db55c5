//! `tcpserve stats`: a running server's metrics (its `--metrics ADDR` listener) as a short
//! table, once or every interval.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use getopts::Options;

use super::{client_timeout, failed, parse_args, parse_secs, usage_error};
use crate::clients::http::Url;
use crate::clients::stats::{self, Reading, StatsError};
use crate::clients::ClientError;

const STATS_BRIEF: &str = "usage: tcpserve stats ADDR [--interval SECS] [--watch] [--timeout SECS]";

/// What `--help` says after the options.
const ABOUT: &str = "Reads http://ADDR/metrics (the server's --metrics listener) twice, \
     --interval apart, and prints open connections and rates per service, HTTP requests by \
     status class, and dropped log lines. A rate is '-' where a counter went down (the server \
     restarted). With --watch, a table every interval until a reading fails (exit 1).";

/// `--interval` when not given.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// `tcpserve stats`, from its arguments to its exit status.
pub fn command(args: &[OsString]) -> ExitCode {
    let mut opts = Options::new();
    opts.optopt(
        "",
        "interval",
        "seconds between the readings a rate is taken over, fractions allowed (default 1)",
        "SECS",
    );
    opts.optflag(
        "w",
        "watch",
        "print a table every interval, a blank line between, until a reading fails",
    );
    opts.optopt(
        "",
        "timeout",
        "give up on connecting or on an answer after SECS (default 10)",
        "SECS",
    );
    opts.optflag("h", "help", "show this help");
    let brief = STATS_BRIEF;
    let matches = match parse_args("stats", &opts, args, brief, ABOUT) {
        Ok(m) => m,
        Err(done) => return done,
    };
    let timeout = client_timeout(&matches);
    let interval = matches
        .opt_str("interval")
        .map_or(Ok(DEFAULT_INTERVAL), |v| {
            parse_secs("--interval", &v, false)
        });
    let (timeout, interval) = match (timeout, interval) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(message), _) | (_, Err(message)) => return usage_error("stats", &message, brief),
    };
    let addr = match matches.free.as_slice() {
        [addr] => addr,
        [] => return usage_error("stats", "missing ADDR", brief),
        _ => return usage_error("stats", "expected one ADDR and nothing after it", brief),
    };
    let url = match stats::metrics_url(addr) {
        Ok(url) => url,
        Err(message) => return usage_error("stats", &message, brief),
    };
    let watch = Watch {
        url,
        timeout,
        interval,
    };
    match watch.run(matches.opt_present("watch")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failed(e),
    }
}

/// What to read and how often.
struct Watch {
    url: Url,
    timeout: Duration,
    interval: Duration,
}

/// A reading and when it came.
struct Taken {
    reading: Reading,
    at: Instant,
}

impl Watch {
    /// Prints one table, or with `forever` one every interval; returns at the first failure.
    /// Each table's rates are over the time between its reading and the one before, measured,
    /// so a slow answer does not skew them.
    fn run(&self, forever: bool) -> Result<(), StatsError> {
        let mut before = self.take()?;
        // Readings are due every interval from the first, not an interval after the last
        // table: a watch keeps its pace.
        let mut due = before.at + self.interval;
        let mut first = true;
        loop {
            thread::sleep(due.saturating_duration_since(Instant::now()));
            let after = self.take()?;
            let elapsed = after.at.duration_since(before.at);
            let table = stats::table(&before.reading, &after.reading, elapsed);
            print(if first { "" } else { "\n" }, &table)?;
            if !forever {
                return Ok(());
            }
            first = false;
            // After an answer slower than the interval, the next is due at once, not in a
            // burst to catch up.
            due = (due + self.interval).max(after.at);
            before = after;
        }
    }

    fn take(&self) -> Result<Taken, StatsError> {
        let reading = stats::fetch(&self.url, self.timeout)?;
        Ok(Taken {
            reading,
            at: Instant::now(),
        })
    }
}

/// Writes `gap` and `table` to stdout at once (a watch's reader sees whole tables); a closed
/// stdout is a failure like any other.
fn print(gap: &str, table: &str) -> Result<(), StatsError> {
    let mut out = io::stdout().lock();
    write!(out, "{gap}{table}")
        .and_then(|()| out.flush())
        .map_err(|error| {
            ClientError::Io {
                what: "writing the table",
                error,
            }
            .into()
        })
}
