//! Custom response headers (`--header`, `Builder::header`) and the CORS preflight, over real
//! sockets against an in-process server of each model on a free port: every kind of response
//! (200, 206, 304, 301, 404, 416, 405, 400, 408, HEAD, 204) carries the configured fields once;
//! with `Access-Control-Allow-Origin`, `OPTIONS` (any target, `*` included) is 204 with them,
//! keep-alive honoured, and `Vary: Origin` comes unless the origin is `*`; without it, `OPTIONS`
//! stays 405. curl sees the same. Hostile `--header` values (CR, LF, malformed names, fields
//! the server owns) are usage errors of the real binary (exit 2, with the reason), and the
//! same through the `Builder` (a NUL cannot be passed in an argument).

#[macro_use]
mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::child::{bin, have, read_all_on_thread, ChildGuard};
use common::http::{closes_after, curl, get, request, Client, Response};
use common::*;
use tcpserve::{Builder, Handle, Model, StartError};

per_model!(
    [reactor, reactors, threads, pool, iterative]
    every_kind_of_response_carries_the_fields_once,
    an_unfinished_head_gets_408_with_the_fields,
    options_is_a_preflight_with_an_origin_and_keeps_the_connection,
    a_wildcard_origin_has_no_vary,
    options_without_an_origin_is_still_405,
    an_options_with_a_body_is_refused_and_closes,
    curl_sees_the_fields_and_the_preflight,
    the_other_options_answers_carry_the_fields,
);

const ORIGIN: &str = "https://app.example";

/// A tree with one file, `a.txt` (10 bytes), and a directory `d/`.
fn tree(test: &str) -> TempDir {
    let dir = TempDir::new(test);
    fs::write(dir.join("a.txt"), b"0123456789").unwrap();
    fs::create_dir(dir.join("d")).unwrap();
    dir
}

fn with_fields(builder: Builder, fields: &[(&str, &str)]) -> Builder {
    fields
        .iter()
        .fold(builder, |b, (name, value)| b.header(*name, *value))
}

fn server(model: Model, dir: &TempDir, fields: &[(&str, &str)]) -> Handle {
    start(with_fields(files_config(model, dir.path()), fields))
}

/// `fields` each appear exactly once in `got`, with their values, after the server's own.
fn assert_fields(got: &Response, fields: &[(&str, &str)]) {
    for (name, value) in fields {
        assert_eq!(got.all(name), vec![*value], "{name}: {}", got.describe());
    }
    let first = got
        .fields
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case(fields[0].0));
    let date = got.fields.iter().position(|(n, _)| n == "Date");
    assert!(first > date, "custom fields after Date: {}", got.describe());
}

const CACHE: [(&str, &str); 3] = [
    ("Cache-Control", "public, max-age=60"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'self'"),
];

fn every_kind_of_response_carries_the_fields_once(model: Model) {
    let dir = tree("every-kind");
    let server = server(model, &dir, &CACHE);
    let addr = files_addr(&server);
    let ok = Client::connect(addr).exchange(&get("/a.txt", &[]), false);
    let ok = ok.unwrap();
    assert_eq!((ok.status, &ok.body[..]), (200, &b"0123456789"[..]));
    assert_fields(&ok, &CACHE);
    let etag = ok.field("etag").unwrap().to_string();
    let if_none_match = format!("If-None-Match: {etag}");
    // (request, HEAD, status)
    let cases: Vec<(Vec<u8>, bool, u16)> = vec![
        (request("HEAD", "/a.txt", &[]), true, 200),
        (get("/a.txt", &["Range: bytes=2-4"]), false, 206),
        (get("/a.txt", &[&if_none_match]), false, 304),
        (get("/d", &[]), false, 301),
        (get("/nope", &[]), false, 404),
        (get("/a.txt", &["Range: bytes=50-"]), false, 416),
        (get("/%2e%2e/x", &[]), false, 400),
        (request("POST", "/a.txt", &[]), false, 405),
        (request("OPTIONS", "*", &[]), false, 405),
        (
            b"GET /a.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            false,
            400,
        ),
        (
            b"GET /a.txt HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(),
            false,
            505,
        ),
    ];
    for (req, head_only, status) in cases {
        // A connection each: several of these close it.
        let got = Client::connect(addr).exchange(&req, head_only);
        let got = got.unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(&req)));
        assert_eq!(got.status, status, "{}", got.describe());
        assert_fields(&got, &CACHE);
        assert!(
            got.all("vary").is_empty(),
            "no origin, no Vary: {}",
            got.describe()
        );
    }
}

