//! The `tcpserve` command: dispatches to a subcommand (`src/cli/`). Exit status: 0 done,
//! 1 failed (address in use, connection refused, ...), 2 bad command line.

mod bench;
mod cli;
mod clients;

use std::ffi::OsString;
use std::process::ExitCode;

use cli::usage_error;

const USAGE: &str = "\
usage: tcpserve <command> [options]

commands:
  serve    run the server
  send     send a message to an echo server and print the reply
  get      download a file from a files server
  bench    measure a server: echo, file or idle load
  stats    show a running server's metrics (--metrics ADDR)

'tcpserve <command> --help' shows a command's options; 'tcpserve --version' the version.";

fn main() -> ExitCode {
    tcpserve::sys::keep_std_fds_open();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let command = args.first().map(|a| a.to_string_lossy().into_owned());
    let rest = args.get(1..).unwrap_or_default();
    match command.as_deref() {
        Some("serve") => cli::serve::command(rest),
        Some("send") => {
            cli::init_interactive_logging();
            cli::send::command(rest)
        }
        Some("get") => {
            cli::init_interactive_logging();
            cli::get::command(rest)
        }
        Some("stats") => {
            cli::init_interactive_logging();
            cli::stats::command(rest)
        }
        Some("bench") => {
            cli::init_interactive_logging();
            cli::bench::command(rest)
        }
        Some("-h" | "--help" | "help") => {
            println!("tcpserve {}: a small TCP server\n\n{USAGE}", version());
            ExitCode::SUCCESS
        }
        Some("-V" | "--version") => {
            println!("tcpserve {}", version());
            ExitCode::SUCCESS
        }
        Some(other) => usage_error("", &format!("unknown command '{other}'"), USAGE),
        None => usage_error("", "no command given", USAGE),
    }
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
