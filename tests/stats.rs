//! `tcpserve stats` as a child process: against a real server's metrics listener (every model),
//! against stand-in listeners that answer what a test scripts (`--watch`, restarts, bad
//! answers), against a port nobody listens on, and with bad command lines.
//!
//! Nothing here sleeps to synchronise: a table that must show traffic the server has not
//! finished counting (a connection's close) is asked for again until it does, within
//! `PATIENCE`; every child is killed and reaped by its guard whatever happens.

#[macro_use]
mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use common::child::{bin, free_port, read_all_on_thread, ChildGuard, Outcome};
use common::http::{closes_after, get, Client};
use common::serve::Server;
use common::{connect, TempDir, PATIENCE};
use tcpserve::Model;

per_model!([reactor, reactors, threads, pool, iterative] the_table_shows_the_servers_traffic);

/// Runs `tcpserve stats ARGS` to its end; fails the test (and kills it) after `PATIENCE`.
fn stats(args: &[&str]) -> Outcome {
    let mut child = Command::new(bin())
        .arg("stats")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tcpserve stats");
    let out = read_all_on_thread(child.stdout.take().expect("stdout"));
    let err = read_all_on_thread(child.stderr.take().expect("stderr"));
    let status = ChildGuard(child).wait_exit();
    Outcome {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// The cells of the table's row labelled `label` (its first word), after the label.
fn row<'a>(table: &'a str, label: &str) -> Option<Vec<&'a str>> {
    table.lines().find_map(|line| {
        let mut cells = line.split_whitespace();
        (cells.next() == Some(label)).then(|| cells.collect())
    })
}

/// A failure that says it in one line on stderr, with nothing on stdout.
fn assert_fails_in_one_line(out: &Outcome, status: i32, says: &str) {
    let what = out.describe();
    assert_eq!(out.status.code(), Some(status), "{what}");
    assert_eq!(out.stdout, "", "{what}");
    assert_eq!(out.stderr.lines().count(), 1, "{what}");
    assert!(out.stderr.starts_with("tcpserve: "), "{what}");
    assert!(out.stderr.contains(says), "want {says:?}: {what}");
}

// ---------------------------------------------------------------------------------------------
// A real server

/// Known traffic (3 downloads, 2 requests for a missing file, idle clients held open), then
/// the table: open connections per service, HTTP requests by class, no rates where nothing
/// moved, and the build's model.
fn the_table_shows_the_servers_traffic(model: Model) {
    let root = TempDir::new("stats-traffic");
    fs::write(root.join("a.txt"), b"hello\n").unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--model", model.name()])
        .args([
            "--files",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--root",
        ])
        .arg(root.path());
    let mut server = Server::spawn(cmd, model);
    server.wait_for("files listening on ");
    server.wait_for("metrics listening on ");
    let files = server.addrs("files")[0];
    let metrics = server.addrs("metrics")[0].to_string();

    let (found, missing) = (("/a.txt", 200), ("/missing", 404));
    for (target, status) in [found, found, found, missing, missing] {
        let mut client = Client::connect(files);
        let got = client.exchange(&get(target, &["Connection: close"]), false);
        let got = got.unwrap_or_else(|e| panic!("GET {target}: {e}"));
        assert_eq!(got.status, status, "{}", got.describe());
        closes_after(&mut client, &got).unwrap();
    }
    // The iterative model serves one client at a time: one held open would be all it does.
    let held = if model == Model::Iterative { 0 } else { 2 };
    let _idle: Vec<TcpStream> = (0..held).map(|_| connect(files)).collect();

    // The server counts a close once it has seen the client's, and an accept when it gets to
    // it: until the traffic has settled, a download may still be open or an idle client's
    // accept fall within the interval. So the table is asked for until its files row is the
    // open connections and nothing moving, which must come within `PATIENCE`.
    let held_text = held.to_string();
    let settled_files = [held_text.as_str(), "0.0", "0.0", "0.0"];
    let deadline = Instant::now() + PATIENCE;
    let (out, table) = loop {
        let out = stats(&[&metrics, "--interval", "0.2"]);
        assert_eq!(out.status.code(), Some(0), "{}", out.describe());
        assert_eq!(out.stderr, "", "{}", out.describe());
        let table = out.stdout.clone();
        let settled = row(&table, "files").is_some_and(|r| r == settled_files);
        if settled || Instant::now() > deadline {
            break (out, table);
        }
    };
    let what = format!("{}\nserver log:\n{}", out.describe(), server.log_text());
    let first = table.lines().next().unwrap_or_default();
    let says = format!(
        "tcpserve {}, {} model: ",
        env!("CARGO_PKG_VERSION"),
        model.name()
    );
    assert!(first.starts_with(&says), "{what}");
    let files_row = row(&table, "files").unwrap_or_default();
    // Open, then accepted, received and sent per second: nothing moved during the interval.
    assert_eq!(files_row, settled_files, "{what}");
    assert!(row(&table, "metrics").is_some(), "{what}");
    assert_eq!(
        row(&table, "HTTP").unwrap_or_default(),
        ["1xx", "2xx", "3xx", "4xx", "5xx"],
        "{what}"
    );
    assert_eq!(
        row(&table, "total").unwrap_or_default(),
        ["0", "3", "0", "2", "0"],
        "{what}"
    );
    assert!(table.contains("\nlog lines dropped: 0 (0.0/s)\n"), "{what}");
    server.assert_no_panic();
}

