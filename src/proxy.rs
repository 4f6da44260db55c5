//! The PROXY protocol's header (HAProxy's proxy-protocol.txt, versions 1 and 2): what a load
//! balancer sends first on each connection to say who the client really is. This module only
//! parses; it touches no socket.
//!
//! [`parse`] is given every byte received so far and says whether the header is whole, needs
//! more, or is refused; it decides as early as the bytes allow, so a client that is not a
//! balancer is refused at its first bytes. Strict, with limits:
//! - v1 (`PROXY TCP4 1.2.3.4 5.6.7.8 1000 80\r\n`): at most 107 bytes; single spaces; addresses
//!   of the family named; ports decimal, 0 to 65535, no leading zero; `UNKNOWN` keeps the
//!   connection's own address.
//! - v2 (a 12-byte signature, then version and command, family and transport, and a length):
//!   version 2 only; `LOCAL` (the balancer's own health check) keeps the connection's own
//!   address, whatever family it gives; `PROXY` over TCP carries IPv4 or IPv6 addresses (the
//!   length must hold them), and an unspecified family or a Unix socket keeps the connection's
//!   own; UDP and any other family or transport are refused; what follows the addresses (TLVs)
//!   is skipped, within [`MAX_V2_LEN`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The longest v1 header, CR LF included (the specification's own bound).
pub const MAX_V1: usize = 107;
/// The most bytes a v2 header may carry after its 16-byte start: addresses and TLVs.
pub const MAX_V2_LEN: usize = 512;
/// The most a header can take: what a reader needs room for.
pub const MAX_HEADER: usize = 16 + MAX_V2_LEN;

const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
const V1_START: &[u8] = b"PROXY ";

/// A whole header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// How many bytes it took; what follows is the client's own.
    pub len: usize,
    /// The client it speaks for; `None` keeps the connection's own address (v2 `LOCAL`, v1
    /// `UNKNOWN`, an unspecified family).
    pub source: Option<SocketAddr>,
}

/// What the bytes so far come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parse {
    /// A whole header.
    Done(Header),
    /// A header so far: more bytes are needed.
    Partial,
    /// Not a header, or one this server does not take: why.
    Refused(&'static str),
}

/// Parses the start of a connection's input.
pub fn parse(buf: &[u8]) -> Parse {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] == V2_SIGNATURE[..n] {
        return if n < V2_SIGNATURE.len() {
            Parse::Partial
        } else {
            v2(buf)
        };
    }
    let n = buf.len().min(V1_START.len());
    if buf[..n] == V1_START[..n] {
        return if n < V1_START.len() {
            Parse::Partial
        } else {
            v1(buf)
        };
    }
    Parse::Refused("no PROXY protocol header")
}

fn v1(buf: &[u8]) -> Parse {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return match buf.len() {
            n if n >= MAX_V1 => Parse::Refused("PROXY v1 header longer than 107 bytes"),
            // A lone CR or LF anywhere but at the end is no header.
            _ if buf[..buf.len() - 1]
                .iter()
                .any(|&b| b == b'\r' || b == b'\n') =>
            {
                Parse::Refused("PROXY v1 header with a stray CR or LF")
            }
            _ if buf.last() == Some(&b'\n') => Parse::Refused("PROXY v1 header with a stray LF"),
            _ => Parse::Partial,
        };
    };
    let len = end + 2;
    if len > MAX_V1 {
        return Parse::Refused("PROXY v1 header longer than 107 bytes");
    }
    // As it is refused while the line is still coming, whatever follows it.
    if buf[..end].iter().any(|&b| b == b'\r' || b == b'\n') {
        return Parse::Refused("PROXY v1 header with a stray CR or LF");
    }
    let Ok(line) = std::str::from_utf8(&buf[V1_START.len()..end]) else {
        return Parse::Refused("PROXY v1 header not in ASCII");
    };
    if line == "UNKNOWN" || line.starts_with("UNKNOWN ") {
        return Parse::Done(Header { len, source: None });
    }
    let fields: Vec<&str> = line.split(' ').collect();
    let [family, source, dest, sport, dport] = fields[..] else {
        return Parse::Refused("PROXY v1 header without its five fields");
    };
    let parsed = match family {
        "TCP4" => source
            .parse::<Ipv4Addr>()
            .ok()
            .zip(dest.parse::<Ipv4Addr>().ok())
            .map(|(s, _)| IpAddr::V4(s)),
        // An IPv4 client behind an IPv6 balancer's socket is named as the IPv4 address it is.
        "TCP6" => source
            .parse::<Ipv6Addr>()
            .ok()
            .zip(dest.parse::<Ipv6Addr>().ok())
            .map(|(s, _)| IpAddr::V6(s).to_canonical()),
        _ => return Parse::Refused("PROXY v1 header of an unknown family"),
    };
    let Some(ip) = parsed else {
        return Parse::Refused("PROXY v1 header with an address not of its family");
    };
    match (port(sport), port(dport)) {
        (Some(port), Some(_)) => Parse::Done(Header {
            len,
            source: Some(SocketAddr::new(ip, port)),
        }),
        _ => Parse::Refused("PROXY v1 header with a bad port"),
    }
}

