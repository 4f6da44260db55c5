//! `tcpserve get http://...` end to end: the binary against small canned HTTP servers written
//! here, one connection each on a free loopback port, which check the request the client sent
//! and answer with what the test gives them. Covers the answers real servers give (lengths,
//! no length, chunked, errors), resuming with `--continue` (206, 200, 416, inconsistent
//! answers), hostile answers and URLs, and the exit statuses.

mod common;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Output;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use common::*;

/// What a canned server does with its connection once it has read the request head.
type Answer = Box<dyn FnOnce(&mut TcpStream) + Send>;

/// A server for one connection on a free loopback port: it reads the request head, answers
/// with `answer`, and closes. Joining it gives the request head it read.
fn serve_once(answer: Answer) -> (SocketAddr, JoinHandle<String>) {
    serve_once_on(TcpListener::bind("127.0.0.1:0").unwrap(), answer)
}

/// [`serve_once`] on a listener of the caller's.
fn serve_once_on(listener: TcpListener, answer: Answer) -> (SocketAddr, JoinHandle<String>) {
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        // Nonblocking, so a client that never connects fails the test instead of hanging it.
        listener.set_nonblocking(true).unwrap();
        let mut accepted = None;
        wait_until("the client to connect", || match listener.accept() {
            Ok((stream, _)) => {
                accepted = Some(stream);
                true
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
            Err(e) => panic!("accept: {e}"),
        });
        let mut stream = accepted.unwrap();
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let request = read_request_head(&mut stream);
        answer(&mut stream);
        request
    });
    (addr, server)
}

/// Reads up to the empty line that ends a request head.
fn read_request_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!("reading the request head: {other:?} after {head:?}"),
        }
    }
    String::from_utf8(head).unwrap()
}

/// Writes `head` then `body`.
fn reply(head: &str, body: &[u8]) -> Answer {
    let mut bytes = head.as_bytes().to_vec();
    bytes.extend_from_slice(body);
    Box::new(move |stream| {
        // The client may give up first (a hostile answer); that is what the test checks.
        let _ = stream.write_all(&bytes);
    })
}

/// A 200 with `Content-Length` and `body`.
fn ok(body: &[u8]) -> Answer {
    reply(
        &format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()),
        body,
    )
}

/// A 206 for `data` from byte `from`, with `Content-Length`.
fn partial_content(data: &[u8], from: usize) -> Answer {
    let head = format!(
        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-{}/{}\r\n\
         Content-Length: {}\r\n\r\n",
        data.len() - 1,
        data.len(),
        data.len() - from
    );
    reply(&head, &data[from..])
}

/// A 200 promising 100000 bytes that sends 1000, then holds the connection until `hold`'s
/// sender is dropped.
fn stalling(hold: mpsc::Receiver<()>) -> Answer {
    Box::new(move |stream| {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&random_bytes(1000, 9)).unwrap();
        let _ = hold.recv();
    })
}

/// `http://ADDR/PATH`.
fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// The `User-Agent` this build sends.
fn user_agent() -> String {
    format!("tcpserve/{}", env!("CARGO_PKG_VERSION"))
}

