//! Response fields the operator adds to every HTTP response of the files service
//! (`--header 'Name: value'`, [`crate::Builder::header`]): CORS, `Cache-Control`, security
//! headers. Each is checked once at start ([`split`], [`Custom::new`]) and all are rendered
//! into one block of bytes that every response head carries ([`Custom::block`]), so a request
//! costs no allocation and no check.
//!
//! Refused, with the reason, as the operator's mistake: a name that is not an RFC 9110 token;
//! a value holding a CR, LF, NUL or another control byte (HTAB aside), which would let one
//! option write fields or a whole response of its own; an empty value; a field the server
//! writes itself ([`OWNED`]: framing, validators, and the rest it decides per response), which
//! would contradict it; a second `Access-Control-Allow-Origin` or a list in one (browsers take
//! one origin); more than [`MAX_BLOCK`] bytes in all.
//!
//! With `Access-Control-Allow-Origin` set, `OPTIONS` is answered (a CORS preflight: 204 with
//! the block), and, unless the origin is `*` or a `Vary` given already names `Origin`, the
//! block gains `Vary: Origin`, so that a cache does not give one origin's answer to another.

use std::fmt;
use std::sync::Arc;

use super::request::is_tchar;

/// Fields the server writes itself: refused as custom headers.
pub const OWNED: [&str; 16] = [
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Keep-Alive",
    "Upgrade",
    "Trailer",
    "Date",
    "Server",
    "Content-Type",
    // Which coding the body is in is the server's to say (`--precompressed`).
    "Content-Encoding",
    "Content-Range",
    "Accept-Ranges",
    "Last-Modified",
    "ETag",
    "Location",
    "Allow",
];

/// The most bytes all custom fields may take, as sent: every response head carries them.
pub const MAX_BLOCK: usize = 8 * 1024;

const ACAO: &str = "Access-Control-Allow-Origin";

/// The methods served with a preflight answered, for `Allow`.
pub const ALLOW_OPTIONS: &str = "GET, HEAD, OPTIONS";

/// Why a custom header is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// No colon between the name and the value (`Name: value` is the form).
    NoColon,
    /// The name is empty or holds a byte that is not a token character (a space included).
    Name,
    /// The value holds a CR, LF or NUL.
    LineBreak,
    /// The value holds another control byte.
    Control(u8),
    /// Nothing after the colon.
    Empty,
    /// A field the server writes itself.
    Owned(&'static str),
    /// `Access-Control-Allow-Origin` given twice, or with a list.
    OneOrigin,
    /// More than [`MAX_BLOCK`] bytes in all.
    TooLarge(usize),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::NoColon => f.write_str("not of the form 'Name: value'"),
            HeaderError::Name => {
                f.write_str("the name is not a token (letters, digits, !#$%&'*+-.^_`|~)")
            }
            HeaderError::LineBreak => f.write_str("the value holds a CR, LF or NUL"),
            HeaderError::Control(b) => write!(f, "the value holds the control byte 0x{b:02x}"),
            HeaderError::Empty => f.write_str("the value is empty"),
            HeaderError::Owned(name) => write!(f, "{name} is written by the server itself"),
            HeaderError::OneOrigin => {
                write!(f, "{ACAO} takes one origin (or *), given once")
            }
            HeaderError::TooLarge(n) => {
                write!(f, "{n} bytes of custom headers in all, at most {MAX_BLOCK}")
            }
        }
    }
}

impl std::error::Error for HeaderError {}

/// `Name: value` as given on the command line, split at its first colon and checked: the name
/// and the value with its surrounding spaces and tabs trimmed.
pub fn split(line: &str) -> Result<(&str, &str), HeaderError> {
    let (name, value) = line.split_once(':').ok_or(HeaderError::NoColon)?;
    check(name, value)
}

/// One field checked: the name, and the value trimmed of surrounding spaces and tabs.
pub fn check<'a>(name: &'a str, value: &'a str) -> Result<(&'a str, &'a str), HeaderError> {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(HeaderError::Name);
    }
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    for b in value.bytes() {
        match b {
            b'\r' | b'\n' | 0 => return Err(HeaderError::LineBreak),
            b'\t' => {}
            0..=0x1f | 0x7f => return Err(HeaderError::Control(b)),
            _ => {}
        }
    }
    if value.is_empty() {
        return Err(HeaderError::Empty);
    }
    if let Some(owned) = OWNED.iter().find(|o| o.eq_ignore_ascii_case(name)) {
        return Err(HeaderError::Owned(owned));
    }
    Ok((name, value))
}