/// A decimal port, 0 to 65535, no sign and no leading zero.
fn port(text: &str) -> Option<u16> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = text.len() > 1 && text.starts_with('0');
    (digits && !leading_zero)
        .then(|| text.parse().ok())
        .flatten()
}

fn v2(buf: &[u8]) -> Parse {
    let Some(&ver_cmd) = buf.get(12) else {
        return Parse::Partial;
    };
    if ver_cmd >> 4 != 2 {
        return Parse::Refused("PROXY v2 header of an unknown version");
    }
    let local = match ver_cmd & 0x0f {
        0 => true,
        1 => false,
        _ => return Parse::Refused("PROXY v2 header with an unknown command"),
    };
    let (Some(&fam), Some(len)) = (buf.get(13), buf.get(14..16)) else {
        return Parse::Partial;
    };
    let rest = usize::from(u16::from_be_bytes([len[0], len[1]]));
    if rest > MAX_V2_LEN {
        return Parse::Refused("PROXY v2 header longer than this server takes");
    }
    // Checked before the addresses arrive: a wrong header is refused as early as it shows.
    // LOCAL's family is ignored (the balancer speaks for itself); PROXY's must be one of the
    // specification's: unspecified, or TCP over IPv4, IPv6 or a Unix socket.
    let need = match fam {
        _ if local => 0,
        0x00 => 0,
        0x11 => 12,
        0x21 => 36,
        0x31 => 216,
        0x12 | 0x22 | 0x32 => return Parse::Refused("PROXY v2 header for UDP"),
        _ => return Parse::Refused("PROXY v2 header of an unknown family or transport"),
    };
    if rest < need {
        return Parse::Refused("PROXY v2 header too short for its addresses");
    }
    let len = 16 + rest;
    let Some(body) = buf.get(16..len) else {
        return Parse::Partial;
    };
    let source = match (local, fam, body) {
        (false, 0x11, &[a, b, c, d, _, _, _, _, p0, p1, ..]) => Some(SocketAddr::new(
            Ipv4Addr::new(a, b, c, d).into(),
            u16::from_be_bytes([p0, p1]),
        )),
        (false, 0x21, _) if body.len() >= 36 => {
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&body[..16]);
            let port = u16::from_be_bytes([body[32], body[33]]);
            Some(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(ip)).to_canonical(),
                port,
            ))
        }
        _ => None,
    };
    Parse::Done(Header { len, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2_header(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(ver_cmd);
        h.push(fam);
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    fn v4_body() -> Vec<u8> {
        // 192.0.2.7:4000 to 198.51.100.1:80
        vec![192, 0, 2, 7, 198, 51, 100, 1, 0x0f, 0xa0, 0, 80]
    }

    fn v6_body() -> Vec<u8> {
        let mut b = vec![0x20, 0x01, 0x0d, 0xb8];
        b.extend_from_slice(&[0; 11]);
        b.push(9); // 2001:db8::9
        b.extend_from_slice(&[0; 15]);
        b.push(1); // ::1
        b.extend_from_slice(&[0x13, 0x88, 0, 80]); // 5000, 80
        b
    }

    #[test]
    fn whole_headers_say_who_the_client_is() {
        let v1 = |s: &str| s.as_bytes().to_vec();
        let mut tlv = v4_body();
        tlv.extend_from_slice(&[0x02, 0, 3, b'a', b'b', b'c']); // an authority TLV, skipped
                                                                // Each row: what, the whole header, the client it names ("": the connection's own).
        let rows: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "v1 TCP4",
                v1("PROXY TCP4 192.0.2.7 198.51.100.1 4000 80\r\n"),
                "192.0.2.7:4000",
            ),
            (
                "v1 TCP6, an IPv4-mapped client",
                v1("PROXY TCP6 ::ffff:192.0.2.9 ::1 5000 80\r\n"),
                "192.0.2.9:5000",
            ),
            (
                "v1 TCP6",
                v1("PROXY TCP6 2001:db8::9 ::1 5000 80\r\n"),
                "[2001:db8::9]:5000",
            ),
            ("v1 UNKNOWN", v1("PROXY UNKNOWN\r\n"), ""),
            (
                "v1 UNKNOWN with fields",
                v1("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"),
                "",
            ),
            (
                "v1 port 0",
                v1("PROXY TCP4 1.2.3.4 5.6.7.8 0 80\r\n"),
                "1.2.3.4:0",
            ),
            (
                "v2 PROXY TCP4",
                v2_header(0x21, 0x11, &v4_body()),
                "192.0.2.7:4000",
            ),
            (
                "v2 PROXY TCP6",
                v2_header(0x21, 0x21, &v6_body()),
                "[2001:db8::9]:5000",
            ),
            (
                "v2 with a TLV",
                v2_header(0x21, 0x11, &tlv),
                "192.0.2.7:4000",
            ),
            ("v2 LOCAL", v2_header(0x20, 0x00, &[]), ""),
            ("v2 LOCAL, any family", v2_header(0x20, 0x10, &[]), ""),
            (
                "v2 LOCAL with addresses",
                v2_header(0x20, 0x11, &v4_body()),
                "",
            ),
            ("v2 PROXY UNSPEC", v2_header(0x21, 0x00, &[]), ""),
            ("v2 PROXY UNIX", v2_header(0x21, 0x31, &[0; 216]), ""),
        ];
        for (what, bytes, source) in rows {
            let want = Parse::Done(Header {
                len: bytes.len(),
                source: (!source.is_empty()).then(|| source.parse().unwrap()),
            });
            assert_eq!(parse(&bytes), want, "{what}");
            // With what the client sends next behind it, the same header, the same length.
            let mut more = bytes.clone();
            more.extend_from_slice(b"GET / HTTP/1.1\r\n");
            assert_eq!(parse(&more), want, "{what}, followed by a request");
            // Byte by byte, it is partial until whole.
            for cut in 1..bytes.len() {
                assert_eq!(parse(&bytes[..cut]), Parse::Partial, "{what} cut at {cut}");
            }
        }
    }

    #[test]
    fn hostile_headers_are_refused_as_soon_as_they_show() {
        let v1 = |s: &str| s.as_bytes().to_vec();
        let long_v1 = format!("PROXY TCP4 1.2.3.4 5.6.7.8 1 2{}\r\n", " ".repeat(80));
        let rows: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "a request",
                v1("GET / HTTP/1.1\r\n"),
                "no PROXY protocol header",
            ),
            ("a raw name", v1("a.txt\n"), "no PROXY protocol header"),
            (
                "lower case",
                v1("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"),
                "no PROXY",
            ),
            ("no space", v1("PROXYTCP4"), "no PROXY"),
            ("v1 too long", long_v1.into_bytes(), "longer than 107"),
            (
                "v1 endless",
                v1(&format!("PROXY TCP4 {}", "1".repeat(120))),
                "longer than 107",
            ),
            (
                "v1 LF only",
                v1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"),
                "stray LF",
            ),
            ("v1 CR inside", v1("PROXY TCP4\r 1.2.3.4"), "stray CR or LF"),
            // Found by fuzz/proxy_header: refused cut short, it was taken whole (UNKNOWN).
            (
                "v1 UNKNOWN, a CR inside",
                v1("PROXY UNKNOWN a\rb\r\n"),
                "stray CR or LF",
            ),
            (
                "v1 UNKNOWN, an LF inside",
                v1("PROXY UNKNOWN a\nb\r\n"),
                "stray CR or LF",
            ),
            (
                "v1 family",
                v1("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"),
                "unknown family",
            ),
            (
                "v1 v6 in TCP4",
                v1("PROXY TCP4 ::1 ::1 1 2\r\n"),
                "not of its family",
            ),
            (
                "v1 v4 in TCP6",
                v1("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n"),
                "not of its family",
            ),
            (
                "v1 leading zero in address",
                v1("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"),
                "not of its family",
            ),
            (
                "v1 double space",
                v1("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"),
                "five fields",
            ),
            (
                "v1 four fields",
                v1("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"),
                "five fields",
            ),
            (
                "v1 six fields",
                v1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"),
                "five fields",
            ),
            (
                "v1 port too big",
                v1("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"),
                "bad port",
            ),
            (
                "v1 port leading zero",
                v1("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n"),
                "bad port",
            ),
            (
                "v1 port signed",
                v1("PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n"),
                "bad port",
            ),
            (
                "v1 port empty",
                v1("PROXY TCP4 1.2.3.4 5.6.7.8  2\r\n"),
                "bad port",
            ),
            (
                "v1 not UTF-8",
                b"PROXY TCP4 1.2.3.\xff 5.6.7.8 1 2\r\n".to_vec(),
                "not in ASCII",
            ),
            (
                "v2 version 1",
                v2_header(0x11, 0x11, &v4_body()),
                "unknown version",
            ),
            (
                "v2 version 3",
                v2_header(0x31, 0x11, &v4_body()),
                "unknown version",
            ),
            (
                "v2 command 2",
                v2_header(0x22, 0x11, &v4_body()),
                "unknown command",
            ),
            (
                "v2 family 4",
                v2_header(0x21, 0x41, &v4_body()),
                "unknown family",
            ),
            (
                "v2 transport 3",
                v2_header(0x21, 0x13, &v4_body()),
                "unknown family",
            ),
            ("v2 UDP", v2_header(0x21, 0x12, &v4_body()), "UDP"),
            (
                "v2 IPv4, transport 0",
                v2_header(0x21, 0x10, &[]),
                "unknown family",
            ),
            (
                "v2 IPv6, transport 0",
                v2_header(0x21, 0x20, &[]),
                "unknown family",
            ),
            (
                "v2 Unix, transport 0",
                v2_header(0x21, 0x30, &[]),
                "unknown family",
            ),
            (
                "v2 unspecified, TCP",
                v2_header(0x21, 0x01, &[]),
                "unknown family",
            ),
            (
                "v2 unspecified, UDP",
                v2_header(0x21, 0x02, &[]),
                "unknown family",
            ),
            (
                "v2 IPv4 too short",
                v2_header(0x21, 0x11, &v4_body()[..11]),
                "too short",
            ),
            (
                "v2 IPv6 too short",
                v2_header(0x21, 0x21, &v4_body()),
                "too short",
            ),
            (
                "v2 too long",
                v2_header(0x21, 0x11, &[0; MAX_V2_LEN + 1]),
                "longer than this server takes",
            ),
            (
                "v2 signature off by one",
                {
                    let mut h = v2_header(0x21, 0x11, &v4_body());
                    h[11] = b'X';
                    h
                },
                "no PROXY protocol header",
            ),
        ];
        for (what, bytes, says) in rows {
            match parse(&bytes) {
                Parse::Refused(why) => assert!(why.contains(says), "{what}: {why}"),
                other => panic!("{what}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_version_command_family_and_length_is_answered_without_a_panic() {
        for ver_cmd in 0..=255u8 {
            for fam in 0..=255u8 {
                for len in [0, 1, 11, 12, 35, 36, 215, 216, 300] {
                    let header = v2_header(ver_cmd, fam, &vec![7; len]);
                    for cut in [16, header.len()] {
                        if let Parse::Done(h) = parse(&header[..cut]) {
                            assert_eq!(h.len, header.len(), "{ver_cmd:#x} {fam:#x} {len}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_wrong_header_is_refused_before_it_is_whole() {
        // The family byte refuses a v2 header before its addresses arrive...
        let h = v2_header(0x21, 0x12, &v4_body());
        assert!(matches!(parse(&h[..16]), Parse::Refused(_)));
        // ... its length, before its body...
        let h = v2_header(0x21, 0x11, &[0; MAX_V2_LEN + 1]);
        assert!(matches!(parse(&h[..16]), Parse::Refused(_)));
        // ... and the first byte that is neither signature's, at once.
        assert!(matches!(parse(b"G"), Parse::Refused(_)));
        assert!(matches!(parse(b"\r\n\r\nX"), Parse::Refused(_)));
    }
}
