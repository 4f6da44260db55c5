//! Logging that never stalls or kills the server (issue 11), seen from outside: the `tcpserve`
//! binary as a child process whose diagnostics and access lines go to real pipes, FIFOs and
//! files (a full tmpfs and /dev/full among them), for every serving model.
//!
//! Conventions, as in tests/process.rs: every server listens on 127.0.0.1:0 and the test learns
//! the ports from its `... listening on ADDR` lines (from stderr, or from the `--log` file), or,
//! where options silence those lines (`-q`, `--log off`), from the sockets the process listens on
//! in /proc. No sleeps as synchronisation: every wait polls a condition with a deadline
//! ([`PATIENCE`]), and a wait for something the server does out of sight (its log writer meeting
//! a full disk) watches the server's per-thread I/O counters in /proc. Every child is killed and
//! reaped when its guard drops. A JSON line is matched to its request by the client's `port`
//! (and, should the kernel have given a port twice, by its target).
//!
//! Tests that need what a machine may lack (python3; root to mount a tmpfs) print one line
//! saying what and return, unless `CI=true`, where they fail.

#[macro_use]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use common::child::{bin, read_all_on_thread, skip, ChildGuard, Lines, Outcome};
use common::http::{get, Client, Response};
use common::{connect, TempDir, PATIENCE};
use tcpserve::Model;

per_model!(
    [reactor, reactors, threads, pool, iterative]
    a_stderr_nobody_reads_stalls_nothing,
    a_stderr_closed_by_its_reader_stalls_nothing,
    rotation_by_sighup_and_sigusr1_loses_and_repeats_nothing,
    sighup_and_sigusr1_with_logging_to_stderr_keep_serving,
    json_lines_parse_and_escape_hostile_input,
    combined_lines_carry_referer_and_user_agent,
    common_lines_have_the_common_shape,
    sigterm_writes_every_queued_line,
    quiet_and_off_leave_out_what_they_say,
    a_filesystem_full_from_the_start_drops_lines_and_says_so,
    a_filesystem_filling_up_mid_line_leaves_only_whole_lines,
    dev_full_keeps_serving,
    unopenable_destinations_exit_1_naming_option_and_path,
    a_read_only_filesystem_at_start_exits_1,
    a_fifo_nobody_reads_at_start_exits_1,
    one_destination_under_two_names_keeps_lines_whole,
    an_access_log_stuck_at_exit_is_said_on_stderr,
);

/// What every test's root serves, under several names: 5 bytes, as in the spec's examples.
const HELLO: &[u8] = b"hello";

/// The size the never-read FIFO is shrunk to, so that it fills after a few dozen lines.
const PIPE_SIZE: libc::c_int = 4096;

// ---------------------------------------------------------------------------------------------
// Waiting, skipping, running.

/// A temp path as a command-line argument (temp dirs are UTF-8).
fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

/// Polls `cond` until it holds; fails the test after `PATIENCE` with what it last said.
fn await_cond(what: &str, mut cond: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let last = match cond() {
            Ok(()) => return,
            Err(e) => e,
        };
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {last}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `cmd` to its end with no input; fails the test (and kills it) after `PATIENCE`.
/// `Err` if it cannot be started at all.
fn run_bounded(cmd: &mut Command) -> io::Result<Outcome> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = read_all_on_thread(child.stdout.take().expect("stdout"));
    let err = read_all_on_thread(child.stderr.take().expect("stderr"));
    let status = ChildGuard(child).wait_exit();
    Ok(Outcome {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    })
}

/// Whether python3 with its json module runs here; if not, says so by the skipping rule.
fn python3_or_skip() -> bool {
    let ran = run_bounded(Command::new("python3").args(["-I", "-c", "import json"]));
    match ran {
        Ok(out) if out.status.success() => true,
        _ => {
            skip("needs python3 (Debian package python3)");
            false
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server as a child process.

/// Where the server's stderr goes.
#[derive(Clone, Copy)]
enum StderrTo<'a> {
    /// A pipe that a thread reads to the end, forwarding each line to the test.
    Followed,
    /// A FIFO made at this path and shrunk to `PIPE_SIZE`, whose read end the test opens and
    /// reads only up to the listening lines, then holds without reading.
    StalledFifo(&'a Path),
    /// A pipe read up to the listening lines and then closed, as `2>&1 | head -3` does.
    ClosedAfterStartup,
}

/// Where a server's ports are learned.
enum Ports {
    /// Its `listening on` lines on stderr.
    Stderr,
    /// Its `listening on` lines in the `--log` file.
    File(PathBuf),
    /// The one socket it listens on, from /proc: options that silence the listening lines
    /// (`-q`, `--log off`). Only the files service is started then, so the socket is its.
    Proc,
}

impl Ports {
    fn of(extra: &[&str]) -> Ports {
        if extra.contains(&"-q") {
            return Ports::Proc;
        }
        match extra.windows(2).find(|w| w[0] == "--log").map(|w| w[1]) {
            Some("off") => Ports::Proc,
            Some(path) if path != "-" => Ports::File(PathBuf::from(path)),
            _ => Ports::Stderr,
        }
    }
}

/// A running `tcpserve serve` with a files service (and, unless its ports come from /proc, an
/// echo service) on free loopback ports.
struct Server {
    child: ChildGuard,
    echo: Option<SocketAddr>,
    files: SocketAddr,
    /// Its stderr, as a thread reads it.
    log: Lines,
    /// The read end of stderr, held unread (`StderrTo::StalledFifo`).
    held: Option<File>,
}

impl Server {
    /// Starts `tcpserve serve --model MODEL --files 127.0.0.1:0 [--echo 127.0.0.1:0] --root
    /// ROOT EXTRA...` with umask 022 (so a created log file's mode is the server's choice), and
    /// waits until it listens.
    fn start(model: Model, root: &Path, extra: &[&str], stderr: StderrTo) -> Server {
        let ports = Ports::of(extra);
        let with_echo = !matches!(ports, Ports::Proc);
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--model", model.name(), "--files", "127.0.0.1:0"]);
        if with_echo {
            cmd.args(["--echo", "127.0.0.1:0"]);
        }
        cmd.arg("--root")
            .arg(root)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // SAFETY: runs in the forked child before exec and calls only umask(2), which is
        // async-signal-safe and cannot fail.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            });
        }
        let fifo = match stderr {
            StderrTo::StalledFifo(path) => {
                let (read_end, write_end) = make_fifo(path);
                cmd.stderr(write_end);
                Some(read_end)
            }
            _ => {
                cmd.stderr(Stdio::piped());
                None
            }
        };
        let mut child = cmd.spawn().expect("spawn tcpserve serve");
        // The command holds the parent's copy of a FIFO's write end: the server must be its only
        // writer, or closing the read end would not break its pipe.
        drop(cmd);
        let read_end = match fifo {
            Some(read_end) => read_end,
            None => File::from(OwnedFd::from(child.stderr.take().expect("stderr"))),
        };
        let child = ChildGuard(child);
        let follow = matches!(stderr, StderrTo::Followed);
        let (lines, handed_back) = read_stderr(read_end, follow, with_echo);
        let mut server = Server {
            child,
            echo: None,
            files: SocketAddr::from(([0, 0, 0, 0], 0)),
            log: Lines::new(lines),
            held: None,
        };
        match ports {
            Ports::Stderr => {
                server.wait_for("files listening on ");
                if with_echo {
                    server.wait_for("echo listening on ");
                }
                server.echo = listening(&server.log, "echo");
                server.files = listening(&server.log, "files").expect("found");
            }
            Ports::File(path) => {
                let mut found = (None, None);
                await_cond(
                    &format!("the listening lines in {}", path.display()),
                    || {
                        server.fail_if_exited();
                        let text = fs::read_to_string(&path).unwrap_or_default();
                        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
                        found = (listening(&lines, "echo"), listening(&lines, "files"));
                        match found {
                            (Some(_), Some(_)) => Ok(()),
                            _ => Err(format!("the file holds:\n{text}")),
                        }
                    },
                );
                server.echo = found.0;
                server.files = found.1.expect("found");
            }
            Ports::Proc => {
                let pid = server.pid();
                let mut port = None;
                await_cond("the server to listen", || {
                    server.fail_if_exited();
                    port = listening_ports(pid).first().copied();
                    port.map(|_| ())
                        .ok_or_else(|| "no listening socket".to_string())
                });
                server.files = SocketAddr::from(([127, 0, 0, 1], port.expect("found")));
            }
        }
        if !follow {
            let read_end = handed_back
                .recv_timeout(PATIENCE)
                .expect("the stderr reader hands its pipe back");
            if matches!(stderr, StderrTo::StalledFifo(_)) {
                server.held = Some(read_end);
            }
            // ClosedAfterStartup: dropped here, so the reader has gone, as `head` goes.
        }
        server
    }

    fn pid(&self) -> libc::pid_t {
        self.child.0.id() as libc::pid_t
    }

    fn echo(&self) -> SocketAddr {
        self.echo.expect("an echo service")
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on the pid of a child we own and have not reaped.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    }

    fn log_text(&self) -> String {
        self.log.text()
    }

    fn count(&self, needle: &str) -> usize {
        self.log.count(needle)
    }

    fn take_arrived(&mut self) {
        self.log.take_arrived()
    }

    fn wait_for(&mut self, needle: &str) -> String {
        self.log.wait_for(needle)
    }

    /// Fails the test, with what the server said, if it has exited (while starting).
    fn fail_if_exited(&mut self) {
        if let Some(status) = self.child.0.try_wait().expect("try_wait") {
            self.wait_exit();
            panic!(
                "the server exited: {status:?}; stderr:\n{}",
                self.log_text()
            );
        }
    }

    fn assert_running(&mut self) {
        let exited = self.child.0.try_wait().expect("try_wait");
        assert!(
            exited.is_none(),
            "the server exited: {exited:?}; stderr:\n{}",
            self.log_text()
        );
    }

    /// Waits for the server to exit, then takes the rest of its stderr.
    fn wait_exit(&mut self) -> ExitStatus {
        let status = self.child.wait_exit();
        // The child is gone, so its stderr closes and the reader thread ends the channel (at
        // once where the test stopped reading it).
        self.log.take_rest();
        status
    }

    /// SIGTERM with nothing in flight: the server exits 0 within `PATIENCE`, without a panic.
    fn stop(&mut self) {
        self.signal(libc::SIGTERM);
        let status = self.wait_exit();
        assert_eq!(
            status.code(),
            Some(0),
            "after SIGTERM: {status:?}; stderr:\n{}",
            self.log_text()
        );
        assert!(
            !self.log_text().contains("panicked"),
            "the server panicked:\n{}",
            self.log_text()
        );
    }
}

/// The address in a `SERVICE listening on ADDR` (or `..., serving DIR`) line.
fn listening(lines: &[String], service: &str) -> Option<SocketAddr> {
    let needle = format!("{service} listening on ");
    lines.iter().find_map(|line| {
        let rest = line.split(&needle).nth(1)?;
        rest.split(',').next()?.trim().parse().ok()
    })
}

/// Reads the server's stderr on a thread. Followed: every line, to the end. Otherwise one byte
/// at a time (so nothing past them leaves the pipe) up to the listening lines, then the pipe is
/// handed back on the second channel and the line channel ends.
fn read_stderr(
    mut pipe: File,
    follow: bool,
    with_echo: bool,
) -> (Receiver<String>, Receiver<File>) {
    let (tx, lines) = mpsc::channel();
    let (give, handed_back) = mpsc::channel();
    thread::spawn(move || {
        if follow {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            // Bounded by the child: its exit closes the pipe.
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        if tx.send(text.trim_end_matches('\n').to_string()).is_err() {
                            return;
                        }
                    }
                }
            }
        }
        let (mut files, mut echo) = (false, !with_echo);
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        // Bounded: the startup lines are a few hundred bytes.
        for _ in 0..(64 << 10) {
            if files && echo {
                break;
            }
            match pipe.read(&mut byte) {
                Ok(0) => break,
                Ok(_) if byte[0] == b'\n' => {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    files |= text.contains("files listening on ");
                    echo |= text.contains("echo listening on ");
                    line.clear();
                    if tx.send(text).is_err() {
                        break;
                    }
                }
                Ok(_) => line.push(byte[0]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        drop(tx);
        let _ = give.send(pipe);
    });
    (lines, handed_back)
}

/// A FIFO at `path` shrunk to `PIPE_SIZE`: its read end (for the test) and write end (for the
/// server's stderr).
fn make_fifo(path: &Path) -> (File, File) {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string.
    let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo: {}", io::Error::last_os_error());
    // Opened nonblocking, so that opening the read end does not wait for a writer.
    let read_end = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .expect("open the FIFO's read end");
    let write_end = OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open the FIFO's write end");
    let fd = read_end.as_raw_fd();
    // SAFETY: fcntl(2) on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        assert!(flags >= 0, "F_GETFL: {}", io::Error::last_os_error());
        let rc = libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        assert_eq!(rc, 0, "F_SETFL: {}", io::Error::last_os_error());
        let size = libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_SIZE);
        assert!(
            size >= PIPE_SIZE,
            "F_SETPIPE_SZ: {}",
            io::Error::last_os_error()
        );
    }
    (read_end, write_end)
}

