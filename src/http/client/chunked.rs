//! Chunked bodies (RFC 9112 §7.1), decoded as they are read.

use std::io::{self, BufRead, Read};

use super::head::MAX_RESPONSE_HEAD;

/// The longest line of chunked framing: a chunk size with its extensions, or a trailer field.
const MAX_CHUNK_LINE: u64 = 4096;

/// Decodes a chunked body (RFC 9112 §7.1) from `inner` as it is read: chunk extensions and
/// trailer fields are read and dropped. A connection that ends before the last chunk is an
/// error (`UnexpectedEof`), as is malformed framing (`InvalidData`).
pub struct Chunked<R> {
    inner: R,
    state: Chunk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// A chunk-size line comes next.
    Size,
    /// Inside a chunk: this many data bytes left.
    Data(u64),
    /// The line end after a chunk's data comes next.
    DataEnd,
    /// The last chunk and the trailers were read.
    Done,
}

impl<R: BufRead> Chunked<R> {
    /// Decodes the body `inner` holds.
    pub fn new(inner: R) -> Chunked<R> {
        Chunked {
            inner,
            state: Chunk::Size,
        }
    }

    /// The next framing line, without its line end (CRLF or LF).
    fn line(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        (&mut self.inner)
            .take(MAX_CHUNK_LINE)
            .read_until(b'\n', buf)?;
        match buf.pop() {
            Some(b'\n') => {
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
                Ok(())
            }
            _ if buf.len() + 1 >= MAX_CHUNK_LINE as usize => Err(invalid("chunk line too long")),
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed in the middle of a chunked body",
            )),
        }
    }

    /// Reads trailer fields up to the empty line that ends the body.
    fn trailers(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        for _ in 0..MAX_RESPONSE_HEAD as u64 / MAX_CHUNK_LINE {
            self.line(buf)?;
            if buf.is_empty() {
                return Ok(());
            }
        }
        Err(invalid("too many trailer lines"))
    }
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut line = Vec::new();
        loop {
            match self.state {
                Chunk::Done => return Ok(0),
                Chunk::Size => {
                    self.line(&mut line)?;
                    let size = chunk_size(&line).ok_or_else(|| invalid("bad chunk size"))?;
                    self.state = if size == 0 {
                        self.trailers(&mut line)?;
                        Chunk::Done
                    } else {
                        Chunk::Data(size)
                    };
                }
                Chunk::Data(left) => {
                    if out.is_empty() {
                        return Ok(0);
                    }
                    let want = out.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.inner.read(&mut out[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the connection closed in the middle of a chunk",
                        ));
                    }
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    };
                    return Ok(n);
                }
                Chunk::DataEnd => {
                    self.line(&mut line)?;
                    if !line.is_empty() {
                        return Err(invalid("chunk longer than its size"));
                    }
                    self.state = Chunk::Size;
                }
            }
        }
    }
}

/// `HEX [BWS] [; extensions]`: the size, if the hex fits 64 bits.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let end = line.iter().position(|&b| b == b';').unwrap_or(line.len());
    let hex = line[..end].trim_ascii_end();
    if hex.is_empty() || hex.len() > 16 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn dechunk(input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Chunked::new(input).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn chunked_bodies_decode() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
            (b"0\r\n\r\n", b""),
            (b"5\nhello\n0\n\n", b"hello"),
            (
                b"A; name=value\r\n0123456789\r\n0;last\r\nTrailer: x\r\nMore: y\r\n\r\n",
                b"0123456789",
            ),
            (b"a \t;ext\r\n0123456789\r\n000\r\n\r\n", b"0123456789"),
            // What follows the last chunk's trailers is not read.
            (b"1\r\nx\r\n0\r\n\r\nGARBAGE", b"x"),
        ];
        for (input, want) in cases {
            let got = dechunk(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(got, *want, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn a_chunked_body_decodes_the_same_over_any_split() {
        /// Gives its bytes `step` at a time, as a socket might.
        struct Trickle<'a> {
            data: &'a [u8],
            step: usize,
        }
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.step.min(out.len()).min(self.data.len());
                out[..n].copy_from_slice(&self.data[..n]);
                self.data = &self.data[n..];
                Ok(n)
            }
        }
        let input = b"3\r\nabc\r\n10;x=y\r\n0123456789abcdef\r\n1\r\nZ\r\n0\r\nT: v\r\n\r\n";
        for step in 1..input.len() {
            for capacity in [1, 2, 7, 64] {
                let trickle = Trickle { data: input, step };
                let mut out = Vec::new();
                Chunked::new(BufReader::with_capacity(capacity, trickle))
                    .read_to_end(&mut out)
                    .unwrap();
                assert_eq!(
                    out, b"abc0123456789abcdefZ",
                    "step {step}, capacity {capacity}"
                );
            }
        }
    }

    #[test]
    fn hostile_chunked_bodies_fail_cleanly() {
        use io::ErrorKind::*;
        let long_line = format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(5000));
        let many_trailers = format!("0\r\n{}\r\n", "T: v\r\n".repeat(20_000));
        let cases: &[(&[u8], io::ErrorKind)] = &[
            (b"", UnexpectedEof),
            (b"5\r\nhel", UnexpectedEof),
            (b"5\r\nhello", UnexpectedEof),
            (b"5\r\nhello\r\n", UnexpectedEof),
            (b"0\r\n", UnexpectedEof),
            (b"0\r\nTrailer: x\r\n", UnexpectedEof),
            (b"x\r\n", InvalidData),
            (b"\r\n", InvalidData),
            (b"-1\r\n", InvalidData),
            (b"+1\r\nx\r\n0\r\n\r\n", InvalidData),
            (b"0x5\r\nhello\r\n0\r\n\r\n", InvalidData),
            (b" 5\r\nhello\r\n0\r\n\r\n", InvalidData),
            (b"10000000000000000\r\n", InvalidData),
            (b"5\r\nhello world\r\n0\r\n\r\n", InvalidData),
            (b"5\r\nhelloXY\r\n", InvalidData),
            (long_line.as_bytes(), InvalidData),
            (many_trailers.as_bytes(), InvalidData),
        ];
        for (input, kind) in cases {
            let shown = String::from_utf8_lossy(&input[..input.len().min(40)]);
            match dechunk(input) {
                Err(e) => assert_eq!(e.kind(), *kind, "{shown:?}: {e}"),
                Ok(body) => panic!("{shown:?}: decoded {body:?}"),
            }
        }
    }
}
