//! `tcpserve get` end to end: the binary against an in-process files server, or against a
//! misbehaving server written here, checking the no-overwrite and no-half-file rules.

#[macro_use]
mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;

use common::*;
use tcpserve::Model;

per_model!(
    [reactor, reactors, threads, pool, iterative]
    a_file_arrives_whole_under_its_own_name_or_the_one_given,
    an_existing_file_is_kept_unless_forced,
    a_refused_name_saves_an_empty_file_and_says_why_it_may_be_empty,
);

/// A scratch tree: `root/` served, `out/` to download into.
fn tree(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    fs::create_dir_all(dir.path().join("root/sub")).unwrap();
    fs::create_dir_all(dir.path().join("out")).unwrap();
    dir
}

fn a_file_arrives_whole_under_its_own_name_or_the_one_given(model: Model) {
    let dir = tree("get-whole");
    let data = random_bytes(3 << 20, 11);
    fs::write(dir.path().join("root/sub/data.bin"), &data).unwrap();
    let server = start(files_config(model, &dir.path().join("root")));
    let addr = files_addr(&server).to_string();
    let out = dir.path().join("out");

    let run = get(&out, &[&addr, "sub/data.bin"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(fs::read(out.join("data.bin")).unwrap() == data);
    assert!(stderr(&run).contains("saved"), "{}", stderr(&run));

    let run = get(&out, &[&addr, "/sub/data.bin", "-o", "renamed.bin"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(fs::read(out.join("renamed.bin")).unwrap() == data);
    assert!(leftovers(&out).is_empty());
}

fn an_existing_file_is_kept_unless_forced(model: Model) {
    let dir = tree("get-force");
    fs::write(dir.path().join("root/new.txt"), b"NEW").unwrap();
    let server = start(files_config(model, &dir.path().join("root")));
    let addr = files_addr(&server).to_string();
    let out = dir.path().join("out");
    fs::write(out.join("new.txt"), b"OLD").unwrap();

    let run = get(&out, &[&addr, "new.txt"]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(stderr(&run).contains("--force"), "{}", stderr(&run));
    assert_eq!(fs::read(out.join("new.txt")).unwrap(), b"OLD");

    let run = get(&out, &[&addr, "new.txt", "--force"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(fs::read(out.join("new.txt")).unwrap(), b"NEW");
    assert!(leftovers(&out).is_empty());
}

/// What a bad server does with its one connection.
type Misbehaviour = Box<dyn FnOnce(std::net::TcpStream) + Send>;

/// A server that answers one request by `misbehave`.
fn bad_server(misbehave: impl FnOnce(std::net::TcpStream) + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut name = [0u8; 64];
            let _ = stream.read(&mut name);
            misbehave(stream);
        }
    });
    addr
}

#[test]
fn a_broken_transfer_leaves_no_file_behind() {
    // The stalling server holds its connection until this is dropped, after the client ran.
    let (hold, held) = std::sync::mpsc::channel::<()>();
    let cases: Vec<(&str, Misbehaviour, &str)> = vec![
        (
            "reset mid-stream",
            Box::new(|mut s| {
                s.write_all(&random_bytes(200_000, 5)).unwrap();
                reset(s);
            }),
            "receiving",
        ),
        (
            "stalls mid-stream",
            Box::new(move |mut s| {
                s.write_all(&random_bytes(10_000, 6)).unwrap();
                let _ = held.recv();
            }),
            "timed out",
        ),
    ];
    for (what, misbehave, says) in cases {
        let dir = tree("get-broken");
        let out = dir.path().join("out");
        let addr = bad_server(misbehave).to_string();
        let run = get(&out, &[&addr, "file.bin", "--timeout", "0.5"]);
        assert_eq!(run.status.code(), Some(1), "{what}: {}", stderr(&run));
        assert!(stderr(&run).contains(says), "{what}: {}", stderr(&run));
        assert!(
            !out.join("file.bin").exists(),
            "{what}: a half file was left"
        );
        assert!(leftovers(&out).is_empty(), "{what}: {:?}", leftovers(&out));
    }
    drop(hold);
}

fn a_refused_name_saves_an_empty_file_and_says_why_it_may_be_empty(model: Model) {
    let dir = tree("get-empty");
    let server = start(files_config(model, &dir.path().join("root")));
    let out = dir.path().join("out");
    let run = get(&out, &[&files_addr(&server).to_string(), "missing.txt"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stderr(&run).contains("0 bytes"), "{}", stderr(&run));
    assert_eq!(fs::read(out.join("missing.txt")).unwrap(), b"");
}

#[test]
fn usage_and_connection_errors_create_nothing() {
    let dir = tree("get-errors");
    let out = dir.path().join("out");
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cases: &[(&[&str], i32, &str)] = &[
        (&[&closed.to_string(), "x.txt"], 1, "cannot connect"),
        (&["127.0.0.1:1", "sub/"], 2, "give -o PATH"),
        (&["127.0.0.1:1"], 2, "expected ADDR and NAME"),
        (&["127.0.0.1:1", "a", "b"], 2, "expected ADDR and NAME"),
        (&["127.0.0.1:1", "a", "--timeout", "0"], 2, "--timeout"),
        (&["127.0.0.1:1", "a", "--bogus"], 2, "bogus"),
    ];
    for (args, code, says) in cases {
        let run = get(&out, args);
        assert_eq!(run.status.code(), Some(*code), "{args:?}: {}", stderr(&run));
        assert!(stderr(&run).contains(says), "{args:?}: {}", stderr(&run));
        assert!(!stderr(&run).contains("panicked"));
    }
    assert_eq!(fs::read_dir(&out).unwrap().count(), 0);
}
