//! HTTP/1.1 for the integration tests, with no crate: a strict little response parser (status
//! line, fields, a body by `Content-Length`), a client connection that reads responses in
//! order and then how the connection ends, and `curl` and `wget` run as bounded child
//! processes with no proxy and no user configuration.
#![allow(dead_code)] // each test file uses its own subset

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use super::child::{read_all_on_thread, ChildGuard};
use super::connect;

/// The longest response head the parser waits for before calling it garbage.
const MAX_HEAD: usize = 64 << 10;

/// A response as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// The fields in order, names as sent.
    pub fields: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The head as received, up to and including its empty line.
    pub head: Vec<u8>,
}

impl Response {
    /// The first field named `name` (case-insensitively).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.all(name).into_iter().next()
    }

    /// Every field named `name` (case-insensitively), in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether `Connection` names `close`: the server closes after this response.
    pub fn says_close(&self) -> bool {
        self.all("connection")
            .iter()
            .flat_map(|v| v.split(','))
            .any(|o| o.trim().eq_ignore_ascii_case("close"))
    }

    /// `Content-Length`, if present and a number.
    pub fn content_length(&self) -> Option<u64> {
        self.field("content-length")?.parse().ok()
    }

    /// The status line and fields, for a failure message.
    pub fn describe(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.head).replace("\r\n", " | ");
        s.push_str(&format!("+ {} body bytes", self.body.len()));
        if !self.body.is_empty() && self.body.len() <= 64 {
            s.push_str(&format!(" \"{}\"", self.body.escape_ascii()));
        }
        s
    }
}

/// Parses one response at the start of `buf`: `Ok(None)` if it is not whole yet, else the
/// response and the bytes it took. `head_only` is for the answer to a HEAD request: no body,
/// whatever `Content-Length` says. A 304 (and any 1xx or 204) has no body either. Strict: the
/// status line must be `HTTP/1.1 NNN reason`, every line must end in CRLF, every field must
/// have a colon, and a response that may have a body must say `Content-Length` exactly once.
pub fn parse_response(buf: &[u8], head_only: bool) -> Result<Option<(Response, usize)>, String> {
    let prefix = &buf[..buf.len().min(9)];
    if prefix != &b"HTTP/1.1 "[..prefix.len()] {
        return Err(format!(
            "not an HTTP/1.1 status line: \"{}\"",
            shorten(&buf[..buf.len().min(80)])
        ));
    }
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(format!("no end of head in {MAX_HEAD} bytes"));
        }
        return Ok(None);
    };
    let head_len = end + 4;
    let head = &buf[..head_len];
    let text = std::str::from_utf8(&head[..end])
        .map_err(|_| format!("a head that is not UTF-8: \"{}\"", shorten(head)))?;
    if let Some(at) = text
        .bytes()
        .enumerate()
        .position(|(i, b)| b == b'\n' && (i == 0 || text.as_bytes()[i - 1] != b'\r'))
    {
        return Err(format!(
            "a bare LF at byte {at} of the head: \"{}\"",
            shorten(head)
        ));
    }
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let rest = &status_line["HTTP/1.1 ".len().min(status_line.len())..];
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("a bad status line: \"{status_line}\""));
    }
    let status: u16 = code.parse().unwrap();
    let mut fields = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("a field line without a colon: \"{line}\""));
        };
        if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!("a bad field name: \"{line}\""));
        }
        fields.push((name.to_string(), value.trim().to_string()));
    }
    let mut response = Response {
        status,
        reason: reason.to_string(),
        fields,
        body: Vec::new(),
        head: head.to_vec(),
    };
    let bodiless = head_only || status == 304 || status == 204 || (100..200).contains(&status);
    let body_len = if bodiless {
        0
    } else {
        let lengths = response.all("content-length");
        let [length] = lengths[..] else {
            return Err(format!(
                "{} Content-Length fields in a response that may have a body: {}",
                lengths.len(),
                response.describe()
            ));
        };
        let Ok(length) = length.parse::<usize>() else {
            return Err(format!("a bad Content-Length: {}", response.describe()));
        };
        length
    };
    if buf.len() < head_len + body_len {
        return Ok(None);
    }
    response.body = buf[head_len..head_len + body_len].to_vec();
    Ok(Some((response, head_len + body_len)))
}

