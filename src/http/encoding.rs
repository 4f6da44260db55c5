//! `Accept-Encoding` (RFC 9110 §12.5.3) for precompressed files: which of the codings the
//! server may have beside a file (`br`, `zstd`, `gzip`) a client takes, best first.
//!
//! The field is a comma list of codings, each with an optional weight `;q=` from 0 to 1 with
//! up to three decimals (parsed by `http::accept`, as `Accept` is); codings are compared
//! case-insensitively, `x-gzip` is `gzip`, `*` stands for every coding not named, and
//! `identity` is the file as it is. A coding with weight 0 is refused, and so is one rated
//! below an `identity` the client names (the file as it is stays the fallback whatever the
//! field says). Among equal weights the smaller encoding comes first: `br`, then `zstd`, then
//! `gzip`. A malformed element is ignored, never an error: the worst a client gets is the
//! file as it is. Nothing here allocates.

use super::accept::{self, Names};

/// A content coding the server may find precompressed beside a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// Brotli, `a.js.br`.
    Br,
    /// Zstandard, `a.js.zst`.
    Zstd,
    /// gzip, `a.js.gz`.
    Gzip,
}

impl Coding {
    /// Every coding, in the order preferred among equal weights.
    pub const ALL: [Coding; 3] = [Coding::Br, Coding::Zstd, Coding::Gzip];

    /// Its name in `Content-Encoding` (and in the `ETag` of its file).
    pub fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
        }
    }

    /// What its file's name adds to the original's.
    pub fn suffix(self) -> &'static [u8] {
        match self {
            Coding::Br => b".br",
            Coding::Zstd => b".zst",
            Coding::Gzip => b".gz",
        }
    }
}

/// The codings a client takes, best first (at most the three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    order: [Coding; 3],
    len: u8,
}

impl Accepted {
    /// None: the file as it is.
    pub const NONE: Accepted = Accepted {
        order: Coding::ALL,
        len: 0,
    };

    /// The codings, best first.
    pub fn as_slice(&self) -> &[Coding] {
        &self.order[..usize::from(self.len)]
    }
}

/// Weights in thousandths; `None` where the field does not name the coding.
#[derive(Default)]
struct Weights {
    codings: [Option<u16>; 3],
    identity: Option<u16>,
    any: Option<u16>,
}

