//! The request head: deciding whether a connection speaks HTTP at all ([`looks_like_http`]),
//! and parsing a head strictly, as a push parser ([`parse`]).
//!
//! The parser is handed everything received so far and answers [`Status::Complete`] (with the
//! head's length: what follows belongs to the next request), [`Status::Partial`] (call again
//! with more), or an [`Error`] naming the fault and the status to answer it with. It keeps no
//! state between calls, allocates nothing (fields borrow the input; the caller supplies the
//! array of [`Header`]s), and decides each byte as it comes: a fault is reported as soon as a
//! byte makes the head invalid, a limit as soon as a byte crosses it, so every prefix of a
//! valid head is `Partial`, and any prefix of any input is either `Partial` or gives the same
//! answer as the whole. Re-parsing a growing buffer costs O(n) per call; the limits bound n.
//!
//! What is accepted (RFC 9112, strictly):
//!
//! - `method SP request-target SP HTTP/d.d CRLF`: the method a token (case-sensitive, any
//!   token: the service answers unknown ones), one space each side of a target of visible
//!   ASCII, `HTTP/1.0`, or `HTTP/1.1` (a higher 1.x is read as 1.1, as §2.3 says); any other
//!   version is 505. At most [`MAX_REQUEST_LINE`] bytes (414). Empty lines before it are
//!   skipped (§2.2).
//! - Fields `name: value CRLF`: the name a token with no whitespace before the colon, the
//!   value visible bytes, spaces and tabs (no controls; obs-text allowed), trimmed of
//!   surrounding whitespace. No line folding, no bare LF or bare CR anywhere. At most
//!   [`MAX_HEADERS`] fields in [`MAX_HEADER_BYTES`] (431).
//! - No body: a nonzero `Content-Length` is 413, any `Transfer-Encoding` 501, both at once,
//!   a malformed or repeated `Content-Length` 400; the caller closes after answering, since
//!   the unread body would otherwise be taken for the next request.
//! - `Host`: exactly one on HTTP/1.1, at most one on HTTP/1.0, with a plausible value (§3.2).

use std::fmt;

use crate::root::MAX_NAME;

/// The longest request line, without its CRLF, in bytes (414 past it).
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The largest header section: the field lines with their CRLFs, not counting the empty line
/// that ends the head (431 past it).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most fields a head may have (431 past it); the length of the caller's array.
pub const MAX_HEADERS: usize = 100;
/// The longest method [`looks_like_http`] waits for; a longer first word is a raw name. Real
/// methods are short (the longest registered one has 17 letters).
pub const MAX_DETECT_METHOD: usize = 32;

/// What the first bytes of a connection say about its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detect {
    /// HTTP: the line begins like a request line, or is one (see [`looks_like_http`]).
    Http,
    /// Cannot be an HTTP request line: the raw protocol.
    Raw,
    /// Could still become either; a raw name's quiet period applies.
    Undecided,
    /// The start of `GET ` or `HEAD ` (or of an absolute-form target after them): could still
    /// become either, but a request line sent a byte at a time looks like this, so it is waited
    /// for as HTTP waits for a head, without the raw quiet period, and at the request timeout
    /// answered 408. (A raw name `G`, `GET` or `HEAD` sent with no newline and no half-close
    /// is therefore never served.)
    HttpPrefix,
}

/// Decides from the bytes received so far whether they begin an HTTP request. It answers as
/// soon as the bytes decide, and a decision never changes as bytes are added:
///
/// - `Http` once the line *begins like a request line*: a method of capital letters (and
///   `-`), one space, and a target starting with `/` or `*`, or with `http://` or `https://`
///   (any case). From then on the head is waited for up to the request timeout, as any HTTP
///   head is, so a request line that arrives slowly is never taken for a raw name. Raw names
///   do not look like that (`docs/a.txt`, `my file.txt`, `README.md`), except a capital word,
///   a space and a slash (`GET /x`), which is how every request line starts;
/// - `Http` too once a whole `token SP target SP HTTP/d.d` has arrived (any token:
///   `get / HTTP/1.1` is answered 405), or once a line ends (at its `\n`) in ` HTTP/` digit
///   `.` digit, however malformed before it (`GET /a b HTTP/1.1`: the parser answers 400
///   rather than the raw protocol closing in silence);
/// - `Raw` at a line end otherwise (`GET\n`, `index.html\r\n`, `my file name.txt\n`), or,
///   without one, once more bytes have come than a raw name may have and nothing above can
///   still happen;
/// - [`Detect::HttpPrefix`] for the start of `GET ` or `HEAD ` (`G`, `HEA`, `GET `), and for
///   `GET ` or `HEAD ` with the start of `http://` or `https://` (`GET h`, `HEAD https:/`);
/// - `Undecided` otherwise (`index.html`, `my file.txt`, the empty input).
///
/// A buffer holding a `\n` is never undecided either way, so a raw client whose name ends at a
/// newline waits for nothing more.
pub fn looks_like_http(buf: &[u8]) -> Detect {
    let request_line = request_line_shape(buf);
    let start = request_start(buf);
    if request_line == Detect::Http || start == Start::Yes {
        return Detect::Http;
    }
    if let Some(end) = buf.iter().position(|&b| b == b'\n') {
        let line = &buf[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        return match line.len() <= MAX_NAME && ends_with_version(line) {
            true => Detect::Http,
            false => Detect::Raw,
        };
    }
    let after_get_or_head = buf.starts_with(b"GET ") || buf.starts_with(b"HEAD ");
    if is_http_prefix(buf) || (start == Start::Maybe && after_get_or_head) {
        Detect::HttpPrefix
    } else if request_line == Detect::Undecided || start == Start::Maybe || buf.len() <= MAX_NAME {
        Detect::Undecided
    } else {
        Detect::Raw
    }
}

/// Whether a line begins like a request line (see [`looks_like_http`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Yes,
    No,
    /// Not yet known: `GET`, `GET `, `GET ht`.
    Maybe,
}

