//! Weighted lists, as `Accept` and `Accept-Encoding` send them: `name;param=v;q=0.5, name`.
//! One parser for both, so they cannot disagree on what an element or a weight is.
//!
//! A field value is a comma list (RFC 9110 §5.6.1): empty elements are skipped. An element is
//! a name, then parameters, then the weight `q=` if any (§12.4.2; a coding has no other
//! parameter, a media range may have RFC 7231's `accept-ext` after it): `0` to `1`
//! with at most three decimals (`0`, `0.5`, `1.`, `1.000`; not `00`, `.5`, `1.5` or
//! `0.1234`), in thousandths. Whitespace around `;` and `=` is tolerated. A comma or a
//! semicolon inside a parameter's quoted string (`x="a,b"`) does not end anything. What is
//! malformed is still yielded, with no weight, so that each caller says what it ignores.
//! Nothing here allocates.

use super::request::{is_tchar, trim_ows};

/// What an element's name is, and which parameters it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Names {
    /// A token (a content coding, `gzip`), with no parameter but the weight.
    Coding,
    /// A media range (`text/html`, `*/*`), with its parameters before the weight.
    Media,
}

/// The elements of one field value, in order: each one's name (trimmed, as sent) and its
/// weight in thousandths (1000 when none is given), or `None` if the element is malformed.
pub(crate) fn elements(value: &[u8], names: Names) -> Elements<'_> {
    Elements { rest: value, names }
}

/// See [`elements`].
pub(crate) struct Elements<'a> {
    rest: &'a [u8],
    names: Names,
}

impl<'a> Iterator for Elements<'a> {
    type Item = (&'a [u8], Option<u16>);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.rest.is_empty() {
            let (element, rest) = split(self.rest, b',');
            self.rest = rest.unwrap_or_default();
            let (name, params) = split(trim_ows(element), b';');
            let name = trim_ows(name);
            if name.is_empty() && params.is_none() {
                continue;
            }
            return Some((name, weight(name, params, self.names)));
        }
        None
    }
}

/// An element's weight, or `None` if its name or a parameter is malformed.
fn weight(name: &[u8], mut params: Option<&[u8]>, names: Names) -> Option<u16> {
    let named = match names {
        Names::Coding => token(name),
        Names::Media => name
            .iter()
            .position(|&b| b == b'/')
            .is_some_and(|slash| token(&name[..slash]) && token(&name[slash + 1..])),
    };
    if !named {
        return None;
    }
    let mut q = None;
    while let Some(rest) = params {
        let (param, next) = split(rest, b';');
        params = next;
        let param = trim_ows(param);
        if q.is_some() && names == Names::Coding {
            // Nothing follows the weight.
            return None;
        }
        if param.is_empty() && names == Names::Media {
            // `parameters = *( OWS ";" OWS [ parameter ] )` (RFC 9110 §5.6.6).
            continue;
        }
        let eq = param.iter().position(|&b| b == b'=')?;
        let (key, value) = (trim_ows(&param[..eq]), trim_ows(&param[eq + 1..]));
        if key.eq_ignore_ascii_case(b"q") {
            // Weighed twice: malformed.
            q = Some(qvalue(value).filter(|_| q.is_none())?);
        } else if names == Names::Coding || !token(key) || !param_value(value) {
            return None;
        }
    }
    Some(q.unwrap_or(1000))
}

