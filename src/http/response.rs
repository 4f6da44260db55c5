//! Responses: the head written into the caller's reusable buffer, the short text bodies of
//! errors, and the validators that decide 304 and `If-Range` (an `ETag` from size and
//! modification time; `If-None-Match`, `If-Modified-Since`).
//!
//! Nothing here allocates: numbers, dates and tags are formatted by hand into fixed arrays or
//! straight into the output `Vec`, which the caller clears and reuses, so once it has grown to
//! a head's size no request costs an allocation. Every response says `HTTP/1.1`, the highest
//! version the server speaks (RFC 9110 §6.2), whatever the request's.

use std::time::{SystemTime, UNIX_EPOCH};

use super::date;
use super::request::Version;
use crate::root::Refusal;

/// The `Server` field's value.
pub const SERVER: &str = "tcpserve";
/// The methods served, for `Allow` (with 405).
pub const ALLOW: &str = "GET, HEAD";
/// The type of error bodies.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// The standard reason phrase of a status (empty for one the server never sends).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// What the `Connection` field says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// Nothing: HTTP/1.1 staying open.
    Omit,
    /// `close`: the server closes after this response.
    Close,
    /// `keep-alive`: an HTTP/1.0 client asked to keep the connection and it stays open
    /// (without the field, such a client assumes it closes).
    KeepAlive,
}

impl Connection {
    /// The field for a request of `version` on a connection that stays open after the
    /// response (`keep_alive`) or not.
    pub fn new(version: Version, keep_alive: bool) -> Connection {
        match (keep_alive, version) {
            (false, _) => Connection::Close,
            (true, Version::Http11) => Connection::Omit,
            (true, Version::Http10) => Connection::KeepAlive,
        }
    }
}

/// `Content-Range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes start-end/size`, with 206.
    Bytes {
        /// First byte sent.
        start: u64,
        /// Last byte sent.
        end_inclusive: u64,
        /// The whole file's size.
        size: u64,
    },
    /// `bytes */size`, with 416.
    Unsatisfied {
        /// The whole file's size.
        size: u64,
    },
}

/// A response head. Fields left `None` (or `false`) are not sent; `Date` and `Server` always
/// are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head<'a> {
    /// The status code; the reason phrase is [`reason_phrase`]'s.
    pub status: u16,
    /// `Date`: now.
    pub date: SystemTime,
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// `Content-Encoding`: a precompressed file's coding.
    pub content_encoding: Option<&'a str>,
    /// `Content-Length`: the bytes a GET would get, HEAD included; `None` for 304.
    pub content_length: Option<u64>,
    /// `Last-Modified`.
    pub last_modified: Option<SystemTime>,
    /// `ETag`.
    pub etag: Option<&'a ETag>,
    /// `Accept-Ranges: bytes`.
    pub accept_ranges: bool,
    /// `Content-Range`.
    pub content_range: Option<ContentRange>,
    /// `Vary`: the request fields that chose the representation.
    pub vary: Option<&'a str>,
    /// `Allow`.
    pub allow: Option<&'a str>,
    /// `Location`, of a redirect.
    pub location: Option<&'a [u8]>,
    /// `Connection`.
    pub connection: Connection,
    /// `Cache-Control: no-store`: what changes from one request to the next.
    pub no_store: bool,
    /// The operator's own fields, each ending in CRLF ([`super::headers::Custom::block`]).
    pub custom: &'a [u8],
}

