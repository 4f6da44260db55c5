//! The file-download service: two protocols on one port, told apart by the first line.
//!
//! - **Raw** ([`raw`]): the client sends a file name, the server streams that file back and
//!   closes (the lesson's downloader, made safe and nonblocking). A name ends at `\n` (a `\r`
//!   before it is dropped), at the client's half-close, or, for a client that sends the bare
//!   name and waits, after `name_wait` with no further byte; with `name_wait` zero the first
//!   read is the whole name, as in the lesson's server. A refusal closes without a byte sent.
//! - **HTTP/1.1** ([`http`]): a first line that begins like a request line or ends in an HTTP
//!   version (see [`request::looks_like_http`]); GET and HEAD, persistent connections,
//!   pipelining.
//!
//! Both confine names with [`crate::root`] and send files with [`body::Body`]
//! (`sendfile(2)`, backpressure from the socket). Every request ends with one access-log line
//! (target `tcpserve::access`). A finished exchange whose client may still send half-closes and
//! lingers (`State::Closing`) rather than closing at once.

mod body;
mod http;
mod raw;

use std::io;
use std::mem;
use std::time::Instant;

use super::{linger, Ctx, Next, Reason, Service, Settings, Transport, LINGER};
use crate::http::request::{self, looks_like_http, Detect};
use crate::metrics::counts::RawResult;
use crate::root::{Refusal, MAX_NAME};
use http::Session;
use raw::{Download, Input};

/// The files service: a connection to the served directory, raw names or HTTP.
#[derive(Debug)]
pub struct Files {
    state: State,
}

#[derive(Debug)]
enum State {
    /// Collecting the first line, a raw name or an HTTP request line, not yet told apart.
    /// `buf` allocates with the first byte, so a connection that has sent nothing holds no
    /// buffer; `quiet_until` is set once bytes without a terminator arrived.
    FirstLine {
        buf: Vec<u8>,
        since: Instant,
        quiet_until: Option<Instant>,
    },
    /// Raw protocol: streaming the named file; boxed, since only a download needs it.
    Raw(Box<Download>),
    /// HTTP: the connection's requests and responses, until it closes.
    Http(Box<Session>),
    /// The exchange is over and our FIN sent; reading and dropping whatever the client still
    /// sends until it closes, or `until`. Closing with its input unread would reset the
    /// connection, and a reset destroys what the client has not read yet: the response's tail.
    Closing { until: Instant },
    /// Finished and logged; the driver closes for this reason.
    Done(Reason),
}

/// How a request ended. Its `Display` is the access log's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Refused(Refusal),
    ClientClosed,
    /// The file shrank while being sent; the transfer ended at its new end.
    Truncated,
    RequestTimeout,
    /// The driver closed the connection (idle timeout, shutdown).
    Abandoned(Reason),
    Failed(io::ErrorKind),
}

impl Outcome {
    /// How the metrics count a raw download that ended so.
    fn result(self) -> RawResult {
        match self {
            Outcome::Sent => RawResult::Sent,
            Outcome::Refused(_) => RawResult::Refused,
            Outcome::ClientClosed => RawResult::ClientClosed,
            Outcome::Truncated => RawResult::Truncated,
            Outcome::RequestTimeout => RawResult::RequestTimeout,
            Outcome::Abandoned(_) => RawResult::Abandoned,
            Outcome::Failed(_) => RawResult::Failed,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Sent => f.write_str("ok"),
            Outcome::Refused(refusal) => write!(f, "{refusal}"),
            Outcome::ClientClosed => f.write_str("client closed"),
            Outcome::Truncated => f.write_str("truncated: the file shrank"),
            Outcome::RequestTimeout => f.write_str("request timeout"),
            Outcome::Abandoned(reason) => write!(f, "{reason}"),
            Outcome::Failed(kind) => write!(f, "failed: {kind}"),
        }
    }
}

impl Outcome {
    fn from_io(err: io::Error) -> Outcome {
        match Reason::from(err) {
            Reason::Reset => Outcome::ClientClosed,
            Reason::Io(kind) => Outcome::Failed(kind),
            _ => Outcome::Failed(io::ErrorKind::Other),
        }
    }