fn request_start(buf: &[u8]) -> Start {
    let method = buf
        .iter()
        .position(|&b| !(b.is_ascii_uppercase() || b == b'-'))
        .unwrap_or(buf.len());
    if method > MAX_DETECT_METHOD || buf.first().is_some_and(|b| !b.is_ascii_uppercase()) {
        return Start::No;
    }
    match buf.get(method) {
        None => return Start::Maybe,
        Some(b' ') if method > 0 => {}
        Some(_) => return Start::No,
    }
    let target = &buf[method + 1..];
    match target.first() {
        None => Start::Maybe,
        Some(b'/' | b'*') => Start::Yes,
        Some(_) => {
            let schemes: [&[u8]; 2] = [b"http://", b"https://"];
            let fits = |scheme: &[u8]| {
                let n = target.len().min(scheme.len());
                target[..n].eq_ignore_ascii_case(&scheme[..n])
            };
            match schemes.iter().find(|scheme| fits(scheme)) {
                Some(scheme) if target.len() >= scheme.len() => Start::Yes,
                // `h`, `https:/`: one scheme or the other may still come.
                Some(_) => Start::Maybe,
                None => Start::No,
            }
        }
    }
}

/// Whether `buf` is the start of `GET ` or `HEAD ` (and not empty).
fn is_http_prefix(buf: &[u8]) -> bool {
    !buf.is_empty() && [&b"GET "[..], b"HEAD "].iter().any(|m| m.starts_with(buf))
}

/// Whether a line ends in ` HTTP/` digit `.` digit.
fn ends_with_version(line: &[u8]) -> bool {
    match line.len().checked_sub(9).map(|at| &line[at..]) {
        Some([b' ', b'H', b'T', b'T', b'P', b'/', major, b'.', minor]) => {
            major.is_ascii_digit() && minor.is_ascii_digit()
        }
        _ => false,
    }
}

/// The strict shape of a whole request line: `token SP target SP HTTP/d.d`, the token of at
/// most [`MAX_DETECT_METHOD`] bytes, the target any bytes but space and controls. `Http` once
/// the version's last digit arrives (before the CRLF: what follows is the parser's to judge;
/// any version, so `HTTP/2.0` is answered 505), `Raw` at the first byte that cannot continue
/// the shape, `Undecided` before.
fn request_line_shape(buf: &[u8]) -> Detect {
    const VERSION: &[u8; 8] = b"HTTP/0.0";
    #[derive(Clone, Copy)]
    enum S {
        Method(usize),
        TargetStart,
        Target,
        Version(usize),
    }
    let mut state = S::Method(0);
    for &b in buf {
        state = match state {
            S::Method(n) if is_tchar(b) && n < MAX_DETECT_METHOD => S::Method(n + 1),
            S::Method(n) if b == b' ' && n > 0 => S::TargetStart,
            S::TargetStart | S::Target if b > b' ' && b != 0x7f => S::Target,
            S::Target if b == b' ' => S::Version(0),
            S::Version(i) => {
                let fits = match VERSION[i] {
                    b'0' => b.is_ascii_digit(),
                    want => b == want,
                };
                match (fits, i + 1 == VERSION.len()) {
                    (false, _) => return Detect::Raw,
                    (true, true) => return Detect::Http,
                    (true, false) => S::Version(i + 1),
                }
            }
            _ => return Detect::Raw,
        };
    }
    Detect::Undecided
}

/// The request's HTTP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: the connection closes after the response unless the client asks otherwise.
    Http10,
    /// HTTP/1.1 (or a later 1.x, read as 1.1): persistent unless the client says `close`.
    Http11,
}

impl Version {
    /// `HTTP/1.0` or `HTTP/1.1`, as in a request line.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// One header field, borrowed from the input. The name is a token (so ASCII) as sent; the
/// value has no surrounding whitespace and may hold obs-text bytes, hence bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'b> {
    /// The field name, as sent (compare it case-insensitively).
    pub name: &'b str,
    /// The field value, without leading or trailing spaces and tabs.
    pub value: &'b [u8],
}

impl<'b> Header<'b> {
    /// A placeholder to fill the caller's array with: `[Header::EMPTY; MAX_HEADERS]`.
    pub const EMPTY: Header<'b> = Header {
        name: "",
        value: b"",
    };
}

/// A parsed request head; everything borrows the input buffer (`'b`) or the header array
/// (`'h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'h, 'b> {
    /// The method, case-sensitive (`GET`, not `get`).
    pub method: &'b str,
    /// The request target as sent (visible ASCII), for [`crate::http::target::decode`].
    pub target: &'b str,
    /// The version.
    pub version: Version,
    /// The fields, in order.
    pub headers: &'h [Header<'b>],
}

/// What the bytes so far come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<'h, 'b> {
    /// A whole head of `head_len` bytes (its final CRLF included); bytes after it belong to
    /// the next request.
    Complete {
        /// Bytes of the buffer the head took.
        head_len: usize,
        /// The request.
        request: Request<'h, 'b>,
    },
    /// Not a whole head yet, and nothing wrong so far.
    Partial,
}

