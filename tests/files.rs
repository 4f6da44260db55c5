//! The file-download service (raw protocol) over real sockets, against an in-process server of
//! each model on a free port: files of every size arrive intact; a name ends at a newline, a
//! CRLF, a half-close or a quiet period; a table of hostile names never yields a byte from
//! outside the root; many downloads at once, a slow reader, a 5 GiB sparse file and a shrinking
//! file are all served correctly; a dropped client gives back its descriptors; stalled clients
//! are closed by the request and idle timeouts; bytes sent after the name do no harm, before or
//! after the server is done (regressions of two fixed bugs, at the end).
//!
//! Not tested here: an unreadable file inside the root. The tests run as root, which reads any
//! file whatever its mode bits, so a permission-based case would assert nothing.

#[macro_use]
mod common;

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::ops::Deref;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Mutex, Once, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::hostile::{contains, hostile_rows, shown, Tree, Want};
use common::*;
use tcpserve::logging::Escaped;
use tcpserve::root::{Refusal, Resolver, Root, MAX_NAME};
use tcpserve::Model;

per_model!(
    [reactor, reactors, threads, pool, iterative]
    files_of_every_size_arrive_byte_identical,
    a_bare_name_from_a_waiting_client_is_served_after_the_quiet_period,
    with_name_wait_zero_the_first_read_is_the_whole_name,
    a_name_ends_at_a_newline_crlf_or_half_close_however_it_is_written,
    hostile_names_never_yield_a_byte_from_outside_the_root,
    a_symlink_swapped_during_requests_never_leaks,
    a_file_shrinking_mid_transfer_ends_it_cleanly,
    a_mid_stream_disconnect_releases_the_file_descriptor,
    a_stalled_name_is_closed_by_the_request_timeout,
    a_stalled_reader_is_closed_by_the_idle_timeout,
    bytes_sent_during_a_transfer_are_dropped_without_harm,
    bytes_after_the_servers_close_do_not_cost_the_file_its_tail,
    a_stalled_reader_that_keeps_sending_is_still_closed_by_the_idle_timeout,
    a_name_in_pieces_after_a_long_pause_is_still_whole,
    a_slow_download_with_a_stray_byte_lingers_and_arrives_whole,
    http_requests_get_one_common_log_format_line_each,
);
// Not iterative: each needs several clients served at once, and the iterative model serves one
// client at a time (the others wait in the backlog). The pool serves a few at a time, enough
// but for a hundred held at once.
per_model!(
    [reactor, reactors, threads]
    a_hundred_concurrent_4_mib_downloads_arrive_intact,
);
per_model!(
    [reactor, reactors, threads, pool]
    a_slow_reader_does_not_hold_back_fast_ones,
    one_server_serves_echo_and_files_side_by_side,
);
// Not iterative or pool, for time only: 5 GiB through each transport once is enough, and those
// models drive the threads model's blocking transport (src/models/blocking.rs), unchanged.
per_model!([reactor, reactors, threads] a_5_gib_sparse_file_streams_completely);

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
/// How much of a name an access line shows (docs/PROTOCOL.md).
const LOGGED_NAME: usize = 256;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Every test in this file runs in one process beside the in-process servers, so a count of
/// the process's descriptors means something only while no other test runs: each test holds
/// this lock shared, the one that counts descriptors holds it alone.
static FD_LOCK: RwLock<()> = RwLock::new(());

#[allow(dead_code)] // the guards are held, never read
enum FdLock {
    Shared(RwLockReadGuard<'static, ()>),
    Alone(RwLockWriteGuard<'static, ()>),
}

impl FdLock {
    fn shared() -> FdLock {
        FdLock::Shared(FD_LOCK.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn alone() -> FdLock {
        FdLock::Alone(FD_LOCK.write().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Something a test owns (its scratch directory, the hostile tree) with the descriptor lock
/// held. Declared first in a test, it is dropped last, after the server and every client; its
/// fields drop in order, the thing first, the lock last.
struct Locked<T> {
    inner: T,
    _lock: FdLock,
}

impl<T> Deref for Locked<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

/// A test's scratch directory, with the descriptor lock held.
type Scratch = Locked<TempDir>;

impl Scratch {
    fn new(test: &str) -> Scratch {
        let _lock = FdLock::shared();
        Locked {
            inner: TempDir::new(test),
            _lock,
        }
    }

    /// For the test that counts descriptors: no other test of this file runs meanwhile.
    fn alone(test: &str) -> Scratch {
        let _lock = FdLock::alone();
        Locked {
            inner: TempDir::new(test),
            _lock,
        }
    }

    /// Writes a file at `rel` (bytes, so non-UTF-8 names work) and returns its path.
    fn put(&self, rel: impl AsRef<[u8]>, data: &[u8]) -> PathBuf {
        let path = self.join(OsStr::from_bytes(rel.as_ref()));
        fs::write(&path, data).expect("write a test file");
        path
    }
}

/// 64 MiB of pseudo-random bytes, made once for the whole file: the big test files are this
/// or a prefix of it.
fn big() -> &'static [u8] {
    static BIG: OnceLock<Vec<u8>> = OnceLock::new();
    BIG.get_or_init(|| random_bytes(64 * MIB, 64))
}

/// Connects to the files service and sends `name` ended by a newline.
fn request(addr: SocketAddr, name: &[u8]) -> TcpStream {
    let mut stream = connect(addr);
    stream
        .write_all(&[name, b"\n"].concat())
        .expect("send the name");
    stream
}

/// Downloads `name` (newline-terminated) and returns every byte up to end-of-stream.
fn download(addr: SocketAddr, name: &[u8]) -> Vec<u8> {
    read_to_end(&mut request(addr, name))
}

/// Reads `stream` to its end in chunks, checking each against `want` at its offset without
/// keeping it; fails on a wrong byte, a byte too many, or an early end.
fn read_and_check(stream: &mut TcpStream, want: &[u8], what: &str) {
    let mut buf = vec![0; 256 * KIB];
    let mut at = 0;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) => panic!("{what}: read after {at} bytes: {e}"),
        };
        if n == 0 {
            break;
        }
        assert!(
            at + n <= want.len(),
            "{what}: more than {} bytes",
            want.len()
        );
        assert_same(&buf[..n], &want[at..at + n], &format!("{what} at {at}"));
        at += n;
    }
    assert_eq!(at, want.len(), "{what}: ended early");
}

/// How a read-to-the-end came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Clean end-of-stream (the server's FIN).
    Eof,
    /// ECONNRESET: the server closed with input of ours unread (or we wrote after its close).
    Reset,
    /// More than the cap arrived; the rest was not read.
    Capped,
    /// Any other error, a read timeout included.
    Failed(io::ErrorKind),
}

/// Reads until the stream ends or more than `cap` bytes have arrived.
fn read_capped(stream: &mut TcpStream, cap: usize) -> (Vec<u8>, End) {
    let mut got = Vec::new();
    let mut buf = vec![0; 64 * KIB];
    // Bounded: each pass ends the loop or adds at least a byte toward the cap.
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (got, End::Eof),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.len() > cap {
                    return (got, End::Capped);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return (got, End::Reset),
            Err(e) => return (got, End::Failed(e.kind())),
        }
    }
}

/// Descriptors this process has open now.
fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Descriptors this process has open on `path`.
fn fds_on(path: &Path) -> usize {
    let entries = fs::read_dir("/proc/self/fd").expect("/proc/self/fd");
    entries
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target == path)
        .count()
}

