//! `tcpserve send`: a message, or each line of standard input, to an echo server.

use std::ffi::OsString;
use std::io;
use std::process::ExitCode;

use getopts::Options;

use super::{client_timeout, failed, usage_error};
use tcpserve::clients::{self, send};

const SEND_BRIEF: &str = "usage: tcpserve send ADDR [MESSAGE...] [--timeout SECS]";
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
    let matches = match opts.parse(args) {
        Ok(m) => m,
        Err(e) => return usage_error("send", &e.to_string(), brief),
    };
    if matches.opt_present("help") {
        println!(
            "{}\n\nWith MESSAGE, sends it (words joined by spaces) and prints the reply; exits 0 \
             if the reply equals it.\nWithout, sends each line of standard input and prints \
             each reply.",
            opts.usage(brief)
        );
        return ExitCode::SUCCESS;
    }
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
