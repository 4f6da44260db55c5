//! The `tcpserve` command: parses arguments and dispatches to the library. Exit status: 0 done,
//! 1 failed (address in use, connection refused, ...), 2 bad command line.

use std::ffi::OsString;
use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use getopts::{Matches, Options};
use log::LevelFilter;

use tcpserve::bench;
use tcpserve::clients::{self, get, http, send};
use tcpserve::config::{self, Config, Model};
use tcpserve::logging::{self, access};
use tcpserve::{stop, Ending, Server};

const USAGE: &str = "\
usage: tcpserve <command> [options]

commands:
  serve    run the server
  send     send a message to an echo server and print the reply
  get      download a file from a files server
  bench    measure a server: echo, file or idle load

'tcpserve <command> --help' shows a command's options; 'tcpserve --version' the version.";

const SERVE_BRIEF: &str = "usage: tcpserve serve [--echo ADDR] [--files ADDR --root DIR] \
                           [--log DEST] [--access-log DEST] [options]";
const SEND_BRIEF: &str = "usage: tcpserve send ADDR [MESSAGE...] [--timeout SECS]";
const BENCH_BRIEF: &str = "usage: tcpserve bench echo ADDR [options]
       tcpserve bench file ADDR NAME [options]
       tcpserve bench idle ADDR --conns N [--pid PID] [options]
       tcpserve bench compare [--models LIST] [--conns LIST] [--sizes LIST] [--out DIR] [options]";
const GET_BRIEF: &str = "usage: tcpserve get ADDR NAME [-o PATH] [--force] [--timeout SECS]
       tcpserve get http://HOST[:PORT]/PATH [-o PATH] [--force] [--continue] [--timeout SECS]";

/// Below this a connection thread cannot run its service; smaller requests are raised to it.
const MIN_THREAD_STACK: usize = 16 * 1024;
/// At exit, queued log lines get at least this long to reach their destination.
const MIN_LOG_FLUSH: Duration = Duration::from_secs(1);

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    tcpserve::sys::keep_std_fds_open();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let command = args.first().map(|a| a.to_string_lossy().into_owned());
    let rest = args.get(1..).unwrap_or_default();
    match command.as_deref() {
        Some("serve") => serve_command(rest),
        Some("send") => {
            init_interactive_logging();
            send_command(rest)
        }
        Some("get") => {
            init_interactive_logging();
            get_command(rest)
        }
        Some("bench") => {
            init_interactive_logging();
            bench_command(rest)
        }
        Some("-h" | "--help" | "help") => {
            println!("tcpserve {}: a small TCP server\n\n{USAGE}", version());
            ExitCode::SUCCESS
        }
        Some("-V" | "--version") => {
            println!("tcpserve {}", version());
            ExitCode::SUCCESS
        }
        Some(other) => usage_error("", &format!("unknown command '{other}'"), USAGE),
        None => usage_error("", "no command given", USAGE),
    }
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// A bad command line: one line naming the fault, then the usage; exit 2.
fn usage_error(command: &str, message: &str, usage: &str) -> ExitCode {
    let command = if command.is_empty() {
        String::new()
    } else {
        format!(" {command}")
    };
    // Not eprintln!, which panics when stderr is closed: the exit status still tells.
    let _ = writeln!(io::stderr(), "tcpserve{command}: {message}\n{usage}");
    ExitCode::from(EXIT_USAGE)
}

fn failed(message: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(io::stderr(), "tcpserve: {message}");
    ExitCode::from(EXIT_FAILED)
}