// ---------------------------------------------------------------------------------------------
// Stand-in metrics listeners

/// A metrics page as tcpserve writes it, with counters at `n`.
fn page(n: u64) -> String {
    format!(
        "# TYPE tcpserve_build_info gauge\n\
         tcpserve_build_info{{version=\"9.9.9\",model=\"threads\"}} 1\n\
         tcpserve_connections_accepted_total{{service=\"echo\"}} {n}\n\
         tcpserve_connections_open{{service=\"echo\"}} 1\n\
         tcpserve_bytes_received_total{{service=\"echo\"}} {}\n\
         tcpserve_bytes_sent_total{{service=\"echo\"}} {}\n\
         tcpserve_http_requests_total{{method=\"GET\",code=\"200\"}} {n}\n\
         tcpserve_log_lines_dropped_total {n}\n\
         process_open_fds 7\n\
         process_resident_memory_bytes 2.5e6\n",
        n * 100,
        n * 100
    )
}

/// A 200 answer with `body`.
fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A listener on a free port that answers its first connections with `answers`, one each in
/// order, then stops listening (later connections are refused). The thread returns the request
/// heads it read.
fn stand_in(answers: Vec<Vec<u8>>) -> (String, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let thread = thread::spawn(move || {
        let mut requests = Vec::new();
        for answer in answers {
            let (mut stream, _) = listener.accept().expect("accept");
            stream.set_read_timeout(Some(PATIENCE)).unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).expect("read") == 1 {
                head.push(byte[0]);
            }
            requests.push(String::from_utf8_lossy(&head).into_owned());
            stream.write_all(&answer).expect("answer");
        }
        requests
    });
    (addr.to_string(), thread)
}

#[test]
fn watch_prints_a_table_every_interval_until_a_reading_fails() {
    // Two tables: the first over rising counters, the second over a restart (every counter
    // back below where it was); the fourth reading finds nobody listening.
    let answers = [ok(&page(10)), ok(&page(20)), ok(&page(3))].to_vec();
    let (addr, listener) = stand_in(answers);
    let out = stats(&[&addr, "--watch", "--interval", "0.05"]);
    let requests = listener.join().expect("the stand-in listener");
    let what = out.describe();

    assert_eq!(out.status.code(), Some(1), "{what}");
    assert_eq!(out.stderr.lines().count(), 1, "{what}");
    let tables: Vec<&str> = out.stdout.split("\n\n").collect();
    assert_eq!(tables.len(), 2, "{what}");
    for table in &tables {
        let first = table.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("tcpserve 9.9.9, threads model: 7 open fds, 2.4 MiB resident;"),
            "{what}"
        );
    }
    // Rising: some positive rate (the interval is measured, so not an exact one).
    let rising = row(tables[0], "echo").unwrap_or_default();
    assert_eq!(rising.len(), 4, "{what}");
    assert!(rising[1].parse::<f64>().is_ok_and(|r| r > 0.0), "{what}");
    // After the restart: no rates, the gauges as they are.
    assert_eq!(
        row(tables[1], "echo").unwrap_or_default(),
        ["1", "-", "-", "-"],
        "{what}"
    );
    assert_eq!(
        row(tables[1], "total").unwrap_or_default(),
        ["0", "3", "0", "0", "0"],
        "{what}"
    );
    assert!(tables[1].contains("log lines dropped: 3 (-/s)"), "{what}");

    assert_eq!(requests.len(), 3);
    for request in requests {
        assert!(
            request.starts_with("GET /metrics HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains(&format!("\r\nHost: {addr}\r\n")),
            "{request}"
        );
        assert!(request.contains("\r\nConnection: close\r\n"), "{request}");
    }
}

