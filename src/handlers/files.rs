//! The file-download service, raw protocol: the client sends a file name, the server streams that
//! file back and closes (the lesson's downloader, made safe and nonblocking).
//!
//! A name ends at `\n` (a `\r` before it is dropped), at the client's half-close, or, for a
//! client that sends the bare name and waits, after `name_wait` with no further byte; with
//! `name_wait` zero the first read is the whole name, as in the lesson's server. The name is
//! confined by [`crate::root`]. The file goes out with `sendfile(2)` as fast as the socket takes
//! it, or, where `sendfile` is not supported, in chunks of at most `buffer` bytes through the
//! scratch buffer; either way nothing is read ahead of the socket. A refusal closes without
//! sending a byte. Every request ends with one access-log line (target `tcpserve::access`).

use std::fs::File;
use std::io::{self, Read};
use std::mem;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use super::pending::Pending;
use super::{write_some, Ctx, Next, Reason, Settings, Transport};
use crate::root::{Escaped, Refusal, MAX_NAME};

/// Most bytes asked of one `sendfile` call (the kernel's own cap, about 2 GiB).
const MAX_SENDFILE: u64 = 0x7fff_f000;
/// How much of a name an access-log line shows.
const LOGGED_NAME: usize = 256;
/// How long a finished request waits for the client to close (see `State::Closing`).
const LINGER: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct Files {
    state: State,
}

#[derive(Debug)]
enum State {
    /// Collecting the name. `name` allocates with the first byte, so a connection that has sent
    /// nothing holds no buffer; `quiet_until` is set once bytes without a terminator arrived.
    Naming {
        name: Vec<u8>,
        since: Instant,
        quiet_until: Option<Instant>,
    },
    /// Streaming the file; boxed, since only a download needs it.
    Sending(Box<Transfer>),
    /// The response is complete and our FIN sent; reading and dropping whatever the client
    /// still sends until it closes, or `until`. Closing with its input unread would reset the
    /// connection, and a reset destroys what the client has not read yet: the file's tail.
    Closing { until: Instant },
    /// The request ended and was logged; the driver closes for this reason.
    Done(Reason),
}

#[derive(Debug)]
struct Transfer {
    name: Vec<u8>,
    since: Instant,
    /// Whether the client may still send: what it sends during the transfer is read and
    /// dropped, since closing a socket with unread input resets it and loses the file's tail.
    input: Input,
    file: File,
    size: u64,
    /// Bytes taken from the file so far; `pending` holds those not yet sent.
    offset: u64,
    pending: Pending,
    method: Method,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    Open,
    /// The client shut down its sending side.
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Sendfile,
    /// `pread` into the scratch buffer and `write`, where `sendfile` is not supported.
    Copy,
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

    /// Worth a warning: the client did not get the file it asked for, through no doing of its own.
    fn is_warning(self) -> bool {
        !matches!(self, Outcome::Sent | Outcome::ClientClosed)
    }
}

/// What reading the name came to.
enum Framing {
    Whole(Vec<u8>, Input),
    Partial,
    /// The client left without naming anything, or the socket failed.
    Over(Next),
}

impl Files {
    pub fn new(_settings: &Settings, now: Instant) -> Files {
        Files {
            state: State::Naming {
                name: Vec::new(),
                since: now,
                quiet_until: None,
            },
        }
    }

    pub fn buffered(&self) -> usize {
        match &self.state {
            State::Sending(tx) => tx.pending.len(),
            _ => 0,
        }
    }

    pub fn sending(&self) -> bool {
        matches!(self.state, State::Sending(_))
    }

    pub fn at_rest(&self) -> bool {
        match &self.state {
            State::Naming { name, .. } => name.is_empty(),
            State::Closing { .. } | State::Done(_) => true,
            State::Sending(_) => false,
        }
    }

    pub fn deadline(&self, settings: &Settings) -> Option<Instant> {
        match &self.state {
            State::Naming {
                since, quiet_until, ..
            } => {
                let give_up = *since + settings.request_timeout;
                Some(quiet_until.map_or(give_up, |q| q.min(give_up)))
            }
            State::Closing { until } => Some(*until),
            _ => None,
        }
    }

    pub fn drive<T: Transport>(&mut self, io: &mut T, ctx: &mut Ctx) -> Next {
        loop {
            match &mut self.state {
                State::Naming { .. } => match self.read_name(io, ctx) {
                    Framing::Whole(name, input) => self.open(name, input, io, ctx),
                    Framing::Partial => return Next::Read,
                    Framing::Over(next) => return next,
                },
                State::Sending(tx) => match tx.pump(io, ctx) {
                    None => return Next::Write,
                    Some(outcome) => {
                        let input = tx.input;
                        self.end(outcome, input, io, ctx);
                    }
                },
                State::Closing { .. } => return linger(io, ctx.scratch),
                State::Done(reason) => return Next::Close(*reason),
            }
        }
    }