fn serve_options() -> Options {
    let mut opts = Options::new();
    opts.optopt(
        "",
        "echo",
        &format!(
            "run the echo service on ADDR (default {})",
            config::DEFAULT_ECHO_ADDR
        ),
        "ADDR",
    );
    opts.optopt(
        "",
        "files",
        &format!(
            "run the file-download service on ADDR (default {})",
            config::DEFAULT_FILES_ADDR
        ),
        "ADDR",
    );
    opts.optopt(
        "",
        "root",
        "the directory the files service serves (default: the current directory)",
        "DIR",
    );
    opts.optopt(
        "",
        "name-wait",
        &format!(
            "files: a name sent with no newline is whole after MS quiet; 0 takes the first \
             read as the name (default {})",
            config::DEFAULT_NAME_WAIT.as_millis()
        ),
        "MS",
    );
    opts.optopt(
        "",
        "request-timeout",
        &format!(
            "files: close a client whose request is not whole after SECS (default {})",
            config::DEFAULT_REQUEST_TIMEOUT.as_secs()
        ),
        "SECS",
    );
    opts.optopt(
        "",
        "idle-timeout",
        &format!(
            "close a connection that moves no byte for SECS (default {})",
            config::DEFAULT_IDLE_TIMEOUT.as_secs()
        ),
        "SECS",
    );
    opts.optopt(
        "",
        "max-conns",
        "most connections open at once; over it a client is accepted and closed at once \
         (default: the open-file limit less a reserve)",
        "N",
    );
    opts.optopt(
        "",
        "buffer",
        &format!(
            "most unsent bytes held per connection, e.g. 65536 or 64K (default {}K)",
            config::DEFAULT_BUFFER / 1024
        ),
        "BYTES",
    );
    opts.optopt(
        "",
        "shutdown-timeout",
        &format!(
            "on SIGINT/SIGTERM, wait up to SECS for work in flight (default {})",
            config::DEFAULT_SHUTDOWN_TIMEOUT.as_secs()
        ),
        "SECS",
    );
    opts.optopt(
        "",
        "model",
        "how connections are served: reactor (one event loop), threads (a thread per \
         connection) or iterative (one client at a time) (default reactor)",
        "MODEL",
    );
    opts.optopt(
        "",
        "thread-stack",
        &format!(
            "threads model: each connection thread's stack, e.g. 64K (default {}K)",
            config::DEFAULT_THREAD_STACK / 1024
        ),
        "BYTES",
    );
    opts.optopt(
        "",
        "log",
        "where diagnostics go: - (stderr), a file (appended to; SIGHUP or SIGUSR1 reopens \
         it), or off (default -)",
        "DEST",
    );
    opts.optopt(
        "",
        "access-log",
        "where the access log goes, one line per request: -, a file, or off (default -)",
        "DEST",
    );
    opts.optopt(
        "",
        "access-log-format",
        "the access log's lines: common, combined (adds Referer and User-Agent) or json \
         (default common)",
        "FORMAT",
    );
    opts.optflagmulti("v", "verbose", "log more: -v debug, -vv trace");
    opts.optflag(
        "q",
        "quiet",
        "log only warnings and errors (the access log's ordinary lines too)",
    );
    opts.optflag("h", "help", "show this help");
    opts
}