/// Why a head is refused. Every fault closes the connection after its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The request line is longer than [`MAX_REQUEST_LINE`].
    RequestLineTooLong,
    /// The field lines take more than [`MAX_HEADER_BYTES`].
    HeadersTooLarge,
    /// More than [`MAX_HEADERS`] fields.
    TooManyHeaders,
    /// A byte that is not a token character in the method.
    Method,
    /// A space where the target should start, or no target.
    RequestLine,
    /// A byte that may not appear in a target.
    Target,
    /// The line ends after the target: an HTTP/0.9 request, or a missing target.
    NoVersion,
    /// Not `HTTP/` digit `.` digit, followed by CRLF.
    Version,
    /// A well-formed version other than 1.x (`HTTP/2.0`, `HTTP/0.9`).
    UnsupportedVersion,
    /// A line ended by LF alone.
    BareLf,
    /// A CR not followed by LF.
    BareCr,
    /// A field line starting with a space or tab (obsolete line folding, or whitespace
    /// before the first field).
    ObsFold,
    /// A byte that is not a token character in a field name.
    HeaderName,
    /// A field line starting with a colon.
    EmptyHeaderName,
    /// Whitespace between a field name and its colon (or inside the name).
    SpaceBeforeColon,
    /// A field line with no colon.
    NoColon,
    /// A control byte (NUL, ESC, DEL...) in a field value.
    HeaderValue,
    /// A `Content-Length` that is not just digits.
    ContentLength,
    /// More than one `Content-Length` field, equal or not.
    DuplicateContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`: the classic smuggling shape.
    ContentLengthAndTransferEncoding,
    /// Any `Transfer-Encoding`: request bodies are not accepted.
    TransferEncoding,
    /// A nonzero `Content-Length`: request bodies are not accepted.
    Body,
    /// An HTTP/1.1 request without `Host`.
    MissingHost,
    /// More than one `Host` field.
    DuplicateHost,
    /// A `Host` value that cannot be a host and port.
    Host,
}

impl Error {
    /// The status to answer with.
    pub fn status(self) -> u16 {
        match self {
            Error::RequestLineTooLong => 414,
            Error::HeadersTooLarge | Error::TooManyHeaders => 431,
            Error::UnsupportedVersion => 505,
            Error::TransferEncoding => 501,
            Error::Body => 413,
            _ => 400,
        }
    }

    /// A few words for the log.
    pub fn reason(self) -> &'static str {
        match self {
            Error::RequestLineTooLong => "request line longer than 8 KiB",
            Error::HeadersTooLarge => "header fields larger than 16 KiB",
            Error::TooManyHeaders => "more than 100 header fields",
            Error::Method => "invalid method",
            Error::RequestLine => "malformed request line",
            Error::Target => "invalid byte in request target",
            Error::NoVersion => "no HTTP version",
            Error::Version => "malformed HTTP version",
            Error::UnsupportedVersion => "HTTP version not supported",
            Error::BareLf => "line ended by a bare LF",
            Error::BareCr => "CR not followed by LF",
            Error::ObsFold => "folded header line",
            Error::HeaderName => "invalid byte in header name",
            Error::EmptyHeaderName => "empty header name",
            Error::SpaceBeforeColon => "whitespace before colon",
            Error::NoColon => "header line without colon",
            Error::HeaderValue => "control byte in header value",
            Error::ContentLength => "invalid Content-Length",
            Error::DuplicateContentLength => "more than one Content-Length",
            Error::ContentLengthAndTransferEncoding => "both Content-Length and Transfer-Encoding",
            Error::TransferEncoding => "Transfer-Encoding not supported",
            Error::Body => "request bodies not accepted",
            Error::MissingHost => "HTTP/1.1 request without Host",
            Error::DuplicateHost => "more than one Host",
            Error::Host => "invalid Host",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// Parses the head at the start of `buf` (see the module's docs for what is accepted).
///
/// ```
/// use tcpserve::http::request::{parse, Header, Status, MAX_HEADERS};
/// let mut headers = [Header::EMPTY; MAX_HEADERS];
/// let buf = b"GET /a.txt HTTP/1.1\r\nHost: example.com\r\n\r\n";
/// let Ok(Status::Complete { head_len, request }) = parse(buf, &mut headers) else { panic!() };
/// assert_eq!((head_len, request.method, request.target), (buf.len(), "GET", "/a.txt"));
/// assert_eq!(parse(&buf[..20], &mut headers), Ok(Status::Partial));
/// ```
pub fn parse<'b, 'h>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>; MAX_HEADERS],
) -> Result<Status<'h, 'b>, Error> {
    let line = match request_line(buf) {
        Ok(line) => line,
        Err(Stop::Partial) => return Ok(Status::Partial),
        Err(Stop::Fault(e)) => return Err(e),
    };
    let (head_len, count) = match fields(buf, line.end, headers) {
        Ok(done) => done,
        Err(Stop::Partial) => return Ok(Status::Partial),
        Err(Stop::Fault(e)) => return Err(e),
    };
    let headers: &'h [Header<'b>] = headers;
    let headers = &headers[..count];
    check_semantics(line.version, headers)?;
    Ok(Status::Complete {
        head_len,
        request: Request {
            method: line.method,
            target: line.target,
            version: line.version,
            headers,
        },
    })
}

/// Why parsing stopped short of a whole head.
enum Stop {
    Partial,
    Fault(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Fault(e)
    }
}

struct Line<'b> {
    method: &'b str,
    target: &'b str,
    version: Version,
    /// Where the fields start.
    end: usize,
}