    pub fn on_deadline<T: Transport>(&mut self, io: &mut T, ctx: &mut Ctx) -> Next {
        match &mut self.state {
            State::Naming {
                name,
                since,
                quiet_until,
            } => {
                let now = ctx.now();
                if *since + ctx.settings.request_timeout <= now {
                    return self.finish(Outcome::RequestTimeout, ctx.peer, now);
                }
                if quiet_until.is_some_and(|q| q <= now) {
                    // The client sent a bare name and is waiting for the file.
                    let name = mem::take(name);
                    self.open(name, Input::Open, io, ctx);
                }
            }
            State::Closing { until } if *until <= ctx.now() => {
                self.state = State::Done(Reason::Done);
            }
            _ => {}
        }
        self.drive(io, ctx)
    }

    pub fn abandon(&mut self, reason: Reason, peer: SocketAddr, now: Instant) {
        if !self.at_rest() {
            self.finish(Outcome::Abandoned(reason), peer, now);
        }
    }

    fn read_name<T: Read>(&mut self, io: &mut T, ctx: &mut Ctx) -> Framing {
        let State::Naming {
            name, quiet_until, ..
        } = &mut self.state
        else {
            return Framing::Partial;
        };
        loop {
            // One byte past the limit shows the limit was crossed.
            let want = (MAX_NAME + 1 - name.len()).min(ctx.scratch.len());
            match io.read(&mut ctx.scratch[..want]) {
                Ok(0) if name.is_empty() => return Framing::Over(Next::Close(Reason::Done)),
                // The client shut down its sending side: the name is complete.
                Ok(0) => return Framing::Whole(mem::take(name), Input::Ended),
                Ok(n) => {
                    let got = &ctx.scratch[..n];
                    // Bytes after the terminator are ignored: the raw protocol has one request.
                    if let Some(end) = got.iter().position(|&b| b == b'\n') {
                        name.extend_from_slice(&got[..end]);
                        if name.last() == Some(&b'\r') {
                            name.pop();
                        }
                        return Framing::Whole(mem::take(name), Input::Open);
                    }
                    name.extend_from_slice(got);
                    if name.len() > MAX_NAME || ctx.settings.name_wait.is_zero() {
                        return Framing::Whole(mem::take(name), Input::Open);
                    }
                    *quiet_until = Some(ctx.now() + ctx.settings.name_wait);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Framing::Partial,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Framing::Over(Next::Close(e.into())),
            }
        }
    }

    /// Opens the named file and starts sending it, or ends the request with the refusal.
    fn open<T: Transport>(&mut self, name: Vec<u8>, input: Input, io: &mut T, ctx: &mut Ctx) {
        let since = match &self.state {
            State::Naming { since, .. } => *since,
            _ => ctx.now(),
        };
        let opened = match &ctx.settings.root {
            Some(root) => root.open(&name),
            None => Err(Refusal::NotFound), // no files service configured: nothing to serve
        };
        match opened {
            Ok(opened) => {
                self.state = State::Sending(Box::new(Transfer {
                    name,
                    since,
                    input,
                    file: opened.file,
                    size: opened.size,
                    offset: 0,
                    pending: Pending::default(),
                    method: Method::Sendfile,
                }));
            }
            Err(refusal) => {
                self.state = State::Naming {
                    name,
                    since,
                    quiet_until: None,
                };
                self.end(Outcome::Refused(refusal), input, io, ctx);
            }
        }
    }

    /// Ends a request from inside a turn: as [`Files::finish`], but a clean end with a client
    /// that may still send half-closes and lingers (`State::Closing`) rather than closing.
    fn end<T: Transport>(&mut self, outcome: Outcome, input: Input, io: &mut T, ctx: &mut Ctx) {
        let now = ctx.now();
        let next = self.finish(outcome, ctx.peer, now);
        if next == Next::Close(Reason::Done) && input == Input::Open && io.shutdown_write().is_ok()
        {
            self.state = State::Closing {
                until: now + LINGER,
            };
        }
    }

    /// Ends the request: logs its access line, drops the file, and tells the driver why.
    fn finish(&mut self, outcome: Outcome, peer: SocketAddr, now: Instant) -> Next {
        let ended = State::Done(outcome.reason());
        let (name, sent, since) = match mem::replace(&mut self.state, ended) {
            State::Naming { name, since, .. } => (name, 0, since),
            State::Sending(tx) => (tx.name, tx.offset - tx.pending.len() as u64, tx.since),
            State::Closing { .. } | State::Done(_) => return Next::Close(outcome.reason()),
        };
        let level = if outcome.is_warning() {
            log::Level::Warn
        } else {
            log::Level::Info
        };
        if log::log_enabled!(target: "tcpserve::access", level) {
            let shown = &name[..name.len().min(LOGGED_NAME)];
            let more = if name.len() > LOGGED_NAME { "..." } else { "" };
            log::log!(
                target: "tcpserve::access",
                level,
                "files {peer} \"{}{more}\" {sent} bytes {} ms {outcome}",
                Escaped(shown),
                now.saturating_duration_since(since).as_millis()
            );
        }
        Next::Close(outcome.reason())
    }
}

impl Transfer {
    /// Sends as much as the socket takes. `None` while waiting for it to take more; the outcome
    /// once the transfer is over.
    fn pump<T: Transport>(&mut self, io: &mut T, ctx: &mut Ctx) -> Option<Outcome> {
        loop {
            if let Err(e) = self.discard_input(io, ctx.scratch) {
                return Some(Outcome::from_io(e));
            }
            if let Err(e) = self.pending.flush(io) {
                return Some(Outcome::from_io(e));
            }
            if !self.pending.is_empty() {
                return None;
            }
            let left = self.size - self.offset;
            if left == 0 {
                return Some(Outcome::Sent);
            }
            let result = match self.method {
                Method::Sendfile => {
                    io.send_file(&self.file, self.offset, left.min(MAX_SENDFILE) as usize)
                }
                Method::Copy => self.copy(io, ctx, left),
            };
            match result {
                Ok(0) => return Some(Outcome::Truncated),
                Ok(n) => self.offset += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if self.method == Method::Sendfile && sendfile_unsupported(&e) => {
                    log::debug!("sendfile not supported here ({e}): copying instead");
                    self.method = Method::Copy;
                }
                Err(e) => return Some(Outcome::from_io(e)),
            }
        }
    }

