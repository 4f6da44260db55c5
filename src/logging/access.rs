//! The access log: one line per request, raw or HTTP, in the format the operator chose.
//!
//! A service fills an [`Access`] (borrowing what it already holds: nothing is copied or
//! allocated) and hands it to [`record`], which goes through the `log` facade under the target
//! [`TARGET`], so an embedding program's own logger receives it like any other record, and the
//! server's logger sends it to `--access-log`. Every format writes client bytes through
//! [`Escaped`], so one request is always one line.

use std::cell::Cell;
use std::fmt::{self, Display};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use super::escape::{Escaped, EscapedText, JsonText};
use crate::http::date;

/// The `log` target of access lines.
pub const TARGET: &str = "tcpserve::access";

/// How much of a name or request line a line shows; longer ones end in `...`.
pub const SHOWN: usize = 256;

/// The access log's line format (`--access-log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The common log format, a refusal's reason quoted after it.
    #[default]
    Common,
    /// The common format plus the quoted `Referer` and `User-Agent`.
    Combined,
    /// One JSON object per line (RFC 8259), every key always present.
    Json,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Common, Format::Combined, Format::Json];

    pub fn name(self) -> &'static str {
        match self {
            Format::Common => "common",
            Format::Combined => "combined",
            Format::Json => "json",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether lines show request header fields, which a service then has to look up.
    pub fn shows_fields(self) -> bool {
        self != Format::Common
    }
}

/// What was asked for.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    /// A raw-protocol name, as received.
    Raw(&'a [u8]),
    /// An HTTP request line, as received (without its line end).
    Http(&'a [u8]),
}

/// One request, as the access log sees it.
pub struct Access<'a> {
    pub time: SystemTime,
    pub peer: SocketAddr,
    pub request: Request<'a>,
    /// The HTTP status; `None` for the raw protocol, which has none.
    pub status: Option<u16>,
    /// Body bytes sent.
    pub bytes: u64,
    /// Request received to response sent (or cut short).
    pub duration: Duration,
    /// Header fields, when the format shows them and the request had them.
    pub fields: Fields<'a>,
    /// Why the request was refused or its response cut short; `None` for a plain success.
    pub reason: Option<&'a dyn fmt::Display>,
}

/// The request header fields an access line may show, as sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields<'a> {
    pub referer: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    pub range: Option<&'a [u8]>,
}

/// Whether an access line at `level` would be written anywhere: ask before gathering one.
pub fn enabled(level: log::Level) -> bool {
    log::log_enabled!(target: TARGET, level)
}

/// Logs `access` in `format` at `level` (a warning when the server failed the client).
pub fn record(level: log::Level, format: Format, access: &Access) {
    log::log!(target: TARGET, level, "{}", Line { format, access });
}

/// An access line in a format: formatted straight into the logger's buffer.
struct Line<'a> {
    format: Format,
    access: &'a Access<'a>,
}

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.format {
            Format::Common => common(f, self.access, false),
            Format::Combined => common(f, self.access, true),
            Format::Json => json(f, self.access),
        }
    }
}

/// `HOST - - [TIME] "REQUEST" STATUS BYTES`, then for combined `"REFERER" "AGENT"`, then the
/// quoted reason, if any. The raw protocol's status is `-`. Written piece by piece, without
/// `format_args!` for the parts every line has: this runs once per request on the serving
/// thread.
fn common(f: &mut fmt::Formatter<'_>, a: &Access, combined: bool) -> fmt::Result {
    let time = clf_time(a.time);
    let request = match a.request {
        Request::Raw(bytes) | Request::Http(bytes) => Shown(bytes),
    };
    Host(a.peer.ip()).fmt(f)?;
    f.write_str(" - - [")?;
    f.write_str(std::str::from_utf8(&time).unwrap_or("-"))?;
    f.write_str("] \"")?;
    request.fmt(f)?;
    f.write_str("\" ")?;
    match a.status {
        Some(status) => Number(status.into()).fmt(f)?,
        None => f.write_str("-")?,
    }
    f.write_str(" ")?;
    match a.bytes {
        0 => f.write_str("-")?,
        n => Number(n).fmt(f)?,
    }
    if combined {
        write!(
            f,
            " \"{}\" \"{}\"",
            Or(a.fields.referer.map(Shown)),
            Or(a.fields.user_agent.map(Shown))
        )?;
    }
    if let Some(reason) = a.reason {
        write!(f, " \"{}\"", EscapedText(reason))?;
    }
    Ok(())
}

