//! HTTP/1.1 on the files port: one connection's requests, each answered in order, until the
//! client closes, asks to close, sends a head the parser refuses, or goes idle.
//!
//! Received bytes collect in `input`; it is parsed only when new bytes hold a line end (or cross
//! a limit), so a head sent a byte at a time costs O(n) per line, not per byte. A whole head is
//! answered at once: the response head (and an error's short text) is written into `out`, a
//! buffer the connection keeps, then sent with `MSG_MORE` before the file's part goes by
//! `sendfile`. The next request is not read until the response has gone, so pipelined
//! requests wait in `input` or in the kernel, and a client that does not read its responses
//! stops being read: backpressure, request by request. Once the connection has a buffer of
//! each kind, requests cost no allocation, but for a directory listing (`--listing`), built
//! whole per request. What the options add to the answer (custom fields, listings, error
//! pages, the single-page app, precompressed files) is decided in [`respond`] and
//! `error_page`, in the order `crate::http`'s docs give.

use std::mem;
use std::time::{Instant, SystemTime};

use super::super::{Ctx, Persistence, Reason, Settings, Transport};
use super::body::Body;
use super::{Flow, Outcome};
use crate::content::{Content, Data};
use crate::http::encoding::{self, Coding};
use crate::http::headers::Custom;
use crate::http::range::{self, Range};
use crate::http::request::{
    self, Error, Header, Request, Status, MAX_HEADERS, MAX_HEADER_BYTES, MAX_REQUEST_LINE,
};
use crate::http::response::{self, Connection, ContentRange, Head};
use crate::http::{listing, target};
use crate::logging::access::{self, Access, Fields};
use crate::metrics::counts::Method;
use crate::root::{Refusal, Root};

/// The largest head: a request line, its CRLF, the fields, the empty line.
const MAX_HEAD: usize = MAX_REQUEST_LINE + 2 + MAX_HEADER_BYTES + 2;
/// An input buffer grown past this (by a large head) is given back between requests.
const KEPT_INPUT: usize = 4096;

#[derive(Debug)]
pub(super) struct Session {
    /// Received and not yet answered: the head being read, then any pipelined requests.
    input: Vec<u8>,
    /// How much of `input` has been searched for a line end.
    scanned: usize,
    /// Where the head's fields start, once its request line has ended.
    fields_start: Option<usize>,
    /// The response head being sent (and an error's body), and how much of it has gone.
    out: Vec<u8>,
    out_sent: usize,
    stage: Stage,
}

#[derive(Debug)]
enum Stage {
    /// Waiting for a whole head; `since` is when its first byte came (`None`: idle between
    /// requests, when only the idle timeout applies).
    Reading { since: Option<Instant> },
    /// Sending the response to the head at the start of `input`, whole since the `Instant`.
    Answering(Answer, Instant),
}

#[derive(Debug)]
struct Answer {
    /// Bytes of `input` the request took (what a fault leaves is never reused).
    head_len: usize,
    status: u16,
    /// The file's part to send after the head.
    body: Option<Body>,
    /// Bytes of an error's text in `out`, after the head.
    text: u64,
    /// Whether the connection reads the next request after this response.
    persist: bool,
    /// When the response was made: its `Date`, and the access log's time.
    date: SystemTime,
    /// Why the request was refused, for the access log.
    note: Note,
}

#[derive(Debug, Clone, Copy)]
enum Note {
    None,
    Fault(&'static str),
    Refused(Refusal),
}

impl Session {
    /// A session whose first head begins in `input`, received since `since`.
    pub(super) fn new(input: Vec<u8>, since: Instant) -> Session {
        Session {
            input,
            scanned: 0,
            fields_start: None,
            out: Vec::new(),
            out_sent: 0,
            stage: Stage::Reading { since: Some(since) },
        }
    }

    pub(super) fn buffered(&self) -> usize {
        let body = match &self.stage {
            Stage::Answering(
                Answer {
                    body: Some(body), ..
                },
                _,
            ) => body.buffered(),
            _ => 0,
        };
        self.out.len() - self.out_sent + body
    }

