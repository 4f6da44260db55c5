//! The PROXY protocol header parser, on any bytes: never a panic; a whole header lies within
//! the input, and the same bytes cut anywhere before its end are never refused (a refusal
//! must not depend on how the bytes arrived) nor whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpserve::proxy::{parse, Parse};

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Parse::Done(header) => {
            assert!(header.len <= data.len());
            for cut in 0..header.len {
                assert_eq!(parse(&data[..cut]), Parse::Partial, "cut at {cut}");
            }
            assert_eq!(
                parse(&data[..header.len]),
                Parse::Done(header),
                "the header alone"
            );
        }
        Parse::Refused(_) | Parse::Partial => {}
    }
});
