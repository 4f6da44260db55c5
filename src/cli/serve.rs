//! `tcpserve serve`: the server's options, its logs, and running it until it stops.

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use getopts::{Matches, Options};
use log::LevelFilter;

use super::activation::{self, Service as Passed};
use super::user;
use super::{
    failed, parse_addr, parse_args, parse_count, parse_millis, parse_secs, parse_size, usage_error,
    EXIT_FAILED,
};
use tcpserve::http::headers;
use tcpserve::logging::{self, access};
use tcpserve::{defaults, Builder, Ending, MimeTypes, Model, Server, StartError};

const SERVE_BRIEF: &str = "usage: tcpserve serve [--echo ADDR] [--files ADDR --root DIR] \
                           [--user USER[:GROUP]] [--log DEST] [--access-log DEST] [options]";
/// Where the services listen when no service option is given.
const DEFAULT_ECHO: &str = "127.0.0.1:8080";
const DEFAULT_FILES: &str = "127.0.0.1:8081";
/// At exit, queued log lines get at least this long to reach their destination.
const MIN_LOG_FLUSH: Duration = Duration::from_secs(1);

fn serve_options() -> Options {
    let mut opts = Options::new();
    opts.optmulti(
        "",
        "echo",
        &format!(
            "run the echo service on ADDR; repeat for more addresses (default {DEFAULT_ECHO})"
        ),
        "ADDR",
    );
    opts.optmulti(
        "",
        "files",
        &format!(
            "run the file-download service on ADDR; repeat for more addresses (default \
             {DEFAULT_FILES})"
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
            defaults::NAME_WAIT.as_millis()
        ),
        "MS",
    );
    opts.optopt(
        "",
        "request-timeout",
        &format!(
            "files: close a client whose request is not whole after SECS (default {})",
            defaults::REQUEST_TIMEOUT.as_secs()
        ),
        "SECS",
    );
    opts.optopt(
        "",
        "idle-timeout",
        &format!(
            "close a connection that moves no byte for SECS (default {})",
            defaults::IDLE_TIMEOUT.as_secs()
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
            defaults::BUFFER / 1024
        ),
        "BYTES",
    );
    opts.optopt(
        "",
        "shutdown-timeout",
        &format!(
            "on SIGINT/SIGTERM, wait up to SECS for work in flight (default {})",
            defaults::SHUTDOWN_TIMEOUT.as_secs()
        ),
        "SECS",
    );
    opts.optopt(
        "",
        "shutdown-delay",
        "on the first SIGINT/SIGTERM, serve on for SECS with /health failing (so a balancer \
         sends clients elsewhere), then drain (default 0)",
        "SECS",
    );
    opts.optmulti(
        "",
        "metrics",
        "serve GET /metrics (Prometheus) and GET /health on ADDR; repeat for more addresses \
         (default: none)",
        "ADDR",
    );
    opts.optopt(
        "",
        "model",
        "how connections are served: reactor (one event loop), reactors (one per core), \
         threads (a thread per connection), pool (a fixed pool of threads, one connection each \
         at a time) or iterative (one client at a time) (default reactor)",
        "MODEL",
    );
    opts.optopt(
        "",
        "workers",
        "reactor: run N reactors side by side, each with its own socket on every address \
         (SO_REUSEPORT); auto: one per core (default 1; the reactors model: auto)",
        "N|auto",
    );
    opts.optopt(
        "",
        "pool-size",
        "pool model: how many threads serve, one connection each at a time (default: four per \
         core)",
        "N",
    );
    opts.optopt(
        "",
        "thread-stack",
        &format!(
            "threads and pool models: each serving thread's stack, e.g. 64K (default {}K)",
            defaults::THREAD_STACK / 1024
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
    opts.optmulti(
        "",
        "header",
        "files over HTTP: add this field to every response (CORS, Cache-Control, security \
         headers); repeat for more. With Access-Control-Allow-Origin, OPTIONS is answered 204 \
         (a CORS preflight) and Vary: Origin is added unless the origin is *",
        "'NAME: VALUE'",
    );
    opts.optmulti(
        "",
        "error-page",
        "files over HTTP: answer errors of CODE (400, 403, 404, 414 or 500) with FILE, a path \
         under the root, keeping the status; repeat for more codes",
        "CODE=FILE",
    );
    opts.optopt(
        "",
        "spa",
        "files over HTTP: a single-page app; a GET for a missing path with no extension gets \
         FILE, a path under the root, with 200",
        "FILE",
    );
    opts.optopt(
        "",
        "mime-types",
        "files: Content-Types by extension from FILE (the /etc/mime.types format), before the \
         built-in table (the system's own is never read unless named)",
        "FILE",
    );
    opts.optflag(
        "",
        "proxy-protocol",
        "behind a load balancer: every connection starts with a PROXY protocol header (v1 or \
         v2), whose client is the one served and logged; without one it is closed",
    );
    opts.optflag(
        "",
        "precompressed",
        "HTTP: serve a.js.br, a.js.zst or a.js.gz for a.js to clients that accept the coding, \
         if no older than a.js",
    );
    opts.optflag(
        "",
        "listing",
        "files over HTTP: answer a directory without index.html with a listing of its \
         entries (HTML, or JSON for Accept: application/json); dot-files are never listed",
    );
    opts.optopt(
        "",
        "user",
        "once the sockets are bound and the logs open, run as USER (and GROUP, else the \
         user's own); names or numbers",
        "USER[:GROUP]",
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

/// What `--help` says after the options.
const ABOUT: &str = "With no service option and no socket passed by systemd (LISTEN_FDS, \
     named echo or files by LISTEN_FDNAMES), every service runs on its default address; \
     otherwise only those named and passed run.\nSIGINT or SIGTERM stops gracefully; a second \
     one stops at once.";

/// `tcpserve serve`, from its arguments to its exit status.
pub fn command(args: &[OsString]) -> ExitCode {
    let opts = serve_options();
    let brief = SERVE_BRIEF;
    let matches = match parse_args("serve", &opts, args, brief, ABOUT) {
        Ok(m) => m,
        Err(done) => return done,
    };
    if let Some(extra) = matches.free.first() {
        return usage_error("serve", &format!("unexpected argument '{extra}'"), brief);
    }
    // First, before any thread: it takes the sockets out of the environment.
    let passed = match activation::take() {
        Ok(passed) => passed,
        Err(e) => return failed(format_args!("socket activation: {e}")),
    };
    let (served, log_options) = match (serve_config(&matches, passed), log_options(&matches)) {
        (Ok(c), Ok(l)) => (c, l),
        (Err(message), _) | (_, Err(message)) => return usage_error("serve", &message, brief),
    };
    let identity = match matches.opt_str("user").map(|spec| user::resolve(&spec)) {
        Some(Err(message)) => return usage_error("serve", &message, brief),
        Some(Ok(identity)) => Some(identity),
        None => None,
    };
    let log = match logging::init(&log_options) {
        Ok(guard) => guard,
        Err(e) => return failed(e),
    };
    if let Err(e) = logging::reopen_on_signals() {
        return failed(format_args!("cannot handle signals: {e}"));
    }
    let Served {
        builder,
        shutdown_timeout,
        files_root,
    } = served;
    let server = match builder.bind() {
        Ok(s) => s,
        // The builder's own checks of what the command line gave: usage errors too.
        Err(e @ (StartError::Page(_) | StartError::Header(_))) => {
            return usage_error("serve", &e.to_string(), brief)
        }
        Err(e) => return failed(e),
    };
    match &identity {
        Some(identity) => {
            if let Err(e) = user::become_user(identity) {
                return failed(e);
            }
            // Checked as the user: the directory was checked as root when it was opened.
            if let Some(root) = &files_root {
                if let Err(e) = user::can_serve(root) {
                    return failed(format_args!(
                        "files: cannot serve {root} as {identity}: {e}"
                    ));
                }
            }
            log::info!("running as {identity}");
        }
        None if user::is_root() => {
            log::warn!(
                "serving as root: --user USER would drop to an unprivileged user after binding"
            )
        }
        None => {}
    }
    if let Err(e) = server.stopper().stop_on_signals() {
        return failed(format_args!("cannot handle signals: {e}"));
    }
    let ended = server.run();
    // What is queued reaches its destination before exit, as long as the destination takes
    // it within the time work in flight had (a forced stop does not wait that long).
    let flush = match ended {
        Ok(Ending::Graceful) => shutdown_timeout.max(MIN_LOG_FLUSH),
        _ => MIN_LOG_FLUSH,
    };
    log.finish(Instant::now() + flush);
    match ended {
        Ok(Ending::Graceful) => ExitCode::SUCCESS,
        Ok(Ending::Forced) => ExitCode::from(EXIT_FAILED),
        Err(e) => failed(format_args!("the event loop failed: {e}")),
    }
}

/// What `serve`'s options ask for: the server, and how long its shutdown may take (the logs
/// get as long to reach their destinations).
struct Served {
    builder: Builder,
    shutdown_timeout: Duration,
    /// The directory served, when files are.
    files_root: Option<String>,
}

fn serve_config(m: &Matches, passed: Vec<(Passed, TcpListener)>) -> Result<Served, String> {
    let mut builder = Server::builder();
    // No service named and no socket passed: every service on its default address. Else only
    // those named, and those passed.
    let (echo, files) = if m.opt_present("echo") || m.opt_present("files") || !passed.is_empty() {
        (m.opt_strs("echo"), m.opt_strs("files"))
    } else {
        (vec![DEFAULT_ECHO.into()], vec![DEFAULT_FILES.into()])
    };
    let root = m.opt_str("root").unwrap_or_else(|| ".".into());
    let files_root = (!files.is_empty() || passed.iter().any(|(s, _)| *s == Passed::Files))
        .then(|| root.clone());
    for (service, socket) in passed {
        builder = match service {
            Passed::Echo => builder.echo(socket),
            Passed::Files => builder.files(socket, &root),
        };
    }
    for addr in echo {
        builder = builder.echo(parse_addr("--echo", &addr)?);
    }
    for addr in files {
        builder = builder.files(parse_addr("--files", &addr)?, &root);
    }
    if let Some(v) = m.opt_str("name-wait") {
        builder = builder.name_wait(parse_millis("--name-wait", &v)?);
    }
    if let Some(v) = m.opt_str("request-timeout") {
        builder = builder.request_timeout(parse_secs("--request-timeout", &v, false)?);
    }
    if let Some(v) = m.opt_str("idle-timeout") {
        builder = builder.idle_timeout(parse_secs("--idle-timeout", &v, false)?);
    }
    if let Some(v) = m.opt_str("max-conns") {
        builder = builder.max_conns(parse_count("--max-conns", &v)?);
    }
    if let Some(v) = m.opt_str("buffer") {
        builder = builder.buffer(parse_size("--buffer", &v)?);
    }
    if let Some(v) = m.opt_str("model") {
        let model = Model::from_name(&v)
            .ok_or_else(|| format!("--model: '{v}' is not one of {}", model_names()))?;
        builder = builder.model(model);
    }
    if let Some(v) = m.opt_str("workers") {
        let n = match v.as_str() {
            "auto" => tcpserve::defaults::workers(),
            _ => parse_count("--workers", &v)?,
        };
        builder = builder.workers(n);
    }
    if let Some(v) = m.opt_str("pool-size") {
        builder = builder.pool_size(parse_count("--pool-size", &v)?);
    }
    if let Some(v) = m.opt_str("thread-stack") {
        builder = builder.thread_stack(parse_size("--thread-stack", &v)?);
    }
    let mut shutdown_timeout = defaults::SHUTDOWN_TIMEOUT;
    if let Some(v) = m.opt_str("shutdown-timeout") {
        shutdown_timeout = parse_secs("--shutdown-timeout", &v, true)?;
        builder = builder.shutdown_timeout(shutdown_timeout);
    }
    if let Some(v) = m.opt_str("shutdown-delay") {
        builder = builder.shutdown_delay(parse_secs("--shutdown-delay", &v, true)?);
    }
    for addr in m.opt_strs("metrics") {
        builder = builder.metrics(parse_addr("--metrics", &addr)?);
    }
    builder = builder.proxy_protocol(m.opt_present("proxy-protocol"));
    builder = custom_headers(builder, &m.opt_strs("header"))?;
    builder = builder.precompressed(m.opt_present("precompressed"));
    builder = builder.listing(m.opt_present("listing"));
    if let Some(v) = m.opt_str("access-log-format") {
        let format = access::Format::from_name(&v).ok_or_else(|| {
            format!("--access-log-format: '{v}' is not one of common, combined, json")
        })?;
        builder = builder.access_format(format);
    }
    let builder = pages_options(m, builder)?;
    Ok(Served {
        builder,
        shutdown_timeout,
        files_root,
    })
}

/// `--header`, each split and checked alone so that the refusal names the argument; the set
/// (one origin, the total size) is checked at bind, a usage error too.
fn custom_headers(mut builder: Builder, lines: &[String]) -> Result<Builder, String> {
    for line in lines {
        let (name, value) = headers::split(line).map_err(|e| format!("--header {line:?}: {e}"))?;
        builder = builder.header(name, value);
    }
    Ok(builder)
}

/// `--error-page`, `--spa` and `--mime-types` (the pages are checked at bind: a usage error
/// too).
fn pages_options(m: &Matches, mut builder: Builder) -> Result<Builder, String> {
    for spec in m.opt_strs("error-page") {
        let parsed = spec.split_once('=').and_then(|(code, file)| {
            let digits = code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit());
            (digits && !file.is_empty()).then(|| (code.parse().ok(), file))
        });
        let Some((Some(code), file)) = parsed else {
            return Err(format!(
                "--error-page: '{spec}' is not CODE=FILE (e.g. 404=404.html)"
            ));
        };
        builder = builder.error_page(code, file);
    }
    if let Some(file) = m.opt_str("spa") {
        builder = builder.spa(file);
    }
    if let Some(file) = m.opt_str("mime-types") {
        let types = MimeTypes::read(Path::new(&file)).map_err(|e| format!("--mime-types: {e}"))?;
        builder = builder.mime_types(types);
    }
    Ok(builder)
}

/// Every model's name, for a message.
fn model_names() -> String {
    let names: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
    names.join(", ")
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
