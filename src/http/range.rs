//! The `Range` header against a file's size: one byte range (`bytes=a-b`, `a-`, `-n`) becomes a
//! part to send with 206, or proof that none can be (416); everything else means the whole file.
//!
//! RFC 9110 §14.2 lets a server ignore `Range`, and this module leans on that: several ranges
//! (answered whole rather than as `multipart/byteranges`), a unit other than `bytes`, or any
//! malformed syntax (`bytes=5-3`, `bytes=x-`, signs, spaces inside a range) give
//! [`Range::Whole`]. Numbers of any length are handled: one past `u64` is simply larger than any
//! file. Applying `Range` only to GET (not HEAD), and `If-Range`, are the caller's.

use std::cmp::Ordering;

/// What to send of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// The whole file, with 200.
    Whole,
    /// Bytes `start..=end_inclusive` (both within the file), with 206 and `Content-Range`.
    Part {
        /// The first byte sent.
        start: u64,
        /// The last byte sent.
        end_inclusive: u64,
    },
    /// No byte of the file is in the range: 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

impl Range {
    /// Bytes to send of a file of `size` bytes.
    pub fn len(self, size: u64) -> u64 {
        match self {
            Range::Whole => size,
            Range::Part {
                start,
                end_inclusive,
            } => end_inclusive - start + 1,
            Range::Unsatisfiable => 0,
        }
    }

    /// Whether nothing of a file of `size` bytes is sent.
    pub fn is_empty(self, size: u64) -> bool {
        self.len(size) == 0
    }
}

