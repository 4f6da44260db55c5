//! Issue 12, HTTP correctness on the files port, over real sockets against an in-process server
//! of each model on a free port:
//!
//! - **405 before 413**: a method other than GET and HEAD is answered 405 with `Allow` and
//!   `Connection: close` whatever body it announces, and the connection closes; a body (or a
//!   request pipelined behind) is never taken for a next request. curl's `-X POST -d x` too.
//! - **Directory redirects**: `/dir` (a directory under the root) is 301 to `/dir/`, the query
//!   kept, the `Location` built from the confined, normalised, decoded path and re-encoded, so
//!   no spelling of the target (`//evil.com`, `/%2Fevil.com`, a CR LF, a `?` in a name) can make
//!   it leave the site, split the head or change its meaning. curl `-L` follows it.
//! - **Telling HTTP from raw names, patiently**: a first line that begins like a request line
//!   waits for the rest of the head (up to the request timeout), not the raw quiet period; a
//!   line ending in ` HTTP/d.d` that is otherwise malformed is 400, not a silent close; bare
//!   names (the lesson's client) still download after the quiet period; the few raw names that
//!   now read as an unfinished request get 408.
//! - **Absolute-form targets** (`http://host/path`) are served exactly like origin-form, with
//!   the same confinement, and the authority is never contacted.
//! - **Content types** of the newer formats.
//! - Beside the list: a HEAD refused for its head (413, 501, 400) gets no body.
//!
//! Every test runs under every model. None needs an idle kept connection: where keep-alive is
//! checked (after a redirect), the next request is pipelined behind the first, and even the
//! iterative model keeps a connection whose next request has already arrived.

#[macro_use]
mod common;

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::hostile::{contains, unique};
use common::http::{closes_after, curl, get, parse_response, request, shorten, Client, Response};
use common::*;
use tcpserve::http::response;
use tcpserve::{Builder, Handle, Model};

per_model!(
    [reactor, reactors, threads, pool, iterative]
    other_methods_get_405_and_a_close_whatever_their_body,
    curl_gets_405_not_413_for_other_methods,
    a_directory_without_its_slash_is_redirected,
    curl_follows_a_directory_redirect_to_its_index,
    a_request_line_may_arrive_slowly,
    malformed_request_lines_get_400_not_a_silent_close,
    raw_names_still_download_after_the_quiet_period,
    the_lessons_download_client_gets_a_plain_name,
    raw_names_shaped_like_a_request_line_are_unfinished_requests,
    absolute_form_targets_are_served_like_origin_form,
    curl_sends_an_absolute_form_target,
    content_types_of_the_newer_formats,
    a_head_refused_for_its_head_gets_no_body,
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// How long a row waits for each read.
const ROW_WAIT: Duration = Duration::from_secs(5);

/// The body of `smuggled.txt`: a request for it hidden in a body or behind a refused request
/// must never be answered.
const SMUGGLED: &str = "SMUGGLED-RESPONSE-BODY";

/// The content of `hello.txt`, the file most rows ask for.
const HELLO: &[u8] = b"hello from tcpserve\n";

/// The served tree: (path under the root, content); a path ending in `/` is a directory with
/// no `index.html`. Names are bytes: a backslash, a CR LF, `?`, `#` and `%` are all legal in a
/// Linux file name, and each is a way to break a `Location` built carelessly.
const TREE: &[(&[u8], &[u8])] = &[
    (b"hello.txt", HELLO),
    (b"index.html", b"<!doctype html><title>the root</title>\n"),
    (b"smuggled.txt", SMUGGLED.as_bytes()),
    // Directories, for the redirects.
    (b"dir/index.html", b"<!doctype html><title>dir</title>\n"),
    (
        b"dir/sub/index.html",
        b"<!doctype html><title>dir/sub</title>\n",
    ),
    (b"empty/", b""),
    (b"a b/index.html", b"<!doctype html><title>a b</title>\n"),
    (
        b"evil.com/index.html",
        b"<!doctype html><title>evil.com, a directory</title>\n",
    ),
    (
        b"\\evil.com/index.html",
        b"<!doctype html><title>backslash evil.com</title>\n",
    ),
    (b"a\\b/", b""),
    (b"100%/", b""),
    (b"q?x/", b""),
    (b"h#x/", b""),
    ("你好/".as_bytes(), b""),
    (b"x\r\nSet-Cookie: a=1/", b""),
    // Raw names the lesson's client may send: still raw.
    (b"my file.txt", b"a raw name with a space\n"),
    (b"README.md", b"# a readme, by raw name\n"),
    (b"docs/a.txt", b"a raw name with a slash\n"),
    (
        b"Get /x",
        b"a raw name whose first word is not all capitals\n",
    ),
    (b"get /x", b"a raw name whose first word is lowercase\n"),
    (
        b"MY FILE.txt",
        b"capitals and a space, but no slash after it\n",
    ),
    (b"POST", b"a file named POST\n"),
    // Raw names that now read as the start of a request line: never downloaded raw.
    (b"GET /x", b"RAW-DOWNLOAD of the name GET /x\n"),
    (
        b"PUT /hello.txt",
        b"RAW-DOWNLOAD of the name PUT /hello.txt\n",
    ),
    // Bare, these are how a request line sent slowly starts (see
    // raw_names_shaped_like_a_request_line_are_unfinished_requests); ended, still raw names.
    (b"GET", b"RAW-DOWNLOAD of the name GET\n"),
    (b"HEAD", b"RAW-DOWNLOAD of the name HEAD\n"),
    (b"G", b"RAW-DOWNLOAD of the name G\n"),
];

/// A scratch tree: `root/` (served, filled from [`TREE`]), beside it `secret` and
/// `outside/{secret.txt,index.html}` holding a unique marker that must never be served, and
/// `out/` for the clients' downloads. `root/link_dir` leads to `dir` (inside), `root/dir_out`
/// to `outside` (out of the root).
struct Site {
    dir: TempDir,
    marker: String,
}

impl Site {
    fn new(test: &str) -> Site {
        let dir = TempDir::new(test);
        let marker = format!("TOP-SECRET-{:016x}", unique());
        let site = Site { dir, marker };
        for sub in ["root", "outside", "out"] {
            fs::create_dir_all(site.dir.join(sub)).unwrap();
        }
        let secret = format!("{}: never to be served\n", site.marker);
        fs::write(site.dir.join("secret"), &secret).unwrap();
        fs::write(site.dir.join("outside/secret.txt"), &secret).unwrap();
        fs::write(site.dir.join("outside/index.html"), &secret).unwrap();
        for (rel, data) in TREE {
            site.put(rel, data);
        }
        symlink("dir", site.root().join("link_dir")).unwrap();
        symlink("../outside", site.root().join("dir_out")).unwrap();
        site
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    fn path(&self, rel: &[u8]) -> PathBuf {
        self.root().join(OsStr::from_bytes(rel))
    }

    /// Writes `data` at `rel` under the root, creating its directories; a `rel` ending in `/`
    /// is only a directory.
    fn put(&self, rel: &[u8], data: &[u8]) {
        let path = self.path(rel);
        if rel.ends_with(b"/") {
            fs::create_dir_all(&path).unwrap();
        } else {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, data).expect("write a test file");
        }
    }

    /// The content of the file at `rel` under the root.
    fn content(&self, rel: &[u8]) -> Vec<u8> {
        fs::read(self.path(rel)).expect("a file inside the root")
    }

    /// A new empty directory under `out/` for a client to download into.
    fn out(&self, name: &str) -> PathBuf {
        let path = self.dir.join("out").join(name);
        fs::create_dir_all(&path).unwrap();
        path
    }

    /// A files server of `model` with the defaults (a quiet period of 100 ms, a request
    /// timeout of 10 s).
    fn start(&self, model: Model) -> Handle {
        start(self.config(model))
    }

    fn config(&self, model: Model) -> Builder {
        files_config(model, &self.root())
    }

    /// Fails the test if the marker from outside the root is in `bytes`.
    fn assert_no_secret(&self, bytes: &[u8], what: &str) {
        assert!(
            !contains(bytes, self.marker.as_bytes()),
            "{what}: THE SECRET FROM OUTSIDE THE ROOT CAME BACK in \"{}\"",
            shorten(bytes)
        );
    }
}

fn url(server: &Handle, path: &str) -> String {
    format!("http://{}{path}", files_addr(server))
}

/// Reads the head curl wrote with `-D FILE`.
fn head_from(bytes: &[u8], what: &str) -> Response {
    match parse_response(bytes, true) {
        Ok(Some((got, _))) => got,
        other => panic!("{what}: no whole head in \"{}\": {other:?}", shorten(bytes)),
    }
}

/// What is wrong with an error response: a short plain-text body (unless it answers a HEAD).
fn error_body_problem(got: &Response, head_only: bool) -> Option<String> {
    let content_type = got.field("content-type");
    if content_type != Some(response::TEXT_PLAIN) {
        return Some(format!(
            "Content-Type {content_type:?}, want {:?}",
            response::TEXT_PLAIN
        ));
    }
    let short = !got.body.is_empty() && got.body.len() <= 100;
    (!head_only && (!short || std::str::from_utf8(&got.body).is_err()))
        .then(|| format!("want a short text body, got {} bytes", got.body.len()))
}

/// Runs every row through `check`, then fails the test listing every row that failed, so one
/// run shows the whole picture.
fn table<R>(rows: &[R], name: impl Fn(&R) -> String, check: impl Fn(&R) -> Result<(), String>) {
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            check(row)
                .err()
                .map(|e| format!("{}\n      {e}", name(row)))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n  {}",
        failures.len(),
        rows.len(),
        failures.join("\n  ")
    );
}

