//! The programs in examples/, run as a user would run them, against every model: README's
//! embedding program (a directory and a protocol of its own on a background thread, stopped
//! when its input closes), and the key-value store beside echo, whose backpressure must keep a
//! client that never reads from growing the server's memory.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::child::{ChildGuard, Lines};
use common::{connect, read_to_end, TempDir, PATIENCE};
use tcpserve::Model;

per_model!([reactor, reactors, threads, pool, iterative]
    the_readme_program_serves_a_directory_and_its_own_protocol,
    the_key_value_store_answers_pipelined_lines_beside_echo,
    a_key_value_client_that_never_reads_cannot_grow_the_server,
    an_overlong_key_value_line_is_refused_and_closed,
);

/// An example program, built by `cargo test` beside the tests.
fn example(name: &str) -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_tcpserve"));
    let path = bin.parent().unwrap().join("examples").join(name);
    // `cargo test` builds the examples; `cargo test --test examples` alone does not, and would
    // run an old build.
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.rs"));
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    assert!(
        modified(&path) >= modified(&source) && path.exists(),
        "{} is missing or older than its source: run `cargo test` (or `cargo build --examples`)",
        path.display()
    );
    path
}

/// An example started with `args`, its input a pipe it serves until closed, and the addresses
/// it printed, by service name.
struct Running {
    child: ChildGuard,
    out: Lines,
}

impl Running {
    fn start(name: &str, args: &[&str], services: &[&str]) -> Running {
        let child = Command::new(example(name))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the example starts");
        let mut child = ChildGuard(child);
        let out = Lines::follow(child.0.stdout.take().unwrap());
        let mut running = Running { child, out };
        for service in services {
            running.out.wait_for(&format!("{service} listening on "));
        }
        running
    }

    fn addr(&self, service: &str) -> SocketAddr {
        let line = self.out.first(&format!("{service} listening on ")).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    /// The CPU time it has used so far, in clock ticks (utime + stime).
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.pid())).unwrap();
        // The fields after the command's closing parenthesis; utime and stime are 14 and 15.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Closes its input: it stops gracefully and says so.
    fn stop(mut self) {
        drop(self.child.0.stdin.take());
        let status = self.child.wait_exit();
        self.out.take_rest();
        assert!(status.success(), "{status:?}\n{}", self.out.text());
        assert!(
            self.out.first("stopped: Graceful").is_some(),
            "{}",
            self.out.text()
        );
    }
}

fn the_readme_program_serves_a_directory_and_its_own_protocol(model: Model) {
    let dir = TempDir::new("examples-embed");
    std::fs::write(dir.join("page.txt"), b"a page\n").unwrap();
    let root = dir.path().to_str().unwrap();
    let running = Running::start("embed", &[root, model.name()], &["files", "hello"]);

    let mut client = connect(running.addr("files"));
    client
        .write_all(b"GET /page.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let response = String::from_utf8(read_to_end(&mut client)).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\na page\n"), "{response}");

    let mut hello = connect(running.addr("hello"));
    assert_eq!(read_to_end(&mut hello), b"hello from tcpserve\n");
    running.stop();
}

/// README shows examples/embed.rs's program as it is.
#[test]
fn readme_shows_the_embedding_program_as_it_is() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let program = std::fs::read_to_string(root.join("examples/embed.rs")).unwrap();
    let code: String = program
        .lines()
        .filter(|l| !l.starts_with("//!"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        readme.contains(code.trim()),
        "README's Embedding section differs from examples/embed.rs"
    );
}

/// Sends `request` and reads replies until `replies` lines have come.
fn exchange(stream: &mut TcpStream, request: &[u8], replies: usize) -> String {
    stream.write_all(request).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.iter().filter(|&&b| b == b'\n').count() < replies {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

fn the_key_value_store_answers_pipelined_lines_beside_echo(model: Model) {
    let running = Running::start("kv", &["--model", model.name()], &["kv", "echo"]);
    let cases: &[(&[u8], &str)] = &[
        (b"GET a\n", "NONE\n"),
        (b"SET a one two\n", "OK\n"),
        (b"GET a\r\n", "VALUE one two\n"),
        (
            b"SET a 3\nGET a\nDEL a\nGET a\nDEL a\n",
            "OK\nVALUE 3\nOK\nNONE\nNONE\n",
        ),
        (b"PUT a b\n", "ERR unknown command\n"),
        (b"GET\n", "ERR unknown command\n"),
        (b"GET a b\n", "ERR unknown command\n"),
        (b"\n", "ERR unknown command\n"),
        (b"get a\n", "ERR unknown command\n"),
    ];
    let mut client = connect(running.addr("kv"));
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    for (request, want) in cases {
        let lines = want.matches('\n').count();
        let got = exchange(&mut client, request, lines);
        assert_eq!(got, *want, "{:?}", String::from_utf8_lossy(request));
    }
    // A request in pieces is answered once whole.
    client.write_all(b"SET b x").unwrap();
    assert_eq!(exchange(&mut client, b"yz\n", 1), "OK\n");
    // The finished client gets what it is owed, then the end.
    client.write_all(b"GET b\n").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut client), b"VALUE xyz\n");
    drop(client);

    // Echo runs beside it; the iterative model serves one client at a time, so in turn.
    let mut echo = connect(running.addr("echo"));
    echo.write_all(b"still here").unwrap();
    echo.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut echo), b"still here");
    running.stop();
}

