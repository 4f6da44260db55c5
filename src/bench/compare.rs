//! `tcpserve bench compare`: the same echo, file and idle loads against a `tcpserve serve` child
//! of each design (a model, with its reactor workers or its pool's size: `reactor:2`,
//! `pool:16`), interleaved (each load runs against every design before the next load starts,
//! so drift on a noisy machine hits them alike), with each server's own cost measured beside
//! its speed: CPU time per operation from `/proc/PID/stat`, its threads from `/proc/PID/task`,
//! system calls per operation from `perf stat` where it works ([`perf`]), and how evenly it
//! served its connections ([`Fairness`]). Writes `results.csv`, `report.md` (opening with one
//! table of the designs, as Stevens' chapter on server designs compares them) and SVG charts.
//!
//! A figure that could not be taken, or that cannot be believed, is never printed as a number:
//! its cell says "not measured", its CSV cell is empty, and the report's notes say why.

use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::fairness::Fairness;
use super::load::{self, Load, Plan, Tally};
use super::svg::{Chart, Series};
use super::{perf, proc, report, sources, IdleCost};
use tcpserve::{defaults, Model};

/// The designs compared when `--models` is not given.
pub const DEFAULT_DESIGNS: &str = "reactor,reactor:2,threads,pool,iterative";

/// The connection count the design table is read at, when it was run.
const HEADLINE_CONNS: usize = 1000;

/// A server design: a model, and for the reactor its workers or for the pool its threads;
/// `None` leaves the server's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Design {
    pub model: Model,
    pub count: Option<usize>,
}

impl Design {
    /// A model's name with an optional `:COUNT`: `reactor`, `reactor:2`, `reactors`, `pool:16`.
    /// A count only where the model has one to set, and within what the server accepts, so a
    /// design the server would refuse is a usage error here rather than a failed row later.
    pub fn parse(text: &str) -> Result<Design, String> {
        let (name, count) = match text.split_once(':') {
            Some((name, count)) => (name, Some(count)),
            None => (text, None),
        };
        let model = Model::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
            format!(
                "'{text}' is not a design: one of {}, with :COUNT for the reactor's workers or \
                 the pool's size",
                names.join(", ")
            )
        })?;
        let Some(count) = count else {
            return Ok(Design { model, count: None });
        };
        let most = match model {
            Model::Reactor | Model::Reactors => defaults::MAX_WORKERS,
            Model::Pool => defaults::MAX_POOL,
            _ => {
                return Err(format!(
                    "'{text}': {} takes no count (a count is the reactor's workers or the \
                     pool's size)",
                    model.name()
                ))
            }
        };
        match count.parse::<usize>() {
            Ok(n) if (1..=most).contains(&n) => Ok(Design {
                model,
                count: Some(n),
            }),
            _ => Err(format!(
                "'{text}': the count must be a whole number from 1 to {most}"
            )),
        }
    }

    /// How rows, the CSV and charts name it: as it was written (`reactor:2`).
    pub fn label(&self) -> String {
        match self.count {
            Some(n) => format!("{}:{n}", self.model.name()),
            None => self.model.name().to_string(),
        }
    }

    /// The `serve` options that make a server of this design.
    fn serve_args(&self) -> Vec<String> {
        let mut args = vec!["--model".to_string(), self.model.name().to_string()];
        if let Some(n) = self.count {
            let flag = match self.model {
                Model::Pool => "--pool-size",
                _ => "--workers",
            };
            args.extend([flag.to_string(), n.to_string()]);
        }
        args
    }
}

/// What to compare.
#[derive(Clone, Debug)]
pub struct Matrix {
    pub designs: Vec<Design>,
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

/// One load, run against every design in turn.
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
    /// `echo 64 B, 1,000 connections`, for notes.
    fn describe(&self, file_size: usize) -> String {
        let conns = report::count(self.conns() as f64);
        match self {
            Job::Idle { .. } => format!("idle, {conns} connections"),
            _ => format!(
                "{} {} B, {conns} connections",
                self.name(),
                self.size(file_size)
            ),
        }
    }
}

