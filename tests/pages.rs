//! Error pages (`--error-page`), the single-page app's fallback (`--spa`) and `--mime-types`,
//! over real sockets: curl against an in-process server of each model for each behaviour, a
//! raw client for pipelining and a large page, then hostile tables of each new option through
//! the real binary (each refusal a usage error, exit 2, naming the fault).

#[macro_use]
mod common;

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::child::{bin, have, ChildGuard};
use common::http::{curl, get, parse_response, request, Client, Ran};
use common::serve::serve_command;
use common::*;
use tcpserve::{Handle, MimeTypes, Model, Server, StartError};

per_model!(
    [reactor, reactors, threads, pool, iterative]
    curl_gets_the_error_page_with_the_errors_status,
    an_error_page_keeps_pipelined_requests_and_goes_by_the_file_path_when_large,
    curl_gets_the_spa_for_a_missing_route_and_a_404_for_a_missing_asset,
    curl_sees_the_types_a_mime_types_file_adds_and_overrides,
    the_binary_serves_a_mime_types_file_with_odd_but_valid_lines,
    an_error_page_gone_since_start_leaves_the_errors_own_text,
);

const PAGE_404: &[u8] = b"<h1>nothing here</h1>\n";
const PAGE_400: &[u8] = b"{\"error\": \"bad request\"}\n";
const APP: &[u8] = b"<!doctype html><div id=app></div>\n";

/// A root with pages, an app, an asset, a directory without an index, and a symlink out of it;
/// a secret beside the root.
struct Site {
    dir: TempDir,
}