fn a_key_value_client_that_never_reads_cannot_grow_the_server(model: Model) {
    const BUFFER: usize = 64 * 1024;
    const VALUE: usize = 4000;
    let running = Running::start(
        "kv",
        &["--model", model.name(), "--buffer", &BUFFER.to_string()],
        &["kv"],
    );
    let mut client = connect(running.addr("kv"));
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let set = [b"SET k ".as_slice(), &vec![b'v'; VALUE], b"\n"].concat();
    assert_eq!(exchange(&mut client, &set, 1), "OK\n");
    let before = running.rss_kib();

    // Every 6-byte request asks for a 4 KB reply. Requests go out until the server stops
    // taking them (the socket stays full), or far past what its memory could hold unbounded.
    const CAP: usize = 64 << 20;
    let requests = b"GET k\n".repeat(1024);
    client.set_nonblocking(true).unwrap();
    let (mut sent, mut stalled) = (0usize, false);
    while sent < CAP && !stalled {
        match client.write(&requests[sent % requests.len()..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                stalled = !writable_within(&client, Duration::from_millis(500));
            }
            Err(e) => panic!("writing requests: {e}"),
        }
    }
    let gets = sent / 6;
    let partial = sent % 6;
    eprintln!("{gets} requests went out before the server stopped taking them");
    assert!(
        stalled,
        "the server took {sent} bytes of requests without its replies being read"
    );
    let grown = running.rss_kib().saturating_sub(before);
    let unbounded_kib = (gets * VALUE / 1024) as u64;
    assert!(
        grown < 8 * 1024,
        "server memory grew {grown} KiB while {gets} replies ({unbounded_kib} KiB) were owed"
    );
    assert!(
        unbounded_kib > 4 * 8 * 1024,
        "too few requests went out to tell: {gets}"
    );

    // Reading now, every reply comes, whole and in order: nothing was lost.
    client.set_nonblocking(false).unwrap();
    // The rest of a request cut short, then the end, from a thread of its own: the send buffer
    // may be full to the last byte, and it drains only as the replies are read below.
    let mut tail = client.try_clone().unwrap();
    let finish = std::thread::spawn(move || {
        if partial > 0 {
            tail.write_all(&b"GET k\n"[partial..]).unwrap();
        }
        tail.shutdown(Shutdown::Write).unwrap();
    });
    let expected = gets + usize::from(partial > 0);
    let reply = [b"VALUE ".as_slice(), &vec![b'v'; VALUE], b"\n"].concat();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let mut at = 0usize;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let n = client.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            let m = chunk.len().min(reply.len() - at);
            assert!(chunk[..m] == reply[at..at + m], "reply {got} differs");
            (chunk, at) = (&chunk[m..], at + m);
            if at == reply.len() {
                (at, got) = (0, got + 1);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{got} of {expected} replies within {PATIENCE:?}"
        );
    }
    finish.join().unwrap();
    assert_eq!((got, at), (expected, 0), "replies to {expected} requests");
    running.stop();
}

/// Whether `stream` can take more within `wait`.
fn writable_within(stream: &TcpStream, wait: Duration) -> bool {
    let mut fd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    let n = unsafe { libc::poll(&mut fd, 1, wait.as_millis() as libc::c_int) };
    n > 0
}

fn an_overlong_key_value_line_is_refused_and_closed(model: Model) {
    let running = Running::start("kv", &["--model", model.name()], &["kv"]);
    let rows: &[(&str, usize)] = &[
        ("just over the limit", 64 * 1024 + 1),
        ("far over", 1 << 20),
    ];
    for (what, len) in rows {
        let mut client = connect(running.addr("kv"));
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        // The server may close before taking it all: a write error is no failure here.
        let _ = client.write_all(&vec![b'x'; *len]);
        let mut got = Vec::new();
        let _ = client.read_to_end(&mut got);
        assert_eq!(
            String::from_utf8_lossy(&got),
            "ERR line too long\n",
            "{what}"
        );
    }
    // A client that stays after its refusal, neither sending nor closing, is waited for
    // without a busy loop: over a window longer than the linger, the server uses little CPU.
    let mut client = connect(running.addr("kv"));
    client.write_all(&vec![b'x'; 64 * 1024 + 1]).unwrap();
    let before = running.cpu_ticks();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap(); // the reply, then the server's FIN
    assert_eq!(got, b"ERR line too long\n");
    let window = Instant::now() + Duration::from_secs(3);
    while Instant::now() < window {
        std::thread::park_timeout(window - Instant::now()); // a measurement window
    }
    let used = running.cpu_ticks() - before;
    assert!(used < 50, "{used} ticks of CPU while one client lingered");
    drop(client);
    running.stop();
}