/// `0[.ddd]` or `1[.000]` (RFC 9110 §12.4.2), in thousandths.
fn qvalue(s: &[u8]) -> Option<u16> {
    let (whole, frac) = match s.iter().position(|&b| b == b'.') {
        Some(dot) => (&s[..dot], &s[dot + 1..]),
        None => (s, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match whole {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

fn token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// A parameter's value: a token, or a quoted string that ends where the value does.
fn param_value(v: &[u8]) -> bool {
    match v {
        [b'"', inner @ ..] => quote_end(inner) == Some(inner.len() - 1),
        _ => token(v),
    }
}

/// Where the quoted string whose inside starts `s` ends (the closing quote's index).
fn quote_end(s: &[u8]) -> Option<usize> {
    let mut escaped = false;
    for (i, &b) in s.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// `s` up to the first `sep` outside a parameter's quoted string (one opened right after an
/// `=`), and what follows that `sep`, if there is one.
fn split(s: &[u8], sep: u8) -> (&[u8], Option<&[u8]>) {
    let mut i = 0;
    while i < s.len() {
        if s[i] == sep {
            return (&s[..i], Some(&s[i + 1..]));
        }
        if s[i] == b'"' && i > 0 && s[i - 1] == b'=' {
            // Unclosed, it runs to the end: the rest is one malformed element.
            i += quote_end(&s[i + 1..]).map_or(s.len(), |end| end + 1);
        }
        i += 1;
    }
    (s, None)
}

#[cfg(test)]
mod tests {
    use super::Names::*;
    use super::*;
    use crate::http::tests::XorShift;

    /// Hostile and ordinary values: (value, names, elements as (name, weight)).
    #[test]
    fn elements_and_weights() {
        type Row = (&'static [u8], Names, &'static [(&'static str, Option<u16>)]);
        let rows: &[Row] = &[
            (b"", Coding, &[]),
            (b",, ,\t,", Coding, &[]),
            (b"gzip", Coding, &[("gzip", Some(1000))]),
            (
                b" gzip , br ",
                Coding,
                &[("gzip", Some(1000)), ("br", Some(1000))],
            ),
            (b"gzip;q=0", Coding, &[("gzip", Some(0))]),
            (b"gzip;q=0.", Coding, &[("gzip", Some(0))]),
            (b"gzip;q=0.000", Coding, &[("gzip", Some(0))]),
            (b"gzip;q=0.001", Coding, &[("gzip", Some(1))]),
            (b"gzip;q=0.5", Coding, &[("gzip", Some(500))]),
            (b"gzip;q=1", Coding, &[("gzip", Some(1000))]),
            (b"gzip;q=1.", Coding, &[("gzip", Some(1000))]),
            (b"gzip;q=1.000", Coding, &[("gzip", Some(1000))]),
            (b"gzip;Q=0.5", Coding, &[("gzip", Some(500))]),
            (b"gzip ; q = 0.5 ", Coding, &[("gzip", Some(500))]),
            // Not a qvalue.
            (b"gzip;q=00", Coding, &[("gzip", None)]),
            (b"gzip;q=0.0.0", Coding, &[("gzip", None)]),
            (b"gzip;q=0.0000", Coding, &[("gzip", None)]),
            (b"gzip;q=1.001", Coding, &[("gzip", None)]),
            (b"gzip;q=1.5", Coding, &[("gzip", None)]),
            (b"gzip;q=2", Coding, &[("gzip", None)]),
            (b"gzip;q=.5", Coding, &[("gzip", None)]),
            (b"gzip;q=-0", Coding, &[("gzip", None)]),
            (b"gzip;q=+1", Coding, &[("gzip", None)]),
            (b"gzip;q=0x1", Coding, &[("gzip", None)]),
            (b"gzip;q=", Coding, &[("gzip", None)]),
            (b"gzip;q", Coding, &[("gzip", None)]),
            (b"gzip;q=\"1\"", Coding, &[("gzip", None)]),
            // Parameters.
            (b"gzip;level=9", Coding, &[("gzip", None)]),
            (b"gzip;q=1;q=0", Coding, &[("gzip", None)]),
            (b"gzip;;q=1", Coding, &[("gzip", None)]),
            (b"gzip;", Coding, &[("gzip", None)]),
            (
                b"text/html;level=1;q=0.5",
                Media,
                &[("text/html", Some(500))],
            ),
            (b"text/html;;q=0.5", Media, &[("text/html", Some(500))]),
            // After a media range's weight, RFC 7231's `accept-ext` (RFC 9110 has none).
            (
                b"text/html;q=0.5;level=1",
                Media,
                &[("text/html", Some(500))],
            ),
            (b"text/html;q=0.5;q=1", Media, &[("text/html", None)]),
            (b"text/html;q=0.5;x", Media, &[("text/html", None)]),
            (b"text/html;level", Media, &[("text/html", None)]),
            (b"text/html;=1", Media, &[("text/html", None)]),
            (
                b"text/html;x=\"a,b;q=0\", application/json",
                Media,
                &[("text/html", Some(1000)), ("application/json", Some(1000))],
            ),
            (
                b"a/b;x=\"q\\\"u,o\";q=0.1,c/d",
                Media,
                &[("a/b", Some(100)), ("c/d", Some(1000))],
            ),
            // An unclosed quote takes the rest of the value.
            (b"a/b;x=\"c, d/e", Media, &[("a/b", None)]),
            (
                b"a/b;x=c\"d, d/e",
                Media,
                &[("a/b", None), ("d/e", Some(1000))],
            ),
            // Names.
            (b"*/*;q=0.8", Media, &[("*/*", Some(800))]),
            (b"*", Coding, &[("*", Some(1000))]),
            (b"text", Media, &[("text", None)]),
            (b"text/", Media, &[("text/", None)]),
            (b"/html", Media, &[("/html", None)]),
            (b"a/b/c", Media, &[("a/b/c", None)]),
            (b"text/html", Coding, &[("text/html", None)]),
            (b"g zip, br", Coding, &[("g zip", None), ("br", Some(1000))]),
            (b"gzip\0", Coding, &[("gzip\0", None)]),
            (b"\xffgzip;q=1", Coding, &[("\u{fffd}gzip", None)]),
            (b";q=1, br", Coding, &[("", None), ("br", Some(1000))]),
            (b"gzip=1", Coding, &[("gzip=1", None)]),
        ];
        for &(value, names, want) in rows {
            let got: Vec<(String, Option<u16>)> = elements(value, names)
                .map(|(n, q)| (String::from_utf8_lossy(n).into_owned(), q))
                .collect();
            let want: Vec<(String, Option<u16>)> =
                want.iter().map(|&(n, q)| (n.to_owned(), q)).collect();
            assert_eq!(got, want, "{} ({names:?})", value.escape_ascii());
        }
    }

    #[test]
    fn garbage_never_panics() {
        let alphabet = b"a/*;q=0.1,\" \t\\\xff";
        let mut rng = XorShift::new(0xacce97);
        for _ in 0..20_000 {
            let len = rng.below(40) as usize;
            let value: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            for names in [Coding, Media] {
                for (name, q) in elements(&value, names) {
                    assert!(name.len() <= value.len() && q.is_none_or(|q| q <= 1000));
                }
            }
        }
    }
}