impl Head<'_> {
    /// A head with only `Date` and `Server`.
    pub fn new(status: u16, date: SystemTime) -> Head<'static> {
        Head {
            status,
            date,
            content_type: None,
            content_encoding: None,
            content_length: None,
            last_modified: None,
            etag: None,
            accept_ranges: false,
            content_range: None,
            vary: None,
            allow: None,
            location: None,
            connection: Connection::Omit,
            no_store: false,
            custom: b"",
        }
    }

    /// The head of an error response whose body is [`write_error_body`]'s: plain text, its
    /// length, and `Allow` with 405. The caller adds `Content-Range` to a 416 and sets
    /// `connection`.
    pub fn error(status: u16, date: SystemTime) -> Head<'static> {
        Head {
            content_type: Some(TEXT_PLAIN),
            content_length: Some(error_body_len(status)),
            allow: (status == 405).then_some(ALLOW),
            ..Head::new(status, date)
        }
    }

    /// Appends the head, up to and including its empty line, to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(out, u64::from(self.status));
        out.push(b' ');
        out.extend_from_slice(reason_phrase(self.status).as_bytes());
        out.extend_from_slice(b"\r\nDate: ");
        out.extend_from_slice(&date::format(self.date));
        out.extend_from_slice(b"\r\nServer: ");
        out.extend_from_slice(SERVER.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(content_type) = self.content_type {
            field(out, "Content-Type", content_type.as_bytes());
        }
        if let Some(coding) = self.content_encoding {
            field(out, "Content-Encoding", coding.as_bytes());
        }
        if let Some(len) = self.content_length {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, len);
            out.extend_from_slice(b"\r\n");
        }
        if let Some(modified) = self.last_modified {
            field(out, "Last-Modified", &date::format(modified));
        }
        if let Some(etag) = self.etag {
            field(out, "ETag", etag.as_bytes());
        }
        if self.accept_ranges {
            field(out, "Accept-Ranges", b"bytes");
        }
        match self.content_range {
            Some(ContentRange::Bytes {
                start,
                end_inclusive,
                size,
            }) => {
                out.extend_from_slice(b"Content-Range: bytes ");
                push_decimal(out, start);
                out.push(b'-');
                push_decimal(out, end_inclusive);
                out.push(b'/');
                push_decimal(out, size);
                out.extend_from_slice(b"\r\n");
            }
            Some(ContentRange::Unsatisfied { size }) => {
                out.extend_from_slice(b"Content-Range: bytes */");
                push_decimal(out, size);
                out.extend_from_slice(b"\r\n");
            }
            None => {}
        }
        if let Some(vary) = self.vary {
            field(out, "Vary", vary.as_bytes());
        }
        if let Some(allow) = self.allow {
            field(out, "Allow", allow.as_bytes());
        }
        if let Some(location) = self.location {
            field(out, "Location", location);
        }
        if self.no_store {
            field(out, "Cache-Control", b"no-store");
        }
        match self.connection {
            Connection::Omit => {}
            Connection::Close => field(out, "Connection", b"close"),
            Connection::KeepAlive => field(out, "Connection", b"keep-alive"),
        }
        out.extend_from_slice(self.custom);
        out.extend_from_slice(b"\r\n");
    }
}

fn field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The length of [`write_error_body`]'s body for `status`.
pub fn error_body_len(status: u16) -> u64 {
    // "404" + " " + "Not Found" + "\n"
    (3 + 1 + reason_phrase(status).len() + 1) as u64
}

/// Appends an error's short text body, such as `404 Not Found\n`, to `out`.
pub fn write_error_body(status: u16, out: &mut Vec<u8>) {
    push_decimal(out, u64::from(status % 1000));
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.push(b'\n');
}

/// The status for a name [`crate::root::Root::open`] refused. A directory is answered with its
/// `index.html` (see [`crate::http::target::with_index`]) before this is asked; without one, 404.
pub fn refusal_status(refusal: Refusal) -> u16 {
    match refusal {
        // A path that only a crafted request contains: clients resolve dot segments first.
        Refusal::Empty | Refusal::Nul | Refusal::DotDot => 400,
        Refusal::TooLong => 414,
        // Not told apart from a missing file: a link out of the root or a device is nothing
        // the server serves, and saying more would map the file system for a stranger.
        Refusal::OutsideRoot | Refusal::NotFound | Refusal::Directory | Refusal::NotRegular(_) => {
            404
        }
        Refusal::PermissionDenied => 403,
        Refusal::Io(_) => 500,
    }
}

