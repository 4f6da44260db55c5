//! `--precompressed`, over real sockets against an in-process server of each model on a free
//! port: curl gets `a.js.br`, `.zst` or `.gz` for `a.js` as its `Accept-Encoding` weighs them,
//! with `Content-Encoding`, `Vary`, a per-coding `ETag`, ranges and 304 on the encoded bytes,
//! HEAD alike; curl `--compressed` decodes a real gzip file back to the original; the option
//! off changes nothing. Then a raw-socket table of hostile sidecars (symlinks out of the root,
//! a directory, a FIFO, a loop, older than the original, no original at all) and hostile
//! `Accept-Encoding` fields: each falls back to the next coding or the file as it is, and the
//! secret outside the root never comes back. Mtimes are set explicitly; nothing sleeps.

#[macro_use]
mod common;

use std::fs::{self, File};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::child::have;
use common::hostile::{contains, unique};
use common::http::{curl, get, parse_response, request, shorten, Client, Ran, Response};
use common::*;
use tcpserve::http::{mime, response};
use tcpserve::{Handle, Model};

per_model!(
    [reactor, reactors, threads, pool, iterative]
    curl_gets_the_coding_it_weighs_highest,
    curl_ranges_and_revalidates_on_the_encoded_bytes,
    curl_compressed_decodes_a_real_gzip_sidecar,
    a_sidecar_asked_for_by_name_is_just_a_file,
    off_by_default_nothing_changes,
    hostile_sidecars_fall_back_and_never_leave_the_root,
    hostile_accept_encoding_fields_fall_back,
    the_command_line_flag_turns_it_on,
);

/// When every original was modified; sidecars are a little later, stale ones earlier.
fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn set_mtime(path: &Path, when: SystemTime) {
    let file = File::options().write(true).open(path).unwrap();
    file.set_modified(when).unwrap();
}

/// A scratch tree: `root/` is served, `outside/secret.br` (a unique marker, newer than any
/// original) lies beside it.
struct Site {
    dir: TempDir,
    marker: String,
}

