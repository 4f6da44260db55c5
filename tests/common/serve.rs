//! `tcpserve serve` as a child process, followed through its log: started on free ports, its
//! addresses learnt from its `listening on` lines, signalled, and reaped whatever happens.

use std::io;
use std::net::SocketAddr;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use super::child::{bin, ChildGuard, Lines};
use tcpserve::Model;

pub fn serve_command(model: Model, extra: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--model", model.name(), "--echo", "127.0.0.1:0"])
        .args(extra);
    cmd
}

/// A running `tcpserve serve` whose stderr is followed line by line.
pub struct Server {
    pub child: ChildGuard,
    /// Its stderr.
    pub log: Lines,
    /// The first address it listens on.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts an echo server of `model` on a free port with `extra` options, and waits until it
    /// listens.
    pub fn start(model: Model, extra: &[&str]) -> Server {
        Server::spawn(serve_command(model, extra), model)
    }

    /// Starts `cmd`, waits until it listens, and checks it said it serves with `model` first.
    pub fn spawn(mut cmd: Command, model: Model) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tcpserve serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut server = Server {
            child: ChildGuard(child),
            log: Lines::follow(stderr),
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        // `echo listening on ADDR` or `files listening on ADDR, serving DIR`.
        let line = server.wait_for(" listening on ");
        let addr = line
            .split(" listening on ")
            .nth(1)
            .and_then(|a| a.split(',').next())
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        server.addr = addr;
        let serving = server
            .log
            .iter()
            .position(|l| l.contains("serving with the "));
        let listening = server.log.iter().position(|l| l.contains("listening on "));
        let says = format!("serving with the {} model", model.name());
        assert!(
            matches!((serving, listening), (Some(s), Some(l)) if s < l)
                && server.log[serving.unwrap_or_default()].contains(&says),
            "no {says:?} before the first `listening on` line:\n{}",
            server.log_text()
        );
        server
    }

    /// Every address `service` listens on, as its log said.
    pub fn addrs(&self, service: &str) -> Vec<SocketAddr> {
        let prefix = format!("{service} listening on ");
        self.log
            .iter()
            .filter_map(|l| l.split(&prefix).nth(1))
            .filter_map(|a| a.split(',').next()?.trim().parse().ok())
            .collect()
    }

    pub fn pid(&self) -> libc::pid_t {
        self.child.pid()
    }

    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on the pid of a child we own and have not reaped.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    }

    pub fn log_text(&self) -> String {
        self.log.text()
    }

    pub fn wait_for_count(&mut self, needle: &str, n: usize) {
        self.log.wait_for_count(needle, n)
    }

    pub fn wait_for(&mut self, needle: &str) -> String {
        self.log.wait_for(needle)
    }

    pub fn first(&self, needle: &str) -> Option<String> {
        self.log.first(needle)
    }

    pub fn collect_for(&mut self, window: Duration) {
        self.log.collect_for(window)
    }

    pub fn take_arrived(&mut self) {
        self.log.take_arrived()
    }

    /// Waits for the server to exit, then takes the rest of its log.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let status = self.child.wait_exit();
        self.log.take_rest();
        status
    }

    /// SIGTERM with nothing in flight: exits 0 after logging its counters; returns that line.
    pub fn stop_gracefully(&mut self) -> String {
        self.signal(libc::SIGTERM);
        let status = self.wait_exit();
        assert_eq!(status.code(), Some(0), "log:\n{}", self.log_text());
        assert_eq!(self.count("stopped:"), 1, "{}", self.log_text());
        self.assert_no_panic();
        self.first("stopped:").expect("counted")
    }

    pub fn count(&self, needle: &str) -> usize {
        self.log.count(needle)
    }

    pub fn assert_no_panic(&self) {
        assert!(
            !self.log_text().contains("panicked"),
            "the server panicked:\n{}",
            self.log_text()
        );
    }
}