/// What a target must get, in the redirect and absolute-form tables.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// 200 with exactly the file at this path under the root (for a HEAD, its length), and the
    /// connection kept.
    Page(&'static str),
    /// 301 with exactly this `Location`, a `Content-Length`, a short body, and the connection
    /// kept.
    Redirect(&'static str),
    /// This status (an error: its short text); the connection may close.
    Status(u16),
}

/// Sends `method target` with a GET of hello.txt pipelined behind it (so that every model,
/// the iterative one too, keeps the connection where it should) and checks the first answer,
/// then, for a page or a redirect, that the second comes on the same connection.
fn play(
    site: &Site,
    addr: SocketAddr,
    method: &str,
    target: &str,
    want: Want,
) -> Result<(), String> {
    let head_only = method == "HEAD";
    let bytes = [
        request(method, target, &[]),
        get("/hello.txt", &["Connection: close"]),
    ]
    .concat();
    let mut client = Client::with_timeout(addr, ROW_WAIT);
    let result = play_on(site, &mut client, &bytes, head_only, want);
    if contains(&client.received, site.marker.as_bytes()) {
        return Err(format!(
            "THE SECRET FROM OUTSIDE THE ROOT CAME BACK; {result:?}"
        ));
    }
    result
}

fn play_on(
    site: &Site,
    client: &mut Client,
    bytes: &[u8],
    head_only: bool,
    want: Want,
) -> Result<(), String> {
    let got = client.exchange(bytes, head_only)?;
    if !got.all("set-cookie").is_empty() {
        return Err(format!(
            "a field made of a decoded CR LF: {}",
            got.describe()
        ));
    }
    match want {
        Want::Status(status) => {
            if got.status != status {
                return Err(format!("want {status}, got {}", got.describe()));
            }
            return error_body_problem(&got, head_only)
                .map_or(Ok(()), |p| Err(format!("{p}: {}", got.describe())));
        }
        Want::Page(rel) => {
            let content = site.content(rel.as_bytes());
            let body_ok = head_only || got.body == content;
            if got.status != 200 || got.content_length() != Some(content.len() as u64) || !body_ok {
                return Err(format!(
                    "want 200 with the {} bytes of {rel}, got {}",
                    content.len(),
                    got.describe()
                ));
            }
        }
        Want::Redirect(location) => {
            if got.status != 301 || got.all("location") != [location] {
                return Err(format!(
                    "want 301 with Location: {location}, got {}",
                    got.describe()
                ));
            }
            // The parser has already insisted on exactly one Content-Length for a GET.
            if got.content_length().is_none() || got.body.len() > 512 {
                return Err(format!(
                    "want a Content-Length and a short body: {}",
                    got.describe()
                ));
            }
        }
    }
    if got.says_close() {
        return Err(format!(
            "want the connection kept (a request is waiting behind): {}",
            got.describe()
        ));
    }
    let next = client
        .response(false)
        .map_err(|e| format!("the pipelined request behind it: {e}"))?;
    if (next.status, &next.body[..]) != (200, HELLO) {
        return Err(format!(
            "the pipelined request behind it: {}",
            next.describe()
        ));
    }
    Ok(())
}

/// Sends `parts` one after another with `pause` between them, each in its own segment
/// (`TCP_NODELAY`), as a slow client or a slow link delivers a request.
fn send_slowly(client: &mut Client, parts: &[Vec<u8>], pause: Duration) -> io::Result<()> {
    client.stream.set_nodelay(true)?;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // The pause is the scenario: longer than the raw quiet period.
            thread::sleep(pause);
        }
        client.send(part)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 405 before 413
// ---------------------------------------------------------------------------------------------

/// A GET of smuggled.txt: placed where a body goes, or pipelined behind a request that is
/// refused, it must never be answered.
const SMUGGLE: &str = "GET /smuggled.txt HTTP/1.1\r\nHost: x\r\n\r\n";

/// The bodies a refused method may come with; each is followed by [`SMUGGLE`].
#[derive(Debug, Clone, Copy)]
enum Body {
    None,
    /// `Content-Length: 1` and `x`.
    OneByte,
    /// `Transfer-Encoding: chunked` and one chunk of `x`.
    Chunked,
    /// `Content-Length` of the GET behind, which is the body (and nothing follows it).
    IsAGet,
    /// `Content-Length: 1000000` and four bytes of it: the answer must not wait for the rest.
    Promised,
}

fn with_body(method: &str, body: Body) -> Vec<u8> {
    let head = format!("{method} /hello.txt HTTP/1.1\r\nHost: x\r\n");
    match body {
        Body::None => format!("{head}\r\n{SMUGGLE}"),
        Body::OneByte => format!("{head}Content-Length: 1\r\n\r\nx{SMUGGLE}"),
        Body::Chunked => {
            format!("{head}Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n{SMUGGLE}")
        }
        Body::IsAGet => format!("{head}Content-Length: {}\r\n\r\n{SMUGGLE}", SMUGGLE.len()),
        Body::Promised => format!("{head}Content-Length: 1000000\r\n\r\nxxxx{SMUGGLE}"),
    }
    .into_bytes()
}

fn other_methods_get_405_and_a_close_whatever_their_body(model: Model) {
    let site = Site::new("http12-405");
    let server = site.start(model);
    let addr = files_addr(&server);

    // The control: a GET with another pipelined behind it gets both answered, so a row below
    // that gets one answer has had its follower refused, not lost.
    let mut client = Client::with_timeout(addr, ROW_WAIT);
    client.send(&with_body("GET", Body::None)).unwrap();
    let first = client.response(false).expect("the GET");
    let second = client.response(false).expect("the GET pipelined behind it");
    assert_eq!((first.status, &first.body[..]), (200, HELLO));
    assert_eq!(
        (second.status, &second.body[..]),
        (200, SMUGGLED.as_bytes())
    );

    // `get` is not GET (methods are case-sensitive): its line ends in ` HTTP/1.1`, so it is
    // HTTP, with an unknown method. CONNECT and BREW: any method, even one nobody serves.
    let methods = [
        "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "BREW", "get",
    ];
    let bodies = [
        Body::None,
        Body::OneByte,
        Body::Chunked,
        Body::IsAGet,
        Body::Promised,
    ];
    let mut rows: Vec<(String, Vec<u8>)> = methods
        .iter()
        .flat_map(|m| bodies.map(|b| (format!("{m} with body {b:?}"), with_body(m, b))))
        .collect();
    rows.push((
        "HTTP/1.0 POST with a body".into(),
        format!("POST /hello.txt HTTP/1.0\r\nContent-Length: 1\r\n\r\nx{SMUGGLE}").into_bytes(),
    ));
    rows.push((
        "POST to a directory (405, not 301: the method decides first), more behind it".into(),
        b"POST /dir HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx\
          POST /missing HTTP/1.1\r\nHost: x\r\n\r\nPOST /../secret HTTP/1.1\r\nHost: x\r\n\r\n"
            .to_vec(),
    ));
    table(
        &rows,
        |(name, bytes)| format!("{name}: \"{}\"", shorten(bytes)),
        |(_, bytes)| {
            let mut client = Client::with_timeout(addr, ROW_WAIT);
            let got = client.exchange(bytes, false)?;
            let result = check_405(&got).and_then(|()| closes_after(&mut client, &got));
            if contains(&client.received, SMUGGLED.as_bytes()) {
                return Err(format!("THE SMUGGLED REQUEST WAS ANSWERED; {result:?}"));
            }
            site.assert_no_secret(&client.received, "a 405 row");
            result
        },
    );

    // GET and HEAD with a body are still refused for the body (and the connection closed).
    let controls = [
        (with_body("GET", Body::OneByte), 413),
        (with_body("GET", Body::IsAGet), 413),
        (with_body("GET", Body::Chunked), 501),
    ];
    table(
        &controls,
        |(bytes, status)| format!("{status} for \"{}\"", shorten(bytes)),
        |(bytes, status)| {
            let mut client = Client::with_timeout(addr, ROW_WAIT);
            let got = client.exchange(bytes, bytes.starts_with(b"HEAD"))?;
            if got.status != *status {
                return Err(format!("want {status}, got {}", got.describe()));
            }
            closes_after(&mut client, &got)
        },
    );
}

/// A 405 as the spec has it: `Allow: GET, HEAD` and a short text ([`closes_after`] checks the
/// `Connection: close` and the close).
fn check_405(got: &Response) -> Result<(), String> {
    if got.status != 405 {
        return Err(format!("want 405, got {}", got.describe()));
    }
    if got.all("allow") != ["GET, HEAD"] {
        return Err(format!("want Allow: GET, HEAD: {}", got.describe()));
    }
    error_body_problem(got, false).map_or(Ok(()), |p| Err(format!("{p}: {}", got.describe())))
}

fn curl_gets_405_not_413_for_other_methods(model: Model) {
    let site = Site::new("http12-curl-405");
    let server = site.start(model);
    let out = site.out("curl");
    // More than curl's 1 MiB threshold: curl sends `Expect: 100-continue` and waits; the 405
    // comes before any byte of the body.
    fs::write(out.join("big.bin"), random_bytes(2 << 20, 12)).unwrap();
    let address = url(&server, "/hello.txt");

    let cases: [&[&str]; 7] = [
        &["-X", "POST", "-d", "x"],
        &["-d", "x"], // curl's POST
        &["-X", "DELETE"],
        &["-X", "PUT", "-d", "x"],
        &["-X", "OPTIONS"],
        &["-X", "PATCH", "-d", "x", "-H", "Transfer-Encoding: chunked"],
        &["-X", "PUT", "--data-binary", "@big.bin"],
    ];
    table(
        &cases,
        |args| format!("curl {}", args.join(" ")),
        |args| {
            let mut all = args.to_vec();
            all.extend_from_slice(&["-D", "head.txt", "-o", "body", "-w", "%{http_code}"]);
            all.push(&address);
            let ran = curl(&out, &all);
            if !ran.ok() || ran.stdout_text() != "405" {
                return Err(format!("want a 405: {}", ran.describe()));
            }
            let head = head_from(&fs::read(out.join("head.txt")).unwrap(), "curl -D");
            if head.all("allow") != ["GET, HEAD"] || !head.says_close() {
                return Err(format!(
                    "want Allow: GET, HEAD and Connection: close: {}",
                    head.describe()
                ));
            }
            Ok(())
        },
    );
}

/// Beyond issue 12's list, found beside it: a response to HEAD never has a body (RFC 9112
/// §6.3: it ends at the empty line, whatever its fields say), a refusal of the head included;
/// a body there is read as garbage, or as the next response by a client that reuses the
/// connection.
fn a_head_refused_for_its_head_gets_no_body(model: Model) {
    let site = Site::new("http12-head-fault");
    let server = site.start(model);
    let addr = files_addr(&server);
    let rows = [
        (
            "HEAD /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx",
            413,
        ),
        (
            "HEAD /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        ("HEAD /hello.txt HTTP/1.1\r\n\r\n", 400), // no Host
        (
            "HEAD /%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            400,
        ),
    ];
    table(
        &rows,
        |(bytes, status)| format!("{status} for \"{}\"", shorten(bytes.as_bytes())),
        |(bytes, status)| {
            let mut client = Client::with_timeout(addr, ROW_WAIT);
            let got = client.exchange(bytes.as_bytes(), true)?;
            if got.status != *status {
                return Err(format!("want {status}, got {}", got.describe()));
            }
            closes_after(&mut client, &got)
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Directory redirects
// ---------------------------------------------------------------------------------------------

/// (method, target, what it gets): the `Location` is the confined, normalised, decoded path
/// re-encoded, beginning with exactly one `/`; a byte outside the unreserved characters and the
/// safe sub-delims is percent-encoded in upper case (RFC 3986 §2.1).
const REDIRECTS: &[(&str, &str, Want)] = &[
    ("GET", "/dir", Want::Redirect("/dir/")),
    ("HEAD", "/dir", Want::Redirect("/dir/")),
    ("GET", "/dir?a=1&b", Want::Redirect("/dir/?a=1&b")),
    // A `?` inside the fragment is no query.
    ("GET", "/dir#f?x", Want::Redirect("/dir/")),
    // The query is kept as sent, escapes and all.
    (
        "GET",
        "/dir?q=a%20b&r=/x",
        Want::Redirect("/dir/?q=a%20b&r=/x"),
    ),
    ("GET", "/dir/sub", Want::Redirect("/dir/sub/")),
    ("GET", "/empty", Want::Redirect("/empty/")),
    ("GET", "/link_dir", Want::Redirect("/link_dir/")),
    // Spelled oddly: the Location is the normalised path.
    ("GET", "//dir", Want::Redirect("/dir/")),
    ("GET", "/%2fdir", Want::Redirect("/dir/")),
    ("GET", "/./dir", Want::Redirect("/dir/")),
    ("GET", "/dir/.", Want::Redirect("/dir/")),
    ("GET", "/dir//sub", Want::Redirect("/dir/sub/")),
    ("GET", "/dir%2Fsub", Want::Redirect("/dir/sub/")),
    // Python's CVE-2021-28861: `//evil.com/` is a link to another site. Never.
    ("GET", "//evil.com", Want::Redirect("/evil.com/")),
    ("GET", "/%2Fevil.com", Want::Redirect("/evil.com/")),
    ("GET", "/%2F%2Fevil.com", Want::Redirect("/evil.com/")),
    ("GET", "/.//evil.com", Want::Redirect("/evil.com/")),
    ("GET", "///evil.com", Want::Redirect("/evil.com/")),
    // Browsers read `/\evil.com` as `//evil.com`: a backslash is always encoded.
    ("GET", "/%5Cevil.com", Want::Redirect("/%5Cevil.com/")),
    ("GET", "/\\evil.com", Want::Redirect("/%5Cevil.com/")),
    ("GET", "/a%5Cb", Want::Redirect("/a%5Cb/")),
    ("GET", "/a\\b", Want::Redirect("/a%5Cb/")),
    // Names that would change the Location's meaning unencoded.
    ("GET", "/a%20b", Want::Redirect("/a%20b/")),
    ("GET", "/100%25", Want::Redirect("/100%25/")),
    ("GET", "/q%3Fx", Want::Redirect("/q%3Fx/")),
    ("GET", "/h%23x", Want::Redirect("/h%23x/")),
    (
        "GET",
        "/%E4%BD%A0%E5%A5%BD",
        Want::Redirect("/%E4%BD%A0%E5%A5%BD/"),
    ),
    (
        "GET",
        "/%e4%bd%a0%e5%a5%bd",
        Want::Redirect("/%E4%BD%A0%E5%A5%BD/"),
    ),
    // A CR LF in a name: encoded, never a field of the response.
    (
        "GET",
        "/x%0D%0ASet-Cookie:%20a=1",
        Want::Redirect("/x%0D%0ASet-Cookie:%20a=1/"),
    ),
    // With the slash: the index, or 404 without one; no redirect.
    ("GET", "/dir/", Want::Page("dir/index.html")),
    ("HEAD", "/dir/", Want::Page("dir/index.html")),
    ("GET", "/dir/sub/", Want::Page("dir/sub/index.html")),
    ("GET", "/a%20b/", Want::Page("a b/index.html")),
    ("GET", "/link_dir/", Want::Page("dir/index.html")),
    ("GET", "/empty/", Want::Status(404)),
    ("GET", "/", Want::Page("index.html")),
    // A file is a file.
    ("GET", "/hello.txt", Want::Page("hello.txt")),
    ("GET", "/dir/index.html", Want::Page("dir/index.html")),
    // Confinement first: a directory out of the root is not found, never redirected to (that
    // would tell a stranger it exists); `..` is refused as everywhere.
    ("GET", "/dir_out", Want::Status(404)),
    ("GET", "/dir_out/", Want::Status(404)),
    ("GET", "/missing", Want::Status(404)),
    ("GET", "/dir/%2e%2e", Want::Status(400)),
    ("GET", "/dir/..", Want::Status(400)),
    ("GET", "/%2e%2e/outside", Want::Status(400)),
];

fn a_directory_without_its_slash_is_redirected(model: Model) {
    let site = Site::new("http12-redirect");
    let server = site.start(model);
    let addr = files_addr(&server);
    table(
        REDIRECTS,
        |(method, target, want)| format!("{method} {target} -> {want:?}"),
        |&(method, target, want)| play(&site, addr, method, target, want),
    );
}

fn curl_follows_a_directory_redirect_to_its_index(model: Model) {
    let site = Site::new("http12-curl-redirect");
    let server = site.start(model);
    let out = site.out("curl");
    let base = url(&server, "");

    // (path as curl sends it, the index it ends at, the path it ends at)
    let cases = [
        ("/dir", "dir/index.html", "/dir/"),
        ("/dir/sub", "dir/sub/index.html", "/dir/sub/"),
        ("/a%20b", "a b/index.html", "/a%20b/"),
        ("/dir?a=1", "dir/index.html", "/dir/?a=1"),
        // `--path-as-is` sends these unchanged; a `//evil.com/` Location would send curl away
        // from this server.
        ("//evil.com", "evil.com/index.html", "/evil.com/"),
        ("/%2Fevil.com", "evil.com/index.html", "/evil.com/"),
    ];
    table(
        &cases,
        |(path, ..)| format!("curl -L {path}"),
        |&(path, index, end)| {
            let address = format!("{base}{path}");
            let ran = curl(
                &out,
                &[
                    "-L",
                    "--path-as-is",
                    "--max-redirs",
                    "3",
                    "-o",
                    "body",
                    "-w",
                    "%{http_code} %{num_redirects} %{url_effective}",
                    &address,
                ],
            );
            let want = format!("200 1 {base}{end}");
            if !ran.ok() || ran.stdout_text() != want {
                return Err(format!("want \"{want}\": {}", ran.describe()));
            }
            let body = fs::read(out.join("body")).unwrap();
            if body != site.content(index.as_bytes()) {
                return Err(format!("want {index}, got \"{}\"", shorten(&body)));
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Telling HTTP from raw names
// ---------------------------------------------------------------------------------------------

/// Longer than the raw quiet period (100 ms by default) by a margin.
const LONG_PAUSE: Duration = Duration::from_millis(300);
/// Longer than the quiet period too, between single bytes.
const BYTE_PAUSE: Duration = Duration::from_millis(150);

fn a_request_line_may_arrive_slowly(model: Model) {
    let site = Site::new("http12-slow");
    let server = site.start(model);
    let addr = files_addr(&server);
    let rest = b" HTTP/1.1\r\nHost: x\r\n\r\n".as_slice();
    let split = |a: &[u8], b: &[u8]| vec![a.to_vec(), b.to_vec()];

    // (what, the parts sent with a pause between them, the pause, HEAD)
    let mut cases: Vec<(&str, Vec<Vec<u8>>, Duration, bool)> = vec![
        (
            "a pause before the version",
            split(b"GET /hello.txt", rest),
            LONG_PAUSE,
            false,
        ),
        (
            "a pause after GET /hel",
            split(b"GET /hel", &[b"lo.txt".as_slice(), rest].concat()),
            LONG_PAUSE,
            false,
        ),
        (
            "a pause right after the target's slash",
            split(b"GET /", &[b"hello.txt".as_slice(), rest].concat()),
            LONG_PAUSE,
            false,
        ),
        (
            "HEAD, a pause before the version",
            split(b"HEAD /hello.txt", rest),
            LONG_PAUSE,
            true,
        ),
        (
            "absolute form, a pause inside the path",
            split(b"GET http://x/hel", &[b"lo.txt".as_slice(), rest].concat()),
            LONG_PAUSE,
            false,
        ),
        (
            "absolute form in capitals, a pause after the authority",
            split(b"GET HTTPS://X/", &[b"hello.txt".as_slice(), rest].concat()),
            LONG_PAUSE,
            false,
        ),
        (
            "a pause after the request line",
            split(b"GET /hello.txt HTTP/1.1\r\n", b"Host: x\r\n\r\n"),
            LONG_PAUSE,
            false,
        ),
        (
            "a pause inside a field",
            split(b"GET /hello.txt HTTP/1.1\r\nHo", b"st: x\r\n\r\n"),
            LONG_PAUSE,
            false,
        ),
    ];
    for line in [
        &b"GET /hello.txt HTTP/1.1"[..],
        b"GET http://h/hello.txt HTTP/1.1",
    ] {
        let mut bytes: Vec<Vec<u8>> = line.iter().map(|&b| vec![b]).collect();
        bytes.push(b"\r\nHost: x\r\n\r\n".to_vec());
        cases.push((
            "the request line a byte at a time",
            bytes,
            BYTE_PAUSE,
            false,
        ));
    }

    table(
        &cases,
        |(what, parts, ..)| format!("{what}: {} parts", parts.len()),
        |(_, parts, pause, head_only)| {
            let mut client = Client::with_timeout(addr, ROW_WAIT);
            send_slowly(&mut client, parts, *pause).map_err(|e| format!("sending: {e}"))?;
            let got = client.response(*head_only)?;
            let body_ok = *head_only || got.body == HELLO;
            if got.status != 200 || got.content_length() != Some(HELLO.len() as u64) || !body_ok {
                return Err(format!("want 200 with hello.txt: {}", got.describe()));
            }
            Ok(())
        },
    );
}

fn malformed_request_lines_get_400_not_a_silent_close(model: Model) {
    let site = Site::new("http12-400");
    let server = site.start(model);
    let addr = files_addr(&server);
    let host = "\r\nHost: x\r\n\r\n";

    // A first line that ends in ` HTTP/d.d` at its newline is HTTP, however wrong the rest;
    // one that begins like a request line is HTTP, however it ends.
    let rows: Vec<(&str, String)> = vec![
        ("a space in the target", format!("GET /a b HTTP/1.1{host}")),
        ("a non-token method", format!("ju{{nk / HTTP/1.1{host}")),
        (
            "two spaces after the method",
            format!("GET  /x HTTP/1.1{host}"),
        ),
        (
            "two spaces before the version",
            format!("GET /x  HTTP/1.1{host}"),
        ),
        ("a tab for a space", format!("GET\t/x HTTP/1.1{host}")),
        ("a NUL in the target", format!("GET /a\0b HTTP/1.1{host}")),
        ("a bare LF", "GET /a b HTTP/1.1\nHost: x\n\n".to_string()),
        (
            "a name and a version, no method",
            format!("hello.txt HTTP/1.1{host}"),
        ),
        ("no version", "GET / \r\n\r\n".to_string()),
        ("no version, no space", "GET /hello.txt\r\n\r\n".to_string()),
        (
            "a space after the version",
            format!("GET /x HTTP/1.1 {host}"),
        ),
        // The raw protocol's way to end a name, but the line begins like a request line.
        ("a raw name ending in a newline", "GET /x\n".to_string()),
    ];
    table(
        &rows,
        |(what, bytes)| format!("{what}: \"{}\"", shorten(bytes.as_bytes())),
        |(_, bytes)| {
            let mut client = Client::with_timeout(addr, ROW_WAIT);
            let got = client.exchange(bytes.as_bytes(), false)?;
            if got.status != 400 {
                return Err(format!("want 400, got {}", got.describe()));
            }
            if let Some(problem) = error_body_problem(&got, false) {
                return Err(format!("{problem}: {}", got.describe()));
            }
            closes_after(&mut client, &got)
        },
    );
}

fn raw_names_still_download_after_the_quiet_period(model: Model) {
    let site = Site::new("http12-raw");
    let server = site.start(model);
    let addr = files_addr(&server);

    // (what the client sends, whether it then half-closes, the file). Most are the lesson's
    // client: a bare name, no newline, then it waits for the quiet period to end the name.
    let rows: [(&[u8], bool, &[u8]); 12] = [
        (b"hello.txt", false, b"hello.txt"),
        (b"/hello.txt", false, b"hello.txt"),
        (b"my file.txt", false, b"my file.txt"),
        (b"README.md", false, b"README.md"),
        (b"docs/a.txt", false, b"docs/a.txt"),
        // Not a request line's start: lowercase in the first word, no slash after it, or a
        // capital word alone that does not begin `GET ` or `HEAD `.
        (b"Get /x", false, b"Get /x"),
        (b"get /x", false, b"get /x"),
        (b"MY FILE.txt", false, b"MY FILE.txt"),
        (b"POST", false, b"POST"),
        // A bare `GET` waits past the quiet period (a request line may be arriving a byte at a
        // time), but a newline or a half-close ends it as a raw name at once.
        (b"GET\n", false, b"GET"),
        (b"GET", true, b"GET"),
        (b"HEAD\r\n", false, b"HEAD"),
    ];
    table(
        &rows,
        |(name, half_close, _)| format!("raw \"{}\", half-close {half_close}", shorten(name)),
        |&(name, half_close, rel)| {
            let mut client = Client::with_timeout(addr, ROW_WAIT);
            client.send(name).map_err(|e| format!("sending: {e}"))?;
            if half_close {
                client
                    .half_close()
                    .map_err(|e| format!("half-close: {e}"))?;
            }
            let (got, end) = client.finish();
            let want = site.content(rel);
            if got != want || !end.closed() {
                return Err(format!(
                    "want the {} bytes of the file, then a close; got \"{}\", {end:?}",
                    want.len(),
                    shorten(&got)
                ));
            }
            Ok(())
        },
    );
}

fn the_lessons_download_client_gets_a_plain_name(model: Model) {
    let Some(client) = tutorial("download_client.py") else {
        return;
    };
    let site = Site::new("http12-lesson");
    let server = site.start(model);
    let port = files_addr(&server).port().to_string();
    let out = site.out("lesson");
    for (i, name) in ["hello.txt", "my file.txt", "docs/a.txt"]
        .iter()
        .enumerate()
    {
        let saved = out.join(format!("{i}.out"));
        let ran = Command::new("python3")
            .arg(&client)
            .args(["127.0.0.1", &port, name])
            .arg(&saved)
            .output()
            .expect("python3 runs");
        assert!(ran.status.success(), "{name}: {ran:?}");
        assert_eq!(
            fs::read(&saved).unwrap(),
            site.content(name.as_bytes()),
            "{name}"
        );
    }
}

/// These raw names change meaning: sent without a newline, `GET /x` is no longer the file
/// `GET /x` but an HTTP request still waiting for its version; at the request timeout it gets
/// 408. Acceptable: an uppercase word, one space and a slash is how every HTTP request line
/// starts, and no real file name looks like that (a directory named `GET ` with a trailing
/// space); in exchange, a request line that arrives slowly is never mistaken for a raw name.
/// For the same reason a bare `G`, `GET` or `HEAD` is no longer ended by the quiet period: a
/// request line sent a byte at a time begins so (a_request_line_may_arrive_slowly); with a
/// newline or a half-close they are still raw names (raw_names_still_download_...).
fn raw_names_shaped_like_a_request_line_are_unfinished_requests(model: Model) {
    let site = Site::new("http12-408");
    let request_timeout = Duration::from_millis(500);
    let server = start(site.config(model).request_timeout(request_timeout));
    let addr = files_addr(&server);
    let when = request_timeout..request_timeout + Duration::from_secs(5);

    // The last three are only the start of GET or HEAD, waited for as HTTP: 408 too.
    let rows: [&[u8]; 6] = [
        b"GET /x",
        b"PUT /hello.txt",
        b"GET http://x/hello.txt",
        b"GET",
        b"HEAD",
        b"G",
    ];
    table(
        &rows,
        |name| format!("raw \"{}\"", shorten(name)),
        |&name| {
            let started = Instant::now();
            let mut client = Client::with_timeout(addr, ROW_WAIT);
            client.send(name).map_err(|e| format!("sending: {e}"))?;
            // Everything up to the close, then a 408 (whole, nothing after it) or nothing.
            let (got, end) = client.finish();
            let took = started.elapsed();
            if contains(&got, b"RAW-DOWNLOAD") {
                return Err(format!("downloaded as a raw name: \"{}\"", shorten(&got)));
            }
            if !end.closed() || !when.contains(&took) {
                return Err(format!(
                    "ended {end:?} after {took:?}, want a close in {when:?}"
                ));
            }
            // A response to what began as HEAD has no body.
            match parse_response(&got, name.starts_with(b"HEAD"))? {
                Some((r, used)) if r.status == 408 && r.says_close() && used == got.len() => Ok(()),
                _ => Err(format!(
                    "want a 408 and the close, got \"{}\"",
                    shorten(&got)
                )),
            }
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Absolute form
// ---------------------------------------------------------------------------------------------

fn absolute_form_targets_are_served_like_origin_form(model: Model) {
    let site = Site::new("http12-absolute");
    let server = site.start(model);
    let addr = files_addr(&server);
    // An authority that is listening, to catch the server contacting it; nobody may connect.
    let authority = TcpListener::bind("127.0.0.1:0").unwrap();
    authority.set_nonblocking(true).unwrap();
    let here = authority.local_addr().unwrap();

    use Want::*;
    let rows: Vec<(&str, String, Want)> = vec![
        ("GET", format!("http://{here}/hello.txt"), Page("hello.txt")),
        (
            "GET",
            "http://example.invalid:1/hello.txt".into(),
            Page("hello.txt"),
        ),
        ("GET", "HTTP://X/hello.txt".into(), Page("hello.txt")),
        ("GET", "Http://x/hello.txt".into(), Page("hello.txt")),
        ("GET", "https://x/hello.txt".into(), Page("hello.txt")),
        ("GET", "HTTPS://x/hello.txt".into(), Page("hello.txt")),
        ("HEAD", "http://x/hello.txt".into(), Page("hello.txt")),
        ("GET", "http://x/hello.txt?q=1".into(), Page("hello.txt")),
        ("GET", "http://[::1]:1/hello.txt".into(), Page("hello.txt")),
        (
            "GET",
            "http://x/dir/sub/index.html".into(),
            Page("dir/sub/index.html"),
        ),
        ("GET", "http://x/my%20file.txt".into(), Page("my file.txt")),
        // No path: the root.
        ("GET", "http://x".into(), Page("index.html")),
        ("GET", "http://x/".into(), Page("index.html")),
        ("GET", "http://x?q".into(), Page("index.html")),
        ("GET", "http://example.invalid:1".into(), Page("index.html")),
        // The authority ends at `?` (RFC 3986 §3.2): what follows is a query, not a path.
        ("GET", "http://x?a=/../secret".into(), Page("index.html")),
        // Directories: redirected to an origin-form path on this server.
        ("GET", "http://x/dir".into(), Redirect("/dir/")),
        ("GET", "http://x/dir?a=1".into(), Redirect("/dir/?a=1")),
        ("HEAD", "http://x/dir".into(), Redirect("/dir/")),
        ("GET", "http://x//evil.com".into(), Redirect("/evil.com/")),
        ("GET", "http://x/%2Fevil.com".into(), Redirect("/evil.com/")),
        ("GET", "http://x/dir/".into(), Page("dir/index.html")),
        // Confinement exactly as for origin form.
        ("GET", "http://x/../secret".into(), Status(400)),
        ("GET", "http://x/%2e%2e/secret".into(), Status(400)),
        ("GET", "http://x/a/../../secret".into(), Status(400)),
        ("GET", "http://x/../outside/secret.txt".into(), Status(400)),
        ("GET", "HTTP://X/%2E%2E/secret".into(), Status(400)),
        ("GET", "http://x/dir_out/secret.txt".into(), Status(404)),
        ("GET", "http://x/dir_out/".into(), Status(404)),
        ("GET", "http://x/missing".into(), Status(404)),
        ("GET", "http://x/%00".into(), Status(400)),
        // Not HTTP's schemes, or not a URI.
        ("GET", "ftp://x/a".into(), Status(400)),
        ("GET", "ftp://x/hello.txt".into(), Status(400)),
        ("GET", "http:/hello.txt".into(), Status(400)),
        // An http URI with an empty host is rejected (RFC 9110 §4.2.1).
        ("GET", "http:///hello.txt".into(), Status(400)),
        ("GET", "http://@/hello.txt".into(), Status(400)),
        ("GET", "http://:80/hello.txt".into(), Status(400)),
        ("GET", "http://?x".into(), Status(400)),
    ];
    table(
        &rows,
        |(method, target, want)| format!("{method} {target} -> {want:?}"),
        |(method, target, want)| play(&site, addr, method, target, *want),
    );
    match authority.accept() {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        other => panic!("the server connected to the authority in a target: {other:?}"),
    }
}

fn curl_sends_an_absolute_form_target(model: Model) {
    let site = Site::new("http12-curl-absolute");
    let server = site.start(model);
    let out = site.out("curl");
    let address = url(&server, "/");

    // (curl's --request-target, what -w prints, the body for a 200)
    let cases = [
        (
            "http://example.invalid:1/hello.txt",
            "200 ".to_string(),
            Some("hello.txt"),
        ),
        ("HTTP://X/hello.txt", "200 ".to_string(), Some("hello.txt")),
        ("http://x", "200 ".to_string(), Some("index.html")),
        (
            "http://x/dir",
            format!("301 {}", url(&server, "/dir/")),
            None,
        ),
        ("http://x/../secret", "400 ".to_string(), None),
        ("http://x/%2e%2e/secret", "400 ".to_string(), None),
    ];
    table(
        &cases,
        |(target, ..)| format!("curl --request-target {target}"),
        |(target, want, page)| {
            let ran = curl(
                &out,
                &[
                    "--request-target",
                    target,
                    "-o",
                    "body",
                    "-w",
                    "%{http_code} %{redirect_url}",
                    &address,
                ],
            );
            if !ran.ok() || ran.stdout_text() != *want {
                return Err(format!("want \"{want}\": {}", ran.describe()));
            }
            let body = fs::read(out.join("body")).unwrap_or_default();
            site.assert_no_secret(&body, target);
            match page {
                Some(rel) if body != site.content(rel.as_bytes()) => {
                    Err(format!("want {rel}, got \"{}\"", shorten(&body)))
                }
                _ => Ok(()),
            }
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Content types
// ---------------------------------------------------------------------------------------------

/// (file name, the media types accepted for it)
const CONTENT_TYPES: &[(&str, &[&str])] = &[
    ("m.wasm", &["application/wasm"]),
    ("app.mjs", &["text/javascript"]),
    ("a.webp", &["image/webp"]),
    ("a.avif", &["image/avif"]),
    ("f.woff2", &["font/woff2"]),
    // IANA's type, and the one browsers and most servers send.
    ("favicon.ico", &["image/vnd.microsoft.icon", "image/x-icon"]),
    ("report.pdf", &["application/pdf"]),
    ("subs.vtt", &["text/vtt"]),
    ("song.m4a", &["audio/mp4"]),
    ("clip.mov", &["video/quicktime"]),
    ("film.mkv", &["video/x-matroska"]),
    ("page.xhtml", &["application/xhtml+xml"]),
    ("site.webmanifest", &["application/manifest+json"]),
];

/// What is wrong with `value` as the `Content-Type` for one of `accepted`: the media type must
/// be one of them; only a text type may carry a parameter, and only `charset`.
fn content_type_problem(value: &str, accepted: &[&str]) -> Option<String> {
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if !accepted.contains(&media.as_str()) {
        return Some(format!("{value:?}, want one of {accepted:?}"));
    }
    for parameter in parts {
        let name = parameter.split('=').next().unwrap_or_default().trim();
        if !media.starts_with("text/") || !name.eq_ignore_ascii_case("charset") {
            return Some(format!(
                "{value:?}: a parameter other than a text type's charset"
            ));
        }
    }
    None
}

fn content_types_of_the_newer_formats(model: Model) {
    let site = Site::new("http12-types");
    for (name, _) in CONTENT_TYPES {
        site.put(
            name.as_bytes(),
            format!("the content of {name}\n").as_bytes(),
        );
    }
    let server = site.start(model);

    // Over a socket: every file in one write, pipelined; each answer must be its file's.
    let mut client = Client::with_timeout(files_addr(&server), ROW_WAIT);
    let all: Vec<u8> = CONTENT_TYPES
        .iter()
        .enumerate()
        .flat_map(|(i, (name, _))| {
            let last = i + 1 == CONTENT_TYPES.len();
            get(
                &format!("/{name}"),
                if last { &["Connection: close"] } else { &[] },
            )
        })
        .collect();
    client.send(&all).unwrap();
    let answers: Vec<Result<Response, String>> = CONTENT_TYPES
        .iter()
        .map(|_| client.response(false))
        .collect();
    let rows: Vec<_> = CONTENT_TYPES.iter().zip(answers).collect();
    table(
        &rows,
        |((name, _), _)| format!("GET /{name}"),
        |((name, accepted), got)| {
            let got = got.as_ref().map_err(Clone::clone)?;
            let content = site.content(name.as_bytes());
            if (got.status, &got.body) != (200, &content) {
                return Err(format!("want 200 with the file: {}", got.describe()));
            }
            let types = got.all("content-type");
            let [value] = types[..] else {
                return Err(format!("want one Content-Type: {}", got.describe()));
            };
            content_type_problem(value, accepted).map_or(Ok(()), Err)
        },
    );

    // With curl, as a browser-like client sees it.
    let out = site.out("curl");
    table(
        CONTENT_TYPES,
        |(name, _)| format!("curl /{name}"),
        |(name, accepted)| {
            let address = url(&server, &format!("/{name}"));
            let ran = curl(&out, &["-o", "body", "-w", "%{content_type}", &address]);
            if !ran.ok() {
                return Err(ran.describe());
            }
            content_type_problem(&ran.stdout_text(), accepted).map_or(Ok(()), Err)
        },
    );
}