/// A figure of a row: measured, not measured (and why), or not one this load has (CPU per
/// operation of an idle load).
#[derive(Clone, Debug, PartialEq)]
enum Figure {
    Measured(f64),
    Unmeasured(String),
    Inapplicable,
}

impl Figure {
    fn value(&self) -> Option<f64> {
        match self {
            Figure::Measured(v) => Some(*v),
            _ => None,
        }
    }

    /// The report's cell: the figure as `show` writes it, "not measured", or nothing.
    fn cell(&self, show: impl Fn(f64) -> String) -> String {
        match self {
            Figure::Measured(v) => show(*v),
            Figure::Unmeasured(_) => "not measured".into(),
            Figure::Inapplicable => String::new(),
        }
    }

    /// The CSV's cell: the figure, or empty.
    fn csv(&self, digits: usize) -> String {
        self.value()
            .map_or(String::new(), |v| format!("{v:.digits$}"))
    }
}

impl From<Result<f64, String>> for Figure {
    fn from(result: Result<f64, String>) -> Figure {
        result.map_or_else(Figure::Unmeasured, Figure::Measured)
    }
}

/// One row of results.
#[derive(Clone, Debug)]
struct Row {
    design: Design,
    job: Job,
    tally: Tally,
    /// Server CPU time per operation, µs.
    cpu_us_per_op: Figure,
    syscalls_per_op: Figure,
    /// The server's threads during the load.
    threads: Figure,
    /// Idle: server memory growth per held connection, bytes.
    bytes_per_conn: Figure,
    /// Idle: the connections held when the memory was read.
    held: u64,
    /// Why the load could not finish, if it could not.
    unfinished: Option<String>,
}

impl Row {
    /// How evenly the load's operations went to its connections; none for an idle load, whose
    /// connections make one round trip each.
    fn fairness(&self) -> Option<Fairness> {
        match self.job {
            Job::Idle { .. } => None,
            _ => self.tally.fairness(),
        }
    }