/// Bytes written into a pipe and not read yet.
fn unread_bytes(pipe: &File) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int, into a live one, for a descriptor we own.
    let rc = unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "FIONREAD: {}", io::Error::last_os_error());
    n as usize
}

/// The loopback TCP ports `pid` listens on: its socket inodes, looked up among the LISTEN
/// (state 0A) sockets of its network namespace.
fn listening_ports(pid: libc::pid_t) -> Vec<u16> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let inodes: Vec<String> = fds
        .filter_map(|fd| {
            let link = fs::read_link(fd.ok()?.path()).ok()?;
            let link = link.to_str()?;
            Some(
                link.strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    let table = fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|row| {
            let f: Vec<&str> = row.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" || !inodes.iter().any(|i| i == f[9]) {
                return None;
            }
            u16::from_str_radix(f[1].split(':').nth(1)?, 16).ok()
        })
        .collect()
}

/// Write calls and bytes written so far by each thread of `pid`, by thread id.
fn task_writes(pid: libc::pid_t) -> HashMap<String, (u64, u64)> {
    let mut by_task = HashMap::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_task;
    };
    for task in tasks.flatten() {
        let tid = task.file_name().to_string_lossy().into_owned();
        let Ok(io) = fs::read_to_string(task.path().join("io")) else {
            continue; // ended meanwhile
        };
        let field = |name: &str| {
            io.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        by_task.insert(tid, (field("syscw:"), field("wchar:")));
    }
    by_task
}

/// Makes one more request at a time (`request`) until a log writer of `pid` is seen to fail:
/// some thread, between two looks, making write calls that write not a byte (a write call
/// counts whether or not it fails, its bytes only when written; every other thread's writes go
/// through), or `also` saying so. Looks are compared pairwise, so a short write (some bytes,
/// then the wall) does not hide the failures after it.
fn request_until_writes_fail(
    pid: libc::pid_t,
    mut request: impl FnMut(),
    mut also: impl FnMut(&HashMap<String, (u64, u64)>) -> bool,
) {
    let mut made = 0;
    let mut before = task_writes(pid);
    await_cond("a log writer's writes to fail", || {
        request();
        made += 1;
        let now = task_writes(pid);
        let failing = now.iter().any(|(tid, &(calls, bytes))| {
            let (calls_before, bytes_before) = before.get(tid).copied().unwrap_or((0, 0));
            calls > calls_before && bytes == bytes_before
        });
        if failing || also(&now) {
            return Ok(());
        }
        let said = format!("after {made} requests, write calls and bytes by thread: {now:?}");
        before = now;
        Err(said)
    });
}