/// The time of a common-log-format line, formatted once a second per thread.
fn clf_time(t: SystemTime) -> [u8; date::CLF_LEN] {
    thread_local! {
        static LAST: Cell<(i64, [u8; date::CLF_LEN])> =
            const { Cell::new((i64::MIN, [0; date::CLF_LEN])) };
    }
    let secs = date::unix_seconds(t);
    LAST.try_with(|last| match last.get() {
        (at, text) if at == secs => text,
        _ => {
            let text = date::format_clf_unix(secs);
            last.set((secs, text));
            text
        }
    })
    .unwrap_or_else(|_| date::format_clf_unix(secs))
}

/// A client's address as the host field: IPv4 written by hand (the usual case, and
/// `Ipv4Addr`'s `Display` costs several times more), IPv6 as std writes it.
struct Host(IpAddr);

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let IpAddr::V4(v4) = self.0 else {
            return self.0.fmt(f);
        };
        let mut buf = [0u8; 15];
        let mut len = 0;
        for (i, octet) in v4.octets().into_iter().enumerate() {
            if i > 0 {
                buf[len] = b'.';
                len += 1;
            }
            let mut scratch = [0u8; 20];
            let octet = digits(octet.into(), &mut scratch).as_bytes();
            buf[len..len + octet.len()].copy_from_slice(octet);
            len += octet.len();
        }
        f.write_str(ascii(&buf[..len]))
    }
}

/// A whole number, in decimal, without the formatting machinery.
struct Number(u64);

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(digits(self.0, &mut [0u8; 20]))
    }
}

/// Digits and dots as a `str`, without checking them again.
fn ascii(bytes: &[u8]) -> &str {
    debug_assert!(bytes.is_ascii());
    // SAFETY: only `digits` and `Host` call this, with ASCII digits and dots: valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

/// `n` in decimal, written at the end of `buf`.
fn digits(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return ascii(&buf[i..]);
        }
    }
}

/// Every key, always, `null` where a request has no such thing.
fn json(f: &mut fmt::Formatter<'_>, a: &Access) -> fmt::Result {
    let time = date::format_rfc3339_millis(a.time);
    let time = std::str::from_utf8(&time).unwrap_or("-");
    let (protocol, method, target, version) = match a.request {
        Request::Raw(name) => ("raw", None, Some(name), None),
        Request::Http(line) => {
            let mut parts = line.splitn(3, |&b| b == b' ');
            (
                "http",
                parts.next(),
                parts.next(),
                parts.next().filter(|v| !v.is_empty()),
            )
        }
    };
    fn s(v: Option<&[u8]>) -> JsonOr<Shown<'_>> {
        JsonOr(v.map(Shown))
    }
    write!(
        f,
        "{{\"time\":\"{time}\",\"client\":\"{}\",\"port\":{},\"protocol\":\"{protocol}\",\
         \"method\":{},\"target\":{},\"version\":{},\"status\":{},\"bytes\":{},\
         \"duration_us\":{},\"range\":{},\"referer\":{},\"user_agent\":{},\"reason\":{}}}",
        a.peer.ip(),
        a.peer.port(),
        s(method),
        s(target),
        s(version),
        OrNull(&a.status),
        a.bytes,
        a.duration.as_micros(),
        s(a.fields.range),
        s(a.fields.referer),
        s(a.fields.user_agent),
        JsonOr(a.reason),
    )
}

/// Client bytes as a line shows them: escaped, and at most [`SHOWN`] bytes of them.
struct Shown<'a>(&'a [u8]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0;
        write!(f, "{}", Escaped(&bytes[..bytes.len().min(SHOWN)]))?;
        if bytes.len() > SHOWN {
            f.write_str("...")?;
        }
        Ok(())
    }
}

/// A value, or `-` as the common log format writes a missing one.
struct Or<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for Or<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// A value, or JSON's `null`.
struct OrNull<'a, T>(&'a Option<T>);

impl<T: fmt::Display> fmt::Display for OrNull<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("null"),
        }
    }
}