    pub(super) fn answering(&self) -> bool {
        matches!(self.stage, Stage::Answering(..))
    }

    pub(super) fn at_rest(&self) -> bool {
        !self.answering() && self.input.is_empty()
    }

    pub(super) fn deadline(&self, settings: &Settings) -> Option<Instant> {
        match self.stage {
            Stage::Reading { since: Some(since) } => Some(since + settings.request_timeout),
            _ => None,
        }
    }

    pub(super) fn drive(&mut self, io: &mut dyn Transport, ctx: &mut Ctx) -> Flow {
        loop {
            let Stage::Answering(answer, _) = &mut self.stage else {
                if let Some(flow) = self.read_head(io, ctx) {
                    return flow;
                }
                continue;
            };
            let Some(outcome) = send(answer, &self.out, &mut self.out_sent, io, ctx) else {
                return Flow::Wait;
            };
            if let Some(flow) = self.answered(outcome, ctx) {
                return flow;
            }
        }
    }

    /// The request timeout came with the head still incomplete: 408, then close.
    pub(super) fn on_deadline(&mut self, ctx: &Ctx) {
        if let Stage::Reading { since: Some(since) } = self.stage {
            if since + ctx.settings.request_timeout <= ctx.now() {
                let now = SystemTime::now();
                let custom = &ctx.settings.headers;
                let answer = refuse(
                    408,
                    "request timeout",
                    &self.input,
                    now,
                    custom,
                    &mut self.out,
                );
                self.start(answer, ctx.now());
            }
        }
    }

    /// The driver closes the connection (idle timeout, shutdown): a response cut short is
    /// logged; a head never completed had no response to log.
    pub(super) fn abandon(&self, reason: Reason, ctx: &Ctx) {
        if let Stage::Answering(answer, since) = &self.stage {
            self.log(answer, *since, Outcome::Abandoned(reason), ctx);
        }
    }

