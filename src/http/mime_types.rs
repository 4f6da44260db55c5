//! `--mime-types FILE`: more `Content-Type`s by extension, in the `/etc/mime.types` format,
//! read once at start. They come before the built-in table ([`crate::http::mime`]) and
//! override it; the operating system's own table is never read unless named, so a server
//! answers the same on every machine.
//!
//! The format: one media type per line, then the extensions it names, separated by spaces or
//! tabs; a word that begins with `#` comments out the rest of its line; blank lines are
//! skipped; a type with no extension names none. What is accepted, and why:
//! - A type is `type/subtype` of token characters (RFC 9110), kept as written; a `text/` type
//!   gets `; charset=utf-8`, as the built-in table's do.
//! - Extensions are compared without regard to ASCII case. One named on several lines takes
//!   the last line's type (as Python's `mimetypes` reads the file).
//! - An extension holding a dot (`tar.gz`, Debian's `cwl.json`) could never be a file name's
//!   last extension: skipped.
//! - Any other fault refuses the whole file, naming the line: a word with a byte outside
//!   printable ASCII, a malformed type, an extension with a `/` or longer than 255 bytes (no
//!   file name is). A file over [`MAX_FILE`] is refused too.
//!
//! The table is sorted once; a lookup is a binary search, with no allocation.

use std::cmp::Ordering;
use std::path::Path;

use crate::http::mime;
use crate::http::request::is_tchar;
use crate::sort::heapsort;

/// The largest file read (Debian's whole table is about 60 KiB).
pub const MAX_FILE: u64 = 1 << 20;
/// The longest extension or type.
const MAX_WORD: usize = 255;

/// A lowercase extension and its type.
type Row = (Box<[u8]>, Box<str>);
/// A row as parsed: the extension, its place in the file, its type.
type Numbered = (Box<[u8]>, usize, Box<str>);

/// Extensions and their types, from a `mime.types` file, before the built-in table.
#[derive(Debug, Default)]
pub struct MimeTypes {
    /// (lowercase extension, type), sorted by extension, each extension once.
    table: Box<[Row]>,
}

impl MimeTypes {
    /// Reads and parses the file at `path`; the error names the file (and the line).
    pub fn read(path: &Path) -> Result<MimeTypes, String> {
        let shown = path.display();
        // Looked at first, so that a FIFO cannot stall the start.
        let bytes = match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() => return Err(format!("{shown}: not a regular file")),
            Ok(meta) if meta.len() > MAX_FILE => {
                return Err(format!("{shown}: larger than {} KiB", MAX_FILE >> 10))
            }
            Ok(_) => std::fs::read(path),
            Err(e) => Err(e),
        };
        match bytes {
            Ok(bytes) => MimeTypes::parse(&bytes).map_err(|e| format!("{shown}:{e}")),
            Err(e) => Err(format!("{shown}: {e}")),
        }
    }

    /// Parses a `mime.types` file's bytes; the error is `LINE: why`.
    pub fn parse(text: &[u8]) -> Result<MimeTypes, String> {
        let mut rows: Vec<Numbered> = Vec::new();
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            parse_line(line, &mut rows).map_err(|why| format!("{}: {why}", i + 1))?;
        }
        // By extension, the last row first: deduplicating keeps it.
        heapsort(&mut rows, |a, b| (&a.0, b.1) < (&b.0, a.1));
        rows.dedup_by(|later, first| later.0 == first.0);
        let table = rows.into_iter().map(|(ext, _, kind)| (ext, kind)).collect();
        Ok(MimeTypes { table })
    }

    /// How many extensions the file named.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether it named none.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The `Content-Type` for a file path: this table's, else the built-in one's.
    pub fn content_type(&self, path: &[u8]) -> &str {
        if self.table.is_empty() {
            return mime::content_type(path);
        }
        let found = mime::extension(path).and_then(|ext| {
            self.table
                .binary_search_by(|(known, _)| cmp_lowercase(known, ext))
                .ok()
        });
        match found {
            Some(i) => &self.table[i].1,
            None => mime::content_type(path),
        }
    }
}

/// `known` (lowercase) against `ext` lowercased, byte by byte.
fn cmp_lowercase(known: &[u8], ext: &[u8]) -> Ordering {
    known
        .iter()
        .copied()
        .cmp(ext.iter().map(u8::to_ascii_lowercase))
}

