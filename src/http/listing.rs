//! Directory listings (`--listing`): a directory without `index.html` answered with its
//! entries, as an HTML page or, when the client's `Accept` asks for it, as JSON. This module
//! only writes bytes; [`crate::root::Root::list`] reads the directory, through the same
//! confinement as a download, and decides what may be listed.
//!
//! Every name is the file system's bytes, which may be anything but `/` and NUL, and is
//! treated as hostile:
//! - a link's `href` is the name percent-encoded, every byte but `A-Z a-z 0-9 - . _ ~`, so it
//!   is always a relative path (`javascript:x` becomes `javascript%3Ax`), holds no quote, and
//!   decodes back to the exact bytes, invalid UTF-8 included;
//! - the name shown in HTML has `& < > " '` as entities, control characters (newlines too) and
//!   the invisible characters that reorder or hide text ([`is_hidden_format`]: U+202E...) as
//!   a visible `\u{202e}`, and bytes that are not UTF-8 as `\xff`;
//! - a JSON name is the exact text where the name is UTF-8 (quotes, backslashes, control and
//!   invisible characters, and `< > & '`, as `\uXXXX` escapes, so the body never holds markup)
//!   and U+FFFD in place of bytes that are not (as `String::from_utf8_lossy` does); its
//!   `href` is exact.
//!
//! The page is built once per request into one buffer (a listing is not the hot path); what
//! bounds its work is [`MAX_ENTRIES`].

use std::time::SystemTime;

use super::date;
use super::response::push_decimal;
use crate::logging::is_hidden_format;
use crate::root::{Entry, Listing};

/// Most entries one listing reads from a directory (`.` and `..` not counted, hidden ones
/// counted): what bounds the time a listing holds its thread (the reactor's loop), one
/// `fstatat` per entry (and a confined open per symlink), then a sort. A directory with more
/// is listed in part, the page saying so.
pub const MAX_ENTRIES: usize = 16_384;

/// The listing's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/html; charset=utf-8`: a page for people, with links.
    Html,
    /// `application/json`: `{"path", "truncated", "entries": [{"name", "type", "size",
    /// "modified", "href"}]}`.
    Json,
}

