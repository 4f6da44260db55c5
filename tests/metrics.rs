//! The metrics listener (`--metrics`, `Builder::metrics`), on every model: the counters match
//! known traffic exactly; Prometheus' own checker (`promtool`, Debian's prometheus package)
//! accepts the text; `/health` fails from a stop request on while everything is still served
//! through the shutdown delay; the listener's requests stay out of the access log; and a table
//! of hostile requests to it, each answered with its status or closed.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::child::have;
use common::http::{closes_after, get, request, Client};
use common::serve::Server as Child;
use common::{connect, echo_once, read_to_end, start, wait_until, TempDir};
use tcpserve::{Ending, Model, Server};

per_model!(
    [reactor, reactors, threads, pool, iterative]
    counters_match_known_traffic,
    promtool_accepts_the_text_and_the_access_log_leaves_it_out,
    health_fails_from_a_stop_request_while_the_delay_serves_on,
    hostile_requests_get_their_status,
    a_head_that_never_ends_is_closed_at_the_request_timeout,
    an_idle_scraper_holds_no_server,
);

// A service that panics unwinds only its connection under the blocking models (the thread per
// connection ends; a pool's or the iterative thread goes on to the next client); the reactor's
// one thread would end.
per_model!([threads, pool, iterative] a_service_that_panics_is_counted_closed);

const FILE: &[u8] = b"the file's bytes\n";

/// The body of `GET /metrics` from `addr`.
fn scrape(addr: SocketAddr) -> String {
    let mut client = Client::connect(addr);
    let answer = client
        .exchange(&get("/metrics", &["Connection: close"]), false)
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.describe());
    let kind = answer.field("content-type").unwrap_or_default();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    String::from_utf8(answer.body).unwrap()
}

/// The value of the sample `series` (its name and labels, as written) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

/// `series`'s value, which must be there.
fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

fn served_dir(test: &str) -> TempDir {
    let dir = TempDir::new(test);
    std::fs::write(dir.join("a.txt"), FILE).unwrap();
    dir
}

