//! `tcpserve bench compare`: the same echo, file and idle loads against a `tcpserve serve` child
//! of each model, interleaved (each load runs against every model before the next load starts,
//! so drift on a noisy machine hits them alike), with each server's own cost measured beside
//! its speed: CPU time per operation from `/proc/PID/stat`, and system calls per operation from
//! `perf stat -e raw_syscalls:sys_enter` where `perf` works here. Writes `results.csv`,
//! `report.md` and SVG charts.

use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::load::{self, Load, Plan, Tally};
use super::svg::{Chart, Series};
use super::{proc, report, sources, IdleCost};
use tcpserve::Model;

/// What to compare.
#[derive(Clone, Debug)]
pub struct Matrix {
    pub models: Vec<Model>,
    pub conns: Vec<usize>,
    pub sizes: Vec<usize>,
    pub file_size: usize,
    pub file_conns: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub threads: usize,
    pub out: PathBuf,
    /// The command line, for the report.
    pub command: String,
}

/// One load, run against every model in turn.
#[derive(Clone, Debug, PartialEq)]
enum Job {
    Echo { size: usize, conns: usize },
    File { conns: usize },
    Idle { conns: usize },
}

impl Job {
    fn name(&self) -> &'static str {
        match self {
            Job::Echo { .. } => "echo",
            Job::File { .. } => "file",
            Job::Idle { .. } => "idle",
        }
    }
    fn conns(&self) -> usize {
        match self {
            Job::Echo { conns, .. } | Job::File { conns } | Job::Idle { conns } => *conns,
        }
    }
    fn size(&self, file_size: usize) -> usize {
        match self {
            Job::Echo { size, .. } => *size,
            Job::File { .. } => file_size,
            Job::Idle { .. } => 1,
        }
    }
}

/// One row of results.
#[derive(Clone, Debug)]
struct Row {
    model: Model,
    job: Job,
    tally: Tally,
    cpu_us_per_op: Option<f64>,
    syscalls_per_op: Option<f64>,
    idle: Option<IdleCost>,
    /// Why the load could not finish, if it could not.
    unfinished: Option<String>,
}

const FILE_NAME: &str = "bench-file.bin";

pub fn run(m: &Matrix) -> io::Result<()> {
    std::fs::create_dir_all(&m.out)?;
    let root = m.out.join("root");
    std::fs::create_dir_all(&root)?;
    std::fs::write(root.join(FILE_NAME), super::load::pattern(m.file_size, 7))?;
    let perf = perf_works();
    if !perf {
        eprintln!(
            "bench compare: perf cannot count raw_syscalls:sys_enter here: no system call counts"
        );
    }
    let mut jobs = Vec::new();
    for &size in &m.sizes {
        jobs.extend(m.conns.iter().map(|&conns| Job::Echo { size, conns }));
    }
    jobs.push(Job::File {
        conns: m.file_conns,
    });
    jobs.extend(m.conns.iter().map(|&conns| Job::Idle { conns }));
    let mut rows = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        for &model in &m.models {
            eprintln!(
                "bench compare: [{}/{}] {} {} connections, {}",
                i + 1,
                jobs.len(),
                job.name(),
                job.conns(),
                model.name()
            );
            // A model that cannot run this load is a row that says so, not the end of the run.
            let row = run_one(m, model, job, &root, perf).unwrap_or_else(|e| Row {
                model,
                job: job.clone(),
                tally: Tally::default(),
                cpu_us_per_op: None,
                syscalls_per_op: None,
                idle: None,
                unfinished: Some(format!("could not run: {e}")),
            });
            eprintln!("  {}", summary(&row));
            rows.push(row);
        }
    }
    std::fs::write(m.out.join("results.csv"), csv(&rows, m.file_size))?;
    let charts = charts(&rows, m);
    for (file, chart) in &charts {
        std::fs::write(m.out.join(file), chart.render())?;
    }
    let names: Vec<&str> = charts.iter().map(|(f, _)| f.as_str()).collect();
    std::fs::write(m.out.join("report.md"), markdown(&rows, m, perf, &names))?;
    eprintln!("bench compare: wrote {}", m.out.display());
    Ok(())
}

/// A server child, killed when dropped.
struct ServerChild(Child);

