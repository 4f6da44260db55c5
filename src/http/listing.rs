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
//! - the name shown in HTML has `& < > " '` as character references (`&#x3c;`), control
//!   characters (newlines too) and the invisible characters that reorder or hide text
//!   ([`is_hidden_format`]: U+202E...) as a visible `\u{202e}`, and bytes that are not UTF-8
//!   as `\xff`;
//! - a JSON name is the exact text where the name is UTF-8, with quotes, backslashes, control
//!   and invisible characters and `& < > '` as `\uXXXX` escapes (so the body holds no markup
//!   and no raw direction override), and U+FFFD in place of bytes that are not (as
//!   `String::from_utf8_lossy` does); its `href` is exact.
//!
//! The page is built once per request into one buffer (a listing is not the hot path); what
//! bounds its work is [`MAX_ENTRIES`], and its size [`MAX_PAGE`].

use std::fmt;
use std::time::SystemTime;

use super::accept::{self, Names};
use super::date;
use super::response::push_decimal;
use super::target;
use crate::logging::{is_hidden_format, is_markup, write_json_text, JsonEscapes};
use crate::root::{Entry, Listing};

/// Most entries one listing reads from a directory (`.` and `..` not counted, hidden ones
/// counted): what bounds the time a listing holds its thread (the reactor's loop), one
/// `fstatat` per entry (and a confined open per symlink), then a sort. A directory with more
/// is listed in part, the page saying so.
pub const MAX_ENTRIES: usize = 16_384;

/// Most bytes one listing's page holds: what bounds its memory, as escaping can make a
/// 255-byte name cost over 2 KB (`<` is `&#x3c;` in the text and `%3C` in the link). Entries
/// that would pass it are left out, in their sorted order, and the page says it was cut, as
/// [`MAX_ENTRIES`] does.
pub const MAX_PAGE: usize = 4 << 20;

/// Room kept below [`MAX_PAGE`] for what follows the entries (at most some 160 bytes).
const TAIL: usize = 256;

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
    /// The form an `Accept` field asks for: JSON when `application/json` is named, with a
    /// weight other than 0, before `text/html` is (or without it); HTML otherwise, wildcards
    /// and a missing `Accept` included. Weights are not compared beyond that: a client that
    /// wants JSON names it first. An element that is malformed (see `http::accept`: `q=00`,
    /// `q=1.5`) is ignored. Only the first `Accept` field counts.
    pub fn asked(accept: Option<&[u8]>) -> Format {
        for (media, q) in accept::elements(accept.unwrap_or_default(), Names::Media) {
            let json = media.eq_ignore_ascii_case(b"application/json");
            if !json && !media.eq_ignore_ascii_case(b"text/html") {
                continue;
            }
            // Weight 0 (RFC 9110 §12.4.2): "not acceptable". A malformed element is ignored.
            if q.is_some_and(|q| q > 0) {
                return if json { Format::Json } else { Format::Html };
            }
        }
        Format::Html
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
    put(out, b"<!doctype html>\n<html><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width\">\n<title>Index of ");
    html_text(path, out);
    put(
        out,
        b"</title>\n<style>body{font-family:sans-serif;margin:1.5em}\
table{border-collapse:collapse}th,td{padding:.2em 1.5em .2em 0;text-align:left}\
th{border-bottom:1px solid #999}.s{text-align:right}</style>\n</head><body>\n<h1>Index of ",
    );
    html_text(path, out);
    put(
        out,
        b"</h1>\n<table>\n<tr><th>Name</th><th class=\"s\">Size</th><th>Modified (UTC)</th></tr>\n",
    );
    let top = path
        .split(|&b| b == b'/')
        .all(|p| p.is_empty() || p == b".");
    if !top {
        put(
            out,
            b"<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n",
        );
    }
    let mut shown = 0u64;
    let mut full = false;
    for entry in &listing.entries {
        let mark = out.len();
        put(out, b"<tr><td><a href=\"");
        href(entry, out);
        put(out, b"\">");
        html_text(&entry.name, out);
        if entry.dir {
            put(out, b"/");
        }
        put(out, b"</a></td><td class=\"s\">");
        if entry.dir {
            put(out, b"-");
        } else {
            size(entry.size, out);
        }
        put(out, b"</td><td>");
        time(entry.modified, b' ', out);
        put(out, b"</td></tr>\n");
        if full_at(mark, out) {
            full = true;
            break;
        }
        shown += 1;
    }
    put(out, b"</table>\n<p>");
    decimal(shown, out);
    put(out, b" entries");
    if full || listing.cut {
        put(out, b": cut short, the directory has more (");
    }
    if full {
        put(out, b"a listing's page holds at most ");
        decimal(MAX_PAGE as u64, out);
        put(out, b" bytes)");
    } else if listing.cut {
        put(out, b"a listing reads at most ");
        decimal(MAX_ENTRIES as u64, out);
        put(out, b", in the directory's own order)");
    }
    put(out, b".</p>\n</body></html>\n");
}

