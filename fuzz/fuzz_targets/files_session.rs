//! A whole files session (raw names and HTTP), the input split where the fuzzer says, over
//! the scripted socket: never a panic; nothing from outside the root is ever sent; a raw
//! answer is a whole file of the root or nothing; an HTTP answer starts with a status line.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tcpserve::fuzzing::files_session;

/// Under a directory of its own: `root/` (served) and, beside it, a secret.
fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("tcpserve-fuzz-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("dir")).unwrap();
        std::fs::write(root.join("a.txt"), FILES[0]).unwrap();
        std::fs::write(root.join("dir/index.html"), FILES[1]).unwrap();
        std::fs::write(base.join("secret"), SECRET).unwrap();
        std::os::unix::fs::symlink("../secret", root.join("link")).unwrap();
        root
    })
}

const FILES: [&[u8]; 2] = [b"alpha\n", b"<p>index</p>\n"];
const SECRET: &[u8] = b"SECRET-OUTSIDE-THE-ROOT";

fuzz_target!(|input: (&[u8], &[u8])| {
    let (request, cuts) = input;
    let session = files_session(root(), request, cuts);
    let out = &session.written;
    assert!(
        !out.windows(SECRET.len()).any(|w| w == SECRET),
        "the secret went out for {:?}",
        String::from_utf8_lossy(request)
    );
    if out.is_empty() || out.starts_with(b"HTTP/1.1 ") {
        return;
    }
    assert!(
        FILES.contains(&out.as_slice()),
        "a raw answer that is no whole file: {:?} for {:?}",
        String::from_utf8_lossy(out),
        String::from_utf8_lossy(request)
    );
});
