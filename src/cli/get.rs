//! `tcpserve get`: a download over the raw protocol or HTTP.

use std::ffi::OsString;
use std::process::ExitCode;

use getopts::Options;

use super::{client_timeout, failed, parse_args, usage_error};
use crate::clients::{self, get, http};

const GET_BRIEF: &str = "usage: tcpserve get ADDR NAME [-o PATH] [--force] [--timeout SECS]
       tcpserve get http://HOST[:PORT]/PATH [-o PATH] [--force] [--continue] [--timeout SECS]";

/// What `--help` says after the options.
const ABOUT: &str = "ADDR NAME: sends NAME, saves what comes back until the server closes. URL: \
     an HTTP/1.1 GET, saved through DEST.part, which is kept if the download fails \
     and resumed by --continue. Without -o the file is saved under NAME's (the URL \
     path's) last component. The file appears only once the transfer ended cleanly; \
     an existing file is kept unless --force.";

/// `tcpserve get`, from its arguments to its exit status.
pub fn command(args: &[OsString]) -> ExitCode {
    let mut opts = Options::new();
    opts.optopt(
        "o",
        "output",
        "save as PATH (or inside PATH, if a directory)",
        "PATH",
    );
    opts.optflag(
        "f",
        "force",
        "overwrite an existing file; with a URL, also start over from an earlier partial one",
    );
    opts.optflag(
        "c",
        "continue",
        "URL only: resume DEST.part, or DEST itself, from its size (a Range request)",
    );
    opts.optopt(
        "",
        "timeout",
        "give up on connecting, or on a stalled transfer, after SECS (default 10)",
        "SECS",
    );
    opts.optflag("h", "help", "show this help");
    let brief = GET_BRIEF;
    let matches = match parse_args("get", &opts, args, brief, ABOUT) {
        Ok(m) => m,
        Err(done) => return done,
    };
    let timeout = match client_timeout(&matches) {
        Ok(t) => t,
        Err(message) => return usage_error("get", &message, brief),
    };
    let output = matches.opt_str("output").map(std::path::PathBuf::from);
    let force = matches.opt_present("force");
    let progress = tcpserve::sys::stderr_is_terminal();
    let (addr, name) = match matches.free.as_slice() {
        [url] if url.contains("://") => {
            let options = http::Options {
                force,
                resume: matches.opt_present("continue"),
                timeout,
                progress,
            };
            return get_url(url, output.as_deref(), &options);
        }
        [url, ..] if url.contains("://") => {
            return usage_error("get", "expected one URL and nothing after it", brief)
        }
        [addr, name] => (addr, name),
        _ => return usage_error("get", "expected ADDR and NAME, or an http:// URL", brief),
    };
    if matches.opt_present("continue") {
        let message = "--continue needs an http:// URL: the raw protocol has no ranges";
        return usage_error("get", message, brief);
    }
    let Some(dest) = get::destination(name, output.as_deref()) else {
        let message = format!("cannot name a file after '{name}': give -o PATH");
        return usage_error("get", &message, brief);
    };
    let mut stream = match clients::connect(addr, timeout) {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    match get::download(&mut stream, name, &dest, force, progress) {
        Ok(saved) if saved.bytes == 0 => {
            eprintln!(
                "tcpserve: saved {} with 0 bytes: the file is empty, or the server refused the \
                 name (the raw protocol cannot tell which; the server's log says)",
                saved.path.display()
            );
            ExitCode::SUCCESS
        }
        Ok(saved) => {
            eprintln!(
                "tcpserve: saved {} ({} bytes)",
                saved.path.display(),
                saved.bytes
            );
            ExitCode::SUCCESS
        }
        Err(e) => failed(e),
    }
}

/// `tcpserve get URL`: a bad URL or no file name is a usage error, the rest a failure.
fn get_url(url: &str, output: Option<&std::path::Path>, options: &http::Options) -> ExitCode {
    let url_text = url;
    let url = match http::Url::parse(url) {
        Ok(url) => url,
        Err(e) => return usage_error("get", &format!("{url_text}: {e}"), GET_BRIEF),
    };
    let Some(dest) = get::destination_for(url.file_name().as_deref(), output) else {
        let message = format!("cannot name a file after '{url_text}': give -o PATH");
        return usage_error("get", &message, GET_BRIEF);
    };
    let (saved, how) = match http::download(&url, &dest, options) {
        Ok(done) => done,
        Err(e) => return failed(e),
    };
    let path = saved.path.display();
    let bytes = saved.bytes;
    match how {
        http::How::AlreadyComplete => {
            eprintln!("tcpserve: {path} was already complete ({bytes} bytes)")
        }
        http::How::Resumed(held) => {
            eprintln!("tcpserve: saved {path} ({bytes} bytes, resumed after {held})")
        }
        http::How::Whole | http::How::Restarted => {
            eprintln!("tcpserve: saved {path} ({bytes} bytes)")
        }
    }
    ExitCode::SUCCESS
}