/// A strong entity tag, `"size-mtime"` in lowercase hex (mtime in nanoseconds since the
/// epoch, two's complement before it), quotes included; a precompressed file's adds its
/// coding, `"size-mtime-br"` ([`ETag::coded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ETag {
    bytes: [u8; ETag::MAX_LEN],
    len: u8,
}

impl ETag {
    /// Two quotes, 16 hex digits of size, a dash, 32 of nanoseconds, a dash and a coding.
    const MAX_LEN: usize = 2 + 16 + 1 + 32 + 1 + 4;

    /// The tag of the same file served as `coding` (`br`, `zstd`, `gzip`): distinct from the
    /// tag of any file served as it is, or in another coding.
    pub fn coded(mut self, coding: &str) -> ETag {
        let at = usize::from(self.len) - 1;
        let end = at + 1 + coding.len();
        if end < ETag::MAX_LEN {
            self.bytes[at] = b'-';
            self.bytes[at + 1..end].copy_from_slice(coding.as_bytes());
            self.bytes[end] = b'"';
            self.len = end as u8 + 1;
        }
        self
    }

    /// The tag as sent, quotes included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The tag of a file of `size` bytes modified at `mtime`: it changes when either does.
pub fn etag(size: u64, mtime: SystemTime) -> ETag {
    let nanos: i128 = match mtime.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    };
    let mut tag = ETag {
        bytes: [0; ETag::MAX_LEN],
        len: 0,
    };
    let mut at = 0;
    let mut put = |b: u8| {
        tag.bytes[at] = b;
        at += 1;
    };
    put(b'"');
    for b in hex(u128::from(size)).as_slice() {
        put(*b);
    }
    put(b'-');
    for b in hex(nanos as u128).as_slice() {
        put(*b);
    }
    put(b'"');
    tag.len = at as u8;
    tag
}

/// Whether `If-None-Match` matches `etag`, so a GET or HEAD gets 304: `*`, or a list of tags
/// one of which equals it under the weak comparison (RFC 9110 §8.8.3.2: `W/` ignored). A
/// malformed list matches nothing, which only costs a full response.
pub fn matches_if_none_match(if_none_match: &[u8], etag: &ETag) -> bool {
    let value = trim_ows(if_none_match);
    if value == b"*" {
        return true;
    }
    let ours = opaque(etag.as_bytes());
    let mut rest = value;
    let mut matched = false;
    loop {
        // Elements are separated by commas with optional whitespace; empty ones are skipped.
        while let [b' ' | b'\t' | b',', tail @ ..] = rest {
            rest = tail;
        }
        if rest.is_empty() {
            return matched;
        }
        let Some((tag, tail)) = entity_tag(rest) else {
            return false;
        };
        matched |= opaque(tag) == ours;
        rest = trim_ows_start(tail);
        if !rest.is_empty() && rest[0] != b',' {
            return false;
        }
    }
}

/// Whether `If-Modified-Since` shows the client's copy is current, so a GET or HEAD gets
/// 304: a valid HTTP-date, not in the future (RFC 9110 §13.1.3), no earlier than `mtime`
/// (compared in whole seconds, as `Last-Modified` has no finer grain).
pub fn not_modified_since(if_modified_since: &[u8], mtime: SystemTime, now: SystemTime) -> bool {
    let now = date::unix_seconds(now);
    match date::parse_unix(if_modified_since, now) {
        Some(since) if since <= now => date::unix_seconds(mtime) <= since,
        _ => false,
    }
}

