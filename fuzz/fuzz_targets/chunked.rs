//! `tcpserve get`'s chunked decoder, on any bytes: never a panic; the same bytes decode to the
//! same body, or fail the same way, however a socket hands them over (the fuzzer chooses the
//! piece size and the buffer's capacity); a body is never longer than its encoding; and once
//! the body has ended it stays ended.
#![no_main]

use std::io::{self, BufReader, Read};

use libfuzzer_sys::fuzz_target;
use tcpserve::http::client::chunked::Chunked;

/// Gives its bytes at most `step` at a time, as a socket might.
struct Pieces<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(out.len()).min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The body, read `chunk` bytes at a time, or the kind of error; and whether a read after the
/// end still says end.
fn decode(
    data: &[u8],
    step: usize,
    capacity: usize,
    chunk: usize,
) -> (Result<Vec<u8>, io::ErrorKind>, bool) {
    let mut decoder = Chunked::new(BufReader::with_capacity(capacity, Pieces { data, step }));
    let mut body = Vec::new();
    let mut out = vec![0; chunk];
    loop {
        match decoder.read(&mut out) {
            Ok(0) => return (Ok(body), matches!(decoder.read(&mut out), Ok(0))),
            Ok(n) => body.extend_from_slice(&out[..n]),
            Err(e) => return (Err(e.kind()), true),
        }
    }
}

fuzz_target!(|input: (u8, u8, u8, &[u8])| {
    let (step, capacity, chunk, data) = input;
    let whole = decode(data, data.len().max(1), 8192, 8192);
    let pieces = decode(
        data,
        usize::from(step % 16) + 1,
        usize::from(capacity % 64) + 1,
        usize::from(chunk % 32) + 1,
    );
    assert_eq!(whole, pieces);
    assert!(whole.1, "a read after the end must say end again");
    if let Ok(body) = &whole.0 {
        assert!(body.len() <= data.len());
    }
});