/// The mode bits of a file the server created.
fn assert_mode_0640(path: &Path) {
    let mode = fs::metadata(path)
        .expect("the log file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o640, "{} has mode {mode:o}", path.display());
}

// ---------------------------------------------------------------------------------------------
// Requests.

/// Makes a root directory at `path` serving `HELLO` under each of `names`.
fn make_root(path: &Path, names: &[String]) {
    fs::create_dir_all(path).unwrap();
    for name in names {
        fs::write(path.join(name), HELLO).unwrap();
    }
}

/// A raw-protocol request: sends `payload` and reads until the server closes. A refusal may
/// meet an error (the server closes with input unread); what came is returned all the same,
/// with the client's port. (The socket is closed at once: the iterative model waits for a
/// client's close before it takes the next client.)
fn raw_request(addr: SocketAddr, payload: &[u8]) -> (Vec<u8>, u16) {
    let mut stream = connect(addr);
    let port = stream.local_addr().unwrap().port();
    let mut got = Vec::new();
    if stream.write_all(payload).is_ok() {
        let _ = stream.read_to_end(&mut got);
    }
    (got, port)
}

/// Fetches `name` (which serves `HELLO`) over the raw protocol or HTTP, on a connection of
/// its own, and checks it came whole.
fn fetch(addr: SocketAddr, name: &str, over_http: bool) {
    if over_http {
        let request = get(&format!("/{name}"), &["Connection: close"]);
        let response = Client::connect(addr)
            .exchange(&request, false)
            .unwrap_or_else(|e| panic!("GET /{name}: {e}"));
        assert_eq!(response.status, 200, "GET /{name}: {}", response.describe());
        assert_eq!(response.body, HELLO, "GET /{name}");
    } else {
        let (got, _) = raw_request(addr, format!("{name}\n").as_bytes());
        assert_eq!(got, HELLO, "raw {name}");
    }
}

/// `conns` clients at once, each sending `batches` batches of `per_batch` pipelined GETs of
/// /hello.txt, written in one go and then read. Each batch has a connection of its own, since
/// the iterative model keeps one only while the next request is already there; its last
/// request asks to close. Every response must come whole, within the sockets' timeouts.
fn http_load(addr: SocketAddr, conns: usize, batches: usize, per_batch: usize) {
    at_once(conns, move |c| {
        for b in 0..batches {
            let mut batch = Vec::new();
            for r in 0..per_batch {
                let close: &[&str] = if r + 1 == per_batch {
                    &["Connection: close"]
                } else {
                    &[]
                };
                batch.extend(get(&format!("/hello.txt?c={c}&b={b}&r={r}"), close));
            }
            let at = |r: usize| format!("client {c}, batch {b}, request {r}");
            let mut client = Client::connect(addr);
            client
                .send(&batch)
                .map_err(|e| format!("{}: sending: {e}", at(0)))?;
            for r in 0..per_batch {
                let response = client
                    .response(false)
                    .map_err(|e| format!("{}: {e}", at(r)))?;
                if response.status != 200 || response.body != HELLO {
                    return Err(format!("{}: {}", at(r), response.describe()));
                }
            }
            let (extra, end) = client.finish();
            if !extra.is_empty() || !end.closed() {
                return Err(format!(
                    "{}: then {end:?} after {} more bytes",
                    at(per_batch),
                    extra.len()
                ));
            }
        }
        Ok(())
    });
}

/// `conns` echo clients at once, each making `trips` round trips on one connection.
fn echo_load(addr: SocketAddr, conns: usize, trips: usize) {
    at_once(conns, move |c| {
        let mut stream = connect(addr);
        for t in 0..trips {
            let message = format!("client {c} trip {t}\n");
            let mut back = vec![0; message.len()];
            stream
                .write_all(message.as_bytes())
                .and_then(|()| stream.read_exact(&mut back))
                .map_err(|e| format!("echo client {c}, trip {t}: {e}"))?;
            if back != message.as_bytes() {
                return Err(format!("echo client {c}, trip {t}: {back:?}"));
            }
        }
        Ok(())
    });
}

/// Runs `client(0)` to `client(n - 1)` each on a thread of its own, all at once; fails the
/// test with every client's error.
fn at_once(n: usize, client: impl Fn(usize) -> Result<(), String> + Send + Clone + 'static) {
    let clients: Vec<_> = (0..n)
        .map(|i| {
            let client = client.clone();
            thread::spawn(move || client(i))
        })
        .collect();
    let failures: Vec<String> = clients
        .into_iter()
        .filter_map(|c| c.join().unwrap_or_else(|_| Err("panicked".into())).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Log lines.

/// The characters no log line may hold raw: controls, line and paragraph separators, and the
/// invisible and bidirectional formatting characters that can make a line read as another.
fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Client bytes as every format shows them: printable UTF-8 as itself; forbidden characters,
/// `"`, `\` and invalid bytes as `\xNN` per byte.
fn escaped(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if forbidden(c) || c == '"' || c == '\\' {
                for b in c.to_string().bytes() {
                    write!(out, "\\x{b:02x}").unwrap();
                }
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            write!(out, "\\x{b:02x}").unwrap();
        }
    }
    out
}

/// Whether a logged `got` shows `want` (both escaped): the same, or, for text too long to show
/// whole, a prefix of at least 64 characters, `...` after it or not. (The spec sets no limit;
/// the server has always cut names and request lines at 256 bytes.)
fn shows(got: &str, want: &str) -> bool {
    let cut = got.strip_suffix("...").unwrap_or(got);
    got == want || (cut.len() >= 64 && cut.len() < want.len() && want.starts_with(cut))
}

/// Whether `s` has the shape of `pattern`: `0` a digit, `A` an uppercase ASCII letter, `a` a
/// lowercase one, anything else itself.
fn shaped(s: &str, pattern: &str) -> bool {
    s.len() == pattern.len()
        && s.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
            b'0' => c.is_ascii_digit(),
            b'A' => c.is_ascii_uppercase(),
            b'a' => c.is_ascii_lowercase(),
            _ => c == p,
        })
}

/// The whole lines of a log file (a line still being written is left out).
fn whole_lines(path: &Path) -> Vec<String> {
    let data = fs::read(path).unwrap_or_default();
    let end = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    String::from_utf8_lossy(&data[..end])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// What is wrong with a log file's bytes whatever its format: a last line without its newline,
/// a line that is not UTF-8, a forbidden character raw.
fn byte_problems(data: &[u8]) -> Vec<String> {
    let mut bad = Vec::new();
    if !data.is_empty() && !data.ends_with(b"\n") {
        bad.push("the file ends inside a line".to_string());
    }
    for (n, line) in data.split(|&b| b == b'\n').enumerate() {
        match std::str::from_utf8(line) {
            Err(_) => bad.push(format!(
                "line {} is not UTF-8: {}",
                n + 1,
                line.escape_ascii()
            )),
            Ok(text) => {
                if let Some(c) = text.chars().find(|&c| forbidden(c)) {
                    bad.push(format!(
                        "line {} holds U+{:04X} raw: {text:?}",
                        n + 1,
                        c as u32
                    ));
                }
            }
        }
    }
    bad
}

/// A common or combined line cut into its fields: `[...]` and `"..."` are one field each (a
/// quote inside is always escaped), anything else runs to the next space. `None` if the line
/// does not cut cleanly.
fn fields(line: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let end = match rest.as_bytes()[0] {
            b'[' => rest.find(']')? + 1,
            b'"' => rest[1..].find('"')? + 2,
            _ => rest.find(' ').unwrap_or(rest.len()),
        };
        out.push(&rest[..end]);
        rest = &rest[end..];
        if !rest.is_empty() {
            rest = rest.strip_prefix(' ')?;
            if rest.is_empty() {
                return None; // a trailing space
            }
        }
    }
    Some(out)
}

fn unquote(field: &str) -> Option<&str> {
    field.strip_prefix('"')?.strip_suffix('"')
}

/// Whether `line` is one whole access line in the common format: `IP - - [TIME] "REQUEST"
/// STATUS BYTES`, an optional `"REASON"` after it.
fn is_common_line(line: &str) -> bool {
    let Some(f) = fields(line) else { return false };
    (f.len() == 7 || f.len() == 8)
        && f[0] == "127.0.0.1"
        && f[1..3] == ["-", "-"]
        && shaped(f[3], "[00/Aaa/0000:00:00:00 +0000]")
        && unquote(f[4]).is_some()
        && (f[5] == "-" || f[5].parse::<u16>().is_ok())
        && (f[6] == "-" || f[6].parse::<u64>().is_ok_and(|n| n > 0))
        && f.get(7).is_none_or(|r| unquote(r).is_some())
}

/// The numbers in `N log lines dropped` / `N access log lines dropped` notes.
fn dropped_notes(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|line| {
            let before = line.split(" log lines dropped").next()?;
            if before.len() == line.len() {
                return None;
            }
            let before = before.strip_suffix(" access").unwrap_or(before);
            before.rsplit(' ').next()?.parse().ok()
        })
        .collect()
}