    /// The figures worth a note when they could not be taken, with their names.
    fn figures(&self) -> [(&'static str, &Figure); 4] {
        [
            ("CPU per operation", &self.cpu_us_per_op),
            ("system calls per operation", &self.syscalls_per_op),
            ("threads", &self.threads),
            ("memory per connection", &self.bytes_per_conn),
        ]
    }
}

const FILE_NAME: &str = "bench-file.bin";

pub fn run(m: &Matrix) -> io::Result<()> {
    std::fs::create_dir_all(&m.out)?;
    let root = m.out.join("root");
    std::fs::create_dir_all(&root)?;
    std::fs::write(root.join(FILE_NAME), super::load::pattern(m.file_size, 7))?;
    let perf = perf::available();
    if let Err(why) = &perf {
        eprintln!("bench compare: no system call counts: {why}");
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
        for &design in &m.designs {
            eprintln!(
                "bench compare: [{}/{}] {}, {}",
                i + 1,
                jobs.len(),
                job.describe(m.file_size),
                design.label()
            );
            // A design that cannot run this load is a row that says so, not the end of the run.
            let row = run_one(m, design, job, &root, &perf).unwrap_or_else(|e| {
                let why = Figure::Unmeasured(format!("the row could not run: {e}"));
                Row {
                    design,
                    job: job.clone(),
                    tally: Tally::default(),
                    cpu_us_per_op: why.clone(),
                    syscalls_per_op: why.clone(),
                    threads: why.clone(),
                    bytes_per_conn: why,
                    held: 0,
                    unfinished: Some(format!("could not run: {e}")),
                }
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
    std::fs::write(m.out.join("report.md"), markdown(&rows, m, &perf, &names))?;
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
    design: Design,
    root: &Path,
    log: &Path,
) -> io::Result<(ServerChild, SocketAddr, SocketAddr)> {
    let (echo, files) = free_ports()?;
    let exe = std::env::current_exe()?;
    let child = Command::new(exe)
        .arg("serve")
        .args(design.serve_args())
        .arg("-q")
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
                    design.label(),
                    log.display()
                );
                return Err(io::Error::other(why));
            }
            if Instant::now() > deadline {
                let why = format!("the {} server did not start", design.label());
                return Err(io::Error::other(why));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok((server, echo, files))
}

/// The generator's plan for `job` against a server listening on `echo` and `files`.
fn plan(m: &Matrix, job: &Job, echo: SocketAddr, files: SocketAddr) -> Plan {
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
    Plan {
        target,
        sources: sources(target, &load, job.conns()),
        load,
        conns: job.conns(),
        threads: m.threads,
        warmup: if idle { Duration::ZERO } else { m.warmup },
        duration: m.duration,
    }
}

fn run_one(
    m: &Matrix,
    design: Design,
    job: &Job,
    root: &Path,
    perf: &Result<(), String>,
) -> io::Result<Row> {
    let file_label = design.label().replace(':', "-");
    let log = m.out.join(format!("server-{file_label}.log"));
    let (server, echo, files) = start_server(design, root, &log)?;
    let pid = server.0.id();
    let plan = plan(m, job, echo, files);
    if matches!(plan.load, Load::Idle) {
        return idle_row(design, job, &plan, pid);
    }
    // Attached before the load, while the server has only its first threads (see perf.rs).
    let mut counter = perf.clone().and_then(|()| perf::Counter::attach(pid));
    let (result, window) = std::thread::scope(|scope| {
        let (plan, counting) = (&plan, counter.as_mut().ok());
        // The load starts its own clock a moment later: the sampler's window ends first.
        let opens = Instant::now() + plan.warmup;
        let sampler = scope.spawn(move || sample_window(pid, opens, plan.duration, counting));
        let result = load::run_then(plan, || ());
        let window = sampler
            .join()
            .unwrap_or_else(|_| Window::lost("the sampler panicked"));
        (result, window)
    });
    let printed = counter.and_then(|c| window.counted.clone().and_then(|()| c.finish()));
    drop(server);
    let (tally, ()) = result?;
    let ops = tally.ops;
    let cpu_us = window
        .cpu_ticks
        .map(|t| t as f64 * 1e6 / proc::ticks_per_second() as f64);
    Ok(Row {
        design,
        job: job.clone(),
        cpu_us_per_op: cpu_us
            .and_then(|us| match ops {
                0 => Err("no operation completed in the window".into()),
                ops => Ok(us / ops as f64),
            })
            .into(),
        syscalls_per_op: printed.and_then(|text| perf::per_op(&text, ops)).into(),
        threads: window.threads.map(|n| n as f64).into(),
        bytes_per_conn: Figure::Inapplicable,
        held: 0,
        unfinished: unfinished(&tally, plan.conns),
        tally,
    })
}

/// An idle load's row: the server's memory and threads once every connection holds.
fn idle_row(design: Design, job: &Job, plan: &Plan, pid: u32) -> io::Result<Row> {
    let before = proc::read(pid);
    let (tally, after) = load::run_then(plan, || proc::read(pid))?;
    let (bytes_per_conn, threads, held) = match (before, after) {
        (Ok(before), Ok(after)) => {
            let cost = IdleCost::between(before, after, plan.conns, &tally);
            let threads = Figure::Measured(cost.threads as f64);
            (Figure::Measured(cost.bytes_per_conn), threads, cost.held)
        }
        (Err(e), _) | (_, Err(e)) => {
            let why = Figure::Unmeasured(format!("cannot read /proc/{pid}: {e}"));
            (why.clone(), why, 0)
        }
    };
    Ok(Row {
        design,
        job: job.clone(),
        cpu_us_per_op: Figure::Inapplicable,
        syscalls_per_op: Figure::Inapplicable,
        threads,
        bytes_per_conn,
        held,
        unfinished: unfinished(&tally, plan.conns),
        tally,
    })
}

/// Why a load did not finish: connections that never completed an operation.
fn unfinished(tally: &Tally, conns: usize) -> Option<String> {
    (tally.stalled > 0).then(|| {
        format!(
            "{} of {conns} connections never completed an operation",
            tally.stalled
        )
    })
}

/// What the sampler saw of the server over the measured window.
struct Window {
    /// CPU time, in clock ticks.
    cpu_ticks: Result<u64, String>,
    /// Threads halfway through the window, every connection open.
    threads: Result<u64, String>,
    /// Whether perf counted over the window (`Ok` also when it was not asked to).
    counted: Result<(), String>,
}

impl Window {
    fn lost(why: &str) -> Window {
        Window {
            cpu_ticks: Err(why.into()),
            threads: Err(why.into()),
            counted: Err(why.into()),
        }
    }
}

/// Reads the server's CPU time over the window from `opens` for `duration`, with `perf` (if
/// attached) counting over the same span, and its threads halfway. Deadlines, not sleeps: a
/// slow answer from perf at the start must not push the readings past the load's end, when
/// the generator closes its connections and a threaded server's threads go with them.
fn sample_window(
    pid: u32,
    opens: Instant,
    duration: Duration,
    mut perf: Option<&mut perf::Counter>,
) -> Window {
    let sleep_until = |t: Instant| std::thread::sleep(t.saturating_duration_since(Instant::now()));
    sleep_until(opens);
    let mut counted = perf.as_deref_mut().map_or(Ok(()), perf::Counter::enable);
    let start = proc::read(pid);
    sleep_until(opens + duration / 2);
    let middle = proc::read(pid);
    sleep_until(opens + duration);
    if let (Ok(()), Some(perf)) = (&counted, perf) {
        counted = perf.disable();
    }
    let end = proc::read(pid);
    let unread = |e: io::Error| format!("cannot read /proc/{pid}: {e}");
    let (start, end) = (start.map_err(unread), end.map_err(unread));
    Window {
        cpu_ticks: start.and_then(|s| Ok(end?.cpu_ticks.saturating_sub(s.cpu_ticks))),
        threads: middle.map(|m| m.threads).map_err(unread),
        counted,
    }
}

fn summary(row: &Row) -> String {
    let t = &row.tally;
    // `, 3.1 µs CPU/op`, or `, CPU/op not measured`.
    let figure = |f: &Figure, digits: usize, unit: &str| match f {
        Figure::Inapplicable => String::new(),
        Figure::Unmeasured(_) => format!(", {unit} not measured"),
        Figure::Measured(v) => format!(", {v:.digits$} {unit}"),
    };
    let cpu = figure(&row.cpu_us_per_op, 1, "µs CPU/op");
    let calls = figure(&row.syscalls_per_op, 2, "syscalls/op");
    let threads = figure(&row.threads, 0, "threads");
    let memory = figure(&row.bytes_per_conn, 0, "bytes/conn");
    let spread = row.fairness().map_or(String::new(), |f| {
        format!(", per connection {}", report::spread(&f))
    });
    let unfinished = row
        .unfinished
        .as_deref()
        .map_or(String::new(), |u| format!(" (did not finish: {u})"));
    format!(
        "{} ops/s, p99 {}{cpu}{calls}{memory}{threads}{spread}, errors {}{unfinished}",
        report::count(t.rate()),
        report::duration(t.latency.value_at_quantile(0.99)),
        t.errors
    )
}

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1e3)
}

fn csv(rows: &[Row], file_size: usize) -> String {
    let mut out = String::from(
        "design,model,load,size_bytes,conns,ops_per_s,mb_per_s,p50_us,p90_us,p99_us,p999_us,\
         max_us,first_byte_p50_us,first_byte_p99_us,connect_p50_us,errors,mismatched,stalled,\
         conn_ops_min,conn_ops_median,conn_ops_max,jain,cpu_us_per_op,syscalls_per_op,\
         mem_bytes_per_conn,server_threads,finished\n",
    );
    for r in rows {
        let t = &r.tally;
        let q = |h: &super::histogram::Histogram, q: f64| us(h.value_at_quantile(q));
        let spread = match r.fairness() {
            None => ",,,".to_string(),
            Some(f) => format!(
                "{},{},{},{}",
                f.min,
                f.median,
                f.max,
                f.jain.map_or(String::new(), |j| format!("{j:.4}"))
            ),
        };
        let _ = writeln!(
            out,
            "{},{},{},{},{},{:.1},{:.2},{},{},{},{},{},{},{},{},{},{},{},{spread},{},{},{},{},{}",
            r.design.label(),
            r.design.model.name(),
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
            r.cpu_us_per_op.csv(2),
            r.syscalls_per_op.csv(2),
            r.bytes_per_conn.csv(0),
            r.threads.csv(0),
            r.unfinished.is_none()
        );
    }
    out
}

/// The design ratios are taken to: `reactor` if it ran, else the first.
fn base(m: &Matrix) -> Option<Design> {
    let reactor = Design {
        model: Model::Reactor,
        count: None,
    };
    m.designs
        .iter()
        .copied()
        .find(|&d| d == reactor)
        .or(m.designs.first().copied())
}

/// The row of `design` under `job`.
fn find<'a>(rows: &'a [Row], design: Design, job: &Job) -> Option<&'a Row> {
    rows.iter().find(|r| r.design == design && &r.job == job)
}

