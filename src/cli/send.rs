//! `tcpserve send`: a message, or each line of standard input, to an echo server.

use std::ffi::OsString;
use std::io;
use std::process::ExitCode;

use getopts::Options;

use super::{client_timeout, failed, parse_args, usage_error};
use crate::clients::{self, send};

const SEND_BRIEF: &str = "usage: tcpserve send ADDR [MESSAGE...] [--timeout SECS]";
/// What `--help` says after the options.
const ABOUT: &str =
    "With MESSAGE, sends it (words joined by spaces) and prints the reply; exits 0 \
     if the reply equals it.\nWithout, sends each line of standard input and prints \
     each reply.";

/// `tcpserve send`, from its arguments to its exit status.
pub fn command(args: &[OsString]) -> ExitCode {
    let mut opts = Options::new();
    opts.optopt(
        "",
        "timeout",
        "give up on connecting or on a reply after SECS (default 10)",
        "SECS",
    );
    opts.optflag("h", "help", "show this help");
    let brief = SEND_BRIEF;
    let matches = match parse_args("send", &opts, args, brief, ABOUT) {
        Ok(m) => m,
        Err(done) => return done,
    };
    let timeout = match client_timeout(&matches) {
        Ok(t) => t,
        Err(message) => return usage_error("send", &message, brief),
    };
    let Some((addr, words)) = matches.free.split_first() else {
        return usage_error("send", "missing ADDR", brief);
    };
    let mut stream = match clients::connect(addr, timeout) {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let stdout = io::stdout();
    let result = if words.is_empty() {
        send::lines(&mut stream, &mut io::stdin().lock(), &mut stdout.lock())
    } else {
        send::once(&mut stream, words.join(" ").as_bytes(), &mut stdout.lock())
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => failed("the reply differs from what was sent"),
        Err(e) => failed(e),
    }
}
