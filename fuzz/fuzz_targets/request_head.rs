//! The HTTP request head parser, on any bytes: never a panic; a complete head lies within the
//! input, and every part of it (method, target, field names and values) within the head; the
//! first-line detector agrees with the parser about heads it takes whole (but for a leading
//! empty line: see below).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpserve::http::request::{looks_like_http, parse, Detect, Header, Status, MAX_HEADERS};

fuzz_target!(|data: &[u8]| {
    let mut headers = [Header::EMPTY; MAX_HEADERS];
    let detect = looks_like_http(data);
    let Ok(Status::Complete { head_len, request }) = parse(data, &mut headers) else {
        return;
    };
    assert!(head_len <= data.len());
    assert!(data[..head_len].ends_with(b"\r\n\r\n"));
    // Only the whole head is a head: every shorter prefix waits for more (so nothing is
    // answered before a request is complete).
    let request_copy = (request.method, request.target, request.headers.len());
    // Every cut of a short head; of a long one, 64 spread over it (each check is a parse).
    let step = (head_len / 64).max(1);
    for cut in (0..head_len)
        .step_by(step)
        .chain(head_len.saturating_sub(4)..head_len)
    {
        let mut again = [Header::EMPTY; MAX_HEADERS];
        assert_eq!(
            parse(&data[..cut], &mut again),
            Ok(Status::Partial),
            "cut at {cut}"
        );
    }
    let mut again = [Header::EMPTY; MAX_HEADERS];
    match parse(&data[..head_len], &mut again) {
        Ok(Status::Complete {
            head_len: len,
            request: r,
        }) => {
            assert_eq!(
                (len, (r.method, r.target, r.headers.len())),
                (head_len, request_copy)
            );
        }
        other => panic!("the head alone: {other:?}"),
    }
    let head = data[..head_len].as_ptr_range();
    let within =
        |s: &[u8]| s.is_empty() || (head.contains(&s.as_ptr()) && s.as_ptr_range().end <= head.end);
    assert!(within(request.method.as_bytes()) && within(request.target.as_bytes()));
    for h in request.headers {
        assert!(within(h.name.as_bytes()) && within(h.value));
    }
    // A head the parser takes whole is HTTP to the first-line detector too, unless it begins
    // with the empty line RFC 9112 lets a request follow: the parser skips it inside a
    // session, where it may end the previous request; on a connection's first line it is an
    // empty raw name.
    if !data.starts_with(b"\r\n") && !data.starts_with(b"\n") {
        let head = String::from_utf8_lossy(&data[..head_len]);
        assert_ne!(detect, Detect::Raw, "{head:?}");
    }
});