/// `value` over `base` as `1.79x`; below 0.1, to two significant digits (`0.0028x`), so a
/// small ratio never reads as zero.
fn ratio(value: Option<f64>, base: Option<f64>) -> String {
    match (value, base) {
        (Some(v), Some(b)) if b > 0.0 && v > 0.0 && v / b < 0.1 => {
            let digits = (-(v / b).log10()).ceil() as usize + 1;
            format!("{:.digits$}x", v / b)
        }
        (Some(v), Some(b)) if b > 0.0 => format!("{:.2}x", v / b),
        _ => "–".into(),
    }
}

/// The connection count the design table reads: 1,000 if it was run, else the most run.
fn headline_conns(m: &Matrix) -> usize {
    if m.conns.contains(&HEADLINE_CONNS) {
        HEADLINE_CONNS
    } else {
        m.conns.iter().copied().max().unwrap_or(0)
    }
}

/// p99 of the operations that completed, or that none did.
fn p99(t: &Tally) -> String {
    if t.latency.count() == 0 {
        return "no answer".into();
    }
    report::duration(t.latency.value_at_quantile(0.99))
}

/// Jain's index, and how many connections starved, if any did.
fn fairness_cell(t: &Tally) -> String {
    match t.fairness() {
        None => "–".into(),
        Some(f @ Fairness { starved: 1.., .. }) => format!(
            "{} ({} of {} starved)",
            report::jain(f.jain),
            report::count(f.starved as f64),
            report::count(f.conns as f64)
        ),
        Some(f) => report::jain(f.jain),
    }
}

