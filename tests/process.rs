//! The `tcpserve` binary as a child process: its command line, exit statuses, signals, and how
//! the running server behaves from the outside (listener lifetime, wake-ups, EMFILE).
//!
//! Every server listens on 127.0.0.1:0 and the test learns the port from the log line
//! `echo listening on ADDR`. The child's stderr is read on a thread that forwards each line
//! over a channel, so a test can wait for a line with a deadline. Every child is killed and
//! reaped when its guard drops, on every path, panics included.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long any single wait in these tests may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(5);
/// Between two looks at a condition that is being polled.
const POLL_STEP: Duration = Duration::from_millis(10);

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tcpserve")
}

/// A child process that is killed and reaped when dropped.
struct ChildGuard(Child);

impl ChildGuard {
    fn pid(&self) -> libc::pid_t {
        self.0.id() as libc::pid_t
    }

    /// Waits for the child to exit, polling; fails the test at the deadline.
    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the child did not exit within {within:?}"
            );
            thread::sleep(POLL_STEP);
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a finished command printed and how it exited.
struct Outcome {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn describe(&self) -> String {
        format!(
            "status {:?}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

fn read_all_on_thread(mut r: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `tcpserve ARGS` to completion with `stdin` as its input; fails the test (and kills the
/// child) if it has not exited within `within`.
fn run(args: &[&str], stdin: &[u8], within: Duration) -> Outcome {
    let child = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tcpserve");
    let mut guard = ChildGuard(child);
    let mut input = guard.0.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    let feeder = thread::spawn(move || {
        // The child may exit without reading: a broken pipe is its business.
        let _ = input.write_all(&stdin);
    });
    let out = read_all_on_thread(guard.0.stdout.take().expect("stdout"));
    let err = read_all_on_thread(guard.0.stderr.take().expect("stderr"));
    let status = guard.wait_exit(within);
    feeder.join().expect("stdin feeder");
    Outcome {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// A running `tcpserve serve` whose stderr is followed line by line.
struct Server {
    child: ChildGuard,
    lines: Receiver<String>,
    /// Every stderr line received so far, in order.
    log: Vec<String>,
    addr: SocketAddr,
}

impl Server {
    /// Starts `tcpserve serve --echo 127.0.0.1:0 EXTRA...` and waits until it listens.
    fn start(extra: &[&str]) -> Server {
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--echo", "127.0.0.1:0"]).args(extra);
        Server::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tcpserve serve");
        let stderr = child.stderr.take().expect("stderr");
        let child = ChildGuard(child);
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            lines,
            log: Vec::new(),
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let line = server.wait_for("echo listening on ", DEADLINE);
        let addr = line
            .rsplit("listening on ")
            .next()
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        server.addr = addr;
        server
    }

    fn pid(&self) -> libc::pid_t {
        self.child.pid()
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on the pid of a child we own and have not reaped.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    }

    fn log_text(&self) -> String {
        self.log.join("\n")
    }

    /// The first log line (seen before or arriving within `within`) containing `needle`.
    fn wait_for(&mut self, needle: &str, within: Duration) -> String {
        if let Some(line) = self.log.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.log.push(line);
                    if found {
                        return self.log.last().cloned().unwrap_or_default();
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no log line with {needle:?} within {within:?}; log so far:\n{}",
                    self.log_text()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "stderr closed before a line with {needle:?}; log:\n{}",
                    self.log_text()
                ),
            }
        }
    }

    /// Takes every line that arrives during `window` (a measurement window, not a wait for
    /// anything in particular).
    fn collect_for(&mut self, window: Duration) {
        let deadline = Instant::now() + window;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(RecvTimeoutError::Timeout) => return,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Takes the lines that have already arrived, without waiting.
    fn take_arrived(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
    }

    /// Waits for the server to exit, then takes the rest of its log.
    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let status = self.child.wait_exit(within);
        // The child is gone, so its stderr closes and the reader thread ends the channel.
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("stderr still open after exit"),
            }
        }
        status
    }

    fn count(&self, needle: &str) -> usize {
        self.log.iter().filter(|l| l.contains(needle)).count()
    }

    fn assert_no_panic(&self) {
        assert!(
            !self.log_text().contains("panicked"),
            "the server panicked:\n{}",
            self.log_text()
        );
    }
}

/// A client connected to `addr` whose reads and writes give up after `DEADLINE`.
fn client(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, DEADLINE).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// Sends `message` and reads exactly as many bytes back.
fn echo_once(stream: &mut TcpStream, message: &[u8]) -> Vec<u8> {
    stream.write_all(message).expect("send");
    let mut reply = vec![0u8; message.len()];
    stream.read_exact(&mut reply).expect("read the echo");
    reply
}

/// CPU time (user + system, in clock ticks) from /proc/PID/stat, fields 14 and 15.
fn cpu_ticks(pid: libc::pid_t) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): field n is fields[n - 3].
    let utime: u64 = fields[14 - 3].parse().unwrap();
    let stime: u64 = fields[15 - 3].parse().unwrap();
    utime + stime
}

/// The process state letter (R, S, ...) from /proc/PID/stat.
fn proc_state(pid: libc::pid_t) -> char {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    rest.chars().next().expect("state")
}

/// Voluntary context switches summed over every thread of the process.
fn voluntary_switches(pid: libc::pid_t) -> u64 {
    let mut total = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc/PID/task") {
        let status = fs::read_to_string(task.unwrap().path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(n) = line.strip_prefix("voluntary_ctxt_switches:") {
                total += n.trim().parse::<u64>().unwrap();
            }
        }
    }
    total
}

