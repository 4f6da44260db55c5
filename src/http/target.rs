//! The request target, from the request line to the bytes of a path that
//! [`crate::root::relative_path`] then checks exactly as it checks a raw-protocol name.
//!
//! The origin form (`/path?query`) is served, and the absolute form (`http://host/path`,
//! `https://...`, the scheme in any case), which RFC 9112 §3.2.2 says a server must accept: its
//! authority is skipped, never contacted nor checked against anything (no proxying), and its
//! path is confined exactly like an origin-form one (`http://host` is `/`). The authority form
//! (`host:port`), `*` and other schemes are refused with 400. The query and any fragment are
//! dropped, and the path is percent-decoded once, into a buffer the caller owns: `%2e%2e/`
//! becomes `../` and `%2F` becomes `/` *before* confinement looks at it, so encoding changes
//! nothing about what may be reached, and `%252e` stays `%2e` (decoding twice is how
//! double-encoding tricks get through). `%00` decodes to a NUL byte, which `relative_path`
//! refuses. Nothing else is normalised: `//a`, `./a` and `a/` reach `relative_path` as they are.

use std::fmt;

/// Why a target is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetError {
    /// Neither the origin nor the absolute form: `host:port`, `*`, `ftp://...`, or empty.
    NotOriginForm,
    /// A byte that may not appear in a target (space, control, non-ASCII).
    Byte,
    /// A `%` not followed by two hexadecimal digits (`%zz`, `%4` at the end).
    Escape,
    /// The caller's buffer is shorter than the path (never, if it is as long as the target).
    TooLong,
}

impl TargetError {
    /// The status to answer with.
    pub fn status(self) -> u16 {
        match self {
            TargetError::TooLong => 414,
            _ => 400,
        }
    }

    /// A few words for the log and the error body.
    pub fn reason(self) -> &'static str {
        match self {
            TargetError::NotOriginForm => "target is not a path or an http URL",
            TargetError::Byte => "invalid byte in target",
            TargetError::Escape => "invalid percent-escape in target",
            TargetError::TooLong => "decoded path too long",
        }
    }
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// The path of an origin-form target, still encoded: everything before the first `?` or `#`.
pub fn path_part(target: &[u8]) -> &[u8] {
    let end = target
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(target.len());
    &target[..end]
}

/// The origin form of a target: itself if it is one (`/path?query`); for the absolute form,
/// what follows the authority (`http://host/a?b` is `/a?b`, and `http://host` or
/// `http://host?b` is `/`: the query of a target with no path is dropped).
pub fn origin_form(target: &[u8]) -> Result<&[u8], TargetError> {
    if target.first() == Some(&b'/') {
        return Ok(target);
    }
    let after_scheme = ["http://", "https://"].iter().find_map(|scheme| {
        let head = target.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme.as_bytes())
            .then(|| &target[scheme.len()..])
    });
    let rest = after_scheme.ok_or(TargetError::NotOriginForm)?;
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?' || b == b'#')
        .unwrap_or(rest.len());
    // An http URI with an empty host must be rejected (RFC 9110 §4.2.1); userinfo is no host.
    let authority = &rest[..end];
    let host = authority
        .iter()
        .rposition(|&b| b == b'@')
        .map_or(authority, |at| &authority[at + 1..]);
    if host.is_empty() || host.starts_with(b":") {
        return Err(TargetError::NotOriginForm);
    }
    match rest.get(end) {
        Some(b'/') => Ok(&rest[end..]),
        _ => Ok(b"/"),
    }
}

/// The query of a target, with its `?`, without a fragment; empty if it has none (a `?` inside
/// the fragment is no query).
pub fn query_part(target: &[u8]) -> &[u8] {
    let Some(start) = target.iter().position(|&b| b == b'?' || b == b'#') else {
        return b"";
    };
    if target[start] == b'#' {
        return b"";
    }
    let query = &target[start..];
    &query[..query.iter().position(|&b| b == b'#').unwrap_or(query.len())]
}