impl Format {
    /// The form the `Accept` fields ask for: JSON when `application/json` is named with a
    /// weight above 0 and `text/html` is not named with a higher one (an equal weight goes to
    /// whichever is named first); HTML otherwise, wildcards and a missing `Accept` included.
    /// A weight that is not a valid `qvalue` counts as 0.
    pub fn asked<'a>(accept: impl IntoIterator<Item = &'a [u8]>) -> Format {
        // (weight in thousandths, order) of the first mention of each.
        let (mut json, mut html) = (None, None);
        let ranges = accept
            .into_iter()
            .flat_map(|field| field.split(|&b| b == b','));
        for (order, range) in ranges.enumerate() {
            let mut parts = range.split(|&b| b == b';');
            let media = trim(parts.next().unwrap_or_default());
            let weight = parts
                .map(trim)
                .find(|p| p.len() >= 2 && p[..2].eq_ignore_ascii_case(b"q="))
                .map_or(Some(1000), |p| qvalue(&p[2..]))
                .unwrap_or(0);
            let slot = if media.eq_ignore_ascii_case(b"application/json") {
                &mut json
            } else if media.eq_ignore_ascii_case(b"text/html") {
                &mut html
            } else {
                continue;
            };
            slot.get_or_insert((weight, order));
        }
        match (json, html) {
            (Some((0, _)), _) => Format::Html,
            (Some((j, jo)), Some((h, ho))) if h > j || (h == j && ho < jo) => Format::Html,
            (Some(_), _) => Format::Json,
            (None, _) => Format::Html,
        }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

/// Writes the listing of the directory at `path` (the decoded request path, which ends with
/// `/`) into `out`.
pub fn render(format: Format, path: &[u8], listing: &Listing, out: &mut Vec<u8>) {
    match format {
        Format::Html => html(path, listing, out),
        Format::Json => json(path, listing, out),
    }
}

fn html(path: &[u8], listing: &Listing, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<!doctype html>\n<html><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width\">\n<title>Index of ");
    html_text(path, out);
    out.extend_from_slice(
        b"</title>\n<style>body{font-family:sans-serif;margin:1.5em}\
table{border-collapse:collapse}th,td{padding:.2em 1.5em .2em 0;text-align:left}\
th{border-bottom:1px solid #999}td.s{text-align:right}</style>\n</head><body>\n<h1>Index of ",
    );
    html_text(path, out);
    out.extend_from_slice(
        b"</h1>\n<table>\n<tr><th>Name</th><th>Size</th><th>Modified (UTC)</th></tr>\n",
    );
    let top = path
        .split(|&b| b == b'/')
        .all(|p| p.is_empty() || p == b".");
    if !top {
        out.extend_from_slice(b"<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for entry in &listing.entries {
        out.extend_from_slice(b"<tr><td><a href=\"");
        href(entry, out);
        out.extend_from_slice(b"\">");
        html_text(&entry.name, out);
        if entry.dir {
            out.push(b'/');
        }
        out.extend_from_slice(b"</a></td><td class=\"s\">");
        if entry.dir {
            out.push(b'-');
        } else {
            size(entry.size, out);
        }
        out.extend_from_slice(b"</td><td>");
        let t = rfc3339(entry.modified);
        out.extend_from_slice(&t[..10]);
        out.push(b' ');
        out.extend_from_slice(&t[11..19]);
        out.extend_from_slice(b"</td></tr>\n");
    }
    out.extend_from_slice(b"</table>\n<p>");
    push_decimal(out, listing.entries.len() as u64);
    out.extend_from_slice(b" entries");
    if listing.cut {
        out.extend_from_slice(b": cut short, the directory has more (a listing reads at most ");
        push_decimal(out, MAX_ENTRIES as u64);
        out.extend_from_slice(b", in the directory's own order)");
    }
    out.extend_from_slice(b".</p>\n</body></html>\n");
}

fn json(path: &[u8], listing: &Listing, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"path\":");
    json_string(path, out);
    out.extend_from_slice(b",\"truncated\":");
    out.extend_from_slice(if listing.cut { b"true" } else { b"false" });
    out.extend_from_slice(b",\"entries\":[");
    for (i, entry) in listing.entries.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        out.extend_from_slice(b"{\"name\":");
        json_string(&entry.name, out);
        if entry.dir {
            out.extend_from_slice(b",\"type\":\"dir\",\"size\":null");
        } else {
            out.extend_from_slice(b",\"type\":\"file\",\"size\":");
            push_decimal(out, entry.size);
        }
        out.extend_from_slice(b",\"modified\":\"");
        out.extend_from_slice(&rfc3339(entry.modified)[..19]);
        out.extend_from_slice(b"Z\",\"href\":\"");
        href(entry, out);
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"\n]}\n");
}

/// `1994-11-06T08:49:37.123Z`, UTC.
fn rfc3339(t: SystemTime) -> [u8; date::RFC3339_MILLIS_LEN] {
    date::format_rfc3339_millis(t)
}

/// The entry's link, relative to its directory: the name percent-encoded, `/` after a
/// directory's.
fn href(entry: &Entry, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in entry.name.iter() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    if entry.dir {
        out.push(b'/');
    }
}

/// `name` as HTML text (see the module's docs).
fn html_text(name: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '&' => out.extend_from_slice(b"&amp;"),
                '<' => out.extend_from_slice(b"&lt;"),
                '>' => out.extend_from_slice(b"&gt;"),
                '"' => out.extend_from_slice(b"&quot;"),
                '\'' => out.extend_from_slice(b"&#39;"),
                c if c.is_control() || is_hidden_format(c) => {
                    out.extend(c.escape_unicode().map(|e| e as u8));
                }
                c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        for &b in chunk.invalid() {
            out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        }
    }
}

/// `name` as a JSON string, quotes included (see the module's docs).
fn json_string(name: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if c.is_control() || is_hidden_format(c) || "<>&'".contains(c) => {
                    for unit in c.encode_utf16(&mut [0; 2]) {
                        u_escape(*unit, out);
                    }
                }
                c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
    out.push(b'"');
}

/// `\uXXXX`.
fn u_escape(unit: u16, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[usize::from(unit >> shift & 15)]);
    }
}