/// One line's extensions, each with its type, onto `rows`.
fn parse_line(line: &[u8], rows: &mut Vec<Numbered>) -> Result<(), &'static str> {
    let mut kind: Option<Box<str>> = None;
    for word in line.split(u8::is_ascii_whitespace) {
        match (word.first(), &kind) {
            (None, _) => continue,
            (Some(b'#'), _) => break,
            (Some(_), None) => {
                kind = Some(
                    media_type(word)
                        .ok_or("not a media type (type/subtype of token characters)")?,
                )
            }
            (Some(_), Some(kind)) => {
                if word.iter().any(|b| !(b'!'..=b'~').contains(b)) {
                    return Err("a byte outside printable ASCII in an extension");
                }
                if word.len() > MAX_WORD || word.contains(&b'/') {
                    return Err("an extension longer than 255 bytes or with a '/'");
                }
                if !word.contains(&b'.') {
                    rows.push((word.to_ascii_lowercase().into(), rows.len(), kind.clone()));
                }
            }
        }
    }
    Ok(())
}

/// A type as served: `type/subtype` of token characters, with a charset for text.
fn media_type(word: &[u8]) -> Option<Box<str>> {
    let slash = word.iter().position(|&b| b == b'/')?;
    let (kind, sub) = (&word[..slash], &word[slash + 1..]);
    let valid = !kind.is_empty() && !sub.is_empty() && kind.iter().chain(sub).all(|&b| is_tchar(b));
    if !valid || word.len() > MAX_WORD {
        return None;
    }
    // Only ASCII got here.
    let kind = std::str::from_utf8(word).ok()?;
    Some(match kind.get(..5) {
        Some(text) if text.eq_ignore_ascii_case("text/") => {
            [kind, "; charset=utf-8"].concat().into()
        }
        _ => kind.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_adds_to_and_overrides_the_built_in_table() {
        let text = b"# comment \xff\n\
            \n\
            application/x-thing\tthing THINGY   # trailing comment\n\
            text/x-rust rs\r\n\
            image/x-png png\n\
            Application/Only-Type\n\
            application/x-later thing\n\
            application/x-compound tar.gz cwl.json\n\
            \t  \n";
        let types = MimeTypes::parse(text).unwrap();
        let cases: &[(&[u8], &str)] = &[
            (b"a.thing", "application/x-later"),
            (b"dir/A.THINGY", "application/x-thing"),
            (b"main.rs", "text/x-rust; charset=utf-8"),
            (b"x.png", "image/x-png"),
            (b"x.PNG", "image/x-png"),
            // The built-in table, where the file says nothing.
            (b"index.html", "text/html; charset=utf-8"),
            (b"a.tar.gz", "application/gzip"),
            (b"Makefile", mime::FALLBACK),
            (b"comment", mime::FALLBACK),
            (b"a.#", mime::FALLBACK),
        ];
        for (path, want) in cases {
            let got = types.content_type(path);
            assert_eq!(got, *want, "{:?}", String::from_utf8_lossy(path));
        }
        assert_eq!(types.len(), 4);
        assert!(MimeTypes::default().is_empty());
    }

    #[test]
    fn hostile_lines_are_refused_with_their_number() {
        let long = format!("a/b {}\n", "x".repeat(256));
        let rows: &[(&[u8], &str)] = &[
            (b"text\n", "1: not a media type"),
            (b"\n/plain txt\n", "2: not a media type"),
            (b"text/ txt\n", "1: not a media type"),
            (b"text/pl ain txt\n", ""),
            (b"te xt/plain\n", "1: not a media type"),
            (b"text/pl\xc3\xa9 t\n", "1: not a media type"),
            (b"text/plain t\xff\n", "1: a byte outside printable ASCII"),
            (b"text/plain a\x01b\n", "1: a byte outside printable ASCII"),
            (b"text/plain a/b\n", "1: an extension longer than 255"),
            (long.as_bytes(), "1: an extension longer than 255"),
            (b"text/plain;charset=x t\n", "1: not a media type"),
        ];
        for (text, want) in rows {
            let got = MimeTypes::parse(text);
            match (got, want.is_empty()) {
                (Ok(_), true) => {}
                (Err(e), false) if e.starts_with(want) => {}
                (got, _) => panic!(
                    "{:?}: got {got:?}, want {want:?}",
                    String::from_utf8_lossy(text)
                ),
            }
        }
    }

    #[test]
    fn lookups_match_a_linear_scan() {
        let mut text = String::new();
        for i in 0..300 {
            text.push_str(&format!("x/t{i} e{i} E{i}x\n"));
        }
        let types = MimeTypes::parse(text.as_bytes()).unwrap();
        for i in 0..300 {
            assert_eq!(
                types.content_type(format!("f.e{i}").as_bytes()),
                format!("x/t{i}")
            );
            assert_eq!(
                types.content_type(format!("f.E{i}X").as_bytes()),
                format!("x/t{i}")
            );
        }
        assert_eq!(types.content_type(b"f.e300"), mime::FALLBACK);
    }
}