fn serve_command(args: &[OsString]) -> ExitCode {
    let opts = serve_options();
    let brief = SERVE_BRIEF;
    let matches = match opts.parse(args) {
        Ok(m) => m,
        Err(e) => return usage_error("serve", &e.to_string(), brief),
    };
    if matches.opt_present("help") {
        println!(
            "{}\n\nWith no service option every service runs on its default address; \
             with some, only those run.\nSIGINT or SIGTERM stops gracefully; a second one \
             stops at once.",
            opts.usage(brief)
        );
        return ExitCode::SUCCESS;
    }
    if let Some(extra) = matches.free.first() {
        return usage_error("serve", &format!("unexpected argument '{extra}'"), brief);
    }
    let (config, log_options) = match (serve_config(&matches), log_options(&matches)) {
        (Ok(c), Ok(l)) => (c, l),
        (Err(message), _) | (_, Err(message)) => return usage_error("serve", &message, brief),
    };
    let log = match logging::init(&log_options) {
        Ok(guard) => guard,
        Err(e) => return failed(e),
    };
    if let Err(e) = logging::reopen_on_signals() {
        return failed(format_args!("cannot handle signals: {e}"));
    }
    let server = match Server::bind(&config) {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    if let Err(e) = stop::forward_signals(&server.stopper()) {
        return failed(format_args!("cannot handle signals: {e}"));
    }
    let ended = server.run();
    // What is queued reaches its destination before exit, as long as the destination takes
    // it within the time work in flight had (a forced stop does not wait that long).
    let flush = match ended {
        Ok(Ending::Graceful) => config.shutdown_timeout.max(MIN_LOG_FLUSH),
        _ => MIN_LOG_FLUSH,
    };
    log.finish(Instant::now() + flush);
    match ended {
        Ok(Ending::Graceful) => ExitCode::SUCCESS,
        Ok(Ending::Forced) => ExitCode::from(EXIT_FAILED),
        Err(e) => failed(format_args!("the event loop failed: {e}")),
    }
}

fn serve_config(m: &Matches) -> Result<Config, String> {
    let mut config = Config::default();
    // No service named: every service on its default address. Some named: only those.
    if m.opt_present("echo") || m.opt_present("files") {
        config.echo = None;
        config.files = None;
    }
    if let Some(addr) = m.opt_str("echo") {
        config.echo = Some(parse_addr("--echo", &addr)?);
    }
    if let Some(addr) = m.opt_str("files") {
        config.files = Some(parse_addr("--files", &addr)?);
    }
    if let Some(dir) = m.opt_str("root") {
        config.root = dir.into();
    }
    if let Some(v) = m.opt_str("name-wait") {
        config.name_wait = parse_millis("--name-wait", &v)?;
    }
    if let Some(v) = m.opt_str("request-timeout") {
        config.request_timeout = parse_secs("--request-timeout", &v, false)?;
    }
    if let Some(v) = m.opt_str("idle-timeout") {
        config.idle_timeout = parse_secs("--idle-timeout", &v, false)?;
    }
    if let Some(v) = m.opt_str("max-conns") {
        config.max_conns = Some(parse_count("--max-conns", &v)?);
    }
    if let Some(v) = m.opt_str("buffer") {
        config.buffer = parse_size("--buffer", &v)?;
    }
    if let Some(v) = m.opt_str("model") {
        config.model = Model::from_name(&v)
            .ok_or_else(|| format!("--model: '{v}' is not one of reactor, threads, iterative"))?;
    }
    if let Some(v) = m.opt_str("thread-stack") {
        config.thread_stack = parse_size("--thread-stack", &v)?.max(MIN_THREAD_STACK);
    }
    if let Some(v) = m.opt_str("shutdown-timeout") {
        config.shutdown_timeout = parse_secs("--shutdown-timeout", &v, true)?;
    }
    if let Some(v) = m.opt_str("access-log-format") {
        config.access_format = access::Format::from_name(&v).ok_or_else(|| {
            format!("--access-log-format: '{v}' is not one of common, combined, json")
        })?;
    }
    Ok(config)
}

/// The server's logs: `--log`, `--access-log`, `--access-log-format`, `-v`, `-q`.
fn log_options(m: &Matches) -> Result<logging::Options, String> {
    let dest = |flag: &str| match m.opt_str(flag) {
        Some(v) if v.is_empty() => Err(format!("--{flag}: give -, off or a file's path")),
        Some(v) => Ok(logging::parse_dest(&v)),
        None => Ok(Some(logging::Dest::Stderr)),
    };
    Ok(logging::Options {
        log: dest("log")?,
        access: dest("access-log")?,
        level: match (m.opt_present("quiet"), m.opt_count("verbose")) {
            (true, _) => LevelFilter::Warn,
            (false, 0) => LevelFilter::Info,
            (false, 1) => LevelFilter::Debug,
            (false, _) => LevelFilter::Trace,
        },
    })
}

/// The interactive commands log their few lines (warnings only) straight to stderr, in order
/// with what they print themselves: the server's queued logger is not for them.
fn init_interactive_logging() {
    // Fails only if a logger is already set, which nothing here does.
    let _ = simple_logger::SimpleLogger::new()
        .with_level(LevelFilter::Warn)
        .init();
}

/// `--timeout SECS` of the clients, default 10 s.
fn client_timeout(m: &Matches) -> Result<Duration, String> {
    match m.opt_str("timeout") {
        Some(v) => parse_secs("--timeout", &v, false),
        None => Ok(Duration::from_secs(10)),
    }
}

fn get_command(args: &[OsString]) -> ExitCode {
    let mut opts = Options::new();
    opts.optopt(
        "o",
        "output",
        "save as PATH (or inside PATH, if a directory)",
        "PATH",
    );
    opts.optflag(
        "f",
        "force",
        "overwrite an existing file; with a URL, also start over from an earlier partial one",
    );
    opts.optflag(
        "c",
        "continue",
        "URL only: resume DEST.part, or DEST itself, from its size (a Range request)",
    );
    opts.optopt(
        "",
        "timeout",
        "give up on connecting, or on a stalled transfer, after SECS (default 10)",
        "SECS",
    );
    opts.optflag("h", "help", "show this help");
    let brief = GET_BRIEF;
    let matches = match opts.parse(args) {
        Ok(m) => m,
        Err(e) => return usage_error("get", &e.to_string(), brief),
    };
    if matches.opt_present("help") {
        println!(
            "{}\n\nADDR NAME: sends NAME, saves what comes back until the server closes. URL: \
             an HTTP/1.1 GET, saved through DEST.part, which is kept if the download fails \
             and resumed by --continue. Without -o the file is saved under NAME's (the URL \
             path's) last component. The file appears only once the transfer ended cleanly; \
             an existing file is kept unless --force.",
            opts.usage(brief)
        );
        return ExitCode::SUCCESS;
    }
    let timeout = match client_timeout(&matches) {
        Ok(t) => t,
        Err(message) => return usage_error("get", &message, brief),
    };
    let output = matches.opt_str("output").map(std::path::PathBuf::from);
    let force = matches.opt_present("force");
    let progress = tcpserve::sys::stderr_is_terminal();
    let (addr, name) = match matches.free.as_slice() {
        [url] if url.contains("://") => {
            let options = http::Options {
                force,
                resume: matches.opt_present("continue"),
                timeout,
                progress,
            };
            return get_url(url, output.as_deref(), &options);
        }
        [url, ..] if url.contains("://") => {
            return usage_error("get", "expected one URL and nothing after it", brief)
        }
        [addr, name] => (addr, name),
        _ => return usage_error("get", "expected ADDR and NAME, or an http:// URL", brief),
    };
    if matches.opt_present("continue") {
        let message = "--continue needs an http:// URL: the raw protocol has no ranges";
        return usage_error("get", message, brief);
    }
    let Some(dest) = get::destination(name, output.as_deref()) else {
        let message = format!("cannot name a file after '{name}': give -o PATH");
        return usage_error("get", &message, brief);
    };
    let mut stream = match clients::connect(addr, timeout) {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    match get::download(&mut stream, name, &dest, force, progress) {
        Ok(saved) if saved.bytes == 0 => {
            eprintln!(
                "tcpserve: saved {} with 0 bytes: the file is empty, or the server refused the \
                 name (the raw protocol cannot tell which; the server's log says)",
                saved.path.display()
            );
            ExitCode::SUCCESS
        }
        Ok(saved) => {
            eprintln!(
                "tcpserve: saved {} ({} bytes)",
                saved.path.display(),
                saved.bytes
            );
            ExitCode::SUCCESS
        }
        Err(e) => failed(e),
    }
}

/// `tcpserve get URL`: a bad URL or no file name is a usage error, the rest a failure.
fn get_url(url: &str, output: Option<&std::path::Path>, options: &http::Options) -> ExitCode {
    let url_text = url;
    let url = match http::Url::parse(url) {
        Ok(url) => url,
        Err(e) => return usage_error("get", &format!("{url_text}: {e}"), GET_BRIEF),
    };
    let Some(dest) = get::destination_for(url.file_name().as_deref(), output) else {
        let message = format!("cannot name a file after '{url_text}': give -o PATH");
        return usage_error("get", &message, GET_BRIEF);
    };
    let (saved, how) = match http::download(&url, &dest, options) {
        Ok(done) => done,
        Err(e) => return failed(e),
    };
    let path = saved.path.display();
    let bytes = saved.bytes;
    match how {
        http::How::AlreadyComplete => {
            eprintln!("tcpserve: {path} was already complete ({bytes} bytes)")
        }
        http::How::Resumed(held) => {
            eprintln!("tcpserve: saved {path} ({bytes} bytes, resumed after {held})")
        }
        http::How::Whole | http::How::Restarted => {
            eprintln!("tcpserve: saved {path} ({bytes} bytes)")
        }
    }
    ExitCode::SUCCESS
}

fn bench_options() -> Options {
    let mut opts = Options::new();
    let options: &[(&str, &str, &str)] = &[
        ("conns", "N", "connections (echo, file: default 50; idle: required); compare: a list (default 1,10,100,1000,10000)"),
        ("size", "BYTES", "echo: message size, e.g. 64 or 4K (default 64); file: the file's size, to check each download"),
        ("duration", "SECS", "measured time (default 10; compare 5; idle: how long connections may take, default 60)"),
        ("warmup", "SECS", "time before measuring (default 2; compare 1)"),
        ("threads", "N", "load threads, each an event loop (default: the cores)"),
        ("pid", "PID", "idle: the server's process id, to read its memory and threads"),
        ("models", "LIST", "compare: models, comma-separated (default reactor,threads,iterative)"),
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

fn bench_command(args: &[OsString]) -> ExitCode {
    let opts = bench_options();
    let brief = BENCH_BRIEF;
    let matches = match opts.parse(args) {
        Ok(m) => m,
        Err(e) => return usage_error("bench", &e.to_string(), brief),
    };
    if matches.opt_present("help") {
        println!(
            "{}\n\necho: closed loop; every byte checked. file: repeated downloads (name, \
             half-close, read to the end). idle: one round trip per connection, then held; \
             with --pid, the server's memory growth per connection and its threads.\n\
             Exit status 1 if any error, mismatched byte or short download.",
            opts.usage(brief)
        );
        return ExitCode::SUCCESS;
    }
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
    let models = parse_list(
        "--models",
        &list("models", "reactor,threads,iterative"),
        |f, v| {
            Model::from_name(v)
                .ok_or_else(|| format!("{f}: '{v}' is not one of reactor, threads, iterative"))
        },
    )?;
    let secs = |flag: &str, default: u64| match m.opt_str(flag) {
        Some(v) => parse_secs(&format!("--{flag}"), &v, true),
        None => Ok(Duration::from_secs(default)),
    };
    Ok(bench::compare::Matrix {
        models,
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

fn send_command(args: &[OsString]) -> ExitCode {
    let mut opts = Options::new();
    opts.optopt(
        "",
        "timeout",
        "give up on connecting or on a reply after SECS (default 10)",
        "SECS",
    );
    opts.optflag("h", "help", "show this help");
    let brief = SEND_BRIEF;
    let matches = match opts.parse(args) {
        Ok(m) => m,
        Err(e) => return usage_error("send", &e.to_string(), brief),
    };
    if matches.opt_present("help") {
        println!(
            "{}\n\nWith MESSAGE, sends it (words joined by spaces) and prints the reply; exits 0 \
             if the reply equals it.\nWithout, sends each line of standard input and prints \
             each reply.",
            opts.usage(brief)
        );
        return ExitCode::SUCCESS;
    }
    let timeout = match client_timeout(&matches) {
        Ok(t) => t,
        Err(message) => return usage_error("send", &message, brief),
    };
    let Some((addr, words)) = matches.free.split_first() else {
        return usage_error("send", "missing ADDR", brief);
    };
    let mut stream = match clients::connect(addr, timeout) {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let stdout = io::stdout();
    let result = if words.is_empty() {
        send::lines(&mut stream, &mut io::stdin().lock(), &mut stdout.lock())
    } else {
        send::once(&mut stream, words.join(" ").as_bytes(), &mut stdout.lock())
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => failed("the reply differs from what was sent"),
        Err(e) => failed(e),
    }
}

fn parse_addr(flag: &str, value: &str) -> Result<SocketAddr, String> {
    value
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("{flag}: '{value}' is not an address like 127.0.0.1:8080"))
}

/// Seconds, fractions allowed; zero only where `zero_ok`.
fn parse_secs(flag: &str, value: &str, zero_ok: bool) -> Result<Duration, String> {
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
fn parse_millis(flag: &str, value: &str) -> Result<Duration, String> {
    match value.parse::<u32>() {
        Ok(ms) => Ok(Duration::from_millis(ms.into())),
        Err(_) => Err(format!(
            "{flag}: '{value}' is not a whole number of milliseconds"
        )),
    }
}

fn parse_count(flag: &str, value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag}: '{value}' is not a whole number above 0")),
    }
}

/// Bytes, with an optional K/KiB or M/MiB suffix (powers of 1024), from 1 byte to 1 GiB.
fn parse_size(flag: &str, value: &str) -> Result<usize, String> {
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
