//! Client bytes made safe to print in a log line, and JSON string escaping.
//!
//! A log is read by people and by programs: a name from a client must not end a line (and so
//! forge the next one), move a terminal's cursor, or reorder what a person reads with a
//! Unicode direction override. The escapers write through a `fmt::Write` and never allocate;
//! [`write_json_text`] is the crate's one JSON string escaper (the access log, listings).

use std::fmt::{self, Write};

/// A client-sent name made safe to print in a log line: valid UTF-8 shows as itself; control
/// characters, quotes, backslashes, invalid bytes, and the invisible Unicode characters that
/// break or reorder lines ([`is_hidden_format`]) show as `\xNN` per byte. The result has no
/// line break, no quote and no control character, and is the same text in every log format.
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Printable ASCII, the usual name or request line, goes out in one call.
        if self.0.iter().all(|&b| is_plain_ascii(b)) {
            // SAFETY: every byte is printable ASCII, so the slice is valid UTF-8.
            return f.write_str(unsafe { std::str::from_utf8_unchecked(self.0) });
        }
        let mut out = EscapingWriter(f);
        for chunk in self.0.utf8_chunks() {
            out.write_str(chunk.valid())?;
            for b in chunk.invalid() {
                write!(out.0, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// Whatever `D` displays, escaped as [`Escaped`] escapes valid UTF-8: for text that is ours
/// but may one day carry a client's bytes (a reason, an error).
pub struct EscapedText<D>(pub D);

impl<D: fmt::Display> fmt::Display for EscapedText<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(EscapingWriter(f), "{}", self.0)
    }
}

fn is_plain_ascii(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'
}

/// Escapes what is written through it as [`Escaped`] says.
struct EscapingWriter<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Write for EscapingWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Runs of plain characters go out in one call.
        let mut plain = 0;
        for (i, c) in s.char_indices() {
            if c.is_control() || c == '"' || c == '\\' || is_hidden_format(c) {
                self.0.write_str(&s[plain..i])?;
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    write!(self.0, "\\x{b:02x}")?;
                }
                plain = i + c.len_utf8();
            }
        }
        self.0.write_str(&s[plain..])
    }
}

/// Invisible characters that change how a line reads: line and paragraph separators
/// (U+2028, U+2029), bidirectional embeddings, overrides, isolates and marks (U+202A–U+202E,
/// U+2066–U+2069, U+200E, U+200F, U+061C), zero-width and other invisible format characters
/// (U+200B–U+200D, U+2060–U+2064, U+206A–U+206F, U+00AD, U+180E, U+FEFF), and the tag
/// characters (U+E0000–U+E007F) that can hide text.
pub fn is_hidden_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// Whatever `D` displays, as the inside of a JSON string (RFC 8259): quotes and backslashes
/// escaped, control characters and [`is_hidden_format`] ones as `\uXXXX`.
pub struct JsonText<D>(pub D);

impl<D: fmt::Display> fmt::Display for JsonText<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(JsonWriter(f), "{}", self.0)
    }
}

/// Escapes what is written through it into a JSON string's inside.
struct JsonWriter<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Write for JsonWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_json_text(s, JsonEscapes::Short, self.0)
    }
}

/// Which escapes a JSON string's inside gets from [`write_json_text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonEscapes {
    /// `\"`, `\\`, `\n`, `\r`, `\t`; other control and [`is_hidden_format`] characters as
    /// `\uXXXX` (the access log).
    Short,
    /// Every escape a `\uXXXX`, and [`is_markup`] characters escaped too, so that the text
    /// holds no quote and no markup (a listing's JSON, whose names are hostile).
    NoMarkup,
}

/// Characters that are markup in HTML text or an attribute: `& < > " '`.
pub(crate) fn is_markup(c: char) -> bool {
    matches!(c, '&' | '<' | '>' | '"' | '\'')
}

