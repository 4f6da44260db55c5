//! Hostile and malformed request heads, each with what the server must make of it.
//!
//! One table for two users: `request.rs`'s unit tests run every row through the parser (and
//! the target decoder), and an integration test can send every row over a socket by including
//! this very file: `#[path = "../src/http/hostile.rs"] mod hostile;`. It therefore names nothing
//! from the crate. Fault rows name the `request::Error` variant (its `Debug` form) beside the
//! status, so the unit test pins the exact fault while a socket test checks the status.

#![allow(dead_code)]

/// What a head must come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A whole, valid head with GET or HEAD and a good target: served (200, 404... by the file).
    Complete,
    /// Not a whole head yet: the server waits for more (and at the request timeout, 408).
    Partial,
    /// Refused by the parser: this status, then the connection closes. The `&str` is the
    /// `request::Error` variant.
    Fault(u16, &'static str),
    /// Parses, but the method is not GET or HEAD: 405 with `Allow: GET, HEAD`, then the
    /// connection closes. The method is judged before the target (so `OPTIONS *` is 405, not
    /// 400), and before a body (405, not 413).
    NotAllowed,
    /// Parses with GET or HEAD, but `target::decode` refuses the target: 400.
    BadTarget,
}

/// One row.
#[derive(Debug, Clone)]
pub struct Case {
    /// What the row tries.
    pub name: &'static str,
    /// The bytes a client sends, all at once.
    pub bytes: Vec<u8>,
    /// What the server must make of them.
    pub expect: Expect,
}

/// The longest request line allowed, and the header section's limits, as in `request.rs`.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// See [`MAX_REQUEST_LINE`].
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// See [`MAX_REQUEST_LINE`].
pub const MAX_HEADERS: usize = 100;