    /// What the driver is told when the request ends this way.
    fn reason(self) -> Reason {
        match self {
            Outcome::ClientClosed => Reason::Reset,
            Outcome::RequestTimeout => Reason::RequestTimeout,
            Outcome::Abandoned(reason) => reason,
            Outcome::Failed(kind) => Reason::Io(kind),
            Outcome::Sent | Outcome::Refused(_) | Outcome::Truncated => Reason::Done,
        }
    }

    /// The access line's level: a warning when the server failed the client (an I/O error,
    /// a file that shrank, a download cut by the server), else info. A refusal (a missing
    /// file) is the client's doing, as HTTP's 404 is: info, so `-q` stays quiet under a flood
    /// of bad names.
    fn level(self) -> log::Level {
        match self {
            Outcome::Truncated | Outcome::Failed(_) | Outcome::Abandoned(Reason::Shutdown) => {
                log::Level::Warn
            }
            _ => log::Level::Info,
        }
    }
}

/// What a protocol's turn came to: `Next` as the files service sees it, whose exchange may end
/// without the connection ending (a lingering close).
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    /// Waiting for the socket.
    Wait,
    /// The exchange is over; `linger` if the client may still send.
    End { reason: Reason, linger: bool },
}

/// What reading the first line came to.
enum First {
    /// A raw-protocol name.
    Raw(Vec<u8>, Input),
    /// An HTTP request line: the buffer is the start of a request head.
    Http,
    /// More of the line is to come.
    Partial,
    /// The client left without sending anything, or the socket failed.
    Over(Reason),
}

impl Files {
    pub(crate) fn new(_settings: &Settings, now: Instant) -> Files {
        Files {
            state: State::FirstLine {
                buf: Vec::new(),
                since: now,
                quiet_until: None,
            },
        }
    }
}

impl Service for Files {
    fn buffered(&self) -> usize {
        match &self.state {
            State::Raw(download) => download.buffered(),
            State::Http(session) => session.buffered(),
            _ => 0,
        }
    }

    /// Part-way through a response.
    fn mid_answer(&self) -> bool {
        match &self.state {
            State::Raw(_) => true,
            State::Http(session) => session.answering(),
            _ => false,
        }
    }

    fn at_rest(&self) -> bool {
        match &self.state {
            State::FirstLine { buf, .. } => buf.is_empty(),
            State::Raw(_) => false,
            State::Http(session) => session.at_rest(),
            // Lingering is work in flight: closing now would reset the answer just sent.
            State::Closing { .. } => false,
            State::Done(_) => true,
        }
    }

    fn deadline(&self, settings: &Settings) -> Option<Instant> {
        match &self.state {
            State::FirstLine {
                since, quiet_until, ..
            } => {
                let give_up = *since + settings.request_timeout;
                Some(quiet_until.map_or(give_up, |q| q.min(give_up)))
            }
            State::Http(session) => session.deadline(settings),
            State::Closing { until } => Some(*until),
            State::Raw(_) | State::Done(_) => None,
        }
    }

    fn on_ready(&mut self, io: &mut dyn Transport, ctx: &mut Ctx) -> Next {
        loop {
            let flow = match &mut self.state {
                State::FirstLine { .. } => match self.read_first_line(io, ctx) {
                    First::Raw(name, input) => {
                        self.start_raw(name, input, io, ctx);
                        continue;
                    }
                    First::Http => {
                        self.start_http();
                        continue;
                    }
                    First::Partial => return Next::Wait,
                    First::Over(reason) => return Next::Close(reason),
                },
                State::Raw(download) => match download.pump(io, ctx) {
                    None => Flow::Wait,
                    Some(outcome) => {
                        download.log(outcome, ctx);
                        Flow::End {
                            reason: outcome.reason(),
                            linger: download.input == Input::Open,
                        }
                    }
                },
                State::Http(session) => session.drive(io, ctx),
                State::Closing { .. } => return linger(io, ctx.scratch),
                State::Done(reason) => return Next::Close(*reason),
            };
            match flow {
                Flow::Wait => return Next::Wait,
                Flow::End { reason, linger } => self.close(reason, linger, io, ctx.now()),
            }
        }
    }

