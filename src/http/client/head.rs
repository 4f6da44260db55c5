//! The response head, read strictly but as real servers write it: `HTTP/1.x NNN reason`, then
//! `name: value` fields, lines ended by CRLF or a bare LF, at most [`MAX_RESPONSE_HEAD`] bytes; and what
//! its fields say about the body ([`framing`], [`content_range`]).

use std::fmt;

use crate::http::request::is_tchar;

/// The largest response head, status line and fields with their line ends, interim (1xx)
/// heads included.
pub const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// A response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code, 100 to 599.
    pub status: u16,
    /// The status line as received, without its line end (invalid UTF-8 replaced), for
    /// messages.
    pub status_line: String,
    /// The fields, in order: the name as sent, the value without surrounding whitespace.
    pub fields: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// The values of every field named `name` (case-insensitively), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The value of a field that may appear once: `Ok(None)` if absent, `Err` if repeated.
    pub fn single(&self, name: &'static str) -> Result<Option<&[u8]>, FieldError> {
        let mut values = self.values(name);
        let first = values.next();
        match values.next() {
            Some(_) => Err(FieldError::Repeated(name)),
            None => Ok(first),
        }
    }
}

/// Why a response head is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// The answer does not start with `HTTP/`.
    NotHttp,
    /// A version other than 1.x.
    Version,
    /// Not `HTTP/1.x SP 3DIGIT [SP reason]`.
    StatusLine,
    /// A field line starting with whitespace (obsolete line folding).
    Folded,
    /// A field line without a colon.
    NoColon,
    /// An empty field name, or one with a byte that is not a token character (whitespace
    /// before the colon included).
    FieldName,
    /// A control byte (a lone CR included) in the status line's reason or a field value.
    Control,
    /// No end of the head within [`MAX_RESPONSE_HEAD`] bytes.
    TooLarge,
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeadError::NotHttp => "not an HTTP response",
            HeadError::Version => "not an HTTP/1.x response",
            HeadError::StatusLine => "malformed status line",
            HeadError::Folded => "folded header line",
            HeadError::NoColon => "header line without a colon",
            HeadError::FieldName => "invalid header name",
            HeadError::Control => "control byte in the response head",
            HeadError::TooLarge => "response head larger than 64 KiB",
        })
    }
}

/// Parses the response head at the start of `buf`: `Ok(None)` while it is incomplete (every
/// prefix of a valid head), else the head and its length (what follows is the body).
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, HeadError> {
    if !b"HTTP/".starts_with(&buf[..buf.len().min(5)]) {
        return Err(HeadError::NotHttp);
    }
    let mut lines = Vec::new();
    let mut start = 0;
    let head_len = loop {
        let Some(newline) = buf[start..].iter().position(|&b| b == b'\n') else {
            if buf.len() > MAX_RESPONSE_HEAD {
                return Err(HeadError::TooLarge);
            }
            return Ok(None);
        };
        let end = start + newline;
        if end >= MAX_RESPONSE_HEAD {
            return Err(HeadError::TooLarge);
        }
        let line = &buf[start..end];
        start = end + 1;
        match line.strip_suffix(b"\r").unwrap_or(line) {
            b"" => break start,
            line => lines.push(line),
        }
    };
    // Not empty: the first line starts with `HTTP/`.
    let (first, rest) = lines.split_first().ok_or(HeadError::NotHttp)?;
    let (status, status_line) = status_line(first)?;
    let fields = rest
        .iter()
        .map(|line| field(line))
        .collect::<Result<_, _>>()?;
    let head = Head {
        status,
        status_line,
        fields,
    };
    Ok(Some((head, head_len)))
}