/// Sets a flag when dropped, so a helper thread stops even if the test fails mid-way.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

// The access log: every request ends with one line (target `tcpserve::access`), which these
// tests capture in memory. It is logged on the thread that served the request: the reactor's,
// the iterative server's, or (threads model) the connection's own, so the thread cannot tell one
// test's server from another's. The client's address can: a line starts with the client's IP
// (the common log format's host), and a [`Watched`] client connects from a loopback address
// (127.x.y.z) that no other client of this process uses. Lines captured before the client
// connected are ignored.

struct Captured {
    level: log::Level,
    line: String,
}

static ACCESS_LINES: Mutex<Vec<Captured>> = Mutex::new(Vec::new());

fn access_lines_now() -> std::sync::MutexGuard<'static, Vec<Captured>> {
    ACCESS_LINES.lock().unwrap_or_else(|e| e.into_inner())
}

struct AccessLog;

impl log::Log for AccessLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target() == "tcpserve::access"
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let captured = Captured {
                level: record.level(),
                line: record.args().to_string(),
            };
            access_lines_now().push(captured);
        }
    }
    fn flush(&self) {}
}

/// A client whose access lines can be told from those of every other client, of any server.
struct Watched {
    stream: TcpStream,
    peer: SocketAddr,
    /// How many lines had been captured before it connected.
    from: usize,
}

impl Watched {
    /// Connects from an address of its own (see above), with the capture installed.
    fn connect(addr: SocketAddr) -> Watched {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            log::set_logger(&AccessLog).expect("no other logger in this test binary");
            log::set_max_level(log::LevelFilter::Info);
        });
        let from = access_lines_now().len();
        let stream = connect_from_own_address(addr);
        let peer = stream.local_addr().unwrap();
        Watched { stream, peer, from }
    }

    /// Connects and sends `name` ended by a newline.
    fn request(addr: SocketAddr, name: &[u8]) -> Watched {
        let mut client = Watched::connect(addr);
        client
            .stream
            .write_all(&[name, b"\n"].concat())
            .expect("send the name");
        client
    }

    /// The access lines logged for this client so far. The server logs a request's line
    /// before it closes, so once the client has seen the close, the line is here.
    fn lines(&self) -> Vec<(log::Level, String)> {
        let prefix = format!("{} - - [", self.peer.ip());
        access_lines_now()[self.from..]
            .iter()
            .filter(|c| c.line.starts_with(&prefix))
            .map(|c| (c.level, c.line.clone()))
            .collect()
    }
}

/// Connects to `addr` from a loopback address no earlier call used (127.x.y.z, every one of
/// which is this machine's) and a port that `bind` picked (std has no bind before connect),
/// with the timeouts of [`connect`].
fn connect_from_own_address(addr: SocketAddr) -> TcpStream {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let SocketAddr::V4(to) = addr else {
        panic!("the servers listen on IPv4")
    };
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: no pointers; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: a new descriptor that nothing else owns; the stream closes it.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    // From 127.1.0.1 on, a last byte of 1 to 254: never 127.0.0.1, which others use.
    let n = NEXT.fetch_add(1, Relaxed);
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 1, 0, 0)) + (n / 254) * 256 + n % 254 + 1);
    let local = sockaddr(ip, 0);
    // SAFETY: a live sockaddr_in of the length given.
    let rc = unsafe { libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) };
    assert_eq!(rc, 0, "bind: {}", io::Error::last_os_error());
    let remote = sockaddr(*to.ip(), to.port());
    // SAFETY: as above. A blocking connect; no signal handler runs in this process to make
    // it fail with EINTR.
    let rc = unsafe { libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) };
    assert_eq!(rc, 0, "connect: {}", io::Error::last_os_error());
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
    stream
}

// ---------------------------------------------------------------------------------------------
// Integrity
// ---------------------------------------------------------------------------------------------

fn files_of_every_size_arrive_byte_identical(model: Model) {
    let scratch = Scratch::new("sizes");
    let files: [(&str, Vec<u8>); 4] = [
        ("empty.bin", Vec::new()),
        ("one.bin", random_bytes(1, 1)),
        ("one-mib.bin", random_bytes(MIB, 2)),
        ("sixty-four-mib.bin", big().to_vec()),
    ];
    for (name, data) in &files {
        scratch.put(name, data);
    }
    let server = start(files_config(model, scratch.path()));
    for (name, data) in &files {
        let got = download(files_addr(&server), name.as_bytes());
        assert_same(&got, data, name);
    }
    let total: usize = files.iter().map(|(_, data)| data.len()).sum();
    wait_until("the counters to show every byte and every close", || {
        let stats = server.stats();
        stats.bytes_out == total as u64 && stats.open == 0 && stats.closed == 4
    });
}