    fn on_deadline(&mut self, io: &mut dyn Transport, ctx: &mut Ctx) -> Next {
        let now = ctx.now();
        match &mut self.state {
            State::FirstLine {
                buf,
                since,
                quiet_until,
            } => {
                if *since + ctx.settings.request_timeout <= now {
                    if looks_like_http(buf) == Detect::HttpPrefix {
                        // The start of a request line that never went on: HTTP's 408.
                        self.start_http();
                        if let State::Http(session) = &mut self.state {
                            session.on_deadline(ctx);
                        }
                    } else {
                        let outcome = Outcome::RequestTimeout;
                        raw::log_access(buf, 0, *since, outcome, ctx);
                        self.state = State::Done(Outcome::RequestTimeout.reason());
                    }
                } else if quiet_until.is_some_and(|q| q <= now) {
                    // The client sent a first line without a terminator and is waiting.
                    if looks_like_http(buf) == Detect::Http {
                        self.start_http();
                    } else {
                        let name = mem::take(buf);
                        self.start_raw(name, Input::Open, io, ctx);
                    }
                }
            }
            State::Http(session) => session.on_deadline(ctx),
            State::Closing { until } if *until <= now => {
                self.state = State::Done(Reason::Done);
            }
            _ => {}
        }
        self.on_ready(io, ctx)
    }

    fn abandon(&mut self, reason: Reason, ctx: &mut Ctx) {
        let outcome = Outcome::Abandoned(reason);
        match &self.state {
            State::FirstLine { buf, since, .. } if !buf.is_empty() => {
                raw::log_access(buf, 0, *since, outcome, ctx);
            }
            State::Raw(download) => download.log(outcome, ctx),
            State::Http(session) => session.abandon(reason, ctx),
            _ => return,
        }
        self.state = State::Done(reason);
    }
}