/// Checks that `target` is in origin or absolute form and writes its path, percent-decoded
/// once, into `out`; returns the decoded bytes (never longer than the target, so a buffer as
/// long as the target always suffices).
pub fn decode<'o>(target: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], TargetError> {
    // Every byte is checked, the authority's and the query's too: the request line allows only
    // visible ASCII.
    if !target.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(TargetError::Byte);
    }
    let target = origin_form(target)?;
    let path = path_part(target);
    let mut len = 0;
    let mut i = 0;
    while i < path.len() {
        let byte = if path[i] == b'%' {
            let hi = path.get(i + 1).and_then(|&b| hex_value(b));
            let lo = path.get(i + 2).and_then(|&b| hex_value(b));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(TargetError::Escape);
            };
            i += 3;
            hi << 4 | lo
        } else {
            i += 1;
            path[i - 1]
        };
        *out.get_mut(len).ok_or(TargetError::TooLong)? = byte;
        len += 1;
    }
    Ok(&out[..len])
}

/// Writes `dir` followed by `/index.html` (or `index.html` if `dir` ends with `/`) into `out`,
/// for answering a directory with its index page.
pub fn with_index<'o>(dir: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], TargetError> {
    const INDEX: &[u8] = b"index.html";
    let slash = usize::from(dir.last() != Some(&b'/'));
    let len = dir.len() + slash + INDEX.len();
    let whole = out.get_mut(..len).ok_or(TargetError::TooLong)?;
    whole[..dir.len()].copy_from_slice(dir);
    if slash == 1 {
        whole[dir.len()] = b'/';
    }
    whole[dir.len() + slash..].copy_from_slice(INDEX);
    Ok(whole)
}

/// Writes into `out` where a directory asked for without its trailing slash lives: `/`, the
/// decoded `path`'s components (empty and `.` ones dropped, the rest percent-encoded), `/`,
/// then `query` (with its `?`) as received. It always starts with exactly one `/`, so no path
/// can make it `//host` (a URL of another host: Python's CVE-2021-28861). `path` must already
/// be confined (no `..` component reaches here).
pub fn directory_location<'o>(
    path: &[u8],
    query: &[u8],
    out: &'o mut [u8],
) -> Result<&'o [u8], TargetError> {
    let mut len = 0;
    let mut push = |bytes: &[u8]| -> Result<(), TargetError> {
        let end = len + bytes.len();
        out.get_mut(len..end)
            .ok_or(TargetError::TooLong)?
            .copy_from_slice(bytes);
        len = end;
        Ok(())
    };
    push(b"/")?;
    for part in path.split(|&b| b == b'/') {
        if part.is_empty() || part == b"." {
            continue;
        }
        if !percent_encode(part, PATH_SAFE, &mut |run| push(run).is_ok()) {
            return Err(TargetError::TooLong);
        }
        push(b"/")?;
    }
    push(query)?;
    Ok(&out[..len])
}

/// Besides letters and digits, what a path segment may hold unencoded (RFC 3986 `pchar`
/// less `%`): the rest of the unreserved characters, sub-delimiters, `:` and `@`.
const PATH_SAFE: &[u8] = b"-._~!$&'()*+,;=:@";

/// Besides letters and digits, RFC 3986's unreserved characters: all that a link made of any
/// bytes may keep (no `:`, so it is always a relative path; no quote).
pub(crate) const UNRESERVED: &[u8] = b"-._~";

