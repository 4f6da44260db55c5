//! `tcpserve get`'s response head parser, on any bytes: never a panic; a whole head lies
//! within the input and every shorter prefix of it waits for more (so the body never starts
//! early); what it holds is well-formed (a status from 100 to 599, token names, values without
//! controls or surrounding whitespace); and the framing and `Content-Range` it gives are
//! consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpserve::http::client::head::{content_range, framing, parse_head, ContentRange};

fuzz_target!(|data: &[u8]| {
    let Ok(Some((head, len))) = parse_head(data) else {
        return;
    };
    assert!(len <= data.len());
    // Every cut of a short head; of a long one, 64 spread over it (each check is a parse).
    let step = (len / 64).max(1);
    for cut in (0..len).step_by(step).chain(len.saturating_sub(3)..len) {
        assert_eq!(parse_head(&data[..cut]), Ok(None), "cut at {cut}");
    }
    assert_eq!(parse_head(&data[..len]), Ok(Some((head.clone(), len))));
    assert!((100..=599).contains(&head.status));
    for (name, value) in &head.fields {
        let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        assert!(!name.is_empty() && name.bytes().all(tchar), "{name:?}");
        assert!(!value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f));
        assert_eq!(value.trim_ascii(), value.as_slice());
        if let Some(ContentRange::Bytes { first, last, total }) = content_range(value) {
            assert!(first <= last && total.is_none_or(|t| last < t), "{value:?}");
        }
    }
    let _ = framing(&head);
});
