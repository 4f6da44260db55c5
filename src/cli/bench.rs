//! `tcpserve bench`: one load against a server, or every model compared.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use getopts::{Matches, Options};

use super::{
    failed, parse_addr, parse_args, parse_count, parse_secs, parse_size, usage_error, EXIT_FAILED,
};
use crate::bench;
use crate::bench::compare::{Design, DEFAULT_DESIGNS};

const BENCH_BRIEF: &str = "usage: tcpserve bench echo ADDR [options]
       tcpserve bench file ADDR NAME [options]
       tcpserve bench idle ADDR --conns N [--pid PID] [options]
       tcpserve bench compare [--models LIST] [--conns LIST] [--sizes LIST] [--out DIR] [options]";
fn bench_options() -> Options {
    let mut opts = Options::new();
    let models = format!(
        "compare: designs, comma-separated: a model, with :N for the reactor's workers or the \
         pool's size (default {DEFAULT_DESIGNS})"
    );
    let options: &[(&str, &str, &str)] = &[
        ("conns", "N", "connections (echo, file: default 50; idle: required); compare: a list (default 1,10,100,1000,10000)"),
        ("size", "BYTES", "echo: message size, e.g. 64 or 4K (default 64); file: the file's size, to check each download"),
        ("duration", "SECS", "measured time (default 10; compare 5; idle: how long connections may take, default 60)"),
        ("warmup", "SECS", "time before measuring (default 2; compare 1)"),
        ("threads", "N", "load threads, each an event loop (default: the cores)"),
        ("pid", "PID", "idle: the server's process id, to read its memory and threads"),
        ("models", "LIST", &models),
        ("sizes", "LIST", "compare: echo message sizes (default 64,4096)"),
        ("file-size", "BYTES", "compare: the downloaded file's size (default 1M)"),
        ("file-conns", "N", "compare: connections for the file load (default 50)"),
        ("out", "DIR", "compare: where results.csv, report.md and the charts go (default bench-out)"),
    ];
    for (name, hint, text) in options {
        opts.optopt("", name, text, hint);
    }
    opts.optflag("h", "help", "show this help");
    opts
}

/// What `--help` says after the options.
const ABOUT: &str = "echo: closed loop; every byte checked. file: repeated downloads (name, \
     half-close, read to the end). idle: one round trip per connection, then held; \
     with --pid, the server's memory growth per connection and its threads.\n\
     Exit status 1 if any error, mismatched byte or short download.";