/// The answers other options make (a listing, an error page, a single-page app's file, a
/// precompressed file) carry the fields too, and a listing's own `no-store` gives way to the
/// operator's `Cache-Control`: one caching policy per response.
fn the_other_options_answers_carry_the_fields(model: Model) {
    let dir = tree("other-options");
    fs::write(dir.join("404.html"), b"<p>gone</p>").unwrap();
    fs::write(dir.join("app.html"), b"<p>app</p>").unwrap();
    fs::write(dir.join("a.txt.gz"), b"gz bytes").unwrap();
    let builder = files_config(model, dir.path())
        .listing(true)
        .error_page(404, "404.html")
        .spa("app.html")
        .precompressed(true);
    let server = start(with_fields(builder, &CACHE));
    let addr = files_addr(&server);
    // (request, status, body)
    let cases: &[(&str, &[&str], u16, &[u8])] = &[
        ("/d/", &[], 200, b""),
        ("/nope.txt", &[], 404, b"<p>gone</p>"),
        ("/route/42", &[], 200, b"<p>app</p>"),
        ("/a.txt", &["Accept-Encoding: gzip"], 200, b"gz bytes"),
    ];
    for (target, fields, status, body) in cases {
        let got = Client::connect(addr).exchange(&get(target, fields), false);
        let got = got.unwrap_or_else(|e| panic!("{target}: {e}"));
        assert_eq!(got.status, *status, "{target}: {}", got.describe());
        if !body.is_empty() {
            assert_eq!(&got.body[..], *body, "{target}");
        }
        assert_fields(&got, &CACHE);
    }
}

fn an_unfinished_head_gets_408_with_the_fields(model: Model) {
    let dir = tree("timeout");
    let builder = files_config(model, dir.path()).request_timeout(Duration::from_millis(200));
    let server = start(with_fields(builder, &CACHE));
    let mut client = Client::connect(files_addr(&server));
    // The read waits for the server's own timer: no sleep here.
    let got = client.exchange(b"GET /a.txt HTTP/1.1\r\n", false).unwrap();
    assert_eq!(got.status, 408, "{}", got.describe());
    assert_fields(&got, &CACHE);
    closes_after(&mut client, &got).unwrap();
}

fn cors(origin: &str) -> [(&str, &str); 3] {
    [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
        ("Access-Control-Allow-Headers", "Range, If-None-Match"),
    ]
}

fn preflight(target: &str) -> Vec<u8> {
    request(
        "OPTIONS",
        target,
        &[
            &format!("Origin: {ORIGIN}"),
            "Access-Control-Request-Method: GET",
            "Access-Control-Request-Headers: range",
        ],
    )
}

fn options_is_a_preflight_with_an_origin_and_keeps_the_connection(model: Model) {
    let dir = tree("preflight");
    let fields = cors(ORIGIN);
    let server = server(model, &dir, &fields);
    let mut client = Client::connect(files_addr(&server));
    // Sent in one write: the iterative model keeps a connection only for a request already
    // here, and every other model keeps it anyway.
    let pipelined = [
        preflight("*"),
        preflight("/a.txt"),
        preflight("/no/such/file?x=1"),
        get("/a.txt", &[&format!("Origin: {ORIGIN}")]),
        request("OPTIONS", "/a.txt", &["Connection: close"]),
    ]
    .concat();
    client.send(&pipelined).unwrap();
    for i in 0..3 {
        let got = client.response(false).unwrap();
        assert_eq!(got.status, 204, "preflight {i}: {}", got.describe());
        assert!(got.body.is_empty() && got.field("content-length").is_none());
        assert!(!got.says_close(), "{}", got.describe());
        assert_eq!(got.field("allow"), Some("GET, HEAD, OPTIONS"));
        assert_fields(&got, &fields);
        assert_eq!(got.all("vary"), vec!["Origin"], "{}", got.describe());
    }
    let got = client.response(false).unwrap();
    assert_eq!((got.status, &got.body[..]), (200, &b"0123456789"[..]));
    assert_fields(&got, &fields);
    assert_eq!(got.all("vary"), vec!["Origin"], "{}", got.describe());
    let last = client.response(false).unwrap();
    assert_eq!(last.status, 204, "{}", last.describe());
    closes_after(&mut client, &last).unwrap();

    // HTTP/1.0 asking to keep the connection is told it is kept.
    let mut client = Client::connect(files_addr(&server));
    let old = b"OPTIONS * HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    client
        .send(&[&old[..], &get("/a.txt", &[])].concat())
        .unwrap();
    let got = client.response(false).unwrap();
    assert_eq!(got.status, 204, "{}", got.describe());
    assert_eq!(got.field("connection"), Some("keep-alive"));
    assert_eq!(client.response(false).unwrap().status, 200);
}

