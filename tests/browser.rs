//! A real browser, on every model: headless Chromium (Debian's chromium package) is pointed at
//! `/site`, follows tcpserve's 301 to `/site/`, loads the page's stylesheet, script and image,
//! plays a WebM video muted and seeks in it. The page's script (tests/data/site/app.js) checks
//! each of these and says how it went by requesting `/site/report-ok?...` or
//! `/site/report-fail?why=...`, which the test reads in tcpserve's access log, together with the
//! status of every request the browser made: the 301, the 200s, and 206 for the video's range
//! requests.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::child::{have, ChildGuard, Lines};
use common::serve::{serve_command, Server};
use common::TempDir;
use tcpserve::Model;

// Iterative too, as measured: Chromium opens some eight connections for this page and, on the
// other models, keeps about four alive until it exits; the iterative model closes each after
// its response unless the next request has already arrived, so no idle keep-alive connection
// holds it, and the browser's other connections wait in the backlog with their requests sent.
// A spare connection Chromium opens and does not use it closes itself; one left open would be
// closed by the request timeout (10 s), a slower run but not a failed one.
per_model!(
    [reactor, reactors, threads, pool, iterative]
    chromium_loads_the_page_and_plays_the_video_with_a_seek
);

/// How long Chromium may take, from its start to every expected access line: a cold start of
/// a browser on a busy machine, far more than the second it takes on an idle one.
const BROWSER_PATIENCE: Duration = Duration::from_secs(60);

/// What the page asks for and the status each must get, besides the video and the report.
const EXPECTED: [(&str, u16); 5] = [
    // The directory without its slash: redirected, so the page's relative links work.
    ("/site", 301),
    ("/site/", 200),
    ("/site/style.css", 200),
    ("/site/app.js", 200),
    ("/site/dot.png", 200),
];

/// The directory served: tests/data, whose `site/` holds the page (see its README.md).
fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Headless Chromium in a process group of its own (it starts a zygote, a renderer, a GPU and
/// a network process), all killed when dropped; its stderr is followed for a failure's report.
struct Browser {
    child: ChildGuard,
    said: Lines,
}

impl Browser {
    fn open(url: &str, profile: &Path) -> Browser {
        let mut cmd = Command::new("chromium");
        cmd.args([
            "--headless",
            // Root (as CI runs) has no user namespace sandbox.
            "--no-sandbox",
            "--disable-gpu",
            // A muted video may play without a click anyway; this says so for any version.
            "--autoplay-policy=no-user-gesture-required",
            "--mute-audio",
            // No requests of its own to the internet, no first-run work.
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // A container's /dev/shm may be a few MiB.
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
        let mut child = ChildGuard(cmd.spawn().expect("spawn chromium"));
        let said = Lines::follow(child.0.stderr.take().unwrap());
        Browser { child, said }
    }

    fn output(&mut self) -> String {
        self.said.take_arrived();
        self.said.text()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group of a child we own and have not reaped (its
        // group id is its pid), so every process of this browser and nothing else.
        unsafe { libc::kill(-self.child.pid(), libc::SIGKILL) };
        // ChildGuard then reaps the browser's first process.
    }
}

/// The status of the access line for `GET path`, in the common log format
/// (`... "GET /site HTTP/1.1" 301 22`), or `None` if the line is for another request.
fn status(line: &str, path: &str) -> Option<u16> {
    let request = format!("\"GET {path} HTTP/1.1\" ");
    let rest = &line[line.find(&request)? + request.len()..];
    rest.split(' ').next()?.parse().ok()
}

/// The path of the report's request (`/site/report-ok?css=1...`) in `line`, if it is one.
fn report(line: &str) -> Option<&str> {
    let start = line.find("\"GET /site/report-")? + "\"GET ".len();
    line[start..].split(' ').next()
}

fn lines(log: &Path) -> Vec<String> {
    match std::fs::read_to_string(log) {
        Ok(text) => text.lines().map(str::to_owned).collect(),
        Err(_) => Vec::new(), // not created yet
    }
}

/// What is still missing from the access lines so far, or empty once all is there.
fn missing(lines: &[String]) -> Vec<String> {
    let mut missing = Vec::new();
    for (path, want) in EXPECTED {
        if !lines.iter().any(|l| status(l, path) == Some(want)) {
            missing.push(format!("GET {path} answered {want}"));
        }
    }
    if !lines
        .iter()
        .any(|l| status(l, "/site/clip.webm") == Some(206))
    {
        missing.push("GET /site/clip.webm answered 206 (a range request)".into());
    }
    if !lines
        .iter()
        .filter_map(|l| report(l))
        .any(|r| r.starts_with("/site/report-ok?") && r.contains("css=1&img=1&video=1"))
    {
        missing.push("the page's report-ok".into());
    }
    missing
}

fn chromium_loads_the_page_and_plays_the_video_with_a_seek(model: Model) {
    if !have("chromium", "chromium") {
        return;
    }
    let dir = TempDir::new("browser");
    let log = dir.join("access.log");
    let mut cmd = serve_command(model, &[]);
    cmd.args(["--files", "127.0.0.1:0", "--root"])
        .arg(data_dir())
        .arg("--access-log")
        .arg(&log);
    let mut server = Server::spawn(cmd, model);
    server.wait_for("files listening on ");
    let files = server.addrs("files")[0];

    let started = Instant::now();
    let mut browser = Browser::open(&format!("http://{files}/site"), &dir.join("profile"));
    let deadline = started + BROWSER_PATIENCE;
    loop {
        let seen = lines(&log);
        if let Some(failed) = seen
            .iter()
            .filter_map(|l| report(l))
            .find(|r| r.starts_with("/site/report-fail"))
        {
            panic!(
                "the page reports a failure: {failed}\naccess log:\n{}",
                seen.join("\n")
            );
        }
        let missing = missing(&seen);
        if missing.is_empty() {
            break;
        }
        let gone = !browser.child.is_running();
        if gone || Instant::now() > deadline {
            panic!(
                "{} after {:?}, still missing: {}\naccess log:\n{}\nchromium said:\n{}",
                if gone { "chromium exited" } else { "timed out" },
                started.elapsed(),
                missing.join("; "),
                seen.join("\n"),
                browser.output()
            );
        }
        // Lines reach the file within the log writer's gathering time (50 ms).
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!(
        "{}: chromium's page reported after {:?}",
        model.name(),
        started.elapsed()
    );
    drop(browser);
    // With the browser's connections gone, the server stops at once and cleanly.
    server.stop_gracefully();
}