/// Memory per idle connection, and over how many connections when not all were held.
fn memory_cell(row: &Row) -> String {
    let conns = row.job.conns() as u64;
    row.bytes_per_conn.cell(|b| match row.held {
        held if held < conns => format!(
            "{} B ({} of {} held)",
            report::count(b),
            report::count(held as f64),
            report::count(conns as f64)
        ),
        _ => format!("{} B", report::count(b)),
    })
}

/// The table the report opens with: one row per design, the figures that tell designs apart.
fn design_table(rows: &[Row], m: &Matrix) -> String {
    let mut out = String::new();
    let conns = headline_conns(m);
    let size = m.sizes.first().copied().unwrap_or(0);
    let (echo, idle) = (Job::Echo { size, conns }, Job::Idle { conns });
    let n = report::count(conns as f64);
    let _ = writeln!(
        out,
        "## The designs\n\nEcho of {size}-byte messages over {n} connections (threads, CPU, p99, \
         fairness) and {n} idle connections (memory). Threads: the server's, from \
         `/proc/PID/task` halfway through the measured window. Memory: the server's resident \
         memory growth per connection it held. p99 is over the operations that completed: a \
         starved connection's wait is not in it, its fairness is. Fairness: Jain's index over the \
         operations each connection completed, (Σx)² / (n·Σx²), 1 when all were served alike, \
         1/n when one connection had everything.\n"
    );
    let _ = writeln!(
        out,
        "| design | threads | memory per idle connection | CPU per operation | p99 at {n} \
         connections | fairness (Jain) |\n|---|---|---|---|---|---|"
    );
    for &design in &m.designs {
        let missing = || "did not run".to_string();
        let e = find(rows, design, &echo);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            design.label(),
            e.map_or_else(missing, |r| r.threads.cell(report::count)),
            find(rows, design, &idle).map_or_else(missing, memory_cell),
            e.map_or_else(missing, |r| r.cpu_us_per_op.cell(|c| format!("{c:.1} µs"))),
            e.map_or_else(missing, |r| p99(&r.tally)),
            e.map_or_else(missing, |r| fairness_cell(&r.tally)),
        );
    }
    out
}