/// Hands `push` the bytes percent-encoded (`%3C`, upper-case hex): ASCII letters and digits,
/// and the bytes in `keep`, are left as they are, in runs as long as they come. Stops, and
/// returns false, as soon as `push` does.
pub(crate) fn percent_encode(
    bytes: &[u8],
    keep: &[u8],
    push: &mut dyn FnMut(&[u8]) -> bool,
) -> bool {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut rest = bytes;
    while !rest.is_empty() {
        let kept = rest
            .iter()
            .position(|b| !b.is_ascii_alphanumeric() && !keep.contains(b))
            .unwrap_or(rest.len());
        if kept > 0 && !push(&rest[..kept]) {
            return false;
        }
        let Some(&b) = rest.get(kept) else {
            break;
        };
        if !push(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]) {
            return false;
        }
        rest = &rest[kept + 1..];
    }
    true
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::{relative_path, Refusal};

    #[test]
    fn directory_locations_start_with_one_slash() {
        let cases: &[(&[u8], &[u8], &str)] = &[
            (b"/dir", b"", "/dir/"),
            (b"/dir", b"?a=1&b", "/dir/?a=1&b"),
            (b"//dir", b"", "/dir/"),
            (b"//evil.com", b"", "/evil.com/"),
            (b"///evil.com//x", b"", "/evil.com/x/"),
            (b"/./dir/.", b"", "/dir/"),
            (b"/a b", b"", "/a%20b/"),
            (b"/a\\b", b"", "/a%5Cb/"),
            (b"/a?b#c%", b"", "/a%3Fb%23c%25/"),
            ("/你".as_bytes(), b"", "/%E4%BD%A0/"),
            (b"/dir/sub", b"?q", "/dir/sub/?q"),
            (b"/x:y@z", b"", "/x:y@z/"),
        ];
        for (path, query, want) in cases {
            let mut out = [0u8; 64];
            let got = directory_location(path, query, &mut out).unwrap();
            assert_eq!(std::str::from_utf8(got).unwrap(), *want, "{path:?}");
        }
        assert_eq!(query_part(b"/dir#f?x"), b"");
        assert_eq!(query_part(b"/dir?a#f?x"), b"?a");
        let mut small = [0u8; 4];
        assert_eq!(
            directory_location(b"/long", b"", &mut small),
            Err(TargetError::TooLong)
        );
    }

    #[test]
    fn targets_decode_once() {
        use TargetError::*;
        type Case<'a> = (&'a [u8], Result<&'a [u8], TargetError>);
        let cases: &[Case] = &[
            (b"/", Ok(b"/")),
            (b"/index.html", Ok(b"/index.html")),
            (b"/a/b/c.txt", Ok(b"/a/b/c.txt")),
            (b"/a%20b", Ok(b"/a b")),
            (b"/a+b", Ok(b"/a+b")), // '+' is a space only in forms, not in paths
            (b"/%41%62", Ok(b"/Ab")),
            (b"/%e4%bd%a0%e5%a5%BD.txt", Ok("/你好.txt".as_bytes())),
            (b"/%ff%fe", Ok(b"/\xff\xfe")),
            // Decoded before confinement sees them.
            (b"/%2e%2e/etc/passwd", Ok(b"/../etc/passwd")),
            (b"/%2E%2E%2Fetc", Ok(b"/../etc")),
            (b"/a%2Fb", Ok(b"/a/b")),
            (b"/a%2fb", Ok(b"/a/b")),
            (b"/%00", Ok(b"/\0")),
            (b"/a%0Ab", Ok(b"/a\nb")),
            // Once only.
            (b"/%252e%252e/", Ok(b"/%2e%2e/")),
            (b"/%25", Ok(b"/%")),
            (b"/%2525", Ok(b"/%25")),
            // Query and fragment dropped, escapes in them never decoded.
            (b"/a.txt?x=1", Ok(b"/a.txt")),
            (b"/a.txt?x=%zz", Ok(b"/a.txt")),
            (b"/a.txt#top", Ok(b"/a.txt")),
            (b"/a.txt?q#f", Ok(b"/a.txt")),
            (b"/?", Ok(b"/")),
            (b"/a%3Fb", Ok(b"/a?b")),
            (b"/a%23b", Ok(b"/a#b")),
            // Not normalised here.
            (b"//a", Ok(b"//a")),
            (b"/./a/", Ok(b"/./a/")),
            // Bad escapes.
            (b"/%", Err(Escape)),
            (b"/%4", Err(Escape)),
            (b"/%zz", Err(Escape)),
            (b"/%4g", Err(Escape)),
            (b"/%g4", Err(Escape)),
            (b"/%%41", Err(Escape)),
            (b"/a%", Err(Escape)),
            (b"/%+1", Err(Escape)),
            (b"/%-1", Err(Escape)),
            // Other forms.
            (b"*", Err(NotOriginForm)),
            (b"http://example.com/a", Ok(b"/a")),
            (b"HTTP://example.com/", Ok(b"/")),
            (b"hTTps://example.com:8080/a%20b?q#f", Ok(b"/a b")),
            (b"http://example.com", Ok(b"/")),
            (b"http://example.com?q=/x", Ok(b"/")),
            (b"http://user@host/a", Ok(b"/a")),
            (b"http://a/../etc/passwd", Ok(b"/../etc/passwd")),
            (b"http://a/%2e%2e/x", Ok(b"/../x")),
            (b"http:/a", Err(NotOriginForm)),
            (b"http:///a", Err(NotOriginForm)),
            (b"http://", Err(NotOriginForm)),
            (b"http://?x", Err(NotOriginForm)),
            (b"http://@/a", Err(NotOriginForm)),
            (b"http://:80/a", Err(NotOriginForm)),
            (b"http://[::1]:8/a", Ok(b"/a")),
            (b"ftp://example.com/a", Err(NotOriginForm)),
            (b"//example.com/a", Ok(b"//example.com/a")),
            (b"example.com:80", Err(NotOriginForm)),
            (b"a.txt", Err(NotOriginForm)),
            (b"", Err(NotOriginForm)),
            (b"%2Fa", Err(NotOriginForm)),
            // Bytes the request line never lets through, checked again.
            (b"/a b", Err(Byte)),
            (b"/a\x00", Err(Byte)),
            (b"/a\x7f", Err(Byte)),
            (b"/\xc3\xa9", Err(Byte)),
            (b"/a?\x01", Err(Byte)),
        ];
        let mut out = [0u8; 64];
        for (target, want) in cases {
            let got = decode(target, &mut out);
            assert_eq!(
                got.as_deref(),
                want.as_deref(),
                "{:?}",
                String::from_utf8_lossy(target)
            );
        }
    }

    #[test]
    fn decoded_paths_are_confined_like_raw_names() {
        // Whatever the encoding, what reaches the kernel is what a raw name would give.
        let cases: &[(&[u8], Result<&str, Refusal>)] = &[
            (b"/", Ok(".")),
            (b"/a.txt", Ok("a.txt")),
            (b"/sub/a%20b.txt", Ok("sub/a b.txt")),
            (b"//etc/passwd", Ok("etc/passwd")),
            (b"/..%2F..%2Fetc%2Fpasswd", Err(Refusal::DotDot)),
            (b"/%2e%2e/secret", Err(Refusal::DotDot)),
            (b"/a/%2E%2E", Err(Refusal::DotDot)),
            (b"/a%2F%2e%2e%2Fb", Err(Refusal::DotDot)),
            (b"/%2e%2e%5csecret", Ok("..\\secret")), // a backslash is a name byte on Linux
            (b"/%252e%252e/secret", Ok("%2e%2e/secret")),
            (b"/a%00.txt", Err(Refusal::Nul)),
            (b"/..?x", Err(Refusal::DotDot)),
            (b"/x/..#f", Err(Refusal::DotDot)),
        ];
        let mut out = [0u8; 64];
        for (target, want) in cases {
            let path = decode(target, &mut out).unwrap();
            let got = relative_path(path).map(|p| p.to_str().unwrap());
            assert_eq!(&got, want, "{:?}", String::from_utf8_lossy(target));
        }
    }

    #[test]
    fn short_buffers_are_refused_not_overrun() {
        let mut out = [0u8; 4];
        assert_eq!(decode(b"/abc", &mut out), Ok(&b"/abc"[..]));
        assert_eq!(decode(b"/abcd", &mut out), Err(TargetError::TooLong));
        assert_eq!(decode(b"/a%41b", &mut out), Ok(&b"/aAb"[..]));
        assert_eq!(decode(b"/", &mut []), Err(TargetError::TooLong));
    }

    #[test]
    fn index_pages() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"/", b"/index.html"),
            (b"/docs", b"/docs/index.html"),
            (b"/docs/", b"/docs/index.html"),
            (b"", b"/index.html"),
        ];
        let mut out = [0u8; 32];
        for (dir, want) in cases {
            assert_eq!(with_index(dir, &mut out), Ok(*want));
        }
        assert_eq!(
            with_index(b"/docs", &mut [0u8; 15]),
            Err(TargetError::TooLong)
        );
        assert_eq!(
            with_index(b"/docs", &mut [0u8; 16]),
            Ok(&b"/docs/index.html"[..])
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = crate::http::tests::XorShift::new(0x7a49_e7e7);
        let alphabet = b"/%2eEfF0a9zZ?#.\x00 \xff";
        let mut buf = [0u8; 24];
        let mut out = [0u8; 24];
        for _ in 0..20_000 {
            let len = rng.below(buf.len() as u64 + 1) as usize;
            for b in &mut buf[..len] {
                *b = alphabet[rng.below(alphabet.len() as u64) as usize];
            }
            let short = rng.below(len as u64 + 2) as usize;
            if let Ok(path) = decode(&buf[..len], &mut out[..short.min(24)]) {
                assert!(path.len() <= len);
                assert_eq!(path.first(), Some(&b'/'));
            }
        }
    }
}