fn json(path: &[u8], listing: &Listing, out: &mut Vec<u8>) {
    put(out, b"{\"path\":");
    json_string(path, out);
    put(out, b",\"truncated\":");
    let truncated = out.len();
    put(out, if listing.cut { b"true" } else { b"false" });
    put(out, b",\"entries\":[");
    for (i, entry) in listing.entries.iter().enumerate() {
        let mark = out.len();
        put(out, if i == 0 { b"\n" } else { b",\n" });
        put(out, b"{\"name\":");
        json_string(&entry.name, out);
        if entry.dir {
            put(out, b",\"type\":\"dir\",\"size\":null");
        } else {
            put(out, b",\"type\":\"file\",\"size\":");
            decimal(entry.size, out);
        }
        put(out, b",\"modified\":\"");
        time(entry.modified, b'T', out);
        put(out, b"Z\",\"href\":\"");
        href(entry, out);
        put(out, b"\"}");
        if full_at(mark, out) {
            // Known only now: `false` becomes `true ` (JSON allows the space), in place.
            out[truncated..truncated + 5].copy_from_slice(b"true ");
            break;
        }
    }
    put(out, b"\n]}\n");
}

/// Whether the entry written from `mark` on takes the page past [`MAX_PAGE`] (less room for
/// its end); if so it is taken back out.
fn full_at(mark: usize, out: &mut Vec<u8>) -> bool {
    let full = out.len() + TAIL > MAX_PAGE;
    if full {
        out.truncate(mark);
    }
    full
}

/// `1994-11-06T08:49:37` (UTC, to the second), with `between` for the `T`.
fn time(t: SystemTime, between: u8, out: &mut Vec<u8>) {
    let mut t = date::format_rfc3339_millis(t);
    t[10] = between;
    put(out, &t[..19]);
}

/// A number in decimal (one call site for the formatter).
#[inline(never)]
fn decimal(n: u64, out: &mut Vec<u8>) {
    push_decimal(out, n);
}

/// The entry's link, relative to its directory: the name percent-encoded, `/` after a
/// directory's.
fn href(entry: &Entry, out: &mut Vec<u8>) {
    target::percent_encode(&entry.name, target::UNRESERVED, &mut |run| {
        put(out, run);
        true
    });
    if entry.dir {
        put(out, b"/");
    }
}

/// `name` as HTML text (see the module's docs).
fn html_text(name: &[u8], out: &mut Vec<u8>) {
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            // What the JSON escapes too ([`JsonEscapes::NoMarkup`]), but the backslash.
            if !(c.is_control() || is_hidden_format(c) || is_markup(c)) {
                put(out, c.encode_utf8(&mut [0; 4]).as_bytes());
            } else if c.is_ascii_punctuation() {
                // `&#x26;`: a reference the browser shows as the character, never as markup.
                hex(out, b"&#x", c as u32, 2, b";");
            } else {
                // Shown, not obeyed: `\u{202e}`, `\u{a}`.
                hex(out, b"\\u{", c as u32, 1, b"}");
            }
        }
        for &b in chunk.invalid() {
            hex(out, b"\\x", u32::from(b), 2, b"");
        }
    }
}