fn markdown(rows: &[Row], m: &Matrix, perf: &Result<(), String>, charts: &[&str]) -> String {
    let mut out = String::new();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let base = base(m);
    let base_name = base.map_or("–".into(), |d| d.label());
    let _ = writeln!(out, "# tcpserve bench compare\n");
    let _ = writeln!(out, "Command: `{}`\n", m.command);
    out.push_str(&design_table(rows, m));
    let _ = writeln!(
        out,
        "\nMachine: {cores} cores, Linux {}. The load generator ran in the same machine ({} \
         threads), sharing its cores with the server. Each row: a fresh `tcpserve serve` child; \
         {} warm-up, then {} measured. Ratios are to `{base_name}` in this run. CPU is the \
         server's user+system time over the measured window, per operation. {} A figure that \
         could not be taken or believed reads \"not measured\" (the notes say why).",
        kernel.trim(),
        m.threads,
        secs(m.warmup),
        secs(m.duration),
        match perf {
            Ok(()) => format!(
                "System calls: `perf stat -e {} -p PID`, attached before the load and counting \
                 over the same window.",
                perf::EVENT
            ),
            Err(why) => format!("System calls: not counted ({why})."),
        }
    );
    let mut last = None;
    for r in rows {
        let job = (r.job.name(), r.job.size(m.file_size));
        if last != Some(job) {
            let heading = match r.job {
                Job::Idle { .. } => "idle".to_string(),
                _ => format!("{} ({} bytes)", job.0, job.1),
            };
            let _ = writeln!(out, "\n## {heading}\n");
            let _ = writeln!(
                out,
                "| design | conns | ops/s | vs {base_name} | MB/s | p50 | p99 | p99 vs {base_name} \
                 | CPU µs/op | CPU vs {base_name} | syscalls/op | ops per conn min / median / max \
                 | Jain | bytes/conn | threads | errors | note |\n\
                 |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
            );
            last = Some(job);
        }
        let t = &r.tally;
        let b = base.and_then(|d| find(rows, d, &r.job));
        let p99_of = |t: &Tally| t.latency.value_at_quantile(0.99) as f64;
        let (spread, jain) = match r.fairness() {
            None => (String::new(), String::new()),
            Some(f) => (
                format!(
                    "{} / {} / {}",
                    report::count(f.min as f64),
                    report::count(f.median as f64),
                    report::count(f.max as f64)
                ),
                report::jain(f.jain),
            ),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {spread} | {jain} | {} | {} | {} | {} |",
            r.design.label(),
            r.job.conns(),
            report::count(t.rate()),
            ratio(Some(t.rate()), b.map(|b| b.tally.rate())),
            t.throughput() / 1e6,
            report::duration(t.latency.value_at_quantile(0.5)),
            p99(t),
            ratio(
                (t.latency.count() > 0).then(|| p99_of(t)),
                b.map(|b| p99_of(&b.tally))
            ),
            r.cpu_us_per_op.cell(|c| format!("{c:.1}")),
            ratio(
                r.cpu_us_per_op.value(),
                b.and_then(|b| b.cpu_us_per_op.value())
            ),
            r.syscalls_per_op.cell(|c| format!("{c:.2}")),
            r.bytes_per_conn.cell(|c| format!("{c:.0}")),
            r.threads.cell(|n| format!("{n:.0}")),
            t.errors + t.mismatched,
            r.unfinished
                .as_deref()
                .map_or(String::new(), |u| format!("did not finish: {u}"))
        );
    }
    out.push_str(&notes(rows, m));
    let _ = writeln!(out, "\n## Charts\n");
    for chart in charts {
        let _ = writeln!(out, "![{chart}]({chart})\n");
    }
    out
}