/// `n` bytes from a fixed xorshift sequence: the same every run, no byte pattern repeats soon.
fn pseudo_random(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// An address that refuses connections: a port just bound and released.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. The command line.

/// Each case: the arguments, and what the first stderr line must contain (the offending flag,
/// value or word). A serve case without `--echo` is run with `--echo 127.0.0.1:0` added, so
/// that if it were wrongly accepted the server would bind a free port, not the default 8080
/// (the run's deadline then ends it).
const BAD_CLI: &[(&[&str], &str)] = &[
    (&[], "no command"),
    (&["frobnicate"], "frobnicate"),
    (&["--frobnicate"], "--frobnicate"),
    (&["serve", "--bogus"], "bogus"),
    (&["serve", "--echo"], "echo"),
    (&["serve", "--echo", "notanaddr"], "notanaddr"),
    (&["serve", "--echo", "127.0.0.1:99999"], "127.0.0.1:99999"),
    (&["serve", "--idle-timeout", "abc"], "--idle-timeout"),
    (&["serve", "--idle-timeout", "0"], "--idle-timeout"),
    (&["serve", "--idle-timeout", "-1"], "--idle-timeout"),
    (&["serve", "--idle-timeout", "inf"], "--idle-timeout"),
    (&["serve", "--idle-timeout", "1e10"], "--idle-timeout"),
    (&["serve", "--max-conns", "0"], "--max-conns"),
    (&["serve", "--max-conns", "x"], "--max-conns"),
    (&["serve", "--max-conns", "-3"], "--max-conns"),
    (&["serve", "--buffer", "0"], "--buffer"),
    (&["serve", "--buffer", "12Q"], "--buffer"),
    (&["serve", "--buffer", "2G"], "--buffer"),
    (&["serve", "--buffer", "1.5K"], "--buffer"),
    (&["serve", "--buffer", "18446744073709551615K"], "--buffer"),
    (
        &["serve", "--shutdown-timeout", "nan"],
        "--shutdown-timeout",
    ),
    (&["serve", "extra-arg"], "extra-arg"),
    (&["send"], "ADDR"),
    (&["send", "--bogus", "127.0.0.1:1"], "bogus"),
    (&["send", "127.0.0.1:1", "--timeout", "0"], "--timeout"),
    (&["send", "127.0.0.1:1", "--timeout", "abc"], "--timeout"),
];

#[test]
fn bad_command_lines_exit_2_naming_the_fault_then_usage() {
    let mut failures = Vec::new();
    for &(case, names) in BAD_CLI {
        let mut args = case.to_vec();
        if args.first() == Some(&"serve") && !args.contains(&"--echo") {
            args.splice(1..1, ["--echo", "127.0.0.1:0"]);
        }
        let out = run(&args, b"", DEADLINE);
        let first = out.stderr.lines().next().unwrap_or("");
        let mut wrong = Vec::new();
        if out.status.code() != Some(2) {
            wrong.push("exit status is not 2");
        }
        if !first.starts_with("tcpserve") {
            wrong.push("first stderr line does not start with `tcpserve`");
        }
        if !first.contains(names) {
            wrong.push("first stderr line does not name the fault");
        }
        if !out.stderr.contains("usage:") {
            wrong.push("no `usage:` on stderr");
        }
        if out.stderr.contains("panicked") || out.stdout.contains("panicked") {
            wrong.push("panicked");
        }
        if !out.stdout.is_empty() {
            wrong.push("wrote to stdout");
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{:?} (expected {:?} named): {}\n{}",
                args,
                names,
                wrong.join("; "),
                out.describe()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Values the parser accepts although they round to a zero duration, which the flags forbid.
/// `send --timeout 1e-10` fails at connect time with exit 1 ("cannot set a 0 duration timeout")
/// and `serve --idle-timeout 1e-10` starts a server that closes every client on accept.
#[test]
fn durations_that_round_to_zero_are_usage_errors() {
    let cases: &[&[&str]] = &[
        &["send", "127.0.0.1:1", "--timeout", "1e-10"],
        &["serve", "--echo", "127.0.0.1:0", "--idle-timeout", "1e-10"],
    ];
    for args in cases {
        let out = run(args, b"", DEADLINE);
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", out.describe());
    }
}

#[test]
fn help_and_version_exit_0_on_stdout() {
    let version = format!("tcpserve {}", env!("CARGO_PKG_VERSION"));
    let cases: &[(&[&str], &[&str])] = &[
        (&["--help"], &["usage: tcpserve <command>", "serve", "send"]),
        (&["-h"], &["usage: tcpserve <command>"]),
        (&["help"], &["usage: tcpserve <command>"]),
        (
            &["serve", "--help"],
            &[
                "usage: tcpserve serve",
                "--echo",
                "--idle-timeout",
                "--max-conns",
                "--buffer",
                "--shutdown-timeout",
            ],
        ),
        (&["send", "--help"], &["usage: tcpserve send", "--timeout"]),
        (&["--version"], &[&version]),
        (&["-V"], &[&version]),
    ];
    for (args, wanted) in cases {
        let out = run(args, b"", DEADLINE);
        assert_eq!(out.status.code(), Some(0), "{args:?}\n{}", out.describe());
        assert!(out.stderr.is_empty(), "{args:?}\n{}", out.describe());
        for w in *wanted {
            assert!(
                out.stdout.contains(w),
                "{args:?}: no {w:?}\n{}",
                out.describe()
            );
        }
    }
    let out = run(&["--version"], b"", DEADLINE);
    assert_eq!(out.stdout.trim_end(), version);
}

// ---------------------------------------------------------------------------------------------
// 2. Failing to start, and the `send` client.

#[test]
fn address_in_use_exits_1_with_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["serve", "--echo", &addr], b"", DEADLINE);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.describe());
    assert!(lines[0].starts_with("tcpserve"), "{}", out.describe());
    assert!(
        lines[0].contains("address already in use"),
        "{}",
        out.describe()
    );
    assert!(lines[0].contains(&addr), "{}", out.describe());
    assert!(!out.stderr.contains("panicked"));
    assert!(out.stdout.is_empty());
    drop(taken);
}

#[test]
fn a_root_that_is_missing_or_not_a_directory_exits_1() {
    let file = std::env::temp_dir().join(format!("tcpserve-root-file-{}", std::process::id()));
    std::fs::write(&file, b"not a directory").unwrap();
    let file_arg = file.to_str().unwrap().to_string();
    let cases = [
        ("/nonexistent/tcpserve/root", "No such file or directory"),
        (file_arg.as_str(), "not a directory"),
    ];
    for (root, says) in cases {
        let out = run(
            &["serve", "--files", "127.0.0.1:0", "--root", root],
            b"",
            DEADLINE,
        );
        assert_eq!(out.status.code(), Some(1), "{root}: {}", out.describe());
        let first = out.stderr.lines().next().unwrap_or("");
        assert!(
            first.contains(root) && first.contains(says),
            "{}",
            out.describe()
        );
        assert!(!out.stderr.contains("panicked"));
    }
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn send_to_a_closed_port_exits_1() {
    let addr = closed_port().to_string();
    let out = run(&["send", &addr, "hello", "--timeout", "2"], b"", DEADLINE);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    let first = out.stderr.lines().next().unwrap_or("");
    assert!(first.starts_with("tcpserve"), "{}", out.describe());
    assert!(first.contains("cannot connect"), "{}", out.describe());
    assert!(first.contains(&addr), "{}", out.describe());
    assert!(!out.stderr.contains("panicked"));
    assert!(out.stdout.is_empty(), "{}", out.describe());
}

#[test]
fn send_echoes_a_message_and_stdin_lines() {
    let mut server = Server::start(&[]);
    let addr = server.addr.to_string();

    let out = run(&["send", &addr, "hello"], b"", DEADLINE);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    assert_eq!(out.stdout, "hello\n");

    let out = run(&["send", &addr, "hello", "there,", "world"], b"", DEADLINE);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    assert_eq!(out.stdout, "hello there, world\n");

    let input = "one\ntwo two\nthree, three, three\n";
    let out = run(&["send", &addr], input.as_bytes(), DEADLINE);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    assert_eq!(out.stdout, input);

    // Still serving after all that.
    let mut c = client(server.addr);
    assert_eq!(echo_once(&mut c, b"still here"), b"still here");
    server.take_arrived();
    server.assert_no_panic();
}

// ---------------------------------------------------------------------------------------------
// 3. Signals.

#[test]
fn sigterm_lets_a_transfer_in_flight_finish() {
    const TOTAL: usize = 8 << 20;
    /// The writer sends this much, then waits until the signal has been taken, so the
    /// connection is certainly mid-transfer when the server starts shutting down.
    const BEFORE_SIGNAL: usize = 1 << 20;
    const ECHOED_BEFORE_SIGNAL: usize = 64 << 10;

    let mut server = Server::start(&[]);
    let data = Arc::new(pseudo_random(TOTAL));
    let mut reader = client(server.addr);
    let mut writer = reader.try_clone().unwrap();
    let (go, go_rx) = mpsc::channel::<()>();
    let sent = Arc::clone(&data);
    let writing = thread::spawn(move || -> io::Result<()> {
        writer.write_all(&sent[..BEFORE_SIGNAL])?;
        go_rx
            .recv_timeout(DEADLINE)
            .map_err(|_| io::Error::other("no go-ahead from the test"))?;
        writer.write_all(&sent[BEFORE_SIGNAL..])?;
        writer.shutdown(Shutdown::Write)
    });

    let mut got = Vec::with_capacity(TOTAL);
    let mut buf = vec![0u8; 64 << 10];
    let deadline = Instant::now() + DEADLINE;
    while got.len() < ECHOED_BEFORE_SIGNAL {
        assert!(Instant::now() < deadline, "the echo did not start");
        let n = reader.read(&mut buf).expect("read the echo");
        assert!(n > 0, "EOF after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }

    server.signal(libc::SIGTERM);
    let line = server.wait_for("shutting down", DEADLINE);
    assert!(
        line.contains("for 1 connections in flight"),
        "the transfer is not counted as in flight: {line}"
    );
    // The listener is closed: a new client is refused by the kernel.
    match TcpStream::connect_timeout(&server.addr, DEADLINE) {
        Ok(_) => panic!("a new client connected after `shutting down`"),
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}"),
    }

    go.send(()).unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        assert!(
            Instant::now() < deadline,
            "echo incomplete: {} bytes",
            got.len()
        );
        let n = reader.read(&mut buf).expect("read the echo");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        assert!(got.len() <= TOTAL, "more bytes back than sent");
    }
    writing.join().unwrap().expect("the writer");
    assert_eq!(got.len(), TOTAL, "bytes echoed");
    if let Some(at) = got.iter().zip(data.iter()).position(|(a, b)| a != b) {
        panic!("the echo differs from what was sent at byte {at}");
    }

    let status = server.wait_exit(DEADLINE);
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log_text());
    let stopped = server.wait_for("stopped:", Duration::ZERO);
    assert!(
        stopped.contains(&format!("{TOTAL} bytes in, {TOTAL} bytes out")),
        "{stopped}"
    );
    assert_eq!(server.count("shutdown timeout"), 0, "{}", server.log_text());
    server.assert_no_panic();
}

#[test]
fn second_signal_exits_at_once_with_status_1() {
    let mut server = Server::start(&[]);
    let mut c = client(server.addr);
    // Bytes exchanged: the connection is in flight, and the server is in its loop (so its
    // signal handlers are installed).
    assert_eq!(echo_once(&mut c, b"in flight"), b"in flight");

    server.signal(libc::SIGTERM);
    let line = server.wait_for("shutting down", DEADLINE);
    assert!(line.contains("for 1 connections in flight"), "{line}");

    server.signal(libc::SIGTERM);
    // The default shutdown timeout is 10 s; a forced stop must not wait for it.
    let status = server.wait_exit(Duration::from_secs(3));
    assert_eq!(status.code(), Some(1), "log:\n{}", server.log_text());
    assert_eq!(
        server.count("second stop request"),
        1,
        "{}",
        server.log_text()
    );
    assert_eq!(server.count("stopped:"), 1, "{}", server.log_text());
    // The client's connection was cut: it reads the end (or a reset), not a hang.
    match c.read(&mut [0u8; 16]) {
        Ok(0) => {}
        Ok(n) => panic!("{n} unexpected bytes"),
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
    }
    server.assert_no_panic();
}

/// The `listening on` line is logged by `Server::bind`, before `main` installs the SIGTERM
/// handler (`stop::forward_signals`), so a supervisor that signals as soon as the server says it
/// listens may kill it with the default action: no drain, no `stopped:` line, killed by signal.
#[test]
fn sigterm_right_after_the_listening_line_is_graceful() {
    for attempt in 0..10 {
        let mut server = Server::start(&[]);
        server.signal(libc::SIGTERM);
        let status = server.wait_exit(DEADLINE);
        assert_eq!(
            status.code(),
            Some(0),
            "attempt {attempt}: {status:?}; log:\n{}",
            server.log_text()
        );
        assert_eq!(server.count("stopped:"), 1, "{}", server.log_text());
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Resources.

#[test]
fn idle_server_makes_no_wake_ups() {
    let mut server = Server::start(&[]);
    let pid = server.pid();
    // Let start-up finish: wait (bounded) until the process sleeps and its switch count holds
    // still between two looks.
    let deadline = Instant::now() + DEADLINE;
    let mut last = voluntary_switches(pid);
    loop {
        thread::sleep(Duration::from_millis(50));
        let now = voluntary_switches(pid);
        if proc_state(pid) == 'S' && now == last {
            break;
        }
        assert!(Instant::now() < deadline, "the server never settled");
        last = now;
    }

    let (switches_before, cpu_before) = (voluntary_switches(pid), cpu_ticks(pid));
    // A measurement window, not a wait for anything.
    server.collect_for(Duration::from_secs(1));
    let (switches_after, cpu_after) = (voluntary_switches(pid), cpu_ticks(pid));

    assert!(
        switches_after - switches_before <= 2,
        "idle server woke {} times in 1 s",
        switches_after - switches_before
    );
    assert!(
        cpu_after - cpu_before <= 2,
        "idle server used {} ticks of CPU in 1 s",
        cpu_after - cpu_before
    );
    assert!(
        server.child.0.try_wait().unwrap().is_none(),
        "the server exited"
    );
    server.assert_no_panic();
}

const EMFILE_FD_LIMIT: libc::rlim_t = 48;
const EMFILE_CLIENTS: usize = 80;

/// A server with an open-file limit of 48 and 80 clients connected: it accepts what its
/// descriptors allow and the rest wait in the backlog, so accepting fails with EMFILE.
fn server_out_of_descriptors() -> (Server, Vec<TcpStream>) {
    let mut cmd = Command::new(bin());
    cmd.args([
        "serve",
        "--echo",
        "127.0.0.1:0",
        "--max-conns",
        "1000",
        "-v",
    ]);
    // SAFETY: the closure runs in the forked child before exec and calls only setrlimit,
    // which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: EMFILE_FD_LIMIT,
                rlim_max: EMFILE_FD_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut server = Server::spawn(cmd);
    // Connecting completes in the kernel (the listen backlog) whether or not the server can
    // accept.
    let clients: Vec<TcpStream> = (0..EMFILE_CLIENTS).map(|_| client(server.addr)).collect();
    let line = server.wait_for("cannot accept", DEADLINE);
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("os error 24"), "not EMFILE: {line}");
    (server, clients)
}

#[test]
fn out_of_descriptors_the_server_backs_off_and_recovers() {
    let (mut server, mut clients) = server_out_of_descriptors();
    let pid = server.pid();

    // No spinning while clients wait that cannot be accepted: over a 1 s window a busy loop
    // would burn ~100 ticks.
    let cpu_before = cpu_ticks(pid);
    server.collect_for(Duration::from_secs(1));
    let used = cpu_ticks(pid) - cpu_before;
    assert!(
        used <= 20,
        "{used} ticks of CPU in 1 s while out of descriptors"
    );
    assert!(server.child.0.try_wait().unwrap().is_none(), "exited");

    // Free descriptors: the first clients were accepted (the backlog is first in, first out),
    // the last 20 are still waiting in it.
    let held = clients.split_off(EMFILE_CLIENTS - 20);
    drop(clients);

    // A new client is served, behind everything that waited.
    let mut fresh = client(server.addr);
    assert_eq!(echo_once(&mut fresh, b"fresh client"), b"fresh client");
    // So is every client that waited in the backlog through the episode.
    for (i, mut c) in held.into_iter().enumerate() {
        let message = format!("held client {i}");
        assert_eq!(echo_once(&mut c, message.as_bytes()), message.as_bytes());
    }
    let line = server.wait_for("accepting again", DEADLINE);
    assert!(line.contains("INFO"), "{line}");
    assert!(server.child.0.try_wait().unwrap().is_none(), "exited");
    server.assert_no_panic();
}

/// The reactor says it logs `cannot accept` once per episode (see `resume_accepting`), but
/// `pause_accepting` logs on every retry: one warning per 100 ms back-off and one per close
/// while the cause persists.
#[test]
fn out_of_descriptors_is_logged_once_per_episode() {
    let (mut server, _clients) = server_out_of_descriptors();
    // A window covering many back-off retries (100 ms each) with clients still waiting.
    server.collect_for(Duration::from_secs(1));
    assert_eq!(
        server.count("cannot accept"),
        1,
        "log:\n{}",
        server.log_text()
    );
}