    /// Reads until a whole head is here and an answer to it is set up (`None`), or says what
    /// to wait for.
    fn read_head(&mut self, io: &mut dyn Transport, ctx: &mut Ctx) -> Option<Flow> {
        loop {
            if self.may_hold_head() && self.parse(ctx) {
                return None;
            }
            // A buffer past MAX_HEAD always parses to a fault, so `want` is never 0 here.
            let want = (MAX_HEAD + 1)
                .saturating_sub(self.input.len())
                .min(ctx.scratch.len());
            match io.read(&mut ctx.scratch[..want]) {
                // The client closed, between requests or in the middle of a head.
                Ok(0) => {
                    return Some(Flow::End {
                        reason: Reason::Done,
                        linger: false,
                    })
                }
                Ok(n) => {
                    if let Stage::Reading {
                        since: since @ None,
                    } = &mut self.stage
                    {
                        *since = Some(ctx.now());
                    }
                    self.input.extend_from_slice(&ctx.scratch[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(Flow::Wait),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Some(Flow::End {
                        reason: e.into(),
                        linger: false,
                    })
                }
            }
        }
    }

    /// Whether parsing can come to anything new since `input` was last looked at: a line end
    /// arrived, or the line being received crossed its limit (which the parser answers
    /// without one): the request line's, or, once it has ended, the fields'.
    fn may_hold_head(&mut self) -> bool {
        let (old, len) = (self.scanned, self.input.len());
        let newline = self.input[old..].contains(&b'\n');
        self.scanned = len;
        if newline && self.fields_start.is_none() {
            self.fields_start = fields_start(&self.input);
        }
        let limit = match self.fields_start {
            Some(start) => start + MAX_HEADER_BYTES,
            None => MAX_REQUEST_LINE,
        };
        let crossed = |limit: usize| old <= limit && limit < len;
        newline || crossed(limit) || crossed(MAX_HEAD)
    }

    /// Parses `input`; a whole head (or a fault) gets its answer set up and `true`.
    fn parse(&mut self, ctx: &mut Ctx) -> bool {
        // On the stack (3.2 KiB): parsed fields borrow `input`, so the array cannot be kept.
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let date = SystemTime::now();
        let custom = &ctx.settings.headers;
        let served = |input: &[u8]| served_method(method_of(input), custom.preflight());
        let answer = match request::parse(&self.input, &mut headers) {
            Ok(Status::Partial) if self.input.len() <= MAX_HEAD => return false,
            Ok(Status::Partial) => {
                let e = Error::HeadersTooLarge;
                fault(e, &self.input, date, custom, &mut self.out)
            }
            // The method is what is wrong, whether or not a body comes (nginx does the same):
            // 405 before 413 or 501, then close, so a body is never read as a request.
            Ok(Status::Complete { head_len, .. }) if !served(&self.input) => Answer {
                // So that the access log can still show the head's fields.
                head_len,
                ..refuse(
                    405,
                    "method not allowed",
                    &self.input,
                    date,
                    custom,
                    &mut self.out,
                )
            },
            Err(Error::Body | Error::TransferEncoding) if !served(&self.input) => refuse(
                405,
                "method not allowed",
                &self.input,
                date,
                custom,
                &mut self.out,
            ),
            Ok(Status::Complete { head_len, request }) => {
                let pipelined = self.input.len() > head_len;
                let answer = respond(&request, head_len, pipelined, ctx, date, &mut self.out);
                error_page(answer, &request, ctx, &mut self.out)
            }
            Err(e) => fault(e, &self.input, date, custom, &mut self.out),
        };
        self.start(answer, ctx.now());
        true
    }

    fn start(&mut self, answer: Answer, since: Instant) {
        self.out_sent = 0;
        self.stage = Stage::Answering(answer, since);
    }

    /// The response is over: logs it, then reads the next request (`None`) or ends.
    fn answered(&mut self, outcome: Outcome, ctx: &Ctx) -> Option<Flow> {
        let Stage::Answering(answer, since) =
            mem::replace(&mut self.stage, Stage::Reading { since: None })
        else {
            return None;
        };
        self.log(&answer, since, outcome, ctx);
        self.out.clear();
        self.out_sent = 0;
        if outcome != Outcome::Sent || !answer.persist {
            return Some(Flow::End {
                reason: outcome.reason(),
                linger: true,
            });
        }
        self.input.drain(..answer.head_len);
        self.scanned = 0;
        self.fields_start = None;
        if self.input.is_empty() && self.input.capacity() > KEPT_INPUT {
            self.input = Vec::new();
        } else if !self.input.is_empty() {
            // A pipelined request: its time counts from now.
            self.stage = Stage::Reading {
                since: Some(ctx.now()),
            };
        }
        None
    }

    /// Counts the request, and writes its access line, with why it was refused or cut short.
    /// Server-side failures are warnings; a client's mistakes are not (a browser asks for
    /// `/favicon.ico` everywhere).
    fn log(&self, answer: &Answer, since: Instant, outcome: Outcome, ctx: &Ctx) {
        let (peer, now, settings) = (ctx.peer, ctx.now(), ctx.settings);
        // The first line, as sent (empty lines before it skipped): a head the parser refused
        // has no length, and its line is what the log must show.
        let line = first_line(&self.input);
        let took = now.saturating_duration_since(since);
        ctx.tally
            .http(Method::of(method_of(&self.input)), answer.status, took);
        let level = match outcome.level() {
            log::Level::Info if answer.status >= 500 => log::Level::Warn,
            level => level,
        };
        if !access::enabled(level) {
            return;
        }
        let sent = match (&answer.body, outcome) {
            (Some(body), _) => body.sent(),
            (None, Outcome::Sent) => answer.text,
            (None, _) => 0,
        };
        let input = &self.input[..];
        let why = LoggedReason(outcome, answer.note);
        let format = settings.access_format;
        let fields = match format.shows_fields() {
            true => logged_fields(&input[..answer.head_len.min(input.len())]),
            false => Fields::default(),
        };
        let line = Access {
            time: answer.date,
            peer,
            request: access::Request::Http(line),
            status: Some(answer.status),
            bytes: sent,
            duration: took,
            fields,
            reason: why.shown(),
        };
        access::record(level, format, &line);
    }
}

/// Whether the service answers `method`: GET and HEAD, and OPTIONS when a CORS preflight is
/// answered (`Access-Control-Allow-Origin` configured); the rest get 405.
fn served_method(method: &[u8], preflight: bool) -> bool {
    method == b"GET" || method == b"HEAD" || (preflight && method == b"OPTIONS")
}

/// The request line at the start of `input`, without its line end, empty lines before it
/// skipped as the parser skips them.
fn first_line(input: &[u8]) -> &[u8] {
    let start = input
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(input.len());
    let line = &input[start..];
    let end = line
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(line.len());
    &line[..end]
}

/// The method of the request line at the start of `input`: its bytes up to the first space.
fn method_of(input: &[u8]) -> &[u8] {
    let line = first_line(input);
    &line[..line.iter().position(|&b| b == b' ').unwrap_or(line.len())]
}

/// The fields an access line may show, parsed again from a head that is still in the input
/// (a head the parser refused shows none). A frame of its own, so that only a format that
/// shows fields pays for the parser's header array.
fn logged_fields(head: &[u8]) -> Fields<'_> {
    let mut headers = [Header::EMPTY; MAX_HEADERS];
    match request::parse(head, &mut headers) {
        Ok(Status::Complete { request, .. }) => Fields {
            referer: request.header("referer"),
            user_agent: request.header("user-agent"),
            range: request.header("range"),
        },
        _ => Fields::default(),
    }
}

/// Where the fields of the head in `input` start: after the request line's LF, empty lines
/// before it skipped as the parser skips them. `None` until the request line has ended.
fn fields_start(input: &[u8]) -> Option<usize> {
    let mut line = 0;
    while input[line..].starts_with(b"\r\n") {
        line += 2;
    }
    let end = input[line..].iter().position(|&b| b == b'\n')?;
    Some(line + end + 1)
}

/// Why a request was refused or its response cut short, for the access log.
struct LoggedReason(Outcome, Note);

impl LoggedReason {
    /// Nothing for a plain success.
    fn shown(&self) -> Option<&dyn std::fmt::Display> {
        match self {
            LoggedReason(Outcome::Sent, Note::None) => None,
            why => Some(why),
        }
    }
}

impl std::fmt::Display for LoggedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            LoggedReason(Outcome::Sent, Note::Fault(why)) => f.write_str(why),
            LoggedReason(Outcome::Sent, Note::Refused(refusal)) => write!(f, "{refusal}"),
            LoggedReason(Outcome::Sent, Note::None) => Ok(()),
            LoggedReason(outcome, _) => write!(f, "{outcome}"),
        }
    }
}