/// Whether a GET or HEAD gets 304. `If-None-Match`, when present, decides alone;
/// `If-Modified-Since` counts only without it (RFC 9110 §13.2.2).
pub fn not_modified(
    if_none_match: Option<&[u8]>,
    if_modified_since: Option<&[u8]>,
    etag: &ETag,
    mtime: SystemTime,
    now: SystemTime,
) -> bool {
    match (if_none_match, if_modified_since) {
        (Some(inm), _) => matches_if_none_match(inm, etag),
        (None, Some(ims)) => not_modified_since(ims, mtime, now),
        (None, None) => false,
    }
}

/// Whether `If-Range` lets `Range` apply: a strong tag equal to `etag`, or a date equal to
/// `mtime` in whole seconds (RFC 9110 §13.1.5). Otherwise the whole file is sent, since the
/// client's partial copy is of another version.
pub fn if_range_allows(if_range: &[u8], etag: &ETag, mtime: SystemTime) -> bool {
    let value = trim_ows(if_range);
    if value.first() == Some(&b'"') {
        return matches!(entity_tag(value), Some((tag, rest)) if rest.is_empty() && tag == etag.as_bytes());
    }
    let modified = date::unix_seconds(mtime);
    date::parse_unix(value, modified) == Some(modified)
}

/// An entity tag at the start of `s`, `W/` and quotes included, and what follows it.
fn entity_tag(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let open = if s.starts_with(b"W/") { 2 } else { 0 };
    if s.get(open) != Some(&b'"') {
        return None;
    }
    // etagc: '!', '#'..'~', obs-text.
    let body = s[open + 1..]
        .iter()
        .position(|&b| !(b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80))?;
    let close = open + 1 + body;
    (s[close] == b'"').then(|| s.split_at(close + 1))
}

/// The quoted part of a tag, without `W/`.
fn opaque(tag: &[u8]) -> &[u8] {
    tag.strip_prefix(b"W/").unwrap_or(tag)
}

fn trim_ows_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

