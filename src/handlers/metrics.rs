//! The metrics listener's service (`--metrics ADDR`): a small HTTP/1.1 server of two documents,
//! for the operator's tools rather than for clients. `GET /metrics` is the Prometheus text of
//! the server's board; `GET /health` answers `200 ok` while the server serves and `503 draining`
//! from the first stop request on, so that a balancer sends clients elsewhere; any other path
//! is a 404, a method other than GET and HEAD a 405. Its requests go to no access log and count
//! only as the `metrics` service's connections.
//!
//! A head is parsed by the files service's strict parser; the answer is made whole, then sent
//! (a scrape is some kilobytes). A connection persists as the files service's do (under the
//! iterative model only while the next request is already there: a scraper's idle connection
//! must not hold the one thread); a refused head closes with a lingering close, so that the
//! answer is not lost to a reset.

use std::io;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::LINGER;
use super::{linger, write_some, Ctx, Next, Persistence, Reason, Service, Settings, Transport};
use crate::http::request::{self, Header, Status, MAX_HEADERS};
use crate::http::response::{self, Connection, Head, TEXT_PLAIN};
use crate::http::target;
use crate::logging;
use crate::metrics::exposition::{self, CONTENT_TYPE};
use crate::metrics::process::Process;
use crate::metrics::Board;

/// The longest request head taken: a scraper's or a balancer's is a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;

/// The service's name, in the log and among the counts; no program's service may take it.
pub(crate) const NAME: &str = "metrics";

pub(crate) struct Metrics {
    board: Arc<Board>,
    stage: Stage,
    /// What came of the connection and is not yet answered: a head arriving, or pipelined
    /// requests behind the one being answered.
    input: Vec<u8>,
    /// When the first byte of the request being read came.
    since: Option<Instant>,
}

enum Stage {
    /// Waiting for a whole request head.
    Reading,
    /// Sending an answer, `out[sent..]` left; then what `then` says.
    Answering {
        out: Vec<u8>,
        sent: usize,
        then: Then,
    },
    /// Answered a head it refused and closed its side: dropping what the client still sends
    /// until it closes, or `until`.
    Closing { until: Instant },
}

/// What follows an answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Then {
    /// The next request.
    Next,
    /// The end of the connection.
    Close,
    /// A lingering close (after a refused head, whose rest may still be coming).
    Linger,
}

impl Metrics {
    pub(crate) fn new(board: Arc<Board>) -> Metrics {
        Metrics {
            board,
            stage: Stage::Reading,
            input: Vec::new(),
            since: None,
        }
    }

