//! The URL `tcpserve get` takes: `http://host[:port][/path][?query][#fragment]`, checked, and
//! the request it makes. The path is sent as written (already percent-encoded), after checking
//! with [`crate::http::target::decode`] that it could be; the file name is its last segment,
//! decoded ([`file_name`], which the raw mode's names go through too).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::net::Ipv6Addr;
use std::os::unix::ffi::OsStrExt;

use crate::http::target;

/// An `http://` URL, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The host as written: a name, an IPv4 literal, or an IPv6 literal in brackets.
    pub host: String,
    /// The port; 80 unless the URL gives one.
    pub port: u16,
    /// The path and query exactly as written (percent-encoded), without the fragment; `/`
    /// when the URL has no path.
    pub target: String,
}

/// Why a URL cannot be fetched: a bad command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// Not `http://`; the scheme given.
    Scheme(String),
    /// `https://`: there is no TLS here.
    Https,
    /// Nothing between `http://` and the path.
    NoHost,
    /// `user:password@` before the host.
    UserInfo,
    /// Not a host name, an IPv4 literal or a bracketed IPv6 literal.
    Host(String),
    /// Not a port from 1 to 65535.
    Port(String),
    /// A byte that cannot go into a request line: a space, a control, non-ASCII.
    Byte,
    /// A `%` in the path not followed by two hexadecimal digits.
    Escape,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Scheme(s) => write!(f, "only http:// URLs are supported, not {s}://"),
            UrlError::Https => f.write_str("https:// is not supported (no TLS): use http://"),
            UrlError::NoHost => f.write_str("no host in the URL"),
            UrlError::UserInfo => f.write_str("user names and passwords in URLs are not supported"),
            UrlError::Host(h) => write!(
                f,
                "'{h}' is not a host name or an IP address (IPv6 goes in brackets)"
            ),
            UrlError::Port(p) => write!(f, "'{p}' is not a port (1 to 65535)"),
            UrlError::Byte => f.write_str(
                "the URL has a space, a control or a non-ASCII character: percent-encode it",
            ),
            UrlError::Escape => {
                f.write_str("the URL's path has a '%' not followed by two hex digits")
            }
        }
    }
}

impl Url {
    /// Parses `http://host[:port][/path][?query][#fragment]`. The scheme is case-insensitive;
    /// the fragment is dropped; the path is kept as written, after checking it could be sent.
    pub fn parse(url: &str) -> Result<Url, UrlError> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(UrlError::Scheme(String::new()));
        };
        if scheme.eq_ignore_ascii_case("https") {
            return Err(UrlError::Https);
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(UrlError::Scheme(scheme.to_string()));
        }
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (authority, target) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        if authority.is_empty() {
            return Err(UrlError::NoHost);
        }
        let (host, port) = host_and_port(authority)?;
        let target = match target {
            "" => "/".to_string(),
            query if query.starts_with('?') => format!("/{query}"),
            path => path.to_string(),
        };
        let mut scratch = vec![0u8; target.len()];
        target::decode(target.as_bytes(), &mut scratch).map_err(|e| match e {
            target::TargetError::Escape => UrlError::Escape,
            _ => UrlError::Byte,
        })?;
        Ok(Url {
            host: host.to_string(),
            port,
            target,
        })
    }

    /// `host:port`, for connecting.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The `Host` field's value: the host, and the port unless it is 80.
    pub fn authority(&self) -> String {
        match self.port {
            80 => self.host.clone(),
            port => format!("{}:{port}", self.host),
        }
    }

    /// The last segment of the path, percent-decoded, if it can name a file (see
    /// [`file_name`]): `None` for `/`, `/dir/`, `/..`, `/a%2Fb`, `/%00`.
    pub fn file_name(&self) -> Option<OsString> {
        let path = target::path_part(self.target.as_bytes());
        // From the last slash on, so that `decode` sees a target and an encoded slash in the
        // segment stays inside it.
        let last = &path[path.iter().rposition(|&b| b == b'/').unwrap_or(0)..];
        let mut scratch = vec![0u8; last.len()];
        let decoded = target::decode(last, &mut scratch).ok()?;
        file_name(decoded.get(1..)?).map(|name| name.to_os_string())
    }
}