/// How a connection ended, seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The server's FIN.
    Eof,
    /// ECONNRESET.
    Reset,
    /// Nothing more within the read timeout: the server kept the connection open.
    TimedOut,
    /// Any other error.
    Failed(io::ErrorKind),
}

impl End {
    /// Whether the server closed the connection (a reset is a close too).
    pub fn closed(self) -> bool {
        matches!(self, End::Eof | End::Reset)
    }
}

/// A client connection that sends requests and reads their responses in order.
pub struct Client {
    pub stream: TcpStream,
    /// Received and not yet taken by a response.
    buf: Vec<u8>,
    /// Every byte received so far, for leak checks.
    pub received: Vec<u8>,
}

impl Client {
    /// Connects with [`super::PATIENCE`] as the read and write timeouts.
    pub fn connect(addr: SocketAddr) -> Client {
        Client::over(connect(addr))
    }

    /// Connects with `timeout` as the read and write timeouts.
    pub fn with_timeout(addr: SocketAddr, timeout: Duration) -> Client {
        let client = Client::connect(addr);
        client.stream.set_read_timeout(Some(timeout)).unwrap();
        client.stream.set_write_timeout(Some(timeout)).unwrap();
        client
    }

    pub fn over(stream: TcpStream) -> Client {
        Client {
            stream,
            buf: Vec::new(),
            received: Vec::new(),
        }
    }

    /// Writes `bytes`, all of them, in one call.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Shuts down the sending side (the server reads end-of-stream).
    pub fn half_close(&mut self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    /// Reads the next response (`head_only` for the answer to a HEAD); an error says what
    /// arrived instead and how the connection ended.
    pub fn response(&mut self, head_only: bool) -> Result<Response, String> {
        let mut chunk = vec![0; 64 << 10];
        // Bounded: each pass returns or adds at least a byte (but for a read a signal
        // interrupted), and a response is bounded by its
        // Content-Length (or the head limit); each read waits at most the read timeout.
        loop {
            if let Some((response, used)) = parse_response(&self.buf, head_only)? {
                self.buf.drain(..used);
                return Ok(response);
            }
            let end = match self.stream.read(&mut chunk) {
                Ok(0) => End::Eof,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    self.received.extend_from_slice(&chunk[..n]);
                    continue;
                }
                // A signal to the test process (a child's end, say) is not the connection's.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => end_of(&e),
            };
            return Err(if self.buf.is_empty() {
                format!("no response: {end:?} with no byte")
            } else {
                format!(
                    "{end:?} after {} bytes of a response: \"{}\"",
                    self.buf.len(),
                    shorten(&self.buf)
                )
            });
        }
    }

    /// Sends `request` and reads its response.
    pub fn exchange(&mut self, request: &[u8], head_only: bool) -> Result<Response, String> {
        self.send(request)
            .map_err(|e| format!("sending the request: {e}"))?;
        self.response(head_only)
    }