/// Reads a `Range` header's value for a file of `size` bytes.
///
/// A zero-length file has no byte to send: `bytes=0-` and `bytes=-0` are unsatisfiable, but a
/// suffix range (`bytes=-5`), which RFC 9110 counts as satisfiable, gets the whole empty file.
pub fn parse(value: &[u8], size: u64) -> Range {
    let Some(eq) = value.iter().position(|&b| b == b'=') else {
        return Range::Whole;
    };
    if !value[..eq].eq_ignore_ascii_case(b"bytes") {
        return Range::Whole;
    }
    // A list: elements separated by commas with optional whitespace, empty elements ignored.
    let mut only = None;
    for element in value[eq + 1..].split(|&b| b == b',') {
        let element = trim_ows(element);
        if element.is_empty() {
            continue;
        }
        if only.is_some() {
            return Range::Whole; // several ranges
        }
        only = Some(element);
    }
    let Some(spec) = only else {
        return Range::Whole;
    };
    let Some(dash) = spec.iter().position(|&b| b == b'-') else {
        return Range::Whole;
    };
    let (first, last) = (&spec[..dash], &spec[dash + 1..]);
    if !is_digits(last) && !last.is_empty() {
        return Range::Whole;
    }
    if first.is_empty() {
        // Suffix: the last n bytes.
        if last.is_empty() {
            return Range::Whole;
        }
        return match number(last) {
            Some(0) => Range::Unsatisfiable,
            _ if size == 0 => Range::Whole,
            n => {
                let n = n.unwrap_or(u64::MAX).min(size);
                Range::Part {
                    start: size - n,
                    end_inclusive: size - 1,
                }
            }
        };
    }
    if !is_digits(first) {
        return Range::Whole;
    }
    if !last.is_empty() && compare_decimal(last, first) == Ordering::Less {
        return Range::Whole; // last-pos before first-pos: invalid, so ignored
    }
    match number(first) {
        Some(start) if start < size => Range::Part {
            start,
            // No last-pos, or one past u64: to the end.
            end_inclusive: number(last).map_or(size - 1, |end| end.min(size - 1)),
        },
        _ => Range::Unsatisfiable,
    }
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn is_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

/// The value of a run of digits; `None` if it does not fit in `u64` (or is empty).
fn number(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Compares two runs of digits as numbers, however long.
fn compare_decimal(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &[u8]| -> usize { s.iter().take_while(|&&d| d == b'0').count() };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, end_inclusive: u64) -> Range {
        Range::Part {
            start,
            end_inclusive,
        }
    }

    #[test]
    fn ranges_against_sizes() {
        use Range::{Unsatisfiable as Unsat, Whole};
        let huge = "184467440737095516160"; // u64::MAX * 10 and a bit
        let cases: &[(&str, u64, Range)] = &[
            // a-b
            ("bytes=0-0", 100, part(0, 0)),
            ("bytes=0-99", 100, part(0, 99)),
            ("bytes=10-19", 100, part(10, 19)),
            ("bytes=10-1000", 100, part(10, 99)),
            ("bytes=99-99", 100, part(99, 99)),
            ("bytes=100-100", 100, Unsat),
            ("bytes=100-200", 100, Unsat),
            ("bytes=5-3", 100, Whole),
            ("bytes=007-010", 100, part(7, 10)),
            // a-
            ("bytes=0-", 100, part(0, 99)),
            ("bytes=99-", 100, part(99, 99)),
            ("bytes=100-", 100, Unsat),
            // -n
            ("bytes=-1", 100, part(99, 99)),
            ("bytes=-10", 100, part(90, 99)),
            ("bytes=-100", 100, part(0, 99)),
            ("bytes=-1000", 100, part(0, 99)),
            ("bytes=-0", 100, Unsat),
            ("bytes=-000", 100, Unsat),
            // Zero-size files.
            ("bytes=0-", 0, Unsat),
            ("bytes=0-0", 0, Unsat),
            ("bytes=-5", 0, Whole),
            ("bytes=-0", 0, Unsat),
            // Overflowing numbers.
            (&format!("bytes={huge}-"), 100, Unsat),
            (&format!("bytes=0-{huge}"), 100, part(0, 99)),
            (&format!("bytes=-{huge}"), 100, part(0, 99)),
            (&format!("bytes={huge}-{huge}"), 100, Unsat),
            (&format!("bytes={huge}0-{huge}"), 100, Whole),
            ("bytes=18446744073709551615-", u64::MAX, Unsat),
            (
                "bytes=18446744073709551614-",
                u64::MAX,
                part(u64::MAX - 1, u64::MAX - 1),
            ),
            (
                "bytes=-18446744073709551615",
                u64::MAX,
                part(0, u64::MAX - 1),
            ),
            // Case and list syntax.
            ("BYTES=1-2", 100, part(1, 2)),
            ("bytes= 1-2 ", 100, part(1, 2)),
            ("bytes=1-2,", 100, part(1, 2)),
            ("bytes=,1-2, ,", 100, part(1, 2)),
            // Several ranges: the whole file.
            ("bytes=0-1,5-6", 100, Whole),
            ("bytes=0-1, -1", 100, Whole),
            ("bytes=200-300,400-500", 100, Whole),
            // Ignored: malformed or another unit.
            ("", 100, Whole),
            ("bytes", 100, Whole),
            ("bytes=", 100, Whole),
            ("bytes=,", 100, Whole),
            ("bytes=-", 100, Whole),
            ("bytes=a-b", 100, Whole),
            ("bytes=1", 100, Whole),
            ("bytes=+1-2", 100, Whole),
            ("bytes=1-+2", 100, Whole),
            ("bytes=-+2", 100, Whole),
            ("bytes=1 -2", 100, Whole),
            ("bytes=1- 2", 100, Whole),
            ("bytes=1-2-3", 100, Whole),
            ("bytes=--1", 100, Whole),
            ("bytes=0x10-", 100, Whole),
            ("bytes =1-2", 100, Whole),
            ("items=1-2", 100, Whole),
            ("1-2", 100, Whole),
            ("bytes=\u{661}-2", 100, Whole), // an Arabic-Indic digit is not a DIGIT
        ];
        for &(value, size, want) in cases {
            assert_eq!(parse(value.as_bytes(), size), want, "{value:?} of {size}");
        }
    }

    #[test]
    fn parts_lie_within_the_file() {
        let mut rng = crate::http::tests::XorShift::new(0xbad_5eed);
        let alphabet = b"bytes=0123456789-, \t+x";
        let mut buf = [0u8; 32];
        for _ in 0..20_000 {
            let len = rng.below(buf.len() as u64 + 1) as usize;
            for b in &mut buf[..len] {
                *b = alphabet[rng.below(alphabet.len() as u64) as usize];
            }
            let size = match rng.below(4) {
                0 => 0,
                1 => rng.below(10),
                2 => rng.next(),
                _ => u64::MAX,
            };
            let got = parse(&buf[..len], size);
            if let Range::Part {
                start,
                end_inclusive,
            } = got
            {
                assert!(
                    start <= end_inclusive && end_inclusive < size,
                    "{got:?} of {size}"
                );
                assert_eq!(got.len(size), end_inclusive - start + 1);
            }
        }
    }

    #[test]
    fn lengths() {
        assert_eq!(Range::Whole.len(10), 10);
        assert_eq!(part(2, 4).len(10), 3);
        assert_eq!(Range::Unsatisfiable.len(10), 0);
        assert!(Range::Whole.is_empty(0));
    }
}