impl Drop for ServerChild {
    fn drop(&mut self) {
        // SIGTERM, then at once SIGKILL: stops it whether or not it drains.
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two distinct free loopback ports: bind both to port 0, note them, let them go.
fn free_ports() -> io::Result<(SocketAddr, SocketAddr)> {
    let (a, b) = (
        TcpListener::bind("127.0.0.1:0")?,
        TcpListener::bind("127.0.0.1:0")?,
    );
    Ok((a.local_addr()?, b.local_addr()?))
}

fn start_server(
    model: Model,
    root: &Path,
    log: &Path,
) -> io::Result<(ServerChild, SocketAddr, SocketAddr)> {
    let (echo, files) = free_ports()?;
    let exe = std::env::current_exe()?;
    let child = Command::new(exe)
        .args(["serve", "--model", model.name(), "-q"])
        .args(["--echo", &echo.to_string(), "--files", &files.to_string()])
        .arg("--root")
        .arg(root)
        .args(["--max-conns", "19000", "--idle-timeout", "600"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()?;
    let mut server = ServerChild(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    for addr in [echo, files] {
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = server.0.try_wait() {
                let why = format!(
                    "the {} server exited ({status}); see {}",
                    model.name(),
                    log.display()
                );
                return Err(io::Error::other(why));
            }
            if Instant::now() > deadline {
                let why = format!("the {} server did not start", model.name());
                return Err(io::Error::other(why));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok((server, echo, files))
}

fn run_one(m: &Matrix, model: Model, job: &Job, root: &Path, perf: bool) -> io::Result<Row> {
    let log = m.out.join(format!("server-{}.log", model.name()));
    let (server, echo, files) = start_server(model, root, &log)?;
    let pid = server.0.id();
    let (target, load) = match job {
        Job::Echo { size, .. } => (echo, Load::Echo { size: *size }),
        Job::File { .. } => (
            files,
            Load::File {
                name: FILE_NAME.as_bytes().to_vec(),
                size: Some(m.file_size as u64),
            },
        ),
        Job::Idle { .. } => (echo, Load::Idle),
    };
    let idle = matches!(load, Load::Idle);
    let plan = Plan {
        target,
        sources: sources(target, &load, job.conns()),
        load,
        conns: job.conns(),
        threads: m.threads,
        warmup: if idle { Duration::ZERO } else { m.warmup },
        duration: m.duration,
    };
    // Sample the server's CPU (and count its system calls) over the measured window only.
    let window = std::thread::scope(|scope| {
        let sampler = (!idle).then(|| scope.spawn(|| sample_window(pid, &plan, perf)));
        let before = proc::read(pid);
        let result = load::run_then(&plan, || proc::read(pid));
        (result, before, sampler.map(|s| s.join().ok().flatten()))
    });
    drop(server);
    let (result, before, sampled) = window;
    let (tally, after) = result?;
    let (cpu_us_per_op, syscalls_per_op) = match sampled.flatten() {
        Some((ticks, syscalls)) if tally.ops > 0 => (
            Some(ticks as f64 * 1e6 / proc::ticks_per_second() as f64 / tally.ops as f64),
            syscalls.map(|n| n as f64 / tally.ops as f64),
        ),
        _ => (None, None),
    };
    let idle_cost = match (idle, before, after) {
        (true, Ok(before), Ok(after)) => {
            let held = (plan.conns as u64).saturating_sub(tally.stalled + tally.errors);
            Some(IdleCost {
                bytes_per_conn: after.rss.saturating_sub(before.rss) as f64 / held.max(1) as f64,
                threads: after.threads,
                held,
            })
        }
        _ => None,
    };
    let unfinished = (tally.stalled > 0).then(|| {
        format!(
            "{} of {} connections never completed an operation",
            tally.stalled, plan.conns
        )
    });
    Ok(Row {
        model,
        job: job.clone(),
        tally,
        cpu_us_per_op,
        syscalls_per_op,
        idle: idle_cost,
        unfinished,
    })
}

/// The server's CPU ticks, and its system calls if `perf` works, over the measured window.
fn sample_window(pid: u32, plan: &Plan, perf: bool) -> Option<(u64, Option<u64>)> {
    std::thread::sleep(plan.warmup);
    let counting = perf.then(|| {
        Command::new("perf")
            .args([
                "stat",
                "-x,",
                "-e",
                "raw_syscalls:sys_enter",
                "-p",
                &pid.to_string(),
            ])
            .args([
                "--",
                "sleep",
                &format!("{:.3}", plan.duration.as_secs_f64()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok()
    });
    let start = proc::read(pid).ok()?;
    std::thread::sleep(plan.duration);
    let end = proc::read(pid).ok()?;
    let syscalls = counting.flatten().and_then(|child| {
        let out = child.wait_with_output().ok()?;
        let text = String::from_utf8_lossy(&out.stderr);
        text.lines()
            .find(|l| l.contains("raw_syscalls:sys_enter"))
            .and_then(|l| l.split(',').next())
            .and_then(|n| n.trim().parse().ok())
    });
    Some((end.cpu_ticks.saturating_sub(start.cpu_ticks), syscalls))
}

/// Whether `perf stat` can count system calls here (it needs kernel support and permission).
fn perf_works() -> bool {
    Command::new("perf")
        .args(["stat", "-x,", "-e", "raw_syscalls:sys_enter", "--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stderr).contains("raw_syscalls"))
        .unwrap_or(false)
}

fn summary(row: &Row) -> String {
    let t = &row.tally;
    let cost = row
        .cpu_us_per_op
        .map_or(String::new(), |c| format!(", {c:.1} µs CPU/op"));
    let calls = row
        .syscalls_per_op
        .map_or(String::new(), |c| format!(", {c:.2} syscalls/op"));
    let idle = row.idle.map_or(String::new(), |c| {
        format!(
            ", {:.0} bytes/conn, {} threads",
            c.bytes_per_conn, c.threads
        )
    });
    let unfinished = row
        .unfinished
        .as_deref()
        .map_or(String::new(), |u| format!(" (did not finish: {u})"));
    format!(
        "{} ops/s, p99 {}{cost}{calls}{idle}, errors {}{unfinished}",
        report::count(t.rate()),
        report::duration(t.latency.value_at_quantile(0.99)),
        t.errors
    )
}

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1e3)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or(String::new(), |v| format!("{v:.digits$}"))
}

fn csv(rows: &[Row], file_size: usize) -> String {
    let mut out = String::from(
        "model,load,size_bytes,conns,ops_per_s,mb_per_s,p50_us,p90_us,p99_us,p999_us,max_us,\
         first_byte_p50_us,first_byte_p99_us,connect_p50_us,errors,mismatched,stalled,\
         cpu_us_per_op,syscalls_per_op,mem_bytes_per_conn,server_threads,finished\n",
    );
    for r in rows {
        let t = &r.tally;
        let q = |h: &super::histogram::Histogram, q: f64| us(h.value_at_quantile(q));
        let _ = writeln!(
            out,
            "{},{},{},{},{:.1},{:.2},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.model.name(),
            r.job.name(),
            r.job.size(file_size),
            r.job.conns(),
            t.rate(),
            t.throughput() / 1e6,
            q(&t.latency, 0.5),
            q(&t.latency, 0.9),
            q(&t.latency, 0.99),
            q(&t.latency, 0.999),
            us(t.latency.max()),
            q(&t.first_byte, 0.5),
            q(&t.first_byte, 0.99),
            q(&t.connect, 0.5),
            t.errors,
            t.mismatched,
            t.stalled,
            opt(r.cpu_us_per_op, 2),
            opt(r.syscalls_per_op, 2),
            opt(r.idle.map(|c| c.bytes_per_conn), 0),
            r.idle.map_or(String::new(), |c| c.threads.to_string()),
            r.unfinished.is_none()
        );
    }
    out
}

/// The reactor's row for the same job, for ratios.
fn reactor_row<'a>(rows: &'a [Row], job: &Job) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.model == Model::Reactor && &r.job == job)
}

fn ratio(value: Option<f64>, base: Option<f64>) -> String {
    match (value, base) {
        (Some(v), Some(b)) if b > 0.0 => format!("{:.2}x", v / b),
        _ => "–".into(),
    }
}

fn markdown(rows: &[Row], m: &Matrix, perf: bool, charts: &[&str]) -> String {
    let mut out = String::new();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let _ = writeln!(out, "# tcpserve bench compare\n");
    let _ = writeln!(out, "Command: `{}`\n", m.command);
    let _ = writeln!(
        out,
        "Machine: {cores} cores, Linux {}. The load generator ran in the same machine ({} \
         threads), sharing its cores with the server. Each row: a fresh `tcpserve serve` child; \
         {} warm-up, then {} measured. Ratios are to `reactor` in this run. CPU is the server's \
         user+system time over the measured window, per operation.{}\n",
        kernel.trim(),
        m.threads,
        secs(m.warmup),
        secs(m.duration),
        if perf {
            " System calls: `perf stat -e raw_syscalls:sys_enter -p PID` over the same window."
        } else {
            " System calls: not counted (perf cannot count raw_syscalls:sys_enter here)."
        }
    );
    let mut last = None;
    for r in rows {
        let job = (r.job.name(), r.job.size(m.file_size));
        if last != Some(job) {
            let _ = writeln!(out, "\n## {} ({} bytes)\n", job.0, job.1);
            let _ = writeln!(
                out,
                "| model | conns | ops/s | vs reactor | MB/s | p50 | p99 | p99 vs reactor | CPU µs/op | CPU vs reactor | syscalls/op | bytes/conn | threads | errors | note |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
            );
            last = Some(job);
        }
        let t = &r.tally;
        let base = reactor_row(rows, &r.job);
        let p99 = t.latency.value_at_quantile(0.99);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.model.name(),
            r.job.conns(),
            report::count(t.rate()),
            ratio(Some(t.rate()), base.map(|b| b.tally.rate())),
            t.throughput() / 1e6,
            report::duration(t.latency.value_at_quantile(0.5)),
            report::duration(p99),
            ratio(
                Some(p99 as f64),
                base.map(|b| b.tally.latency.value_at_quantile(0.99) as f64)
            ),
            opt(r.cpu_us_per_op, 1),
            ratio(r.cpu_us_per_op, base.and_then(|b| b.cpu_us_per_op)),
            opt(r.syscalls_per_op, 2),
            opt(r.idle.map(|c| c.bytes_per_conn), 0),
            r.idle.map_or(String::new(), |c| c.threads.to_string()),
            t.errors + t.mismatched,
            r.unfinished
                .as_deref()
                .map_or(String::new(), |u| format!("did not finish: {u}"))
        );
    }
    let _ = writeln!(out, "\n## Charts\n");
    for chart in charts {
        let _ = writeln!(out, "![{chart}]({chart})\n");
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// One line per model across connection counts, for each measure worth a chart.
fn charts(rows: &[Row], m: &Matrix) -> Vec<(String, Chart)> {
    let series = |job: &dyn Fn(&Job) -> bool, value: &dyn Fn(&Row) -> Option<f64>| -> Vec<Series> {
        m.models
            .iter()
            .map(|&model| Series {
                name: model.name().to_string(),
                points: rows
                    .iter()
                    .filter(|r| r.model == model && job(&r.job) && r.unfinished.is_none())
                    .filter_map(|r| Some((r.job.conns() as f64, value(r)?)))
                    .collect(),
            })
            .collect()
    };
    let chart = |title: String, y: &str, y_log: bool, series: Vec<Series>| Chart {
        title,
        x_label: "connections".into(),
        y_label: y.into(),
        x_log: true,
        y_log,
        series,
    };
    let mut out = Vec::new();
    for &size in &m.sizes {
        let echo = move |j: &Job| matches!(j, Job::Echo { size: s, .. } if *s == size);
        out.push((
            format!("echo-{size}-throughput.svg"),
            chart(
                format!("Echo {size} B: round trips per second"),
                "round trips/s",
                false,
                series(&echo, &|r| Some(r.tally.rate())),
            ),
        ));
        out.push((
            format!("echo-{size}-p99.svg"),
            chart(
                format!("Echo {size} B: p99 latency"),
                "p99 latency (µs)",
                true,
                series(&echo, &|r| {
                    Some(r.tally.latency.value_at_quantile(0.99) as f64 / 1e3)
                }),
            ),
        ));
        if rows.iter().any(|r| r.syscalls_per_op.is_some()) {
            out.push((
                format!("echo-{size}-syscalls.svg"),
                chart(
                    format!("Echo {size} B: server system calls per round trip"),
                    "system calls per round trip",
                    false,
                    series(&echo, &|r| r.syscalls_per_op),
                ),
            ));
        }
        out.push((
            format!("echo-{size}-cpu.svg"),
            chart(
                format!("Echo {size} B: server CPU per round trip"),
                "CPU µs per round trip",
                true,
                series(&echo, &|r| r.cpu_us_per_op),
            ),
        ));
    }
    let idle = |j: &Job| matches!(j, Job::Idle { .. });
    out.push((
        "idle-memory.svg".into(),
        chart(
            "Idle connections: server memory per connection".into(),
            "bytes per connection",
            true,
            series(&idle, &|r| r.idle.map(|c| c.bytes_per_conn.max(1.0))),
        ),
    ));
    out
}