// ---------------------------------------------------------------------------------------------
// Framing: where a name ends
// ---------------------------------------------------------------------------------------------

fn a_bare_name_from_a_waiting_client_is_served_after_the_quiet_period(model: Model) {
    let scratch = Scratch::new("bare");
    let hello = random_bytes(3000, 3);
    scratch.put("hello.txt", &hello);
    let name_wait = tcpserve::defaults::NAME_WAIT; // the default quiet period, 100 ms
    let server = start(files_config(model, scratch.path()));
    // The lesson's client: the bare name in one send, no newline, no half-close, then read
    // until the server closes.
    let started = Instant::now();
    let mut client = connect(files_addr(&server));
    client.write_all(b"hello.txt").unwrap();
    let got = read_to_end(&mut client);
    let took = started.elapsed();
    assert_same(&got, &hello, "bare name");
    assert!(
        took >= name_wait,
        "served after {took:?}, before the quiet period ({:?}) was over",
        name_wait
    );
}

fn with_name_wait_zero_the_first_read_is_the_whole_name(model: Model) {
    let scratch = Scratch::new("wait0");
    let hello = random_bytes(3000, 4);
    scratch.put("hello.txt", &hello);
    let server = start(files_config(model, scratch.path()).name_wait(Duration::ZERO));
    // Bare: served at once, without a terminator and without waiting.
    let mut bare = connect(files_addr(&server));
    bare.write_all(b"hello.txt").unwrap();
    assert_same(&read_to_end(&mut bare), &hello, "bare name, name_wait 0");
    // Closed at once, or the server lingers for it (and the iterative model serves no other).
    drop(bare);
    // A newline is still a terminator, not part of the name.
    let got = download(files_addr(&server), b"hello.txt");
    assert_same(&got, &hello, "newline, name_wait 0");
    // The first read is all there is: half a name is taken as the name (no such file), and the
    // server closes without waiting for the rest.
    let mut half = connect(files_addr(&server));
    half.write_all(b"hel").unwrap();
    assert_eq!(read_capped(&mut half, 0), (Vec::new(), End::Eof));
}

