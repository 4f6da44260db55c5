//! `tcpserve get`'s URL parser, on any string: never a panic; a URL it takes makes a request
//! that tcpserve's own request parser takes whole, with the URL's target and `Host`; and the
//! file name it gives, if any, is one path component.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpserve::http::client::url::{request, Url};
use tcpserve::http::request::{parse, Header, Status, MAX_HEADERS};

fuzz_target!(|input: (u64, &str)| {
    let (from, text) = input;
    let Ok(url) = Url::parse(text) else {
        return;
    };
    assert_ne!(url.port, 0);
    assert!(url.target.starts_with('/'), "{url:?}");
    let sent = request(&url, from);
    let mut headers = [Header::EMPTY; MAX_HEADERS];
    match parse(sent.as_bytes(), &mut headers) {
        Ok(Status::Complete { head_len, request }) => {
            assert_eq!(head_len, sent.len(), "{sent:?}");
            assert_eq!(
                (request.method, request.target),
                ("GET", url.target.as_str())
            );
            assert_eq!(request.header("host"), Some(url.authority().as_bytes()));
            assert_eq!(request.header("range").is_some(), from > 0);
        }
        other => panic!("{sent:?}: {other:?}"),
    }
    if let Some(name) = url.file_name() {
        let name = name.as_encoded_bytes();
        assert!(!matches!(name, b"" | b"." | b".."), "{name:?}");
        assert!(!name.contains(&b'/') && !name.contains(&0), "{name:?}");
    }
});