    /// Reads until the connection ends (or the read timeout passes): the bytes that arrived
    /// after the responses taken, and how it ended.
    pub fn finish(&mut self) -> (Vec<u8>, End) {
        let mut chunk = vec![0; 64 << 10];
        let mut extra = std::mem::take(&mut self.buf);
        // Bounded by the cap: more than 16 MiB unasked for is a failure anyway.
        while extra.len() <= 16 << 20 {
            match self.stream.read(&mut chunk) {
                Ok(0) => return (extra, End::Eof),
                Ok(n) => {
                    extra.extend_from_slice(&chunk[..n]);
                    self.received.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (extra, end_of(&e)),
            }
        }
        (extra, End::Failed(io::ErrorKind::OutOfMemory))
    }
}

fn end_of(e: &io::Error) -> End {
    match e.kind() {
        io::ErrorKind::ConnectionReset => End::Reset,
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => End::TimedOut,
        kind => End::Failed(kind),
    }
}

/// After a response that says `Connection: close`: no more bytes, then the server's close
/// (a FIN, or a reset).
pub fn closes_after(client: &mut Client, got: &Response) -> Result<(), String> {
    if !got.says_close() {
        return Err(format!("want Connection: close: {}", got.describe()));
    }
    let (extra, end) = client.finish();
    if !extra.is_empty() || !end.closed() {
        return Err(format!(
            "after {}: want the server's close, got {} more bytes \"{}\", {end:?}",
            got.describe(),
            extra.len(),
            shorten(&extra)
        ));
    }
    Ok(())
}

/// A request head: `METHOD target HTTP/1.1`, `Host`, then `fields` (each `Name: value`).
pub fn request(method: &str, target: &str, fields: &[&str]) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: tcpserve.test\r\n");
    for field in fields {
        head.push_str(field);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// `GET target` with `fields`.
pub fn get(target: &str, fields: &[&str]) -> Vec<u8> {
    request("GET", target, fields)
}

/// Bytes as a test message shows them: escaped, and cut short.
pub fn shorten(bytes: &[u8]) -> String {
    let s = bytes.escape_ascii().to_string();
    if s.len() > 160 {
        format!("{}... ({} bytes)", &s[..160], bytes.len())
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------------
// curl and wget
// ---------------------------------------------------------------------------------------------

/// How long curl and wget may take by their own limits; the guard below kills them after
/// [`super::PATIENCE`], which is longer, so their own message is what a failure shows.
pub const TOOL_TIMEOUT_SECS: u32 = 15;

/// What a finished curl or wget printed and how it exited.
pub struct Ran {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Everything about the run, for a failure message.
    pub fn describe(&self) -> String {
        format!(
            "`{}`: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.command,
            self.status,
            shorten(&self.stdout),
            self.stderr
        )
    }
}

/// Runs `curl ARGS` in `dir`: `-q` first (no .curlrc), no proxy, bounded, silent but for errors
/// (`-sS`; `-v` still prints its trace).
pub fn curl(dir: &Path, args: &[&str]) -> Ran {
    let timeout = TOOL_TIMEOUT_SECS.to_string();
    let mut all = vec![
        "-q",
        "-sS",
        "--noproxy",
        "*",
        "--max-time",
        &timeout,
        "--connect-timeout",
        "5",
    ];
    all.extend_from_slice(args);
    run_tool("curl", &all, dir)
}

/// Runs `wget ARGS` in `dir`: no configuration file, no proxy, no HSTS file, one try, bounded.
pub fn wget(dir: &Path, args: &[&str]) -> Ran {
    let timeout = format!("--timeout={TOOL_TIMEOUT_SECS}");
    let mut all = vec![
        "--no-config",
        "--no-proxy",
        "--no-hsts",
        "--tries=1",
        &timeout,
    ];
    all.extend_from_slice(args);
    run_tool("wget", &all, dir)
}

fn run_tool(program: &str, args: &[&str], dir: &Path) -> Ran {
    let command = format!("{program} {}", args.join(" "));
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("no_proxy", "*").env("NO_PROXY", "*");
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => panic!("cannot run {program} ({e}): .ci/run installs it with apt"),
    };
    let mut guard = ChildGuard(child);
    let mut out = guard.0.stdout.take().expect("stdout");
    let err = guard.0.stderr.take().expect("stderr");
    let out = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err = read_all_on_thread(err);
    let status = guard.wait_exit();
    Ran {
        command,
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}