fn a_name_ends_at_a_newline_crlf_or_half_close_however_it_is_written(model: Model) {
    let scratch = Scratch::new("framing");
    let nested = random_bytes(5000, 5);
    fs::create_dir(scratch.path().join("sub")).unwrap();
    scratch.put("sub/nested.txt", &nested);
    // A long quiet period: each name below must end at its terminator, never at the quiet
    // period, and writes paced 20 ms apart must not be taken for separate names.
    let name_wait = Duration::from_secs(2);
    let server = start(files_config(model, scratch.path()).name_wait(name_wait));
    let cases: &[(&str, &[&[u8]], bool)] = &[
        (
            "three writes, newline",
            &[b"sub/ne", b"sted.t", b"xt\n"],
            false,
        ),
        ("CRLF", &[b"sub/nested.txt\r\n"], false),
        (
            "CRLF split over two writes",
            &[b"sub/nested.txt\r", b"\n"],
            false,
        ),
        (
            "newline alone in the last write",
            &[b"sub/nested.txt", b"\n"],
            false,
        ),
        ("half-close", &[b"sub/nested.txt"], true),
        (
            "two writes, then half-close",
            &[b"sub/", b"nested.txt"],
            true,
        ),
    ];
    for &(what, writes, half_close) in cases {
        let started = Instant::now();
        let mut client = connect(files_addr(&server));
        client.set_nodelay(true).unwrap();
        for (i, part) in writes.iter().enumerate() {
            if i > 0 {
                thread::sleep(Duration::from_millis(20)); // pacing, well below name_wait
            }
            client.write_all(part).unwrap();
        }
        if half_close {
            client.shutdown(Shutdown::Write).unwrap();
        }
        let got = read_to_end(&mut client);
        let took = started.elapsed();
        assert_same(&got, &nested, what);
        assert!(
            took < name_wait,
            "{what}: took {took:?}: ended by the quiet period, not the terminator"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Confinement
// ---------------------------------------------------------------------------------------------

/// The hostile tree (tests/common/hostile.rs) with the descriptor lock held.
type LockedTree = Locked<Tree>;

impl LockedTree {
    fn new(test: &str) -> LockedTree {
        let _lock = FdLock::shared();
        Locked {
            inner: Tree::new(test),
            _lock,
        }
    }
}

fn hostile_names_never_yield_a_byte_from_outside_the_root(model: Model) {
    let tree = LockedTree::new("hostile");
    // A long quiet period: every row must end at its terminator or the half-close that follows
    // it; a row left to the quiet period would run into the read timeout below and fail.
    let server = start(files_config(model, &tree.root).name_wait(Duration::from_secs(10)));
    let rows = hostile_rows(&tree);
    assert!(rows.len() >= 60, "the table lost rows");
    let mut failures = Vec::new();
    for row in &rows {
        let label = shown(&row.payload);
        let cap = match row.want {
            Want::Served(rel) => tree.content(rel).len(),
            Want::Refused => 0,
        }
        .max(64 * KIB);
        let mut watched = Watched::connect(files_addr(&server));
        let client = &mut watched.stream;
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        if !row.payload.is_empty() {
            client.write_all(&row.payload).expect("send the payload");
        }
        // Fails if the server has already reset the connection; the read below tells.
        let _ = client.shutdown(Shutdown::Write);
        let (got, end) = read_capped(client, cap);

        if contains(&got, tree.marker.as_bytes()) {
            failures.push(format!("{label}: THE SECRET LEAKED ({} bytes)", got.len()));
            continue;
        }
        match row.want {
            Want::Refused => {
                // The server reads at most MAX_NAME + 1 bytes of a name and closes with the
                // rest unread, which Linux turns into a reset: no byte is lost, the refusal
                // only arrives as ECONNRESET rather than end-of-stream.
                let unread = row.payload.len() > MAX_NAME + 1;
                let closed = end == End::Eof || (unread && end == End::Reset);
                if !got.is_empty() || !closed {
                    failures.push(format!(
                        "{label}: want refused, got {} bytes, {end:?}",
                        got.len()
                    ));
                }
            }
            Want::Served(rel) => {
                if got != tree.content(rel) || end != End::Eof {
                    failures.push(format!(
                        "{label}: want {}, got {} bytes, {end:?}",
                        shown(rel),
                        got.len()
                    ));
                }
            }
        }
        // One access line per request, naming the name the framing took, at info (a refusal
        // is the client's doing); nothing for a connection that sent nothing. The name is
        // escaped: no control character reaches the log.
        let lines = watched.lines();
        let shown_name = &row.name[..row.name.len().min(LOGGED_NAME)];
        let logged = format!("\"{}", Escaped(shown_name));
        let level = log::Level::Info;
        let want_lines = usize::from(!row.payload.is_empty());
        let wrong = |(l, line): &(log::Level, String)| *l != level || !line.contains(&logged);
        if lines.len() != want_lines || lines.iter().any(wrong) {
            failures.push(format!("{label}: access lines {lines:?}"));
        }
        if lines.iter().any(|(_, l)| l.chars().any(char::is_control)) {
            failures.push(format!("{label}: a control character in {lines:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    // Still healthy: a plain download works, and nothing was left open.
    let got = download(files_addr(&server), b"inside.txt");
    assert_same(&got, &tree.content(b"inside.txt"), "after the table");
    wait_until("every connection to close", || server.stats().open == 0);
    assert_eq!(server.stats().buffered, 0);
    assert!(tree.base().join("outside/secret.txt").is_file());
}

/// The same table against the confinement layer directly, through both resolvers: `openat2`
/// (what this kernel uses, so the sockets test above covers it) and the real-path fallback for
/// kernels before 5.6, which no socket test can reach here.
#[test]
fn both_resolvers_refuse_the_hostile_names() {
    let tree = LockedTree::new("resolvers");
    let root = Root::new(&tree.root).unwrap();
    for resolver in [Resolver::Openat2, Resolver::RealPath] {
        if let Err(Refusal::Io(io::ErrorKind::Unsupported)) =
            root.open_with(b"inside.txt", resolver)
        {
            eprintln!("{resolver:?} is not available on this kernel: skipped");
            continue;
        }
        let mut failures = Vec::new();
        for row in hostile_rows(&tree) {
            let label = format!("{resolver:?} {}", shown(&row.name));
            match (root.open_with(&row.name, resolver), row.want) {
                (Ok(mut opened), want) => {
                    let mut got = Vec::new();
                    opened.file.read_to_end(&mut got).unwrap();
                    match want {
                        _ if contains(&got, tree.marker.as_bytes()) => {
                            failures.push(format!("{label}: THE SECRET LEAKED"))
                        }
                        Want::Served(rel) if got == tree.content(rel) => {
                            assert_eq!(opened.size, got.len() as u64, "{label}: size")
                        }
                        _ => failures.push(format!(
                            "{label}: want {want:?}, opened {} bytes",
                            got.len()
                        )),
                    }
                }
                (Err(refusal), Want::Served(_)) => {
                    failures.push(format!("{label}: want served, refused: {refusal}"))
                }
                (Err(_), Want::Refused) => {}
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

/// A symlink swapped between a file inside and the secret outside while clients keep asking
/// for it: each request gets the inside file or a refusal, never the secret (the kernel
/// resolves and checks in one step; the fallback checks the very file it opened).
fn a_symlink_swapped_during_requests_never_leaks(model: Model) {
    const ROUNDS: usize = 150;
    let tree = LockedTree::new("swap");
    let server = start(files_config(model, &tree.root));
    let root = Root::new(&tree.root).unwrap();
    let inside = tree.content(b"inside.txt");
    let decoy = tree.content(b"sub/secret.txt");
    symlink("inside.txt", tree.root.join("flip")).unwrap();
    symlink("sub", tree.root.join("flipdir")).unwrap();
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let _stop_on_exit = SetOnDrop(&stop);
        let flipper = s.spawn(|| {
            let targets = [
                [("flip", "inside.txt"), ("flipdir", "sub")],
                [("flip", "../outside/secret.txt"), ("flipdir", "../outside")],
            ];
            let deadline = Instant::now() + PATIENCE;
            let mut flips = 0usize;
            while !stop.load(Relaxed) && Instant::now() < deadline {
                for (link, target) in targets[flips % 2] {
                    let tmp = tree.root.join(format!("{link}.tmp"));
                    let _ = fs::remove_file(&tmp);
                    symlink(target, &tmp).unwrap();
                    fs::rename(&tmp, tree.root.join(link)).unwrap(); // atomic swap
                }
                flips += 1;
            }
            flips
        });
        let (mut served, mut refused) = (0, 0);
        for _ in 0..ROUNDS {
            for (name, want) in [(&b"flip"[..], &inside), (b"flipdir/secret.txt", &decoy)] {
                let mut client = request(files_addr(&server), name);
                let (got, end) = read_capped(&mut client, 64 * KIB);
                assert!(!contains(&got, tree.marker.as_bytes()), "the secret leaked");
                assert_eq!(end, End::Eof, "{}", shown(name));
                assert!(got.is_empty() || got == *want, "{}: {got:?}", shown(name));
                for resolver in [Resolver::Openat2, Resolver::RealPath] {
                    if let Ok(mut opened) = root.open_with(name, resolver) {
                        let mut got = Vec::new();
                        opened.file.read_to_end(&mut got).unwrap();
                        assert!(
                            !contains(&got, tree.marker.as_bytes()),
                            "{resolver:?} leaked"
                        );
                    }
                }
                if got.is_empty() {
                    refused += 1;
                } else {
                    served += 1;
                }
            }
        }
        stop.store(true, Relaxed);
        let flips = flipper.join().unwrap();
        eprintln!("{flips} swaps; {served} requests served the inside file, {refused} refused");
        assert_eq!(served + refused, 2 * ROUNDS);
    });
    wait_until("every connection to close", || server.stats().open == 0);
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

fn a_hundred_concurrent_4_mib_downloads_arrive_intact(model: Model) {
    const THREADS: usize = 10;
    const PER_THREAD: usize = 10;
    // Far more than a new connection's socket buffers hold before its client reads.
    const SIZE: usize = 4 * MIB;
    let scratch = Scratch::new("hundred");
    let want = &big()[..SIZE];
    scratch.put("four.bin", want);
    let server = start(files_config(model, scratch.path()));
    let addr = files_addr(&server);
    let go = AtomicBool::new(false);
    let (ready_tx, ready_rx) = mpsc::channel();
    let done: usize = thread::scope(|s| {
        let _go_on_exit = SetOnDrop(&go); // a failing test must not leave workers waiting
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let ready = ready_tx.clone();
                let go = &go;
                s.spawn(move || {
                    let mut conns: Vec<_> = (0..PER_THREAD)
                        .map(|_| request(addr, b"four.bin"))
                        .collect();
                    ready.send(()).unwrap();
                    wait_until("the go signal", || go.load(Relaxed));
                    for (i, conn) in conns.iter_mut().enumerate() {
                        read_and_check(conn, want, &format!("thread {t} download {i}"));
                    }
                    conns.len()
                })
            })
            .collect();
        for _ in 0..THREADS {
            ready_rx.recv_timeout(PATIENCE).expect("a worker connected");
        }
        // Every download is in flight at once before any is read past its socket buffers.
        wait_until("all downloads open at once", || {
            server.stats().open == (THREADS * PER_THREAD) as u64
        });
        go.store(true, Relaxed);
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(done, THREADS * PER_THREAD);
    wait_until("the counters to show every byte", || {
        let stats = server.stats();
        stats.open == 0 && stats.bytes_out == (THREADS * PER_THREAD * SIZE) as u64
    });
}

fn a_slow_reader_does_not_hold_back_fast_ones(model: Model) {
    const SIZE: usize = 8 * MIB;
    const FAST: usize = 5;
    let scratch = Scratch::new("slow");
    let want = &big()[..SIZE];
    scratch.put("eight.bin", want);
    let buffer = 16 * KIB;
    let server = start(files_config(model, scratch.path()).buffer(buffer));
    let addr = files_addr(&server);
    let slow_got = AtomicUsize::new(0);
    let fast_done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let _stop_on_exit = SetOnDrop(&stop);
        // 1 KiB every 50 ms: 20 KiB/s, about seven minutes for the whole file.
        let slow = s.spawn(|| {
            let mut client = request(addr, b"eight.bin");
            let mut buf = [0u8; KIB];
            let mut at = 0;
            for _ in 0..600 {
                if stop.load(Relaxed) {
                    break;
                }
                let n = client.read(&mut buf).expect("slow read");
                if n == 0 {
                    break;
                }
                assert_same(&buf[..n], &want[at..at + n], "slow reader");
                at += n;
                slow_got.store(at, Relaxed);
                thread::sleep(Duration::from_millis(50)); // the client's pace, not a wait
            }
            client
        });
        wait_until("the slow reader's first bytes", || {
            slow_got.load(Relaxed) > 0
        });
        let fast: Vec<_> = (0..FAST)
            .map(|i| {
                let fast_done = &fast_done;
                s.spawn(move || {
                    read_and_check(&mut request(addr, b"eight.bin"), want, &format!("fast {i}"));
                    fast_done.fetch_add(1, Relaxed);
                })
            })
            .collect();
        // sendfile(2) sends straight from the page cache, so the server should hold nothing;
        // whatever the method, never more than --buffer per connection.
        let mut most = 0;
        wait_until("the fast downloads to finish", || {
            most = most.max(server.stats().buffered);
            fast_done.load(Relaxed) == FAST
        });
        for f in fast {
            f.join().unwrap();
        }
        let slow_so_far = slow_got.load(Relaxed);
        assert!(
            slow_so_far < SIZE / 4,
            "the slow reader was not slow ({slow_so_far} bytes)"
        );
        stop.store(true, Relaxed);
        let slow_client = slow.join().unwrap();
        assert!(most <= buffer as u64, "buffered {most} bytes");
        wait_until("only the slow reader to be left", || {
            server.stats().open == 1
        });
        drop(slow_client);
    });
    wait_until("the slow reader's connection to close", || {
        server.stats().open == 0
    });
}

fn a_5_gib_sparse_file_streams_completely(model: Model) {
    const SIZE: u64 = 5 << 30;
    // Non-zero bytes where offsets cross 2 GiB and 4 GiB (31- and 32-bit limits) and at the ends.
    let markers: [(u64, u8); 8] = [
        (0, 0xA5),
        ((1 << 31) - 1, 0x01),
        (1 << 31, 0x02),
        ((1 << 32) - 1, 0x03),
        (1 << 32, 0x04),
        ((4 << 30) + 1, 0x5A),
        (SIZE - 2, 0x06),
        (SIZE - 1, 0xC3),
    ];
    let scratch = Scratch::new("sparse");
    let path = scratch.path().join("sparse.bin");
    let file = File::create(&path).unwrap();
    if let Err(e) = file.set_len(SIZE) {
        eprintln!("skipped: the temp filesystem cannot hold a 5 GiB file: {e}");
        return;
    }
    for (at, byte) in markers {
        file.write_all_at(&[byte], at).unwrap();
    }
    let allocated = file.metadata().unwrap().blocks() * 512;
    if allocated > 64 << 20 {
        eprintln!("skipped: the temp filesystem is not sparse ({allocated} bytes allocated)");
        return;
    }
    drop(file);
    let server = start(files_config(model, scratch.path()));
    let mut client = request(files_addr(&server), b"sparse.bin");
    let zeros = vec![0u8; MIB];
    let mut buf = vec![0u8; MIB];
    let mut at: u64 = 0;
    let mut seen = 0;
    loop {
        let n = client.read(&mut buf).expect("read the sparse file");
        if n == 0 {
            break;
        }
        assert!(at + n as u64 <= SIZE, "more than 5 GiB");
        let chunk = &mut buf[..n];
        for (pos, byte) in markers {
            if (at..at + n as u64).contains(&pos) {
                let i = (pos - at) as usize;
                assert_eq!(chunk[i], byte, "the marker at {pos}");
                chunk[i] = 0;
                seen += 1;
            }
        }
        // Everything else is a hole: compare with memcmp, not byte by byte.
        assert!(chunk == &zeros[..n], "a non-zero byte in a hole near {at}");
        at += n as u64;
    }
    assert_eq!(at, SIZE, "bytes received");
    assert_eq!(seen, markers.len(), "markers seen");
}

// ---------------------------------------------------------------------------------------------
// Files that change, clients that go
// ---------------------------------------------------------------------------------------------

fn a_file_shrinking_mid_transfer_ends_it_cleanly(model: Model) {
    const SHRUNK: usize = 2 * MIB;
    let scratch = Scratch::new("shrink");
    let path = scratch.put("shrinking.bin", big());
    scratch.put("small.txt", b"still serving\n");
    let server = start(files_config(model, scratch.path()));
    let mut watched = Watched::request(files_addr(&server), b"shrinking.bin");
    let client = &mut watched.stream;
    // A slow start: the transfer is mid-stream, 64 MiB cannot all be in the socket buffers.
    let mut got = Vec::new();
    let mut buf = vec![0; 64 * KIB];
    while got.len() < MIB {
        let n = client.read(&mut buf).expect("read");
        assert!(n > 0, "ended after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
        thread::sleep(Duration::from_millis(5)); // the client's pace
    }
    let before = got.len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(SHRUNK as u64)
        .unwrap();
    let (rest, end) = read_capped(client, big().len());
    got.extend_from_slice(&rest);
    assert_eq!(end, End::Eof, "after {} bytes", got.len());
    assert!(
        (before.max(SHRUNK)..big().len()).contains(&got.len()),
        "{} bytes: want at least {} and fewer than {}",
        got.len(),
        before.max(SHRUNK),
        big().len()
    );
    assert_same(&got, &big()[..got.len()], "the shrunk file");
    let lines = watched.lines();
    assert!(
        lines.len() == 1 && lines[0].1.contains("truncated"),
        "{lines:?}"
    );
    drop(watched); // or the server lingers for its close
    wait_until("the transfer to close", || server.stats().open == 0);
    assert_eq!(
        download(files_addr(&server), b"small.txt"),
        b"still serving\n"
    );
    wait_until("the last download to close", || server.stats().open == 0);
}

fn a_mid_stream_disconnect_releases_the_file_descriptor(model: Model) {
    // Counts this process's descriptors, so no other test of this file runs meanwhile.
    let scratch = Scratch::alone("disconnect");
    let path = scratch.put("big.bin", big());
    let server = start(files_config(model, scratch.path()));
    // The server makes some descriptors of its own (a poll, pipes) on its thread once started:
    // count only once it has served a client. One that sends nothing and half-closes is closed
    // with close(2) itself, no half-close first, so once the client reads the end, the server's
    // side of it is gone.
    let mut first = connect(files_addr(&server));
    first.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_capped(&mut first, 0), (Vec::new(), End::Eof));
    drop(first);
    let baseline = open_fds();
    for how in ["drop", "reset"] {
        let mut client = request(files_addr(&server), b"big.bin");
        let mut first = vec![0; 256 * KIB];
        client.read_exact(&mut first).expect("the first bytes");
        assert_same(&first, &big()[..first.len()], how);
        wait_until("the server to hold the file open", || fds_on(&path) == 1);
        // The client's socket, the server's, and the file.
        assert!(open_fds() >= baseline + 3, "{how}: descriptors not counted");
        match how {
            "drop" => drop(client), // with unread input, the kernel sends a reset
            _ => reset(client),
        }
        wait_until("the descriptors to return to the baseline", || {
            open_fds() == baseline && fds_on(&path) == 0 && server.stats().open == 0
        });
    }
}

fn a_stalled_name_is_closed_by_the_request_timeout(model: Model) {
    let scratch = Scratch::new("request-timeout");
    let paced_file = random_bytes(2 * MIB, 12);
    scratch.put("paced.bin", &paced_file);
    let request_timeout = Duration::from_millis(300);
    let config = files_config(model, scratch.path())
        .request_timeout(request_timeout)
        .name_wait(Duration::from_secs(10));
    let server = start(config);
    let limit = request_timeout + Duration::from_secs(5);

    // Half a name, then nothing: the quiet period (10 s) is far off; the request timeout closes.
    let started = Instant::now();
    let mut half = Watched::connect(files_addr(&server));
    half.stream.write_all(b"hel").unwrap();
    assert_eq!(read_capped(&mut half.stream, 0), (Vec::new(), End::Eof));
    let took = started.elapsed();
    assert!(
        (request_timeout..limit).contains(&took),
        "half a name closed after {took:?}"
    );
    let lines = half.lines();
    assert!(
        lines.len() == 1
            && lines[0].0 == log::Level::Info
            && lines[0].1.contains("\"hel\" - -")
            && lines[0].1.contains("request timeout"),
        "{lines:?}"
    );

    // Nothing at all.
    let started = Instant::now();
    let mut silent = connect(files_addr(&server));
    assert_eq!(read_capped(&mut silent, 0), (Vec::new(), End::Eof));
    let took = started.elapsed();
    assert!(
        (request_timeout..limit).contains(&took),
        "a silent client closed after {took:?}"
    );

    // A byte every 50 ms, never a terminator: each byte restarts the quiet period, and the
    // connection is never idle, but the request as a whole is out of time.
    let started = Instant::now();
    let mut trickle = connect(files_addr(&server));
    trickle.set_nodelay(true).unwrap();
    trickle
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut sent = 0;
    let took = loop {
        assert!(
            started.elapsed() < limit,
            "trickled {sent} bytes, still open"
        );
        if trickle.write_all(b"x").is_err() {
            break started.elapsed(); // the server had closed and reset
        }
        sent += 1;
        match trickle.read(&mut [0u8; 16]) {
            Ok(0) => break started.elapsed(),
            Ok(n) => panic!("{n} bytes for a name never finished"),
            // The read timeout is the pace: a byte every 50 ms.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break started.elapsed(),
            Err(e) => panic!("trickle: {e}"),
        }
    };
    assert!(took >= request_timeout, "trickle closed after {took:?}");
    assert!(sent >= 2, "only {sent} bytes trickled");

    // The timeout is for the name only: a download read slowly outlives it.
    let started = Instant::now();
    let mut paced = request(files_addr(&server), b"paced.bin");
    let mut got = Vec::new();
    let mut buf = vec![0; 64 * KIB];
    while got.len() <= paced_file.len() {
        let n = paced.read(&mut buf).expect("paced read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        thread::sleep(Duration::from_millis(20)); // the client's pace
    }
    let took = started.elapsed();
    assert_same(&got, &paced_file, "paced download");
    assert!(took > request_timeout, "not paced: {took:?}");
    drop(paced); // or the server lingers for its close
    wait_until("all four to be closed", || server.stats().open == 0);
}

fn a_stalled_reader_is_closed_by_the_idle_timeout(model: Model) {
    let scratch = Scratch::new("idle");
    scratch.put("big.bin", big());
    let idle_timeout = Duration::from_millis(300);
    let server = start(files_config(model, scratch.path()).idle_timeout(idle_timeout));
    let started = Instant::now();
    let mut client = Watched::request(files_addr(&server), b"big.bin");
    // The client reads nothing: once the socket buffers are full no byte moves, and the idle
    // timeout closes the connection, releasing the file.
    wait_until("the server to close the stalled download", || {
        let stats = server.stats();
        stats.accepted == 1 && stats.open == 0
    });
    let took = started.elapsed();
    assert!(took >= idle_timeout, "closed after {took:?}");
    // What was already in the socket buffers arrives first. Then every model resets a download
    // it cut, so the client cannot take the part for the whole (README: Serving models).
    let (got, end) = read_capped(&mut client.stream, big().len());
    assert_eq!(end, End::Reset);
    assert!(got.len() < big().len(), "the whole file arrived");
    assert_same(&got, &big()[..got.len()], "the part sent");
    let lines = client.lines();
    assert!(
        lines.len() == 1 && lines[0].1.contains("idle timeout"),
        "{lines:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Several services
// ---------------------------------------------------------------------------------------------

fn one_server_serves_echo_and_files_side_by_side(model: Model) {
    let scratch = Scratch::new("both");
    let hello = random_bytes(10_000, 11);
    scratch.put("hello.txt", &hello);
    let server = start(files_config(model, scratch.path()).echo(any_port()));
    assert_ne!(echo_addr(&server), files_addr(&server));
    // Both at once, each speaking its own protocol: a name sent to echo comes back as text; a
    // line sent to files is a name (of no file: refused, not echoed).
    let mut echo = connect(echo_addr(&server));
    assert_eq!(echo_once(&mut echo, b"hello.txt\n"), b"hello.txt\n");
    assert_same(
        &download(files_addr(&server), b"hello.txt"),
        &hello,
        "files",
    );
    assert_eq!(download(files_addr(&server), b"ping"), b"");
    assert_eq!(echo_once(&mut echo, b"still here"), b"still here");
    drop(echo);
    wait_until("both closed", || server.stats().open == 0);
}

// ---------------------------------------------------------------------------------------------
// Input after the name
// ---------------------------------------------------------------------------------------------

/// Bytes a client sends after its name while the file is still streaming are read and dropped:
/// unread, they would make the server's final close a reset that discards the file's tail.
fn bytes_sent_during_a_transfer_are_dropped_without_harm(model: Model) {
    const SIZE: usize = 16 * MIB; // far more than the socket buffers hold: still streaming
    let scratch = Scratch::new("during");
    let want = &big()[..SIZE];
    scratch.put("sixteen.bin", want);
    let server = start(files_config(model, scratch.path()));
    let mut client = request(files_addr(&server), b"sixteen.bin");
    let mut first = [0u8; 1];
    client.read_exact(&mut first).unwrap(); // the server has read the name and is sending
    client
        .write_all(b"a second line the server ignores\n")
        .unwrap();
    let (rest, end) = read_capped(&mut client, SIZE);
    let got = [&first[..], &rest].concat();
    assert_eq!(end, End::Eof, "after {} of {SIZE} bytes", got.len());
    assert_same(&got, want, "the file");
    drop(client); // or the server lingers for its close
    wait_until("the transfer to close", || server.stats().open == 0);
}

// ---------------------------------------------------------------------------------------------
// Regressions of fixed bugs
// ---------------------------------------------------------------------------------------------

/// Bytes a client sends after its name that arrive once the server has handed the whole file
/// to the kernel: a closed socket would answer them with a reset (Linux aborts a closed
/// connection that receives data), throwing away what of the file is still unread. The server
/// half-closes and lingers instead.
fn bytes_after_the_servers_close_do_not_cost_the_file_its_tail(model: Model) {
    const SIZE: usize = 256 * KIB;
    let scratch = Scratch::new("trailing");
    let want = &big()[..SIZE];
    scratch.put("quarter.bin", want);
    let server = start(files_config(model, scratch.path()));
    let mut client = request(files_addr(&server), b"quarter.bin");
    // Reading nothing, let the server hand the whole file to the kernel: it fits in the two
    // sockets' buffers, but not in the client's receive buffer alone.
    wait_until("the server to send the whole file", || {
        server.stats().bytes_out == SIZE as u64
    });
    client
        .write_all(b"a second line the server ignores\n")
        .unwrap();
    let (got, end) = read_capped(&mut client, SIZE);
    assert_eq!(end, End::Eof, "after {} of {SIZE} bytes", got.len());
    assert_same(&got, want, "the file");
}

/// A client that stops reading but keeps sending a byte now and then is closed by the idle
/// timeout all the same: bytes the transfer reads only to drop are not progress.
fn a_stalled_reader_that_keeps_sending_is_still_closed_by_the_idle_timeout(model: Model) {
    let scratch = Scratch::new("idle-sending");
    scratch.put("big.bin", big());
    let idle_timeout = Duration::from_millis(300);
    let server = start(files_config(model, scratch.path()).idle_timeout(idle_timeout));
    let started = Instant::now();
    let mut client = request(files_addr(&server), b"big.bin");
    client.set_nodelay(true).unwrap();
    // Never a read: the socket buffers fill and no byte of the file moves after that.
    let mut closed = false;
    while started.elapsed() < idle_timeout + Duration::from_secs(5) {
        let stats = server.stats();
        if stats.accepted == 1 && stats.open == 0 {
            closed = true;
            break;
        }
        let _ = client.write(b"x"); // fails once the server has closed
        thread::sleep(Duration::from_millis(50)); // the client's pace
    }
    let stats = server.stats();
    assert!(closed, "still open after {:?}: {stats}", started.elapsed());
    assert!(started.elapsed() >= idle_timeout);
}

/// A client that thinks for longer than the quiet period, then sends its name in two pieces a
/// moment apart: the quiet period counts from the last byte, not from when the server began to
/// wait. (The blocking models once counted from the start of the wait and took "fo" for the
/// whole name.)
fn a_name_in_pieces_after_a_long_pause_is_still_whole(model: Model) {
    let scratch = Scratch::new("pieces");
    scratch.put("fo", b"the wrong file");
    scratch.put("foo", b"the right file");
    let server = start(files_config(model, scratch.path()));
    let mut client = connect(files_addr(&server));
    client.set_nodelay(true).unwrap();
    // Pacing, part of the scenario: 3x the default 100 ms quiet period, then 20 ms.
    std::thread::sleep(Duration::from_millis(300));
    client.write_all(b"fo").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    client.write_all(b"o\n").unwrap();
    assert_eq!(read_to_end(&mut client), b"the right file");
}

/// A download slower than the server's 2 s linger, with a stray byte sent early: the server
/// still lingers after the last byte, reads the stray byte, and closes cleanly. (The blocking
/// models once set the linger's deadline from the start of the turn, so it had passed when the
/// transfer ended; they closed with the byte unread, and the reset destroyed the file's tail.)
fn a_slow_download_with_a_stray_byte_lingers_and_arrives_whole(model: Model) {
    const SIZE: usize = 24 * MIB;
    let scratch = Scratch::new("slow-stray");
    let want = &big()[..SIZE];
    scratch.put("slow.bin", want);
    let server = start(files_config(model, scratch.path()));
    let mut client = request(files_addr(&server), b"slow.bin");
    let mut got = vec![0u8; 1];
    // The first byte means the server has read the name: the stray byte stays unread.
    client.read_exact(&mut got).unwrap();
    client.write_all(b"x").unwrap();
    let mut buf = vec![0u8; 64 * KIB];
    loop {
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("after {} of {SIZE} bytes: {e}", got.len()),
        }
        // Pacing, part of the scenario: a reader slow enough to take longer than the linger.
        std::thread::sleep(Duration::from_micros(7500));
    }
    assert_same(&got, want, "the file");
}

/// Each HTTP request is one access line in the common log format: address, `- -`, the time in
/// brackets, the request line, the status, the body bytes (`-` for none), and the refusal's
/// reason after it.
fn http_requests_get_one_common_log_format_line_each(model: Model) {
    let scratch = Scratch::new("clf");
    let name = format!("clf-{}.txt", model.name());
    scratch.put(&name, b"hello");
    let server = start(files_config(model, scratch.path()));
    let mut client = Watched::connect(files_addr(&server));
    let requests = format!(
        "GET /{name} HTTP/1.1\r\nHost: x\r\n\r\n\
         HEAD /{name} HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /{name}.missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    client.stream.write_all(requests.as_bytes()).unwrap();
    let (_, end) = read_capped(&mut client.stream, 64 * KIB);
    assert_eq!(end, End::Eof);
    let mine = || -> Vec<(log::Level, String)> {
        access_lines_now()
            .iter()
            .filter(|c| c.line.contains(&format!(" /{name}")))
            .map(|c| (c.level, c.line.clone()))
            .collect()
    };
    wait_until("three access lines", || mine().len() == 3);
    let tails = [
        format!("\"GET /{name} HTTP/1.1\" 200 5"),
        format!("\"HEAD /{name} HTTP/1.1\" 200 -"),
        format!("\"GET /{name}.missing HTTP/1.1\" 404 14 \"not found\""),
    ];
    for ((level, line), tail) in mine().iter().zip(&tails) {
        assert_eq!(*level, log::Level::Info, "{line}");
        let host = format!("{} - - [", client.peer.ip());
        assert!(line.starts_with(&host), "{line}");
        assert!(
            line.ends_with(tail.as_str()),
            "{line} should end with {tail}"
        );
        // [dd/Mon/yyyy:hh:mm:ss +0000]
        let time = &line[host.len()..line.find(']').unwrap()];
        assert_eq!(time.len(), 26, "{line}");
        assert!(time.ends_with(" +0000"), "{line}");
    }
}