/// Sends what is left of the head in `out`, then the body. `None` while the socket is full.
fn send(
    answer: &mut Answer,
    out: &[u8],
    out_sent: &mut usize,
    io: &mut dyn Transport,
    ctx: &mut Ctx,
) -> Option<Outcome> {
    while *out_sent < out.len() {
        let rest = &out[*out_sent..];
        // With a body to follow, the head leaves with it rather than in a segment of its own.
        let result = match &mut answer.body {
            Some(body) => body.send_with_head(io, rest),
            None => io.write(rest),
        };
        match result {
            Ok(0) => return Some(Outcome::Failed(std::io::ErrorKind::WriteZero)),
            Ok(n) => *out_sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Some(Outcome::from_io(e)),
        }
    }
    match &mut answer.body {
        Some(body) => body.pump(io, ctx),
        None => Some(Outcome::Sent),
    }
}

/// What every answer to one well-formed request shares.
struct Reply<'a> {
    head_len: usize,
    head_only: bool,
    persist: bool,
    connection: Connection,
    date: SystemTime,
    custom: &'a Custom,
}

impl Reply<'_> {
    fn answer(&self, status: u16, body: Option<Body>, text: u64, note: Note) -> Answer {
        Answer {
            head_len: self.head_len,
            status,
            body,
            text,
            persist: self.persist,
            date: self.date,
            note,
        }
    }

    /// An error with its short text (none for HEAD).
    fn refuse(
        &self,
        status: u16,
        note: Note,
        range: Option<ContentRange>,
        out: &mut Vec<u8>,
    ) -> Answer {
        let head = Head {
            connection: self.connection,
            content_range: range,
            custom: self.custom.block(),
            ..Head::error(status, self.date)
        };
        self.short(&head, note, out)
    }

    /// A 301 to `location`, with the short text of an error (none for HEAD).
    fn redirect(&self, location: &[u8], out: &mut Vec<u8>) -> Answer {
        let head = Head {
            connection: self.connection,
            location: Some(location),
            custom: self.custom.block(),
            ..Head::error(301, self.date)
        };
        self.short(&head, Note::None, out)
    }

    /// An answer of `head` and its short text.
    fn short(&self, head: &Head, note: Note, out: &mut Vec<u8>) -> Answer {
        write_error(head, self.head_only, out);
        let text = if self.head_only {
            0
        } else {
            response::error_body_len(head.status)
        };
        self.answer(head.status, None, text, note)
    }

    /// A CORS preflight (or any OPTIONS, with one configured): 204 with the custom fields,
    /// whatever the target.
    fn preflight(&self, out: &mut Vec<u8>) -> Answer {
        let head = Head {
            connection: self.connection,
            allow: Some(self.custom.allow()),
            custom: self.custom.block(),
            ..Head::new(204, self.date)
        };
        out.clear();
        head.write(out);
        self.answer(204, None, 0, Note::None)
    }

    fn refused(&self, refusal: Refusal, out: &mut Vec<u8>) -> Answer {
        let status = response::refusal_status(refusal);
        self.refuse(status, Note::Refused(refusal), None, out)
    }
}