fn a_wildcard_origin_has_no_vary(model: Model) {
    let dir = tree("wildcard");
    let fields = cors("*");
    let server = server(model, &dir, &fields);
    let addr = files_addr(&server);
    for req in [preflight("/a.txt"), get("/a.txt", &[]), get("/nope", &[])] {
        let got = Client::connect(addr).exchange(&req, false).unwrap();
        assert_fields(&got, &fields);
        assert!(got.all("vary").is_empty(), "{}", got.describe());
    }
}

fn options_without_an_origin_is_still_405(model: Model) {
    let dir = tree("no-origin");
    let server = server(model, &dir, &CACHE);
    for target in ["*", "/a.txt"] {
        let mut client = Client::connect(files_addr(&server));
        let got = client.exchange(&preflight(target), false).unwrap();
        assert_eq!(got.status, 405, "{}", got.describe());
        assert_eq!(got.field("allow"), Some("GET, HEAD"));
        assert_fields(&got, &CACHE);
        closes_after(&mut client, &got).unwrap();
    }
}

fn an_options_with_a_body_is_refused_and_closes(model: Model) {
    let dir = tree("options-body");
    let server = server(model, &dir, &cors(ORIGIN));
    // A preflight has no body: one with a body is refused as a GET's is, then the connection
    // closes, so the body is never read as a request.
    let cases: [(&[u8], u16); 2] = [
        (
            b"OPTIONS * HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nGET /",
            413,
        ),
        (
            b"OPTIONS * HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
    ];
    for (req, status) in cases {
        let mut client = Client::connect(files_addr(&server));
        let got = client.exchange(req, false).unwrap();
        assert_eq!(got.status, status, "{}", got.describe());
        assert_fields(&got, &cors(ORIGIN));
        closes_after(&mut client, &got).unwrap();
    }
}

fn curl_sees_the_fields_and_the_preflight(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let dir = tree("curl");
    let fields = [cors(ORIGIN)[0], CACHE[0], CACHE[1]];
    let server = server(model, &dir, &fields);
    let url = |path: &str| format!("http://{}{path}", files_addr(&server));
    let origin = format!("Origin: {ORIGIN}");
    let has = |ran: &common::http::Ran, line: &str| {
        let text = ran.stdout_text();
        assert!(ran.ok(), "{}", ran.describe());
        assert!(
            text.lines().any(|l| l.trim_end() == line),
            "no {line:?}: {}",
            ran.describe()
        );
    };
    let acao = format!("Access-Control-Allow-Origin: {ORIGIN}");
    // A GET from a page of another origin.
    let ran = curl(dir.path(), &["-si", "-H", &origin, &url("/a.txt")]);
    for line in [
        "HTTP/1.1 200 OK",
        &acao,
        "Vary: Origin",
        "Cache-Control: public, max-age=60",
        "0123456789",
    ] {
        has(&ran, line);
    }
    // The browser's preflight, for a path and for `*`.
    for extra in [&[][..], &["--request-target", "*"][..]] {
        let mut args = vec![
            "-si",
            "-X",
            "OPTIONS",
            "-H",
            &origin,
            "-H",
            "Access-Control-Request-Method: GET",
        ];
        args.extend_from_slice(extra);
        let target = url("/a.txt");
        args.push(&target);
        let ran = curl(dir.path(), &args);
        for line in [
            "HTTP/1.1 204 No Content",
            &acao,
            "Vary: Origin",
            "X-Content-Type-Options: nosniff",
        ] {
            has(&ran, line);
        }
    }
    // Errors carry them too.
    let ran = curl(dir.path(), &["-si", &url("/nope")]);
    for line in ["HTTP/1.1 404 Not Found", &acao, "Vary: Origin"] {
        has(&ran, line);
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile `--header` values: usage errors
// ---------------------------------------------------------------------------------------------

/// Each row is one `--header` argument the binary must refuse with exit 2 and this text.
const HOSTILE_OPTIONS: &[(&str, &str)] = &[
    (
        "X-A: b\r\nSet-Cookie: admin=1",
        "the value holds a CR, LF or NUL",
    ),
    (
        "X-A: b\r\n\r\nHTTP/1.1 200 OK",
        "the value holds a CR, LF or NUL",
    ),
    ("X-A: b\nX-B: c", "the value holds a CR, LF or NUL"),
    ("X-A: b\r", "the value holds a CR, LF or NUL"),
    ("X-A: \x1b[31m", "the value holds the control byte 0x1b"),
    ("X-A: \x7f", "the value holds the control byte 0x7f"),
    ("X-A\r\nSet-Cookie: a", "the name is not a token"),
    ("X-A : b", "the name is not a token"),
    (" X-A: b", "the name is not a token"),
    ("X A: b", "the name is not a token"),
    (": b", "the name is not a token"),
    ("X-A", "not of the form 'Name: value'"),
    ("", "not of the form 'Name: value'"),
    ("X-A:", "the value is empty"),
    ("X-A:  \t", "the value is empty"),
    (
        "Content-Length: 0",
        "Content-Length is written by the server itself",
    ),
    (
        "transfer-encoding: chunked",
        "Transfer-Encoding is written by the server itself",
    ),
    (
        "Connection: close",
        "Connection is written by the server itself",
    ),
    ("Date: x", "Date is written by the server itself"),
    (
        "Content-Range: bytes */1",
        "Content-Range is written by the server itself",
    ),
    (
        "Content-Encoding: gzip",
        "Content-Encoding is written by the server itself",
    ),
];

/// Runs `tcpserve serve` with `headers` as `--header` options: its exit code and stderr.
fn serve_with(dir: &TempDir, headers: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(bin());
    cmd.args([
        "serve",
        "--files",
        "127.0.0.1:0",
        "--log",
        "off",
        "--access-log",
        "off",
    ])
    .arg("--root")
    .arg(dir.path());
    for h in headers {
        cmd.args(["--header", h]);
    }
    let mut child = ChildGuard(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let err = read_all_on_thread(child.0.stderr.take().unwrap());
    let status = child.wait_exit();
    (status.code(), err.join().unwrap())
}

#[test]
fn hostile_header_options_are_usage_errors() {
    let dir = tree("hostile-cli");
    for (arg, why) in HOSTILE_OPTIONS {
        let (code, err) = serve_with(&dir, &[arg]);
        assert_eq!(code, Some(2), "{arg:?}: {err}");
        let first = err.lines().next().unwrap_or("");
        assert!(
            first.starts_with("tcpserve serve: --header") && first.contains(why),
            "{arg:?}: want {why:?}, got {err}"
        );
        // The refusal shows the value escaped: a CR or LF in it never starts a line.
        assert!(
            err.lines().nth(1).is_some_and(|l| l.starts_with("usage:")),
            "{arg:?}: {err}"
        );
    }
    // Refused as a set: a second origin.
    let twice = [
        "Access-Control-Allow-Origin: *",
        "access-control-allow-origin: *",
    ];
    let (code, err) = serve_with(&dir, &twice);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("takes one origin (or *), given once"), "{err}");
    // And a list of origins in one (checked with the set, at bind).
    let list = ["Access-Control-Allow-Origin: https://a.example, https://b.example"];
    let (code, err) = serve_with(&dir, &list);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("takes one origin (or *), given once"), "{err}");
    let big = format!("X-Big: {}", "a".repeat(9000));
    let (code, err) = serve_with(&dir, &[&big]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("at most 8192"), "{err}");
}

#[test]
fn hostile_builder_headers_are_refused_at_bind() {
    let dir = tree("hostile-builder");
    let cases: &[(&str, &str, &str)] = &[
        ("X-A", "a\0b", "the value holds a CR, LF or NUL"),
        (
            "X-A",
            "a\r\nSet-Cookie: x",
            "the value holds a CR, LF or NUL",
        ),
        ("X-A\r\nY", "b", "the name is not a token"),
        ("", "b", "the name is not a token"),
        ("X-A", "", "the value is empty"),
        (
            "CONTENT-TYPE",
            "text/html",
            "Content-Type is written by the server itself",
        ),
    ];
    for (name, value, why) in cases {
        let builder = files_config(Model::Reactor, dir.path()).header(*name, *value);
        match builder.bind() {
            Err(e @ StartError::Header(_)) => {
                let (text, want) = (e.to_string(), format!("header: {why}"));
                assert!(text.starts_with(&want), "{name:?}: {value:?}: {text}")
            }
            Err(e) => panic!("{name:?}: {value:?}: {e}"),
            Ok(_) => panic!("{name:?}: {value:?} was accepted"),
        }
    }
}