/// The codings the `Accept-Encoding` fields `values` accept, best first. No field at all
/// accepts none (RFC 9110 allows any, but a client that says nothing may not decode).
pub fn accepted<'a>(values: impl Iterator<Item = &'a [u8]>) -> Accepted {
    let mut weights = Weights::default();
    for value in values {
        for (name, q) in accept::elements(value, Names::Coding) {
            let Some(q) = q else {
                continue;
            };
            let slot = if name.eq_ignore_ascii_case(b"identity") {
                &mut weights.identity
            } else if name == b"*" {
                &mut weights.any
            } else if name.eq_ignore_ascii_case(b"x-gzip") {
                &mut weights.codings[2]
            } else if let Some(i) = Coding::ALL
                .iter()
                .position(|c| name.eq_ignore_ascii_case(c.token().as_bytes()))
            {
                &mut weights.codings[i]
            } else {
                continue;
            };
            // Named twice: the lower weight, so a refusal is never overridden.
            *slot = Some(slot.map_or(q, |old| old.min(q)));
        }
    }
    // Unnamed, `identity` outranks nothing: a client that lists codings means to take them.
    let floor = weights.identity.unwrap_or(0);
    let mut q = [0u16; 3];
    let mut out = Accepted::NONE;
    for (i, w) in weights.codings.iter().enumerate() {
        q[i] = w.or(weights.any).unwrap_or(0);
        if q[i] > 0 && q[i] >= floor {
            out.order[usize::from(out.len)] = Coding::ALL[i];
            out.len += 1;
        }
    }
    // Insertion sort, stable (equal weights keep the preferred order), of at most three.
    let order = &mut out.order[..usize::from(out.len)];
    for i in 1..order.len() {
        let mut j = i;
        while j > 0 && q[order[j - 1] as usize] < q[order[j] as usize] {
            order.swap(j - 1, j);
            j -= 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Coding::*;
    use super::*;
    use crate::http::tests::XorShift;

    #[test]
    fn weights_and_ties_pick_the_order() {
        let cases: &[(&[&str], &[Coding])] = &[
            (&[], &[]),
            (&[""], &[]),
            (&["gzip"], &[Gzip]),
            (&["gzip, deflate, br, zstd"], &[Br, Zstd, Gzip]),
            (&["GZIP, Br"], &[Br, Gzip]),
            (&["x-gzip"], &[Gzip]),
            (&["gzip;q=1.0, br;q=0.5"], &[Gzip, Br]),
            (&["gzip;q=0.8, zstd;q=0.9, br;q=0.7"], &[Zstd, Gzip, Br]),
            (&["gzip ; q=0.5 , br ;Q= 0.5"], &[Br, Gzip]),
            (&["br;q=0.001"], &[Br]),
            (&["gzip", "br"], &[Br, Gzip]),
            (&["*"], &[Br, Zstd, Gzip]),
            (&["*;q=0.5, gzip"], &[Gzip, Br, Zstd]),
            (&["*, br;q=0"], &[Zstd, Gzip]),
            // q=0 refuses.
            (&["gzip;q=0"], &[]),
            (&["gzip;q=0.000, br"], &[Br]),
            (&["*;q=0"], &[]),
            (&["gzip, gzip;q=0"], &[]),
            (&["gzip;q=0", "gzip"], &[]),
            // Rated below the file as it is.
            (&["gzip;q=0.5, identity"], &[]),
            (&["gzip;q=0.5, br, identity;q=0.5"], &[Br, Gzip]),
            (&["identity;q=0, gzip;q=0.1"], &[Gzip]),
            (&["identity"], &[]),
            (&["*;q=0.5, br;q=0.2"], &[Zstd, Gzip, Br]),
            // Codings the server has no files for.
            (&["deflate, compress, exi"], &[]),
        ];
        for (values, want) in cases {
            let got = accepted(values.iter().map(|v| v.as_bytes()));
            assert_eq!(got.as_slice(), *want, "{values:?}");
        }
    }

    #[test]
    fn malformed_elements_are_ignored() {
        let cases: &[(&str, &[Coding])] = &[
            ("gzip;q=2", &[]),
            ("gzip;q=1.5", &[]),
            ("gzip;q=1.0001", &[]),
            ("gzip;q=0.1234", &[]),
            ("gzip;q=-1", &[]),
            ("gzip;q=", &[]),
            ("gzip;q", &[]),
            ("gzip;q=.5", &[]),
            ("gzip;q=0.5x", &[]),
            ("gzip;level=9", &[]),
            ("gzip;q=1;q=0", &[]),
            ("gzip;q=1, br;q=0.5;", &[Gzip]),
            ("g zip, br", &[Br]),
            ("gzip\0, br", &[Br]),
            ("\u{e9}gzip, br", &[Br]),
            (";q=1, , ,,br", &[Br]),
            ("br;q=1.", &[Br]),
            ("gzip;;q=1", &[]),
            ("gzip=1", &[]),
        ];
        for (value, want) in cases {
            let got = accepted([value.as_bytes()].into_iter());
            assert_eq!(got.as_slice(), *want, "{value:?}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let alphabet = b"brzstdgip;q=0.1,* \t\xff\0";
        let mut rng = XorShift::new(0xacce97);
        for _ in 0..20_000 {
            let len = rng.below(40) as usize;
            let value: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            let got = accepted([&value[..]].into_iter());
            assert!(got.as_slice().len() <= 3);
        }
    }
}