impl Site {
    fn new(test: &str) -> Site {
        let dir = TempDir::new(test);
        for sub in ["root/errors", "root/empty", "out"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        fs::write(dir.join("secret.html"), b"TOP-SECRET\n").unwrap();
        fs::write(dir.join("root/errors/404.html"), PAGE_404).unwrap();
        fs::write(dir.join("root/errors/400.json"), PAGE_400).unwrap();
        fs::write(dir.join("root/app.html"), APP).unwrap();
        fs::write(dir.join("root/logo.png"), b"PNG").unwrap();
        symlink(dir.join("secret.html"), dir.join("root/escape.html")).unwrap();
        symlink(dir.join("secret.html"), dir.join("root/escape")).unwrap();
        Site { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    fn out(&self) -> PathBuf {
        self.dir.join("out")
    }
}

fn url(server: &Handle, path: &str) -> String {
    format!("http://{}{path}", files_addr(server))
}

/// curl's `-w` line for one request: status, type, bytes.
fn status_type_size(dir: &Path, extra: &[&str], url: &str) -> (String, Ran) {
    let mut args = vec![
        "-o",
        "body",
        "-w",
        "%{http_code} %{content_type} %{size_download}",
    ];
    args.extend_from_slice(extra);
    args.push(url);
    let ran = curl(dir, &args);
    assert!(ran.ok(), "{}", ran.describe());
    (ran.stdout_text(), ran)
}

/// Checked at start, then removed: the error keeps its built-in text (and the log says why).
fn an_error_page_gone_since_start_leaves_the_errors_own_text(model: Model) {
    let site = Site::new("pages-gone");
    let builder = files_config(model, &site.root()).error_page(404, "errors/404.html");
    let server = start(builder);
    fs::remove_file(site.root().join("errors/404.html")).unwrap();
    let got = Client::connect(files_addr(&server)).exchange(&get("/missing", &[]), false);
    let got = got.unwrap();
    assert_eq!(got.status, 404, "{}", got.describe());
    assert_eq!(&got.body[..], b"404 Not Found\n", "{}", got.describe());
}

fn curl_gets_the_error_page_with_the_errors_status(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let site = Site::new("pages-error");
    let builder = files_config(model, &site.root())
        .error_page(404, "errors/404.html")
        .error_page(400, "/errors/400.json");
    let server = start(builder);
    let out = site.out();
    let html = "text/html; charset=utf-8";

    // A missing file, a link out of the root: the page, with 404, its type and length.
    for path in ["/missing.png", "/escape.html", "/empty/", "/missing"] {
        let (got, ran) = status_type_size(&out, &[], &url(&server, path));
        assert_eq!(
            got,
            format!("404 {html} {}", PAGE_404.len()),
            "{path}: {}",
            ran.describe()
        );
        assert_eq!(fs::read(out.join("body")).unwrap(), PAGE_404, "{path}");
    }
    // A bad escape is a 400: its own page, typed by its extension.
    let (got, ran) = status_type_size(&out, &[], &url(&server, "/%zz"));
    assert_eq!(
        got,
        format!("400 application/json {}", PAGE_400.len()),
        "{}",
        ran.describe()
    );
    // Range and conditionals are ignored: the whole page, still 404.
    let (got, ran) = status_type_size(
        &out,
        &["-r", "0-3", "-H", "If-None-Match: *"],
        &url(&server, "/missing.png"),
    );
    assert_eq!(
        got,
        format!("404 {html} {}", PAGE_404.len()),
        "{}",
        ran.describe()
    );
    // HEAD: the page's head, no body, no validators.
    let ran = curl(&out, &["-I", &url(&server, "/missing.png")]);
    let head = match parse_response(&ran.stdout, true) {
        Ok(Some((head, _))) => head,
        other => panic!("no head from curl -I: {other:?}\n{}", ran.describe()),
    };
    assert_eq!(head.status, 404, "{}", head.describe());
    assert_eq!(head.content_length(), Some(PAGE_404.len() as u64));
    for absent in ["etag", "last-modified", "accept-ranges", "content-range"] {
        assert_eq!(head.field(absent), None, "{absent}: {}", head.describe());
    }
    // The page is a file like any: asked for, it is a 200.
    let (got, _) = status_type_size(&out, &[], &url(&server, "/errors/404.html"));
    assert_eq!(got, format!("200 {html} {}", PAGE_404.len()));
    // Other errors keep their text: no page for 405.
    let ran = curl(
        &out,
        &[
            "-X",
            "DELETE",
            "-w",
            "%{http_code}",
            "-o",
            "body",
            &url(&server, "/x"),
        ],
    );
    assert_eq!(ran.stdout_text(), "405", "{}", ran.describe());
    assert_eq!(
        fs::read(out.join("body")).unwrap(),
        b"405 Method Not Allowed\n"
    );
}

fn an_error_page_keeps_pipelined_requests_and_goes_by_the_file_path_when_large(model: Model) {
    let site = Site::new("pages-pipelined");
    // Larger than the small-file cache: sent by sendfile from the open file.
    let page = random_bytes(300 << 10, 404);
    fs::write(site.root().join("errors/404.html"), &page).unwrap();
    let server = start(files_config(model, &site.root()).error_page(404, "errors/404.html"));
    let mut client = Client::connect(files_addr(&server));
    let mut both = get("/missing", &[]);
    both.extend_from_slice(&get("/logo.png", &["Connection: close"]));
    client.send(&both).unwrap();
    let first = client.response(false).unwrap();
    assert_eq!(first.status, 404, "{}", first.describe());
    assert_same(&first.body, &page, "the 404 page");
    let second = client.response(false).unwrap();
    assert_eq!((second.status, &second.body[..]), (200, &b"PNG"[..]));
    // Closed, so that the iterative model, lingering on it, takes the next client at once.
    drop(client);
    // HEAD of the large page: its length, no body, then the next answer.
    let mut client = Client::connect(files_addr(&server));
    let mut both = request("HEAD", "/missing", &[]);
    both.extend_from_slice(&get("/logo.png", &["Connection: close"]));
    client.send(&both).unwrap();
    let head = client.response(true).unwrap();
    assert_eq!(head.content_length(), Some(page.len() as u64));
    assert_eq!(client.response(false).unwrap().body, b"PNG");
}

fn curl_gets_the_spa_for_a_missing_route_and_a_404_for_a_missing_asset(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let site = Site::new("pages-spa");
    let builder = files_config(model, &site.root())
        .spa("app.html")
        .error_page(404, "errors/404.html");
    let server = start(builder);
    let out = site.out();
    let html = "text/html; charset=utf-8";
    let rows: &[(&str, u16, &[u8])] = &[
        // Routes: no extension in the last segment.
        ("/users/42", 200, APP),
        ("/users/", 200, APP),
        ("/users/42?tab=x", 200, APP),
        ("/.well-known", 200, APP),
        ("/v1.2/users", 200, APP),
        // Assets keep their 404 (here, the page).
        ("/missing.js", 404, PAGE_404),
        ("/users/avatar.PNG", 404, PAGE_404),
        // What exists is served as it is.
        ("/logo.png", 200, b"PNG"),
        // Refused, not missing: never the app. A directory without an index keeps its 404.
        ("/escape", 404, PAGE_404),
        ("/empty/", 404, PAGE_404),
    ];
    for &(path, status, body) in rows {
        let ran = curl(
            &out,
            &["-o", "body", "-w", "%{http_code}", &url(&server, path)],
        );
        assert_eq!(
            ran.stdout_text(),
            status.to_string(),
            "{path}: {}",
            ran.describe()
        );
        assert_eq!(fs::read(out.join("body")).unwrap(), body, "{path}");
    }
    // A directory without its slash is still redirected, not the app.
    let ran = curl(
        &out,
        &["-o", "body", "-w", "%{http_code}", &url(&server, "/empty")],
    );
    assert_eq!(ran.stdout_text(), "301", "{}", ran.describe());
    // The app is a file: typed by its own name, with validators and ranges.
    let (got, ran) = status_type_size(&out, &[], &url(&server, "/route"));
    assert_eq!(
        got,
        format!("200 {html} {}", APP.len()),
        "{}",
        ran.describe()
    );
    let (got, ran) = status_type_size(&out, &["-r", "0-1"], &url(&server, "/route"));
    assert_eq!(got, format!("206 {html} 2"), "{}", ran.describe());
    let ran = curl(&out, &["-I", &url(&server, "/deep/route")]);
    let head = parse_response(&ran.stdout, true).unwrap().unwrap().0;
    assert_eq!(head.status, 200, "{}", head.describe());
    assert_eq!(head.content_length(), Some(APP.len() as u64));
    assert!(head.field("etag").is_some(), "{}", head.describe());
}

fn curl_sees_the_types_a_mime_types_file_adds_and_overrides(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let site = Site::new("pages-mime");
    for name in [
        "main.rs",
        "a.PNG",
        "b.png",
        "c.html",
        "d.unknown",
        "e.Thing",
    ] {
        fs::write(site.root().join(name), b"x").unwrap();
    }
    let types = MimeTypes::parse(
        b"# a table\ntext/x-rust\trs\nimage/x-custom PNG\napplication/x-thing thing\n",
    )
    .unwrap();
    let server = start(files_config(model, &site.root()).mime_types(types));
    let rows = [
        ("/main.rs", "text/x-rust; charset=utf-8"),
        ("/a.PNG", "image/x-custom"),
        ("/b.png", "image/x-custom"),
        ("/e.Thing", "application/x-thing"),
        // The built-in table, where the file says nothing.
        ("/c.html", "text/html; charset=utf-8"),
        ("/d.unknown", "application/octet-stream"),
    ];
    for (path, want) in rows {
        let (got, ran) = status_type_size(&site.out(), &[], &url(&server, path));
        assert_eq!(got, format!("200 {want} 1"), "{path}: {}", ran.describe());
    }
}

/// Tabs, comments (one holding bytes that are not UTF-8), CRLF, uppercase, an extension named
/// twice (the last line wins), compound extensions (skipped) and a 40 KiB line, through the
/// binary.
fn the_binary_serves_a_mime_types_file_with_odd_but_valid_lines(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let site = Site::new("pages-mime-binary");
    let mut table = b"# \xff\xfe not UTF-8 in a comment\r\n\
        \t\r\n\
        Application/X-Upper\t\tUPPER   # a comment after the extensions\r\n\
        application/x-first twice\n\
        application/x-second twice\n\
        application/x-compound tar.gz\n\
        application/x-long"
        .to_vec();
    for i in 0..5000 {
        table.extend_from_slice(format!(" l{i}").as_bytes());
    }
    table.push(b'\n');
    let file = site.dir.join("mime.types");
    fs::write(&file, &table).unwrap();
    for name in ["a.upper", "b.twice", "c.tar.gz", "d.l4999"] {
        fs::write(site.root().join(name), b"x").unwrap();
    }
    let root = site.root();
    let args = [
        "--files",
        "127.0.0.1:0",
        "--root",
        root.to_str().unwrap(),
        "--mime-types",
        file.to_str().unwrap(),
    ];
    let mut server = common::serve::Server::spawn(serve_command(model, &args), model);
    server.wait_for("files listening on ");
    let files = server.addrs("files")[0];
    let rows = [
        ("/a.upper", "Application/X-Upper"),
        ("/b.twice", "application/x-second"),
        ("/c.tar.gz", "application/gzip"),
        ("/d.l4999", "application/x-long"),
    ];
    for (path, want) in rows {
        let url = format!("http://{files}{path}");
        let (got, ran) = status_type_size(&site.out(), &[], &url);
        assert_eq!(got, format!("200 {want} 1"), "{path}: {}", ran.describe());
    }
    server.assert_no_panic();
}

// ---------------------------------------------------------------------------------------------
// Hostile options through the binary
// ---------------------------------------------------------------------------------------------

/// Runs `tcpserve serve --files 127.0.0.1:0 --root ROOT ARGS` (`files: false`: echo only),
/// expecting a usage error: exit 2 and `want` in its message, before any socket is bound.
fn refused(root: &Path, args: &[&[u8]], files: bool, want: &str) {
    let mut cmd = Command::new(bin());
    cmd.arg("serve")
        .args(["--log", "off", "--access-log", "off"]);
    if files {
        cmd.args(["--files", "127.0.0.1:0", "--root"]).arg(root);
    } else {
        cmd.args(["--echo", "127.0.0.1:0"]);
    }
    cmd.args(args.iter().map(|a| std::ffi::OsStr::from_bytes(a)));
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tcpserve");
    let mut guard = ChildGuard(child);
    let stderr = guard.0.stderr.take().unwrap();
    let text = common::child::read_all_on_thread(stderr);
    let status = guard.wait_exit();
    let text = text.join().unwrap();
    let shown: Vec<_> = args.iter().map(|a| String::from_utf8_lossy(a)).collect();
    assert_eq!(status.code(), Some(2), "{shown:?}: {text}");
    assert!(text.contains(want), "{shown:?}: want {want:?} in:\n{text}");
    assert!(!text.contains("listening on"), "{shown:?}: {text}");
}

#[test]
fn error_page_and_spa_rows_are_usage_errors() {
    let site = Site::new("pages-hostile-options");
    let root = site.root();
    let fifo = CString::new(root.join("fifo").as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path and a mode.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let not_spec = "is not CODE=FILE";
    let rows: &[(&[&[u8]], &str)] = &[
        (&[b"--error-page", b"404"], not_spec),
        (&[b"--error-page", b"404="], not_spec),
        (&[b"--error-page", b"=errors/404.html"], not_spec),
        (&[b"--error-page", b"4040=errors/404.html"], not_spec),
        (&[b"--error-page", b"+44=errors/404.html"], not_spec),
        (&[b"--error-page", b"40=errors/404.html"], not_spec),
        (&[b"--error-page", b" 404=errors/404.html"], not_spec),
        (&[b"--error-page", b"404 errors/404.html"], not_spec),
        (
            &[b"--error-page", b"200=errors/404.html"],
            "only 400, 403, 404, 414 and 500",
        ),
        (
            &[b"--error-page", b"418=errors/404.html"],
            "only 400, 403, 404, 414 and 500",
        ),
        (
            &[b"--error-page", b"405=errors/404.html"],
            "only 400, 403, 404, 414 and 500",
        ),
        (
            &[b"--error-page", b"999=errors/404.html"],
            "only 400, 403, 404, 414 and 500",
        ),
        (
            &[
                b"--error-page",
                b"404=errors/404.html",
                b"--error-page",
                b"404=app.html",
            ],
            "error page 404: given twice",
        ),
        (
            &[b"--error-page", b"404=missing.html"],
            "missing.html: not found",
        ),
        (
            &[b"--error-page", b"404=../secret.html"],
            "refused: '..' in name",
        ),
        (
            &[b"--error-page", b"404=errors/../../secret.html"],
            "refused: '..' in name",
        ),
        (
            &[b"--error-page", b"404=escape.html"],
            "refused: outside root",
        ),
        (&[b"--error-page", b"404=errors"], "a directory"),
        (&[b"--error-page", b"404=fifo"], "a FIFO"),
        // Not UTF-8: the command line's parser refuses it before this option sees it.
        (&[b"--error-page", b"404=\xff.html"], "404="),
        (
            &[b"--spa", b"missing.html"],
            "single-page app missing.html: not found",
        ),
        (&[b"--spa", b""], "refused: empty name"),
        (&[b"--spa", b"escape"], "refused: outside root"),
        (&[b"--spa", b"../secret.html"], "refused: '..' in name"),
        (&[b"--spa", b"empty"], "a directory"),
    ];
    for (args, want) in rows {
        refused(&root, args, true, want);
    }
    // Pages need the files service.
    refused(
        &root,
        &[b"--spa", b"app.html"],
        false,
        "only the files service serves pages",
    );
    refused(
        &root,
        &[b"--error-page", b"404=app.html"],
        false,
        "only the files service serves pages",
    );
}

#[test]
fn mime_types_rows_are_usage_errors_naming_the_line() {
    let site = Site::new("pages-hostile-mime");
    let root = site.root();
    let file = |name: &str, text: &[u8]| {
        let path = site.dir.join(name);
        fs::write(&path, text).unwrap();
        path.into_os_string().into_vec()
    };
    use std::os::unix::ffi::OsStringExt;
    let long_ext = [b"text/plain ".as_slice(), &[b'x'; 256], b"\n"].concat();
    let long_type = [b"text/".as_slice(), &[b'x'; 300], b" t\n"].concat();
    let huge = vec![b'#'; (1 << 20) + 1];
    let fifo = site.dir.join("fifo.types");
    let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path and a mode.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let rows: Vec<(Vec<u8>, String)> = vec![
        (
            file("a", b"# ok\ntext/plain txt\nplain\n"),
            "a:3: not a media type".into(),
        ),
        (
            file("b", b"text/plain t\xffx\n"),
            "b:1: a byte outside printable ASCII".into(),
        ),
        (file("c", b"text/pl\xe9in t\n"), "c:1: ".into()),
        (
            file("d", b"\n\n\ntext/plain a/b\n"),
            "d:4: an extension longer than 255".into(),
        ),
        (
            file("e", &long_ext),
            "e:1: an extension longer than 255".into(),
        ),
        (file("f", &long_type), "f:1: ".into()),
        (file("g", b"text/plain;charset=latin1 t\n"), "g:1: ".into()),
        (file("h", b"/ t\n"), "h:1: not a media type".into()),
        (
            file("i", b"text/plain a\x00b\n"),
            "i:1: a byte outside printable ASCII".into(),
        ),
        (file("j", &huge), "j: larger than 1024 KiB".into()),
        (
            site.dir.join("none").into_os_string().into_vec(),
            "none: No such file".into(),
        ),
        (
            root.clone().into_os_string().into_vec(),
            "root: not a regular file".into(),
        ),
        (
            fifo.into_os_string().into_vec(),
            "fifo.types: not a regular file".into(),
        ),
        (b"".to_vec(), "--mime-types: : No such file".into()),
    ];
    for (path, want) in &rows {
        refused(&root, &[b"--mime-types", path], true, want);
    }
}

#[test]
fn a_builder_with_a_page_it_cannot_serve_does_not_bind() {
    let site = Site::new("pages-api");
    let rows: Vec<(tcpserve::Builder, &str)> = vec![
        (
            files_config(Model::Reactor, &site.root()).error_page(404, "missing.html"),
            "error page 404 missing.html: not found",
        ),
        (
            files_config(Model::Reactor, &site.root()).error_page(302, "app.html"),
            "error page 302: only 400",
        ),
        (
            files_config(Model::Reactor, &site.root()).spa("escape"),
            "single-page app escape: refused: outside root",
        ),
        (
            Server::builder().echo(any_port()).spa("app.html"),
            "only the files service serves pages",
        ),
    ];
    for (builder, want) in rows {
        match builder.bind() {
            Err(StartError::Page(why)) => assert!(why.contains(want), "{why}"),
            Err(e) => panic!("{want}: {e}"),
            Ok(_) => panic!("{want}: bound"),
        }
    }
}