/// `name` as a JSON string, quotes included (see the module's docs).
fn json_string(name: &[u8], out: &mut Vec<u8>) {
    put(out, b"\"");
    for chunk in name.utf8_chunks() {
        // Writing into a `Vec` cannot fail.
        let _ = write_json_text(chunk.valid(), JsonEscapes::NoMarkup, &mut Page(out));
        if !chunk.invalid().is_empty() {
            put(out, "\u{FFFD}".as_bytes());
        }
    }
    put(out, b"\"");
}

/// The page as a `fmt::Write`, for the shared JSON escaper.
struct Page<'a>(&'a mut Vec<u8>);

impl fmt::Write for Page<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        put(self.0, s.as_bytes());
        Ok(())
    }
}

/// `prefix`, `n` in lowercase hex with at least `digits` digits, `suffix`.
fn hex(out: &mut Vec<u8>, prefix: &[u8], n: u32, digits: u32, suffix: &[u8]) {
    put(out, prefix);
    for shift in (0..8).rev() {
        if shift < digits || n >> (4 * shift) != 0 {
            put(
                out,
                &[b"0123456789abcdef"[(n >> (4 * shift) & 15) as usize]],
            );
        }
    }
    put(out, suffix);
}

/// A size for people: `512 B`, `1.5 KiB`, `20.0 MiB` (rounded down to a tenth).
fn size(n: u64, out: &mut Vec<u8>) {
    const UNITS: [&[u8]; 6] = [b" KiB", b" MiB", b" GiB", b" TiB", b" PiB", b" EiB"];
    if n < 1024 {
        decimal(n, out);
        put(out, b" B");
        return;
    }
    let (mut unit, mut scale) = (0, 1024u64);
    while unit + 1 < UNITS.len() && n / scale >= 1024 {
        unit += 1;
        scale *= 1024;
    }
    let tenths = (u128::from(n) * 10 / u128::from(scale)) as u64;
    decimal(tenths / 10, out);
    put(out, b".");
    put(out, &[b'0' + (tenths % 10) as u8]);
    put(out, UNITS[unit]);
}