/// `HTTP/1.x SP 3DIGIT [SP reason]`; a missing reason is tolerated.
fn status_line(line: &[u8]) -> Result<(u16, String), HeadError> {
    let [b'H', b'T', b'T', b'P', b'/', major, b'.', minor, rest @ ..] = line else {
        return Err(HeadError::StatusLine);
    };
    if !major.is_ascii_digit() || !minor.is_ascii_digit() {
        return Err(HeadError::StatusLine);
    }
    if *major != b'1' {
        return Err(HeadError::Version);
    }
    let [b' ', d1 @ b'1'..=b'5', d2 @ b'0'..=b'9', d3 @ b'0'..=b'9', reason @ ..] = rest else {
        return Err(HeadError::StatusLine);
    };
    if !matches!(reason.first(), None | Some(b' ')) {
        return Err(HeadError::StatusLine);
    }
    if reason.iter().any(|&b| is_control(b)) {
        return Err(HeadError::Control);
    }
    let status = [d1, d2, d3]
        .iter()
        .fold(0u16, |n, &&d| n * 10 + u16::from(d - b'0'));
    Ok((status, String::from_utf8_lossy(line).into_owned()))
}

/// `name: value`, the name a token right up to the colon.
fn field(line: &[u8]) -> Result<(String, Vec<u8>), HeadError> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(HeadError::Folded);
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HeadError::NoColon)?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(HeadError::FieldName);
    }
    if value.iter().any(|&b| is_control(b)) {
        return Err(HeadError::Control);
    }
    // No controls are left, so the only whitespace to trim is spaces and tabs.
    let name = String::from_utf8_lossy(name).into_owned();
    Ok((name, value.trim_ascii().to_vec()))
}

/// A byte no head may hold outside line ends: controls but tab, and DEL.
fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Why a field of a well-formed head is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// A field that may appear once appeared more often.
    Repeated(&'static str),
    /// `Content-Length` not a number, or repeated with different values: every value given.
    ContentLength(String),
    /// A transfer coding other than chunked: every value given.
    TransferCoding(String),
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::Repeated(name) => {
                write!(f, "bad response from the server: more than one {name}")
            }
            FieldError::ContentLength(v) => {
                write!(f, "bad response from the server: Content-Length '{v}'")
            }
            FieldError::TransferCoding(v) => write!(
                f,
                "unsupported Transfer-Encoding '{v}' (only chunked is understood)"
            ),
        }
    }
}

/// How the body's end is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`: exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the server closes.
    UntilClose,
}