/// The answer to a whole, well-formed head: the file, part of it, 304, or a refusal. The
/// order of checks is the module docs' of [`crate::http`].
fn respond(
    req: &Request,
    head_len: usize,
    pipelined: bool,
    ctx: &mut Ctx,
    date: SystemTime,
    out: &mut Vec<u8>,
) -> Answer {
    let now = ctx.now();
    let persist = req.keep_alive() && (pipelined || ctx.settings.persistence == Persistence::Idle);
    let reply = Reply {
        head_len,
        head_only: req.method == "HEAD",
        persist,
        connection: Connection::new(req.version, persist),
        date,
        custom: &ctx.settings.headers,
    };
    if req.method == "OPTIONS" {
        return reply.preflight(out);
    }
    // The decoded path is never longer than the target, so half the scratch buffer holds it.
    let (path_buf, index_buf) = ctx.scratch.split_at_mut(ctx.scratch.len() / 2);
    let path = match target::decode(req.target.as_bytes(), path_buf) {
        Ok(path) => path,
        Err(e) => return reply.refuse(e.status(), Note::Fault(e.reason()), None, out),
    };
    let Some(root) = &ctx.settings.root else {
        return reply.refused(Refusal::NotFound, out);
    };
    let (content, path) = match root.content(path, now) {
        Ok(content) => (content, path),
        // A directory asked for without its slash: relative links in its index would resolve
        // against the parent, so send the client to the URL with the slash (as nginx, Apache
        // and Python's http.server do).
        Err(Refusal::Directory) if path.last() != Some(&b'/') => {
            let query =
                target::query_part(target::origin_form(req.target.as_bytes()).unwrap_or(b""));
            return match target::directory_location(path, query, index_buf) {
                Ok(location) => reply.redirect(location, out),
                Err(e) => reply.refuse(e.status(), Note::Fault(e.reason()), None, out),
            };
        }
        Err(Refusal::Directory) => {
            let index = match target::with_index(path, index_buf) {
                Ok(index) => index,
                Err(e) => return reply.refuse(e.status(), Note::Fault(e.reason()), None, out),
            };
            match root.content(index, now) {
                Ok(content) => (content, index),
                Err(Refusal::NotFound) if ctx.settings.listing => {
                    return listing(req, &reply, root, path, out)
                }
                Err(refusal) => return reply.refused(refusal, out),
            }
        }
        // A single-page app's route: its file, as if asked for (`--spa`).
        Err(refusal) => match ctx.settings.pages.spa(refusal, path).and_then(|spa| {
            let content = root.content(spa, now).ok()?;
            Some((content, spa))
        }) {
            Some(found) => found,
            None => return reply.refused(refusal, out),
        },
    };
    let (content, coding) = match ctx.settings.precompressed {
        true => precompressed(req, root, content, path, now, out),
        false => (content, None),
    };
    let (size, modified) = (content.size, content.modified);
    let etag = match coding {
        Some(coding) => response::etag(size, modified).coded(coding.token()),
        None => response::etag(size, modified),
    };
    let mut head = Head {
        content_type: Some(ctx.settings.types.content_type(path)),
        content_encoding: coding.map(Coding::token),
        vary: ctx.settings.precompressed.then_some("Accept-Encoding"),
        content_length: Some(size),
        last_modified: Some(modified),
        etag: Some(&etag),
        accept_ranges: true,
        connection: reply.connection,
        custom: reply.custom.block(),
        ..Head::new(200, date)
    };
    let (if_none_match, if_modified_since) = (req.if_none_match(), req.if_modified_since());
    if response::not_modified(if_none_match, if_modified_since, &etag, modified, date) {
        let head = Head {
            status: 304,
            content_type: None,
            content_encoding: None,
            content_length: None,
            accept_ranges: false,
            ..head
        };
        out.clear();
        head.write(out);
        return reply.answer(304, None, 0, Note::None);
    }
    // Range applies to GET only, and If-Range decides first whether it applies at all.
    let range = match req.range() {
        Some(value)
            if !reply.head_only
                && req
                    .if_range()
                    .is_none_or(|v| response::if_range_allows(v, &etag, modified)) =>
        {
            range::parse(value, size)
        }
        _ => Range::Whole,
    };
    let (start, end) = match range {
        Range::Whole => (0, size),
        Range::Part {
            start,
            end_inclusive,
        } => {
            head.status = 206;
            head.content_length = Some(end_inclusive - start + 1);
            head.content_range = Some(ContentRange::Bytes {
                start,
                end_inclusive,
                size,
            });
            (start, end_inclusive + 1)
        }
        Range::Unsatisfiable => {
            let head = Head {
                connection: reply.connection,
                content_range: Some(ContentRange::Unsatisfied { size }),
                vary: head.vary,
                custom: reply.custom.block(),
                ..Head::error(416, date)
            };
            return reply.short(&head, Note::None, out);
        }
    };
    out.clear();
    head.write(out);
    let body = (!reply.head_only && end > start).then(|| Body::new(content.data, start, end));
    reply.answer(head.status, body, 0, Note::None)
}