/// A size for people: `512 B`, `1.5 KiB`, `20.0 MiB` (rounded down to a tenth).
fn size(n: u64, out: &mut Vec<u8>) {
    const UNITS: [&[u8]; 6] = [b" KiB", b" MiB", b" GiB", b" TiB", b" PiB", b" EiB"];
    if n < 1024 {
        push_decimal(out, n);
        out.extend_from_slice(b" B");
        return;
    }
    let (mut unit, mut scale) = (0, 1024u64);
    while unit + 1 < UNITS.len() && n / scale >= 1024 {
        unit += 1;
        scale *= 1024;
    }
    let tenths = (u128::from(n) * 10 / u128::from(scale)) as u64;
    push_decimal(out, tenths / 10);
    out.push(b'.');
    out.push(b'0' + (tenths % 10) as u8);
    out.extend_from_slice(UNITS[unit]);
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// A `qvalue` (RFC 9110 §12.4.2: `0`, `1`, up to three decimals) in thousandths.
fn qvalue(v: &[u8]) -> Option<u32> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(dot) => (&v[..dot], &v[dot + 1..]),
        None => (v, &b""[..]),
    };
    let whole = match int {
        b"0" => 0,
        b"1" => 1000,
        _ => return None,
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |&d| u32::from(d - b'0'));
    }
    (whole + thousandths <= 1000).then_some(whole + thousandths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn entry(name: &[u8], dir: bool, size: u64) -> Entry {
        Entry {
            name: name.into(),
            dir,
            size,
            modified: UNIX_EPOCH + Duration::from_secs(784_111_777),
        }
    }

    fn text(f: fn(&[u8], &mut Vec<u8>), name: &[u8]) -> String {
        let mut out = Vec::new();
        f(name, &mut out);
        String::from_utf8(out).expect("always UTF-8")
    }

    /// Hostile names: (name, HTML text, JSON string, href).
    #[test]
    fn hostile_names_are_escaped_in_every_form() {
        let cases: &[(&[u8], &str, &str, &str)] = &[
            (b"plain.txt", "plain.txt", "\"plain.txt\"", "plain.txt"),
            (
                b"<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
                "\"\\u003cscript\\u003ealert(1)\\u003c/script\\u003e\"",
                "%3Cscript%3Ealert%281%29%3C%2Fscript%3E",
            ),
            (b"a&b", "a&amp;b", "\"a\\u0026b\"", "a%26b"),
            (b"q\"uote", "q&quot;uote", "\"q\\\"uote\"", "q%22uote"),
            (b"it's", "it&#39;s", "\"it\\u0027s\"", "it%27s"),
            (
                b"new\nline",
                "new\\u{a}line",
                "\"new\\nline\"",
                "new%0Aline",
            ),
            (
                b"tab\tcr\r",
                "tab\\u{9}cr\\u{d}",
                "\"tab\\tcr\\r\"",
                "tab%09cr%0D",
            ),
            (
                b"esc\x1b[31m",
                "esc\\u{1b}[31m",
                "\"esc\\u001b[31m\"",
                "esc%1B%5B31m",
            ),
            (
                "evil\u{202E}txt.exe".as_bytes(),
                "evil\\u{202e}txt.exe",
                "\"evil\\u202etxt.exe\"",
                "evil%E2%80%AEtxt.exe",
            ),
            (
                "tag\u{E0041}".as_bytes(),
                "tag\\u{e0041}",
                "\"tag\\udb40\\udc41\"",
                "tag%F3%A0%81%81",
            ),
            (b"100%", "100%", "\"100%\"", "100%25"),
            (b"#frag", "#frag", "\"#frag\"", "%23frag"),
            (b"what?", "what?", "\"what?\"", "what%3F"),
            (
                b"with space",
                "with space",
                "\"with space\"",
                "with%20space",
            ),
            (
                b"back\\slash",
                "back\\slash",
                "\"back\\\\slash\"",
                "back%5Cslash",
            ),
            (
                b"javascript:alert(1)",
                "javascript:alert(1)",
                "\"javascript:alert(1)\"",
                "javascript%3Aalert%281%29",
            ),
            (
                b"\xff\xfe.bin",
                "\\xff\\xfe.bin",
                "\"\u{FFFD}\u{FFFD}.bin\"",
                "%FF%FE.bin",
            ),
            (
                "你好.txt".as_bytes(),
                "你好.txt",
                "\"你好.txt\"",
                "%E4%BD%A0%E5%A5%BD.txt",
            ),
            (b"~a-b_c.d", "~a-b_c.d", "\"~a-b_c.d\"", "~a-b_c.d"),
        ];
        for &(name, want_html, want_json, want_href) in cases {
            assert_eq!(text(html_text, name), want_html, "{}", name.escape_ascii());
            assert_eq!(
                text(json_string, name),
                want_json,
                "{}",
                name.escape_ascii()
            );
            let mut got = Vec::new();
            href(&entry(name, false, 0), &mut got);
            assert_eq!(got, want_href.as_bytes(), "{}", name.escape_ascii());
            // Nothing in the HTML or the link can end an attribute or open a tag.
            let html = text(html_text, name);
            assert!(
                !html.contains(['<', '>', '"', '\'', '\n', '\u{202E}']),
                "{html}"
            );
            assert!(!want_href.contains(['<', '>', '"', '\'', ':', '?', '#', '/']));
        }
    }

    #[test]
    fn accept_chooses_json_only_when_it_is_preferred() {
        use Format::*;
        let cases: &[(&[&str], Format)] = &[
            (&[], Html),
            (&["*/*"], Html),
            (&["application/json"], Json),
            (&["Application/JSON"], Json),
            (&["application/json, text/html"], Json),
            (&["text/html, application/json"], Html),
            (&["text/html;q=0.5, application/json"], Json),
            (&["text/html, application/json;q=0.9"], Html),
            (&["application/json;q=0"], Html),
            (&["application/json;q=0.000"], Html),
            (&["application/json; q=0.001"], Json),
            (&["application/json;q=2"], Html),
            (&["application/json;q=0.5x"], Html),
            (&["application/json;q=1.0000"], Html),
            (&["text/html;q=0, application/json;q=0.1"], Json),
            (&["application/jsonx"], Html),
            (&["text/plain", "application/json"], Json),
            (
                &["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
                Html,
            ),
            (&[" application/json ;charset=utf-8"], Json),
        ];
        for (fields, want) in cases {
            let got = Format::asked(fields.iter().map(|f| f.as_bytes()));
            assert_eq!(got, *want, "{fields:?}");
        }
    }

    #[test]
    fn sizes_read_as_people_read_them() {
        let cases: &[(u64, &str)] = &[
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (1024 * 1024 - 1, "1023.9 KiB"),
            (20 << 20, "20.0 MiB"),
            (5 << 40, "5.0 TiB"),
            (u64::MAX, "15.9 EiB"),
        ];
        for &(n, want) in cases {
            let mut out = Vec::new();
            size(n, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), want, "{n}");
        }
    }

    #[test]
    fn pages_have_their_rows_in_order_and_say_when_cut() {
        let listing = Listing {
            entries: vec![entry(b"sub", true, 4096), entry(b"a<b", false, 2048)],
            cut: false,
        };
        let mut out = Vec::new();
        render(Format::Html, b"/d<ir/", &listing, &mut out);
        let page = String::from_utf8(out).unwrap();
        assert!(page.contains("<title>Index of /d&lt;ir/</title>"), "{page}");
        assert!(page.contains("<a href=\"../\">../</a>"), "{page}");
        let sub = page.find(
            "<a href=\"sub/\">sub/</a></td><td class=\"s\">-</td><td>1994-11-06 08:49:37</td>",
        );
        let file = page.find("<a href=\"a%3Cb\">a&lt;b</a></td><td class=\"s\">2.0 KiB</td>");
        assert!(sub.is_some() && file.is_some() && sub < file, "{page}");
        assert!(page.contains("<p>2 entries.</p>"), "{page}");

        let mut out = Vec::new();
        render(Format::Json, b"/d<ir/", &listing, &mut out);
        let want = "{\"path\":\"/d\\u003cir/\",\"truncated\":false,\"entries\":[\n\
{\"name\":\"sub\",\"type\":\"dir\",\"size\":null,\"modified\":\"1994-11-06T08:49:37Z\",\"href\":\"sub/\"},\n\
{\"name\":\"a\\u003cb\",\"type\":\"file\",\"size\":2048,\"modified\":\"1994-11-06T08:49:37Z\",\"href\":\"a%3Cb\"}\n]}\n";
        assert_eq!(String::from_utf8(out).unwrap(), want);

        let cut = Listing {
            entries: Vec::new(),
            cut: true,
        };
        let mut out = Vec::new();
        render(Format::Html, b"/", &cut, &mut out);
        let page = String::from_utf8(out).unwrap();
        assert!(!page.contains("../"), "the root has no parent: {page}");
        assert!(page.contains("0 entries: cut short"), "{page}");
        let mut out = Vec::new();
        render(Format::Json, b"/", &cut, &mut out);
        assert_eq!(
            out,
            b"{\"path\":\"/\",\"truncated\":true,\"entries\":[\n]}\n"
        );
    }
}