/// The body's framing (RFC 9112 §6.3): chunked if `Transfer-Encoding` says so (it overrides
/// `Content-Length`), else `Content-Length` (repeats must agree), else until the close. Any
/// other transfer coding is refused.
pub fn framing(head: &Head) -> Result<Framing, FieldError> {
    if matches!(head.status, 204 | 304) {
        return Ok(Framing::Length(0));
    }
    let codings: Vec<&[u8]> = head
        .values("transfer-encoding")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .collect();
    match codings.as_slice() {
        [] => {}
        [chunked] if chunked.eq_ignore_ascii_case(b"chunked") => return Ok(Framing::Chunked),
        _ => {
            return Err(FieldError::TransferCoding(joined(
                head,
                "transfer-encoding",
            )))
        }
    }
    let mut length = None;
    for value in head
        .values("content-length")
        .flat_map(|v| v.split(|&b| b == b','))
    {
        let n = number(value.trim_ascii())
            .filter(|n| length.is_none_or(|l| l == *n))
            .ok_or_else(|| FieldError::ContentLength(joined(head, "content-length")))?;
        length = Some(n);
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

/// Every value of the fields named `name`, comma-joined, for messages.
fn joined(head: &Head, name: &str) -> String {
    let values: Vec<_> = head.values(name).map(String::from_utf8_lossy).collect();
    values.join(", ")
}

/// Decimal digits only, as a `u64`.
fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A `Content-Range` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes FIRST-LAST/TOTAL` (`TOTAL` may be `*`: unknown), with FIRST ≤ LAST < TOTAL.
    Bytes {
        first: u64,
        last: u64,
        total: Option<u64>,
    },
    /// `bytes */TOTAL`, in a 416: the range asked for is not within TOTAL bytes.
    Unsatisfied { total: u64 },
}

/// Parses a `Content-Range` value (RFC 9110 §14.4); `None` if malformed or inconsistent.
pub fn content_range(value: &[u8]) -> Option<ContentRange> {
    let (unit, rest) = value.split_at(value.iter().position(|&b| b == b' ')?);
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let rest = rest.trim_ascii_start();
    let slash = rest.iter().position(|&b| b == b'/')?;
    let (range, total) = (&rest[..slash], &rest[slash + 1..]);
    let total = match total {
        b"*" => None,
        digits => Some(number(digits)?),
    };
    if range == b"*" {
        return total.map(|total| ContentRange::Unsatisfied { total });
    }
    let dash = range.iter().position(|&b| b == b'-')?;
    let (first, last) = (number(&range[..dash])?, number(&range[dash + 1..])?);
    let fits = first <= last && total.is_none_or(|total| last < total);
    fits.then_some(ContentRange::Bytes { first, last, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head `text` holds, whole.
    fn head(text: &str) -> Head {
        match parse_head(text.as_bytes()) {
            Ok(Some((head, len))) => {
                assert_eq!(len, text.len(), "{text:?}");
                head
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn heads_real_servers_send_parse() {
        /// The head's text, its status and status line, its fields.
        type Case<'a> = (&'a str, u16, &'a str, &'a [(&'a str, &'a [u8])]);
        let cases: &[Case] = &[
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: nginx\r\n\r\n",
                200,
                "HTTP/1.1 200 OK",
                &[("Content-Length", b"5"), ("Server", b"nginx")],
            ),
            (
                "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.12.3\r\n\r\n",
                200,
                "HTTP/1.0 200 OK",
                &[("Server", b"SimpleHTTP/0.6 Python/3.12.3")],
            ),
            // Bare LFs, a missing reason, spaces and tabs around values, an empty value.
            (
                "HTTP/1.1 404\nX-A:\t a b \t\nX-Empty:\n\n",
                404,
                "HTTP/1.1 404",
                &[("X-A", b"a b"), ("X-Empty", b"")],
            ),
            ("HTTP/1.1 200 \r\n\r\n", 200, "HTTP/1.1 200 ", &[]),
            (
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\n\r\n",
                206,
                "HTTP/1.1 206 Partial Content",
                &[("Content-Range", b"bytes 5-9/10")],
            ),
            // A higher minor version, obs-text in a reason and a value.
            (
                "HTTP/1.9 200 \u{e9}t\u{e9}\r\nX: caf\u{e9}\r\n\r\n",
                200,
                "HTTP/1.9 200 \u{e9}t\u{e9}",
                &[("X", "caf\u{e9}".as_bytes())],
            ),
        ];
        for (text, status, line, fields) in cases {
            let got = head(text);
            assert_eq!(got.status, *status, "{text:?}");
            assert_eq!(got.status_line, *line, "{text:?}");
            let want: Vec<(String, Vec<u8>)> = fields
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_vec()))
                .collect();
            assert_eq!(got.fields, want, "{text:?}");
        }
    }

    #[test]
    fn every_prefix_of_a_valid_head_is_incomplete() {
        let text = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\n\r\nhello";
        let head_len = text.len() - 5;
        for end in 0..head_len {
            assert_eq!(parse_head(&text[..end]), Ok(None), "{end}");
        }
        for end in head_len..=text.len() {
            let (_, len) = parse_head(&text[..end]).unwrap().unwrap();
            assert_eq!(len, head_len);
        }
    }

    #[test]
    fn hostile_heads_are_refused_with_a_reason() {
        use HeadError::*;
        let huge_field = format!(
            "HTTP/1.1 200 OK\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_RESPONSE_HEAD)
        );
        let huge_unended = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(MAX_RESPONSE_HEAD));
        let cases: &[(&[u8], HeadError)] = &[
            (b"<html>", NotHttp),
            (b"hello\r\n\r\n", NotHttp),
            (b"\r\nHTTP/1.1 200 OK\r\n\r\n", NotHttp),
            (b"http/1.1 200 OK\r\n\r\n", NotHttp),
            (b"HTTP/2 200\r\n\r\n", StatusLine),
            (b"HTTP/2.0 200 OK\r\n\r\n", Version),
            (b"HTTP/0.9 200 OK\r\n\r\n", Version),
            (b"HTTP/1.1 20 OK\r\n\r\n", StatusLine),
            (b"HTTP/1.1 2000 OK\r\n\r\n", StatusLine),
            (b"HTTP/1.1 600 Odd\r\n\r\n", StatusLine),
            (b"HTTP/1.1 099 Odd\r\n\r\n", StatusLine),
            (b"HTTP/1.1  200 OK\r\n\r\n", StatusLine),
            (b"HTTP/1.1 200OK\r\n\r\n", StatusLine),
            (b"HTTP/1.1\r\n\r\n", StatusLine),
            (b"HTTP/1.1 200 O\x00K\r\n\r\n", Control),
            (b"HTTP/1.1 200 OK\r\n folded\r\n\r\n", Folded),
            (b"HTTP/1.1 200 OK\r\nX: a\r\n\tfolded\r\n\r\n", Folded),
            (b"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n", NoColon),
            (b"HTTP/1.1 200 OK\r\n: empty\r\n\r\n", FieldName),
            (b"HTTP/1.1 200 OK\r\nX : a\r\n\r\n", FieldName),
            (b"HTTP/1.1 200 OK\r\nX\x01: a\r\n\r\n", FieldName),
            (b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", Control),
            (b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", Control),
            (b"HTTP/1.1 200 OK\r\nX: a\r\r\n\r\n", Control),
            (b"HTTP/1.1 200 OK\r\nX: \x7f\r\n\r\n", Control),
            (huge_field.as_bytes(), TooLarge),
            (huge_unended.as_bytes(), TooLarge),
        ];
        for (input, want) in cases {
            let shown = String::from_utf8_lossy(&input[..input.len().min(60)]);
            assert_eq!(parse_head(input), Err(*want), "{shown:?}");
        }
    }

    #[test]
    fn the_framing_follows_rfc_9112() {
        use Framing::*;
        let cases: &[(&str, Option<Framing>)] = &[
            ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", Some(Length(10))),
            ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Some(Length(0))),
            ("HTTP/1.1 200 OK\r\n\r\n", Some(UntilClose)),
            ("HTTP/1.1 204 No Content\r\n\r\n", Some(Length(0))),
            ("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n", Some(Length(7))),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Some(Chunked)),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nContent-Length: 3\r\n\r\n", Some(Chunked)),
            ("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n", Some(Length(u64::MAX))),
            ("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n", None),
            ("HTTP/1.1 200 OK\r\nContent-Length: 7, 8\r\n\r\n", None),
            ("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n", None),
            ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", None),
            ("HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n", None),
            ("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", None),
            ("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", None),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", None),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", None),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", None),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(framing(&head(text)).ok(), *want, "{text:?}");
        }
    }

    #[test]
    fn content_ranges_parse_strictly() {
        use ContentRange::*;
        let bytes = |first, last, total| Some(Bytes { first, last, total });
        let cases: &[(&[u8], Option<ContentRange>)] = &[
            (b"bytes 0-9/10", bytes(0, 9, Some(10))),
            (b"bytes 5-9/100", bytes(5, 9, Some(100))),
            (b"BYTES 5-9/*", bytes(5, 9, None)),
            (b"bytes  5-9/10", bytes(5, 9, Some(10))),
            (b"bytes */10", Some(Unsatisfied { total: 10 })),
            (b"bytes */0", Some(Unsatisfied { total: 0 })),
            (b"bytes */*", None),
            (b"bytes 9-5/10", None),
            (b"bytes 5-10/10", None),
            (b"bytes 5-/10", None),
            (b"bytes -5/10", None),
            (b"bytes 5-9", None),
            (b"bytes=5-9/10", None),
            (b"items 5-9/10", None),
            (b"bytes 5-9/10x", None),
            (b"bytes 0x5-9/10", None),
            (b"bytes 5-9/99999999999999999999", None),
            (b"", None),
        ];
        for (value, want) in cases {
            assert_eq!(
                content_range(value),
                *want,
                "{}",
                String::from_utf8_lossy(value)
            );
        }
    }
}