/// The request line, byte by byte, after any empty lines. Positions count from the buffer's
/// start, so skipped empty lines count toward the line's limit (which bounds them too).
fn request_line(buf: &[u8]) -> Result<Line<'_>, Stop> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum S {
        /// Before the method, where an empty line may be skipped.
        Start,
        /// After an empty line's CR.
        StartLf,
        Method,
        TargetStart,
        Target,
        /// In `HTTP/`, this many bytes in.
        Http(usize),
        /// After the major version digit.
        Dot(u8),
        Minor(u8),
        Cr,
        Lf,
    }
    const HTTP: &[u8] = b"HTTP/";
    let mut state = S::Start;
    let (mut method_start, mut method_end, mut target_start, mut target_end) = (0, 0, 0, 0);
    let mut version = Version::Http11;
    for (i, &b) in buf.iter().enumerate() {
        // Past the limit, only the CRLF that ends the line may come.
        if i >= MAX_REQUEST_LINE && !(state == S::Cr && b == b'\r') && state != S::Lf {
            return Err(Error::RequestLineTooLong.into());
        }
        state = match (state, b) {
            (S::Start, b'\r') => S::StartLf,
            (S::Start, b'\n') => return Err(Error::BareLf.into()),
            (S::StartLf, b'\n') => S::Start,
            (S::StartLf, _) => return Err(Error::BareCr.into()),
            (S::Start, _) if is_tchar(b) => {
                method_start = i;
                S::Method
            }
            (S::Method, _) if is_tchar(b) => S::Method,
            (S::Method, b' ') => {
                method_end = i;
                S::TargetStart
            }
            (S::Start | S::Method, _) => return Err(Error::Method.into()),
            (S::TargetStart, b' ' | b'\r' | b'\n') => return Err(Error::RequestLine.into()),
            (S::TargetStart, 0x21..=0x7e) => {
                target_start = i;
                S::Target
            }
            (S::Target, 0x21..=0x7e) => S::Target,
            (S::Target, b' ') => {
                target_end = i;
                S::Http(0)
            }
            (S::Target, b'\r' | b'\n') => return Err(Error::NoVersion.into()),
            (S::TargetStart | S::Target, _) => return Err(Error::Target.into()),
            (S::Http(k), _) if k < HTTP.len() && b == HTTP[k] => S::Http(k + 1),
            (S::Http(k), b'0'..=b'9') if k == HTTP.len() => S::Dot(b),
            (S::Dot(major), b'.') => S::Minor(major),
            (S::Minor(major), b'0'..=b'9') => {
                version = match (major, b) {
                    (b'1', b'0') => Version::Http10,
                    (b'1', _) => Version::Http11,
                    _ => return Err(Error::UnsupportedVersion.into()),
                };
                S::Cr
            }
            (S::Http(_) | S::Dot(_) | S::Minor(_), _) => return Err(Error::Version.into()),
            (S::Cr, b'\r') => S::Lf,
            (S::Cr, b'\n') => return Err(Error::BareLf.into()),
            (S::Cr, _) => return Err(Error::Version.into()),
            (S::Lf, b'\n') => {
                let method = ascii(&buf[method_start..method_end]).ok_or(Error::Method)?;
                let target = ascii(&buf[target_start..target_end]).ok_or(Error::Target)?;
                return Ok(Line {
                    method,
                    target,
                    version,
                    end: i + 1,
                });
            }
            (S::Lf, _) => return Err(Error::BareCr.into()),
        };
    }
    Err(Stop::Partial)
}

/// The field lines from `start` to the empty line; the fields go into `headers`. Returns the
/// head's length and the number of fields.
fn fields<'b>(
    buf: &'b [u8],
    start: usize,
    headers: &mut [Header<'b>; MAX_HEADERS],
) -> Result<(usize, usize), Stop> {
    // Every byte of a field line must lie within the limit; the empty line need not.
    let within = |i: usize| {
        if i - start >= MAX_HEADER_BYTES {
            Err(Stop::Fault(Error::HeadersTooLarge))
        } else {
            Ok(())
        }
    };
    let at = |i: usize| buf.get(i).copied().ok_or(Stop::Partial);
    let mut count = 0;
    let mut i = start;
    loop {
        // The start of a line: the end of the head, or a field.
        let b = at(i)?;
        if b == b'\r' {
            return match at(i + 1)? {
                b'\n' => Ok((i + 2, count)),
                _ => Err(Error::BareCr.into()),
            };
        }
        within(i)?;
        match b {
            b'\n' => return Err(Error::BareLf.into()),
            b' ' | b'\t' => return Err(Error::ObsFold.into()),
            _ => {}
        }
        let Some(slot) = headers.get_mut(count) else {
            return Err(Error::TooManyHeaders.into());
        };
        // The name, up to the colon.
        let name_start = i;
        loop {
            let b = at(i)?;
            within(i)?;
            match b {
                b':' if i == name_start => return Err(Error::EmptyHeaderName.into()),
                b':' => break,
                b' ' | b'\t' => return Err(Error::SpaceBeforeColon.into()),
                b'\r' | b'\n' => return Err(Error::NoColon.into()),
                _ if is_tchar(b) => i += 1,
                _ => return Err(Error::HeaderName.into()),
            }
        }
        let name = ascii(&buf[name_start..i]).ok_or(Error::HeaderName)?;
        i += 1;
        // The value, up to the CR; whitespace around it is not part of it.
        let (mut value_start, mut value_end) = (None, i);
        loop {
            let b = at(i)?;
            within(i)?;
            match b {
                b'\r' => break,
                b'\n' => return Err(Error::BareLf.into()),
                b' ' | b'\t' => {}
                0x21..=0x7e | 0x80..=0xff => {
                    value_start.get_or_insert(i);
                    value_end = i + 1;
                }
                _ => return Err(Error::HeaderValue.into()),
            }
            i += 1;
        }
        let b = at(i + 1)?;
        within(i + 1)?;
        if b != b'\n' {
            return Err(Error::BareCr.into());
        }
        let value = match value_start {
            Some(s) => &buf[s..value_end],
            None => &buf[i..i],
        };
        *slot = Header { name, value };
        count += 1;
        i += 2;
    }
}