/// The numbers `N` of the `PREFIX-N` names in `lines`, one per line that has one.
fn ids(lines: &[String], prefix: &str) -> Vec<usize> {
    lines
        .iter()
        .filter_map(|line| {
            let at = line.find(prefix)? + prefix.len();
            let digits: String = line[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. A stderr that never drains, or that goes away.

/// The server's stderr is a FIFO whose reader reads the startup lines and then nothing: once
/// the pipe is full, every log write would block. Thousands of requests and echo round trips
/// must still be served; once the reader closes its end the server goes on, and stops on
/// SIGTERM.
fn a_stderr_nobody_reads_stalls_nothing(model: Model) {
    let dir = TempDir::new("log-stalled");
    let root = dir.join("root");
    make_root(&root, &["hello.txt".into()]);
    let fifo = dir.join("stderr.fifo");
    let mut server = Server::start(model, &root, &[], StderrTo::StalledFifo(&fifo));

    // 5,000 requests, each one an access line on stderr, and 1,000 echo round trips.
    http_load(server.files, 10, 10, 50);
    echo_load(server.echo(), 10, 100);
    let held = server.held.as_ref().expect("the FIFO's read end");
    let unread = unread_bytes(held);
    assert!(
        unread >= PIPE_SIZE as usize / 2,
        "the FIFO holds only {unread} bytes: the server never met a full pipe"
    );
    server.assert_running();

    // The reader goes away: writing now fails (EPIPE), and serving goes on.
    server.held = None;
    http_load(server.files, 2, 2, 50);
    echo_load(server.echo(), 2, 10);
    server.assert_running();
    server.stop();
}

/// `tcpserve serve 2>&1 | head -3`: the reader of stderr takes the startup lines and exits.
/// Every later log write meets a broken pipe; the server serves on and stops cleanly.
fn a_stderr_closed_by_its_reader_stalls_nothing(model: Model) {
    let dir = TempDir::new("log-head");
    let root = dir.join("root");
    make_root(&root, &["hello.txt".into()]);
    let mut server = Server::start(model, &root, &[], StderrTo::ClosedAfterStartup);
    for round in 0..3 {
        http_load(server.files, 2, 1, 50);
        for i in 0..10 {
            fetch(server.files, "hello.txt", false);
            // A refusal is logged too.
            let (got, _) = raw_request(server.files, format!("missing-{round}-{i}\n").as_bytes());
            assert!(got.is_empty(), "a refusal sent {} bytes", got.len());
        }
        echo_load(server.echo(), 2, 10);
        server.assert_running();
    }
    server.stop();
}

// ---------------------------------------------------------------------------------------------
// 2. Rotation.

/// logrotate's way, twice: move the files aside, signal (SIGHUP, then SIGUSR1), and the server
/// writes to fresh files at the old paths. Every request's line is in exactly one file; the
/// last ones are in the fresh file; the diagnostics log moves on too (the counters at exit go
/// to the fresh one).
fn rotation_by_sighup_and_sigusr1_loses_and_repeats_nothing(model: Model) {
    const ROUND: usize = 20;
    let dir = TempDir::new("log-rotate");
    let root = dir.join("root");
    let names: Vec<String> = (0..3 * ROUND).map(|i| format!("rot-{i}")).collect();
    make_root(&root, &names);
    let access = dir.join("access.log");
    let diag = dir.join("diag.log");
    let extra = ["--log", arg(&diag), "--access-log", arg(&access)];
    let mut server = Server::start(model, &root, &extra, StderrTo::Followed);
    assert_mode_0640(&access);
    assert_mode_0640(&diag);

    // Requests `rot-N` for N in `ids`, raw and HTTP by turns.
    let files = server.files;
    let requests = |ids: std::ops::Range<usize>| {
        for id in ids {
            fetch(files, &format!("rot-{id}"), id % 2 == 0);
        }
    };
    // Every line of these files, for a failure message.
    let dump = |paths: &[PathBuf]| -> String {
        paths
            .iter()
            .map(|p| format!("--- {}\n{}", p.display(), whole_lines(p).join("\n")))
            .collect::<Vec<_>>()
            .join("\n")
    };

    requests(0..ROUND);
    await_cond(&format!("{ROUND} lines in access.log"), || {
        let n = whole_lines(&access).len();
        (n >= ROUND).then_some(()).ok_or(format!("{n} lines"))
    });

    let mut moved = Vec::new();
    for (round, (signal, name)) in [(libc::SIGHUP, "SIGHUP"), (libc::SIGUSR1, "SIGUSR1")]
        .into_iter()
        .enumerate()
    {
        let old_access = dir.join(format!("access.log.{}", round + 1));
        let old_diag = dir.join(format!("diag.log.{}", round + 1));
        fs::rename(&access, &old_access).unwrap();
        fs::rename(&diag, &old_diag).unwrap();
        moved.push(old_access);
        server.signal(signal);
        await_cond(&format!("fresh log files after {name}"), || {
            match (access.exists(), diag.exists()) {
                (true, true) => Ok(()),
                got => Err(format!("(access.log, diag.log) exist: {got:?}")),
            }
        });
        assert_mode_0640(&access);
        assert_mode_0640(&diag);
        server.assert_running();

        let made = (round + 2) * ROUND;
        requests(made - ROUND..made);
        let mut all: Vec<PathBuf> = moved.clone();
        all.push(access.clone());
        await_cond(&format!("{made} lines in all after {name}"), || {
            let n: usize = all.iter().map(|p| whole_lines(p).len()).sum();
            (n >= made).then_some(()).ok_or_else(|| dump(&all))
        });
        let mut seen: Vec<usize> = all
            .iter()
            .flat_map(|p| ids(&whole_lines(p), "rot-"))
            .collect();
        seen.sort_unstable();
        let want: Vec<usize> = (0..made).collect();
        assert_eq!(
            seen,
            want,
            "after {name}, each request once:\n{}",
            dump(&all)
        );
        let fresh = ids(&whole_lines(&access), "rot-");
        assert!(
            fresh.contains(&(made - 1)),
            "the last request's line is not in the fresh file after {name}:\n{}",
            dump(&all)
        );
    }

    server.stop();
    let in_file = |path: &Path| fs::read_to_string(path).unwrap_or_default();
    assert!(
        in_file(&diag).contains("stopped:"),
        "no `stopped:` in the fresh diag.log:\n{}",
        in_file(&diag)
    );
    for old in ["diag.log.1", "diag.log.2"] {
        let text = in_file(&dir.join(old));
        assert!(!text.contains("stopped:"), "{old}:\n{text}");
        assert!(!text.contains("panicked"), "{old}:\n{text}");
    }
}

/// With both logs on stderr there is nothing to reopen: the signals must not kill the server
/// (their default action), and access lines go on.
fn sighup_and_sigusr1_with_logging_to_stderr_keep_serving(model: Model) {
    let dir = TempDir::new("log-hup-stderr");
    let root = dir.join("root");
    make_root(&root, &["hello.txt".into()]);
    let mut server = Server::start(model, &root, &[], StderrTo::Followed);
    fetch(server.files, "hello.txt", false);
    server.wait_for("\"hello.txt\"");
    for (signal, name) in [(libc::SIGHUP, "sighup"), (libc::SIGUSR1, "sigusr1")] {
        server.signal(signal);
        let missing = format!("after-{name}");
        let (got, _) = raw_request(server.files, format!("{missing}\n").as_bytes());
        assert!(got.is_empty());
        server.wait_for(&format!("\"{missing}\""));
        server.assert_running();
    }
    let mut c = connect(server.echo());
    c.write_all(b"still echoing").unwrap();
    let mut back = [0u8; 13];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"still echoing");
    drop(c);
    server.stop();
}

// ---------------------------------------------------------------------------------------------
// 3. Formats and hostile input.

/// What a request is.
enum Ask {
    /// A raw-protocol payload and the name its framing takes from it.
    Raw { payload: Vec<u8>, name: Vec<u8> },
    Http {
        method: &'static str,
        target: Vec<u8>,
        /// Header fields beyond `Host` and `Connection: close`.
        fields: Vec<Vec<u8>>,
    },
}

/// What a line must say after the request: nothing, these words, or something.
#[derive(Clone, Copy)]
enum Why {
    Nothing,
    Says(&'static str),
    Something,
}

/// One request of the format tests, and what its line must say.
struct Row {
    what: &'static str,
    ask: Ask,
    /// The HTTP status; `None`: any.
    status: Option<u16>,
    why: Why,
    /// Whether the request line is well-formed: where it is not (a byte a target may not
    /// hold), JSON's `method`, `target` and `version` may be null.
    parsed: bool,
    /// The body a client must receive.
    body: Option<&'static [u8]>,
}

fn raw(what: &'static str, payload: impl AsRef<[u8]>, name: impl AsRef<[u8]>, why: Why) -> Row {
    Row {
        what,
        ask: Ask::Raw {
            payload: payload.as_ref().to_vec(),
            name: name.as_ref().to_vec(),
        },
        status: None,
        why,
        parsed: true,
        body: match why {
            Why::Nothing => Some(HELLO),
            _ => Some(b""),
        },
    }
}

fn http(
    what: &'static str,
    method: &'static str,
    target: impl AsRef<[u8]>,
    fields: &[&[u8]],
    status: Option<u16>,
    why: Why,
) -> Row {
    Row {
        what,
        ask: Ask::Http {
            method,
            target: target.as_ref().to_vec(),
            fields: fields.iter().map(|f| f.to_vec()).collect(),
        },
        status,
        why,
        parsed: true,
        body: match (status, method) {
            (Some(200), "GET") => Some(HELLO),
            _ => None,
        },
    }
}

/// An HTTP request whose target holds a byte no target may: answered 400.
fn unparsed(what: &'static str, target: impl AsRef<[u8]>) -> Row {
    Row {
        parsed: false,
        ..http(what, "GET", target, &[], Some(400), Why::Something)
    }
}

/// The requests every format test makes: positive controls, then hostile names, targets and
/// header values. Each request line is unique, so a common line can be matched to its row.
fn rows() -> Vec<Row> {
    use Why::*;
    let long_name = "n".repeat(5000);
    let long_target = format!("/{}", "t".repeat(5000));
    vec![
        // Positive controls.
        raw("a file", "hello.txt\n", "hello.txt", Nothing),
        raw(
            "a UTF-8 name shows as itself",
            "你好.txt\n",
            "你好.txt",
            Nothing,
        ),
        raw(
            "a missing file",
            "missing.txt\n",
            "missing.txt",
            Says("not found"),
        ),
        http("GET", "GET", "/hello.txt?get", &[], Some(200), Nothing),
        http("HEAD", "HEAD", "/hello.txt?head", &[], Some(200), Nothing),
        http(
            "a range",
            "GET",
            "/hello.txt?range",
            &[b"Range: bytes=1-2"],
            Some(206),
            Nothing,
        ),
        http(
            "a missing file",
            "GET",
            "/missing.txt",
            &[],
            Some(404),
            Says("not found"),
        ),
        http(
            "a referer and a user agent",
            "GET",
            "/hello.txt?agent",
            &[
                b"Referer: http://ref.test/page",
                b"User-Agent: tcpserve-test/1.0",
            ],
            Some(200),
            Nothing,
        ),
        http(
            "a user agent only",
            "GET",
            "/missing.txt?agent",
            &[b"User-Agent: only-an-agent"],
            Some(404),
            Says("not found"),
        ),
        // A method refused: its line still shows the head's fields.
        http(
            "a POST refused with its fields",
            "POST",
            "/hello.txt?post",
            &[b"User-Agent: a-poster", b"Referer: http://from/post"],
            Some(405),
            Says("method not allowed"),
        ),
        // Hostile raw names. A newline ends a name: what follows it must not reach the log.
        raw(
            "a newline",
            "nl\nAFTER-THE-NEWLINE\n",
            "nl",
            Says("not found"),
        ),
        raw("a CR", "cr\rx\n", "cr\rx", Says("not found")),
        raw(
            "ESC",
            "\x1b[31mred\x1b[0m\n",
            "\x1b[31mred\x1b[0m",
            Says("not found"),
        ),
        // It begins like a request line, so it is HTTP; ESC is no target byte: 400.
        unparsed("an HTTP request line with ESC", "/\x1b[2J"),
        raw("a quote", "q\"uote\n", "q\"uote", Says("not found")),
        raw(
            "a backslash",
            "back\\slash\n",
            "back\\slash",
            Says("not found"),
        ),
        raw("a tab", "ta\tb\n", "ta\tb", Says("not found")),
        raw("DEL", "del\x7f\n", "del\x7f", Says("not found")),
        raw(
            "a C1 control (NEL)",
            "nel\u{85}\n",
            "nel\u{85}",
            Says("not found"),
        ),
        raw(
            "invalid UTF-8",
            b"bad\xff\xfe\xc3\n",
            b"bad\xff\xfe\xc3",
            Says("not found"),
        ),
        raw("U+2028", "ls\u{2028}x\n", "ls\u{2028}x", Says("not found")),
        raw("U+2029", "ps\u{2029}x\n", "ps\u{2029}x", Says("not found")),
        raw(
            "U+202E",
            "rlo\u{202e}txt.exe\n",
            "rlo\u{202e}txt.exe",
            Says("not found"),
        ),
        raw(
            "U+2066",
            "lri\u{2066}x\n",
            "lri\u{2066}x",
            Says("not found"),
        ),
        raw(
            "U+2069",
            "pdi\u{2069}x\n",
            "pdi\u{2069}x",
            Says("not found"),
        ),
        raw(
            "U+200B",
            "zw\u{200b}sp\n",
            "zw\u{200b}sp",
            Says("not found"),
        ),
        raw(
            "U+200F",
            "rlm\u{200f}x\n",
            "rlm\u{200f}x",
            Says("not found"),
        ),
        raw("NUL", b"nul\0x\n", b"nul\0x", Something),
        raw(
            "a very long name",
            format!("{long_name}\n"),
            &long_name,
            Something,
        ),
        // Hostile HTTP targets: percent-escapes are logged as sent, not decoded.
        http(
            "percent-encoded controls",
            "GET",
            "/%0a%0d%1b%22%5c%e2%80%ae",
            &[],
            Some(404),
            Says("not found"),
        ),
        http(
            "a quote in a target",
            "GET",
            "/q\"uote",
            &[],
            Some(404),
            Says("not found"),
        ),
        http(
            "a backslash in a target",
            "GET",
            "/back\\slash",
            &[],
            Some(404),
            Says("not found"),
        ),
        unparsed("invalid UTF-8 in a target", b"/bad\xff"),
        unparsed("U+2028 in a target", "/ls\u{2028}x"),
        unparsed("U+202E in a target", "/rlo\u{202e}x"),
        unparsed("U+2066 in a target", "/lri\u{2066}x"),
        http(
            "a very long target",
            "GET",
            &long_target,
            &[],
            None,
            Something,
        ),
        // Hostile header values (a field value may hold quotes, backslashes, tabs and any
        // byte from 0x80).
        http(
            "a hostile user agent and referer",
            "GET",
            "/hello.txt?hostile",
            &[
                b"User-Agent: say \"hi\" \\ \xe2\x80\xae\xe2\x80\xa8 \xff\tend",
                b"Referer: http://ref.test/\xe2\x81\xa6\"x\"\\",
            ],
            Some(200),
            Nothing,
        ),
    ]
}

impl Row {
    /// The request as the common format shows it (escaped): a raw name, or an HTTP request line.
    fn request_text(&self) -> String {
        match &self.ask {
            Ask::Raw { name, .. } => escaped(name),
            Ask::Http { method, target, .. } => {
                escaped(&[method.as_bytes(), b" ", target, b" HTTP/1.1"].concat())
            }
        }
    }

    /// The value of header field `name` the request sent, escaped.
    fn field(&self, name: &str) -> Option<String> {
        let Ask::Http { fields, .. } = &self.ask else {
            return None;
        };
        fields.iter().find_map(|f| {
            let colon = f.iter().position(|&b| b == b':')?;
            let is = f[..colon].eq_ignore_ascii_case(name.as_bytes());
            is.then(|| escaped(f[colon + 1..].trim_ascii()))
        })
    }
}

/// What a request got.
struct Made {
    port: u16,
    /// The HTTP status received.
    status: Option<u16>,
    /// Body bytes received (raw: every byte).
    bytes: usize,
}

/// Makes each row's request on a connection of its own and checks the answer; returns what
/// each got.
fn make_requests(addr: SocketAddr, rows: &[Row]) -> Vec<Made> {
    let mut made = Vec::new();
    for row in rows {
        let one = match &row.ask {
            Ask::Raw { payload, .. } => {
                let (got, port) = raw_request(addr, payload);
                if let Some(body) = row.body {
                    assert_eq!(got, body, "{}", row.what);
                }
                Made {
                    port,
                    status: None,
                    bytes: got.len(),
                }
            }
            Ask::Http {
                method,
                target,
                fields,
            } => {
                let mut request = [method.as_bytes(), b" ", target, b" HTTP/1.1\r\n"].concat();
                request.extend_from_slice(b"Host: tcpserve.test\r\nConnection: close\r\n");
                for field in fields {
                    request.extend_from_slice(field);
                    request.extend_from_slice(b"\r\n");
                }
                request.extend_from_slice(b"\r\n");
                let mut client = Client::connect(addr);
                let response: Response = client
                    .exchange(&request, *method == "HEAD")
                    .unwrap_or_else(|e| panic!("{}: {e}", row.what));
                if let Some(status) = row.status {
                    assert_eq!(
                        response.status,
                        status,
                        "{}: {}",
                        row.what,
                        response.describe()
                    );
                }
                if let Some(body) = row.body {
                    assert_eq!(response.body, body, "{}", row.what);
                }
                Made {
                    port: client.stream.local_addr().unwrap().port(),
                    status: Some(response.status),
                    bytes: response.body.len(),
                }
            }
        };
        made.push(one);
    }
    made
}

/// A server logging access lines in `format` to a file, the table's requests made and the
/// server stopped (so every line is written): the rows, what each got, and the file.
fn access_log_in(model: Model, format: &str) -> (TempDir, Vec<Row>, Vec<Made>, PathBuf) {
    let dir = TempDir::new(&format!("log-{format}"));
    let root = dir.join("root");
    make_root(&root, &["hello.txt".into(), "你好.txt".into()]);
    let log = dir.join("access.log");
    let extra = ["--access-log-format", format, "--access-log", arg(&log)];
    let mut server = Server::start(model, &root, &extra, StderrTo::Followed);
    let rows = rows();
    let made = make_requests(server.files, &rows);
    server.stop();
    (dir, rows, made, log)
}

/// A JSON value as the python script hands it over.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Null,
    Num(i64),
    Str(String),
    Other(String),
}

/// Parses every line of `path` with python's json module; each line comes back as its keys
/// and values (strings in hex, so nothing is lost on the way), or as what is wrong with it.
const PARSE_JSON_LINES: &str = r##"
import json, sys
KEYS = {"time", "client", "port", "protocol", "method", "target", "version", "status",
        "bytes", "duration_us", "range", "referer", "user_agent", "reason"}
def show(v):
    if v is None:
        return "~"
    if isinstance(v, bool):
        return "?bool"
    if isinstance(v, int):
        return "#%d" % v
    if isinstance(v, str):
        return "s" + v.encode("utf-8", "surrogatepass").hex()
    return "?" + type(v).__name__
data = open(sys.argv[1], "rb").read()
lines = data.split(b"\n")
if lines.pop() != b"":
    print("BAD the file ends inside a line")
for n, line in enumerate(lines, 1):
    try:
        obj = json.loads(line)
    except ValueError as e:
        print("BAD line %d does not parse (%s): %r" % (n, e, line[:200]))
        continue
    if not isinstance(obj, dict):
        print("BAD line %d is not an object" % n)
    elif set(obj) != KEYS:
        print("BAD line %d has the keys %s" % (n, sorted(obj)))
    else:
        print(" ".join("%s=%s" % (k, show(obj[k])) for k in sorted(obj)))
"##;

type Record = BTreeMap<String, Val>;

/// Runs the script over `path`: a record per line, or what was wrong with it.
fn parse_json_lines(path: &Path) -> Vec<Result<Record, String>> {
    let out = run_bounded(
        Command::new("python3")
            .args(["-I", "-c", PARSE_JSON_LINES])
            .arg(path),
    )
    .expect("run python3");
    assert!(out.status.success(), "python3: {}", out.describe());
    out.stdout
        .lines()
        .map(|line| {
            if let Some(bad) = line.strip_prefix("BAD ") {
                return Err(bad.to_string());
            }
            let mut record = Record::new();
            for pair in line.split(' ') {
                let (key, value) = pair.split_once('=').ok_or(format!("no `=` in {pair}"))?;
                let value = match value.as_bytes().first() {
                    Some(b'~') => Val::Null,
                    Some(b'#') => Val::Num(value[1..].parse().map_err(|_| pair.to_string())?),
                    Some(b's') => {
                        let bytes = (1..value.len())
                            .step_by(2)
                            .map(|i| u8::from_str_radix(&value[i..i + 2], 16))
                            .collect::<Result<Vec<u8>, _>>()
                            .map_err(|_| pair.to_string())?;
                        match String::from_utf8(bytes) {
                            Ok(s) => Val::Str(s),
                            Err(_) => Val::Other("a lone surrogate".into()),
                        }
                    }
                    _ => Val::Other(value.to_string()),
                };
                record.insert(key.to_string(), value);
            }
            Ok(record)
        })
        .collect()
}

/// What is wrong with `record` as the JSON line of `row`'s request.
fn json_problems(record: &Record, row: &Row, made: &Made) -> Vec<String> {
    use Val::*;
    let mut bad = Vec::new();
    let mut check = |key: &str, ok: &dyn Fn(&Val) -> bool, want: String| {
        let got = record.get(key).cloned().unwrap_or(Other("missing".into()));
        if !ok(&got) {
            bad.push(format!("{key} is {got:?}, want {want}"));
        }
    };
    let is_str = |want: &str| {
        let want = want.to_string();
        move |v: &Val| *v == Str(want.clone())
    };
    let null = |v: &Val| *v == Null;
    let is_num = |want: u64| move |v: &Val| *v == Num(want as i64);
    // The escaped text, or (where the request line did not parse) null.
    let shown = |want: String, or_null: bool| {
        move |v: &Val| match v {
            Str(s) => shows(s, &want),
            Null => or_null,
            _ => false,
        }
    };
    let optional = |want: Option<String>| {
        move |v: &Val| match (&want, v) {
            (None, Null) => true,
            (Some(w), Str(s)) => w == s,
            _ => false,
        }
    };
    check(
        "time",
        &|v| matches!(v, Str(s) if shaped(s, "0000-00-00T00:00:00.000Z")),
        "RFC 3339 UTC with milliseconds".into(),
    );
    check("client", &is_str("127.0.0.1"), "127.0.0.1".into());
    check("port", &is_num(made.port.into()), made.port.to_string());
    check("bytes", &is_num(made.bytes as u64), made.bytes.to_string());
    check(
        "duration_us",
        &|v| matches!(v, Num(n) if *n >= 0),
        "a count".into(),
    );
    match &row.ask {
        Ask::Raw { name, .. } => {
            check("protocol", &is_str("raw"), "raw".into());
            check("method", &null, "null".into());
            check("target", &shown(escaped(name), false), escaped(name));
            check("version", &null, "null".into());
            check("status", &null, "null".into());
        }
        Ask::Http { method, target, .. } => {
            let loose = !row.parsed;
            check("protocol", &is_str("http"), "http".into());
            check(
                "method",
                &shown(method.to_string(), loose),
                method.to_string(),
            );
            check("target", &shown(escaped(target), loose), escaped(target));
            check(
                "version",
                &shown("HTTP/1.1".into(), loose),
                "HTTP/1.1".into(),
            );
            let status = made.status.expect("an HTTP status");
            check("status", &is_num(status.into()), status.to_string());
        }
    }
    for (key, field) in [
        ("range", "Range"),
        ("referer", "Referer"),
        ("user_agent", "User-Agent"),
    ] {
        let want = row.field(field);
        check(key, &optional(want.clone()), format!("{want:?}"));
    }
    match row.why {
        Why::Nothing => check("reason", &null, "null".into()),
        Why::Says(words) => check("reason", &is_str(words), words.into()),
        Why::Something => check("reason", &|v| matches!(v, Str(_)), "a reason".into()),
    }
    bad
}

/// What is wrong with `line` as the common (or combined) line of `row`'s request.
fn clf_problems(line: &str, row: &Row, made: &Made, combined: bool) -> Vec<String> {
    let Some(f) = fields(line) else {
        return vec!["does not cut into fields".into()];
    };
    let mut bad = Vec::new();
    let reason_at = if combined { 9 } else { 7 };
    let want_len = reason_at + usize::from(!matches!(row.why, Why::Nothing));
    if f.len() != want_len {
        bad.push(format!("{} fields, want {want_len}: {f:?}", f.len()));
        return bad;
    }
    if f[0] != "127.0.0.1" || f[1] != "-" || f[2] != "-" {
        bad.push(format!("starts {:?}, want `127.0.0.1 - -`", &f[..3]));
    }
    if !shaped(f[3], "[00/Aaa/0000:00:00:00 +0000]") {
        bad.push(format!("time {}", f[3]));
    }
    match unquote(f[4]) {
        Some(request) if shows(request, &row.request_text()) => {}
        _ => bad.push(format!("request {}, want \"{}\"", f[4], row.request_text())),
    }
    let status = made.status.map_or("-".to_string(), |s| s.to_string());
    if f[5] != status {
        bad.push(format!("status {}, want {status}", f[5]));
    }
    let bytes = if made.bytes == 0 {
        "-".to_string()
    } else {
        made.bytes.to_string()
    };
    if f[6] != bytes {
        bad.push(format!("bytes {}, want {bytes}", f[6]));
    }
    if combined {
        for (at, field) in [(7, "Referer"), (8, "User-Agent")] {
            let ok = match row.field(field) {
                // The spec says `-` when absent; Apache's combined format quotes it.
                None => f[at] == "-" || f[at] == "\"-\"",
                Some(want) => unquote(f[at]) == Some(want.as_str()),
            };
            if !ok {
                bad.push(format!("{field} {}, want {:?}", f[at], row.field(field)));
            }
        }
    }
    match (row.why, f.get(reason_at).map(|r| unquote(r))) {
        (Why::Nothing, None) | (Why::Something, Some(Some(_))) => {}
        (Why::Says(words), Some(Some(got))) if got == words => {}
        (_, got) => bad.push(format!("reason {got:?}")),
    }
    bad
}

/// Checks the common or combined log: one well-formed line per request, matched by its
/// request text, and nothing else.
fn check_clf_log(model: Model, combined: bool) {
    let format = if combined { "combined" } else { "common" };
    let (_dir, rows, made, log) = access_log_in(model, format);
    let data = fs::read(&log).expect("the access log");
    let mut bad = byte_problems(&data);
    let lines = whole_lines(&log);
    if lines.len() != rows.len() {
        bad.push(format!("{} lines for {} requests", lines.len(), rows.len()));
    }
    let mut matched = vec![false; lines.len()];
    for (row, made) in rows.iter().zip(&made) {
        let want = row.request_text();
        let hits: Vec<usize> = (0..lines.len())
            .filter(|&i| {
                let request = fields(&lines[i]).and_then(|f| f.get(4).and_then(|r| unquote(r)));
                request.is_some_and(|r| shows(r, &want))
            })
            .collect();
        match hits[..] {
            [i] => {
                matched[i] = true;
                for problem in clf_problems(&lines[i], row, made, combined) {
                    bad.push(format!("{}: {problem}\n    {}", row.what, lines[i]));
                }
            }
            _ => bad.push(format!("{}: {} lines for \"{want}\"", row.what, hits.len())),
        }
    }
    for (line, _) in lines.iter().zip(&matched).filter(|(_, m)| !**m) {
        bad.push(format!("a line for no request: {line}"));
    }
    if lines.iter().any(|l| l.contains("AFTER-THE-NEWLINE")) {
        bad.push("what followed a raw name's newline reached the log".into());
    }
    assert!(bad.is_empty(), "{format} log:\n{}", bad.join("\n"));
}

/// `--access-log-format json`: every line parses (python's json module), one per request,
/// every key present, and each field says what the request was, client text escaped.
fn json_lines_parse_and_escape_hostile_input(model: Model) {
    if !python3_or_skip() {
        return;
    }
    let (_dir, rows, made, log) = access_log_in(model, "json");
    let data = fs::read(&log).expect("the access log");
    let mut bad = byte_problems(&data);
    let parsed = parse_json_lines(&log);
    let mut records = Vec::new();
    for line in parsed {
        match line {
            Ok(record) => records.push(record),
            Err(e) => bad.push(e),
        }
    }
    if records.len() != rows.len() {
        bad.push(format!(
            "{} JSON lines for {} requests",
            records.len(),
            rows.len()
        ));
    }
    for (row, made) in rows.iter().zip(&made) {
        let port = Val::Num(made.port.into());
        let mut hits: Vec<&Record> = records
            .iter()
            .filter(|r| r.get("port") == Some(&port))
            .collect();
        if hits.len() > 1 {
            // The kernel gave this port twice: the right line is the one that fits.
            hits.retain(|r| json_problems(r, row, made).is_empty());
        }
        match hits[..] {
            [record] => {
                for problem in json_problems(record, row, made) {
                    bad.push(format!("{}: {problem}", row.what));
                }
            }
            _ => bad.push(format!(
                "{}: {} lines for port {}",
                row.what,
                hits.len(),
                made.port
            )),
        }
    }
    let text = String::from_utf8_lossy(&data);
    if text.contains("AFTER-THE-NEWLINE") {
        bad.push("what followed a raw name's newline reached the log".into());
    }
    assert!(
        bad.is_empty(),
        "json log:\n{}\n--- the log\n{text}",
        bad.join("\n")
    );
}

/// `--access-log-format combined`: the common fields, then the Referer and User-Agent the
/// client sent (escaped), `-` when it sent none (raw requests never do).
fn combined_lines_carry_referer_and_user_agent(model: Model) {
    check_clf_log(model, true);
}

/// The default format: `IP - - [TIME] "REQUEST" STATUS BYTES` (`-` for no status, raw, and
/// for no bytes), then the quoted reason for a refusal; client text escaped.
fn common_lines_have_the_common_shape(model: Model) {
    check_clf_log(model, false);
}

// ---------------------------------------------------------------------------------------------
// Shutdown, quiet and off.

/// Lines still queued at SIGTERM are written before the server exits: every request answered
/// before the signal has its line.
fn sigterm_writes_every_queued_line(model: Model) {
    const BATCHES: usize = 4;
    const PER_BATCH: usize = 50;
    let dir = TempDir::new("log-flush");
    let root = dir.join("root");
    make_root(&root, &["hello.txt".into()]);
    let log = dir.join("access.log");
    let mut server = Server::start(
        model,
        &root,
        &["--access-log", arg(&log)],
        StderrTo::Followed,
    );
    for b in 0..BATCHES {
        let mut batch = Vec::new();
        for r in 0..PER_BATCH {
            let close: &[&str] = if r + 1 == PER_BATCH {
                &["Connection: close"]
            } else {
                &[]
            };
            batch.extend(get(
                &format!("/hello.txt?flush-{}", b * PER_BATCH + r),
                close,
            ));
        }
        let mut client = Client::connect(server.files);
        client.send(&batch).unwrap();
        for r in 0..PER_BATCH {
            let response = client
                .response(false)
                .unwrap_or_else(|e| panic!("{b}/{r}: {e}"));
            assert_eq!(response.status, 200, "{}", response.describe());
        }
        let (_, end) = client.finish();
        assert!(end.closed(), "{end:?}");
    }
    server.stop();
    let lines = whole_lines(&log);
    let mut seen = ids(&lines, "flush-");
    seen.sort_unstable();
    let want: Vec<usize> = (0..BATCHES * PER_BATCH).collect();
    assert_eq!(seen, want, "lines in the file:\n{}", lines.join("\n"));
    assert_eq!(lines.len(), want.len());
    assert!(
        lines.iter().all(|l| is_common_line(l)),
        "{}",
        lines.join("\n")
    );
    assert_eq!(
        dropped_notes(&server.log),
        Vec::<u64>::new(),
        "{}",
        server.log_text()
    );
}

/// Options that leave lines out: `-q` logs only warnings and errors, so no refusal (they are
/// info lines); `--access-log off` no access line; `--log off` no diagnostics line. Checked
/// after a graceful stop, which writes every queued line, so a line absent is absent.
fn quiet_and_off_leave_out_what_they_say(model: Model) {
    struct Case {
        args: &'static [&'static str],
        refusals: bool,
        /// Whether successes are logged; `None`: not checked.
        served: Option<bool>,
        /// Whether diagnostics (the counters at exit) are logged; `None`: not checked.
        diagnostics: Option<bool>,
    }
    let cases = [
        Case {
            args: &[],
            refusals: true,
            served: Some(true),
            diagnostics: Some(true),
        },
        Case {
            args: &["-q"],
            refusals: false,
            served: None,
            diagnostics: None,
        },
        Case {
            args: &["--access-log", "off"],
            refusals: false,
            served: Some(false),
            diagnostics: Some(true),
        },
        Case {
            args: &["--log", "off"],
            refusals: true,
            served: Some(true),
            diagnostics: Some(false),
        },
    ];
    let dir = TempDir::new("log-quiet");
    let root = dir.join("root");
    make_root(&root, &["quiet-served".into()]);
    for case in cases {
        let mut server = Server::start(model, &root, case.args, StderrTo::Followed);
        fetch(server.files, "quiet-served", false);
        fetch(server.files, "quiet-served", true);
        let (got, _) = raw_request(server.files, b"quiet-missing-raw\n");
        assert!(got.is_empty());
        let request = get("/quiet-missing-http", &["Connection: close"]);
        let response = Client::connect(server.files)
            .exchange(&request, false)
            .unwrap();
        assert_eq!(response.status, 404);
        server.stop();
        let what = format!("{:?}; stderr:\n{}", case.args, server.log_text());
        let refusals = server.count("quiet-missing-raw") + server.count("/quiet-missing-http");
        let want = if case.refusals { 2 } else { 0 };
        assert_eq!(refusals, want, "refusal lines with {what}");
        if let Some(served) = case.served {
            let want = if served { 2 } else { 0 };
            assert_eq!(
                server.count("quiet-served"),
                want,
                "served lines with {what}"
            );
        }
        if let Some(diagnostics) = case.diagnostics {
            assert_eq!(
                server.count("stopped:") == 1,
                diagnostics,
                "`stopped:` with {what}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Full, broken and unopenable destinations.

/// A small tmpfs mounted on a scratch directory, unmounted (lazily) when dropped.
struct Tmpfs {
    mnt: PathBuf,
    _dir: TempDir,
}

impl Tmpfs {
    /// Mounts a 256 KiB tmpfs, read-only if asked; `Err` says why it cannot.
    fn mount(test: &str, read_only: bool) -> Result<Tmpfs, String> {
        let dir = TempDir::new(test);
        let mnt = dir.join("mnt");
        fs::create_dir(&mnt).unwrap();
        let target = CString::new(mnt.as_os_str().as_bytes()).unwrap();
        let mut flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        if read_only {
            flags |= libc::MS_RDONLY;
        }
        // SAFETY: valid C strings; tmpfs takes its options as a C string.
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                flags,
                c"size=256k,mode=0755".as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error().to_string());
        }
        Ok(Tmpfs { mnt, _dir: dir })
    }

    /// A mounted tmpfs, or `None` after saying why not (the skipping rule).
    fn or_skip(test: &str, read_only: bool) -> Option<Tmpfs> {
        match Tmpfs::mount(test, read_only) {
            Ok(tmpfs) => Some(tmpfs),
            Err(e) => {
                skip(&format!("needs root to mount a tmpfs (mount: {e})"));
                None
            }
        }
    }

    fn path(&self) -> &Path {
        &self.mnt
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let target = CString::new(self.mnt.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string. A lazy unmount cannot be refused for being busy.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Fills the filesystem at `dir` with a file until it has no byte left; returns the file.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = File::create(&path).unwrap();
    let chunk = [0x5a; 4096];
    // Bounded: 256 KiB takes 64 chunks.
    for _ in 0..1024 {
        match file.write(&chunk) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                // A new file cannot get a byte either.
                let probe = dir.join("probe");
                let written = File::create(&probe).and_then(|mut f| f.write(b"x"));
                assert!(written.is_err(), "the filesystem still takes bytes");
                fs::remove_file(probe).unwrap();
                return path;
            }
            Err(e) => panic!("filling {}: {e}", dir.display()),
        }
    }
    panic!("{} still takes bytes after 4 MiB", dir.display());
}

/// The access log on a filesystem that is full (from the start, or from after its first line):
/// requests are served all the same; once the space comes back, the diagnostics say how many
/// lines were dropped, later lines reach the file, and every line lost is counted: the lines
/// in the file and the count add up to the requests made. Every line in the file is whole.
fn full_filesystem(model: Model, full_from_the_start: bool) {
    const BEFORE: usize = 100; // ~6 KiB of lines: more than the log file's page can hold
    const AFTER: usize = 10;
    let test = if full_from_the_start {
        "log-full"
    } else {
        "log-filling"
    };
    let Some(tmpfs) = Tmpfs::or_skip(test, false) else {
        return;
    };
    let dir = TempDir::new(test);
    let root = dir.join("root");
    let mut names = vec!["full-first".to_string()];
    names.extend((0..BEFORE * 2).map(|i| format!("full-before-{i}")));
    names.extend((0..AFTER).map(|i| format!("full-after-{i}")));
    make_root(&root, &names);
    let log = tmpfs.path().join("access.log");
    let filler = full_from_the_start.then(|| fill(tmpfs.path()));
    let mut server = Server::start(
        model,
        &root,
        &["--access-log", arg(&log)],
        StderrTo::Followed,
    );
    let pid = server.pid();
    let size = || fs::metadata(&log).map_or(0, |m| m.len());
    let mut first = 0;
    // The access-log writer's thread, where it can be told: the one that wrote exactly the
    // first line's bytes.
    let mut writer = None;
    let filler = filler.unwrap_or_else(|| {
        let looked = task_writes(pid);
        fetch(server.files, "full-first", false);
        await_cond("the first line in the file", || {
            let n = whole_lines(&log).len();
            (n == 1).then_some(()).ok_or(format!("{n} lines"))
        });
        first = 1;
        let grew = size();
        let wrote_it: Vec<(String, u64)> = task_writes(pid)
            .into_iter()
            .filter(|(tid, (_, bytes))| {
                bytes.saturating_sub(looked.get(tid).map_or(0, |&(_, b)| b)) == grew
            })
            .map(|(tid, (_, bytes))| (tid, bytes))
            .collect();
        if let [only] = &wrote_it[..] {
            writer = Some(only.clone());
        }
        fill(tmpfs.path())
    });
    let size_when_full = size();

    // The disk is full: serving goes on.
    let mut before = 0;
    for i in 0..BEFORE {
        fetch(server.files, &format!("full-before-{i}"), i % 2 == 0);
        before += 1;
    }
    // Until the writer has met the full disk, freeing space would let every line through.
    // Where the disk fills mid-run, the write that meets the end of the log file's page is
    // short (part of a line goes in), and a server may take that part back each time: the
    // writer has then written more bytes than the file grew.
    request_until_writes_fail(
        pid,
        || {
            assert!(
                before < 2 * BEFORE,
                "no failed write after {before} requests"
            );
            fetch(server.files, &format!("full-before-{before}"), false);
            before += 1;
        },
        |now| {
            let Some((tid, bytes_when_full)) = &writer else {
                return false;
            };
            let written = now.get(tid).map_or(0, |&(_, b)| b);
            written.saturating_sub(*bytes_when_full) > size().saturating_sub(size_when_full)
        },
    );
    if full_from_the_start {
        assert_eq!(
            fs::metadata(&log).unwrap().len(),
            0,
            "a line written to a full disk"
        );
    }
    server.assert_running();

    // Space again.
    fs::remove_file(&filler).unwrap();
    for i in 0..AFTER {
        fetch(server.files, &format!("full-after-{i}"), i % 2 == 1);
    }
    await_cond(
        "the later lines in the file and a dropped-lines note",
        || {
            server.take_arrived();
            let written = ids(&whole_lines(&log), "full-after-");
            let missing: Vec<usize> = (0..AFTER).filter(|i| !written.contains(i)).collect();
            let notes = dropped_notes(&server.log);
            if missing.is_empty() && !notes.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "later lines missing: {missing:?}; notes: {notes:?}; stderr:\n{}",
                    server.log_text()
                ))
            }
        },
    );
    let lines = whole_lines(&log);
    let what = format!(
        "the file:\n{}\n--- stderr:\n{}",
        lines.join("\n"),
        server.log_text()
    );
    let broken: Vec<&String> = lines.iter().filter(|l| !is_common_line(l)).collect();
    assert!(
        broken.is_empty(),
        "lines that are not one whole access line: {broken:?}\n{what}"
    );
    let dropped: u64 = dropped_notes(&server.log).iter().sum();
    assert!(dropped > 0, "{what}");
    let kept = ids(&lines, "full-before-").len();
    assert_eq!(
        kept as u64 + dropped,
        before as u64,
        "{kept} of {before} lines made on a full disk were written, {dropped} counted as \
         dropped\n{what}"
    );
    let mut after = ids(&lines, "full-after-");
    after.sort_unstable();
    assert_eq!(after, (0..AFTER).collect::<Vec<_>>(), "{what}");
    let firsts = lines
        .iter()
        .filter(|l| l.contains("\"full-first\""))
        .count();
    assert_eq!(firsts, first, "{what}");
    server.stop();
}

fn a_filesystem_full_from_the_start_drops_lines_and_says_so(model: Model) {
    full_filesystem(model, true);
}

/// The disk fills while lines are being written: the write that meets the end leaves part of
/// a line in the file. That part must not glue itself to the next line written.
fn a_filesystem_filling_up_mid_line_leaves_only_whole_lines(model: Model) {
    full_filesystem(model, false);
}

/// `--access-log /dev/full`: every write fails with ENOSPC, forever; serving goes on, and so
/// does a graceful stop (the lines still queued cannot be written, and must not be waited for).
fn dev_full_keeps_serving(model: Model) {
    let dir = TempDir::new("log-dev-full");
    let root = dir.join("root");
    make_root(&root, &["hello.txt".into()]);
    let mut server = Server::start(
        model,
        &root,
        &["--access-log", "/dev/full"],
        StderrTo::Followed,
    );
    http_load(server.files, 2, 2, 50);
    for _ in 0..20 {
        fetch(server.files, "hello.txt", false);
    }
    request_until_writes_fail(
        server.pid(),
        || fetch(server.files, "hello.txt", true),
        |_| false,
    );
    http_load(server.files, 2, 1, 50);
    echo_load(server.echo(), 2, 10);
    server.assert_running();
    server.stop();
}

/// `serve` with every other option good: exits 1 without serving, naming the option, the
/// path and why, or (a bad format) 2.
fn start_fails(model: Model, root: &Path, extra: &[&str]) -> Outcome {
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--model", model.name()])
        .args(["--echo", "127.0.0.1:0", "--files", "127.0.0.1:0", "--root"])
        .arg(root)
        .args(extra);
    run_bounded(&mut cmd).expect("run tcpserve")
}

fn assert_fails_naming(out: &Outcome, option: &str, path: &str, why: &str) {
    let what = format!("{option} {path}: {}", out.describe());
    assert_eq!(out.status.code(), Some(1), "{what}");
    for needle in [option, path, why] {
        assert!(
            out.stderr.contains(needle),
            "no {needle:?} on stderr; {what}"
        );
    }
    assert!(!out.stderr.contains("panicked"), "{what}");
}

/// A log file that cannot be opened at start (its directory missing; a directory) is a
/// failure to start: exit status 1, stderr naming the option, the path and the reason.
fn unopenable_destinations_exit_1_naming_option_and_path(model: Model) {
    let dir = TempDir::new("log-unopenable");
    let root = dir.join("root");
    make_root(&root, &[]);
    let missing = dir.join("no-such-dir/x.log");
    let cases = [
        ("--access-log", arg(&missing), "No such file or directory"),
        ("--log", arg(&missing), "No such file or directory"),
        ("--access-log", arg(&root), "Is a directory"),
        ("--log", arg(&root), "Is a directory"),
    ];
    for (option, path, why) in cases {
        let out = start_fails(model, &root, &[option, path]);
        assert_fails_naming(&out, option, path, why);
    }
    // A format that does not exist is a bad command line.
    let out = start_fails(model, &root, &["--access-log-format", "xml"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.describe());
    let first = out.stderr.lines().next().unwrap_or("");
    assert!(first.contains("--access-log-format"), "{}", out.describe());
}

/// A log file on a read-only filesystem at start: exit status 1, naming the path.
fn a_read_only_filesystem_at_start_exits_1(model: Model) {
    let Some(tmpfs) = Tmpfs::or_skip("log-ro", true) else {
        return;
    };
    let dir = TempDir::new("log-ro-root");
    let root = dir.join("root");
    make_root(&root, &[]);
    for option in ["--access-log", "--log"] {
        let path = tmpfs.path().join("x.log");
        let out = start_fails(model, &root, &[option, arg(&path)]);
        assert_fails_naming(&out, option, arg(&path), "Read-only file system");
    }
}

/// A FIFO with no reader as a log file: opening it would wait for a reader forever, so it is a
/// failure to start, not a hang.
fn a_fifo_nobody_reads_at_start_exits_1(model: Model) {
    let dir = TempDir::new("log-fifo-start");
    let root = dir.join("root");
    make_root(&root, &[]);
    let fifo = dir.join("nobody.fifo");
    let c_path = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string.
    let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo: {}", io::Error::last_os_error());
    for option in ["--access-log", "--log"] {
        let out = start_fails(model, &root, &[option, arg(&fifo)]);
        assert_fails_naming(&out, option, arg(&fifo), "FIFO");
    }
}

/// `--log -` and `--access-log /dev/stderr` name one pipe: one writer writes both, so no line
/// is ever spliced into another, however busy (debug lines too, one or more per request).
fn one_destination_under_two_names_keeps_lines_whole(model: Model) {
    const REQUESTS: usize = 600;
    let dir = TempDir::new("log-two-names");
    let root = dir.join("root");
    make_root(&root, &["hello.txt".into()]);
    let extra = ["-v", "--log", "-", "--access-log", "/dev/stderr"];
    let mut server = Server::start(model, &root, &extra, StderrTo::Followed);
    // One writer thread, not one per name.
    let writers = fs::read_dir(format!("/proc/{}/task", server.pid()))
        .expect("read /proc/PID/task")
        .filter_map(|t| fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == "tcpserve-log")
        .count();
    assert_eq!(writers, 1, "log writer threads");
    http_load(server.files, 4, 3, REQUESTS / 12);
    server.stop();
    let diag = |l: &&String| l.len() > 24 && l.as_bytes()[23] == b'Z' && l.contains(" [tcpserve");
    let spliced: Vec<&String> = server
        .log
        .iter()
        .filter(|l| !diag(l) && !is_common_line(l))
        .collect();
    assert!(spliced.is_empty(), "lines not whole: {spliced:?}");
    let access = server.log.iter().filter(|l| is_common_line(l)).count();
    assert!(
        access >= REQUESTS,
        "{access} access lines for {REQUESTS} requests"
    );
}

/// The access log is a FIFO whose reader never reads: at SIGTERM its writer is stuck with
/// lines it cannot write. The server still exits 0, within the shutdown timeout and a little
/// more, and says on stderr (which works) how many access lines were lost.
fn an_access_log_stuck_at_exit_is_said_on_stderr(model: Model) {
    let dir = TempDir::new("log-stuck-exit");
    let root = dir.join("root");
    make_root(&root, &["hello.txt".into()]);
    let fifo = dir.join("access.fifo");
    // A reader that never reads, so that opening the FIFO works and writing to it blocks.
    let (held, write_end) = make_fifo(&fifo);
    drop(write_end);
    let extra = ["--access-log", arg(&fifo), "--shutdown-timeout", "1"];
    let mut server = Server::start(model, &root, &extra, StderrTo::Followed);
    http_load(server.files, 4, 5, 50);
    assert!(
        unread_bytes(&held) >= PIPE_SIZE as usize / 2,
        "the FIFO never filled"
    );
    server.stop();
    let lost = server
        .log
        .iter()
        .find(|l| l.contains("log lines lost"))
        .unwrap_or_else(|| panic!("no loss said on stderr:\n{}", server.log_text()));
    assert!(lost.contains(arg(&fifo)), "{lost}");
    drop(held);
}