/// Writes `s` into `out` as the inside of a JSON string (RFC 8259), escaped as `escapes` says.
/// The one JSON escaper: the access log's [`JsonText`] and a listing's JSON both use it.
pub(crate) fn write_json_text(s: &str, escapes: JsonEscapes, out: &mut dyn Write) -> fmt::Result {
    // Runs of plain characters go out in one call.
    let mut plain = 0;
    for (i, c) in s.char_indices() {
        let short = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if c.is_control() || is_hidden_format(c) => "",
            c if escapes == JsonEscapes::NoMarkup && is_markup(c) => "",
            _ => continue,
        };
        out.write_str(&s[plain..i])?;
        if escapes == JsonEscapes::Short && !short.is_empty() {
            out.write_str(short)?;
        } else {
            // Past U+FFFF, JSON's \u escapes take the UTF-16 surrogate pair.
            for &unit in c.encode_utf16(&mut [0; 2]).iter() {
                let mut esc = *b"\\u0000";
                for (i, digit) in esc[2..].iter_mut().enumerate() {
                    *digit = b"0123456789abcdef"[usize::from(unit >> (12 - 4 * i) & 15)];
                }
                // SAFETY: ASCII only.
                out.write_str(unsafe { std::str::from_utf8_unchecked(&esc) })?;
            }
        }
        plain = i + c.len_utf8();
    }
    out.write_str(&s[plain..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_names_cannot_forge_log_lines() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain.txt", "plain.txt"),
            ("你好.txt".as_bytes(), "你好.txt"),
            (b"a\nINFO fake", "a\\x0aINFO fake"),
            (b"\r\n", "\\x0d\\x0a"),
            (b"\x1b[31mred", "\\x1b[31mred"),
            (b"q\"uote\\", "q\\x22uote\\x5c"),
            (b"\xff\xfeok", "\\xff\\xfeok"),
            (b"nul\0", "nul\\x00"),
            (b"del\x7f", "del\\x7f"),
            ("c1\u{85}".as_bytes(), "c1\\xc2\\x85"),
            ("a\u{2028}b".as_bytes(), "a\\xe2\\x80\\xa8b"),
            ("a\u{2029}b".as_bytes(), "a\\xe2\\x80\\xa9b"),
            (
                "evil\u{202E}txt.exe".as_bytes(),
                "evil\\xe2\\x80\\xaetxt.exe",
            ),
            (
                "\u{202A}\u{202D}".as_bytes(),
                "\\xe2\\x80\\xaa\\xe2\\x80\\xad",
            ),
            (
                "\u{2066}x\u{2069}".as_bytes(),
                "\\xe2\\x81\\xa6x\\xe2\\x81\\xa9",
            ),
            (
                "zw\u{200B}\u{200F}".as_bytes(),
                "zw\\xe2\\x80\\x8b\\xe2\\x80\\x8f",
            ),
            ("\u{FEFF}bom".as_bytes(), "\\xef\\xbb\\xbfbom"),
            ("soft\u{AD}hy".as_bytes(), "soft\\xc2\\xadhy"),
            ("wj\u{2060}".as_bytes(), "wj\\xe2\\x81\\xa0"),
            ("tag\u{E0041}".as_bytes(), "tag\\xf3\\xa0\\x81\\x81"),
            // Neighbours of the ranges stay themselves.
            (
                "\u{2027}\u{202F}\u{2065}\u{2070}".as_bytes(),
                "\u{2027}\u{202F}\u{2065}\u{2070}",
            ),
        ];
        for (name, want) in cases {
            assert_eq!(Escaped(name).to_string(), *want, "{name:?}");
            if let Ok(text) = std::str::from_utf8(name) {
                assert_eq!(EscapedText(text).to_string(), *want, "{name:?} as text");
            }
        }
    }

    #[test]
    fn json_text_is_a_valid_string_inside() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("q\"b\\", "q\\\"b\\\\"),
            ("a\nb\r\tc", "a\\nb\\r\\tc"),
            ("\0\x1f\x7f", "\\u0000\\u001f\\u007f"),
            ("\u{2028}\u{202e}", "\\u2028\\u202e"),
            ("你好", "你好"),
            // A tag character past U+FFFF: its UTF-16 surrogate pair.
            ("tag\u{E0041}", "tag\\udb40\\udc41"),
        ];
        for (text, want) in cases {
            assert_eq!(JsonText(text).to_string(), *want, "{text:?}");
        }
        // Escaped text inside JSON: the escapes' backslashes are doubled, nothing else changes.
        assert_eq!(JsonText(Escaped(b"a\nb\"")).to_string(), "a\\\\x0ab\\\\x22");
    }
}