/// What to send for `path`, whose `original` is servable (`--precompressed`): the first
/// precompressed neighbour (`a.js.br`, `.zst`, `.gz`) in the client's order of preference that
/// the root serves as it would any name (confined, a regular file) and that is no older than
/// the original, with its coding; else the original. A neighbour that is missing or refused
/// is simply passed over. Its name is built in `name`, the connection's output buffer, which
/// is empty between responses and is left so. Out of line: only `--precompressed` runs it.
#[inline(never)]
fn precompressed(
    req: &Request,
    root: &Root,
    original: Content,
    path: &[u8],
    now: Instant,
    name: &mut Vec<u8>,
) -> (Content, Option<Coding>) {
    for &coding in encoding::accepted(req.values("accept-encoding")).as_slice() {
        name.clear();
        name.extend_from_slice(path);
        name.extend_from_slice(coding.suffix());
        match root.content(name, now) {
            Ok(side) if side.modified >= original.modified => {
                name.clear();
                return (side, Some(coding));
            }
            _ => {}
        }
    }
    name.clear();
    (original, None)
}

/// An error answered with the operator's page for its status (`--error-page`; see
/// [`crate::http::pages`]): the status kept, the page's type and length, no validators or
/// ranges. Without a page, or should it have gone since start, the error stands as it is.
fn error_page(answer: Answer, req: &Request, ctx: &Ctx, out: &mut Vec<u8>) -> Answer {
    let settings = ctx.settings;
    let (Some(name), Some(root)) = (settings.pages.error(answer.status), &settings.root) else {
        return answer;
    };
    let content = match root.content(name, ctx.now()) {
        Ok(content) => content,
        // Checked at start, so gone or made unreadable since (or unreadable to `--user`).
        Err(refusal) => {
            let shown = crate::logging::Escaped(name);
            log::warn!("error page {shown} for {}: {refusal}", answer.status);
            return answer;
        }
    };
    let head = Head {
        content_type: Some(settings.types.content_type(name)),
        content_length: Some(content.size),
        connection: Connection::new(req.version, answer.persist),
        custom: settings.headers.block(),
        ..Head::new(answer.status, answer.date)
    };
    out.clear();
    head.write(out);
    let size = content.size;
    let body = (req.method != "HEAD" && size > 0).then(|| Body::new(content.data, 0, size));
    Answer {
        body,
        text: 0,
        ..answer
    }
}

