//! Helpers shared by the integration tests: servers on port 0, waiting on conditions with a
//! deadline (never a bare sleep), and reproducible pseudo-random data.
#![allow(dead_code)] // each test file uses its own subset

pub mod child;
pub mod hostile;
pub mod http;
pub mod serve;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tcpserve::{Builder, Handle, Model, Server};

/// One `#[test]` per listed model for each listed function taking a [`Model`]: the test
/// `name::model` calls `name(Model::...)`. A test that cannot apply to a model by nature is
/// listed without it, with the reason in a comment beside the call.
///
/// ```ignore
/// per_model!([reactor, threads, iterative] one_byte_comes_back, half_close_works);
/// // Iterative serves one client at a time: a thousand at once cannot finish.
/// per_model!([reactor, threads] a_thousand_connections);
/// ```
#[macro_export]
macro_rules! per_model {
    ($models:tt $($name:ident),+ $(,)?) => {
        $( $crate::per_model!(@one $models $name); )+
    };
    (@one [$($model:ident),+] $name:ident) => {
        mod $name {
            $(
                #[test]
                fn $model() {
                    let model = tcpserve::Model::from_name(stringify!($model)).unwrap();
                    super::$name(model)
                }
            )+
        }
    };
}

/// How long any single wait in a test may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A free loopback port, for a service to listen on.
pub fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A builder for an in-process echo server of `model` on a free loopback port, and nothing else.
pub fn echo_config(model: Model) -> Builder {
    Server::builder().echo(any_port()).model(model)
}

/// A builder for an in-process files server of `model` on a free loopback port, serving `root`.
pub fn files_config(model: Model, root: &Path) -> Builder {
    Server::builder().files(any_port(), root).model(model)
}

pub fn start(builder: Builder) -> Handle {
    builder.start().expect("server starts")
}

/// The echo service's address; panics if the server runs none (a test's mistake).
pub fn echo_addr(server: &Handle) -> SocketAddr {
    server.addr("echo").expect("no echo service")
}

/// The files service's address; panics if the server runs none (a test's mistake).
pub fn files_addr(server: &Handle) -> SocketAddr {
    server.addr("files").expect("no files service")
}

/// The lesson's program `program` in ../shared/tutorial (or `TCPSERVE_TUTORIAL=dir`), or
/// `None` after saying it is not there: a clone on its own has no lesson beside it.
pub fn tutorial(program: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("TCPSERVE_TUTORIAL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tutorial"));
    let path = dir.join(program);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("{} not found: skipping the lesson's client", path.display());
        None
    }
}

/// Polls `cond` until it holds; fails the test after `PATIENCE`.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// `len` reproducible pseudo-random bytes (xorshift64*), different for each `seed`.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Reads until end-of-stream, failing the test on any error or timeout.
pub fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    stream.read_to_end(&mut got).expect("read to end");
    got
}

/// Sends `data` and reads exactly as many bytes back.
pub fn echo_once(stream: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    stream.write_all(data).expect("write");
    let mut back = vec![0; data.len()];
    stream.read_exact(&mut back).expect("read echo");
    back
}

/// Closes with a reset (SO_LINGER 0) instead of a FIN, as a crashing client would.
pub fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: passes a live linger struct of the size given to a socket we own.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
    drop(stream);
}

/// Runs `tcpserve get ARGS` in `dir`.
pub fn get(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tcpserve"))
        .arg("get")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("tcpserve runs")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Files in `dir` whose names mark an unfinished download.
pub fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".part"))
        .collect()
}

/// A scratch directory of its own under the system's temp dir (named for the test, the process
/// and a counter), removed with everything in it when dropped. Symlinks inside are removed, never
/// followed.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(test: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("tcpserve-{test}-{}-{n}", std::process::id());
        let path = std::env::temp_dir().join(name);
        // Left over by an earlier process that had the same id and crashed.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).expect("create the test's temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Fails the test if `got` is not `want`, saying where they part, without printing megabytes.
pub fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        let at = at.unwrap_or(got.len().min(want.len()));
        panic!(
            "{what}: got {} bytes, want {}; first difference at byte {at}",
            got.len(),
            want.len()
        );
    }
}