    /// Reads until a whole head has come and makes its answer: `None` then, else what to do.
    fn read(&mut self, io: &mut dyn Transport, cx: &mut Ctx) -> Option<Next> {
        loop {
            if !self.input.is_empty() {
                if let Some(answer) = self.parse(cx) {
                    self.stage = answer;
                    return None;
                }
            }
            match io.read(cx.scratch) {
                Ok(0) if self.input.is_empty() => return Some(Next::Close(Reason::Done)),
                Ok(0) => return Some(Next::Close(Reason::Protocol("request cut short"))),
                Ok(n) => {
                    self.since.get_or_insert(cx.now());
                    self.input.extend_from_slice(&cx.scratch[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(Next::Wait),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(Next::Close(e.into())),
            }
        }
    }

    /// The answer to the head at the start of the input, once it is whole (or refused); what
    /// follows it stays in the input.
    fn parse(&mut self, cx: &Ctx) -> Option<Stage> {
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let refused = |status| (refusal(status), Then::Linger, usize::MAX);
        let (out, then, used) = match request::parse(&self.input, &mut headers) {
            Ok(Status::Partial) if self.input.len() <= MAX_HEAD => return None,
            Ok(Status::Partial) => refused(431),
            Err(e) => refused(e.status()),
            Ok(Status::Complete { head_len, .. }) if head_len > MAX_HEAD => refused(431),
            Ok(Status::Complete { head_len, request }) => {
                let pipelined = self.input.len() > head_len;
                let idle_ok = cx.settings.persistence == Persistence::Idle;
                let keep = request.keep_alive() && (pipelined || idle_ok);
                let connection = Connection::new(request.version, keep);
                let path = target::path_part(request.target.as_bytes());
                let out = answer(&self.board, request.method, path, connection);
                (out, if keep { Then::Next } else { Then::Close }, head_len)
            }
        };
        self.input.drain(..used.min(self.input.len()));
        // A pipelined request's time counts from now.
        self.since = (!self.input.is_empty()).then(|| cx.now());
        Some(Stage::Answering { out, sent: 0, then })
    }
}

/// The whole answer to `method` on `path`.
fn answer(board: &Board, method: &str, path: &[u8], connection: Connection) -> Vec<u8> {
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return error(405, false, connection),
    };
    let (status, content_type, body) = match path {
        b"/metrics" => {
            let mut text = String::with_capacity(8 * 1024);
            let dropped = logging::dropped_in_process();
            exposition::render(board, &Process::read(), dropped, &mut text);
            (200, CONTENT_TYPE, text)
        }
        b"/health" if board.leaving() => (503, TEXT_PLAIN, "draining\n".to_string()),
        b"/health" => (200, TEXT_PLAIN, "ok\n".to_string()),
        _ => return error(404, head_only, connection),
    };
    let mut out = Vec::with_capacity(256 + body.len());
    Head {
        content_type: Some(content_type),
        content_length: Some(body.len() as u64),
        connection,
        // The figures change from one request to the next: no cache may keep them.
        no_store: true,
        ..Head::new(status, SystemTime::now())
    }
    .write(&mut out);
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// An error answer (its body only to a GET), on a connection that stays as `connection` says.
fn error(status: u16, head_only: bool, connection: Connection) -> Vec<u8> {
    let mut out = Vec::new();
    Head {
        connection,
        ..Head::error(status, SystemTime::now())
    }
    .write(&mut out);
    if !head_only {
        response::write_error_body(status, &mut out);
    }
    out
}

/// The answer to a head refused: it closes the connection.
fn refusal(status: u16) -> Vec<u8> {
    error(status, false, Connection::Close)
}

impl Service for Metrics {
    fn on_ready(&mut self, io: &mut dyn Transport, cx: &mut Ctx<'_>) -> Next {
        loop {
            let (out, sent, then) = match &mut self.stage {
                Stage::Reading => match self.read(io, cx) {
                    Some(next) => return next,
                    None => continue,
                },
                Stage::Closing { .. } => return linger(io, cx.scratch),
                Stage::Answering { out, sent, then } => (out, sent, *then),
            };
            match write_some(io, &out[*sent..]) {
                Ok(n) => *sent += n,
                Err(e) => return Next::Close(e.into()),
            }
            if *sent < out.len() {
                return Next::Wait;
            }
            self.stage = match then {
                Then::Next => Stage::Reading,
                Then::Close => return Next::Close(Reason::Done),
                Then::Linger if io.shutdown_write().is_ok() => Stage::Closing {
                    until: cx.now() + LINGER,
                },
                Then::Linger => return Next::Close(Reason::Done),
            };
        }
    }

    /// A head must come whole within the request timeout; lingering ends at its own time.
    fn deadline(&self, settings: &Settings) -> Option<Instant> {
        match self.stage {
            Stage::Reading => Some(self.since? + settings.request_timeout),
            Stage::Answering { .. } => None,
            Stage::Closing { until } => Some(until),
        }
    }

    fn on_deadline(&mut self, _io: &mut dyn Transport, _cx: &mut Ctx<'_>) -> Next {
        match self.stage {
            Stage::Closing { .. } => Next::Close(Reason::Done),
            Stage::Reading | Stage::Answering { .. } => Next::Close(Reason::RequestTimeout),
        }
    }

    fn buffered(&self) -> usize {
        match &self.stage {
            Stage::Answering { out, sent, .. } => out.len() - sent,
            Stage::Reading | Stage::Closing { .. } => 0,
        }
    }

    fn at_rest(&self) -> bool {
        matches!(self.stage, Stage::Reading) && self.input.is_empty()
    }
}