/// A directory without `index.html`, under `--listing`: its entries, built whole into memory
/// and sent as a small file's bytes are. Never cached (`no-store`, no validators): it changes
/// with the directory and with `Accept`. Range and conditional fields are ignored.
fn listing(req: &Request, reply: &Reply, root: &Root, path: &[u8], out: &mut Vec<u8>) -> Answer {
    let entries = match root.list(path, listing::MAX_ENTRIES) {
        Ok(entries) => entries,
        Err(refusal) => return reply.refused(refusal, out),
    };
    let format = listing::Format::asked(req.header("accept"));
    let mut page = Vec::new();
    listing::render(format, path, &entries, &mut page);
    let len = page.len() as u64;
    let head = Head {
        content_type: Some(format.content_type()),
        content_length: Some(len),
        // The operator's Cache-Control, where given, is the one sent (one policy per response).
        no_store: !reply.custom.cache_control(),
        connection: reply.connection,
        custom: reply.custom.block(),
        ..Head::new(200, reply.date)
    };
    out.clear();
    head.write(out);
    let body = (!reply.head_only).then(|| Body::new(Data::Bytes(page.into()), 0, len));
    reply.answer(200, body, 0, Note::None)
}

/// The answer to a head the parser refused: its status, `Connection: close`, and the close.
fn fault(e: Error, input: &[u8], date: SystemTime, custom: &Custom, out: &mut Vec<u8>) -> Answer {
    refuse(e.status(), e.reason(), input, date, custom, out)
}

/// An error answered without a request to go by (a fault, a timeout), to the head begun in
/// `input`: then the connection closes. A HEAD gets no text, as a response to HEAD never
/// has a body (RFC 9110 §9.3.2), even when its head was refused.
fn refuse(
    status: u16,
    why: &'static str,
    input: &[u8],
    date: SystemTime,
    custom: &Custom,
    out: &mut Vec<u8>,
) -> Answer {
    let error = Head::error(status, date);
    let head = Head {
        connection: Connection::Close,
        allow: error.allow.map(|_| custom.allow()),
        custom: custom.block(),
        ..error
    };
    let head_only = method_of(input) == b"HEAD";
    write_error(&head, head_only, out);
    Answer {
        head_len: 0,
        status,
        body: None,
        text: if head_only {
            0
        } else {
            response::error_body_len(status)
        },
        persist: false,
        date,
        note: Note::Fault(why),
    }
}

/// An error's head, and its short text unless the request was HEAD.
fn write_error(head: &Head, head_only: bool, out: &mut Vec<u8>) {
    out.clear();
    head.write(out);
    if !head_only {
        response::write_error_body(head.status, out);
    }
}
