//! `Range` values against file sizes: never a panic, and a part that is served lies within the
//! file, with its length the bytes it names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpserve::http::range::{parse, Range};

fuzz_target!(|input: (u64, &[u8])| {
    let (size, value) = input;
    let size = size % (1 << 50);
    let range = parse(value, size);
    if let Range::Part {
        start,
        end_inclusive,
    } = range
    {
        assert!(
            start <= end_inclusive && end_inclusive < size,
            "{start}-{end_inclusive}/{size}"
        );
        assert_eq!(range.len(size), end_inclusive - start + 1);
    }
    assert!(range.len(size) <= size);
});