/// What a whole head must satisfy beyond its syntax: no body, one good `Host`.
fn check_semantics(version: Version, headers: &[Header<'_>]) -> Result<(), Error> {
    let mut content_length = None;
    let mut transfer_encoding = false;
    let mut hosts = 0;
    for field in headers {
        if field.name.eq_ignore_ascii_case("content-length") {
            if content_length.replace(field.value).is_some() {
                return Err(Error::DuplicateContentLength);
            }
        } else if field.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
        } else if field.name.eq_ignore_ascii_case("host") {
            hosts += 1;
            if !field.value.iter().all(|&b| is_host_byte(b)) {
                return Err(Error::Host);
            }
        }
    }
    if let Some(value) = content_length {
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Err(Error::ContentLength);
        }
    }
    if transfer_encoding && content_length.is_some() {
        return Err(Error::ContentLengthAndTransferEncoding);
    }
    if transfer_encoding {
        return Err(Error::TransferEncoding);
    }
    // Digits only, so "nonzero" needs no arithmetic (and cannot overflow).
    if content_length.is_some_and(|v| v.iter().any(|&b| b != b'0')) {
        return Err(Error::Body);
    }
    match (hosts, version) {
        (0, Version::Http11) => Err(Error::MissingHost),
        (0 | 1, _) => Ok(()),
        _ => Err(Error::DuplicateHost),
    }
}

impl<'h, 'b> Request<'h, 'b> {
    /// The first field named `name` (case-insensitively).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.values(name).next()
    }

    /// Every field named `name` (case-insensitively), in order.
    pub fn values<'n>(&self, name: &'n str) -> Values<'h, 'b, 'n> {
        Values {
            headers: self.headers,
            name,
        }
    }

    /// The value of a field that must appear once: `None` if it is absent or repeated (a
    /// repeated `If-Modified-Since` or `Range` is ignored, which is always safe: the whole
    /// file is sent).
    pub fn single(&self, name: &str) -> Option<&'b [u8]> {
        let mut values = self.values(name);
        let first = values.next()?;
        values.next().is_none().then_some(first)
    }

    /// Whether the connection stays open after the response: HTTP/1.1 unless `Connection`
    /// names `close`, HTTP/1.0 only if it names `keep-alive` (and not `close`). `Connection`
    /// is a comma-separated list, possibly over several fields, compared case-insensitively.
    pub fn keep_alive(&self) -> bool {
        let (mut close, mut keep) = (false, false);
        for value in self.values("connection") {
            for option in value.split(|&b| b == b',') {
                let option = trim_ows(option);
                close |= option.eq_ignore_ascii_case(b"close");
                keep |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        !close && (keep || self.version == Version::Http11)
    }

    /// `If-None-Match`, if sent once.
    pub fn if_none_match(&self) -> Option<&'b [u8]> {
        self.single("if-none-match")
    }

    /// `If-Modified-Since`, if sent once.
    pub fn if_modified_since(&self) -> Option<&'b [u8]> {
        self.single("if-modified-since")
    }

    /// `If-Range`, if sent once.
    pub fn if_range(&self) -> Option<&'b [u8]> {
        self.single("if-range")
    }

    /// `Range`, if sent once.
    pub fn range(&self) -> Option<&'b [u8]> {
        self.single("range")
    }
}

/// The values of the fields with one name; see [`Request::values`].
#[derive(Debug, Clone)]
pub struct Values<'h, 'b, 'n> {
    headers: &'h [Header<'b>],
    name: &'n str,
}

impl<'b> Iterator for Values<'_, 'b, '_> {
    type Item = &'b [u8];

    fn next(&mut self) -> Option<&'b [u8]> {
        while let [first, rest @ ..] = self.headers {
            self.headers = rest;
            if first.name.eq_ignore_ascii_case(self.name) {
                return Some(first.value);
            }
        }
        None
    }
}

/// A token character (RFC 9110 §5.6.2).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A byte of `uri-host [":" port]`: reg-name characters, percent-escapes, IPv6 brackets.
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%:[]".contains(&b)
}