#[test]
fn one_table_and_exit_0_without_watch() {
    let (addr, listener) = stand_in([ok(&page(1)), ok(&page(2))].to_vec());
    let out = stats(&[&addr, "--interval", "0.01"]);
    listener.join().expect("the stand-in listener");
    let what = out.describe();
    assert_eq!(out.status.code(), Some(0), "{what}");
    assert_eq!(out.stderr, "", "{what}");
    assert!(!out.stdout.contains("\n\n"), "{what}");
    assert_eq!(
        row(&out.stdout, "total").unwrap_or_default(),
        ["0", "2", "0", "0", "0"],
        "{what}"
    );
}

#[test]
fn a_bad_answer_fails_in_one_line() {
    let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec();
    let short = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ntcpserve_build_info 1\n".to_vec();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (not_found, "server answered: HTTP/1.1 404 Not Found"),
        (b"SSH-2.0-OpenSSH_9.6\r\n".to_vec(), "not an HTTP response"),
        (
            ok("tcpserve_build_info 1\nfoo{a=\"b} 1\n"),
            "bad metrics from the server: line 2: a label value without its closing quote",
        ),
        (
            ok("# TYPE go_goroutines gauge\ngo_goroutines 3\n"),
            "not tcpserve's metrics",
        ),
        (short, "connection closed after 22 of 100 bytes"),
    ];
    for (answer, says) in cases {
        let (addr, listener) = stand_in(vec![answer]);
        let out = stats(&[&addr, "--interval", "0.01"]);
        listener.join().expect("the stand-in listener");
        assert_fails_in_one_line(&out, 1, says);
    }
}

// ---------------------------------------------------------------------------------------------
// Nobody there, and bad command lines

#[test]
fn nobody_listening_fails_in_one_line() {
    let addr = format!("127.0.0.1:{}", free_port("127.0.0.1"));
    let out = stats(&[&addr, "--timeout", "5"]);
    assert_fails_in_one_line(&out, 1, &format!("cannot connect to {addr}: "));
}

#[test]
fn a_bad_command_line_exits_2() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "missing ADDR"),
        (&["127.0.0.1:1", "127.0.0.1:2"], "expected one ADDR"),
        (
            &["127.0.0.1:1", "--interval", "0"],
            "--interval: '0' is out of range",
        ),
        (
            &["127.0.0.1:1", "--interval", "-1"],
            "--interval: '-1' is out of range",
        ),
        (
            &["127.0.0.1:1", "--interval", "soon"],
            "--interval: 'soon' is not a number",
        ),
        (
            &["127.0.0.1:1", "--interval"],
            "Argument to option 'interval' missing",
        ),
        (
            &["127.0.0.1:1", "--timeout", "0"],
            "--timeout: '0' is out of range",
        ),
        (&["127.0.0.1:1", "--bogus"], "Unrecognized option: 'bogus'"),
        (&["127.0.0.1:1/x"], "give HOST:PORT only"),
        (&["127.0.0.1:99999"], "is not a port"),
    ];
    for (args, says) in cases {
        let out = stats(args);
        let what = format!("{args:?}: {}", out.describe());
        assert_eq!(out.status.code(), Some(2), "{what}");
        assert_eq!(out.stdout, "", "{what}");
        let mut lines = out.stderr.lines();
        let first = lines.next().unwrap_or_default();
        assert!(
            first.starts_with("tcpserve stats: ") && first.contains(says),
            "{what}"
        );
        assert_eq!(lines.next(), Some(STATS_USAGE), "{what}");
    }
    let help = stats(&["--help"]);
    assert_eq!(help.status.code(), Some(0), "{}", help.describe());
    assert!(help.stdout.starts_with(STATS_USAGE), "{}", help.describe());
}

/// The first line of `tcpserve stats`'s usage.
const STATS_USAGE: &str = "usage: tcpserve stats ADDR [--interval SECS] [--watch] [--timeout SECS]";