/// The custom fields, checked and rendered; cheap to clone (the block is shared).
#[derive(Debug, Clone)]
pub struct Custom {
    /// Every field as sent, `Name: value\r\n` each.
    block: Arc<[u8]>,
    /// `Access-Control-Allow-Origin` is set: `OPTIONS` is answered.
    preflight: bool,
    /// A `Cache-Control` is among the fields: the server writes none of its own beside it.
    cache_control: bool,
}

impl Default for Custom {
    fn default() -> Custom {
        Custom {
            block: Arc::from(&b""[..]),
            preflight: false,
            cache_control: false,
        }
    }
}

impl Custom {
    /// The fields `(name, value)` in the order given, checked as [`check`] does and as a set.
    pub fn new(fields: &[(String, String)]) -> Result<Custom, HeaderError> {
        let mut block = Vec::new();
        let (mut origin, mut vary_origin) = (None, false);
        for (name, value) in fields {
            let (name, value) = check(name, value)?;
            if name.eq_ignore_ascii_case(ACAO) {
                if origin.is_some() || value.contains(',') {
                    return Err(HeaderError::OneOrigin);
                }
                origin = Some(value);
            }
            if name.eq_ignore_ascii_case("Vary") {
                vary_origin |= value
                    .split(',')
                    .any(|v| matches!(v.trim(), "*") || v.trim().eq_ignore_ascii_case("origin"));
            }
            for part in [name, ": ", value, "\r\n"] {
                block.extend_from_slice(part.as_bytes());
            }
        }
        if origin.is_some_and(|o| o != "*") && !vary_origin {
            block.extend_from_slice(b"Vary: Origin\r\n");
        }
        if block.len() > MAX_BLOCK {
            return Err(HeaderError::TooLarge(block.len()));
        }
        Ok(Custom {
            block: block.into(),
            preflight: origin.is_some(),
            cache_control: fields
                .iter()
                .any(|(name, _)| name.trim().eq_ignore_ascii_case("Cache-Control")),
        })
    }

    /// Every field as sent, each ending in CRLF; empty when none is set.
    pub fn block(&self) -> &[u8] {
        &self.block
    }

    /// Whether `OPTIONS` is answered with 204 (a CORS preflight), not 405.
    pub fn preflight(&self) -> bool {
        self.preflight
    }

    /// Whether the operator set `Cache-Control`, which then stands alone.
    pub fn cache_control(&self) -> bool {
        self.cache_control
    }