/// `tcpserve bench`, from its arguments to its exit status.
pub fn command(args: &[OsString]) -> ExitCode {
    let opts = bench_options();
    let brief = BENCH_BRIEF;
    let matches = match parse_args("bench", &opts, args, brief, ABOUT) {
        Ok(m) => m,
        Err(done) => return done,
    };
    if matches.free.first().map(String::as_str) == Some("compare") {
        return bench_compare(&matches, brief);
    }
    let plan = match bench_plan(&matches) {
        Ok(p) => p,
        Err(message) => return usage_error("bench", &message, brief),
    };
    let pid = match matches.opt_str("pid").map(|v| v.parse::<u32>()) {
        Some(Ok(pid)) => Some(pid),
        Some(Err(_)) => return usage_error("bench", "--pid: not a process id", brief),
        None => None,
    };
    if let Err(message) = bench::fit_descriptors(plan.conns) {
        return failed(message);
    }
    let (tally, cost) = match bench::single(&plan, pid) {
        Ok(r) => r,
        Err(e) => return failed(format_args!("bench: {e}")),
    };
    print!("{}", bench::report::text(&plan, &tally));
    if let Some(cost) = cost {
        println!(
            "  server memory  {:.0} bytes per connection ({} held), {} threads",
            cost.bytes_per_conn, cost.held, cost.threads
        );
    }
    if tally.errors + tally.mismatched + tally.stalled > 0 {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

fn bench_compare(m: &Matches, brief: &str) -> ExitCode {
    let matrix = match compare_matrix(m) {
        Ok(x) => x,
        Err(message) => return usage_error("bench", &message, brief),
    };
    let most = matrix.conns.iter().copied().max().unwrap_or(0);
    if let Err(message) = bench::fit_descriptors(most.max(matrix.file_conns)) {
        return failed(message);
    }
    match bench::compare::run(&matrix) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failed(format_args!("bench compare: {e}")),
    }
}

/// A comma-separated list, each item parsed by `parse`.
fn parse_list<T>(
    flag: &str,
    value: &str,
    parse: impl Fn(&str, &str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let items: Result<Vec<T>, String> = value.split(',').map(|v| parse(flag, v.trim())).collect();
    match items {
        Ok(items) if !items.is_empty() => Ok(items),
        Ok(_) => Err(format!("{flag}: empty list")),
        Err(e) => Err(e),
    }
}

fn compare_matrix(m: &Matches) -> Result<bench::compare::Matrix, String> {
    if let Some(extra) = m.free.get(1) {
        return Err(format!("unexpected argument '{extra}'"));
    }
    let list = |flag: &str, default: &str| m.opt_str(flag).unwrap_or_else(|| default.into());
    let designs = designs("--models", &list("models", DEFAULT_DESIGNS))?;
    let secs = |flag: &str, default: u64| match m.opt_str(flag) {
        Some(v) => parse_secs(&format!("--{flag}"), &v, true),
        None => Ok(Duration::from_secs(default)),
    };
    Ok(bench::compare::Matrix {
        designs,
        conns: parse_list(
            "--conns",
            &list("conns", "1,10,100,1000,10000"),
            parse_count,
        )?,
        sizes: parse_list("--sizes", &list("sizes", "64,4096"), |f, v| {
            echo_size(f, parse_size(f, v)?)
        })?,
        file_size: parse_size("--file-size", &list("file-size", "1M"))?,
        file_conns: parse_count("--file-conns", &list("file-conns", "50"))?,
        duration: secs("duration", 5)?,
        warmup: secs("warmup", 1)?,
        threads: match m.opt_str("threads") {
            Some(v) => parse_count("--threads", &v)?,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
        out: list("out", "bench-out").into(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    })
}

/// A list of designs (`reactor,reactor:2,pool:16`), each once: two rows of one name could not
/// be told apart.
fn designs(flag: &str, value: &str) -> Result<Vec<Design>, String> {
    let designs = parse_list(flag, value, |f, v| {
        Design::parse(v).map_err(|e| format!("{f}: {e}"))
    })?;
    for (i, d) in designs.iter().enumerate() {
        if designs[..i].contains(d) {
            return Err(format!("{flag}: '{}' is listed twice", d.label()));
        }
    }
    Ok(designs)
}

/// An echo message must fit the sockets' buffers: the generator writes a whole message
/// before reading its echo, so a larger one could fill both directions and stall.
fn echo_size(flag: &str, size: usize) -> Result<usize, String> {
    if size > bench::load::MAX_ECHO_MESSAGE {
        return Err(format!(
            "{flag}: echo messages are at most {} bytes",
            bench::load::MAX_ECHO_MESSAGE
        ));
    }
    Ok(size)
}

fn bench_plan(m: &Matches) -> Result<bench::load::Plan, String> {
    use bench::load::{Load, Plan};
    let (mode, rest) = m.free.split_first().ok_or("missing echo, file or idle")?;
    let addr = rest.first().ok_or("missing ADDR")?;
    let target = parse_addr("ADDR", addr)?;
    let size = m
        .opt_str("size")
        .map(|v| parse_size("--size", &v))
        .transpose()?;
    let conns = m
        .opt_str("conns")
        .map(|v| parse_count("--conns", &v))
        .transpose()?;
    let (load, conns, extra) = match mode.as_str() {
        "echo" => (
            Load::Echo {
                size: echo_size("--size", size.unwrap_or(64))?,
            },
            conns.unwrap_or(50),
            1,
        ),
        "file" => {
            let name = rest.get(1).ok_or("missing NAME")?;
            let size = size.map(|s| s as u64);
            (
                Load::File {
                    name: name.as_bytes().to_vec(),
                    size,
                },
                conns.unwrap_or(50),
                2,
            )
        }
        "idle" => (Load::Idle, conns.ok_or("idle needs --conns N")?, 1),
        other => return Err(format!("unknown load '{other}' (echo, file or idle)")),
    };
    if let Some(extra) = rest.get(extra) {
        return Err(format!("unexpected argument '{extra}'"));
    }
    let secs = |flag: &str, default: u64| match m.opt_str(flag) {
        Some(v) => parse_secs(&format!("--{flag}"), &v, true),
        None => Ok(Duration::from_secs(default)),
    };
    let idle = matches!(load, Load::Idle);
    let threads = match m.opt_str("threads") {
        Some(v) => parse_count("--threads", &v)?,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    Ok(Plan {
        target,
        sources: bench::sources(target, &load, conns),
        load,
        conns,
        threads,
        // Idle: no warm-up, and the duration bounds how long the connections may take.
        warmup: if idle {
            Duration::ZERO
        } else {
            secs("warmup", 2)?
        },
        duration: secs("duration", if idle { 60 } else { 10 })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpserve::Model;

    #[test]
    fn design_lists() {
        let d = |model, count| Design { model, count };
        let good: &[(&str, &[Design])] = &[
            (
                DEFAULT_DESIGNS,
                &[
                    d(Model::Reactor, None),
                    d(Model::Reactor, Some(2)),
                    d(Model::Threads, None),
                    d(Model::Pool, None),
                    d(Model::Iterative, None),
                ],
            ),
            (
                "reactor,reactor:2,pool,pool:16,threads,iterative",
                &[
                    d(Model::Reactor, None),
                    d(Model::Reactor, Some(2)),
                    d(Model::Pool, None),
                    d(Model::Pool, Some(16)),
                    d(Model::Threads, None),
                    d(Model::Iterative, None),
                ],
            ),
            ("reactors", &[d(Model::Reactors, None)]),
            (
                "reactors:3, pool:1",
                &[d(Model::Reactors, Some(3)), d(Model::Pool, Some(1))],
            ),
            (
                "reactor:1,reactor",
                &[d(Model::Reactor, Some(1)), d(Model::Reactor, None)],
            ),
            ("pool:10000", &[d(Model::Pool, Some(10_000))]),
            ("reactor:1024", &[d(Model::Reactor, Some(1024))]),
        ];
        for (list, want) in good {
            assert_eq!(designs("--models", list).as_deref(), Ok(*want), "{list}");
        }
        let bad: &[(&str, &str)] = &[
            ("", "is not a design"),
            ("reactor,,pool", "is not a design"),
            ("bogus", "'bogus' is not a design"),
            ("Reactor", "is not a design"),
            ("threads:4", "threads takes no count"),
            ("iterative:1", "iterative takes no count"),
            ("reactor:", "whole number from 1 to 1024"),
            ("reactor:0", "whole number from 1 to 1024"),
            ("reactor:x", "whole number from 1 to 1024"),
            ("reactor:-1", "whole number from 1 to 1024"),
            ("reactor:1025", "whole number from 1 to 1024"),
            ("pool:0", "whole number from 1 to 10000"),
            ("pool:10001", "whole number from 1 to 10000"),
            ("pool:2:3", "whole number"),
            ("reactor,pool,reactor", "'reactor' is listed twice"),
            ("pool:4,pool:4", "'pool:4' is listed twice"),
        ];
        for (list, why) in bad {
            match designs("--models", list) {
                Err(e) => assert!(
                    e.starts_with("--models: ") && e.contains(why),
                    "{list}: {e}"
                ),
                Ok(d) => panic!("{list} gave {d:?}"),
            }
        }
    }
}