impl Site {
    fn new(test: &str) -> Site {
        let dir = TempDir::new(test);
        let marker = format!("TOP-SECRET-{:016x}", unique());
        fs::create_dir_all(dir.join("root")).unwrap();
        fs::create_dir_all(dir.join("outside")).unwrap();
        fs::create_dir_all(dir.join("out")).unwrap();
        let secret = dir.join("outside/secret.br");
        fs::write(&secret, format!("{marker}\n")).unwrap();
        set_mtime(&secret, t0() + Duration::from_secs(3600));
        Site { dir, marker }
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    fn secret(&self) -> PathBuf {
        self.dir.join("outside/secret.br")
    }

    /// Writes `data` at `rel` under the root, modified at `when`.
    fn put_at(&self, rel: &str, data: &[u8], when: SystemTime) -> Vec<u8> {
        let path = self.root().join(rel);
        fs::write(&path, data).expect("write a test file");
        set_mtime(&path, when);
        data.to_vec()
    }

    /// An original at [`t0`].
    fn original(&self, rel: &str, data: &[u8]) -> Vec<u8> {
        self.put_at(rel, data, t0())
    }

    /// A sidecar, a second after the original.
    fn sidecar(&self, rel: &str, data: &[u8]) -> Vec<u8> {
        self.put_at(rel, data, t0() + Duration::from_secs(1))
    }

    /// `a.js` with all three sidecars, each its own bytes.
    fn all_three(&self) -> [Vec<u8>; 4] {
        [
            self.original("a.js", b"console.log('the original, as it is');\n"),
            self.sidecar("a.js.br", b"BR:brotli bytes\n"),
            self.sidecar("a.js.zst", b"ZSTD:zstandard bytes, longer\n"),
            self.sidecar("a.js.gz", b"GZIP:gzip bytes, longer still\n"),
        ]
    }

    fn out(&self) -> PathBuf {
        self.dir.join("out")
    }

    fn start(&self, model: Model) -> Handle {
        start(files_config(model, &self.root()).precompressed(true))
    }
}

fn url(server: &Handle, path: &str) -> String {
    format!("http://{}{path}", files_addr(server))
}

/// The tag the server sends for the file at `path`, served in `coding` (or as it is).
fn etag_of(path: &Path, coding: Option<&str>) -> String {
    let meta = fs::metadata(path).unwrap();
    let tag = response::etag(meta.len(), meta.modified().unwrap());
    let tag = coding.map_or(tag, |c| tag.coded(c));
    String::from_utf8(tag.as_bytes().to_vec()).unwrap()
}

/// curl `args` against `server`'s `path`: the head it wrote, and the body.
fn curl_get(site: &Site, server: &Handle, path: &str, args: &[&str]) -> (Response, Vec<u8>) {
    let out = site.out();
    let _ = fs::remove_file(out.join("head"));
    let _ = fs::remove_file(out.join("body"));
    let target = url(server, path);
    let mut all = vec!["-D", "head", "-o", "body"];
    all.extend_from_slice(args);
    all.push(&target);
    let ran = curl(&out, &all);
    ran_ok(&ran);
    let head = fs::read(out.join("head")).unwrap();
    let got = match parse_response(&head, true) {
        Ok(Some((got, _))) => got,
        other => panic!("no head from curl: {other:?}\n{}", ran.describe()),
    };
    (got, fs::read(out.join("body")).unwrap_or_default())
}

fn ran_ok(ran: &Ran) {
    assert!(ran.ok(), "{}", ran.describe());
}

/// What is wrong with `got` for `want_coding` and a body of `len` bytes: `Content-Encoding`,
/// `Vary`, `Content-Type` (the original's), `Content-Length`, the per-coding `ETag` of `file`.
fn coded_problems(
    got: &Response,
    want_coding: Option<&str>,
    file: &Path,
    original: &str,
    len: u64,
) -> Vec<String> {
    let mut problems = Vec::new();
    let encoding = got.all("content-encoding");
    if encoding != want_coding.into_iter().collect::<Vec<_>>() {
        problems.push(format!(
            "Content-Encoding {encoding:?}, want {want_coding:?}"
        ));
    }
    let tag = etag_of(file, want_coding);
    let want = [
        ("Vary", "Accept-Encoding".to_string()),
        (
            "Content-Type",
            mime::content_type(original.as_bytes()).to_string(),
        ),
        ("Content-Length", len.to_string()),
        ("ETag", tag),
    ];
    for (name, value) in &want {
        let values = got.all(name);
        if values != [value.as_str()] {
            problems.push(format!("{name}: {values:?}, want [{value:?}]"));
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// curl
// ---------------------------------------------------------------------------------------------

fn curl_gets_the_coding_it_weighs_highest(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let site = Site::new("precomp-weights");
    let [plain, br, zstd, gzip] = site.all_three();
    let server = site.start(model);
    let root = site.root();
    let rows: &[(&str, Option<&str>, &[u8], &str)] = &[
        ("br, zstd, gzip", Some("br"), &br, "a.js.br"),
        ("gzip, zstd, br", Some("br"), &br, "a.js.br"),
        ("gzip, zstd", Some("zstd"), &zstd, "a.js.zst"),
        ("gzip;q=1, br;q=0.5", Some("gzip"), &gzip, "a.js.gz"),
        (
            "br;q=0.2, zstd;q=0.9, gzip;q=0.4",
            Some("zstd"),
            &zstd,
            "a.js.zst",
        ),
        ("br;q=0, gzip", Some("gzip"), &gzip, "a.js.gz"),
        ("*", Some("br"), &br, "a.js.br"),
        ("deflate", None, &plain, "a.js"),
        ("identity", None, &plain, "a.js"),
        ("gzip;q=0.5, identity", None, &plain, "a.js"),
    ];
    for (accept, coding, body, file) in rows {
        let field = format!("Accept-Encoding: {accept}");
        let (got, got_body) = curl_get(&site, &server, "/a.js", &["-H", &field]);
        let what = format!("{accept:?}: {}", got.describe());
        assert_eq!(got.status, 200, "{what}");
        assert_eq!(&got_body, body, "{what}");
        let problems = coded_problems(&got, *coding, &root.join(file), "a.js", body.len() as u64);
        assert!(problems.is_empty(), "{problems:?}\n{what}");
    }
    // No field at all: the file as it is, still with Vary.
    let (got, got_body) = curl_get(&site, &server, "/a.js", &[]);
    assert_eq!(got_body, plain);
    let problems = coded_problems(&got, None, &root.join("a.js"), "a.js", plain.len() as u64);
    assert!(problems.is_empty(), "{problems:?}\n{}", got.describe());
    // HEAD alike: the encoded file's length, no body.
    let (got, got_body) = curl_get(
        &site,
        &server,
        "/a.js",
        &["-I", "-H", "Accept-Encoding: br"],
    );
    // curl -I writes the head where the body would go: nothing more came.
    assert_eq!(
        got_body,
        fs::read(site.out().join("head")).unwrap(),
        "{}",
        got.describe()
    );
    let problems = coded_problems(
        &got,
        Some("br"),
        &root.join("a.js.br"),
        "a.js",
        br.len() as u64,
    );
    assert!(problems.is_empty(), "{problems:?}\n{}", got.describe());
}

fn curl_ranges_and_revalidates_on_the_encoded_bytes(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let site = Site::new("precomp-ranges");
    // Past the small-file cache: the sidecar goes out by sendfile from an open file.
    let original = site.original("big.js", &random_bytes(200 << 10, 1));
    let br = site.sidecar("big.js.br", &random_bytes(100 << 10, 2));
    let server = site.start(model);
    let br_path = site.root().join("big.js.br");
    let accept = ["-H", "Accept-Encoding: br"];

    let (got, body) = curl_get(
        &site,
        &server,
        "/big.js",
        &[&accept[..], &["-r", "1000-1999"]].concat(),
    );
    assert_eq!(got.status, 206, "{}", got.describe());
    assert_eq!(body, &br[1000..2000]);
    let want_range = format!("bytes 1000-1999/{}", br.len());
    assert_eq!(
        got.field("content-range"),
        Some(&want_range[..]),
        "{}",
        got.describe()
    );
    let problems = coded_problems(&got, Some("br"), &br_path, "big.js", 1000);
    assert!(problems.is_empty(), "{problems:?}\n{}", got.describe());

    // Past the encoded file's end (the original is longer): 416 with its size, and Vary.
    let (got, _) = curl_get(
        &site,
        &server,
        "/big.js",
        &[&accept[..], &["-r", "150000-"]].concat(),
    );
    assert_eq!(got.status, 416, "{}", got.describe());
    let want_range = format!("bytes */{}", br.len());
    assert_eq!(
        got.field("content-range"),
        Some(&want_range[..]),
        "{}",
        got.describe()
    );
    assert_eq!(got.all("vary"), ["Accept-Encoding"], "{}", got.describe());

    // If-Range with the br tag applies the range; with the plain tag, the whole br file.
    let br_tag = etag_of(&br_path, Some("br"));
    let plain_tag = etag_of(&site.root().join("big.js"), None);
    let if_range = format!("If-Range: {br_tag}");
    let (got, body) = curl_get(
        &site,
        &server,
        "/big.js",
        &[&accept[..], &["-r", "0-9", "-H", &if_range]].concat(),
    );
    assert_eq!(
        (got.status, &body[..]),
        (206, &br[..10]),
        "{}",
        got.describe()
    );
    let if_range = format!("If-Range: {plain_tag}");
    let (got, body) = curl_get(
        &site,
        &server,
        "/big.js",
        &[&accept[..], &["-r", "0-9", "-H", &if_range]].concat(),
    );
    assert_eq!(
        (got.status, body.len()),
        (200, br.len()),
        "{}",
        got.describe()
    );

    // 304 for the br tag, and only for the br file.
    let inm = format!("If-None-Match: {br_tag}");
    let (got, body) = curl_get(
        &site,
        &server,
        "/big.js",
        &[&accept[..], &["-H", &inm]].concat(),
    );
    assert_eq!(got.status, 304, "{}", got.describe());
    assert!(body.is_empty());
    assert_eq!(got.all("etag"), [&br_tag[..]], "{}", got.describe());
    assert_eq!(got.all("vary"), ["Accept-Encoding"], "{}", got.describe());
    let (got, body) = curl_get(&site, &server, "/big.js", &["-H", &inm]);
    assert_eq!(
        (got.status, body.len()),
        (200, original.len()),
        "a client without br: {}",
        got.describe()
    );
    let inm = format!("If-None-Match: {plain_tag}");
    let (got, body) = curl_get(
        &site,
        &server,
        "/big.js",
        &[&accept[..], &["-H", &inm]].concat(),
    );
    assert_eq!(
        (got.status, body),
        (200, br.clone()),
        "the plain tag: {}",
        got.describe()
    );
}

fn curl_compressed_decodes_a_real_gzip_sidecar(model: Model) {
    if !have("curl", "curl") || !have("gzip", "gzip") {
        return;
    }
    let site = Site::new("precomp-gzip");
    let text: Vec<u8> = (0..2000)
        .flat_map(|i| format!("line {i}: precompressed text\n").into_bytes())
        .collect();
    site.original("page.html", &text);
    let gz = Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .arg(site.root().join("page.html"))
        .output()
        .unwrap();
    assert!(gz.status.success());
    site.sidecar("page.html.gz", &gz.stdout);
    let server = site.start(model);

    let (got, body) = curl_get(&site, &server, "/page.html", &["--compressed"]);
    assert_eq!(got.all("content-encoding"), ["gzip"], "{}", got.describe());
    assert_eq!(got.content_length(), Some(gz.stdout.len() as u64));
    assert!(
        body == text,
        "curl decoded {} bytes, want the original's {}",
        body.len(),
        text.len()
    );
}

fn a_sidecar_asked_for_by_name_is_just_a_file(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let site = Site::new("precomp-by-name");
    let [_, _, _, gzip] = site.all_three();
    let server = site.start(model);
    let (got, body) = curl_get(
        &site,
        &server,
        "/a.js.gz",
        &["-H", "Accept-Encoding: gzip, br"],
    );
    assert_eq!((got.status, body), (200, gzip), "{}", got.describe());
    assert!(
        got.field("content-encoding").is_none(),
        "{}",
        got.describe()
    );
    assert_eq!(got.field("content-type"), Some("application/gzip"));
    assert_eq!(
        got.all("etag"),
        [etag_of(&site.root().join("a.js.gz"), None)]
    );
}

fn off_by_default_nothing_changes(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let site = Site::new("precomp-off");
    let [plain, ..] = site.all_three();
    let server = start(files_config(model, &site.root()));
    let (got, body) = curl_get(
        &site,
        &server,
        "/a.js",
        &["-H", "Accept-Encoding: br, zstd, gzip"],
    );
    assert_eq!((got.status, body), (200, plain), "{}", got.describe());
    assert!(
        got.field("content-encoding").is_none(),
        "{}",
        got.describe()
    );
    assert!(got.field("vary").is_none(), "{}", got.describe());
    assert_eq!(got.all("etag"), [etag_of(&site.root().join("a.js"), None)]);
}

fn the_command_line_flag_turns_it_on(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let site = Site::new("precomp-cli");
    let [_, br, ..] = site.all_three();
    let root = site.root();
    let extra = [
        "--files",
        "127.0.0.1:0",
        "--root",
        root.to_str().unwrap(),
        "--precompressed",
    ];
    let mut server = serve::Server::start(model, &extra);
    server.wait_for("files listening on ");
    let addr = server.addrs("files")[0];
    let target = format!("http://{addr}/a.js");
    let ran = curl(
        &site.out(),
        &[
            "-D",
            "-",
            "-o",
            "body",
            "-H",
            "Accept-Encoding: br",
            &target,
        ],
    );
    ran_ok(&ran);
    let got = parse_response(&ran.stdout, true).unwrap().unwrap().0;
    assert_eq!(got.all("content-encoding"), ["br"], "{}", got.describe());
    assert_eq!(fs::read(site.out().join("body")).unwrap(), br);
    server.stop_gracefully();
}

// ---------------------------------------------------------------------------------------------
// Hostile rows, raw sockets
// ---------------------------------------------------------------------------------------------

/// One request's exchange on a fresh connection.
fn fetch(server: &Handle, head: &[u8]) -> Response {
    let mut client = Client::connect(files_addr(server));
    client
        .exchange(head, false)
        .unwrap_or_else(|e| panic!("request \"{}\": {e}", shorten(head)))
}

fn hostile_sidecars_fall_back_and_never_leave_the_root(model: Model) {
    let site = Site::new("precomp-hostile");
    let root = site.root();
    let secret = site.secret();
    // Each original with its own hostile neighbours.
    site.original("out.js", b"out: original\n");
    symlink("../outside/secret.br", root.join("out.js.br")).unwrap();
    site.original("abs.js", b"abs: original\n");
    symlink(&secret, root.join("abs.js.gz")).unwrap();
    site.original("dirout.js", b"dirout: original\n");
    symlink("../outside", root.join("dirout.js.zst")).unwrap();
    site.original("dir.js", b"dir: original\n");
    fs::create_dir(root.join("dir.js.gz")).unwrap();
    site.original("fifo.js", b"fifo: original\n");
    let fifo = std::ffi::CString::new(root.join("fifo.js.br").to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
    site.original("loop.js", b"loop: original\n");
    symlink("loop.js.br", root.join("loop.js.br")).unwrap();
    site.original("dangling.js", b"dangling: original\n");
    symlink("nowhere", root.join("dangling.js.br")).unwrap();
    site.original("old.js", b"old: original\n");
    site.put_at(
        "old.js.br",
        b"old: stale br\n",
        t0() - Duration::from_secs(1),
    );
    site.original("same.js", b"same: original\n");
    let same_br = site.put_at("same.js.br", b"same: br of the same second\n", t0());
    // Fallback through the list: br leaves the root, zstd is a FIFO, gzip is good.
    site.original("chain.js", b"chain: original\n");
    symlink("../outside/secret.br", root.join("chain.js.br")).unwrap();
    let fifo = std::ffi::CString::new(root.join("chain.js.zst").to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
    let chain_gz = site.sidecar("chain.js.gz", b"chain: gzip\n");
    // A symlink inside the root is as good as the file it names.
    site.original("in.js", b"in: original\n");
    let in_gz = site.sidecar("real.gz", b"in: gzip through a link\n");
    symlink("real.gz", root.join("in.js.gz")).unwrap();
    // No original: its sidecar is never served for the missing name.
    site.sidecar("orphan.js.br", b"orphan: br\n");
    let server = site.start(model);

    let all = "Accept-Encoding: br, zstd, gzip";
    let rows: &[(&str, u16, Option<&str>, &[u8])] = &[
        ("/out.js", 200, None, b"out: original\n"),
        ("/abs.js", 200, None, b"abs: original\n"),
        ("/dirout.js", 200, None, b"dirout: original\n"),
        ("/dir.js", 200, None, b"dir: original\n"),
        ("/fifo.js", 200, None, b"fifo: original\n"),
        ("/loop.js", 200, None, b"loop: original\n"),
        ("/dangling.js", 200, None, b"dangling: original\n"),
        ("/old.js", 200, None, b"old: original\n"),
        ("/same.js", 200, Some("br"), &same_br),
        ("/chain.js", 200, Some("gzip"), &chain_gz),
        ("/in.js", 200, Some("gzip"), &in_gz),
        ("/orphan.js", 404, None, b"404 Not Found\n"),
        // The sidecar's own name goes through confinement as ever.
        ("/out.js.br", 404, None, b"404 Not Found\n"),
    ];
    for (target, status, coding, body) in rows {
        let got = fetch(&server, &get(target, &[all]));
        let what = format!("{target}: {}", got.describe());
        assert_eq!(got.status, *status, "{what}");
        assert_eq!(got.field("content-encoding"), *coding, "{what}");
        assert_eq!(&got.body, body, "{what}");
        assert!(!contains(&got.body, site.marker.as_bytes()), "{what}");
        if *status == 200 {
            assert_eq!(got.all("vary"), ["Accept-Encoding"], "{what}");
        }
    }
}

fn hostile_accept_encoding_fields_fall_back(model: Model) {
    let site = Site::new("precomp-fields");
    let [plain, br, zstd, gzip] = site.all_three();
    let server = site.start(model);
    let rows: &[(&[&str], Option<&str>, &[u8])] = &[
        (
            &["Accept-Encoding: br;q=0, zstd;q=0, gzip;q=0"],
            None,
            &plain,
        ),
        (&["Accept-Encoding: *;q=0"], None, &plain),
        (&["Accept-Encoding: br, br;q=0"], None, &plain),
        (&["Accept-Encoding: gzip;q=2"], None, &plain),
        (&["Accept-Encoding: gzip;q=0.1234"], None, &plain),
        (&["Accept-Encoding: gzip;q=-1, br;q=x"], None, &plain),
        (&["Accept-Encoding: br;level=11, gzip"], Some("gzip"), &gzip),
        (
            &["Accept-Encoding: , ;q=1, ;;, =, zstd"],
            Some("zstd"),
            &zstd,
        ),
        (&["Accept-Encoding: b r, g\x7fzip"], None, &plain),
        (&["Accept-Encoding: BR"], Some("br"), &br),
        (&["Accept-Encoding: x-gzip"], Some("gzip"), &gzip),
        (&["Accept-Encoding:"], None, &plain),
        (
            &["Accept-Encoding: gzip", "Accept-Encoding: zstd"],
            Some("zstd"),
            &zstd,
        ),
        (&["Accept-Encoding: gzip;q=0.5, identity"], None, &plain),
        (&["Accept-Encoding: identity;q=0"], None, &plain),
    ];
    let long = format!("Accept-Encoding: {}br", "x, ".repeat(2000));
    let long_row: (&[&str], Option<&str>, &[u8]) = (&[&long], Some("br"), &br);
    for (fields, coding, body) in rows.iter().chain([&long_row]) {
        let head = request("GET", "/a.js", fields);
        let got = fetch(&server, &head);
        let what = format!("{}: {}", shorten(&head), got.describe());
        // A field the parser refuses (a control byte) is a 400, which is fine; else the file.
        if got.status == 400 {
            assert!(
                fields
                    .iter()
                    .any(|f| f.bytes().any(|b| b.is_ascii_control())),
                "{what}"
            );
            continue;
        }
        assert_eq!(got.status, 200, "{what}");
        assert_eq!(got.field("content-encoding"), *coding, "{what}");
        assert_eq!(&got.body, body, "{what}");
    }
}