    /// The methods served, for `Allow`.
    pub fn allow(&self) -> &'static str {
        match self.preflight {
            true => ALLOW_OPTIONS,
            false => super::response::ALLOW,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_and_trim() {
        // (line, name, value)
        let cases: &[(&str, &str, &str)] = &[
            ("X-A: b", "X-A", "b"),
            ("X-A:b", "X-A", "b"),
            ("X-A: \t b c \t", "X-A", "b c"),
            (
                "Cache-Control: max-age=60, public",
                "Cache-Control",
                "max-age=60, public",
            ),
            ("X-A: a:b", "X-A", "a:b"),
            ("X-A: tab\there", "X-A", "tab\there"),
            ("X-A: caf\u{e9}", "X-A", "caf\u{e9}"),
            ("!#$%&'*+-.^_`|~09az: v", "!#$%&'*+-.^_`|~09az", "v"),
        ];
        for (line, name, value) in cases {
            assert_eq!(split(line), Ok((*name, *value)), "{line:?}");
        }
    }

    /// Hostile rows: each is refused, with its reason.
    #[test]
    fn hostile_lines_are_refused() {
        use HeaderError::*;
        let cases: &[(&str, HeaderError)] = &[
            ("X-A: b\r\nSet-Cookie: x=1", LineBreak),
            ("X-A: b\r\n\r\nHTTP/1.1 200 OK", LineBreak),
            ("X-A: b\r", LineBreak),
            ("X-A: b\nc", LineBreak),
            ("X-A: b\0c", LineBreak),
            ("X-A: \x7f", Control(0x7f)),
            ("X-A: a\x0bb", Control(0x0b)),
            ("X-A: a\x1bb", Control(0x1b)),
            ("X-A\r\nY: b", Name),
            ("X A: b", Name),
            ("X-A : b", Name),
            (" X-A: b", Name),
            ("\tX-A: b", Name),
            (": b", Name),
            ("X(A): b", Name),
            ("X\"A: b", Name),
            ("X/A: b", Name),
            ("caf\u{e9}: b", Name),
            ("X-A", NoColon),
            ("", NoColon),
            ("X-A:", Empty),
            ("X-A:  \t ", Empty),
            ("Content-Length: 0", Owned("Content-Length")),
            ("transfer-encoding: chunked", Owned("Transfer-Encoding")),
            ("CONNECTION: close", Owned("Connection")),
            ("Date: now", Owned("Date")),
            ("Content-Type: text/html", Owned("Content-Type")),
            ("Content-Range: bytes */0", Owned("Content-Range")),
            ("Server: other", Owned("Server")),
        ];
        for (line, want) in cases {
            assert_eq!(split(line), Err(want.clone()), "{line:?}");
        }
    }

    fn custom(lines: &[&str]) -> Result<Custom, HeaderError> {
        let fields: Vec<(String, String)> = lines
            .iter()
            .map(|l| split(l).unwrap())
            .map(|(n, v)| (n.into(), v.into()))
            .collect();
        Custom::new(&fields)
    }

    #[test]
    fn blocks_and_preflight() {
        // (fields, block, preflight)
        let cases: &[(&[&str], &str, bool)] = &[
            (&[], "", false),
            (&["X-A: 1", "x-a: 2"], "X-A: 1\r\nx-a: 2\r\n", false),
            (
                &["Access-Control-Allow-Origin: *"],
                "Access-Control-Allow-Origin: *\r\n",
                true,
            ),
            (
                &["access-control-allow-origin: https://a.example"],
                "access-control-allow-origin: https://a.example\r\nVary: Origin\r\n",
                true,
            ),
            (
                &["Access-Control-Allow-Origin: null", "Vary: accept-encoding, ORIGIN"],
                "Access-Control-Allow-Origin: null\r\nVary: accept-encoding, ORIGIN\r\n",
                true,
            ),
            (
                &["Vary: *", "Access-Control-Allow-Origin: https://a.example"],
                "Vary: *\r\nAccess-Control-Allow-Origin: https://a.example\r\n",
                true,
            ),
            (
                &["Vary: Accept", "Access-Control-Allow-Origin: https://a.example"],
                "Vary: Accept\r\nAccess-Control-Allow-Origin: https://a.example\r\nVary: Origin\r\n",
                true,
            ),
        ];
        for (lines, block, preflight) in cases {
            let got = custom(lines).unwrap();
            assert_eq!(String::from_utf8_lossy(got.block()), *block, "{lines:?}");
            assert_eq!(got.preflight(), *preflight, "{lines:?}");
        }
        assert_eq!(Custom::default().block(), b"");
        assert_eq!(
            custom(&["Access-Control-Allow-Origin: *"]).unwrap().allow(),
            ALLOW_OPTIONS
        );
        assert_eq!(Custom::default().allow(), "GET, HEAD");
    }

    #[test]
    fn hostile_sets_are_refused() {
        use HeaderError::*;
        let big = format!("X-Big: {}", "a".repeat(MAX_BLOCK));
        let cases: &[(&[&str], HeaderError)] = &[
            (
                &[
                    "Access-Control-Allow-Origin: *",
                    "Access-Control-Allow-Origin: *",
                ],
                OneOrigin,
            ),
            (
                &["Access-Control-Allow-Origin: https://a.example, https://b.example"],
                OneOrigin,
            ),
            (&[&big], TooLarge(MAX_BLOCK + 9)),
        ];
        for (lines, want) in cases {
            assert_eq!(custom(lines).unwrap_err(), *want, "{lines:?}");
        }
        // The builder's path: name and value given apart are checked the same way.
        let fields = [("X-A".into(), "b\r\nSet-Cookie: x".into())];
        assert_eq!(Custom::new(&fields).unwrap_err(), LineBreak);
        let fields = [("X-A\r\nY".into(), "b".into())];
        assert_eq!(Custom::new(&fields).unwrap_err(), Name);
    }
}