fn trim_ows(s: &[u8]) -> &[u8] {
    let mut s = trim_ows_start(s);
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Up to 39 decimal digits, right-aligned in a fixed array.
struct Digits {
    buf: [u8; 39],
    start: usize,
}

impl Digits {
    fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn radix(mut n: u128, base: u128) -> Digits {
    let mut d = Digits {
        buf: [0; 39],
        start: 39,
    };
    loop {
        d.start -= 1;
        d.buf[d.start] = b"0123456789abcdef"[(n % base) as usize];
        n /= base;
        if n == 0 {
            return d;
        }
    }
}

fn hex(n: u128) -> Digits {
    radix(n, 16)
}

pub(crate) fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(radix(u128::from(n), 10).as_slice());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const NOW: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

    #[test]
    fn heads_are_written_in_order() {
        let tag = etag(1234, at(1_000_000_000));
        let cases: &[(Head, &str)] = &[
            (
                Head::new(200, at(NOW)),
                "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: tcpserve\r\n\r\n",
            ),
            (
                Head {
                    content_type: Some("text/html; charset=utf-8"),
                    content_length: Some(1234),
                    last_modified: Some(at(1_000_000_000)),
                    etag: Some(&tag),
                    accept_ranges: true,
                    ..Head::new(200, at(NOW))
                },
                "HTTP/1.1 200 OK\r\n\
                 Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
                 Server: tcpserve\r\n\
                 Content-Type: text/html; charset=utf-8\r\n\
                 Content-Length: 1234\r\n\
                 Last-Modified: Sun, 09 Sep 2001 01:46:40 GMT\r\n\
                 ETag: \"4d2-de0b6b3a7640000\"\r\n\
                 Accept-Ranges: bytes\r\n\
                 \r\n",
            ),
            (
                Head {
                    content_length: Some(10),
                    content_range: Some(ContentRange::Bytes {
                        start: 10,
                        end_inclusive: 19,
                        size: u64::MAX,
                    }),
                    connection: Connection::KeepAlive,
                    ..Head::new(206, at(NOW))
                },
                "HTTP/1.1 206 Partial Content\r\n\
                 Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
                 Server: tcpserve\r\n\
                 Content-Length: 10\r\n\
                 Content-Range: bytes 10-19/18446744073709551615\r\n\
                 Connection: keep-alive\r\n\
                 \r\n",
            ),
            (
                Head {
                    content_range: Some(ContentRange::Unsatisfied { size: 0 }),
                    ..Head::error(416, at(NOW))
                },
                "HTTP/1.1 416 Range Not Satisfiable\r\n\
                 Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
                 Server: tcpserve\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: 26\r\n\
                 Content-Range: bytes */0\r\n\
                 \r\n",
            ),
            (
                Head {
                    connection: Connection::Close,
                    ..Head::error(405, at(NOW))
                },
                "HTTP/1.1 405 Method Not Allowed\r\n\
                 Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
                 Server: tcpserve\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: 23\r\n\
                 Allow: GET, HEAD\r\n\
                 Connection: close\r\n\
                 \r\n",
            ),
            (
                Head {
                    allow: Some("GET, HEAD, OPTIONS"),
                    connection: Connection::KeepAlive,
                    custom: b"Access-Control-Allow-Origin: *\r\nX-A: b\r\n",
                    ..Head::new(204, at(NOW))
                },
                "HTTP/1.1 204 No Content\r\n\
                 Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
                 Server: tcpserve\r\n\
                 Allow: GET, HEAD, OPTIONS\r\n\
                 Connection: keep-alive\r\n\
                 Access-Control-Allow-Origin: *\r\n\
                 X-A: b\r\n\
                 \r\n",
            ),
            (
                Head::new(299, at(0)),
                "HTTP/1.1 299 \r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nServer: tcpserve\r\n\r\n",
            ),
        ];
        let mut out = Vec::new();
        for (head, want) in cases {
            out.clear();
            head.write(&mut out);
            assert_eq!(String::from_utf8_lossy(&out), *want);
        }
    }

    #[test]
    fn error_bodies_are_one_short_line() {
        let mut out = Vec::new();
        for status in [400, 403, 404, 405, 408, 413, 414, 416, 431, 500, 501, 505] {
            out.clear();
            write_error_body(status, &mut out);
            assert_eq!(out.len() as u64, error_body_len(status), "{status}");
            let text = String::from_utf8(out.clone()).unwrap();
            assert_eq!(text, format!("{status} {}\n", reason_phrase(status)));
            assert!(!reason_phrase(status).is_empty());
        }
        out.clear();
        write_error_body(404, &mut out);
        assert_eq!(out, b"404 Not Found\n");
    }

    #[test]
    fn reused_buffers_do_not_grow() {
        let tag = etag(u64::MAX, at(u64::MAX / 4_000_000_000));
        let head = Head {
            content_type: Some(TEXT_PLAIN),
            content_length: Some(u64::MAX),
            last_modified: Some(at(NOW)),
            etag: Some(&tag),
            accept_ranges: true,
            content_range: Some(ContentRange::Bytes {
                start: u64::MAX,
                end_inclusive: u64::MAX,
                size: u64::MAX,
            }),
            allow: Some(ALLOW),
            connection: Connection::KeepAlive,
            ..Head::error(431, at(NOW))
        };
        let mut out = Vec::with_capacity(1024);
        let capacity = out.capacity();
        for _ in 0..100 {
            out.clear();
            head.write(&mut out);
            write_error_body(431, &mut out);
        }
        assert_eq!(out.capacity(), capacity);
    }

    #[test]
    fn connection_field_by_version() {
        use Version::*;
        let cases = [
            (Http11, true, Connection::Omit),
            (Http11, false, Connection::Close),
            (Http10, true, Connection::KeepAlive),
            (Http10, false, Connection::Close),
        ];
        for (version, keep, want) in cases {
            assert_eq!(Connection::new(version, keep), want);
        }
    }

    #[test]
    fn etags_change_with_size_and_time() {
        let cases: &[(u64, SystemTime, &str)] = &[
            (0, UNIX_EPOCH, "\"0-0\""),
            (1234, at(1), "\"4d2-3b9aca00\""),
            (1234, at(1) + Duration::from_nanos(1), "\"4d2-3b9aca01\""),
            (
                u64::MAX,
                UNIX_EPOCH - Duration::from_nanos(1),
                "\"ffffffffffffffff-ffffffffffffffffffffffffffffffff\"",
            ),
        ];
        for (size, mtime, want) in cases {
            let tag = etag(*size, *mtime);
            assert_eq!(String::from_utf8_lossy(tag.as_bytes()), *want);
        }
        assert_ne!(etag(1, at(5)), etag(2, at(5)));
        assert_ne!(etag(1, at(5)), etag(1, at(6)));
    }

    #[test]
    fn a_coded_tag_names_its_coding() {
        let tag = etag(1234, at(1));
        let br = tag.coded("br");
        assert_eq!(br.as_bytes(), b"\"4d2-3b9aca00-br\"");
        assert!(!matches_if_none_match(tag.as_bytes(), &br));
        assert!(matches_if_none_match(br.as_bytes(), &br));
        assert!(!matches_if_none_match(br.as_bytes(), &tag.coded("gzip")));
        let longest = etag(u64::MAX, UNIX_EPOCH - Duration::from_nanos(1)).coded("zstd");
        assert!(longest.as_bytes().ends_with(b"ffff-zstd\""));
    }

    #[test]
    fn if_none_match_lists() {
        let tag = etag(1234, at(1)); // "4d2-3b9aca00"
        let cases: &[(&str, bool)] = &[
            ("\"4d2-3b9aca00\"", true),
            ("W/\"4d2-3b9aca00\"", true),
            ("*", true),
            (" * ", true),
            ("\"x\", \"4d2-3b9aca00\"", true),
            ("\"x\",W/\"4d2-3b9aca00\" ,\"y\"", true),
            (", ,\"4d2-3b9aca00\",", true),
            ("\"4d2-3b9aca01\"", false),
            ("\"x\"", false),
            ("", false),
            ("\"\"", false),
            ("4d2-3b9aca00", false),       // unquoted
            ("\"4d2-3b9aca00", false),     // unterminated
            ("w/\"4d2-3b9aca00\"", false), // W/ is case-sensitive
            ("\"4d2-3b9aca00\" \"x\"", false),
            ("\"4d2-3b9aca00\"x", false),
            ("\"x\" junk, \"4d2-3b9aca00\"", false),
            ("*, \"x\"", false),
            ("\"a b\", \"4d2-3b9aca00\"", false), // a space is not an etagc
        ];
        for (header, want) in cases {
            assert_eq!(
                matches_if_none_match(header.as_bytes(), &tag),
                *want,
                "{header:?}"
            );
        }
    }

    #[test]
    fn if_modified_since_compares_seconds() {
        let mtime = at(NOW) + Duration::from_millis(500);
        let now = at(NOW + 100);
        let cases: &[(&str, bool)] = &[
            ("Sun, 06 Nov 1994 08:49:37 GMT", true),
            ("Sun, 06 Nov 1994 08:49:38 GMT", true),
            ("Sun, 06 Nov 1994 08:49:36 GMT", false),
            ("Sunday, 06-Nov-94 08:49:37 GMT", true),
            ("Sun Nov  6 08:49:37 1994", true),
            ("Sun, 06 Nov 1994 08:51:17 GMT", true), // now exactly
            ("Sun, 06 Nov 1994 08:51:18 GMT", false), // in the future: invalid
            ("Sun, 06 Nov 1994 08:49:37 GMT; length=12", false),
            ("yesterday", false),
            ("", false),
        ];
        for (header, want) in cases {
            assert_eq!(
                not_modified_since(header.as_bytes(), mtime, now),
                *want,
                "{header:?}"
            );
        }
    }

    #[test]
    fn if_none_match_takes_precedence() {
        let tag = etag(10, at(NOW));
        let mtime = at(NOW);
        let now = at(NOW + 1);
        let fresh: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";
        let stale: &[u8] = b"Sun, 06 Nov 1994 08:49:36 GMT";
        // (If-None-Match, If-Modified-Since, 304)
        type Case<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, bool);
        let cases: &[Case] = &[
            (None, None, false),
            (None, Some(fresh), true),
            (None, Some(stale), false),
            (Some(tag.as_bytes()), None, true),
            (Some(tag.as_bytes()), Some(stale), true),
            (Some(b"\"other\""), Some(fresh), false),
        ];
        for (inm, ims, want) in cases {
            assert_eq!(
                not_modified(*inm, *ims, &tag, mtime, now),
                *want,
                "{inm:?} {ims:?}"
            );
        }
    }

    #[test]
    fn if_range_needs_an_exact_validator() {
        let mtime = at(NOW) + Duration::from_millis(300);
        let tag = etag(10, mtime);
        let strong = String::from_utf8(tag.as_bytes().to_vec()).unwrap();
        let cases: &[(String, bool)] = &[
            (strong.clone(), true),
            (format!(" {strong} "), true),
            (format!("W/{strong}"), false),
            (format!("{strong}, {strong}"), false),
            ("\"other\"".into(), false),
            ("Sun, 06 Nov 1994 08:49:37 GMT".into(), true),
            ("Sun, 06 Nov 1994 08:49:38 GMT".into(), false),
            ("Sun, 06 Nov 1994 08:49:36 GMT".into(), false),
            ("".into(), false),
        ];
        for (header, want) in cases {
            assert_eq!(
                if_range_allows(header.as_bytes(), &tag, mtime),
                *want,
                "{header:?}"
            );
        }
    }

    #[test]
    fn refusals_map_to_statuses() {
        let cases = [
            (Refusal::Empty, 400),
            (Refusal::Nul, 400),
            (Refusal::DotDot, 400),
            (Refusal::TooLong, 414),
            (Refusal::OutsideRoot, 404),
            (Refusal::NotFound, 404),
            (Refusal::NotRegular("a FIFO"), 404),
            (Refusal::PermissionDenied, 403),
            (Refusal::Io(std::io::ErrorKind::Other), 500),
        ];
        for (refusal, want) in cases {
            assert_eq!(refusal_status(refusal), want, "{refusal}");
        }
    }

    #[test]
    fn numbers_by_hand() {
        let cases: &[(u64, &str)] = &[
            (0, "0"),
            (7, "7"),
            (10, "10"),
            (1_000_000, "1000000"),
            (u64::MAX, "18446744073709551615"),
        ];
        let mut out = Vec::new();
        for (n, want) in cases {
            out.clear();
            push_decimal(&mut out, *n);
            assert_eq!(out, want.as_bytes());
        }
        assert_eq!(hex(0).as_slice(), b"0");
        assert_eq!(hex(u128::MAX).as_slice(), &[b'f'; 32][..]);
    }

    #[test]
    fn validators_never_panic_on_garbage() {
        let mut rng = crate::http::tests::XorShift::new(0xe7a6);
        let alphabet = b"W/\"*, \tabc\x7f\xff0123456789-";
        let tag = etag(0xabc, at(NOW));
        let mut buf = [0u8; 24];
        for _ in 0..20_000 {
            let len = rng.below(buf.len() as u64 + 1) as usize;
            for b in &mut buf[..len] {
                *b = alphabet[rng.below(alphabet.len() as u64) as usize];
            }
            matches_if_none_match(&buf[..len], &tag);
            if_range_allows(&buf[..len], &tag, at(NOW));
            not_modified_since(&buf[..len], at(NOW), at(NOW));
        }
    }
}