/// A run of bytes already checked to be ASCII, as a `str`.
fn ascii(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::hostile::{self, Expect};
    use crate::http::target;
    use crate::http::tests::XorShift;

    /// What a parse came to, without borrows, for comparing.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Got {
        Complete(usize),
        Partial,
        Fault(Error),
    }

    fn outcome(buf: &[u8]) -> Got {
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        match parse(buf, &mut headers) {
            Ok(Status::Complete { head_len, .. }) => Got::Complete(head_len),
            Ok(Status::Partial) => Got::Partial,
            Err(e) => Got::Fault(e),
        }
    }

    fn show(bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes);
        if text.len() > 80 {
            format!("{}... ({} bytes)", &text[..60], bytes.len())
        } else {
            format!("{text:?}")
        }
    }

    #[test]
    fn detection_decides_as_early_as_the_bytes_allow() {
        use Detect::*;
        let long_method = "M".repeat(MAX_DETECT_METHOD);
        let long_request = format!("{long_method} / HTTP/1.1");
        let too_long_method = format!("{long_method}M");
        let long_name = format!("{}.txt", "a".repeat(5000));
        let long_line = format!("{} HTTP/1.1\n", "x".repeat(MAX_NAME));
        let cases: &[(&[u8], Detect)] = &[
            (b"", Undecided),
            // The start of GET or HEAD: waited for as HTTP.
            (b"G", HttpPrefix),
            (b"GET", HttpPrefix),
            (b"GET ", HttpPrefix),
            (b"HEA", HttpPrefix),
            (b"HEAD ", HttpPrefix),
            // Begins like a request line: HTTP, whatever follows.
            (b"GET /", Http),
            (b"GET /hello", Http),
            (b"GET / ", Http),
            (b"GET / H", Http),
            (b"GET / HTTP/1.", Http),
            (b"GET / HTTP/1.1", Http),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Http),
            (b"HEAD /a%20b?x HTTP/1.0\r\n", Http),
            (b"POST /x", Http),
            (b"M-SEARCH * HTTP/1.1", Http),
            (b"GET *", Http),
            (b"GET http://a/ HTTP/1.1", Http),
            (b"GET HTTPS://a", Http),
            (b"GET /\r\n", Http),       // the parser answers 400: no version
            (b"GET /  HTTP/1.1", Http), // ... 400
            (b"GET /a\tb HTTP/1.1", Http),
            (b"GET /caf\xc3\xa9 HTTP/1.1", Http), // ... 400
            (b"GET / HTTP/2.0", Http),            // ... 505
            (b"GET / HTTP/1.1\n", Http),          // ... 400, bare LF
            (b"GET / HTTP/1.10", Http),           // ... 400
            (b"GET / http/1.1", Http),
            (long_request.as_bytes(), Http),
            // A whole request line with another method shape: HTTP (the parser judges it).
            (b"get / HTTP/1.1", Http),
            (b"BREW /pot HTTP/1.1", Http),
            // A line ending in a version, however malformed: HTTP, to be answered 400.
            (b"GET /a b HTTP/1.1\r\n", Http),
            (b"ju{nk / HTTP/1.1\r\n", Http),
            (b"GET  /x HTTP/1.1\n", Http),
            (b"a b c HTTP/1.1\n", Http),
            // Maybe a scheme, after GET or HEAD: waited for as HTTP; after another method,
            // undecided.
            (b"GET h", HttpPrefix),
            (b"GET https:/", HttpPrefix),
            (b"HEAD HTTP:", HttpPrefix),
            (b"PUT h", Undecided),
            // Raw names.
            (b"GET\n", Raw),
            (b"GET\r\n", Raw),
            (b"GET x\n", Raw),
            (b"GET hx", Undecided),
            (b"index.html", Undecided),
            (b"index.html\n", Raw),
            (b"index.html\r", Undecided),
            (b"/index.html", Undecided),
            (b"/index.html\n", Raw),
            (b"/", Undecided),
            (b"sub/dir.txt", Undecided),
            (b"docs/report.pdf\n", Raw),
            (b"README", Undecided),
            (b"README.md", Undecided),
            (b"Get /x", Undecided),
            (b"Get /x\n", Raw),
            (b"\xe4\xbd\xa0\xe5\xa5\xbd.txt\n", Raw),
            (b"a.txt\0\n", Raw),
            (b"my file.txt", Undecided),
            (b"my file.txt\n", Raw),
            (b"my file name.txt\n", Raw),
            (b"a b HTTP/x\n", Raw),
            (b" GET / HTTP/1.1\n", Http), // ends in a version
            (b" GET /\n", Raw),
            (b"GET\t/ HTTP/1.1\n", Http),
            (b"\r\nGET / HTTP/1.1", Raw),
            (b"\x16\x03\x01", Undecided),
            (too_long_method.as_bytes(), Undecided),
            (long_name.as_bytes(), Raw),
            (long_line.as_bytes(), Raw),
        ];
        for (bytes, want) in cases {
            assert_eq!(looks_like_http(bytes), *want, "{}", show(bytes));
        }
    }

    #[test]
    fn detection_is_never_undecided_at_a_newline_and_never_changes() {
        let mut rng = XorShift::new(0xdec1de);
        let alphabet = b"GET /HTP1.0\r\n a";
        let mut buf = [0u8; 24];
        for _ in 0..20_000 {
            let len = rng.below(buf.len() as u64 + 1) as usize;
            for b in &mut buf[..len] {
                *b = alphabet[rng.below(alphabet.len() as u64) as usize];
            }
            let mut decided = None;
            for end in 0..=len {
                let d = looks_like_http(&buf[..end]);
                let open = matches!(d, Detect::Undecided | Detect::HttpPrefix);
                if buf[..end].contains(&b'\n') {
                    assert!(!open, "{}", show(&buf[..end]));
                }
                match decided {
                    None if !open => decided = Some(d),
                    None => {}
                    Some(before) => assert_eq!(d, before, "{}", show(&buf[..end])),
                }
            }
        }
    }

    #[test]
    fn hostile_heads() {
        let cases = hostile::cases();
        assert!(cases.len() >= 35);
        for case in &cases {
            let mut headers = [Header::EMPTY; MAX_HEADERS];
            let got = parse(&case.bytes, &mut headers);
            let context = format!("{}: {}", case.name, show(&case.bytes));
            match (case.expect, got) {
                (Expect::Partial, Ok(Status::Partial)) => {}
                (Expect::Fault(status, variant), Err(e)) => {
                    assert_eq!(format!("{e:?}"), variant, "{context}");
                    assert_eq!(e.status(), status, "{context}");
                }
                (
                    Expect::Complete | Expect::NotAllowed | Expect::BadTarget,
                    Ok(Status::Complete { head_len, request }),
                ) => {
                    let end = (case.bytes.windows(4))
                        .position(|w| w == b"\r\n\r\n")
                        .map(|at| at + 4);
                    assert_eq!(Some(head_len), end, "{context}");
                    let allowed = matches!(request.method, "GET" | "HEAD");
                    let mut out = [0u8; MAX_REQUEST_LINE];
                    let decoded = target::decode(request.target.as_bytes(), &mut out);
                    let served = match (allowed, decoded) {
                        (false, _) => Expect::NotAllowed,
                        (true, Err(_)) => Expect::BadTarget,
                        (true, Ok(_)) => Expect::Complete,
                    };
                    assert_eq!(served, case.expect, "{context}");
                }
                (want, got) => panic!("{context}: wanted {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn every_prefix_is_partial_or_the_same_answer() {
        // The parser keeps no state, so a head split at any point over any number of reads
        // is parsed exactly as the whole: each prefix is Partial, or already the final answer.
        for case in hostile::cases() {
            let whole = outcome(&case.bytes);
            let len = case.bytes.len();
            // Long rows (the limits) are quadratic to check whole in a debug build: every
            // prefix within 512 bytes of either end (where the limits are crossed), and a
            // stride between.
            let checked = |end: usize| end < 512 || len - end <= 512 || end % 61 == 0;
            for end in (0..len).filter(|&end| checked(end)) {
                let got = outcome(&case.bytes[..end]);
                assert!(
                    got == Got::Partial || got == whole,
                    "{}: prefix of {end} gave {got:?}, the whole {whole:?}",
                    case.name
                );
                if matches!(
                    case.expect,
                    Expect::Complete | Expect::NotAllowed | Expect::BadTarget
                ) {
                    // A valid head is Partial until its last byte.
                    if let Got::Complete(len) = whole {
                        assert_eq!(got == Got::Partial, end < len, "{}: {end}", case.name);
                    }
                }
            }
        }
    }

    #[test]
    fn valid_heads_are_partial_until_their_last_byte() {
        let heads: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"HEAD /a%20b.txt?x=1 HTTP/1.0\r\n\r\n",
            b"\r\n\r\nGET / HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n",
            b"GET /x HTTP/1.1\r\nHost: a\r\nX:\r\nY: \t a b \t\r\nContent-Length: 0\r\n\r\n",
        ];
        for head in heads {
            for end in 0..head.len() {
                assert_eq!(
                    outcome(&head[..end]),
                    Got::Partial,
                    "{}",
                    show(&head[..end])
                );
            }
            assert_eq!(outcome(head), Got::Complete(head.len()));
        }
    }

    #[test]
    fn fields_are_borrowed_trimmed_and_in_order() {
        let buf = b"GET /a?b HTTP/1.1\r\nHost: example.com:8081\r\nX-Empty:\r\n\
                    X-Pad: \t a \t b \t\r\nx-pad: second\r\n\r\nGET /next";
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let Ok(Status::Complete { head_len, request }) = parse(buf, &mut headers) else {
            panic!("not complete");
        };
        assert_eq!(&buf[head_len..], b"GET /next");
        assert_eq!(request.method, "GET");
        assert_eq!(request.target, "/a?b");
        assert_eq!(request.version, Version::Http11);
        let fields: Vec<(&str, &[u8])> =
            request.headers.iter().map(|h| (h.name, h.value)).collect();
        let want: Vec<(&str, &[u8])> = vec![
            ("Host", b"example.com:8081"),
            ("X-Empty", b""),
            ("X-Pad", b"a \t b"),
            ("x-pad", b"second"),
        ];
        assert_eq!(fields, want);
        assert_eq!(request.header("HOST"), Some(&b"example.com:8081"[..]));
        assert_eq!(request.header("x-PAD"), Some(&b"a \t b"[..]));
        assert_eq!(request.values("X-Pad").count(), 2);
        assert_eq!(request.single("x-pad"), None);
        assert_eq!(request.single("x-empty"), Some(&b""[..]));
        assert_eq!(request.header("missing"), None);
    }

    #[test]
    fn conditional_and_range_fields() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\n\
                    if-modified-since: Sun, 06 Nov 1994 08:49:37 GMT\r\nRange: bytes=0-1\r\n\
                    RANGE: bytes=2-3\r\nIf-Range: \"x\"\r\n\r\n";
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let Ok(Status::Complete { request, .. }) = parse(buf, &mut headers) else {
            panic!("not complete");
        };
        assert_eq!(request.if_none_match(), Some(&b"\"x\""[..]));
        assert_eq!(
            request.if_modified_since(),
            Some(&b"Sun, 06 Nov 1994 08:49:37 GMT"[..])
        );
        assert_eq!(request.if_range(), Some(&b"\"x\""[..]));
        assert_eq!(request.range(), None, "a repeated Range is ignored");
    }

    #[test]
    fn keep_alive_by_version_and_connection() {
        let cases: &[(&str, &[&str], bool)] = &[
            ("HTTP/1.1", &[], true),
            ("HTTP/1.1", &["close"], false),
            ("HTTP/1.1", &["Close"], false),
            ("HTTP/1.1", &["keep-alive"], true),
            ("HTTP/1.1", &["keep-alive, close"], false),
            ("HTTP/1.1", &["Upgrade,  CLOSE "], false),
            ("HTTP/1.1", &["x", "close"], false),
            ("HTTP/1.1", &["closed"], true),
            ("HTTP/1.1", &["close-ish, notclose"], true),
            ("HTTP/1.1", &[""], true),
            ("HTTP/1.0", &[], false),
            ("HTTP/1.0", &["keep-alive"], true),
            ("HTTP/1.0", &["Keep-Alive"], true),
            ("HTTP/1.0", &["foo,keep-alive"], true),
            ("HTTP/1.0", &["keep-alive", "close"], false),
            ("HTTP/1.0", &["keep-alive-ish"], false),
            ("HTTP/1.0", &["close"], false),
        ];
        for (version, connection, want) in cases {
            let mut head = format!("GET / {version}\r\nHost: a\r\n");
            for value in *connection {
                head.push_str(&format!("Connection: {value}\r\n"));
            }
            head.push_str("\r\n");
            let mut headers = [Header::EMPTY; MAX_HEADERS];
            let Ok(Status::Complete { request, .. }) = parse(head.as_bytes(), &mut headers) else {
                panic!("{head:?} not complete");
            };
            assert_eq!(request.keep_alive(), *want, "{version} {connection:?}");
        }
    }

    #[test]
    fn errors_name_their_status() {
        use Error::*;
        let all = [
            (RequestLineTooLong, 414),
            (HeadersTooLarge, 431),
            (TooManyHeaders, 431),
            (Method, 400),
            (RequestLine, 400),
            (Target, 400),
            (NoVersion, 400),
            (Version, 400),
            (UnsupportedVersion, 505),
            (BareLf, 400),
            (BareCr, 400),
            (ObsFold, 400),
            (HeaderName, 400),
            (EmptyHeaderName, 400),
            (SpaceBeforeColon, 400),
            (NoColon, 400),
            (HeaderValue, 400),
            (ContentLength, 400),
            (DuplicateContentLength, 400),
            (ContentLengthAndTransferEncoding, 400),
            (TransferEncoding, 501),
            (Body, 413),
            (MissingHost, 400),
            (DuplicateHost, 400),
            (Host, 400),
        ];
        for (i, (error, status)) in all.iter().enumerate() {
            assert_eq!(error.status(), *status, "{error:?}");
            assert!(!error.to_string().is_empty());
            assert!(all[..i].iter().all(|(e, _)| e.reason() != error.reason()));
        }
    }

    /// Valid heads to mutate in the garbage test.
    const SEEDS: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"HEAD /a%20b?q HTTP/1.0\r\nConnection: keep-alive\r\nRange: bytes=0-1\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nIf-None-Match: W/\"1\"\r\n\r\n",
    ];

    #[test]
    fn garbage_never_panics_and_prefixes_agree() {
        let mut rng = XorShift::new(0x9a2b_a9e5);
        let alphabet = b"GET /HTP1.0\r\n\t :Hostcn-lgh\0\x7f\xff";
        let mut buf = [0u8; 96];
        for round in 0..6_000 {
            let len = if round % 2 == 0 {
                // Pure garbage from a biased alphabet.
                let len = rng.below(buf.len() as u64 + 1) as usize;
                for b in &mut buf[..len] {
                    *b = alphabet[rng.below(alphabet.len() as u64) as usize];
                }
                len
            } else {
                // A valid head with a few bytes changed, inserted or cut.
                let seed = SEEDS[rng.below(SEEDS.len() as u64) as usize];
                let mut len = seed.len();
                buf[..len].copy_from_slice(seed);
                for _ in 0..=rng.below(3) {
                    let at = rng.below(len as u64) as usize;
                    match rng.below(3) {
                        0 => buf[at] = rng.next() as u8,
                        1 => buf[at] = alphabet[rng.below(alphabet.len() as u64) as usize],
                        _ => len = at.max(1),
                    }
                }
                len
            };
            let bytes = &buf[..len];
            let whole = outcome(bytes);
            if let Got::Complete(head_len) = whole {
                assert!(head_len <= len);
                assert_eq!(&bytes[head_len - 4..head_len], b"\r\n\r\n");
            }
            for end in 0..len {
                let got = outcome(&bytes[..end]);
                assert!(got == Got::Partial || got == whole, "{}", show(bytes));
            }
            looks_like_http(bytes);
        }
    }

    #[test]
    fn a_head_that_parses_was_detected_as_http() {
        // The first request of a connection reaches the parser only through detection; every
        // head detection would pass over must be one the parser refuses anyway (or one with
        // leading empty lines, which only a later request on a connection may have).
        let mut rng = XorShift::new(0x5a5e);
        for case in hostile::cases() {
            if let Got::Complete(_) = outcome(&case.bytes) {
                if !case.bytes.starts_with(b"\r\n") {
                    assert_eq!(looks_like_http(&case.bytes), Detect::Http, "{}", case.name);
                }
            }
        }
        for _ in 0..2_000 {
            let seed = SEEDS[rng.below(SEEDS.len() as u64) as usize];
            let mut head = seed.to_vec();
            let at = rng.below(head.len() as u64) as usize;
            head[at] = rng.next() as u8;
            if let Got::Complete(_) = outcome(&head) {
                assert_eq!(looks_like_http(&head), Detect::Http, "{}", show(&head));
            }
        }
    }

    mod allocations {
        //! The parser must not allocate: counted by a global allocator, per thread, so tests
        //! running beside this one do not disturb the count.
        use super::*;
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        struct Counting;

        thread_local! {
            static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
        }

        fn count() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }

        // SAFETY: every call is passed straight to the system allocator; counting touches
        // only a const-initialised thread-local without a destructor, which never allocates.
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                count();
                unsafe { System.alloc(layout) }
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                unsafe { System.dealloc(ptr, layout) }
            }

            unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
                count();
                unsafe { System.alloc_zeroed(layout) }
            }

            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
                count();
                unsafe { System.realloc(ptr, layout, size) }
            }
        }

        #[global_allocator]
        static COUNTING: Counting = Counting;

        #[test]
        fn parsing_allocates_nothing() {
            let cases = hostile::cases();
            let mut headers = [Header::EMPTY; MAX_HEADERS];
            let mut decoded = [0u8; MAX_REQUEST_LINE];
            let before = ALLOCATIONS.with(Cell::get);
            let mut kept = 0;
            for case in &cases {
                looks_like_http(&case.bytes);
                if let Ok(Status::Complete { request, .. }) = parse(&case.bytes, &mut headers) {
                    kept += usize::from(request.keep_alive());
                    let _ = request.range().zip(request.if_none_match());
                    let _ = target::decode(request.target.as_bytes(), &mut decoded);
                }
            }
            assert_eq!(ALLOCATIONS.with(Cell::get), before);
            assert!(kept > 0);
            // The counter does count: this allocates.
            let v = std::hint::black_box(vec![1u8; 10]);
            assert!(ALLOCATIONS.with(Cell::get) > before && v.len() == 10);
        }
    }
}
