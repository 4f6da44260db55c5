//! A request target, as the files service turns it into a name: the origin form, percent
//! decoding, then the name check. Never a panic; a name the check takes is relative, with no
//! `..` and no NUL: nothing it names can be outside the root before the kernel even looks.
#![no_main]

use std::path::Component;

use libfuzzer_sys::fuzz_target;
use tcpserve::http::target::{decode, origin_form};
use tcpserve::root::relative_path;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = origin_form(data) else {
        return;
    };
    let mut out = vec![0u8; data.len() + 16];
    let Ok(name) = decode(path, &mut out) else {
        return;
    };
    let Ok(relative) = relative_path(name) else {
        return;
    };
    assert!(relative.is_relative(), "{relative:?}");
    assert!(
        relative
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
        "{relative:?} from {:?}",
        String::from_utf8_lossy(data)
    );
    assert!(!name.contains(&0));
});