fn counters_match_known_traffic(model: Model) {
    let dir = served_dir("metrics-counters");
    let server = start(
        Server::builder()
            .files(common::any_port(), dir.path())
            .echo(common::any_port())
            .metrics(common::any_port())
            .model(model),
    );
    let (files, echo) = (common::files_addr(&server), common::echo_addr(&server));
    let metrics = server.addr("metrics").unwrap();
    for target in ["/a.txt", "/a.txt", "/a.txt", "/missing", "/missing"] {
        let mut client = Client::connect(files);
        let answer = client.exchange(&get(target, &["Connection: close"]), false);
        assert!(answer.is_ok(), "{answer:?}");
    }
    let mut raw = connect(files);
    raw.write_all(b"a.txt\n").unwrap();
    assert_eq!(read_to_end(&mut raw), FILE);
    let sent = vec![b'e'; 1000];
    let mut stream = connect(echo);
    assert_eq!(echo_once(&mut stream, &sent), sent);
    drop((raw, stream));
    let mut text = String::new();
    wait_until("every client's connection to close", || {
        text = scrape(metrics);
        sample(&text, "tcpserve_connections_open{service=\"files\"}") == Some(0.0)
            && sample(&text, "tcpserve_connections_open{service=\"echo\"}") == Some(0.0)
    });
    let want: &[(&str, f64)] = &[
        (
            "tcpserve_http_requests_total{method=\"GET\",code=\"200\"}",
            3.0,
        ),
        (
            "tcpserve_http_requests_total{method=\"GET\",code=\"404\"}",
            2.0,
        ),
        ("tcpserve_http_request_duration_seconds_count", 5.0),
        ("tcpserve_raw_downloads_total{result=\"sent\"}", 1.0),
        ("tcpserve_raw_downloads_total{result=\"refused\"}", 0.0),
        (
            "tcpserve_connections_accepted_total{service=\"files\"}",
            6.0,
        ),
        ("tcpserve_connections_accepted_total{service=\"echo\"}", 1.0),
        (
            "tcpserve_connections_closed_total{service=\"echo\",reason=\"done\"}",
            1.0,
        ),
        ("tcpserve_bytes_received_total{service=\"echo\"}", 1000.0),
        ("tcpserve_bytes_sent_total{service=\"echo\"}", 1000.0),
        ("tcpserve_bytes_buffered{service=\"files\"}", 0.0),
        ("tcpserve_connections_open{service=\"metrics\"}", 1.0),
        (
            "tcpserve_connections_refused_total{service=\"files\",reason=\"max_conns\"}",
            0.0,
        ),
        ("tcpserve_accept_pauses_total", 0.0),
        ("tcpserve_draining", 0.0),
    ];
    for (series, n) in want {
        assert_eq!(value(&text, series), *n, "{series}\n{text}");
    }
    let closed: f64 = text
        .lines()
        .filter(|l| l.starts_with("tcpserve_connections_closed_total{service=\"files\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(closed, 6.0, "every files connection closed once:\n{text}");
    let build = format!(
        "tcpserve_build_info{{version=\"{}\",model=\"{}\"}}",
        env!("CARGO_PKG_VERSION"),
        model.name()
    );
    assert_eq!(value(&text, &build), 1.0);
    assert!(value(&text, "process_open_fds") > 0.0);
    assert!(value(&text, "process_resident_memory_bytes") > 0.0);
    // The program's view sums the same counts: every client and at least one scrape.
    let stats = server.stats();
    assert!(stats.accepted >= 8 && stats.refused == 0, "{stats}");
    server.stop();
    assert_eq!(server.join().unwrap(), Ending::Graceful);
}

fn promtool_accepts_the_text_and_the_access_log_leaves_it_out(model: Model) {
    if !have("promtool", "prometheus") {
        return;
    }
    let dir = served_dir("metrics-promtool");
    let access = dir.join("access.log");
    let root = dir.path().to_str().unwrap().to_string();
    let access_arg = access.to_str().unwrap().to_string();
    let mut server = Child::start(
        model,
        &[
            "--files",
            "127.0.0.1:0",
            "--root",
            &root,
            "--metrics",
            "127.0.0.1:0",
            "--access-log",
            &access_arg,
        ],
    );
    server.wait_for("metrics listening on ");
    let (files, metrics) = (server.addrs("files")[0], server.addrs("metrics")[0]);
    let answer = Client::connect(files).exchange(&get("/a.txt", &["Connection: close"]), false);
    assert_eq!(answer.unwrap().status, 200);
    let answer = Client::connect(metrics).exchange(&get("/health", &["Connection: close"]), false);
    assert_eq!(answer.unwrap().body, b"ok\n");
    let text = scrape(metrics);
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop_gracefully();
    let log = std::fs::read_to_string(&access).unwrap();
    assert!(log.contains("GET /a.txt"), "{log}");
    assert!(
        !log.contains("/metrics") && !log.contains("/health"),
        "{log}"
    );
}

fn health_fails_from_a_stop_request_while_the_delay_serves_on(model: Model) {
    let dir = served_dir("metrics-health");
    let delay = Duration::from_secs(2);
    let server = start(
        Server::builder()
            .files(common::any_port(), dir.path())
            .metrics(common::any_port())
            .shutdown_delay(delay)
            .model(model),
    );
    let (files, metrics) = (common::files_addr(&server), server.addr("metrics").unwrap());
    let health = || {
        let mut client = Client::connect(metrics);
        let answer = client.exchange(&get("/health", &["Connection: close"]), false);
        let answer = answer.unwrap();
        (answer.status, String::from_utf8(answer.body).unwrap())
    };
    assert_eq!(health(), (200, "ok\n".into()));
    let stopped = Instant::now();
    server.stop();
    wait_until("/health to fail", || health().0 == 503);
    assert_eq!(health(), (503, "draining\n".into()));
    // Still serving, to new clients too, until the delay is over.
    let answer = Client::connect(files).exchange(&get("/a.txt", &["Connection: close"]), false);
    assert_eq!(answer.unwrap().body, FILE);
    assert_eq!(value(&scrape(metrics), "tcpserve_draining"), 1.0);
    assert_eq!(server.join().unwrap(), Ending::Graceful);
    assert!(
        stopped.elapsed() >= delay,
        "the delay was cut short: {:?}",
        stopped.elapsed()
    );
}

/// What the metrics listener answers to a request: its status, whether the answer has a body,
/// and whether the connection then closes.
struct Row {
    what: &'static str,
    request: Vec<u8>,
    status: u16,
    head_only: bool,
    closes: bool,
}

fn rows() -> Vec<Row> {
    let row = |what, request: Vec<u8>, status, closes| Row {
        what,
        request,
        status,
        head_only: false,
        closes,
    };
    let long_field = format!("X-Long: {}", "a".repeat(9 * 1024));
    vec![
        row("the metrics", get("/metrics", &[]), 200, false),
        row(
            "a query is ignored",
            get("/metrics?name[]=x", &[]),
            200,
            false,
        ),
        Row {
            head_only: true,
            ..row("HEAD: no body", request("HEAD", "/health", &[]), 200, false)
        },
        row(
            "HTTP/1.0 closes",
            b"GET /health HTTP/1.0\r\n\r\n".to_vec(),
            200,
            true,
        ),
        row("the root", get("/", &[]), 404, false),
        Row {
            head_only: true,
            ..row(
                "HEAD elsewhere: no body",
                request("HEAD", "/nope", &[]),
                404,
                false,
            )
        },
        row("a trailing slash", get("/metrics/", &[]), 404, false),
        row("dot segments", get("/x/../metrics", &[]), 404, false),
        row(
            "an absolute path elsewhere",
            get("/etc/passwd", &[]),
            404,
            false,
        ),
        row(
            "POST",
            request("POST", "/metrics", &["Content-Length: 0"]),
            405,
            false,
        ),
        row("DELETE", request("DELETE", "/health", &[]), 405, false),
        row(
            "HTTP/2.0",
            b"GET /health HTTP/2.0\r\n\r\n".to_vec(),
            505,
            true,
        ),
        row("HTTP/0.9", b"GET /health\r\n\r\n".to_vec(), 400, true),
        row(
            "a TLS hello",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(),
            400,
            true,
        ),
        row(
            "a bare LF",
            b"GET /health HTTP/1.1\nHost: x\n\n".to_vec(),
            400,
            true,
        ),
        row(
            "a head over 8 KiB",
            get("/health", &[&long_field]),
            431,
            true,
        ),
    ]
}

fn hostile_requests_get_their_status(model: Model) {
    let server = start(
        Server::builder()
            .echo(common::any_port())
            .metrics(common::any_port())
            .model(model),
    );
    let metrics = server.addr("metrics").unwrap();
    for row in rows() {
        let mut client = Client::connect(metrics);
        let answer = client.exchange(&row.request, row.head_only);
        let answer = answer.unwrap_or_else(|e| panic!("{}: {e}", row.what));
        assert_eq!(
            answer.status,
            row.status,
            "{}: {}",
            row.what,
            answer.describe()
        );
        if row.head_only {
            assert!(answer.body.is_empty(), "{}", row.what);
        }
        // The iterative model keeps a connection only for a request already there.
        if row.closes || model == Model::Iterative {
            closes_after(&mut client, &answer).unwrap_or_else(|e| panic!("{}: {e}", row.what));
        } else {
            // Kept open: a second request on the same connection is answered too.
            let again = client.exchange(&get("/health", &[]), false);
            assert_eq!(again.map(|a| a.status), Ok(200), "{}: after it", row.what);
        }
    }
    // Two requests in one write: two answers, in order.
    let mut both = get("/health", &[]);
    both.extend_from_slice(&get("/nope", &["Connection: close"]));
    let mut client = Client::connect(metrics);
    client.send(&both).unwrap();
    assert_eq!(client.response(false).unwrap().status, 200);
    let last = client.response(false).unwrap();
    assert_eq!(last.status, 404);
    closes_after(&mut client, &last).unwrap();
    server.stop();
    assert_eq!(server.join().unwrap(), Ending::Graceful);
}

fn a_head_that_never_ends_is_closed_at_the_request_timeout(model: Model) {
    let server = start(
        Server::builder()
            .echo(common::any_port())
            .metrics(common::any_port())
            .request_timeout(Duration::from_millis(300))
            .model(model),
    );
    let mut stream = connect(server.addr("metrics").unwrap());
    stream.write_all(b"GET /met").unwrap();
    let started = Instant::now();
    assert_eq!(read_to_end(&mut stream), b"", "closed without an answer");
    assert!(started.elapsed() < common::PATIENCE);
    let text = scrape(server.addr("metrics").unwrap());
    let series =
        "tcpserve_connections_closed_total{service=\"metrics\",reason=\"request_timeout\"}";
    assert_eq!(value(&text, series), 1.0, "{text}");
    server.stop();
    assert_eq!(server.join().unwrap(), Ending::Graceful);
}

/// A scraper that keeps its connection open between scrapes (as Prometheus does) must not hold
/// a server that serves one client at a time: under the iterative model its connection is
/// closed after each answer, as the files service's are.
fn an_idle_scraper_holds_no_server(model: Model) {
    let server = start(
        Server::builder()
            .echo(common::any_port())
            .metrics(common::any_port())
            .model(model),
    );
    let mut scraper = Client::connect(server.addr("metrics").unwrap());
    let answer = scraper.exchange(&get("/health", &[]), false).unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.says_close(),
        model == Model::Iterative,
        "{}",
        answer.describe()
    );
    // The scraper stays connected; a client of the echo service is served all the same.
    let mut stream = connect(common::echo_addr(&server));
    assert_eq!(echo_once(&mut stream, b"still served"), b"still served");
    drop((scraper, stream));
    server.stop();
    assert_eq!(server.join().unwrap(), Ending::Graceful);
}

/// Panics at its first byte of input.
struct Panics;

impl tcpserve::Service for Panics {
    fn on_ready(
        &mut self,
        io: &mut dyn tcpserve::Transport,
        cx: &mut tcpserve::Ctx<'_>,
    ) -> tcpserve::Next {
        match io.read(cx.scratch()) {
            Ok(0) => tcpserve::Next::Close(tcpserve::Reason::Done),
            Ok(_) => panic!("a program's bug"),
            Err(_) => tcpserve::Next::Wait,
        }
    }
}

fn a_service_that_panics_is_counted_closed(model: Model) {
    let server = start(
        Server::builder()
            .service("buggy", common::any_port(), || Panics)
            .metrics(common::any_port())
            .model(model),
    );
    let mut stream = connect(server.addr("buggy").unwrap());
    stream.write_all(b"boom").unwrap();
    assert_eq!(read_to_end(&mut stream), b"", "closed");
    let metrics = server.addr("metrics").unwrap();
    let mut text = String::new();
    wait_until("the panic to be counted", || {
        text = scrape(metrics);
        sample(&text, "tcpserve_connections_open{service=\"buggy\"}") == Some(0.0)
    });
    let series = "tcpserve_connections_closed_total{service=\"buggy\",reason=\"service_panic\"}";
    assert_eq!(value(&text, series), 1.0, "{text}");
    // The server serves on.
    let mut again = connect(server.addr("buggy").unwrap());
    again.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut again), b"");
    server.stop();
    assert_eq!(server.join().unwrap(), Ending::Graceful);
}