/// Every row.
pub fn cases() -> Vec<Case> {
    use Expect::*;
    fn row(name: &'static str, bytes: impl Into<Vec<u8>>, expect: Expect) -> Case {
        Case {
            name,
            bytes: bytes.into(),
            expect,
        }
    }
    // "GET " + target + " HTTP/1.1" is `target.len() + 13` bytes of request line.
    let line_of = |len: usize| {
        let target = format!("/{}", "a".repeat(len - 14));
        format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n")
    };
    // A header section of exactly `len` bytes (field lines with their CRLFs, not the final one).
    let fields_of = |len: usize| {
        let value = "v".repeat(len - 9 - 5);
        format!("GET / HTTP/1.1\r\nHost: a\r\nX: {value}\r\n\r\n")
    };
    let many_fields = |n: usize| {
        let mut head = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 1..n {
            head.push_str(&format!("X-{i}: {i}\r\n"));
        }
        head + "\r\n"
    };
    let with = |fields: &str| format!("GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n");
    let get = |line: &str| format!("{line}\r\nHost: a\r\n\r\n");

    vec![
        // Served.
        row(
            "a plain GET",
            "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
            Complete,
        ),
        row(
            "HEAD on HTTP/1.0 without Host",
            "HEAD /a.txt HTTP/1.0\r\n\r\n",
            Complete,
        ),
        row("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", Complete),
        row(
            "Host with a port",
            "GET / HTTP/1.1\r\nhost: [::1]:8081\r\n\r\n",
            Complete,
        ),
        row(
            "query string",
            get("GET /a.txt?x=1&y=%zz HTTP/1.1"),
            Complete,
        ),
        row(
            "request line of exactly 8 KiB",
            line_of(MAX_REQUEST_LINE),
            Complete,
        ),
        row(
            "header section of exactly 16 KiB",
            fields_of(MAX_HEADER_BYTES),
            Complete,
        ),
        row("100 fields", many_fields(MAX_HEADERS), Complete),
        row("Content-Length: 0", with("Content-Length: 0\r\n"), Complete),
        row(
            "Content-Length with OWS",
            with("Content-Length: \t0 \r\n"),
            Complete,
        ),
        row(
            "Content-Length: 000",
            with("Content-Length: 000\r\n"),
            Complete,
        ),
        row("obs-text in a value", with("X: caf\u{e9}\r\n"), Complete),
        row("tab inside a value", with("X: a\tb\r\n"), Complete),
        row("empty value", with("X:\r\n"), Complete),
        row(
            "leading empty line",
            "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Complete,
        ),
        row("HTTP/1.2 is read as 1.1", get("GET / HTTP/1.2"), Complete),
        row(
            "two pipelined requests",
            "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
            Complete,
        ),
        // Parsed, then refused by the service.
        row("lowercase get", get("get / HTTP/1.1"), NotAllowed),
        row(
            "POST with no body",
            with("Content-Length: 0\r\n").replace("GET", "POST"),
            NotAllowed,
        ),
        row("unknown method", get("BREW /pot HTTP/1.1"), NotAllowed),
        row("OPTIONS *", get("OPTIONS * HTTP/1.1"), NotAllowed),
        row("* target with GET", get("GET * HTTP/1.1"), BadTarget),
        // RFC 9112 §3.2.2: a server must accept the absolute form; its path is served.
        row(
            "absolute-form target",
            get("GET http://example.com/a HTTP/1.1"),
            Complete,
        ),
        row(
            "absolute-form target, another scheme",
            get("GET ftp://example.com/a HTTP/1.1"),
            BadTarget,
        ),
        row(
            "authority-form target",
            get("GET example.com:80 HTTP/1.1"),
            BadTarget,
        ),
        row("bad percent-escape", get("GET /%zz HTTP/1.1"), BadTarget),
        row(
            "truncated percent-escape",
            get("GET /a%4 HTTP/1.1"),
            BadTarget,
        ),
        // Not whole yet.
        row("nothing", "", Partial),
        row("half a request line", "GET / HT", Partial),
        row("no empty line", "GET / HTTP/1.1\r\nHost: a\r\n", Partial),
        row(
            "final CR without its LF",
            "GET / HTTP/1.1\r\nHost: a\r\n\r",
            Partial,
        ),
        row(
            "long line, under the limit",
            format!("GET /{}", "a".repeat(8000)),
            Partial,
        ),
        // Limits.
        row(
            "request line over 8 KiB, unfinished",
            format!("GET /{}", "a".repeat(MAX_REQUEST_LINE)),
            Fault(414, "RequestLineTooLong"),
        ),
        row(
            "request line of 8 KiB + 1",
            line_of(MAX_REQUEST_LINE + 1),
            Fault(414, "RequestLineTooLong"),
        ),
        row(
            "header section of 16 KiB + 1",
            fields_of(MAX_HEADER_BYTES + 1),
            Fault(431, "HeadersTooLarge"),
        ),
        row(
            "header section over 16 KiB, unfinished",
            format!("GET / HTTP/1.1\r\nX: {}", "v".repeat(MAX_HEADER_BYTES)),
            Fault(431, "HeadersTooLarge"),
        ),
        row(
            "101 fields",
            many_fields(MAX_HEADERS + 1),
            Fault(431, "TooManyHeaders"),
        ),
        // Versions.
        row(
            "HTTP/2.0",
            get("GET / HTTP/2.0"),
            Fault(505, "UnsupportedVersion"),
        ),
        row(
            "HTTP/3.0",
            get("GET / HTTP/3.0"),
            Fault(505, "UnsupportedVersion"),
        ),
        row(
            "HTTP/0.9 spelled out",
            get("GET / HTTP/0.9"),
            Fault(505, "UnsupportedVersion"),
        ),
        row(
            "HTTP/2 connection preface",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            Fault(505, "UnsupportedVersion"),
        ),
        row(
            "HTTP/0.9-style GET /",
            "GET /\r\n\r\n",
            Fault(400, "NoVersion"),
        ),
        row(
            "missing target",
            get("GET HTTP/1.1"),
            Fault(400, "NoVersion"),
        ),
        row(
            "lowercase version",
            get("GET / http/1.1"),
            Fault(400, "Version"),
        ),
        row(
            "two-digit minor",
            get("GET / HTTP/1.10"),
            Fault(400, "Version"),
        ),
        row(
            "two-digit major",
            get("GET / HTTP/11.1"),
            Fault(400, "Version"),
        ),
        row("no minor", get("GET / HTTP/1"), Fault(400, "Version")),
        row(
            "space after version",
            get("GET / HTTP/1.1 "),
            Fault(400, "Version"),
        ),
        // Request line shape.
        row(
            "two spaces after method",
            get("GET  / HTTP/1.1"),
            Fault(400, "RequestLine"),
        ),
        row(
            "two spaces before version",
            get("GET /  HTTP/1.1"),
            Fault(400, "Version"),
        ),
        row(
            "empty target",
            get("GET  HTTP/1.1"),
            Fault(400, "RequestLine"),
        ),
        row(
            "leading space",
            get(" GET / HTTP/1.1"),
            Fault(400, "Method"),
        ),
        row(
            "tab after method",
            get("GET\t/ HTTP/1.1"),
            Fault(400, "Method"),
        ),
        row(
            "tab after target",
            get("GET /\tHTTP/1.1"),
            Fault(400, "Target"),
        ),
        row(
            "non-token method",
            get("GE(T / HTTP/1.1"),
            Fault(400, "Method"),
        ),
        row(
            "TLS client hello",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
            Fault(400, "Method"),
        ),
        row(
            "UTF-8 in target",
            get("GET /caf\u{e9} HTTP/1.1"),
            Fault(400, "Target"),
        ),
        row(
            "control byte in target",
            get("GET /a\x01b HTTP/1.1"),
            Fault(400, "Target"),
        ),
        row(
            "DEL in target",
            get("GET /a\x7f HTTP/1.1"),
            Fault(400, "Target"),
        ),
        // Bodies.
        row(
            "Content-Length and Transfer-Encoding",
            with("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
            Fault(400, "ContentLengthAndTransferEncoding"),
        ),
        row(
            "Transfer-Encoding: chunked",
            with("Transfer-Encoding: chunked\r\n"),
            Fault(501, "TransferEncoding"),
        ),
        row(
            "Transfer-Encoding: identity",
            with("transfer-encoding: identity\r\n"),
            Fault(501, "TransferEncoding"),
        ),
        row(
            "Transfer-Encoding on HTTP/1.0",
            "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            Fault(501, "TransferEncoding"),
        ),
        row(
            "duplicate Content-Length",
            with("Content-Length: 0\r\nContent-Length: 0\r\n"),
            Fault(400, "DuplicateContentLength"),
        ),
        row(
            "conflicting Content-Length",
            with("Content-Length: 5\r\ncontent-length: 6\r\n"),
            Fault(400, "DuplicateContentLength"),
        ),
        row(
            "Content-Length list",
            with("Content-Length: 0, 0\r\n"),
            Fault(400, "ContentLength"),
        ),
        row(
            "Content-Length +0",
            with("Content-Length: +0\r\n"),
            Fault(400, "ContentLength"),
        ),
        row(
            "Content-Length -1",
            with("Content-Length: -1\r\n"),
            Fault(400, "ContentLength"),
        ),
        row(
            "Content-Length 1 0",
            with("Content-Length: 1 0\r\n"),
            Fault(400, "ContentLength"),
        ),
        row(
            "empty Content-Length",
            with("Content-Length:\r\n"),
            Fault(400, "ContentLength"),
        ),
        row(
            "hex Content-Length",
            with("Content-Length: 0x10\r\n"),
            Fault(400, "ContentLength"),
        ),
        row(
            "Content-Length: 5",
            with("Content-Length: 5\r\n"),
            Fault(413, "Body"),
        ),
        row(
            "Content-Length past u64",
            with("Content-Length: 99999999999999999999999999\r\n"),
            Fault(413, "Body"),
        ),
        // Field bytes.
        row(
            "NUL in a value",
            with("X: a\0b\r\n"),
            Fault(400, "HeaderValue"),
        ),
        row(
            "DEL in a value",
            with("X: a\x7f\r\n"),
            Fault(400, "HeaderValue"),
        ),
        row(
            "ESC in a value",
            with("X: \x1b[31m\r\n"),
            Fault(400, "HeaderValue"),
        ),
        row("no colon", with("Hosta\r\n"), Fault(400, "NoColon")),
        row(
            "space before colon",
            with("X : a\r\n"),
            Fault(400, "SpaceBeforeColon"),
        ),
        row(
            "tab before colon",
            with("X\t: a\r\n"),
            Fault(400, "SpaceBeforeColon"),
        ),
        row(
            "space inside a name",
            with("X Y: a\r\n"),
            Fault(400, "SpaceBeforeColon"),
        ),
        row("empty name", with(": a\r\n"), Fault(400, "EmptyHeaderName")),
        row(
            "parenthesis in a name",
            with("X(1): a\r\n"),
            Fault(400, "HeaderName"),
        ),
        row("@ in a name", with("X@Y: a\r\n"), Fault(400, "HeaderName")),
        row(
            "UTF-8 in a name",
            with("\u{e9}: a\r\n"),
            Fault(400, "HeaderName"),
        ),
        // Line endings.
        row(
            "bare LF ending the request line",
            "GET / HTTP/1.1\nHost: a\r\n\r\n",
            Fault(400, "BareLf"),
        ),
        row(
            "bare LF ending a field",
            "GET / HTTP/1.1\r\nHost: a\n\r\n",
            Fault(400, "BareLf"),
        ),
        row(
            "bare LF as the empty line",
            "GET / HTTP/1.1\r\nHost: a\r\n\n",
            Fault(400, "BareLf"),
        ),
        row(
            "all bare LFs",
            "GET / HTTP/1.1\nHost: a\n\n",
            Fault(400, "BareLf"),
        ),
        row(
            "leading bare LF",
            "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Fault(400, "BareLf"),
        ),
        row(
            "CR without LF in the request line",
            "GET / HTTP/1.1\rHost: a\r\n\r\n",
            Fault(400, "BareCr"),
        ),
        row(
            "CR without LF in a value",
            with("X: a\rb\r\n"),
            Fault(400, "BareCr"),
        ),
        row(
            "CR without LF at the end",
            "GET / HTTP/1.1\r\nHost: a\r\n\rX",
            Fault(400, "BareCr"),
        ),
        row("obs-fold", with("X: a\r\n b\r\n"), Fault(400, "ObsFold")),
        row(
            "obs-fold with a tab",
            with("X: a\r\n\tb\r\n"),
            Fault(400, "ObsFold"),
        ),
        row(
            "whitespace before the first field",
            "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
            Fault(400, "ObsFold"),
        ),
        // Host.
        row(
            "missing Host on HTTP/1.1",
            "GET / HTTP/1.1\r\n\r\n",
            Fault(400, "MissingHost"),
        ),
        row(
            "two Host fields",
            with("Host: b\r\n"),
            Fault(400, "DuplicateHost"),
        ),
        row(
            "Host with a slash",
            "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
            Fault(400, "Host"),
        ),
        row(
            "Host with a space",
            "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            Fault(400, "Host"),
        ),
        row(
            "Host with userinfo",
            "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
            Fault(400, "Host"),
        ),
    ]
}
