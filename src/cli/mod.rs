//! The command line's shared parts: how a bad command line and a failure are reported (exit
//! status 2 and 1), the parsers of addresses, durations, counts and sizes that every
//! subcommand's options use, and the interactive commands' logger. One module per subcommand
//! beside it holds that subcommand's options; `main.rs` only dispatches.

pub mod activation;
pub mod bench;
pub mod get;
pub mod send;
pub mod serve;
pub mod stats;
pub mod user;

use std::ffi::OsString;
use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use getopts::{Matches, Options};
use log::LevelFilter;

pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// A bad command line: one line naming the fault, then the usage; exit 2.
pub fn usage_error(command: &str, message: &str, usage: &str) -> ExitCode {
    let command = if command.is_empty() {
        String::new()
    } else {
        format!(" {command}")
    };
    // Not eprintln!, which panics when stderr is closed: the exit status still tells.
    let _ = writeln!(io::stderr(), "tcpserve{command}: {message}\n{usage}");
    ExitCode::from(EXIT_USAGE)
}

pub fn failed(message: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(io::stderr(), "tcpserve: {message}");
    ExitCode::from(EXIT_FAILED)
}

/// A subcommand's arguments parsed by `opts`. A bad command line is the usage error, and
/// `--help` prints the options and `about`: either ends the command, with the status given.
pub fn parse_args(
    command: &str,
    opts: &Options,
    args: &[OsString],
    brief: &str,
    about: &str,
) -> Result<Matches, ExitCode> {
    let matches = opts
        .parse(args)
        .map_err(|e| usage_error(command, &e.to_string(), brief))?;
    if matches.opt_present("help") {
        println!("{}\n\n{about}", opts.usage(brief));
        return Err(ExitCode::SUCCESS);
    }
    Ok(matches)
}

/// The interactive commands log their few lines (warnings only) straight to stderr, in order
/// with what they print themselves: the server's queued logger is not for them.
pub fn init_interactive_logging() {
    // Fails only if a logger is already set, which nothing here does.
    let _ = simple_logger::SimpleLogger::new()
        .with_level(LevelFilter::Warn)
        .init();
}

/// `--timeout SECS` of the clients, default 10 s.
pub fn client_timeout(m: &Matches) -> Result<Duration, String> {
    match m.opt_str("timeout") {
        Some(v) => parse_secs("--timeout", &v, false),
        None => Ok(Duration::from_secs(10)),
    }
}

pub fn parse_addr(flag: &str, value: &str) -> Result<SocketAddr, String> {
    value
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("{flag}: '{value}' is not an address like 127.0.0.1:8080"))
}

/// Seconds, fractions allowed; zero only where `zero_ok`.
pub fn parse_secs(flag: &str, value: &str, zero_ok: bool) -> Result<Duration, String> {
    let secs: f64 = value
        .parse()
        .map_err(|_| format!("{flag}: '{value}' is not a number of seconds"))?;
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) || (secs == 0.0 && !zero_ok) {
        let least = if zero_ok { "0" } else { "more than 0" };
        return Err(format!(
            "{flag}: '{value}' is out of range ({least} to 1e9 seconds)"
        ));
    }
    match Duration::try_from_secs_f64(secs) {
        // A value so small it rounds to nothing is zero too.
        Ok(d) if d.is_zero() && !zero_ok => Err(format!("{flag}: '{value}' rounds to zero")),
        Ok(d) => Ok(d),
        Err(_) => Err(format!("{flag}: '{value}' is out of range")),
    }
}

/// Whole milliseconds, zero allowed.
pub fn parse_millis(flag: &str, value: &str) -> Result<Duration, String> {
    match value.parse::<u32>() {
        Ok(ms) => Ok(Duration::from_millis(ms.into())),
        Err(_) => Err(format!(
            "{flag}: '{value}' is not a whole number of milliseconds"
        )),
    }
}

pub fn parse_count(flag: &str, value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag}: '{value}' is not a whole number above 0")),
    }
}

/// Bytes, with an optional K/KiB or M/MiB suffix (powers of 1024), from 1 byte to 1 GiB.
pub fn parse_size(flag: &str, value: &str) -> Result<usize, String> {
    let bad = || format!("{flag}: '{value}' is not a size from 1 byte to 1G, like 65536 or 64K");
    let lower = value.to_ascii_lowercase();
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => lower.split_at(i),
        None => (lower.as_str(), ""),
    };
    let multiplier: usize = match unit {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    let n: usize = digits.parse().map_err(|_| bad())?;
    match n.checked_mul(multiplier) {
        Some(bytes) if (1..=1 << 30).contains(&bytes) => Ok(bytes),
        _ => Err(bad()),
    }
}