/// An empty directory to download into.
fn out_dir(name: &str) -> TempDir {
    TempDir::new(name)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn assert_nothing_in(dir: &Path, what: &str) {
    let names = names(dir);
    assert!(names.is_empty(), "{what}: {names:?} left");
}

fn assert_status(run: &Output, code: i32, says: &str, what: &str) {
    let err = stderr(run);
    assert_eq!(run.status.code(), Some(code), "{what}: {err}");
    assert!(err.contains(says), "{what}: wanted {says:?} in: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
}

// ---------------------------------------------------------------------------------------------
// Whole downloads

#[test]
fn a_200_with_a_length_arrives_whole_after_the_documented_request() {
    let data = random_bytes(1 << 20, 1);
    // The URL's path, extra arguments, and the name the file gets.
    let cases: &[(&str, &[&str], &str, &str)] = &[
        (
            "/dir/a%20b.bin",
            &[],
            "a b.bin",
            "saved a b.bin (1048576 bytes)",
        ),
        (
            "/dir/y.bin?v=1#frag",
            &["-o", "."],
            "y.bin",
            "saved ./y.bin",
        ),
        ("/", &["-o", "named.bin"], "named.bin", "saved named.bin"),
    ];
    for (path, args, saved, says) in cases {
        let dir = out_dir("http-200");
        let (addr, server) = serve_once(ok(&data));
        let run = get(dir.path(), &[&[url(addr, path).as_str()], *args].concat());
        assert_status(&run, 0, says, path);
        assert!(fs::read(dir.join(saved)).unwrap() == data, "{path}");
        assert_eq!(names(dir.path()), [*saved], "{path}");
        let sent = path.split('#').next().unwrap();
        let want = format!(
            "GET {sent} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: {}\r\nAccept: */*\r\n\
             Connection: close\r\n\r\n",
            user_agent()
        );
        assert_eq!(server.join().unwrap(), want);
    }
}

#[test]
fn a_body_without_a_length_is_read_to_the_end_and_chunks_are_decoded() {
    let data = random_bytes(300_000, 2);
    let mut chunked = Vec::new();
    for piece in data.chunks(70_000) {
        chunked.extend_from_slice(format!("{:x};ext=1\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
    let cases: Vec<(&str, Answer)> = vec![
        // As python's http.server writes an error-free head, with bare LFs for good measure.
        (
            "until close",
            reply("HTTP/1.0 200 OK\nServer: SimpleHTTP/0.6\n\n", &data),
        ),
        (
            "chunked",
            reply(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                &chunked,
            ),
        ),
        (
            "after interim answers",
            reply(
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n\
                 HTTP/1.1 200 OK\r\n\r\n",
                &data,
            ),
        ),
    ];
    for (what, answer) in cases {
        let dir = out_dir("http-eof");
        let (addr, server) = serve_once(answer);
        let run = get(dir.path(), &[&url(addr, "/file.bin")]);
        assert_status(&run, 0, "saved file.bin (300000 bytes)", what);
        assert!(fs::read(dir.join("file.bin")).unwrap() == data, "{what}");
        assert!(leftovers(dir.path()).is_empty(), "{what}");
        server.join().unwrap();
    }
}

#[test]
fn an_error_status_fails_naming_the_status_line_and_leaves_no_file() {
    let cases: &[(&str, &str)] = &[
        (
            "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
            "server answered: HTTP/1.1 404 Not Found",
        ),
        (
            "HTTP/1.0 500 Internal Server Error\r\n\r\noops",
            "server answered: HTTP/1.0 500 Internal Server Error",
        ),
        (
            "HTTP/1.1 301 Moved Permanently\r\nLocation: http://example.com/b/\r\n\r\n",
            "server answered: HTTP/1.1 301 Moved Permanently (Location: http://example.com/b/)",
        ),
        // A 416 to a request without Range is just an error.
        (
            "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */0\r\n\r\n",
            "server answered: HTTP/1.1 416 Range Not Satisfiable",
        ),
    ];
    for (answer, says) in cases {
        let dir = out_dir("http-404");
        let (addr, server) = serve_once(reply(answer, b""));
        let run = get(dir.path(), &[&url(addr, "/missing.txt")]);
        assert_status(&run, 1, says, answer);
        assert_nothing_in(dir.path(), answer);
        server.join().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Failed and resumed downloads

#[test]
fn a_short_body_is_kept_as_a_partial_that_continue_completes() {
    let dir = out_dir("http-short");
    let data = random_bytes(100_000, 3);
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
    let (addr, server) = serve_once(reply(head, &data[..40_000]));
    let target = url(addr, "/x.bin");
    let run = get(dir.path(), &[&target]);
    assert_status(
        &run,
        1,
        "connection closed after 40000 of 100000 bytes",
        "short",
    );
    assert!(stderr(&run).contains("kept x.bin.part (40000 bytes): --continue resumes it"));
    assert!(fs::read(dir.join("x.bin.part")).unwrap() == data[..40_000]);
    assert!(!dir.join("x.bin").exists());
    server.join().unwrap();

    // A fresh download does not silently replace the partial.
    let run = get(dir.path(), &[&target]);
    assert_status(
        &run,
        1,
        "x.bin.part holds an earlier partial download",
        "again",
    );

    let (addr, server) = serve_once(partial_content(&data, 40_000));
    let run = get(dir.path(), &[&url(addr, "/x.bin"), "--continue"]);
    assert_status(
        &run,
        0,
        "saved x.bin (100000 bytes, resumed after 40000)",
        "resume",
    );
    assert!(fs::read(dir.join("x.bin")).unwrap() == data);
    assert_eq!(names(dir.path()), ["x.bin"]);
    let request = server.join().unwrap();
    assert!(request.contains("\r\nRange: bytes=40000-\r\n"), "{request}");
}

#[test]
fn continue_resumes_a_partial_left_under_the_destinations_own_name() {
    // As wget -c and curl -C - leave it; this 206 has no length, Content-Range gives it.
    let dir = out_dir("http-own");
    let data = random_bytes(50_000, 4);
    fs::write(dir.join("x.bin"), &data[..12_345]).unwrap();
    let head = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 12345-49999/50000\r\n\r\n";
    let (addr, server) = serve_once(reply(head, &data[12_345..]));
    let run = get(dir.path(), &[&url(addr, "/x.bin"), "-c"]);
    assert_status(&run, 0, "resumed after 12345", "own name");
    assert!(fs::read(dir.join("x.bin")).unwrap() == data);
    assert_eq!(names(dir.path()), ["x.bin"]);
    assert!(server
        .join()
        .unwrap()
        .contains("\r\nRange: bytes=12345-\r\n"));
}

#[test]
fn continue_starts_over_when_the_server_ignores_the_range() {
    let dir = out_dir("http-restart");
    let data = random_bytes(50_000, 5);
    fs::write(dir.join("x.bin.part"), random_bytes(20_000, 99)).unwrap();
    let (addr, server) = serve_once(ok(&data));
    let run = get(dir.path(), &[&url(addr, "/x.bin"), "--continue"]);
    assert_status(&run, 0, "ignored the range", "restart");
    assert!(stderr(&run).contains("starting over"), "{}", stderr(&run));
    assert!(fs::read(dir.join("x.bin")).unwrap() == data);
    assert_eq!(names(dir.path()), ["x.bin"]);
    assert!(server
        .join()
        .unwrap()
        .contains("\r\nRange: bytes=20000-\r\n"));
}

#[test]
fn continue_with_a_416_for_the_same_length_is_already_complete() {
    let data = random_bytes(10_000, 6);
    let head = "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */10000\r\n\r\n";
    // The complete partial, under which name; the partial becomes the file either way.
    for held in ["x.bin.part", "x.bin"] {
        let dir = out_dir("http-416");
        fs::write(dir.join(held), &data).unwrap();
        let (addr, server) = serve_once(reply(head, b""));
        let run = get(dir.path(), &[&url(addr, "/x.bin"), "--continue"]);
        assert_status(&run, 0, "x.bin was already complete (10000 bytes)", held);
        assert!(fs::read(dir.join("x.bin")).unwrap() == data, "{held}");
        assert_eq!(names(dir.path()), ["x.bin"], "{held}");
        assert!(server
            .join()
            .unwrap()
            .contains("\r\nRange: bytes=10000-\r\n"));
    }
}

#[test]
fn inconsistent_answers_to_a_range_leave_the_partial_untouched() {
    let data = random_bytes(1000, 7);
    let cases: &[(&str, &str)] = &[
        (
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-999/1000\r\n\r\n",
            "cannot resume from byte 300: the server's 206 has Content-Range 'bytes 0-999/1000'",
        ),
        (
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 300-998/1000\r\n\r\n",
            "'bytes 300-998/1000'",
        ),
        (
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 300-999/*\r\n\r\n",
            "'bytes 300-999/*'",
        ),
        (
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 300-999/1000\r\n\
             Content-Length: 1000\r\n\r\n",
            "Content-Length 1000 does not match the 700 bytes of Content-Range",
        ),
        (
            "HTTP/1.1 206 Partial Content\r\nContent-Length: 700\r\n\r\n",
            "no Content-Range",
        ),
        (
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes=300-999/1000\r\n\r\n",
            "'bytes=300-999/1000'",
        ),
        (
            "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */200\r\n\r\n",
            "the partial file has 300 bytes, the server's file 200",
        ),
        (
            "HTTP/1.1 416 Range Not Satisfiable\r\n\r\n",
            "without saying the file's size",
        ),
        (
            "HTTP/1.1 404 Not Found\r\n\r\n",
            "server answered: HTTP/1.1 404 Not Found",
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "unsupported Transfer-Encoding 'gzip'",
        ),
    ];
    for (answer, says) in cases {
        let dir = out_dir("http-inconsistent");
        fs::write(dir.join("x.bin.part"), &data[..300]).unwrap();
        let (addr, server) = serve_once(reply(answer, &data[300..]));
        let run = get(dir.path(), &[&url(addr, "/x.bin"), "--continue"]);
        assert_status(&run, 1, says, answer);
        assert!(
            stderr(&run).contains("kept x.bin.part (300 bytes)"),
            "{answer}"
        );
        assert!(
            fs::read(dir.join("x.bin.part")).unwrap() == data[..300],
            "{answer}"
        );
        assert_eq!(names(dir.path()), ["x.bin.part"], "{answer}");
        server.join().unwrap();
    }
}

#[test]
fn a_resumed_body_of_the_wrong_length_fails_verifying_the_total() {
    // Chunked, so only the total can tell: 100 bytes where Content-Range promised 700.
    let dir = out_dir("http-total");
    let data = random_bytes(1000, 8);
    fs::write(dir.join("x.bin.part"), &data[..300]).unwrap();
    let mut body = b"64\r\n".to_vec();
    body.extend_from_slice(&data[300..400]);
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    let head = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 300-999/1000\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    let (addr, server) = serve_once(reply(head, &body));
    let run = get(dir.path(), &[&url(addr, "/x.bin"), "--continue"]);
    assert_status(
        &run,
        1,
        "verifying the total length: the file has 400 bytes, the server said 1000",
        "total",
    );
    assert!(fs::read(dir.join("x.bin.part")).unwrap() == data[..400]);
    assert!(!dir.join("x.bin").exists());
    server.join().unwrap();
}

#[test]
fn a_stalled_transfer_times_out_and_keeps_what_came() {
    let dir = out_dir("http-stall");
    let (hold, held) = mpsc::channel::<()>();
    let (addr, server) = serve_once(stalling(held));
    let run = get(dir.path(), &[&url(addr, "/x.bin"), "--timeout", "0.5"]);
    drop(hold);
    assert_status(&run, 1, "receiving the file: timed out", "stall");
    assert!(stderr(&run).contains("kept x.bin.part (1000 bytes)"));
    assert_eq!(fs::metadata(dir.join("x.bin.part")).unwrap().len(), 1000);
    server.join().unwrap();
}

#[test]
fn a_partial_being_written_is_not_written_by_a_second_download() {
    let dir = out_dir("http-lock");
    let (hold, held) = mpsc::channel::<()>();
    let (addr, server) = serve_once(stalling(held));
    let first = {
        let target = url(addr, "/x.bin");
        let out = dir.path().to_path_buf();
        thread::spawn(move || get(&out, &[&target, "--timeout", "20"]))
    };
    let part = dir.join("x.bin.part");
    wait_until("the first download to write", || {
        fs::metadata(&part).is_ok_and(|m| m.len() == 1000)
    });
    // --continue goes for the partial, --force for a fresh start: both find it locked.
    for flag in ["--continue", "--force"] {
        let run = get(dir.path(), &[&url(addr, "/x.bin"), flag]);
        assert_status(
            &run,
            1,
            "x.bin.part is being written by another download",
            flag,
        );
    }
    drop(hold);
    let first = first.join().unwrap();
    assert_status(
        &first,
        1,
        "connection closed after 1000 of 100000 bytes",
        "first",
    );
    assert_eq!(fs::metadata(&part).unwrap().len(), 1000);
    server.join().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Refusals

#[test]
fn an_existing_file_is_kept_unless_forced_and_continue_will_not_replace_it() {
    // A closed port: the refusal comes before any connection.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = out_dir("http-exists");
    fs::write(dir.join("x.bin"), b"OLD").unwrap();
    let run = get(dir.path(), &[&url(closed, "/x.bin")]);
    assert_status(
        &run,
        1,
        "x.bin exists; not overwriting it without --force",
        "plain",
    );
    // A partial beside it would, once whole, replace it.
    fs::write(dir.join("x.bin.part"), b"PART").unwrap();
    let run = get(dir.path(), &[&url(closed, "/x.bin"), "--continue"]);
    assert_status(
        &run,
        1,
        "x.bin exists; not overwriting it without --force",
        "continue",
    );
    assert_eq!(fs::read(dir.join("x.bin")).unwrap(), b"OLD");
    assert_eq!(fs::read(dir.join("x.bin.part")).unwrap(), b"PART");

    let (addr, server) = serve_once(ok(b"NEW"));
    let run = get(dir.path(), &[&url(addr, "/x.bin"), "--force"]);
    assert_status(&run, 0, "saved x.bin (3 bytes)", "forced");
    assert_eq!(fs::read(dir.join("x.bin")).unwrap(), b"NEW");
    assert_eq!(names(dir.path()), ["x.bin"]);
    server.join().unwrap();
}

#[test]
fn hostile_answers_fail_cleanly_keeping_only_bytes_of_the_file() {
    let huge_head = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(70_000));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("nothing", vec![], "closed the connection without answering"),
        (
            "half a head",
            b"HTTP/1.1 200 OK\r\nContent-Le".to_vec(),
            "after 27 bytes of a response head",
        ),
        (
            "not http",
            b"SSH-2.0-OpenSSH_9.6\r\n".to_vec(),
            "not an HTTP response",
        ),
        (
            "http/0.9",
            b"<html>hello</html>".to_vec(),
            "not an HTTP response",
        ),
        (
            "http/2",
            b"HTTP/2.0 200 OK\r\n\r\n".to_vec(),
            "not an HTTP/1.x response",
        ),
        (
            "huge head",
            huge_head.into_bytes(),
            "response head larger than 64 KiB",
        ),
        (
            "folded",
            b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n".to_vec(),
            "folded header line",
        ),
        (
            "NUL",
            b"HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n".to_vec(),
            "control byte",
        ),
        (
            "bad length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n".to_vec(),
            "Content-Length '12abc'",
        ),
        (
            "two lengths",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_vec(),
            "Content-Length '1, 2'",
        ),
        (
            "gzip",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(),
            "unsupported Transfer-Encoding",
        ),
        (
            "bad chunk",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            "bad chunk size",
        ),
        (
            "cut chunk",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc".to_vec(),
            "in the middle of a chunk",
        ),
        (
            "upgrade",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n".to_vec(),
            "server answered: HTTP/1.1 101",
        ),
        (
            "206 unasked",
            b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/1\r\n\r\nx".to_vec(),
            "when the whole was asked for",
        ),
    ];
    for (what, answer, says) in cases {
        let dir = out_dir("http-hostile");
        let (addr, server) = serve_once(reply("", &answer));
        let run = get(dir.path(), &[&url(addr, "/x.bin")]);
        assert_status(&run, 1, says, what);
        if what == "cut chunk" {
            // The bytes of the file that came are a partial download like any other.
            assert!(stderr(&run).contains("kept x.bin.part (3 bytes)"), "{what}");
            assert_eq!(fs::read(dir.join("x.bin.part")).unwrap(), b"abc");
        } else {
            assert_nothing_in(dir.path(), what);
        }
        server.join().unwrap();
    }
}

#[test]
fn bad_urls_and_command_lines_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["https://example.com/a"], "https:// is not supported"),
        (
            &["ftp://example.com/a"],
            "only http:// URLs are supported, not ftp://",
        ),
        (&["http:///a"], "no host in the URL"),
        (&["http://"], "no host in the URL"),
        (&["http://user:pw@127.0.0.1/a"], "user names and passwords"),
        (&["http://127.0.0.1:99999/a"], "'99999' is not a port"),
        (&["http://127.0.0.1:0/a"], "'0' is not a port"),
        (&["http://127.0.0.1:http/a"], "'http' is not a port"),
        (&["http://[::1/a"], "is not a host name or an IP address"),
        (
            &["http://ex ample.com/a"],
            "is not a host name or an IP address",
        ),
        (&["http://127.0.0.1/a b"], "percent-encode it"),
        (&["http://127.0.0.1/a%zz"], "not followed by two hex digits"),
        (&["http://127.0.0.1:1/"], "give -o PATH"),
        (&["http://127.0.0.1:1"], "give -o PATH"),
        (&["http://127.0.0.1:1/dir/"], "give -o PATH"),
        (&["http://127.0.0.1:1/%2e%2e"], "give -o PATH"),
        (&["http://127.0.0.1:1/a%2Fb"], "give -o PATH"),
        (&["http://127.0.0.1:1/a%00"], "give -o PATH"),
        (&["http://127.0.0.1:1/a", "b"], "expected one URL"),
        (
            &["127.0.0.1:1", "a", "--continue"],
            "--continue needs an http:// URL",
        ),
        (&["http://127.0.0.1:1/a", "--timeout", "0"], "--timeout"),
    ];
    let dir = out_dir("http-usage");
    for (args, says) in cases {
        let run = get(dir.path(), args);
        assert_status(&run, 2, says, &format!("{args:?}"));
        let err = stderr(&run);
        assert!(err.starts_with("tcpserve get: "), "{args:?}: {err}");
        assert!(err.contains("usage:"), "{args:?}: {err}");
        assert!(run.stdout.is_empty(), "{args:?}");
    }
    assert_nothing_in(dir.path(), "after the usage errors");
}

#[test]
fn a_host_name_resolves_and_an_ipv6_literal_connects() {
    let data = random_bytes(1000, 11);
    let dir = out_dir("http-names");
    // localhost may resolve to ::1 first; each address is tried in turn.
    let (addr, server) = serve_once(ok(&data));
    let target = format!("http://localhost:{}/x.bin", addr.port());
    let run = get(dir.path(), &[&target]);
    assert_status(&run, 0, "saved x.bin", "localhost");
    let request = server.join().unwrap();
    assert!(
        request.contains(&format!("\r\nHost: localhost:{}\r\n", addr.port())),
        "{request}"
    );

    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here: the [::1] case is not run");
        return;
    };
    let (addr, server) = serve_once_on(listener, reply("HTTP/1.1 200 OK\r\n\r\n", b"v6"));
    let port = addr.port();
    let target = format!("http://[::1]:{port}/v6.txt");
    let run = get(dir.path(), &[&target]);
    assert_status(&run, 0, "saved v6.txt", "[::1]");
    assert_eq!(fs::read(dir.join("v6.txt")).unwrap(), b"v6");
    assert!(server
        .join()
        .unwrap()
        .contains(&format!("\r\nHost: [::1]:{port}\r\n")));
}

// ---------------------------------------------------------------------------------------------
// Against tcpserve's own files service, every model

per_model!([reactor, reactors, threads, pool, iterative] downloads_and_resumes_from_tcpserve_itself);

/// A whole download, a 404, and a resume of a partial with `--continue` (206 from the server's
/// Range support, the total checked).
fn downloads_and_resumes_from_tcpserve_itself(model: tcpserve::Model) {
    let root = out_dir("http-own-root");
    let data = random_bytes(3 * 1024 * 1024 + 17, 9);
    fs::create_dir(root.join("sub")).unwrap();
    fs::write(root.join("sub/big.bin"), &data).unwrap();
    let server = start(files_config(model, root.path()));
    let target = url(files_addr(&server), "/sub/big.bin");

    let dir = out_dir("http-own-whole");
    let run = get(dir.path(), &[&target]);
    assert_status(&run, 0, "saved big.bin", "whole");
    assert!(fs::read(dir.join("big.bin")).unwrap() == data);

    let run = get(dir.path(), &[&url(files_addr(&server), "/missing.bin")]);
    assert_status(&run, 1, "HTTP/1.1 404 Not Found", "missing");
    assert!(!dir.join("missing.bin").exists());

    let dir = out_dir("http-own-resume");
    fs::write(dir.join("big.bin.part"), &data[..1_000_000]).unwrap();
    let run = get(dir.path(), &[&target, "--continue"]);
    assert_status(&run, 0, "resumed after 1000000", "resume");
    assert!(fs::read(dir.join("big.bin")).unwrap() == data);
    assert_eq!(names(dir.path()), ["big.bin"]);
}
