//! Directory listings (`--listing`, `Builder::listing`), over real sockets, against an
//! in-process server of each model on a free port (and once through the command line): curl
//! gets the HTML page (sorted, sizes, times, no validators, `no-store`), its head with HEAD,
//! and JSON when it asks; without the option the old 404 stays, a directory's `index.html`
//! still wins and a directory without its slash is still redirected; a table of hostile names
//! (markup, quotes, newlines, a direction override, `%`, `#`, `?`, bytes that are not UTF-8,
//! symlinks out of the root, a FIFO, a socket, dot-files) is each escaped or left out, in HTML
//! and in JSON, and every link listed leads to its file; 10,000 entries are listed whole and
//! more than `MAX_ENTRIES` are cut, the page saying so.

#[macro_use]
mod common;

use std::ffi::{CString, OsStr};
use std::fs;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use common::child::have;
use common::hostile::{contains, unique};
use common::http::{curl, get, parse_response, request, shorten, Client, Ran, Response};
use common::serve::Server as Child;
use common::*;
use tcpserve::http::listing::{MAX_ENTRIES, MAX_PAGE};
use tcpserve::{Handle, Model};

per_model!(
    [reactor, reactors, threads, pool, iterative]
    curl_gets_an_html_listing_sorted_with_sizes_and_times,
    curl_head_gets_the_listings_head_and_no_body,
    curl_gets_json_when_it_asks_for_it,
    curl_gets_the_old_answers_without_listing_and_index_html_still_wins,
    hostile_names_are_escaped_or_left_out_in_html_and_json,
    ten_thousand_entries_are_listed_whole_and_more_than_the_bound_are_cut,
    the_cli_flag_turns_listings_on,
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Every listed file's modification time: 2001-09-09 01:46:40 UTC.
const MTIME: u64 = 1_000_000_000;

/// A scratch tree: `root/` is served, `outside/secret.txt` (a unique marker) lies beside it,
/// and curl writes under `out/`.
struct Site {
    dir: TempDir,
    marker: String,
}

impl Site {
    fn new(test: &str) -> Site {
        let dir = TempDir::new(test);
        let marker = format!("TOP-SECRET-{:016x}", unique());
        for sub in ["root", "outside", "out"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        fs::write(dir.join("outside/secret.txt"), format!("{marker}\n")).unwrap();
        Site { dir, marker }
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// Writes `data` at `rel` (bytes, any but NUL) under the root, dated [`MTIME`].
    fn put(&self, rel: &[u8], data: &[u8]) {
        let path = self.root().join(OsStr::from_bytes(rel));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, data).expect("write a test file");
        date(&path);
    }

    fn mkdir(&self, rel: &[u8]) {
        let path = self.root().join(OsStr::from_bytes(rel));
        fs::create_dir_all(&path).unwrap();
    }

    fn start(&self, model: Model, listing: bool) -> Handle {
        start(files_config(model, &self.root()).listing(listing))
    }
}

/// Sets `path`'s modification time to [`MTIME`].
fn date(path: &Path) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(UNIX_EPOCH + Duration::from_secs(MTIME))
        .unwrap();
}

fn url(server: &Handle, path: &str) -> String {
    format!("http://{}{path}", files_addr(server))
}

fn ran_ok(ran: &Ran) {
    assert!(ran.ok(), "{}", ran.describe());
}

/// `GET target` (with `fields`) on a connection of its own.
fn fetch(addr: SocketAddr, target: &str, fields: &[&str]) -> Response {
    let mut client = Client::connect(addr);
    client
        .exchange(&get(target, fields), false)
        .unwrap_or_else(|e| panic!("GET {target}: {e}"))
}

/// A name as a link holds it: every byte but `A-Z a-z 0-9 - . _ ~` percent-encoded (the
/// test's own encoder, not the server's).
fn encoded(name: &[u8]) -> String {
    name.iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The listing's rows: each `<tr>` after the header, as (href, shown name, size, time).
fn page_rows(page: &str) -> Vec<(String, String, String, String)> {
    page.split("<tr><td><a href=\"")
        .skip(1)
        .map(|row| {
            let (href, rest) = row.split_once("\">").expect("href");
            let (name, rest) = rest.split_once("</a></td><td").expect("name");
            let cells: Vec<&str> = rest
                .split("</td><td>")
                .map(|c| {
                    c.trim_start_matches(" class=\"s\">")
                        .trim_start_matches('>')
                })
                .collect();
            let time = cells[1].split("</td>").next().unwrap();
            (href.into(), name.into(), cells[0].into(), time.into())
        })
        .collect()
}

/// A strict little JSON reader (RFC 8259), for the listing's JSON: no crate.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &[u8]) -> Result<Json, String> {
        let text = std::str::from_utf8(text).map_err(|e| format!("not UTF-8: {e}"))?;
        let mut p = Parser {
            s: text.as_bytes(),
            at: 0,
        };
        let value = p.value()?;
        p.ws();
        match p.at == p.s.len() {
            true => Ok(value),
            false => Err(format!("trailing bytes at {}", p.at)),
        }
    }

    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(fields) => fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no {key:?} in {self:?}")),
            _ => panic!("not an object: {self:?}"),
        }
    }

    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            _ => panic!("not a string: {self:?}"),
        }
    }

    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(items) => items,
            _ => panic!("not an array: {self:?}"),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while matches!(self.s.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> bool {
        let found = self.s[self.at..].starts_with(lit.as_bytes());
        if found {
            self.at += lit.len();
        }
        found
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        let at = self.at;
        match self.s.get(at) {
            Some(b'{') => {
                self.at += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.eat("}") {
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.ws();
                    if !self.eat(":") {
                        return Err(format!("no colon at {}", self.at));
                    }
                    fields.push((key, self.value()?));
                    self.ws();
                    if self.eat("}") {
                        return Ok(Json::Obj(fields));
                    }
                    if !self.eat(",") {
                        return Err(format!("no comma at {}", self.at));
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    if self.eat("]") {
                        return Ok(Json::Arr(items));
                    }
                    if !self.eat(",") {
                        return Err(format!("no comma at {}", self.at));
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            _ if self.eat("null") => Ok(Json::Null),
            _ if self.eat("true") => Ok(Json::Bool(true)),
            _ if self.eat("false") => Ok(Json::Bool(false)),
            _ => {
                let len = self.s[at..]
                    .iter()
                    .position(|b| !b"-+.eE0123456789".contains(b))
                    .unwrap_or(self.s.len() - at);
                let text = std::str::from_utf8(&self.s[at..at + len]).unwrap();
                self.at += len;
                text.parse()
                    .map(Json::Num)
                    .map_err(|_| format!("no value at {at}"))
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if !self.eat("\"") {
            return Err(format!("no string at {}", self.at));
        }
        let mut units: Vec<u16> = Vec::new();
        let mut out = String::new();
        loop {
            let Some(&b) = self.s.get(self.at) else {
                return Err("unterminated string".into());
            };
            let unit_escape = b == b'\\' && self.s.get(self.at + 1) == Some(&b'u');
            if !unit_escape && !units.is_empty() {
                out.push_str(&String::from_utf16(&units).map_err(|e| e.to_string())?);
                units.clear();
            }
            match b {
                b'"' => {
                    self.at += 1;
                    return Ok(out);
                }
                0..0x20 => return Err(format!("raw control byte in a string at {}", self.at)),
                b'\\' => {
                    let esc = self.s.get(self.at + 1).copied();
                    self.at += 2;
                    match esc {
                        Some(b'u') => {
                            let hex = self.s.get(self.at..self.at + 4).ok_or("short \\u")?;
                            let hex = std::str::from_utf8(hex).map_err(|e| e.to_string())?;
                            units.push(u16::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
                            self.at += 4;
                        }
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(c @ (b'"' | b'\\' | b'/')) => out.push(c as char),
                        _ => return Err(format!("bad escape at {}", self.at)),
                    }
                }
                _ => {
                    // The input is UTF-8 (checked once): copy up to the next quote,
                    // backslash or control byte.
                    let len = self.s[self.at..]
                        .iter()
                        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                        .unwrap_or(self.s.len() - self.at);
                    let run = std::str::from_utf8(&self.s[self.at..self.at + len]).unwrap();
                    out.push_str(run);
                    self.at += len;
                }
            }
        }
    }
}

/// The body of a JSON listing, checked for its type, parsed.
fn json_listing(got: &Response) -> Json {
    assert_eq!(got.status, 200, "{}", got.describe());
    assert_eq!(
        got.field("content-type"),
        Some("application/json"),
        "{}",
        got.describe()
    );
    Json::parse(&got.body).unwrap_or_else(|e| panic!("{e}: {}", shorten(&got.body)))
}

// ---------------------------------------------------------------------------------------------
// curl: what a listing is
// ---------------------------------------------------------------------------------------------

/// `dir/` holds `zeta/`, `alpha/`, `b.txt` (2,048 bytes), `a.txt` (10), `Z.txt` (0) and
/// `.hidden`; `dir/alpha/` holds `inner.txt`.
fn small_site(test: &str) -> Site {
    let site = Site::new(test);
    site.put(b"dir/b.txt", &[b'b'; 2048]);
    site.put(b"dir/a.txt", b"0123456789");
    site.put(b"dir/Z.txt", b"");
    site.put(b"dir/.hidden", b"hidden\n");
    site.put(b"dir/alpha/inner.txt", b"inner\n");
    site.mkdir(b"dir/zeta");
    for sub in ["dir/alpha", "dir/zeta"] {
        let path = site.root().join(sub);
        fs::File::open(&path)
            .unwrap()
            .set_modified(UNIX_EPOCH + Duration::from_secs(MTIME))
            .unwrap();
    }
    site
}

fn curl_gets_an_html_listing_sorted_with_sizes_and_times(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let site = small_site("listing-html");
    let server = site.start(model, true);
    let out = site.dir.join("out");

    let ran = curl(
        &out,
        &[
            "-D",
            "head.txt",
            "-w",
            "%{http_code} %{content_type} %{size_download}",
            &url(&server, "/dir/"),
        ],
    );
    ran_ok(&ran);
    let head = fs::read_to_string(out.join("head.txt")).unwrap();
    let page = String::from_utf8(ran.stdout.clone()).expect("the page is UTF-8");
    let (body, summary) = page.rsplit_once("</html>\n").expect("a whole page");
    assert_eq!(
        summary,
        format!("200 text/html; charset=utf-8 {}", body.len() + 8),
        "{}",
        ran.describe()
    );
    // Not cached blindly: no validators, and no-store.
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("cache-control: no-store\r\n"), "{head}");
    for absent in ["etag:", "last-modified:", "accept-ranges:"] {
        assert!(!lower.contains(absent), "{absent} in {head}");
    }
    assert!(page.contains("<title>Index of /dir/</title>"), "{page}");
    let d = "2001-09-09 01:46:40";
    let want = [
        ("../", "../", "", ""),
        ("alpha/", "alpha/", "-", d),
        ("zeta/", "zeta/", "-", d),
        ("Z.txt", "Z.txt", "0 B", d),
        ("a.txt", "a.txt", "10 B", d),
        ("b.txt", "b.txt", "2.0 KiB", d),
    ];
    let got = page_rows(&page);
    let want: Vec<(String, String, String, String)> = want
        .iter()
        .map(|&(a, b, c, d)| (a.into(), b.into(), c.into(), d.into()))
        .collect();
    assert_eq!(got, want, "{page}");
    assert!(page.contains("<p>5 entries.</p>"), "{page}");
    assert!(!page.contains("hidden"), "{page}");

    // The links lead where they say: one in a subdirectory, and back up.
    let ran = curl(&out, &["-sS", &url(&server, "/dir/alpha/inner.txt")]);
    ran_ok(&ran);
    assert_eq!(ran.stdout, b"inner\n");
    let ran = curl(&out, &[&url(&server, "/dir/alpha/")]);
    ran_ok(&ran);
    assert!(ran
        .stdout_text()
        .contains("<a href=\"inner.txt\">inner.txt</a>"));
    // The root lists `dir/`, with no way up.
    let ran = curl(&out, &[&url(&server, "/")]);
    ran_ok(&ran);
    let top = ran.stdout_text();
    assert!(top.contains("<a href=\"dir/\">dir/</a>"), "{top}");
    assert!(!top.contains("../"), "{top}");
}

fn curl_head_gets_the_listings_head_and_no_body(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let site = small_site("listing-head");
    let server = site.start(model, true);
    let out = site.dir.join("out");

    let got = fetch(files_addr(&server), "/dir/", &[]);
    let ran = curl(&out, &["-I", &url(&server, "/dir/")]);
    ran_ok(&ran);
    let (head, used) = match parse_response(&ran.stdout, true) {
        Ok(Some(whole)) => whole,
        other => panic!("no head from curl -I: {other:?}\n{}", ran.describe()),
    };
    assert_eq!(used, ran.stdout.len(), "a body came: {}", ran.describe());
    assert_eq!(head.status, 200, "{}", head.describe());
    assert_eq!(head.content_length(), Some(got.body.len() as u64));
    for field in ["content-type", "cache-control"] {
        assert_eq!(head.field(field), got.field(field), "{field}");
    }

    // HEAD on a raw socket: the same head, then the next response at once (no body between).
    let mut client = Client::connect(files_addr(&server));
    let head = client
        .exchange(&request("HEAD", "/dir/", &[]), true)
        .unwrap();
    assert_eq!(head.content_length(), Some(got.body.len() as u64));
    let next = client.exchange(&get("/dir/a.txt", &[]), false);
    if model != Model::Iterative {
        assert_eq!(next.unwrap().body, b"0123456789");
    }
}

fn curl_gets_json_when_it_asks_for_it(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let site = small_site("listing-json");
    let server = site.start(model, true);
    let out = site.dir.join("out");

    let ran = curl(
        &out,
        &[
            "-H",
            "Accept: application/json",
            "-w",
            "\n%{content_type}",
            &url(&server, "/dir/"),
        ],
    );
    ran_ok(&ran);
    let text = ran.stdout_text();
    let (body, kind) = text.rsplit_once('\n').unwrap();
    assert_eq!(kind, "application/json", "{}", ran.describe());
    let json = Json::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(json.get("path"), &Json::Str("/dir/".into()));
    assert_eq!(json.get("truncated"), &Json::Bool(false));
    let modified = Json::Str("2001-09-09T01:46:40Z".into());
    let entry = |name: &str, kind: &str, size: Json, href: &str| {
        Json::Obj(vec![
            ("name".into(), Json::Str(name.into())),
            ("type".into(), Json::Str(kind.into())),
            ("size".into(), size),
            ("modified".into(), modified.clone()),
            ("href".into(), Json::Str(href.into())),
        ])
    };
    let want = [
        entry("alpha", "dir", Json::Null, "alpha/"),
        entry("zeta", "dir", Json::Null, "zeta/"),
        entry("Z.txt", "file", Json::Num(0.0), "Z.txt"),
        entry("a.txt", "file", Json::Num(10.0), "a.txt"),
        entry("b.txt", "file", Json::Num(2048.0), "b.txt"),
    ];
    assert_eq!(json.get("entries").arr(), &want[..], "{body}");

    // Which form: JSON only when named before text/html, with a weight other than 0.
    let cases: &[(&str, &str)] = &[
        ("application/json, text/html", "application/json"),
        ("text/html, application/json", "text/html; charset=utf-8"),
        ("application/json;q=0", "text/html; charset=utf-8"),
        ("*/*", "text/html; charset=utf-8"),
        ("text/plain, application/json;q=0.5", "application/json"),
    ];
    for (accept, want) in cases {
        let header = format!("Accept: {accept}");
        let ran = curl(
            &out,
            &[
                "-o",
                "/dev/null",
                "-H",
                &header,
                "-w",
                "%{content_type}",
                &url(&server, "/dir/"),
            ],
        );
        ran_ok(&ran);
        assert_eq!(ran.stdout_text(), *want, "{accept}");
    }
}

fn curl_gets_the_old_answers_without_listing_and_index_html_still_wins(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let site = small_site("listing-off");
    site.put(b"home/index.html", b"<!doctype html><title>home</title>\n");
    site.put(b"home/other.txt", b"other\n");
    let out = site.dir.join("out");
    let code = |server: &Handle, path: &str| {
        let ran = curl(
            &out,
            &[
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{redirect_url}",
                &url(server, path),
            ],
        );
        ran_ok(&ran);
        ran.stdout_text()
    };

    // Off by default: the old 404 for a directory without index.html.
    let off = site.start(model, false);
    assert_eq!(code(&off, "/dir/"), "404 ");
    assert_eq!(code(&off, "/"), "404 ");
    assert_eq!(code(&off, "/home/"), "200 ");
    drop(off);

    let on = site.start(model, true);
    // index.html still wins over a listing.
    let ran = curl(&out, &[&url(&on, "/home/")]);
    ran_ok(&ran);
    assert_eq!(ran.stdout, b"<!doctype html><title>home</title>\n");
    // Without its slash, a directory is redirected, listed or not.
    let to = url(&on, "/dir/");
    assert_eq!(code(&on, "/dir"), format!("301 {to}"));
    assert_eq!(code(&on, "/dir/"), "200 ");
    // Hidden and missing directories are not listed; a file is not a directory.
    site.put(b".git/config", b"[core]\n");
    for path in ["/.git/", "/dir/.hidden/", "/missing/", "/dir/a.txt/"] {
        assert_eq!(code(&on, path), "404 ", "{path}");
    }
    // A listing is GET and HEAD only, as every answer is.
    let ran = curl(
        &out,
        &[
            "-X",
            "POST",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url(&on, "/dir/"),
        ],
    );
    ran_ok(&ran);
    assert_eq!(ran.stdout_text(), "405");
}

fn the_cli_flag_turns_listings_on(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let site = small_site("listing-cli");
    let out = site.dir.join("out");
    let root = site.root().to_str().unwrap().to_string();
    for (flag, want) in [
        (true, "200 text/html; charset=utf-8"),
        (false, "404 text/plain; charset=utf-8"),
    ] {
        let mut args = vec!["--files", "127.0.0.1:0", "--root", &root];
        if flag {
            args.push("--listing");
        }
        let mut server = Child::start(model, &args);
        server.wait_for("files listening on ");
        let files = server.addrs("files")[0];
        let ran = curl(
            &out,
            &[
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{content_type}",
                &format!("http://{files}/dir/"),
            ],
        );
        ran_ok(&ran);
        assert_eq!(ran.stdout_text(), want, "--listing {flag}");
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile names
// ---------------------------------------------------------------------------------------------

enum Kind {
    File,
    Dir,
    /// A symlink to this target.
    Link(&'static str),
    Fifo,
    Socket,
}

/// How a hostile name must show: listed, with its HTML text (a directory's `/` included) and
/// its link, or left out of both forms.
enum Want {
    Listed {
        html: &'static str,
        href: &'static str,
    },
    Hidden,
}

struct Row {
    name: &'static [u8],
    kind: Kind,
    want: Want,
}

fn hostile_rows() -> Vec<Row> {
    use Kind::*;
    use Want::*;
    let row = |name, kind, want| Row { name, kind, want };
    let listed = |html, href| Listed { html, href };
    vec![
        row(
            b"<script>alert(1)<\\script>",
            File,
            listed(
                "&#x3c;script&#x3e;alert(1)&#x3c;\\script&#x3e;",
                "%3Cscript%3Ealert%281%29%3C%5Cscript%3E",
            ),
        ),
        row(
            b"<img src=x onerror=alert(1)>",
            File,
            listed(
                "&#x3c;img src=x onerror=alert(1)&#x3e;",
                "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E",
            ),
        ),
        row(b"a&b", File, listed("a&#x26;b", "a%26b")),
        row(b"&amp;", File, listed("&#x26;amp;", "%26amp%3B")),
        row(
            b"q\"uote\"",
            File,
            listed("q&#x22;uote&#x22;", "q%22uote%22"),
        ),
        row(b"it's", File, listed("it&#x27;s", "it%27s")),
        row(b"new\nline", File, listed("new\\u{a}line", "new%0Aline")),
        row(
            b"cr\rlf\r\n",
            File,
            listed("cr\\u{d}lf\\u{d}\\u{a}", "cr%0Dlf%0D%0A"),
        ),
        row(
            "evil\u{202E}txt.exe".as_bytes(),
            File,
            listed("evil\\u{202e}txt.exe", "evil%E2%80%AEtxt.exe"),
        ),
        row(
            "\u{2066}iso\u{2069}".as_bytes(),
            File,
            listed("\\u{2066}iso\\u{2069}", "%E2%81%A6iso%E2%81%A9"),
        ),
        row(b"100%", File, listed("100%", "100%25")),
        row(b"%2e%2e", File, listed("%2e%2e", "%252e%252e")),
        row(b"#frag", File, listed("#frag", "%23frag")),
        row(b"what?x=1", File, listed("what?x=1", "what%3Fx%3D1")),
        row(
            b" spaced out ",
            File,
            listed(" spaced out ", "%20spaced%20out%20"),
        ),
        row(
            b"\xff\xfe.bin",
            File,
            listed("\\xff\\xfe.bin", "%FF%FE.bin"),
        ),
        row(
            b"\xc4\xe3\xba\xc3.txt",
            File,
            listed("\\xc4\\xe3\\xba\\xc3.txt", "%C4%E3%BA%C3.txt"),
        ),
        row(
            "你好.txt".as_bytes(),
            File,
            listed("你好.txt", "%E4%BD%A0%E5%A5%BD.txt"),
        ),
        row(
            b"javascript:alert(1)",
            File,
            listed("javascript:alert(1)", "javascript%3Aalert%281%29"),
        ),
        row(
            b"<dir>&",
            Dir,
            listed("&#x3c;dir&#x3e;&#x26;/", "%3Cdir%3E%26/"),
        ),
        row(b"link_in", Link("a&b"), listed("link_in", "link_in")),
        row(b"dir_in", Link("<dir>&"), listed("dir_in/", "dir_in/")),
        // Left out: what confinement refuses, and dot-files.
        row(b"link_out", Link("../../outside/secret.txt"), Hidden),
        row(b"dir_out", Link("../../outside"), Hidden),
        row(b"abs_out", Link("/etc/passwd"), Hidden),
        row(b"etc", Link("/etc"), Hidden),
        row(b"proc_root", Link("/proc/self/root"), Hidden),
        row(b"loop", Link("loop"), Hidden),
        row(b"dangling", Link("nowhere"), Hidden),
        row(b"fifo", Fifo, Hidden),
        row(b"sock", Socket, Hidden),
        row(b".hidden", File, Hidden),
        row(b".git", Dir, Hidden),
        row(b".<script>", File, Hidden),
        row(b"..\xff", File, Hidden),
        // Symlinks to hidden things: what they resolve to is hidden, so they are too.
        row(b"pub", Link(".git"), Hidden),
        row(b".env", File, Hidden),
        row(b"cfg", Link(".env"), Hidden),
        row(b".private", Dir, Hidden),
        row(b".private/inner", Dir, Hidden),
        row(b"inner", Link(".private/inner"), Hidden),
        row(b"inner_up", Link("<dir>&/../.private/inner"), Hidden),
    ]
}

/// Makes each row's entry in `h/`; a file's content is its row number. The socket's listener
/// is returned to be kept.
fn make_rows(site: &Site, rows: &[Row]) -> Vec<UnixListener> {
    let dir = site.root().join("h");
    fs::create_dir_all(&dir).unwrap();
    let mut sockets = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let path = dir.join(OsStr::from_bytes(row.name));
        match row.kind {
            Kind::File => fs::write(&path, format!("row {i}\n")).unwrap(),
            Kind::Dir => fs::create_dir(&path).unwrap(),
            Kind::Link(target) => symlink(target, &path).unwrap(),
            Kind::Fifo => {
                let c = CString::new(path.as_os_str().as_bytes()).unwrap();
                // SAFETY: a valid C string.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
            }
            Kind::Socket => sockets.push(UnixListener::bind(&path).expect("a Unix socket")),
        }
    }
    sockets
}

fn hostile_names_are_escaped_or_left_out_in_html_and_json(model: Model) {
    if !have("curl", "curl") {
        return;
    }
    let site = Site::new("listing-hostile");
    let rows = hostile_rows();
    let _sockets = make_rows(&site, &rows);
    let server = site.start(model, true);
    let addr = files_addr(&server);
    let out = site.dir.join("out");

    let ran = curl(&out, &[&url(&server, "/h/")]);
    ran_ok(&ran);
    let page = String::from_utf8(ran.stdout.clone()).expect("the page is UTF-8");
    let listed: Vec<(String, String, String, String)> = page_rows(&page);
    let json = json_listing(&fetch(addr, "/h/", &["Accept: application/json"]));
    let entries = json.get("entries").arr();
    let mut want_listed = 0;
    for (i, row) in rows.iter().enumerate() {
        let shown = shorten(row.name);
        let lossy = String::from_utf8_lossy(row.name);
        let in_json = entries.iter().find(|e| e.get("name").str() == lossy);
        match row.want {
            Want::Listed { html, href } => {
                want_listed += 1;
                let dir = matches!(row.kind, Kind::Dir) || html.ends_with('/');
                let want_href = encoded(row.name) + if dir { "/" } else { "" };
                assert_eq!(href, want_href, "the table's href for {shown}");
                assert!(
                    listed.iter().any(|(h, n, _, _)| h == href && n == html),
                    "{shown}: want <a href=\"{href}\">{html}</a> in\n{page}"
                );
                let entry = in_json.unwrap_or_else(|| panic!("{shown} not in the JSON"));
                assert_eq!(entry.get("href").str(), href, "{shown}");
                let kind = if dir { "dir" } else { "file" };
                assert_eq!(entry.get("type").str(), kind, "{shown}");
                // The link leads to the entry itself.
                let got = fetch(addr, &format!("/h/{href}"), &[]);
                assert_eq!(got.status, 200, "{shown}: {}", got.describe());
                if let Kind::File = row.kind {
                    assert_eq!(got.body, format!("row {i}\n").as_bytes(), "{shown}");
                }
            }
            Want::Hidden => {
                let href = encoded(row.name);
                assert!(
                    !listed
                        .iter()
                        .any(|(h, _, _, _)| h.trim_end_matches('/') == href),
                    "{shown} listed:\n{page}"
                );
                assert!(in_json.is_none(), "{shown} in the JSON: {in_json:?}");
            }
        }
    }
    assert_eq!(listed.len(), want_listed + 1, "the rows and ../:\n{page}");
    assert_eq!(entries.len(), want_listed);
    // Nothing a name holds became markup or a raw control or direction character.
    for bad in [
        "<script",
        "<img",
        "\u{202E}",
        "\u{2066}",
        "\r",
        "=x onerror",
    ] {
        let in_body = |body: &str| match bad {
            "=x onerror" => body.contains("<img src=x onerror"),
            _ => body.contains(bad),
        };
        assert!(!in_body(&page), "{bad:?} in the page");
    }
    let raw_json = fetch(addr, "/h/", &["Accept: application/json"]).body;
    for bad in [&b"<"[..], b">", "\u{202E}".as_bytes(), b"\r"] {
        assert!(!contains(&raw_json, bad), "{} in the JSON", shorten(bad));
    }
    assert!(!contains(&ran.stdout, site.marker.as_bytes()));

    // A hostile directory's own name, in the title and the JSON's path.
    let got = fetch(addr, "/h/%3Cdir%3E%26/", &[]);
    let page = String::from_utf8(got.body).unwrap();
    assert!(
        page.contains("<title>Index of /h/&#x3c;dir&#x3e;&#x26;/</title>"),
        "{page}"
    );
    let json = json_listing(&fetch(
        addr,
        "/h/%3Cdir%3E%26/",
        &["Accept: application/json"],
    ));
    assert_eq!(json.get("path").str(), "/h/<dir>&/");
    // A hidden directory is not listed, by its name or through a symlink; its files are
    // served as before.
    for hidden in [
        "/h/.git/",
        "/h/pub/",
        "/h/inner/",
        "/h/inner_up/",
        "/h/.private/inner/",
    ] {
        let got = fetch(addr, hidden, &[]);
        assert_eq!(got.status, 404, "{hidden}: {}", got.describe());
    }
}

// ---------------------------------------------------------------------------------------------
// The bound
// ---------------------------------------------------------------------------------------------

fn ten_thousand_entries_are_listed_whole_and_more_than_the_bound_are_cut(model: Model) {
    let site = Site::new("listing-10k");
    let dir = site.root().join("many");
    fs::create_dir_all(&dir).unwrap();
    for i in 0..10_000 {
        fs::File::create(dir.join(format!("f{i:05}"))).unwrap();
    }
    let server = site.start(model, true);
    let addr = files_addr(&server);

    let started = Instant::now();
    let got = fetch(addr, "/many/", &[]);
    let took = started.elapsed();
    assert_eq!(got.status, 200, "{}", got.describe());
    let page = String::from_utf8(got.body).unwrap();
    let listed = page_rows(&page);
    assert_eq!(listed.len(), 10_001, "10,000 and ../");
    // In order (the directory gives them in its hash order).
    for (i, row) in listed[1..].iter().enumerate() {
        assert_eq!(row.0, format!("f{i:05}"));
    }
    assert!(
        page.contains("<p>10000 entries.</p>"),
        "{}",
        &page[page.len() - 200..]
    );
    let json = json_listing(&fetch(addr, "/many/", &["Accept: application/json"]));
    assert_eq!(json.get("entries").arr().len(), 10_000);
    assert_eq!(json.get("truncated"), &Json::Bool(false));
    eprintln!(
        "{}: 10,000 entries listed in {took:?} (the whole exchange, this build)",
        model.name()
    );

    // One more than the bound: cut, and said so.
    for i in 10_000..=MAX_ENTRIES {
        fs::File::create(dir.join(format!("f{i:05}"))).unwrap();
    }
    let got = fetch(addr, "/many/", &[]);
    let page = String::from_utf8(got.body).unwrap();
    let listed = page_rows(&page);
    assert_eq!(listed.len(), MAX_ENTRIES + 1, "the bound and ../");
    assert!(listed[1..].windows(2).all(|w| w[0].0 < w[1].0), "sorted");
    let said = format!("<p>{MAX_ENTRIES} entries: cut short, the directory has more (a listing reads at most {MAX_ENTRIES}, in the directory's own order).</p>");
    assert!(page.contains(&said), "{}", &page[page.len() - 300..]);
    let json = json_listing(&fetch(addr, "/many/", &["Accept: application/json"]));
    assert_eq!(json.get("entries").arr().len(), MAX_ENTRIES);
    assert_eq!(json.get("truncated"), &Json::Bool(true));
}

/// Long hostile names past the page's byte bound: cut, and said so. One model: the bound is
/// the renderer's, the same for all.
#[test]
fn long_hostile_names_past_the_byte_bound_are_cut() {
    let site = Site::new("listing-bytes");
    let dir = site.root().join("long");
    fs::create_dir_all(&dir).unwrap();
    // 255 bytes, each `<` 9 in the page (`&#x3c;` and `%3C`): some 2.3 KB a row, so 1,900 pass
    // 4 MiB.
    let count = 1900;
    for i in 0..count {
        let name = format!("{}{i:05}", "<".repeat(250));
        fs::File::create(dir.join(name)).unwrap();
    }
    let server = site.start(Model::Reactor, true);
    let addr = files_addr(&server);

    let got = fetch(addr, "/long/", &[]);
    assert_eq!(got.status, 200, "{}", got.describe());
    assert!(got.body.len() <= MAX_PAGE, "{}", got.body.len());
    let page = String::from_utf8(got.body).unwrap();
    let rows = page_rows(&page).len() - 1;
    assert!(rows > 1000 && rows < count, "{rows} rows");
    let said = format!("<p>{rows} entries: cut short, the directory has more (a listing's page holds at most {MAX_PAGE} bytes).</p>");
    assert!(page.contains(&said), "{}", &page[page.len() - 300..]);

    let got = fetch(addr, "/long/", &["Accept: application/json"]);
    assert!(got.body.len() <= MAX_PAGE, "{}", got.body.len());
    let json = json_listing(&got);
    assert_eq!(json.get("truncated"), &Json::Bool(true));
    let entries = json.get("entries").arr().len();
    assert!(entries > 1000 && entries < count, "{entries} entries");
}
