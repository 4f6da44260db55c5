//! A whole files session (raw names and HTTP), the input split where the fuzzer says, over
//! the scripted socket: never a panic; not one byte from outside the root is ever sent (the
//! secret beside it is made of bytes nothing else sent holds); no successful HTTP answer
//! before its whole head, nor more of them than heads; the session always ends once its
//! input has and every deadline has passed; a raw answer is a whole file of the root or
//! nothing; an HTTP answer starts with a status line.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tcpserve::fuzzing::files_session;

/// A directory of its own for this process: `root/` (served) and, beside it, a secret, with a
/// symlink to it inside the root.
fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("tcpserve-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base); // left by an earlier process with this id
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
/// Bytes no file of the root, no response head and no error text holds (the server sends no
/// byte of a request back): any of them sent is a byte from outside the root.
const SECRET: &[u8] = &[0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8];

fuzz_target!(|input: (&[u8], &[u8])| {
    let (request, cuts) = input;
    let session = files_session(root(), request, cuts);
    let out = &session.written;
    assert!(
        !out.iter().any(|b| SECRET.contains(b)),
        "a byte from outside the root went out for {:?}",
        String::from_utf8_lossy(request)
    );
    // A file is answered only to a whole request: after every turn, no more successful HTTP
    // answers have gone out than whole heads had come in (error answers may come sooner: a
    // malformed head is refused as soon as it shows).
    let count =
        |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).filter(|w| *w == needle).count();
    for &(fed, written) in &session.turns {
        let answered = count(&out[..written], b"HTTP/1.1 2");
        let heads = count(&request[..fed], b"\r\n\r\n");
        assert!(
            answered <= heads,
            "{answered} answers to {heads} whole heads after {fed} bytes of {:?}",
            String::from_utf8_lossy(request)
        );
    }
    // Given the end of input and every deadline, a session always ends.
    assert!(
        session.closed,
        "still open for {:?}",
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