/// Appends `bytes`: one call site, not a copy of `Vec`'s growth code at each of the many.
#[inline(never)]
fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes);
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

    fn text_of(f: fn(&[u8], &mut Vec<u8>), name: &[u8]) -> String {
        let mut out = Vec::new();
        f(name, &mut out);
        String::from_utf8(out).expect("always UTF-8")
    }

    /// Hostile names: (name, HTML text, JSON string, href).
    #[test]
    fn hostile_names_are_escaped_in_every_form() {
        let cases: &[(&[u8], &str, &str, &str)] = &[
            (b"plain.txt", "plain.txt", r#""plain.txt""#, "plain.txt"),
            (
                b"<script>alert(1)<\\script>",
                r"&#x3c;script&#x3e;alert(1)&#x3c;\script&#x3e;",
                r#""\u003cscript\u003ealert(1)\u003c\u005cscript\u003e""#,
                "%3Cscript%3Ealert%281%29%3C%5Cscript%3E",
            ),
            (b"a&b", "a&#x26;b", r#""a\u0026b""#, "a%26b"),
            (b"q\"uote", "q&#x22;uote", r#""q\u0022uote""#, "q%22uote"),
            (b"it's", "it&#x27;s", r#""it\u0027s""#, "it%27s"),
            (
                b"new\nline",
                r"new\u{a}line",
                r#""new\u000aline""#,
                "new%0Aline",
            ),
            (
                b"tab\tcr\r",
                r"tab\u{9}cr\u{d}",
                r#""tab\u0009cr\u000d""#,
                "tab%09cr%0D",
            ),
            (
                b"esc\x1b[31m",
                r"esc\u{1b}[31m",
                r#""esc\u001b[31m""#,
                "esc%1B%5B31m",
            ),
            (
                "c1\u{85}".as_bytes(),
                r"c1\u{85}",
                r#""c1\u0085""#,
                "c1%C2%85",
            ),
            (
                "evil\u{202E}txt.exe".as_bytes(),
                r"evil\u{202e}txt.exe",
                r#""evil\u202etxt.exe""#,
                "evil%E2%80%AEtxt.exe",
            ),
            (
                "tag\u{E0041}".as_bytes(),
                r"tag\u{e0041}",
                r#""tag\udb40\udc41""#,
                "tag%F3%A0%81%81",
            ),
            (b"100%", "100%", r#""100%""#, "100%25"),
            (b"#frag", "#frag", r##""#frag""##, "%23frag"),
            (b"what?", "what?", r#""what?""#, "what%3F"),
            (
                b"with space",
                "with space",
                r#""with space""#,
                "with%20space",
            ),
            (
                b"back\\slash",
                r"back\slash",
                r#""back\u005cslash""#,
                "back%5Cslash",
            ),
            (
                b"javascript:alert(1)",
                "javascript:alert(1)",
                r#""javascript:alert(1)""#,
                "javascript%3Aalert%281%29",
            ),
            (
                b"\xff\xfe.bin",
                r"\xff\xfe.bin",
                "\"\u{FFFD}\u{FFFD}.bin\"",
                "%FF%FE.bin",
            ),
            // A truncated sequence is one replacement, as from_utf8_lossy makes it.
            (
                b"cut\xe4\xbd",
                r"cut\xe4\xbd",
                "\"cut\u{FFFD}\"",
                "cut%E4%BD",
            ),
            (
                "你好.txt".as_bytes(),
                "你好.txt",
                "\"你好.txt\"",
                "%E4%BD%A0%E5%A5%BD.txt",
            ),
            (b"~a-b_c.d", "~a-b_c.d", r#""~a-b_c.d""#, "~a-b_c.d"),
        ];
        for &(name, want_html, want_json, want_href) in cases {
            let shown = name.escape_ascii();
            assert_eq!(text_of(html_text, name), want_html, "{shown}");
            assert_eq!(text_of(json_string, name), want_json, "{shown}");
            let mut got = Vec::new();
            href(&entry(name, false, 0), &mut got);
            assert_eq!(got, want_href.as_bytes(), "{shown}");
            // Nothing in the HTML or the link can end an attribute, open a tag, or reorder
            // what is read; the JSON holds no markup.
            let html = text_of(html_text, name);
            assert!(
                !html.contains(['<', '>', '"', '\'', '\n', '\u{202E}']),
                "{html}"
            );
            assert!(!want_href.contains(['<', '>', '"', '\'', ':', '?', '#', '/']));
            let json = &want_json[1..want_json.len() - 1];
            assert!(
                !json.contains(['<', '>', '&', '"', '\n', '\u{202E}']),
                "{json}"
            );
        }
    }

    #[test]
    fn accept_chooses_json_only_when_it_comes_first() {
        use Format::*;
        let cases: &[(&[&str], Format)] = &[
            (&[], Html),
            (&["*/*"], Html),
            (&["application/json"], Json),
            (&["Application/JSON"], Json),
            (&["application/json, text/html"], Json),
            (&["text/html, application/json"], Html),
            // Order decides, not weights: documented.
            (&["text/html;q=0.5, application/json"], Html),
            (&["application/json;q=0.1, text/html"], Json),
            (&["application/json;q=0"], Html),
            (&["application/json;Q=0.000"], Html),
            (&["application/json; q=0.001"], Json),
            (&["text/html;q=0, application/json;q=0.1"], Json),
            (&["application/jsonx"], Html),
            // Only the first field counts.
            (&["text/plain", "application/json"], Html),
            (&["application/json", "text/html"], Json),
            (
                &["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
                Html,
            ),
            (&[" application/json ;charset=utf-8"], Json),
            (&[",,;;,"], Html),
            // Malformed weights: the element is ignored (`q=00` was read as 0 before, with the
            // same outcome; `q=1.5`, `q=2` and `q=x` were read as acceptable, which changes
            // the answer in the rows with `1.5`, `x` and `2`).
            (&["application/json;q=00"], Html),
            (&["application/json;q=0.0.0, text/html"], Html),
            (&["application/json;q=1.5"], Html),
            (&["application/json;q=x, text/html"], Html),
            (&["text/html;q=2, application/json"], Json),
            (&["application/json;q=0.5;ext=1"], Json),
            (&["text/html;x=\"a,application/json\""], Html),
            (&["text/html;x=\"a,b\";q=0, application/json"], Json),
            (&["application/json;charset=\"utf-8\";q=1"], Json),
        ];
        for (fields, want) in cases {
            let got = Format::asked(fields.first().map(|f| f.as_bytes()));
            assert_eq!(got, *want, "{fields:?}");
        }
    }

    #[test]
    fn a_page_is_cut_before_its_byte_bound_and_says_so() {
        // 255-byte names that escape to 9 bytes each in every form: some 2.3 KB an entry, so
        // 2,000 pass 4 MiB.
        let entries: Vec<Entry> = (0..2000)
            .map(|i| {
                let mut name = vec![b'<'; 250];
                name.extend_from_slice(format!("{i:05}").as_bytes());
                entry(&name, false, 1)
            })
            .collect();
        let listing = Listing {
            entries,
            cut: false,
        };
        let mut out = Vec::new();
        render(Format::Html, b"/d/", &listing, &mut out);
        let page = String::from_utf8(out).unwrap();
        assert!(page.len() <= MAX_PAGE, "{}", page.len());
        let rows = page.matches("<tr><td><a href=").count() - 1;
        assert!((1500..2000).contains(&rows), "{rows}");
        let said = format!("<p>{rows} entries: cut short, the directory has more (a listing's page holds at most {MAX_PAGE} bytes).</p>\n</body></html>\n");
        assert!(page.ends_with(&said), "{}", &page[page.len() - 200..]);

        let mut out = Vec::new();
        render(Format::Json, b"/d/", &listing, &mut out);
        assert!(out.len() <= MAX_PAGE, "{}", out.len());
        let page = String::from_utf8(out).unwrap();
        assert!(page.starts_with("{\"path\":\"/d/\",\"truncated\":true ,\"entries\":[\n{"));
        assert!(page.ends_with("\"}\n]}\n"), "{}", &page[page.len() - 200..]);
        let rows = page.matches("{\"name\"").count();
        assert!((1500..2000).contains(&rows), "{rows}");

        // Under the bound, nothing changes.
        let listing = Listing {
            entries: listing.entries.into_iter().take(100).collect(),
            cut: false,
        };
        let mut out = Vec::new();
        render(Format::Json, b"/d/", &listing, &mut out);
        assert!(out.starts_with(b"{\"path\":\"/d/\",\"truncated\":false,"));
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
        assert!(
            page.contains("<title>Index of /d&#x3c;ir/</title>"),
            "{page}"
        );
        assert!(page.contains("<a href=\"../\">../</a>"), "{page}");
        let sub = page.find(
            "<a href=\"sub/\">sub/</a></td><td class=\"s\">-</td><td>1994-11-06 08:49:37</td>",
        );
        let file = page.find("<a href=\"a%3Cb\">a&#x3c;b</a></td><td class=\"s\">2.0 KiB</td>");
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