/// Why each figure reading "not measured" was not: one line per reason, naming the figures
/// and rows it took (perf missing takes every row's system calls: one line, not one a row).
fn notes(rows: &[Row], m: &Matrix) -> String {
    let mut by_reason: Vec<(&str, Vec<String>)> = Vec::new();
    for r in rows {
        for (name, figure) in r.figures() {
            let Figure::Unmeasured(why) = figure else {
                continue;
            };
            let what = format!(
                "{name} of {}, {}",
                r.design.label(),
                r.job.describe(m.file_size)
            );
            match by_reason.iter_mut().find(|(w, _)| w == why) {
                Some((_, whats)) => whats.push(what),
                None => by_reason.push((why, vec![what])),
            }
        }
    }
    if by_reason.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n## Notes\n\nNot measured:\n\n");
    for (why, whats) in by_reason {
        let _ = writeln!(out, "- {why}: {}", whats.join("; "));
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// One line per design across connection counts, for each measure worth a chart. Rows whose
/// load did not finish are left out, but for fairness, which is what they show.
fn charts(rows: &[Row], m: &Matrix) -> Vec<(String, Chart)> {
    let lines = |job: &dyn Fn(&Job) -> bool,
                 value: &dyn Fn(&Row) -> Option<f64>,
                 finished_only: bool|
     -> Vec<Series> {
        m.designs
            .iter()
            .map(|&design| Series {
                name: design.label(),
                points: rows
                    .iter()
                    .filter(|r| r.design == design && job(&r.job))
                    .filter(|r| r.unfinished.is_none() || !finished_only)
                    .filter_map(|r| Some((r.job.conns() as f64, value(r)?)))
                    .collect(),
            })
            .collect()
    };
    let series =
        |job: &dyn Fn(&Job) -> bool, value: &dyn Fn(&Row) -> Option<f64>| lines(job, value, true);
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
        if rows.iter().any(|r| r.syscalls_per_op.value().is_some()) {
            out.push((
                format!("echo-{size}-syscalls.svg"),
                chart(
                    format!("Echo {size} B: server system calls per round trip"),
                    "system calls per round trip",
                    false,
                    series(&echo, &|r| r.syscalls_per_op.value()),
                ),
            ));
        }
        out.push((
            format!("echo-{size}-cpu.svg"),
            chart(
                format!("Echo {size} B: server CPU per round trip"),
                "CPU µs per round trip",
                true,
                series(&echo, &|r| r.cpu_us_per_op.value()),
            ),
        ));
        let fairness = |r: &Row| r.tally.fairness().and_then(|f| f.jain);
        out.push((
            format!("echo-{size}-fairness.svg"),
            chart(
                format!("Echo {size} B: fairness over connections (Jain's index)"),
                "Jain's index (1 = even)",
                false,
                lines(&echo, &fairness, false),
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
            series(&idle, &|r| r.bytes_per_conn.value().map(|b| b.max(1.0))),
        ),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_keep_two_significant_digits_when_small() {
        let cases = [
            (Some(179_453.0), Some(100_356.0), "1.79x"),
            (Some(76.0), Some(27_300.0), "0.0028x"),
            (Some(0.5), Some(5.0), "0.10x"),
            (Some(0.49), Some(5.0), "0.098x"),
            (Some(0.0), Some(5.0), "0.00x"),
            (Some(1.0), Some(0.0), "–"),
            (None, Some(1.0), "–"),
            (Some(1.0), None, "–"),
        ];
        for (v, b, want) in cases {
            assert_eq!(ratio(v, b), want, "{v:?} / {b:?}");
        }
    }

    #[test]
    fn each_design_starts_its_server_with_its_own_options() {
        let cases: &[(&str, &[&str])] = &[
            ("reactor", &["--model", "reactor"]),
            ("reactor:2", &["--model", "reactor", "--workers", "2"]),
            ("reactors", &["--model", "reactors"]),
            ("reactors:4", &["--model", "reactors", "--workers", "4"]),
            ("pool", &["--model", "pool"]),
            ("pool:16", &["--model", "pool", "--pool-size", "16"]),
            ("threads", &["--model", "threads"]),
            ("iterative", &["--model", "iterative"]),
        ];
        for (text, args) in cases {
            let design = Design::parse(text).unwrap();
            assert_eq!(design.label(), *text);
            assert_eq!(design.serve_args(), *args, "{text}");
        }
    }
}