/// A JSON string, or `null`.
struct JsonOr<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for JsonOr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => write!(f, "\"{}\"", JsonText(v)),
            None => f.write_str("null"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::date::from_unix_seconds;

    fn line(format: Format, access: &Access) -> String {
        Line { format, access }.to_string()
    }

    fn sample<'a>(request: Request<'a>, reason: Option<&'a dyn fmt::Display>) -> Access<'a> {
        Access {
            time: from_unix_seconds(784_111_777) + Duration::from_millis(5),
            peer: "127.0.0.1:4242".parse().unwrap(),
            request,
            status: match request {
                Request::Raw(_) => None,
                Request::Http(_) => Some(404),
            },
            bytes: 14,
            duration: Duration::from_micros(1234),
            fields: Fields::default(),
            reason,
        }
    }

    #[test]
    fn common_and_combined_lines() {
        let why: &dyn fmt::Display = &"not found";
        let http = sample(Request::Http(b"GET /a\"b HTTP/1.1"), Some(why));
        assert_eq!(
            line(Format::Common, &http),
            "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /a\\x22b HTTP/1.1\" 404 14 \
             \"not found\""
        );
        let raw = Access {
            bytes: 0,
            ..sample(Request::Raw(b"x\ny"), None)
        };
        assert_eq!(
            line(Format::Common, &raw),
            "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"x\\x0ay\" - -"
        );
        let with_fields = Access {
            fields: Fields {
                referer: None,
                user_agent: Some(b"curl/8 \"x\""),
                range: None,
            },
            ..sample(Request::Http(b"GET / HTTP/1.1"), None)
        };
        assert_eq!(
            line(Format::Combined, &with_fields),
            "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET / HTTP/1.1\" 404 14 \"-\" \
             \"curl/8 \\x22x\\x22\""
        );
    }

    #[test]
    fn hosts_and_numbers_by_hand() {
        let hosts = [
            "0.0.0.0",
            "127.0.0.1",
            "255.255.255.255",
            "10.20.3.4",
            "::1",
            "fe80::1",
        ];
        for host in hosts {
            let ip: IpAddr = host.parse().unwrap();
            assert_eq!(Host(ip).to_string(), ip.to_string());
        }
        for n in [0, 7, 10, 404, 65_535, 1 << 40, u64::MAX] {
            assert_eq!(Number(n).to_string(), n.to_string());
        }
    }

    #[test]
    fn a_reason_is_escaped_too() {
        let why: &dyn fmt::Display = &"a \"quoted\"\nreason";
        let got = line(Format::Common, &sample(Request::Raw(b"x"), Some(why)));
        assert!(got.ends_with(" \"a \\x22quoted\\x22\\x0areason\""), "{got}");
    }

    #[test]
    fn long_requests_are_shortened() {
        let long = vec![b'a'; SHOWN + 10];
        let got = line(Format::Common, &sample(Request::Raw(&long), None));
        let want = format!("\"{}...\"", "a".repeat(SHOWN));
        assert!(got.contains(&want), "{got}");
    }

    #[test]
    fn json_lines_hold_every_key() {
        let why: &dyn fmt::Display = &"not found";
        let http = Access {
            fields: Fields {
                referer: Some(b"http://r/"),
                user_agent: Some("a\u{2028}b".as_bytes()),
                range: Some(b"bytes=0-1"),
            },
            ..sample(Request::Http(b"GET /x HTTP/1.1"), Some(why))
        };
        assert_eq!(
            line(Format::Json, &http),
            "{\"time\":\"1994-11-06T08:49:37.005Z\",\"client\":\"127.0.0.1\",\"port\":4242,\
             \"protocol\":\"http\",\"method\":\"GET\",\"target\":\"/x\",\
             \"version\":\"HTTP/1.1\",\"status\":404,\"bytes\":14,\"duration_us\":1234,\
             \"range\":\"bytes=0-1\",\"referer\":\"http://r/\",\
             \"user_agent\":\"a\\\\xe2\\\\x80\\\\xa8b\",\"reason\":\"not found\"}"
        );
        let raw = sample(Request::Raw(b"a\"b\\"), None);
        assert_eq!(
            line(Format::Json, &raw),
            "{\"time\":\"1994-11-06T08:49:37.005Z\",\"client\":\"127.0.0.1\",\"port\":4242,\
             \"protocol\":\"raw\",\"method\":null,\"target\":\"a\\\\x22b\\\\x5c\",\
             \"version\":null,\"status\":null,\"bytes\":14,\"duration_us\":1234,\
             \"range\":null,\"referer\":null,\"user_agent\":null,\"reason\":null}"
        );
        // A request line without a version (answered 400) has none.
        let bare = line(Format::Json, &sample(Request::Http(b"GET /"), None));
        assert!(bare.contains("\"target\":\"/\",\"version\":null"), "{bare}");
    }
}