/// `segment` as a file name, if it can be one: not empty, `.` or `..`, and without `/` or NUL.
pub fn file_name(segment: &[u8]) -> Option<&OsStr> {
    let usable = !matches!(segment, b"" | b"." | b"..") && !segment.contains(&b'/');
    (usable && !segment.contains(&0)).then(|| OsStr::from_bytes(segment))
}

/// Splits `host[:port]` (`[v6]:port` for IPv6) and checks both.
fn host_and_port(authority: &str) -> Result<(&str, u16), UrlError> {
    let bad_host = || UrlError::Host(authority.to_string());
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let (inside, _) = rest.split_once(']').ok_or_else(bad_host)?;
            inside.parse::<Ipv6Addr>().map_err(|_| bad_host())?;
            authority.split_at(inside.len() + 2)
        }
        None => authority.split_at(authority.find(':').unwrap_or(authority.len())),
    };
    let name_byte = |b: u8| b.is_ascii_alphanumeric() || b"-._".contains(&b);
    if !host.starts_with('[') && (host.is_empty() || !host.bytes().all(name_byte)) {
        return Err(bad_host());
    }
    let port = match port {
        // An empty port is the default one (RFC 3986 §3.2.3).
        "" | ":" => 80,
        _ => port
            .strip_prefix(':')
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|&p| p != 0)
            .ok_or_else(|| UrlError::Port(port.trim_start_matches(':').to_string()))?,
    };
    Ok((host, port))
}

