//! A rolling restart behind a real balancer (Debian's haproxy package), on every model: two
//! tcpserve instances behind HAProxy in HTTP mode, which checks each one's `/health` on its
//! metrics listener. Under a steady keep-alive load, one instance gets SIGTERM: its health
//! check fails at once (`--shutdown-delay` keeps it serving meanwhile), HAProxy takes it out of
//! rotation, it drains and exits 0, and not one client request fails.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use common::child::{free_port, haproxy, have};
use common::http::{get, Client};
use common::serve::{serve_command, Server};
use common::{wait_until, TempDir, PATIENCE};
use tcpserve::Model;

per_model!([reactor, reactors, threads, pool, iterative] a_rolling_restart_fails_no_request);

const FILE: &[u8] = b"served by either\n";
/// Clients of the load, each on its own keep-alive connection to HAProxy.
const CLIENTS: usize = 4;
/// How often HAProxy checks each server's health.
const CHECK_EVERY_MS: u64 = 100;

/// A tcpserve instance serving `dir` with a metrics listener, waiting for it to say where.
fn instance(model: Model, dir: &TempDir) -> (Server, SocketAddr, SocketAddr) {
    let root = dir.path().to_str().unwrap();
    let mut cmd = serve_command(model, &[]);
    // Long enough for HAProxy to see a few failed checks, short enough for a test.
    cmd.args([
        "--files",
        "127.0.0.1:0",
        "--root",
        root,
        "--metrics",
        "127.0.0.1:0",
    ])
    .args(["--shutdown-delay", "2", "--access-log", "off"]);
    let mut server = Server::spawn(cmd, model);
    server.wait_for("metrics listening on ");
    let (files, metrics) = (server.addrs("files")[0], server.addrs("metrics")[0]);
    (server, files, metrics)
}

/// What the load saw: requests answered whole, and requests that failed (with the first
/// failure's text).
#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    first_failure: Option<String>,
}

/// One client's loop: GET over a keep-alive connection until `done`, reconnecting only when
/// the balancer closes the connection after a whole answer (bounded by `done` and PATIENCE).
fn load(front: SocketAddr, done: Arc<AtomicBool>) -> Tally {
    let mut tally = Tally::default();
    let until = Instant::now() + PATIENCE;
    let mut client = Client::connect(front);
    while !done.load(Ordering::Relaxed) && Instant::now() < until {
        match client.exchange(&get("/a.txt", &[]), false) {
            Ok(answer) if answer.status == 200 && answer.body == FILE => {
                tally.ok += 1;
                if answer.says_close() {
                    client = Client::connect(front);
                }
            }
            other => {
                tally.failed += 1;
                let text = match other {
                    Ok(answer) => answer.describe(),
                    Err(e) => e,
                };
                tally.first_failure.get_or_insert(text);
                client = Client::connect(front);
            }
        }
    }
    tally
}

fn a_rolling_restart_fails_no_request(model: Model) {
    if !have("haproxy", "haproxy") {
        return;
    }
    let dir = TempDir::new("balancer");
    std::fs::write(dir.join("a.txt"), FILE).unwrap();
    let (mut leaving, files_a, metrics_a) = instance(model, &dir);
    let (mut staying, files_b, metrics_b) = instance(model, &dir);
    let port = free_port("127.0.0.2");
    let front = SocketAddr::from(([127, 0, 0, 2], port));
    let config = format!(
        "global\n    maxconn 200\n\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 20s\n    \
         timeout server 20s\n    retries 3\n    option redispatch\n    \
         retry-on all-retryable-errors\n\n\
         listen front\n    bind {front}\n    balance roundrobin\n    \
         option httpchk GET /health\n    \
         default-server inter {CHECK_EVERY_MS}ms fall 1 rise 1\n    \
         server a {files_a} check port {}\n    server b {files_b} check port {}\n",
        metrics_a.port(),
        metrics_b.port()
    );
    let (balancer, mut said) = haproxy(dir.path(), &config);
    wait_until("HAProxy to listen", || {
        std::net::TcpStream::connect(front).is_ok()
    });
    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let done = Arc::clone(&done);
            thread::spawn(move || load(front, done))
        })
        .collect();
    // Both instances take part before the restart.
    for server in [&leaving, &staying] {
        wait_until("both instances to serve", || scrape_count(server) > 0);
    }
    leaving.signal(libc::SIGTERM);
    // HAProxy saw the health check's 503, not a refused connection: the server still listens.
    let down = said.wait_for("Server front/a is DOWN");
    assert!(down.contains("503"), "{down}");
    // From then on it sends the leaving server nothing new (at most what each client had in
    // flight), while the other serves on; the leaving one is still in its delay meanwhile.
    let (at_down, staying_at_down) = (scrape_count(&leaving), scrape_count(&staying));
    wait_until("the other to serve on", || {
        scrape_count(&staying) >= staying_at_down + 20
    });
    let later = scrape_count(&leaving);
    assert!(
        later <= at_down + CLIENTS as u64,
        "{at_down} requests when it went down, {later} later"
    );
    let status = leaving.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", leaving.log_text());
    // The load goes on against the one left, a moment longer (bounded: a few hundred ms).
    let after = scrape_count(&staying);
    wait_until("more requests after the exit", || {
        scrape_count(&staying) >= after + 20
    });
    done.store(true, Ordering::Relaxed);
    let tallies: Vec<Tally> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let ok: u64 = tallies.iter().map(|t| t.ok).sum();
    let failed: u64 = tallies.iter().map(|t| t.failed).sum();
    let first = tallies.iter().find_map(|t| t.first_failure.clone());
    assert_eq!(
        failed,
        0,
        "{ok} requests answered, {failed} failed; the first: {first:?}\nHAProxy:\n{}",
        said.text()
    );
    assert!(ok > 0);
    drop(balancer);
    staying.stop_gracefully();
}

/// How many requests the instance has answered, from its metrics.
fn scrape_count(server: &Server) -> u64 {
    let metrics = server.addrs("metrics")[0];
    let Ok(answer) =
        Client::connect(metrics).exchange(&get("/metrics", &["Connection: close"]), false)
    else {
        return 0;
    };
    let text = String::from_utf8_lossy(&answer.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("tcpserve_http_requests_total{method=\"GET\",code=\"200\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