    /// Reads and drops what the client sent after its name (nothing, usually: then no call is
    /// made, the socket being known drained).
    fn discard_input<T: Transport>(&mut self, io: &mut T, scratch: &mut [u8]) -> io::Result<()> {
        while self.input == Input::Open {
            match io.discard_now(scratch) {
                Ok(0) => self.input = Input::Ended,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One chunk through the scratch buffer; what the socket refuses waits in `pending`.
    fn copy<T: Transport>(&mut self, io: &mut T, ctx: &mut Ctx, left: u64) -> io::Result<usize> {
        let want = left
            .min(ctx.settings.buffer as u64)
            .min(ctx.scratch.len() as u64) as usize;
        let chunk = &mut ctx.scratch[..want];
        let n = self.file.read_at(chunk, self.offset)?;
        let sent = write_some(io, &chunk[..n])?;
        self.pending.push(&chunk[sent..n]);
        Ok(n)
    }
}

/// Reads and drops until the client closes; any error ends it too. A plain read, which may
/// wait (on a blocking socket): lingering is bounded by its own deadline, not by progress.
fn linger<T: Transport>(io: &mut T, scratch: &mut [u8]) -> Next {
    loop {
        match io.read(scratch) {
            Ok(0) => return Next::Close(Reason::Done),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Next::Close(Reason::Done),
        }
    }
}

fn sendfile_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::script::Script;
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
                name_wait: Duration::from_millis(name_wait_ms),
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
        files.drive(io, &mut Script::ctx(&mut [0u8; 64], settings))
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
                matches!(next, Next::Read | Next::Close(Reason::Done)),
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
        assert_eq!(drive(&mut files, &mut io, &settings), Next::Read);
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
        assert_eq!(next, Next::Read);
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
            assert!(matches!(next, Next::Read | Next::Close(_)), "{next:?}");
        }
    }

    // --- Sending ---

    #[test]
    fn sending_stops_when_the_socket_is_full_and_resumes() {
        let tree = Tree::new("full");
        let settings = tree.settings(100);
        let mut files = Files::new(&settings, Instant::now());
        let mut io = Script::new(2).then_bytes(b"a.txt\n").then_eof();
        assert_eq!(drive(&mut files, &mut io, &settings), Next::Write);
        assert_eq!(io.written, b"he");
        assert!(files.sending());
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
        assert_eq!(drive(&mut files, &mut io, &settings), Next::Read);
        assert!(io.write_shut && files.at_rest());
        let mut io = io.then_bytes(b"late bytes").then_eof();
        assert_eq!(
            drive(&mut files, &mut io, &settings),
            Next::Close(Reason::Done)
        );
        assert_eq!(io.written, b"hello");
    }
}