/// The request for `url`, from byte `from` of the file on (a `Range` when not 0).
pub fn request(url: &Url, from: u64) -> String {
    let range = if from > 0 {
        format!("Range: bytes={from}-\r\n")
    } else {
        String::new()
    };
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: tcpserve/{}\r\nAccept: */*\r\n{range}\
         Connection: close\r\n\r\n",
        url.target,
        url.authority(),
        env!("CARGO_PKG_VERSION"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_host_port_and_target() {
        let cases: &[(&str, &str, u16, &str, &str)] = &[
            // url, host, port, target, Host field
            (
                "http://example.com/a.txt",
                "example.com",
                80,
                "/a.txt",
                "example.com",
            ),
            (
                "HTTP://Example.com/a",
                "Example.com",
                80,
                "/a",
                "Example.com",
            ),
            (
                "http://127.0.0.1:8081/d/e.bin",
                "127.0.0.1",
                8081,
                "/d/e.bin",
                "127.0.0.1:8081",
            ),
            ("http://[::1]:9000/x", "[::1]", 9000, "/x", "[::1]:9000"),
            ("http://[::1]/x", "[::1]", 80, "/x", "[::1]"),
            ("http://host", "host", 80, "/", "host"),
            ("http://host:", "host", 80, "/", "host"),
            ("http://host:80/", "host", 80, "/", "host"),
            ("http://host?q=1", "host", 80, "/?q=1", "host"),
            (
                "http://host/a%20b?x=%zz#frag",
                "host",
                80,
                "/a%20b?x=%zz",
                "host",
            ),
            ("http://host/a#frag/../b", "host", 80, "/a", "host"),
            (
                "http://my_host.local/",
                "my_host.local",
                80,
                "/",
                "my_host.local",
            ),
        ];
        for (input, host, port, target, authority) in cases {
            let url = Url::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (url.host.as_str(), url.port, url.target.as_str()),
                (*host, *port, *target),
                "{input}"
            );
            assert_eq!(url.authority(), *authority, "{input}");
        }
    }

    #[test]
    fn hostile_urls_are_refused_with_a_reason() {
        use UrlError::*;
        let cases: &[(&str, UrlError)] = &[
            ("https://example.com/a", Https),
            ("HTTPS://example.com/a", Https),
            ("ftp://example.com/a", Scheme("ftp".into())),
            ("://example.com/a", Scheme("".into())),
            ("http:///a", NoHost),
            ("http://", NoHost),
            ("http://?q", NoHost),
            ("http://user@host/a", UserInfo),
            ("http://user:pw@host/a", UserInfo),
            ("http://host:abc/a", Port("abc".into())),
            ("http://host:0/a", Port("0".into())),
            ("http://host:65536/a", Port("65536".into())),
            ("http://host:-1/a", Port("-1".into())),
            ("http://host:+80/a", Port("+80".into())),
            ("http://host:80:80/a", Port("80:80".into())),
            ("http://[::1/a", Host("[::1".into())),
            ("http://[nothex]/a", Host("[nothex]".into())),
            ("http://[::1]x/a", Port("x".into())),
            ("http://[fe80::1%25eth0]/a", Host("[fe80::1%25eth0]".into())),
            ("http://:8080/a", Host(":8080".into())),
            ("http://ho st/a", Host("ho st".into())),
            ("http://hést/a", Host("hést".into())),
            ("http://host%41/a", Host("host%41".into())),
            ("http://host/a b", Byte),
            ("http://host/a\tb", Byte),
            ("http://host/\u{e9}", Byte),
            ("http://host/a?b c", Byte),
            ("http://host/a%zz", Escape),
            ("http://host/a%4", Escape),
        ];
        for (input, want) in cases {
            assert_eq!(Url::parse(input).as_ref(), Err(want), "{input}");
            assert!(!want.to_string().is_empty());
        }
    }

    #[test]
    fn the_file_name_is_the_last_segment_decoded() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("http://h/a.txt", Some(b"a.txt")),
            ("http://h/dir/sub/b.bin?x=1", Some(b"b.bin")),
            ("http://h/a%20b.txt", Some(b"a b.txt")),
            ("http://h/%e4%bd%a0.txt", Some("你.txt".as_bytes())),
            ("http://h/%ff", Some(b"\xff")),
            ("http://h/%2e%2e.", Some(b"...")),
            ("http://h/", None),
            ("http://h", None),
            ("http://h/dir/", None),
            ("http://h/..", None),
            ("http://h/a/.", None),
            ("http://h/%2e%2e", None),
            ("http://h/%2E", None),
            ("http://h/a%2Fb", None),
            ("http://h/a%2fb", None),
            ("http://h/a%00", None),
            ("http://h/?name=x.txt", None),
        ];
        for (input, want) in cases {
            let url = Url::parse(input).unwrap();
            let got = url.file_name();
            let got = got.as_ref().map(|n| n.as_encoded_bytes());
            assert_eq!(got, *want, "{input}");
        }
    }

    #[test]
    fn the_request_is_the_documented_one() {
        let url = Url::parse("http://[::1]:8081/a%20b?x#y").unwrap();
        let want = format!(
            "GET /a%20b?x HTTP/1.1\r\nHost: [::1]:8081\r\nUser-Agent: tcpserve/{}\r\n\
             Accept: */*\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(request(&url, 0), want);
        let ranged = request(&url, 1234);
        assert!(
            ranged.contains("\r\nAccept: */*\r\nRange: bytes=1234-\r\nConnection: close\r\n\r\n")
        );
    }

    #[test]
    fn file_names_are_single_usable_components() {
        let cases: &[(&[u8], bool)] = &[
            (b"a.txt", true),
            (b"a b", true),
            (b"\xff\xfe", true),
            (b"...", true),
            (b"", false),
            (b".", false),
            (b"..", false),
            (b"a/b", false),
            (b"/", false),
            (b"a\0b", false),
        ];
        for (segment, usable) in cases {
            let got = file_name(segment);
            assert_eq!(got.is_some(), *usable, "{segment:?}");
            if let Some(name) = got {
                assert_eq!(name.as_bytes(), *segment);
            }
        }
    }
}