impl Files {
    /// Reads the first line until it is told apart: HTTP, or a raw name framed as the module's
    /// docs say. Undecided, it may run to [`request::MAX_REQUEST_LINE`]; once raw, the name's
    /// own limit applies.
    fn read_first_line(&mut self, io: &mut dyn Transport, ctx: &mut Ctx) -> First {
        let State::FirstLine {
            buf, quiet_until, ..
        } = &mut self.state
        else {
            return First::Partial;
        };
        loop {
            // One byte past the limit shows the limit was crossed.
            let want = (request::MAX_REQUEST_LINE + 1)
                .saturating_sub(buf.len())
                .min(ctx.scratch.len());
            match io.read(&mut ctx.scratch[..want]) {
                Ok(0) if buf.is_empty() => return First::Over(Reason::Done),
                // The client shut down its sending side: the line is complete.
                Ok(0) => {
                    return match looks_like_http(buf) {
                        Detect::Http => First::Http,
                        _ => First::Raw(mem::take(buf), Input::Ended),
                    }
                }
                Ok(n) => {
                    let old = buf.len();
                    buf.extend_from_slice(&ctx.scratch[..n]);
                    match looks_like_http(buf) {
                        Detect::Http => return First::Http,
                        Detect::Raw => {
                            // Bytes after the terminator are ignored: the raw protocol has one
                            // request.
                            if let Some(end) = buf[old..].iter().position(|&b| b == b'\n') {
                                buf.truncate(old + end);
                                if buf.last() == Some(&b'\r') {
                                    buf.pop();
                                }
                                return First::Raw(mem::take(buf), Input::Open);
                            }
                            if buf.len() > MAX_NAME || ctx.settings.name_wait.is_zero() {
                                return First::Raw(mem::take(buf), Input::Open);
                            }
                        }
                        // `token SP target` run past the request line's limit: HTTP's 414.
                        Detect::Undecided if buf.len() > request::MAX_REQUEST_LINE => {
                            return First::Http;
                        }
                        Detect::Undecided | Detect::HttpPrefix
                            if ctx.settings.name_wait.is_zero() =>
                        {
                            return First::Raw(mem::take(buf), Input::Open);
                        }
                        // A request line arriving a byte at a time: no quiet period, only the
                        // request timeout, as for any HTTP head.
                        Detect::HttpPrefix => {
                            *quiet_until = None;
                            continue;
                        }
                        Detect::Undecided => {}
                    }
                    *quiet_until = Some(ctx.now() + ctx.settings.name_wait);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return First::Partial,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return First::Over(e.into()),
            }
        }
    }

    /// The first line is a raw name: opens the file and starts sending it, or ends with the
    /// refusal.
    fn start_raw(&mut self, name: Vec<u8>, input: Input, io: &mut dyn Transport, ctx: &Ctx) {
        let since = match &self.state {
            State::FirstLine { since, .. } => *since,
            _ => ctx.now(),
        };
        match Download::open(name, since, input, ctx) {
            Ok(download) => self.state = State::Raw(Box::new(download)),
            Err((name, refusal)) => {
                let outcome = Outcome::Refused(refusal);
                raw::log_access(&name, 0, since, outcome, ctx);
                self.close(outcome.reason(), input == Input::Open, io, ctx.now());
            }
        }
    }

    /// The first line is an HTTP request line: the connection speaks HTTP from now on.
    fn start_http(&mut self) {
        if let State::FirstLine { buf, since, .. } = &mut self.state {
            self.state = State::Http(Box::new(Session::new(mem::take(buf), *since)));
        }
    }

    /// Ends the exchange: a clean end with a client that may still send half-closes and
    /// lingers rather than closing.
    fn close(&mut self, reason: Reason, linger: bool, io: &mut dyn Transport, now: Instant) {
        self.state = if reason == Reason::Done && linger && io.shutdown_write().is_ok() {
            State::Closing {
                until: now + LINGER,
            }
        } else {
            State::Done(reason)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::script::Script;
    use crate::logging::Escaped;
    use crate::root::Root;
    use std::path::PathBuf;

    const ROOMY: usize = 1 << 20;

    /// A root with `a.txt` ("hello") and `sub/`, removed when dropped.
    struct Tree(PathBuf);

    impl Tree {
        fn new(test: &str) -> Tree {
            let dir =
                std::env::temp_dir().join(format!("tcpserve-unit-{test}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("sub")).unwrap();
            std::fs::write(dir.join("a.txt"), b"hello").unwrap();
            Tree(dir)
        }

        fn settings(&self, name_wait_ms: u64) -> Settings {
            Settings {
                name_wait: std::time::Duration::from_millis(name_wait_ms),
                root: Some(Root::new(&self.0).unwrap()),
                ..Settings::default()
            }
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn drive(files: &mut Files, io: &mut Script, settings: &Settings) -> Next {
        files.on_ready(io, &mut Script::ctx(&mut [0u8; 64], settings))
    }

    // --- Naming ---

    #[test]
    fn naming_ends_at_a_newline_a_crlf_or_a_half_close() {
        let tree = Tree::new("framing");
        let settings = tree.settings(100);
        let cases: &[&[&[u8]]] = &[
            &[b"a.txt\n"],
            &[b"a.t", b"xt\r\n"],
            &[b"/a.txt\nignored after the newline"],
            &[b"a.txt", b""], // then end-of-stream: a half-close
        ];
        for steps in cases {
            let mut io = Script::new(ROOMY);
            for step in *steps {
                io = if step.is_empty() {
                    io.then_eof()
                } else {
                    io.then_bytes(step)
                };
            }
            let mut files = Files::new(&settings, Instant::now());
            let next = drive(&mut files, &mut io, &settings);
            assert_eq!(io.written, b"hello", "{steps:?}");
            assert!(
                matches!(next, Next::Wait | Next::Close(Reason::Done)),
                "{steps:?}: {next:?}"
            );
        }
    }

    #[test]
    fn a_bare_name_waits_for_the_quiet_period() {
        let tree = Tree::new("quiet");
        let settings = tree.settings(50);
        let mut files = Files::new(&settings, Instant::now());
        let mut io = Script::new(ROOMY).then_bytes(b"a.txt");
        assert_eq!(drive(&mut files, &mut io, &settings), Next::Wait);
        assert!(io.written.is_empty() && !files.at_rest());
        let due = files.deadline(&settings).expect("a quiet-period deadline");
        assert!(due > Instant::now());
        // The driver calls back at the deadline: a clock that reads exactly that.
        let mut scratch = [0u8; 64];
        let mut ctx = Script::ctx(&mut scratch, &settings);
        ctx.clock = crate::handlers::Clock::Turn(due);
        let next = files.on_deadline(&mut io, &mut ctx);
        assert_eq!(io.written, b"hello");
        // The client may still send: the server half-closes and lingers.
        assert_eq!(next, Next::Wait);
        assert!(io.write_shut);
    }

    #[test]
    fn with_name_wait_zero_the_first_read_is_the_name() {
        let tree = Tree::new("wait0");
        let settings = tree.settings(0);
        let mut files = Files::new(&settings, Instant::now());
        let mut io = Script::new(ROOMY).then_bytes(b"a.txt");
        drive(&mut files, &mut io, &settings);
        assert_eq!(io.written, b"hello");
    }

    #[test]
    fn a_connection_that_never_names_anything_is_at_rest_then_done() {
        let tree = Tree::new("rest");
        let settings = tree.settings(100);
        let mut files = Files::new(&settings, Instant::now());
        assert!(files.at_rest());
        let mut io = Script::new(ROOMY).then_eof();
        assert_eq!(
            drive(&mut files, &mut io, &settings),
            Next::Close(Reason::Done)
        );
        assert!(io.written.is_empty());
    }

    // --- Refusals ---

    #[test]
    fn refusals_send_nothing() {
        let tree = Tree::new("refuse");
        let settings = tree.settings(100);
        let long = [vec![b'a'; MAX_NAME + 1], b"\n".to_vec()].concat();
        let names: &[&[u8]] = &[
            b"missing\n",
            b"../a.txt\n",
            b"sub\n",
            b"\n",
            b"a\0b\n",
            &long,
        ];
        for name in names {
            let mut files = Files::new(&settings, Instant::now());
            let mut io = Script::new(ROOMY).then_bytes(name).then_eof();
            let next = drive(&mut files, &mut io, &settings);
            assert!(io.written.is_empty(), "{:?}", Escaped(name).to_string());
            assert!(matches!(next, Next::Wait | Next::Close(_)), "{next:?}");
        }
    }

    // --- Sending ---

    #[test]
    fn sending_stops_when_the_socket_is_full_and_resumes() {
        let tree = Tree::new("full");
        let settings = tree.settings(100);
        let mut files = Files::new(&settings, Instant::now());
        let mut io = Script::new(2).then_bytes(b"a.txt\n").then_eof();
        assert_eq!(drive(&mut files, &mut io, &settings), Next::Wait);
        assert_eq!(io.written, b"he");
        assert!(files.mid_answer());
        io.room = ROOMY;
        assert_eq!(
            drive(&mut files, &mut io, &settings),
            Next::Close(Reason::Done)
        );
        assert_eq!(io.written, b"hello");
        assert!(
            !io.write_shut,
            "the client had half-closed: no linger needed"
        );
    }

    // --- Closing ---

    #[test]
    fn lingering_reads_and_drops_until_the_client_closes() {
        let tree = Tree::new("linger");
        let settings = tree.settings(100);
        let mut files = Files::new(&settings, Instant::now());
        let mut io = Script::new(ROOMY).then_bytes(b"a.txt\n");
        assert_eq!(drive(&mut files, &mut io, &settings), Next::Wait);
        // Lingering is in flight: a graceful stop waits for it rather than reset the answer.
        assert!(io.write_shut && !files.at_rest());
        let mut io = io.then_bytes(b"late bytes").then_eof();
        assert_eq!(
            drive(&mut files, &mut io, &settings),
            Next::Close(Reason::Done)
        );
        assert_eq!(io.written, b"hello");
    }

    // --- HTTP ---

    fn drive_http(files: &mut Files, io: &mut Script, settings: &Settings) -> Next {
        files.on_ready(io, &mut Script::ctx(&mut [0u8; 4096], settings))
    }

    /// The responses in `written`: each head, and the body by `Content-Length` (none for 304
    /// or for the answers to HEAD, whose indices are `heads`).
    fn responses_with_heads(mut written: &[u8], heads: &[usize]) -> Vec<(String, Vec<u8>)> {
        let mut all = Vec::new();
        while !written.is_empty() {
            let end = written.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let head = std::str::from_utf8(&written[..end]).unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map_or(0, |v| v.parse().unwrap());
            let len = if head.starts_with("HTTP/1.1 304") || heads.contains(&all.len()) {
                0
            } else {
                len
            };
            all.push((head.to_string(), written[end..end + len].to_vec()));
            written = &written[end + len..];
        }
        all
    }

    fn responses(written: &[u8]) -> Vec<(String, Vec<u8>)> {
        responses_with_heads(written, &[])
    }

    const GET_A: &[u8] = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n";

    #[test]
    fn http_keeps_the_connection_for_the_next_request() {
        let tree = Tree::new("keep");
        let settings = tree.settings(100);
        let mut files = Files::new(&settings, Instant::now());
        let mut io = Script::new(ROOMY).then_bytes(GET_A);
        assert_eq!(drive_http(&mut files, &mut io, &settings), Next::Wait);
        assert!(files.at_rest() && !io.write_shut);
        assert_eq!(
            files.deadline(&settings),
            None,
            "idle: only the idle timeout applies"
        );
        let mut io2 = Script::new(ROOMY).then_bytes(GET_A).then_eof();
        assert_eq!(
            drive_http(&mut files, &mut io2, &settings),
            Next::Close(Reason::Done)
        );
        for written in [&io.written, &io2.written] {
            let got = responses(written);
            assert_eq!(got.len(), 1);
            assert!(got[0].0.starts_with("HTTP/1.1 200 OK\r\n"), "{}", got[0].0);
            assert!(!got[0].0.contains("Connection:"), "{}", got[0].0);
            assert_eq!(got[0].1, b"hello");
        }
    }

    #[test]
    fn http_answers_pipelined_requests_in_order() {
        let tree = Tree::new("pipe");
        let settings = tree.settings(100);
        let mut files = Files::new(&settings, Instant::now());
        let batch = [
            GET_A,
            b"HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /a.txt",
        ]
        .concat();
        // Split mid-head too: the second read completes the first request.
        let mut io = Script::new(ROOMY)
            .then_bytes(&batch[..7])
            .then_bytes(&batch[7..]);
        assert_eq!(drive_http(&mut files, &mut io, &settings), Next::Wait);
        assert!(io.write_shut, "Connection: close: half-closed, lingering");
        let got = responses_with_heads(&io.written, &[1]);
        let statuses: Vec<&str> = got.iter().map(|(h, _)| &h[9..12]).collect();
        assert_eq!(statuses, ["200", "200", "404", "200"]);
        assert_eq!(got[0].1, b"hello");
        assert!(
            got[1].0.contains("Content-Length: 5\r\n"),
            "HEAD: the GET's length"
        );
        assert!(got[3].0.contains("Connection: close\r\n"));
    }

    #[test]
    fn http_waits_for_a_socket_with_room() {
        let tree = Tree::new("room");
        let settings = tree.settings(100);
        let mut files = Files::new(&settings, Instant::now());
        let mut io = Script::new(10).then_bytes(GET_A);
        assert_eq!(drive_http(&mut files, &mut io, &settings), Next::Wait);
        assert!(files.mid_answer() && files.buffered() > 0);
        io.room = ROOMY;
        assert_eq!(drive_http(&mut files, &mut io, &settings), Next::Wait);
        assert_eq!(responses(&io.written)[0].1, b"hello");
    }

    #[test]
    fn http_faults_answer_then_close() {
        let tree = Tree::new("fault");
        let settings = tree.settings(100);
        let cases: &[(&[u8], &str)] = &[
            (b"GET / HTTP/1.1\r\n\r\n", "400"), // no Host
            (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "505"),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
                "413",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                "501",
            ),
        ];
        for (bytes, status) in cases {
            let mut files = Files::new(&settings, Instant::now());
            let mut io = Script::new(ROOMY).then_bytes(bytes);
            assert_eq!(drive_http(&mut files, &mut io, &settings), Next::Wait);
            let got = responses(&io.written);
            assert_eq!(&got[0].0[9..12], *status, "{}", Escaped(bytes));
            assert!(got[0].0.contains("Connection: close\r\n"));
            assert!(io.write_shut, "lingers: the client may still be sending");
        }
    }

    #[test]
    fn http_request_timeout_answers_408() {
        let tree = Tree::new("408");
        let settings = tree.settings(100);
        let mut files = Files::new(&settings, Instant::now());
        let mut io = Script::new(ROOMY).then_bytes(b"GET /a.txt HTTP/1.1\r\nHost");
        assert_eq!(drive_http(&mut files, &mut io, &settings), Next::Wait);
        assert!(io.written.is_empty() && !files.at_rest());
        let due = files.deadline(&settings).expect("the request timeout");
        let mut scratch = [0u8; 4096];
        let mut ctx = Script::ctx(&mut scratch, &settings);
        ctx.clock = crate::handlers::Clock::Turn(due);
        assert_eq!(files.on_deadline(&mut io, &mut ctx), Next::Wait);
        let got = responses(&io.written);
        assert!(got[0].0.starts_with("HTTP/1.1 408 "), "{}", got[0].0);
        assert!(io.write_shut);
    }

    #[test]
    fn http_with_pipelined_persistence_keeps_only_for_requests_already_here() {
        let tree = Tree::new("iter");
        let settings = Settings {
            persistence: crate::handlers::Persistence::Pipelined,
            ..tree.settings(100)
        };
        let mut files = Files::new(&settings, Instant::now());
        let mut io = Script::new(ROOMY).then_bytes(&[GET_A, GET_A].concat());
        drive_http(&mut files, &mut io, &settings);
        let got = responses(&io.written);
        assert_eq!(got.len(), 2);
        assert!(!got[0].0.contains("Connection:"), "{}", got[0].0);
        assert!(got[1].0.contains("Connection: close\r\n"), "{}", got[1].0);
        assert!(io.write_shut);
    }

    #[test]
    fn a_request_line_split_over_reads_is_still_http() {
        let tree = Tree::new("split");
        let settings = tree.settings(100);
        let mut files = Files::new(&settings, Instant::now());
        let mut io = Script::new(ROOMY);
        for b in GET_A {
            io = io.then_bytes(&[*b]);
        }
        assert_eq!(drive_http(&mut files, &mut io, &settings), Next::Wait);
        assert_eq!(responses(&io.written)[0].1, b"hello");
    }

    #[test]
    fn http_limits_are_answered_without_waiting_for_a_line_end() {
        let tree = Tree::new("limits");
        let settings = tree.settings(100);
        let long_field = [&b"GET / HTTP/1.1\r\nX: "[..], &[b'v'; 16 * 1024]].concat();
        let long_line = [&b"GET /"[..], &[b'a'; 8 * 1024]].concat();
        for (bytes, status) in [(&long_field, "431"), (&long_line, "414")] {
            // In pieces of every size, so the limit is crossed inside a read, not at its start.
            for piece in [1000, 4096, 65536] {
                let mut files = Files::new(&settings, Instant::now());
                let mut io = Script::new(ROOMY);
                for chunk in bytes.chunks(piece) {
                    io = io.then_bytes(chunk);
                }
                let mut scratch = vec![0u8; 64 * 1024];
                files.on_ready(&mut io, &mut Script::ctx(&mut scratch, &settings));
                let got = responses(&io.written);
                assert_eq!(got.len(), 1, "{status} in pieces of {piece}");
                assert_eq!(&got[0].0[9..12], status, "in pieces of {piece}");
            }
        }
    }
}
